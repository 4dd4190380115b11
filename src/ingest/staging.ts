import { eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../db/client";
import { observations, rejectedRows, stagedObservations, stagedSummaries, summaries } from "../db/schema";
import type { SourceKind } from "../domain/catalogue";
import type { StagedSummary } from "./upload";
import type { Observation, Rejection } from "./validation";

/**
 * Rows per staging statement. Each chunk is bound as one JSON array and unpacked with json_each,
 * since D1 binds at most 100 parameters per statement but allows large values.
 */
const STAGING_CHUNK_ROWS = 1000;

// Staging is raw SQL, since json_each has no query-builder form; db.all runs it.

function chunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += STAGING_CHUNK_ROWS) out.push(rows.slice(i, i + STAGING_CHUNK_ROWS));
  return out;
}

export async function stageObservations(
  db: Database,
  runId: string,
  sourceId: string,
  rows: readonly Observation[],
): Promise<void> {
  for (const chunk of chunks(rows)) {
    await db.all(sql`
      INSERT INTO staged_observations
        (run_id, source_id, metric_key, period, company_key, value, arr, band_key, industry)
      SELECT ${runId}, ${sourceId}, value ->> 'metricKey', value ->> 'period', value ->> 'companyKey',
        value ->> 'value', value ->> 'arr', value ->> 'bandKey', value ->> 'industry'
      FROM json_each(${JSON.stringify(chunk)})`);
  }
}

/** Records a run's rejected rows as they are found, so a huge bad file is never held in memory. */
export async function stageRejections(
  db: Database,
  sourceId: string,
  runId: string,
  rows: readonly Rejection[],
  at: string,
): Promise<void> {
  for (const chunk of chunks(rows)) {
    await db.all(sql`
      INSERT INTO rejected_rows (source_id, run_id, line, reason, rejected_at)
      SELECT ${sourceId}, ${runId}, value ->> 'line', value ->> 'reason', ${at}
      FROM json_each(${JSON.stringify(chunk)})`);
  }
}

export async function stageSummaries(
  db: Database,
  runId: string,
  sourceId: string,
  rows: readonly StagedSummary[],
): Promise<void> {
  for (const chunk of chunks(rows)) {
    await db.all(sql`
      INSERT INTO staged_summaries
        (run_id, source_id, metric_key, band_key, period, period_order, n, p10, p25, p50, p75, p90)
      SELECT ${runId}, ${sourceId}, value ->> 'metric', value ->> 'band', value ->> 'period',
        value ->> 'periodOrder', value ->> 'n', value ->> 'p10', value ->> 'p25', value ->> 'p50',
        value ->> 'p75', value ->> 'p90'
      FROM json_each(${JSON.stringify(chunk)})`);
  }
}

/** Staged rows whose live twin already holds the same values: what the swap will not change. */
export async function countUnchanged(db: Database, runId: string, kind: SourceKind): Promise<number> {
  const query =
    kind === "panel"
      ? sql`
        SELECT COUNT(*) AS unchanged FROM staged_observations s
        JOIN observations o ON o.source_id = s.source_id AND o.metric_key = s.metric_key
          AND o.period = s.period AND o.company_key = s.company_key
        WHERE s.run_id = ${runId} AND o.value = s.value AND o.arr = s.arr AND o.band_key = s.band_key
          AND o.industry IS s.industry`
      : sql`
        SELECT COUNT(*) AS unchanged FROM staged_summaries s
        JOIN summaries o ON o.source_id = s.source_id AND o.metric_key = s.metric_key
          AND o.band_key = s.band_key AND o.period = s.period
        WHERE s.run_id = ${runId} AND o.n = s.n AND o.p10 IS s.p10 AND o.p25 = s.p25 AND o.p50 = s.p50
          AND o.p75 = s.p75 AND o.p90 IS s.p90`;
  const row = await db.get<{ unchanged: number }>(query);
  return row?.unchanged ?? 0;
}

/**
 * The statements that move the run's staged rows into the live table and clear them. The caller
 * runs them in ONE batch with its own bookkeeping: D1 applies a batch atomically, so a failure
 * leaves the previous data exactly as it was. Upserts on the natural key make a repeated file a
 * no-op. (Query builders, not raw SQL: drizzle cannot batch a raw statement with parameters.)
 */
export function swapStatements(db: Database, runId: string, kind: SourceKind): BatchItem<"sqlite">[] {
  if (kind === "panel") {
    const staged = db
      .select({
        sourceId: stagedObservations.sourceId,
        metricKey: stagedObservations.metricKey,
        period: stagedObservations.period,
        companyKey: stagedObservations.companyKey,
        value: stagedObservations.value,
        arr: stagedObservations.arr,
        bandKey: stagedObservations.bandKey,
        industry: stagedObservations.industry,
        // New rows start unflagged; the recompute after the swap flags the outliers.
        isOutlier: sql<boolean>`0`.as("is_outlier"),
      })
      .from(stagedObservations)
      .where(eq(stagedObservations.runId, runId));
    return [
      db
        .insert(observations)
        .select(staged)
        .onConflictDoUpdate({
          target: [
            observations.sourceId,
            observations.metricKey,
            observations.period,
            observations.companyKey,
          ],
          set: {
            value: sql`excluded.value`,
            arr: sql`excluded.arr`,
            bandKey: sql`excluded.band_key`,
            industry: sql`excluded.industry`,
          },
        }),
      db.delete(stagedObservations).where(eq(stagedObservations.runId, runId)),
    ];
  }
  const staged = db
    .select({
      sourceId: stagedSummaries.sourceId,
      metricKey: stagedSummaries.metricKey,
      bandKey: stagedSummaries.bandKey,
      period: stagedSummaries.period,
      periodOrder: stagedSummaries.periodOrder,
      n: stagedSummaries.n,
      p10: stagedSummaries.p10,
      p25: stagedSummaries.p25,
      p50: stagedSummaries.p50,
      p75: stagedSummaries.p75,
      p90: stagedSummaries.p90,
      // Surveys publish quantiles only; the panel-only columns stay empty.
      outliersExcluded: sql<number>`0`.as("outliers_excluded"),
      mean: sql<null>`null`.as("mean"),
      sd: sql<null>`null`.as("sd"),
      skewness: sql<null>`null`.as("skewness"),
      medianLow: sql<null>`null`.as("median_low"),
      medianHigh: sql<null>`null`.as("median_high"),
    })
    .from(stagedSummaries)
    .where(eq(stagedSummaries.runId, runId));
  return [
    db
      .insert(summaries)
      .select(staged)
      .onConflictDoUpdate({
        target: [summaries.metricKey, summaries.bandKey, summaries.period, summaries.sourceId],
        set: {
          periodOrder: sql`excluded.period_order`,
          n: sql`excluded.n`,
          p10: sql`excluded.p10`,
          p25: sql`excluded.p25`,
          p50: sql`excluded.p50`,
          p75: sql`excluded.p75`,
          p90: sql`excluded.p90`,
        },
      }),
    db.delete(stagedSummaries).where(eq(stagedSummaries.runId, runId)),
  ];
}

/** A (metric, band, period) cell of the benchmark table. */
export interface Cell {
  metricKey: string;
  bandKey: string;
  period: string;
}

/**
 * The cells whose aggregates the swap will change: where a staged row is new or differs from
 * its live twin, and where a company's live row sits in the band it is leaving.
 */
export async function changedCells(db: Database, runId: string): Promise<Cell[]> {
  return db.all<Cell>(sql`
    SELECT s.metric_key AS metricKey, s.band_key AS bandKey, s.period FROM staged_observations s
    LEFT JOIN observations o ON o.source_id = s.source_id AND o.metric_key = s.metric_key
      AND o.period = s.period AND o.company_key = s.company_key
    WHERE s.run_id = ${runId} AND (o.value IS NOT s.value OR o.arr IS NOT s.arr
      OR o.band_key IS NOT s.band_key OR o.industry IS NOT s.industry)
    UNION
    SELECT o.metric_key, o.band_key, o.period FROM staged_observations s
    JOIN observations o ON o.source_id = s.source_id AND o.metric_key = s.metric_key
      AND o.period = s.period AND o.company_key = s.company_key
    WHERE s.run_id = ${runId} AND o.band_key != s.band_key
    ORDER BY 1, 2, 3`);
}

/** Drops what a failed run left behind; the live tables were never touched. */
export async function discardStaged(db: Database, runId: string): Promise<void> {
  // One statement at a time: clean-up needs no atomicity, and must work when batches do not.
  await db.delete(stagedObservations).where(eq(stagedObservations.runId, runId));
  await db.delete(stagedSummaries).where(eq(stagedSummaries.runId, runId));
  await db.delete(rejectedRows).where(eq(rejectedRows.runId, runId));
}
