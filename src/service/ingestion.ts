import type { Database } from "../db/client";
import { cellsOwedByRuns, takeDueCells } from "../db/pending-cells";
import {
  activeRunOf,
  findRunRow,
  insertRunUnlessBusy,
  leaseOwnerOf,
  listRunRows,
  markRunFailed,
  type RunRow,
  type RunTrigger,
  runRejections,
  takeOverExpiredRuns,
} from "../db/runs";
import { findSource } from "../db/sources";
import { discardStaged } from "../db/staging";
import type { Cell, Source } from "../domain/catalogue";
import { invalidArgument, ServiceError } from "../domain/errors";
import type { CsvRecord } from "../ingest/csv";
import { FetchFailure } from "../ingest/fetch";
import {
  commitRun,
  type LoadCounts,
  noCounts,
  type RunHold,
  renewedLease,
  runOutcome,
  stageRecords,
} from "../ingest/load";
import { sendAll } from "../ingest/messages";
import { readRecords } from "../ingest/records";
import type { Rejection } from "../ingest/validation";
import { errorType, logEvent } from "../observability/log";
import { prometheus } from "../observability/prometheus/recorder";
import { getCatalogue } from "./catalogue";
import type { ServiceContext } from "./context";
import { MAX_UPLOAD_BYTES } from "./requests";
import { rulesByMetric } from "./rules";
import { noSuchSource } from "./sources";

/** Rejections a run answers with; for the source's latest run, GET /api/v1/sources/:id/rejections has them all. */
const RUN_REJECTIONS_SHOWN = 100;

/** Times a fetch's run is taken over after its lease expired before it ends as interrupted. */
const MAX_HANDOVERS = 3;

/**
 * A run as the API shows it. Its status is "recomputing" from its swap until the recompute queue
 * has rebuilt every cell it changed; who holds its lease is the service's own business.
 */
export interface IngestionRun extends Omit<RunRow, "status" | "finishedAt" | "leaseOwner"> {
  status: RunRow["status"] | "recomputing";
  finishedAt: string | null;
  durationMs: number | null;
  /** Of the cells the run changed, those rebuilt so far. */
  recomputedCells: number;
  rejections: Rejection[];
}

function toRun(row: RunRow, cellsOwed: number, rejections: Rejection[]): IngestionRun {
  const { leaseOwner: _, ...shown } = row;
  const loaded = row.status === "succeeded" || row.status === "partially_succeeded";
  return {
    ...shown,
    status: loaded && cellsOwed > 0 ? "recomputing" : row.status,
    durationMs: row.finishedAt ? Date.parse(row.finishedAt) - Date.parse(row.startedAt) : null,
    recomputedCells: row.changedCells - cellsOwed,
    rejections,
  };
}

/** The source a file is uploaded to; read before the body, so an unknown id costs no upload. */
export async function findUploadTarget(ctx: ServiceContext, sourceId: string): Promise<Source> {
  const source = await findSource(ctx.db, sourceId);
  if (!source) throw noSuchSource(sourceId);
  return source;
}

/**
 * Records a new run of a source that has none in flight; when one is, and its lease has expired,
 * it is taken over first. A running run (an upload) is held by the caller from the start; a
 * queued one waits for the ingest consumer to claim it, and is taken over should its message not
 * arrive within a lease.
 */
export async function createRun(
  ctx: ServiceContext,
  sourceId: string,
  trigger: RunTrigger,
  status: "queued" | "running",
  now = Date.now(),
): Promise<RunHold> {
  const hold: RunHold = {
    runId: crypto.randomUUID(),
    owner: crypto.randomUUID(),
    leaseMs: ctx.config.runLeaseMs,
  };
  const insert = () =>
    insertRunUnlessBusy(ctx.db, {
      id: hold.runId,
      sourceId,
      trigger,
      status,
      attempts: status === "running" ? 1 : 0,
      leaseOwner: status === "running" ? hold.owner : null,
      leaseExpiresAt: renewedLease(hold, now).expiresAt,
    });
  if (!(await insert())) {
    const { interrupted } = await recoverExpiredRuns(ctx, now, sourceId);
    if (interrupted.length === 0 || !(await insert())) throw await runInProgress(ctx.db, sourceId, now);
  }
  return hold;
}

/** A second load would race the one in flight for the source's data: come back when its lease ends. */
async function runInProgress(db: Database, sourceId: string, now: number): Promise<ServiceError> {
  const running = await activeRunOf(db, sourceId);
  const expiresAt = running?.leaseExpiresAt ? Date.parse(running.leaseExpiresAt) : now;
  return new ServiceError(
    "conflict",
    "run-in-progress",
    `Source "${sourceId}" already has run ${running?.id ?? "(just finished)"} queued or running; ` +
      `GET /api/v1/ingestion/runs/${running?.id ?? ""} shows it.`,
    [],
    { "Retry-After": String(Math.max(1, Math.ceil((expiresAt - now) / 1000))) },
  );
}

/** Sends one message per cell to the recompute queue, whose consumer rebuilds what is still owed. */
async function queueRecompute(ctx: ServiceContext, cells: Cell[]): Promise<void> {
  await sendAll(
    ctx.queues.recompute,
    cells.map(({ metricKey, bandKey, period }) => ({ metricKey, bandKey, period })),
  );
}

/**
 * Loads a file under a run the caller holds and records how it ended; shared by uploads and
 * refreshes. Until the swap, an error marks the run failed, drops what it staged and is rethrown
 * for the caller to answer or retry, unless the run was taken over meanwhile: then it is the
 * new holder's, and left alone. The swap ends the run in the same atomic batch, which also
 * records the recompute owed and moves the data version; what follows it (mirroring the version,
 * queueing the recompute) cannot undo it, so a failure there is logged and left to the cron,
 * which mirrors the version again and requeues owed cells.
 */
export async function executeRun(
  ctx: ServiceContext,
  source: Source,
  hold: RunHold,
  records: AsyncIterable<CsvRecord[]>,
): Promise<LoadCounts> {
  const runId = hold.runId;
  const counts = noCounts();
  let changedCells: Cell[];
  try {
    const [catalogue, rules] = await Promise.all([getCatalogue(ctx), rulesByMetric(ctx)]);
    await stageRecords(
      ctx.db,
      source,
      hold,
      records,
      catalogue,
      rules,
      counts,
      companyKeySecret(ctx, source),
    );
    // An empty file is a mistake upstream, not news that the source has no rejections.
    if (counts.received === 0) throw invalidArgument([{ field: "body", message: "the file has no rows" }]);
    changedCells = await commitRun(ctx.db, source, hold, counts);
  } catch (error) {
    if ((await leaseOwnerOf(ctx.db, runId).catch(() => hold.owner)) !== hold.owner) {
      logEvent("warn", "ingestion run taken over", runFields(source, runId, counts));
      throw runTakenOver(runId);
    }
    await discardStaged(ctx.db, runId).catch(() => {});
    // Failed for now: whether the run ends here is the caller's to say (a refresh may retry it).
    await markRunFailed(ctx.db, hold, failureReason(error), counts);
    logEvent("warn", "ingestion run failed", {
      ...runFields(source, runId, counts),
      "event.outcome": "failure",
      "error.type": errorType(error),
    });
    throw error;
  }
  const { status } = runOutcome(counts);
  prometheus.count("ingestion_runs_total", { source: source.id, status });
  prometheus.count("ingestion_rows_total", { source: source.id, outcome: "accepted" }, counts.accepted);
  prometheus.count("ingestion_rows_total", { source: source.id, outcome: "rejected" }, counts.rejected);
  logEvent("info", "ingestion run finished", {
    ...runFields(source, runId, counts),
    "event.outcome": status === "failed" ? "failure" : "success",
    "labels.status": status,
    "labels.changed_cells": changedCells.length,
  });
  try {
    if (counts.accepted > 0) await ctx.cache.publishDataVersion();
    await queueRecompute(ctx, changedCells);
  } catch (error) {
    logEvent("error", "run loaded; follow-up failed", {
      ...runFields(source, runId, counts),
      "error.type": errorType(error),
    });
  }
  return counts;
}

const RUN_TAKEN_OVER = "run-taken-over";

const runTakenOver = (runId: string) =>
  new ServiceError(
    "unavailable",
    RUN_TAKEN_OVER,
    `Run ${runId} stopped renewing its lease and was taken over; nothing of this attempt was kept. Try again.`,
  );

/** Whether an attempt failed because another took its run over: the run is then no longer its to end. */
export const wasTakenOver = (error: unknown) =>
  error instanceof ServiceError && error.reason === RUN_TAKEN_OVER;

/**
 * Sends again the cells still owed a recompute a lease after they were last sent: their message
 * was lost with a restart, its queueing failed, or it was dead-lettered. A cell rebuilt meanwhile
 * owes nothing, and its message does nothing. Returns the cells sent.
 */
export async function requeueOwedCells(ctx: ServiceContext, now = Date.now()): Promise<Cell[]> {
  const cells = await takeDueCells(
    ctx.db,
    new Date(now).toISOString(),
    new Date(now + ctx.config.runLeaseMs).toISOString(),
  );
  await queueRecompute(ctx, cells);
  return cells;
}

/**
 * Takes over the runs in flight whose lease expired, optionally of one source (db/runs.ts
 * takeOverExpiredRuns says how): a requeued fetch gets a new message, an interrupted run loses
 * what it staged. Each run is taken by one caller however many run this at once.
 */
export async function recoverExpiredRuns(ctx: ServiceContext, now = Date.now(), sourceId?: string) {
  const taken = await takeOverExpiredRuns(ctx.db, {
    now: new Date(now).toISOString(),
    expectedBy: new Date(now + ctx.config.runLeaseMs).toISOString(),
    maxHandovers: MAX_HANDOVERS,
    sourceId,
  });
  for (const run of taken.interrupted) {
    await discardStaged(ctx.db, run.id);
    prometheus.count("ingestion_runs_total", { source: run.sourceId, status: "interrupted" });
    logEvent("warn", "ingestion run interrupted", takeoverFields(run, "interrupted"));
  }
  for (const run of taken.requeued) {
    logEvent("warn", "ingestion run taken over", takeoverFields(run, "requeued"));
    // Should the send fail, the run's new lease expires too, and the next sweep tries again.
    await ctx.queues.ingest
      .send({ runId: run.id, sourceId: run.sourceId }, { contentType: "json" })
      .catch((error) =>
        logEvent("error", "ingest message could not be queued", { "error.type": errorType(error) }),
      );
  }
  return taken;
}

const takeoverFields = (run: { id: string; sourceId: string }, outcome: string) => ({
  "event.dataset": "ingestion.run",
  "labels.source": run.sourceId,
  "labels.run_id": run.id,
  "labels.takeover": outcome,
});

/** Panels store company keys only as pseudonyms: without the secret, nothing of theirs is loaded. */
function companyKeySecret(ctx: ServiceContext, source: Source): string {
  if (ctx.secrets.companyKey) return ctx.secrets.companyKey;
  if (source.kind === "survey") return "";
  throw new ServiceError(
    "unavailable",
    "company-key-secret-missing",
    "COMPANY_KEY_SECRET is not set, so panel company keys cannot be pseudonymized; nothing was loaded.",
  );
}

/** The ECS fields of an ingestion run's log line. */
const runFields = (source: Source, runId: string, counts: LoadCounts) => ({
  "event.dataset": "ingestion.run",
  "labels.source": source.id,
  "labels.run_id": runId,
  "labels.received": counts.received,
  "labels.accepted": counts.accepted,
  "labels.rejected": counts.rejected,
  "labels.unchanged": counts.unchanged,
});

/**
 * What a run and its source record of a failure: the service's own messages (a ServiceError's or
 * a FetchFailure's), and only that something else went wrong otherwise, since a runtime's or a
 * driver's message may quote a url, an address or a query.
 */
export function failureReason(error: unknown): string {
  if (error instanceof ServiceError || error instanceof FetchFailure) return error.message;
  return "unexpected: the load failed (the log names the kind of error)";
}

/** A run that ended failed and will not be tried again, counted once. */
const countFailedRun = (sourceId: string) =>
  prometheus.count("ingestion_runs_total", { source: sourceId, status: "failed" });

/** Ends a run as failed for good: recorded, and counted once. */
export async function finishRunFailed(
  db: Database,
  run: { id: string; sourceId: string; owner?: string },
  error: string,
  counts: Partial<LoadCounts> = {},
): Promise<void> {
  await markRunFailed(db, { runId: run.id, owner: run.owner }, error, counts);
  countFailedRun(run.sourceId);
}

/**
 * Loads one uploaded file as it streams in and records the run. A file the service cannot read
 * (too large, not UTF-8, not JSON) is answered with its 4xx after the run is recorded as failed;
 * any other failure is reported in the run, which the swap's atomicity keeps harmless.
 */
export async function uploadToSource(
  ctx: ServiceContext,
  source: Source,
  body: ReadableStream<Uint8Array>,
): Promise<IngestionRun> {
  const hold = await createRun(ctx, source.id, "upload", "running");
  const runId = hold.runId;
  try {
    await executeRun(ctx, source, hold, readRecords(body, source.format, MAX_UPLOAD_BYTES));
  } catch (error) {
    // An upload is never retried: its failed run has ended (one taken over ends as interrupted).
    if (!wasTakenOver(error)) countFailedRun(source.id);
    if (!(await findSource(ctx.db, source.id))) throw deletedDuringUpload(source.id);
    if (error instanceof ServiceError) throw error;
  }
  // A DELETE of the source while its file streamed in takes the run with it (ON DELETE CASCADE).
  const run = await findRun(ctx, runId);
  if (!run) throw deletedDuringUpload(source.id);
  return run;
}

const deletedDuringUpload = (sourceId: string) =>
  new ServiceError(
    "not_found",
    "no-such-source",
    `Source "${sourceId}" was deleted while its upload was loading; nothing of the upload was kept.`,
  );

async function findRun(ctx: ServiceContext, id: string): Promise<IngestionRun | undefined> {
  const row = await findRunRow(ctx.db, id);
  if (!row) return undefined;
  const [owed, rejections] = await Promise.all([
    cellsOwedByRuns(ctx.db, [id]),
    runRejections(ctx.db, id, RUN_REJECTIONS_SHOWN),
  ]);
  return toRun(row, owed.get(id) ?? 0, rejections);
}

export async function getRun(ctx: ServiceContext, id: string): Promise<IngestionRun> {
  const run = await findRun(ctx, id);
  if (!run) throw new ServiceError("not_found", "no-such-run", `No ingestion run with id "${id}".`);
  return run;
}

/** Runs newest first, optionally of one source. */
export async function listRuns(ctx: ServiceContext, sourceId: string | undefined, limit: number) {
  const rows = await listRunRows(ctx.db, sourceId, limit);
  const owed = await cellsOwedByRuns(
    ctx.db,
    rows.map((row) => row.id),
  );
  const runs = await Promise.all(
    rows.map(async (row) =>
      toRun(row, owed.get(row.id) ?? 0, await runRejections(ctx.db, row.id, RUN_REJECTIONS_SHOWN)),
    ),
  );
  return { runs };
}
