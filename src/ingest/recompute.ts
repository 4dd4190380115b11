import { and, eq, notInArray, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../db/client";
import { metrics, observations, summaries } from "../db/schema";
import { parsePeriod } from "../domain/periods";
import { type OutlierMethod, summarizePanel } from "../stats";

/**
 * The unit of recompute: one panel source's observations of one metric in one period, across
 * all bands. Reading the group in one primary-key range and writing it in one batch keeps the
 * number of D1 round trips at two per group rather than two per band.
 */
export interface PanelGroup {
  sourceId: string;
  metricKey: string;
  period: string;
}

export interface RecomputeResult {
  cells: number;
  observations: number;
  outliers: number;
}

/** Every (source, metric, period) that has panel observations. */
export async function listPanelGroups(db: Database): Promise<PanelGroup[]> {
  return db
    .selectDistinct({
      sourceId: observations.sourceId,
      metricKey: observations.metricKey,
      period: observations.period,
    })
    .from(observations);
}

/**
 * Rebuilds the aggregates of one group: per band, flags outliers and writes the flags and the
 * summary row; summaries of bands left without observations are removed. D1 applies the batch
 * atomically, so readers never see half a group. Idempotent.
 */
export async function recomputeGroup(
  db: Database,
  group: PanelGroup,
  outlierMethod: OutlierMethod,
): Promise<RecomputeResult> {
  const inGroup = and(
    eq(observations.sourceId, group.sourceId),
    eq(observations.metricKey, group.metricKey),
    eq(observations.period, group.period),
  );
  const rows = await db
    .select({ companyKey: observations.companyKey, value: observations.value, bandKey: observations.bandKey })
    .from(observations)
    .where(inGroup);
  const byBand = Map.groupBy(rows, (row) => row.bandKey);
  const periodOrder = parsePeriod(group.period)!.order;
  const writes: BatchItem<"sqlite">[] = [
    db
      .delete(summaries)
      .where(
        and(
          eq(summaries.sourceId, group.sourceId),
          eq(summaries.metricKey, group.metricKey),
          eq(summaries.period, group.period),
          notInArray(summaries.bandKey, [...byBand.keys()]),
        ),
      ),
  ];
  const result: RecomputeResult = { cells: 0, observations: rows.length, outliers: 0 };
  for (const [bandKey, bandRows] of byBand) {
    const summary = summarizePanel(
      bandRows.map((r) => r.value),
      outlierMethod,
    )!;
    const outlierKeys = bandRows.filter((_, i) => summary.outlierFlags[i]).map((r) => r.companyKey);
    const { outlierFlags: _, ...aggregate } = summary;
    const values = { ...aggregate, periodOrder };
    writes.push(
      // One bound JSON array instead of one parameter per key: D1 binds at most 100 per statement.
      db
        .update(observations)
        .set({
          isOutlier: sql`${observations.companyKey} IN (SELECT value FROM json_each(${JSON.stringify(outlierKeys)}))`,
        })
        .where(and(inGroup, eq(observations.bandKey, bandKey))),
      db
        .insert(summaries)
        .values({ ...group, bandKey, ...values })
        .onConflictDoUpdate({
          target: [summaries.metricKey, summaries.bandKey, summaries.period, summaries.sourceId],
          set: values,
        }),
    );
    result.cells++;
    result.outliers += outlierKeys.length;
  }
  await db.batch(writes as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  return result;
}

/** Rebuilds every panel aggregate, using each metric's outlier method. */
export async function recomputeAll(db: Database): Promise<RecomputeResult> {
  const methods = new Map(
    (await db.select({ key: metrics.key, outlierMethod: metrics.outlierMethod }).from(metrics)).map((m) => [
      m.key,
      m.outlierMethod,
    ]),
  );
  const total: RecomputeResult = { cells: 0, observations: 0, outliers: 0 };
  for (const group of await listPanelGroups(db)) {
    const counts = await recomputeGroup(db, group, methods.get(group.metricKey)!);
    total.cells += counts.cells;
    total.observations += counts.observations;
    total.outliers += counts.outliers;
  }
  return total;
}
