import { type DeadLetter, keepDeadLetter, listDeadLetterRows } from "../db/dead-letters";
import { addRecomputedCells, failUnfinishedRun } from "../db/runs";
import { type Cell, findMetric } from "../domain/catalogue";
import { ingestMessage } from "../ingest/messages";
import { type RecomputeResult, recomputeCell } from "../ingest/recompute";
import { prometheus } from "../observability/prometheus/recorder";
import { getCatalogue } from "./catalogue";
import type { ServiceContext } from "./context";

/**
 * The recompute consumer's work: rebuilds each cell (each in one atomic batch), then moves the
 * data version once, so cached responses are refreshed only after every cell is whole. Cells of
 * metrics the catalogue no longer has are skipped: there is nothing left to rebuild.
 */
export async function recomputeCells(
  ctx: ServiceContext,
  cells: (Cell & { runId?: string })[],
): Promise<RecomputeResult> {
  const started = performance.now();
  const catalogue = await getCatalogue(ctx);
  const total: RecomputeResult = { cells: 0, observations: 0, outliers: 0 };
  for (const cell of cells) {
    const metric = findMetric(catalogue, cell.metricKey);
    if (!metric) continue;
    const result = await recomputeCell(ctx.db, cell, metric.outlierMethod);
    total.cells += result.cells;
    total.observations += result.observations;
    total.outliers += result.outliers;
  }
  if (cells.length > 0) await ctx.cache.bumpDataVersion();
  // Progress per run, for whoever waits on it; capped, since a redelivered cell counts again.
  for (const [runId, runCells] of Map.groupBy(cells, (cell) => cell.runId)) {
    if (runId === undefined) continue;
    await addRecomputedCells(ctx.db, runId, runCells.length);
  }
  if (cells.length > 0)
    prometheus.observe("recompute_duration_seconds", {}, (performance.now() - started) / 1000);
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
