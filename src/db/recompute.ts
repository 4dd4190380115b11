import { and, eq, inArray, notInArray, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Cell } from "../domain/catalogue";
import type { PeerUnit } from "../domain/peer-units";
import type { Database } from "./client";
import { INCREMENT_DATA_VERSION_SQL } from "./data-version";
import { owedUpTo, payCell } from "./pending-cells";
import { observations, peerGroupUnits, sources, summaries } from "./schema";

/*
 * A cell's rebuild, as D1 sees it: its panel observations read through the observations_cell
 * index, and everything the rebuild writes committed by one batch. ingest/recompute.ts decides
 * what to write.
 */

/** One panel source's share of a cell. */
export type SliceKey = Cell & { sourceId: string };

/** What a rebuild writes for one slice. */
export interface RebuiltSlice {
  key: SliceKey;
  /** Company keys the outlier screen flagged; every other row of the slice is unflagged. */
  outlierKeys: string[];
  /** The slice's summary row, beyond its key. */
  summary: Omit<typeof summaries.$inferInsert, keyof SliceKey>;
  units: Pick<PeerUnit, "step" | "industry" | "kept" | "outliers" | "keptSum">[];
}

/** The rows of one (metric, band, period) cell, in any table with those three columns. */
const inCell = (table: Record<"metricKey" | "bandKey" | "period", SQLiteColumn>, cell: Cell) =>
  and(eq(table.metricKey, cell.metricKey), eq(table.bandKey, cell.bandKey), eq(table.period, cell.period));

/**
 * What a rebuild of the cell starts from, in one round trip: the newest debt row it will pay
 * (null when the cell owes nothing, as for a redelivered message), and its panel observations.
 */
export async function cellRebuildInputs(db: Database, cell: Cell) {
  const [[owed], rows] = await db.batch([owedUpTo(db, cell), cellObservations(db, cell)]);
  return { owedUpTo: owed?.seq ?? null, rows };
}

function cellObservations(db: Database, cell: Cell) {
  return db
    .select({
      sourceId: observations.sourceId,
      companyKey: observations.companyKey,
      value: observations.value,
      arr: observations.arr,
      industry: observations.industry,
    })
    .from(observations)
    .where(inCell(observations, cell));
}

/**
 * Writes a cell's rebuild in ONE batch, which D1 applies atomically, so readers never see half of
 * it: the cell's peer-group units and the summaries of panel sources no longer in it are dropped,
 * then each slice's outlier flags, summary and units written, the debt the rebuild saw paid and
 * the data version moved. Survey rows are untouched. Outlier keys and units go as one bound JSON
 * array each: D1 binds at most 100 parameters per statement.
 */
export async function writeCellRebuild(
  db: Database,
  cell: Cell,
  slices: RebuiltSlice[],
  owedUpTo: number,
): Promise<void> {
  const writes: BatchItem<"sqlite">[] = [
    db.delete(peerGroupUnits).where(inCell(peerGroupUnits, cell)),
    db.delete(summaries).where(
      and(
        inCell(summaries, cell),
        inArray(
          summaries.sourceId,
          db.select({ id: sources.id }).from(sources).where(eq(sources.kind, "panel")),
        ),
        notInArray(
          summaries.sourceId,
          slices.map((slice) => slice.key.sourceId),
        ),
      ),
    ),
  ];
  for (const { key, outlierKeys, summary, units } of slices) {
    const unitValues = units.map((u) => [u.step, u.industry, u.kept, u.outliers, u.keptSum]);
    writes.push(
      db
        .update(observations)
        .set({
          isOutlier: sql`${observations.companyKey} IN (SELECT value FROM json_each(${JSON.stringify(outlierKeys)}))`,
        })
        .where(and(eq(observations.sourceId, key.sourceId), inCell(observations, key))),
      db
        .insert(summaries)
        .values({ ...key, ...summary })
        .onConflictDoUpdate({
          target: [summaries.metricKey, summaries.bandKey, summaries.period, summaries.sourceId],
          set: summary,
        }),
      // Columns in the table's order: metric, period, source, band, step, industry, kept, outliers, sum.
      db.insert(peerGroupUnits).select(sql`
        SELECT ${key.metricKey}, ${key.period}, ${key.sourceId}, ${key.bandKey}, value ->> 0, value ->> 1,
          value ->> 2, value ->> 3, value ->> 4
        FROM json_each(${JSON.stringify(unitValues)})`),
    );
  }
  writes.push(payCell(db, cell, owedUpTo), db.run(sql.raw(INCREMENT_DATA_VERSION_SQL)));
  await db.batch(writes as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}
