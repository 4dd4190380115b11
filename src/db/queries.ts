import { and, asc, count, desc, eq, inArray, sql } from "drizzle-orm";
import type { Catalogue, QuantileRow } from "../domain/catalogue";
import type { Database } from "./client";
import { meta, metrics, rejectedRows, revenueRanges, sources, summaries } from "./schema";

export async function loadCatalogue(db: Database): Promise<Catalogue> {
  const [metricRows, rangeRows, sourceRows] = await db.batch([
    db.select().from(metrics).orderBy(asc(metrics.sortOrder)),
    db
      .select({ key: revenueRanges.key, minArr: revenueRanges.minArr, maxArr: revenueRanges.maxArr })
      .from(revenueRanges)
      .orderBy(asc(revenueRanges.sortOrder)),
    db.select().from(sources).orderBy(asc(sources.id)),
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
  mean: summaries.mean,
  sd: summaries.sd,
  skewness: summaries.skewness,
};

/** The latest period with data for (metric, band) among the given sources. */
export async function latestPeriod(
  db: Database,
  metricKey: string,
  bandKey: string,
  sourceIds: readonly string[],
): Promise<string | undefined> {
  const [row] = await db
    .select({ period: summaries.period })
    .from(summaries)
    .where(
      and(
        eq(summaries.metricKey, metricKey),
        eq(summaries.bandKey, bandKey),
        inArray(summaries.sourceId, [...sourceIds]),
      ),
    )
    .orderBy(desc(summaries.periodOrder))
    .limit(1);
  return row?.period;
}

/** Every source's summary for one (metric, band, period) cell, read from the primary key. */
export async function loadCell(
  db: Database,
  metricKey: string,
  bandKey: string,
  period: string,
  sourceIds: readonly string[],
): Promise<CellRow[]> {
  return db
    .select(cellColumns)
    .from(summaries)
    .where(
      and(
        eq(summaries.metricKey, metricKey),
        eq(summaries.bandKey, bandKey),
        eq(summaries.period, period),
        inArray(summaries.sourceId, [...sourceIds]),
      ),
    )
    .orderBy(asc(summaries.sourceId));
}

export async function rejectedRowCounts(db: Database): Promise<Map<string, number>> {
  const rows = await db
    .select({ sourceId: rejectedRows.sourceId, rejected: count() })
    .from(rejectedRows)
    .groupBy(rejectedRows.sourceId);
  return new Map(rows.map((r) => [r.sourceId, r.rejected]));
}

export const DATA_VERSION_KEY = "data_version";

export async function readDataVersion(db: Database): Promise<string> {
  const [row] = await db.select({ value: meta.value }).from(meta).where(eq(meta.key, DATA_VERSION_KEY));
  return row?.value ?? "0";
}

/** Increments the data version; it changes whenever data does, so versioned cache keys go stale. */
export async function incrementDataVersion(db: Database): Promise<string> {
  const [row] = await db
    .insert(meta)
    .values({ key: DATA_VERSION_KEY, value: "1" })
    .onConflictDoUpdate({ target: meta.key, set: { value: sql`CAST(${meta.value} AS INTEGER) + 1` } })
    .returning({ value: meta.value });
  return String(row!.value);
}

export async function listRejectedRows(db: Database, sourceId: string, limit: number) {
  return db
    .select({ line: rejectedRows.line, reason: rejectedRows.reason, rejectedAt: rejectedRows.rejectedAt })
    .from(rejectedRows)
    .where(eq(rejectedRows.sourceId, sourceId))
    .orderBy(asc(rejectedRows.line))
    .limit(limit);
}
