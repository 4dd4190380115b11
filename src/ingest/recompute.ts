import { and, eq, inArray, notInArray, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Database } from "../db/client";
import { observations, peerGroupUnits, sources, summaries } from "../db/schema";
import type { Cell } from "../domain/catalogue";
import { countPeerUnits } from "../domain/peer-units";
import { parsePeriod } from "../domain/periods";
import { tracedSync } from "../observability/tracing/span";
import { type OutlierMethod, summarizePanel } from "../stats";

export interface RecomputeResult {
  cells: number;
  observations: number;
  outliers: number;
}

/** One panel source's observations in one (metric, band, period) cell. */
interface Slice {
  sourceId: string;
  metricKey: string;
  bandKey: string;
  period: string;
  rows: { companyKey: string; value: number; arr: number; industry: string | null }[];
}

/**
 * The writes that rebuild one slice: its outlier flags, its summary row and its peer-group units
 * counted with those flags. Outlier keys and units go as one bound JSON array each instead of
 * parameters per row: D1 binds at most 100 per statement.
 */
function sliceWrites(db: Database, slice: Slice, outlierMethod: OutlierMethod, result: RecomputeResult) {
  const { rows, ...key } = slice;
  const summary = tracedSync("stats summarize panel", { "stats.observations": rows.length }, () =>
    summarizePanel(
      rows.map((r) => r.value),
      outlierMethod,
    ),
  )!;
  const outlierKeys = rows.filter((_, i) => summary.outlierFlags[i]).map((r) => r.companyKey);
  const units = countPeerUnits(
    rows.map((row, i) => ({ ...key, ...row, isOutlier: summary.outlierFlags[i]! })),
  ).map((u) => [u.step, u.industry, u.kept, u.outliers, u.keptSum]);
  const { outlierFlags: _, ...aggregate } = summary;
  const values = { ...aggregate, periodOrder: parsePeriod(key.period)!.order };
  result.cells++;
  result.outliers += outlierKeys.length;
  return [
    db
      .update(observations)
      .set({
        isOutlier: sql`${observations.companyKey} IN (SELECT value FROM json_each(${JSON.stringify(outlierKeys)}))`,
      })
      .where(
        and(
          eq(observations.sourceId, key.sourceId),
          eq(observations.metricKey, key.metricKey),
          eq(observations.period, key.period),
          eq(observations.bandKey, key.bandKey),
        ),
      ),
    db
      .insert(summaries)
      .values({ ...key, ...values })
      .onConflictDoUpdate({
        target: [summaries.metricKey, summaries.bandKey, summaries.period, summaries.sourceId],
        set: values,
      }),
    // Columns in the table's order: metric, period, source, band, step, industry, kept, outliers, sum.
    db.insert(peerGroupUnits).select(sql`
      SELECT ${key.metricKey}, ${key.period}, ${key.sourceId}, ${key.bandKey}, value ->> 0, value ->> 1,
        value ->> 2, value ->> 3, value ->> 4
      FROM json_each(${JSON.stringify(units)})`),
  ];
}

/**
 * Drops the stale rows and writes every rebuilt slice in ONE batch: D1 applies it atomically, so
 * readers never see half a rebuild.
 */
async function writeSlices(
  db: Database,
  stale: BatchItem<"sqlite">[],
  slices: Slice[],
  outlierMethod: OutlierMethod,
  observations: number,
): Promise<RecomputeResult> {
  const result: RecomputeResult = { cells: 0, observations, outliers: 0 };
  const writes: BatchItem<"sqlite">[] = [...stale];
  for (const slice of slices) writes.push(...sliceWrites(db, slice, outlierMethod, result));
  await db.batch(writes as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  return result;
}

/** The rows of one (metric, band, period) cell, in any table with those three columns. */
const inCell = (table: Record<"metricKey" | "bandKey" | "period", SQLiteColumn>, cell: Cell) =>
  and(eq(table.metricKey, cell.metricKey), eq(table.bandKey, cell.bandKey), eq(table.period, cell.period));

/**
 * Rebuilds one (metric, band, period) cell for every panel source in it, the unit the recompute
 * queue works in: flags, summaries and peer-group units are written by one atomic batch, and the
 * summaries and units of panel sources left without observations in the cell are removed. Survey
 * rows are untouched. Reads through the observations_cell index. Idempotent, so a redelivered message is harmless.
 */
export async function recomputeCell(
  db: Database,
  cell: Cell,
  outlierMethod: OutlierMethod,
): Promise<RecomputeResult> {
  const rows = await db
    .select({
      sourceId: observations.sourceId,
      companyKey: observations.companyKey,
      value: observations.value,
      arr: observations.arr,
      industry: observations.industry,
    })
    .from(observations)
    .where(inCell(observations, cell));
  const bySource = Map.groupBy(rows, (row) => row.sourceId);
  return writeSlices(
    db,
    [
      db.delete(peerGroupUnits).where(inCell(peerGroupUnits, cell)),
      db
        .delete(summaries)
        .where(
          and(
            inCell(summaries, cell),
            inArray(
              summaries.sourceId,
              db.select({ id: sources.id }).from(sources).where(eq(sources.kind, "panel")),
            ),
            notInArray(summaries.sourceId, [...bySource.keys()]),
          ),
        ),
    ],
    [...bySource].map(([sourceId, sourceRows]) => ({ ...cell, sourceId, rows: sourceRows })),
    outlierMethod,
    rows.length,
  );
}
