import { and, count, countDistinct, eq, inArray, lt, lte, max, min, sql } from "drizzle-orm";
import { type Cell, cellKey } from "../domain/catalogue";
import type { Database } from "./client";
import { CURRENT_DATA_VERSION_SQL } from "./data-version";
import { pendingCells } from "./schema";

/*
 * Recompute owed (pending_cells): a run's swap adds a row per cell it changed, in the swap's own
 * batch; a cell's rebuild deletes the rows it saw, in the rebuild's own batch. Whatever dies in
 * between, the debt stays on record until a rebuild pays it.
 */

/** The statement a run's swap batch adds: its changed cells become owed, as of the version before it. */
export function oweCellsStatement(run: { runId: string; cells: Cell[]; at: string; requeueAfter: string }): {
  sql: string;
  values: string[];
} {
  return {
    sql: `INSERT INTO pending_cells (metric_key, band_key, period, run_id, since, data_version, requeue_after)
            SELECT value ->> 'metricKey', value ->> 'bandKey', value ->> 'period', ?, ?, ${CURRENT_DATA_VERSION_SQL}, ?
            FROM json_each(?)`,
    values: [run.runId, run.at, run.requeueAfter, JSON.stringify(run.cells)],
  };
}

const inCell = (cell: Cell) =>
  and(
    eq(pendingCells.metricKey, cell.metricKey),
    eq(pendingCells.bandKey, cell.bandKey),
    eq(pendingCells.period, cell.period),
  );

/** The newest debt row of a cell, which its rebuild pays up to; null when nothing is owed. */
export function owedUpTo(db: Database, cell: Cell) {
  return db
    .select({ seq: max(pendingCells.seq) })
    .from(pendingCells)
    .where(inCell(cell));
}

/** Pays a cell's debt up to the row its rebuild saw; for the rebuild's batch. */
export function payCell(db: Database, cell: Cell, upToSeq: number) {
  return db.delete(pendingCells).where(and(inCell(cell), lte(pendingCells.seq, upToSeq)));
}

/**
 * Takes the cells whose requeue time has passed and moves it on to `until`, in one statement, so
 * of two sweeps at once each cell goes to only one. Returns the cells taken, each once.
 */
export async function takeDueCells(db: Database, now: string, until: string): Promise<Cell[]> {
  const rows = await db
    .update(pendingCells)
    .set({ requeueAfter: until })
    .where(lt(pendingCells.requeueAfter, now))
    .returning({
      metricKey: pendingCells.metricKey,
      bandKey: pendingCells.bandKey,
      period: pendingCells.period,
    });
  return [...new Map(rows.map((cell) => [cellKey(cell), cell])).values()];
}

/** How much recompute is owed: distinct cells, and since when the oldest has waited. */
export async function recomputeBacklog(db: Database): Promise<{ cells: number; oldestSince: string | null }> {
  const [row] = await db
    .select({
      cells: countDistinct(
        sql`${pendingCells.metricKey} || char(0) || ${pendingCells.bandKey} || char(0) || ${pendingCells.period}`,
      ),
      oldestSince: min(pendingCells.since),
    })
    .from(pendingCells);
  return { cells: row?.cells ?? 0, oldestSince: row?.oldestSince ?? null };
}

/** Cells each run still owes, by run id; runs that owe nothing are absent. */
export async function cellsOwedByRuns(db: Database, runIds: string[]): Promise<Map<string, number>> {
  if (runIds.length === 0) return new Map();
  const rows = await db
    .select({ runId: pendingCells.runId, cells: count() })
    .from(pendingCells)
    .where(inArray(pendingCells.runId, runIds))
    .groupBy(pendingCells.runId);
  return new Map(rows.map((row) => [row.runId, row.cells]));
}

/** A cell whose summaries are stale or missing, and the data version they were last current for. */
export interface OwedCell {
  bandKey: string;
  period: string;
  dataVersion: string;
}

/** The owed cells of a metric in the given bands (every period), for the answers that read them. */
export function owedCellsOf(db: Database, metricKey: string, bandKeys: readonly string[]) {
  return db
    .select({
      bandKey: pendingCells.bandKey,
      period: pendingCells.period,
      dataVersion: sql<string>`CAST(min(CAST(${pendingCells.dataVersion} AS INTEGER)) AS TEXT)`,
    })
    .from(pendingCells)
    .where(and(eq(pendingCells.metricKey, metricKey), inArray(pendingCells.bandKey, [...bandKeys])))
    .groupBy(pendingCells.bandKey, pendingCells.period);
}
