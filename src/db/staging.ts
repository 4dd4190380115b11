import { eq, sql } from "drizzle-orm";
import { type Cell, cellKey, type SourceKind } from "../domain/catalogue";
import type { D1Client, Database } from "./client";
import { leaseFence, type RunLease } from "./runs";
import { rejectedRows, stagedChunks } from "./schema";

/*
 * A run's accepted rows wait in staged_chunks, each chunk one JSON array in one row, until the
 * swap unpacks them with json_each straight into the live table. Staging a chunk therefore costs
 * one small write instead of one indexed insert per row.
 * Raw SQL throughout, since json_each has no query-builder form.
 */

/** Rows a run's attempt stages in one batch: accepted rows as the next chunk, and rejections. */
export interface StagedPart {
  /** Accepted rows as ingest/ maps them: observations of a panel, or a survey's summaries. */
  chunk?: { seq: number; rows: readonly object[] };
  rejections?: { sourceId: string; rows: readonly { line: number; reason: string }[]; at: string };
}

/**
 * Stages a part of the run's file behind its lease (db/runs.ts leaseFence), renewing it: once
 * another attempt has taken the run over, the batch fails and nothing of it is written. With no
 * rows, it only renews the lease. Rejections go as one bound JSON array, since D1 binds at most
 * 100 parameters per statement, so a huge bad file is never held in memory.
 */
export async function stageUnderLease(db: Database, lease: RunLease, part: StagedPart): Promise<void> {
  const client = db.$client;
  const writes = [leaseFence(client, lease)];
  if (part.chunk) {
    writes.push(
      client
        .prepare("INSERT INTO staged_chunks (run_id, seq, rows) VALUES (?, ?, ?)")
        .bind(lease.runId, part.chunk.seq, JSON.stringify(part.chunk.rows)),
    );
  }
  if (part.rejections) {
    const { sourceId, rows, at } = part.rejections;
    writes.push(
      client
        .prepare(
          `INSERT INTO rejected_rows (source_id, run_id, line, reason, rejected_at)
           SELECT ?1, ?2, value ->> 'line', value ->> 'reason', ?3 FROM json_each(?4)`,
        )
        .bind(sourceId, lease.runId, at, JSON.stringify(rows)),
    );
  }
  await client.batch(writes);
}

interface StagedChanges {
  /** Staged rows whose live twin already holds the same values: what the swap will not change. */
  unchanged: number;
  /** Panel cells the swap changes: where a row is new or differs, and the band a company leaves. */
  changedCells: Cell[];
}

/** Compares the staged rows with the live ones in one pass over the stage. */
export async function stagedChanges(
  db: Database,
  runId: string,
  sourceId: string,
  kind: SourceKind,
): Promise<StagedChanges> {
  if (kind === "survey") {
    const row = await db.get<{ unchanged: number }>(sql`
      SELECT COUNT(*) AS unchanged FROM staged_chunks c, json_each(c.rows) s WHERE c.run_id = ${runId} AND EXISTS (
        SELECT 1 FROM summaries o WHERE o.source_id = ${sourceId} AND o.metric_key = s.value ->> 'metric'
          AND o.band_key = s.value ->> 'band' AND o.period = s.value ->> 'period'
          AND o.n = s.value ->> 'n' AND o.p10 IS s.value ->> 'p10' AND o.p25 = s.value ->> 'p25'
          AND o.p50 = s.value ->> 'p50' AND o.p75 = s.value ->> 'p75' AND o.p90 IS s.value ->> 'p90')`);
    return { unchanged: row?.unchanged ?? 0, changedCells: [] };
  }
  const groups = await db.all<Cell & { liveBand: string | null; rows: number; unchanged: number }>(sql`
    SELECT s.value ->> 'metricKey' AS metricKey, s.value ->> 'bandKey' AS bandKey, s.value ->> 'period' AS period,
      o.band_key AS liveBand, COUNT(*) AS rows,
      SUM(o.value IS s.value ->> 'value' AND o.arr IS s.value ->> 'arr' AND o.band_key IS s.value ->> 'bandKey'
        AND o.industry IS s.value ->> 'industry') AS unchanged
    FROM staged_chunks c, json_each(c.rows) s
    LEFT JOIN observations o ON o.source_id = ${sourceId} AND o.metric_key = s.value ->> 'metricKey'
      AND o.period = s.value ->> 'period' AND o.company_key = s.value ->> 'companyKey'
    WHERE c.run_id = ${runId}
    GROUP BY 1, 2, 3, 4`);
  const cells = new Map<string, Cell>();
  const add = (cell: Cell) => cells.set(cellKey(cell), cell);
  let unchanged = 0;
  for (const group of groups) {
    unchanged += group.unchanged;
    if (group.unchanged === group.rows) continue;
    add({ metricKey: group.metricKey, bandKey: group.bandKey, period: group.period });
    if (group.liveBand !== null && group.liveBand !== group.bandKey) {
      add({ metricKey: group.metricKey, bandKey: group.liveBand, period: group.period });
    }
  }
  const changedCells = [...cells.values()].sort(
    (a, b) =>
      a.metricKey.localeCompare(b.metricKey) ||
      a.bandKey.localeCompare(b.bandKey) ||
      a.period.localeCompare(b.period),
  );
  return { unchanged, changedCells };
}

/**
 * The statements that move the run's staged rows into the live table and clear the stage, for
 * the caller to run in ONE batch with its own bookkeeping: D1 applies a batch atomically, so a
 * failure leaves the previous data exactly as it was. Upserts on the natural key make a repeated
 * file a no-op; a panel row whose values are unchanged is not even rewritten.
 */
export function swapStatements(
  client: D1Client,
  runId: string,
  sourceId: string,
  kind: SourceKind,
): ReturnType<D1Database["prepare"]>[] {
  const upsert =
    kind === "panel"
      ? // New rows start unflagged; the recompute of their cell flags the outliers. Ordered by
        // (metric, period, arr), the rows reach every index of the table in nearly index order,
        // so each insert touches a page still in cache: 4x faster than file order on 100k rows.
        `INSERT INTO observations
           (source_id, metric_key, period, company_key, value, arr, band_key, industry, is_outlier)
         SELECT ?1, s.value ->> 'metricKey', s.value ->> 'period', s.value ->> 'companyKey', s.value ->> 'value',
           s.value ->> 'arr', s.value ->> 'bandKey', s.value ->> 'industry', 0
         FROM staged_chunks c, json_each(c.rows) s WHERE c.run_id = ?2
         ORDER BY 2, 3, 6
         ON CONFLICT (source_id, metric_key, period, company_key) DO UPDATE SET
           value = excluded.value, arr = excluded.arr, band_key = excluded.band_key, industry = excluded.industry
         WHERE observations.value IS NOT excluded.value OR observations.arr IS NOT excluded.arr
           OR observations.band_key IS NOT excluded.band_key OR observations.industry IS NOT excluded.industry`
      : // Surveys publish quantiles only; the panel-only columns stay empty.
        `INSERT INTO summaries
           (source_id, metric_key, band_key, period, period_order, n, p10, p25, p50, p75, p90, outliers_excluded)
         SELECT ?1, s.value ->> 'metric', s.value ->> 'band', s.value ->> 'period', s.value ->> 'periodOrder',
           s.value ->> 'n', s.value ->> 'p10', s.value ->> 'p25', s.value ->> 'p50', s.value ->> 'p75',
           s.value ->> 'p90', 0
         FROM staged_chunks c, json_each(c.rows) s WHERE c.run_id = ?2
         ON CONFLICT (metric_key, band_key, period, source_id) DO UPDATE SET
           period_order = excluded.period_order, n = excluded.n, p10 = excluded.p10, p25 = excluded.p25,
           p50 = excluded.p50, p75 = excluded.p75, p90 = excluded.p90`;
  return [
    client.prepare(upsert).bind(sourceId, runId),
    client.prepare("DELETE FROM staged_chunks WHERE run_id = ?").bind(runId),
  ];
}

/** Drops what a failed run left behind; the live tables were never touched. */
export async function discardStaged(db: Database, runId: string): Promise<void> {
  // One statement at a time: clean-up needs no atomicity, and must work when batches do not.
  await db.delete(stagedChunks).where(eq(stagedChunks.runId, runId));
  await db.delete(rejectedRows).where(eq(rejectedRows.runId, runId));
}
