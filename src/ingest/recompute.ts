import { and, eq, inArray, notInArray, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../db/client";
import { observations, sources, summaries } from "../db/schema";
import type { Cell } from "../domain/catalogue";
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
  rows: { companyKey: string; value: number }[];
}

/**
 * The writes that rebuild one slice: its outlier flags and its summary row. Outlier keys go
 * as one bound JSON array instead of one parameter per key: D1 binds at most 100 per statement.
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
  ];
}

/**
 * Drops the stale summaries and writes every rebuilt slice in ONE batch: D1 applies it
 * atomically, so readers never see half a rebuild.
 */
async function writeSlices(
  db: Database,
  staleSummaries: BatchItem<"sqlite">,
  slices: Slice[],
  outlierMethod: OutlierMethod,
  observations: number,
): Promise<RecomputeResult> {
  const result: RecomputeResult = { cells: 0, observations, outliers: 0 };
  const writes: [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]] = [staleSummaries];
  for (const slice of slices) writes.push(...sliceWrites(db, slice, outlierMethod, result));
  await db.batch(writes);
  return result;
}

/**
 * Rebuilds one (metric, band, period) cell for every panel source in it, the unit the recompute
 * queue works in: flags and summaries are written by one atomic batch, and the summaries of
 * panel sources left without observations in the cell are removed. Survey rows are untouched.
 * Reads through the observations_cell index. Idempotent, so a redelivered message is harmless.
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
    })
    .from(observations)
    .where(
      and(
        eq(observations.metricKey, cell.metricKey),
        eq(observations.bandKey, cell.bandKey),
        eq(observations.period, cell.period),
      ),
    );
  const bySource = Map.groupBy(rows, (row) => row.sourceId);
  return writeSlices(
    db,
    db
      .delete(summaries)
      .where(
        and(
          eq(summaries.metricKey, cell.metricKey),
          eq(summaries.bandKey, cell.bandKey),
          eq(summaries.period, cell.period),
          inArray(
            summaries.sourceId,
            db.select({ id: sources.id }).from(sources).where(eq(sources.kind, "panel")),
          ),
          notInArray(summaries.sourceId, [...bySource.keys()]),
        ),
      ),
    [...bySource].map(([sourceId, sourceRows]) => ({ ...cell, sourceId, rows: sourceRows })),
    outlierMethod,
    rows.length,
  );
}
