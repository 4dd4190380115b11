import { and, eq, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { metrics, observations, summaries } from "../db/schema";
import { parsePeriod } from "../domain/periods";
import { type OutlierMethod, summarizePanel } from "../stats";

/** One panel aggregate: a source's observations of one metric in one band and period. */
export interface PanelCell {
  sourceId: string;
  metricKey: string;
  bandKey: string;
  period: string;
}

export interface RecomputeResult {
  cells: number;
  observations: number;
  outliers: number;
}

/** Every panel cell that has observations. */
export async function listPanelCells(db: Database): Promise<PanelCell[]> {
  return db
    .selectDistinct({
      sourceId: observations.sourceId,
      metricKey: observations.metricKey,
      bandKey: observations.bandKey,
      period: observations.period,
    })
    .from(observations);
}

/**
 * Rebuilds one cell from its observations: flags outliers, then writes the flags and the
 * aggregate in one D1 batch, which D1 applies atomically, so readers never see half a cell.
 * Idempotent: running it twice leaves the same rows.
 */
export async function recomputeCell(
  db: Database,
  cell: PanelCell,
  outlierMethod: OutlierMethod,
): Promise<{ observations: number; outliers: number }> {
  const inCell = and(
    eq(observations.sourceId, cell.sourceId),
    eq(observations.metricKey, cell.metricKey),
    eq(observations.bandKey, cell.bandKey),
    eq(observations.period, cell.period),
  );
  const rows = await db
    .select({ companyKey: observations.companyKey, value: observations.value })
    .from(observations)
    .where(inCell);
  const summary = summarizePanel(
    rows.map((r) => r.value),
    outlierMethod,
  );
  const cellKey = and(
    eq(summaries.sourceId, cell.sourceId),
    eq(summaries.metricKey, cell.metricKey),
    eq(summaries.bandKey, cell.bandKey),
    eq(summaries.period, cell.period),
  );
  if (!summary) {
    await db.delete(summaries).where(cellKey);
    return { observations: 0, outliers: 0 };
  }
  const outlierKeys = rows.filter((_, i) => summary.outlierFlags[i]).map((r) => r.companyKey);
  const { outlierFlags: _, ...aggregate } = summary;
  const values = { ...aggregate, periodOrder: parsePeriod(cell.period)!.order };
  await db.batch([
    // One bound JSON array instead of one parameter per key: D1 binds at most 100 per statement.
    db
      .update(observations)
      .set({
        isOutlier: sql`${observations.companyKey} IN (SELECT value FROM json_each(${JSON.stringify(outlierKeys)}))`,
      })
      .where(inCell),
    db
      .insert(summaries)
      .values({ ...cell, ...values })
      .onConflictDoUpdate({
        target: [summaries.metricKey, summaries.bandKey, summaries.period, summaries.sourceId],
        set: values,
      }),
  ]);
  return { observations: rows.length, outliers: outlierKeys.length };
}

/** Rebuilds every panel aggregate, using each metric's outlier method. */
export async function recomputeAll(db: Database): Promise<RecomputeResult> {
  const methods = new Map(
    (await db.select({ key: metrics.key, outlierMethod: metrics.outlierMethod }).from(metrics)).map((m) => [
      m.key,
      m.outlierMethod,
    ]),
  );
  const cells = await listPanelCells(db);
  const result: RecomputeResult = { cells: 0, observations: 0, outliers: 0 };
  for (const cell of cells) {
    const counts = await recomputeCell(db, cell, methods.get(cell.metricKey)!);
    result.cells++;
    result.observations += counts.observations;
    result.outliers += counts.outliers;
  }
  return result;
}
