import { and, asc, count, desc, eq, gte, inArray, lt, sql } from "drizzle-orm";
import type { Catalogue, QuantileRow } from "../domain/catalogue";
import type { PeerGroupFilter, PeerGroupRow, PeerUnit } from "../domain/peer-units";
import type { Database } from "./client";
import { type OwedCell, owedCellsOf } from "./pending-cells";
import {
  metrics,
  observations,
  peerGroupUnits,
  rejectedRows,
  revenueRanges,
  sources,
  summaries,
} from "./schema";
import { sourceColumns } from "./sources";

export async function loadCatalogue(db: Database): Promise<Catalogue> {
  const [metricRows, rangeRows, sourceRows] = await db.batch([
    db.select().from(metrics).orderBy(asc(metrics.sortOrder)),
    db
      .select({ key: revenueRanges.key, minArr: revenueRanges.minArr, maxArr: revenueRanges.maxArr })
      .from(revenueRanges)
      .orderBy(asc(revenueRanges.sortOrder)),
    db.select(sourceColumns).from(sources).orderBy(asc(sources.id)),
  ]);
  return {
    metrics: metricRows.map(({ sortOrder: _, ...metric }) => metric),
    revenueRanges: rangeRows,
    sources: sourceRows,
  };
}

export interface CellRow extends QuantileRow {
  sourceId: string;
  outliersExcluded: number;
  medianLow: number | null;
  medianHigh: number | null;
  mean: number | null;
  sd: number | null;
  skewness: number | null;
}

const cellColumns = {
  sourceId: summaries.sourceId,
  n: summaries.n,
  p10: summaries.p10,
  p25: summaries.p25,
  p50: summaries.p50,
  p75: summaries.p75,
  p90: summaries.p90,
  outliersExcluded: summaries.outliersExcluded,
  medianLow: summaries.medianLow,
  medianHigh: summaries.medianHigh,
  mean: summaries.mean,
  sd: summaries.sd,
  skewness: summaries.skewness,
};

/**
 * The latest period with data for the metric among the given sources, in one band
 * (summaries_latest_period) or in any (summaries_metric_latest).
 */
function latestPeriodQuery(
  db: Database,
  metricKey: string,
  bandKey: string | null,
  sourceIds: readonly string[],
) {
  return db
    .select({ period: summaries.period })
    .from(summaries)
    .where(
      and(
        eq(summaries.metricKey, metricKey),
        bandKey === null ? undefined : eq(summaries.bandKey, bandKey),
        inArray(summaries.sourceId, [...sourceIds]),
      ),
    )
    .orderBy(desc(summaries.periodOrder))
    .limit(1);
}

/**
 * Every source's summary for one (metric, band, period) cell, read from the primary key, and the
 * band's cells owed a recompute. Without a period, the cell of the latest one: found in the same
 * query, so a miss costs one round trip.
 */
export async function loadCell(
  db: Database,
  metricKey: string,
  bandKey: string,
  period: string | undefined,
  sourceIds: readonly string[],
): Promise<{ rows: (CellRow & { period: string })[]; owed: OwedCell[] }> {
  const cell = db
    .select({ ...cellColumns, period: summaries.period })
    .from(summaries)
    .where(
      and(
        eq(summaries.metricKey, metricKey),
        eq(summaries.bandKey, bandKey),
        period === undefined
          ? sql`${summaries.period} = (${latestPeriodQuery(db, metricKey, bandKey, sourceIds)})`
          : eq(summaries.period, period),
        inArray(summaries.sourceId, [...sourceIds]),
      ),
    )
    .orderBy(asc(summaries.sourceId));
  const [rows, owed] = await db.batch([cell, owedCellsOf(db, metricKey, [bandKey])]);
  return { rows, owed };
}

/** Rejected rows per source: those of its latest completed run. */
export async function rejectedRowCounts(db: Database): Promise<Map<string, number>> {
  const rows = await db
    .select({ sourceId: rejectedRows.sourceId, rejected: count() })
    .from(rejectedRows)
    .innerJoin(sources, and(eq(sources.id, rejectedRows.sourceId), eq(sources.lastRunId, rejectedRows.runId)))
    .groupBy(rejectedRows.sourceId);
  return new Map(rows.map((r) => [r.sourceId, r.rejected]));
}

/** A query that reads nothing: does D1 answer? */
export async function pingDatabase(db: Database): Promise<void> {
  await db.get(sql`SELECT 1`);
}

/** The rejections of a source's latest completed run, by line. */
export async function listRejectedRows(db: Database, sourceId: string, limit: number) {
  return db
    .select({ line: rejectedRows.line, reason: rejectedRows.reason, rejectedAt: rejectedRows.rejectedAt })
    .from(rejectedRows)
    .innerJoin(sources, and(eq(sources.id, rejectedRows.sourceId), eq(sources.lastRunId, rejectedRows.runId)))
    .where(eq(rejectedRows.sourceId, sourceId))
    .orderBy(asc(rejectedRows.line))
    .limit(limit);
}

/** Every source's summary of one (metric, band) across periods of one granularity, and the band's owed cells. */
export async function loadSeries(
  db: Database,
  metricKey: string,
  bandKey: string,
  granularity: "year" | "quarter",
  sourceIds: readonly string[],
): Promise<{ rows: (CellRow & { period: string; periodOrder: number })[]; owed: OwedCell[] }> {
  // period_order ends in 5 for a year and in 1–4 for a quarter.
  const granularityFilter =
    granularity === "year" ? sql`${summaries.periodOrder} % 10 = 5` : sql`${summaries.periodOrder} % 10 < 5`;
  const series = db
    .select({ ...cellColumns, period: summaries.period, periodOrder: summaries.periodOrder })
    .from(summaries)
    .where(
      and(
        eq(summaries.metricKey, metricKey),
        eq(summaries.bandKey, bandKey),
        inArray(summaries.sourceId, [...sourceIds]),
        granularityFilter,
      ),
    )
    .orderBy(asc(summaries.periodOrder), asc(summaries.sourceId));
  const [rows, owed] = await db.batch([series, owedCellsOf(db, metricKey, [bandKey])]);
  return { rows, owed };
}

/**
 * A custom peer group's panel observations, outliers flagged, read through one range of a
 * covering index (observations_peer_span, or observations_peer_industry for one industry) and
 * nothing beyond them; with the units recompute counted in `bandKeys`, the bands the group
 * reaches into, and those bands' cells owed a recompute. Without a period, of the latest with
 * panel data, which each statement finds as the same subquery (summaries_metric_latest): one
 * round trip either way.
 */
export async function peerGroupRows(
  db: Database,
  metricKey: string,
  period: string | undefined,
  sourceIds: readonly string[],
  group: PeerGroupFilter,
  bandKeys: readonly string[],
): Promise<{ period: string | undefined; rows: PeerGroupRow[]; units: PeerUnit[]; owed: OwedCell[] }> {
  const latest = latestPeriodQuery(db, metricKey, null, sourceIds);
  const inPeriod = (column: typeof observations.period | typeof peerGroupUnits.period) =>
    period === undefined ? sql`${column} = (${latest})` : eq(column, period);
  const groupRows = db
    .select({
      sourceId: observations.sourceId,
      bandKey: observations.bandKey,
      arr: observations.arr,
      industry: observations.industry,
      value: observations.value,
      isOutlier: observations.isOutlier,
    })
    .from(observations)
    .where(
      and(
        eq(observations.metricKey, metricKey),
        inPeriod(observations.period),
        group.industry === null ? undefined : eq(observations.industry, group.industry),
        gte(observations.arr, group.arrMin),
        group.arrMax === null ? undefined : lt(observations.arr, group.arrMax),
        inArray(observations.sourceId, [...sourceIds]),
      ),
    );
  const unitCounts = db
    .select({
      sourceId: peerGroupUnits.sourceId,
      bandKey: peerGroupUnits.bandKey,
      step: peerGroupUnits.step,
      industry: peerGroupUnits.industry,
      kept: peerGroupUnits.kept,
      outliers: peerGroupUnits.outliers,
      keptSum: peerGroupUnits.keptSum,
    })
    .from(peerGroupUnits)
    .where(
      and(
        eq(peerGroupUnits.metricKey, metricKey),
        inPeriod(peerGroupUnits.period),
        inArray(peerGroupUnits.sourceId, [...sourceIds]),
        inArray(peerGroupUnits.bandKey, [...bandKeys]),
      ),
    );
  const owedCells = owedCellsOf(db, metricKey, bandKeys);
  if (period !== undefined) {
    const [rows, units, owed] = await db.batch([groupRows, unitCounts, owedCells]);
    return { period, rows, units, owed };
  }
  const [[found], rows, units, owed] = await db.batch([latest, groupRows, unitCounts, owedCells]);
  return { period: found?.period, rows, units, owed };
}
