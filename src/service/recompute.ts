import { type DeadLetter, keepDeadLetter, listDeadLetterRows } from "../db/dead-letters";
import { failUnfinishedRun } from "../db/runs";
import { type Cell, findMetric } from "../domain/catalogue";
import { ingestMessage } from "../ingest/messages";
import { type RecomputeResult, recomputeCell } from "../ingest/recompute";
import { prometheus } from "../observability/prometheus/recorder";
import { getCatalogue } from "./catalogue";
import type { ServiceContext } from "./context";

/**
 * The recompute consumer's work: rebuilds each owed cell, each in one atomic batch that also pays
 * its debt and moves the data version in D1, then mirrors the version once, so edge caches are
 * refreshed only after every cell of the batch is whole. Cells that owe nothing (a redelivery)
 * and cells of metrics the catalogue no longer has are skipped.
 */
export async function recomputeCells(ctx: ServiceContext, cells: Cell[]): Promise<RecomputeResult> {
  const started = performance.now();
  const catalogue = await getCatalogue(ctx);
  const total: RecomputeResult = { cells: 0, observations: 0, outliers: 0 };
  let rebuilt = 0;
  for (const cell of cells) {
    const metric = findMetric(catalogue, cell.metricKey);
    if (!metric) continue;
    const result = await recomputeCell(ctx.db, cell, metric.outlierMethod);
    if (!result) continue;
    rebuilt++;
    total.cells += result.cells;
    total.observations += result.observations;
    total.outliers += result.outliers;
  }
  if (rebuilt > 0) {
    await ctx.cache.publishDataVersion();
    prometheus.observe("recompute_duration_seconds", {}, (performance.now() - started) / 1000);
  }
  return total;
}

/**
 * Keeps a message that exhausted its retries, once however often it is delivered, and ends the
 * ingestion run it carried, which would otherwise look queued forever.
 */
export async function recordDeadLetter(ctx: ServiceContext, letter: DeadLetter): Promise<void> {
  await keepDeadLetter(ctx.db, letter);
  const ingest = ingestMessage.safeParse(letter.body);
  if (!ingest.success) return;
  await failUnfinishedRun(ctx.db, ingest.data.runId, `gave up after ${letter.attempts} attempts; last: `);
}

export async function listDeadLetters(ctx: ServiceContext, limit: number) {
  return { deadLetters: await listDeadLetterRows(ctx.db, limit) };
}
