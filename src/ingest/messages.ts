import { z } from "zod";

/** Asks the ingest consumer to fetch and load one source under an already recorded run. */
export const ingestMessage = z.object({
  runId: z.string().min(1),
  sourceId: z.string().min(1),
});
export type IngestMessage = z.infer<typeof ingestMessage>;

/**
 * Asks the recompute consumer to rebuild one (metric, band, period) cell, if it still owes a
 * recompute. Messages of earlier releases also carry a runId, which is ignored.
 */
export const recomputeMessage = z.object({
  metricKey: z.string().min(1),
  bandKey: z.string().min(1),
  period: z.string().min(1),
});
export type RecomputeMessage = z.infer<typeof recomputeMessage>;

/** Queue names as wrangler.toml declares them; a batch says which queue it came from. */
export const QUEUES = {
  ingest: "benchmark-ingest",
  ingestDeadLetters: "benchmark-ingest-dlq",
  recompute: "benchmark-recompute",
  recomputeDeadLetters: "benchmark-recompute-dlq",
} as const;

/** Queue.sendBatch takes at most 100 messages. */
const SEND_BATCH_LIMIT = 100;

/** Sends every body, in as few batches as Queues allows. */
export async function sendAll<Body>(queue: Queue<Body>, bodies: Body[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += SEND_BATCH_LIMIT) {
    await queue.sendBatch(
      bodies.slice(i, i + SEND_BATCH_LIMIT).map((body) => ({ body, contentType: "json" as const })),
    );
  }
}
