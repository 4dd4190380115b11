import type { Database } from "../db/client";
import { claimRun, findRunRow, requeueRun } from "../db/runs";
import {
  findSealedCredential,
  findSource,
  saveSourceCircuit,
  setNextRefresh,
  sourcesDueForRefresh,
} from "../db/sources";
import { discardStaged } from "../db/staging";
import type { Circuit, Source } from "../domain/catalogue";
import { ServiceError } from "../domain/errors";
import { afterFailure, afterSuccess, refreshGate, retryDelaySeconds, trialAfter } from "../ingest/circuit";
import { loadCredentialKeys, openCredential } from "../ingest/credentials";
import { FetchFailure, fetchSource } from "../ingest/fetch";
import { type RunHold, renewedLease } from "../ingest/load";
import type { IngestMessage } from "../ingest/messages";
import { readRecords } from "../ingest/records";
import { errorType, logEvent } from "../observability/log";
import type { ServiceContext } from "./context";
import {
  createRun,
  executeRun,
  failureReason,
  finishRunFailed,
  getRun,
  type IngestionRun,
  recoverExpiredRuns,
  requeueOwedCells,
  wasTakenOver,
} from "./ingestion";
import { MAX_UPLOAD_BYTES } from "./requests";
import { circuitPolicy, noSuchSource, sourceUrlPolicy } from "./sources";

/** What the queue should do with a delivered message. */
type Delivery = { action: "ack" } | { action: "retry"; delaySeconds: number };

const TERMINAL = new Set(["succeeded", "partially_succeeded", "failed", "interrupted"]);

/**
 * Creates a queued run and sends its message. A send that fails leaves no run waiting for a
 * message that will never come: the run is failed with the reason, and the error rethrown.
 */
async function queueRun(ctx: ServiceContext, sourceId: string, trigger: "refresh" | "schedule", now: number) {
  const { runId } = await createRun(ctx, sourceId, trigger, "queued", now);
  try {
    await ctx.queues.ingest.send({ runId, sourceId }, { contentType: "json" });
  } catch (error) {
    logEvent("error", "ingest message could not be queued", { "error.type": errorType(error) });
    await finishRunFailed(ctx.db, { id: runId, sourceId }, "the ingest queue did not take the message");
    throw new ServiceError(
      "unavailable",
      "queue-unavailable",
      "The ingest queue did not take the refresh; try again.",
    );
  }
  return runId;
}

/** An operator's "refresh now": queues a run for the ingest consumer and answers with it. */
export async function requestRefresh(
  ctx: ServiceContext,
  sourceId: string,
  now = Date.now(),
): Promise<IngestionRun> {
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
  const gate = refreshGate(source, now, circuitPolicy(ctx));
  if (gate === "skip") {
    throw new ServiceError(
      "conflict",
      "circuit-open",
      `Source "${sourceId}" failed ${source.consecutiveFailures} times in a row; its circuit is open until ${trialAfter(source, circuitPolicy(ctx))}.`,
    );
  }
  const runId = await queueRun(ctx, sourceId, "refresh", now);
  // A refresh once the cooldown is over is the circuit's one trial.
  if (gate === "trial") await saveCircuit(ctx.db, source, halfOpen(source, now));
  return getRun(ctx, runId);
}

/**
 * The cron's work. First recovery: runs whose lease expired are taken over, cells still owed a
 * recompute a lease after they were sent are sent again, and KV's copy of the data version is
 * mended. Then every active source with a url whose refresh is due, and that has no run in
 * flight, gets a queued run and a message. Sources behind an open circuit are skipped until its
 * cooldown passes; then exactly one trial goes (half-open). Returns the ids of the sources queued.
 */
export async function scheduleDueRefreshes(ctx: ServiceContext, now = Date.now()): Promise<string[]> {
  await recoverExpiredRuns(ctx, now);
  await requeueOwedCells(ctx, now);
  await ctx.cache.publishDataVersion();
  const nowIso = new Date(now).toISOString();
  const due = await sourcesDueForRefresh(ctx.db, nowIso);
  const queued: string[] = [];
  for (const source of due) {
    const gate = refreshGate(source, now, circuitPolicy(ctx));
    if (gate === "skip") continue;
    try {
      await queueRun(ctx, source.id, "schedule", now);
    } catch {
      continue; // in flight already, or on record as failed; the next tick tries again
    }
    const nextRefreshAt = new Date(now + source.refreshIntervalMinutes! * 60_000).toISOString();
    await setNextRefresh(ctx.db, source.id, nextRefreshAt);
    if (gate === "trial") await saveCircuit(ctx.db, source, halfOpen(source, now));
    queued.push(source.id);
  }
  return queued;
}

/** The trial under way: another may go only after a further cooldown, should this one be lost. */
const halfOpen = (circuit: Circuit, now: number): Circuit => ({
  ...circuit,
  circuitState: "half_open",
  circuitOpenedAt: new Date(now).toISOString(),
});

/**
 * Stores the source's circuit after an attempt, and nothing else of the source: the run may have
 * moved its last run and freshness meanwhile. A change of state gets a log line of its own.
 */
async function saveCircuit(db: Database, before: Source, circuit: Circuit, lastError?: string) {
  await saveSourceCircuit(db, before.id, circuit, lastError);
  if (circuit.circuitState !== before.circuitState) {
    logEvent(
      circuit.circuitState === "open" ? "warn" : "info",
      `circuit ${before.circuitState} -> ${circuit.circuitState}`,
      {
        "event.dataset": "ingestion.circuit",
        "labels.source": before.id,
        "labels.from": before.circuitState,
        "labels.to": circuit.circuitState,
        "labels.consecutive_failures": circuit.consecutiveFailures,
      },
    );
  }
}

/**
 * The source's credential, unsealed for this one fetch. A credential that cannot be opened is a
 * permanent failure, whose message never includes it.
 */
async function credentialFor(ctx: ServiceContext, sourceId: string): Promise<string | null> {
  const sealed = await findSealedCredential(ctx.db, sourceId);
  if (sealed === null) return null;
  try {
    return await openCredential(await loadCredentialKeys(ctx.secrets), sourceId, sealed);
  } catch (error) {
    // The sealing code's own words: which key is missing, or that the seal does not open.
    throw new FetchFailure("credential", false, error instanceof Error ? error.message : undefined);
  }
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
  const run = await findRunRow(db, message.runId);
  const source = await findSource(db, message.sourceId);
  // Gone with its source (ON DELETE CASCADE), or already finished by an earlier delivery.
  if (!run || !source || TERMINAL.has(run.status)) return { action: "ack" };
  const refusal = !source.url
    ? "the source has no url"
    : !source.active
      ? "the source is paused"
      : source.circuitState === "open" && refreshGate(source, now, circuitPolicy(ctx)) === "skip"
        ? `the source's circuit is open until ${trialAfter(source, circuitPolicy(ctx))}`
        : null;
  if (refusal) {
    await finishRunFailed(db, run, `not fetched: ${refusal}`);
    return { action: "ack" };
  }

  // Claim the run: of two deliveries at once only one goes on, and a redelivery after an
  // attempt that died midway takes it over once that attempt's lease has expired.
  const hold: RunHold = { runId: run.id, owner: crypto.randomUUID(), leaseMs: config.runLeaseMs };
  if (!(await claimRun(db, renewedLease(hold, now), attempt, new Date(now).toISOString()))) {
    return { action: "ack" };
  }
  await discardStaged(db, run.id);
  let failure: unknown;
  try {
    const body = await fetchSource(
      { url: source.url!, format: source.format },
      sourceUrlPolicy(ctx),
      config.fetchTimeoutMs,
      await credentialFor(ctx, source.id),
    );
    const counts = await executeRun(ctx, source, hold, readRecords(body, source.format, MAX_UPLOAD_BYTES));
    if (counts.accepted > 0) {
      await saveCircuit(db, source, afterSuccess(source));
      return { action: "ack" };
    }
    // The run is over (failed, with its reason); for the circuit it is one more failure.
    await saveCircuit(db, source, afterFailure(source, now, circuitPolicy(ctx)), "every row was rejected");
    return { action: "ack" };
  } catch (error) {
    failure = error;
  }

  // Taken over meanwhile: the run, and what happens to it, belong to its new holder.
  if (wasTakenOver(failure)) return { action: "ack" };
  const reason = failureReason(failure);
  const circuit = afterFailure(source, now, circuitPolicy(ctx));
  await saveCircuit(db, source, circuit, reason);
  if (isTemporary(failure) && circuit.circuitState !== "open") {
    const delaySeconds = Math.round(retryDelaySeconds(attempt, config.retryBaseSeconds));
    await requeueRun(
      db,
      renewedLease(hold, now),
      `attempt ${attempt} failed: ${reason}; retrying in ${delaySeconds} s`,
      new Date(now + delaySeconds * 1000 + config.runLeaseMs).toISOString(),
    );
    return { action: "retry", delaySeconds };
  }
  const opened =
    circuit.circuitState === "open" ? `; circuit opened after ${circuit.consecutiveFailures} failures` : "";
  await finishRunFailed(db, { ...run, owner: hold.owner }, `${reason}${opened}`);
  return { action: "ack" };
}
