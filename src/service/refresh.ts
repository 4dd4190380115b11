import { and, eq, isNotNull, isNull, lte, or } from "drizzle-orm";
import type { Database } from "../db/client";
import { ingestionRuns, sources } from "../db/schema";
import { findSource } from "../db/sources";
import type { Source } from "../domain/catalogue";
import {
  admits,
  afterFailure,
  afterSuccess,
  type Circuit,
  retryDelaySeconds,
  trialAfter,
} from "../domain/circuit";
import { ServiceError } from "../domain/errors";
import { readRecords } from "../ingest/records";
import { discardStaged } from "../ingest/staging";
import { type IngestMessage, SEND_BATCH_LIMIT } from "../jobs/messages";
import type { ServiceContext } from "./context";
import { createRun, errorMessage, executeRun, finishRunFailed, getRun, type IngestionRun } from "./ingestion";
import { MAX_UPLOAD_BYTES } from "./requests";
import { circuitPolicy, noSuchSource } from "./sources";

/** What the queue should do with a delivered message. */
export type Delivery = { action: "ack" } | { action: "retry"; delaySeconds: number };

/** A failed fetch; `temporary` ones (timeouts, 5xx, 429) are worth retrying. */
export class FetchFailure extends Error {
  constructor(
    message: string,
    readonly temporary: boolean,
  ) {
    super(message);
  }
}

const TERMINAL = new Set(["succeeded", "partially_succeeded", "failed"]);
const ACCEPTS = { csv: "text/csv", json: "application/json" } as const;

async function enqueue(ctx: ServiceContext, messages: IngestMessage[]): Promise<void> {
  for (let i = 0; i < messages.length; i += SEND_BATCH_LIMIT) {
    await ctx.queues.ingest.sendBatch(
      messages.slice(i, i + SEND_BATCH_LIMIT).map((body) => ({ body, contentType: "json" as const })),
    );
  }
}

/** An operator's "refresh now": queues a run for the ingest consumer and answers with it. */
export async function requestRefresh(ctx: ServiceContext, sourceId: string): Promise<IngestionRun> {
  const source = await findSource(ctx.db, sourceId);
  if (!source) throw noSuchSource(sourceId);
  if (!source.url) {
    throw new ServiceError(
      "failed_precondition",
      "source-has-no-url",
      `Source "${sourceId}" has no url to fetch.`,
    );
  }
  if (!source.active) {
    throw new ServiceError("failed_precondition", "source-paused", `Source "${sourceId}" is paused.`);
  }
  if (source.circuitState === "open" && admits(source, Date.now(), circuitPolicy(ctx)) === "skip") {
    throw new ServiceError(
      "conflict",
      "circuit-open",
      `Source "${sourceId}" failed ${source.consecutiveFailures} times in a row; its circuit is open until ${trialAfter(source, circuitPolicy(ctx))}.`,
    );
  }
  const runId = await createRun(ctx.db, sourceId, "refresh", "queued");
  await enqueue(ctx, [{ runId, sourceId }]);
  return getRun(ctx, runId);
}

/**
 * The cron's work: every active source with a url whose refresh is due gets a queued run and a
 * message. Sources behind an open circuit are skipped until its cooldown passes; then exactly one
 * trial goes (half-open). Returns the ids of the sources queued.
 */
export async function scheduleDueRefreshes(ctx: ServiceContext, now = Date.now()): Promise<string[]> {
  const nowIso = new Date(now).toISOString();
  const due = await ctx.db
    .select()
    .from(sources)
    .where(
      and(
        eq(sources.active, true),
        isNotNull(sources.url),
        isNotNull(sources.refreshIntervalMinutes),
        or(isNull(sources.nextRefreshAt), lte(sources.nextRefreshAt, nowIso)),
      ),
    );
  const messages: IngestMessage[] = [];
  for (const source of due) {
    const admission = admits(source, now, circuitPolicy(ctx));
    if (admission === "skip") continue;
    const nextRefreshAt = new Date(now + source.refreshIntervalMinutes! * 60_000).toISOString();
    const trial =
      admission === "trial" ? { circuitState: "half_open" as const, circuitOpenedAt: nowIso } : {};
    await ctx.db
      .update(sources)
      .set({ nextRefreshAt, ...trial })
      .where(eq(sources.id, source.id));
    messages.push({ runId: await createRun(ctx.db, source.id, "schedule", "queued"), sourceId: source.id });
  }
  await enqueue(ctx, messages);
  return messages.map((m) => m.sourceId);
}

async function saveCircuit(db: Database, sourceId: string, circuit: Circuit, lastError?: string) {
  await db
    .update(sources)
    .set({
      ...circuit,
      ...(lastError === undefined ? {} : { lastError, lastErrorAt: new Date().toISOString() }),
    })
    .where(eq(sources.id, sourceId));
}

/** Fetches a source's file; the timeout covers the body too, since the signal aborts its stream. */
async function fetchSource(source: Source, timeoutMs: number): Promise<ReadableStream<Uint8Array>> {
  let response: Response;
  try {
    response = await fetch(source.url!, {
      headers: { Accept: ACCEPTS[source.format] },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new FetchFailure(describeFetchError(error, timeoutMs), true);
  }
  if (!response.ok) {
    await response.body?.cancel();
    const temporary = response.status >= 500 || response.status === 429 || response.status === 408;
    throw new FetchFailure(`${source.url} answered HTTP ${response.status}`, temporary);
  }
  return response.body ?? new Blob([]).stream();
}

const isTimeout = (error: unknown) =>
  error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");

function describeFetchError(error: unknown, timeoutMs: number): string {
  return isTimeout(error)
    ? `no complete answer within ${timeoutMs} ms`
    : `fetch failed: ${errorMessage(error)}`;
}

/** Retry what might pass next time: fetch failures marked so, timeouts, and our own hiccups. */
function isTemporary(error: unknown): boolean {
  if (error instanceof FetchFailure) return error.temporary;
  if (error instanceof ServiceError) return false;
  return true;
}

/**
 * The ingest consumer's work for one delivery: fetch the source, load it through the same path
 * as uploads, and keep the circuit. A temporary failure asks for a retry with exponential
 * backoff while the circuit stays closed; a permanent one, or one that opens the circuit, ends
 * the run. A redelivered message for a finished run does nothing, and a rerun of an interrupted
 * one starts from a clean staging area, so nothing is loaded twice.
 */
export async function refreshSource(
  ctx: ServiceContext,
  message: IngestMessage,
  attempt: number,
  now = Date.now(),
): Promise<Delivery> {
  const { db, config } = ctx;
  const [run] = await db.select().from(ingestionRuns).where(eq(ingestionRuns.id, message.runId));
  const source = await findSource(db, message.sourceId);
  // Gone with its source (ON DELETE CASCADE), or already finished by an earlier delivery.
  if (!run || !source || TERMINAL.has(run.status)) return { action: "ack" };
  const refusal = !source.url
    ? "the source has no url"
    : !source.active
      ? "the source is paused"
      : source.circuitState === "open" && admits(source, now, circuitPolicy(ctx)) === "skip"
        ? `the source's circuit is open until ${trialAfter(source, circuitPolicy(ctx))}`
        : null;
  if (refusal) {
    await finishRunFailed(db, run.id, `not fetched: ${refusal}`);
    return { action: "ack" };
  }

  await discardStaged(db, run.id);
  await db
    .update(ingestionRuns)
    .set({ status: "running", attempts: attempt, error: null })
    .where(eq(ingestionRuns.id, run.id));
  let failure: unknown;
  try {
    const body = await fetchSource(source, config.fetchTimeoutMs);
    const result = await executeRun(ctx, source, run.id, readRecords(body, source.format, MAX_UPLOAD_BYTES));
    if (result.accepted > 0) {
      await saveCircuit(db, source.id, afterSuccess(source));
      return { action: "ack" };
    }
    failure = new FetchFailure(`every one of the ${result.received} rows was rejected`, false);
  } catch (error) {
    // The fetch's signal also aborts its body: a stall midway is the same timeout.
    failure = isTimeout(error)
      ? new FetchFailure(describeFetchError(error, config.fetchTimeoutMs), true)
      : error;
  }

  const reason = errorMessage(failure);
  const circuit = afterFailure(source, now, circuitPolicy(ctx));
  await saveCircuit(db, source.id, circuit, reason);
  if (isTemporary(failure) && circuit.circuitState !== "open") {
    const delaySeconds = Math.round(retryDelaySeconds(attempt, config.retryBaseSeconds));
    await db
      .update(ingestionRuns)
      .set({
        status: "queued",
        finishedAt: null,
        error: `attempt ${attempt} failed: ${reason}; retrying in ${delaySeconds} s`,
      })
      .where(eq(ingestionRuns.id, run.id));
    return { action: "retry", delaySeconds };
  }
  const opened =
    circuit.circuitState === "open" ? `; circuit opened after ${circuit.consecutiveFailures} failures` : "";
  await finishRunFailed(db, run.id, `${reason}${opened}`);
  return { action: "ack" };
}
