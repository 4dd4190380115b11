import type { Database } from "../db/client";
import {
  findRunRow,
  insertRun,
  listRunRows,
  markRunFailed,
  type RunRow,
  type RunTrigger,
  runRejections,
  runsWithRecomputeOwed,
} from "../db/runs";
import { findSource } from "../db/sources";
import { discardStaged } from "../db/staging";
import type { Cell, Source } from "../domain/catalogue";
import { invalidArgument, ServiceError } from "../domain/errors";
import type { CsvRecord } from "../ingest/csv";
import { FetchFailure } from "../ingest/fetch";
import { commitRun, type LoadCounts, noCounts, runOutcome, stageRecords } from "../ingest/load";
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

export interface IngestionRun extends Omit<RunRow, "finishedAt"> {
  finishedAt: string | null;
  durationMs: number | null;
  rejections: Rejection[];
}

function toRun(row: RunRow, rejections: Rejection[]): IngestionRun {
  return {
    ...row,
    durationMs: row.finishedAt ? Date.parse(row.finishedAt) - Date.parse(row.startedAt) : null,
    rejections,
  };
}

/** The source a file is uploaded to; read before the body, so an unknown id costs no upload. */
export async function findUploadTarget(ctx: ServiceContext, sourceId: string): Promise<Source> {
  const source = await findSource(ctx.db, sourceId);
  if (!source) throw noSuchSource(sourceId);
  return source;
}

/** Records a new run; queued runs wait for the ingest consumer, running ones start at once. */
export async function createRun(
  db: Database,
  sourceId: string,
  trigger: RunTrigger,
  status: "queued" | "running",
): Promise<string> {
  const id = crypto.randomUUID();
  await insertRun(db, { id, sourceId, trigger, status, attempts: status === "running" ? 1 : 0 });
  return id;
}

/**
 * Sends one message per changed cell to the recompute queue, whose consumer rebuilds the cell
 * and then moves the data version.
 */
async function queueRecompute(ctx: ServiceContext, runId: string, cells: Cell[]): Promise<void> {
  await sendAll(
    ctx.queues.recompute,
    cells.map(({ metricKey, bandKey, period }) => ({ metricKey, bandKey, period, runId })),
  );
}

/**
 * Loads a file under an existing run and records how it ended; shared by uploads and
 * refreshes. Until the swap, an error marks the run failed, drops what it staged and is rethrown
 * for the caller to answer or retry. The swap ends the run in the same atomic batch; what
 * follows it (moving the data version, queueing the recompute) cannot undo it, so a failure
 * there is logged and left to the cron, which requeues recomputes that never arrived.
 */
export async function executeRun(
  ctx: ServiceContext,
  source: Source,
  runId: string,
  records: AsyncIterable<CsvRecord[]>,
): Promise<LoadCounts> {
  const counts = noCounts();
  let changedCells: Cell[];
  try {
    const [catalogue, rules] = await Promise.all([getCatalogue(ctx), rulesByMetric(ctx)]);
    await stageRecords(
      ctx.db,
      source,
      runId,
      records,
      catalogue,
      rules,
      counts,
      companyKeySecret(ctx, source),
    );
    // An empty file is a mistake upstream, not news that the source has no rejections.
    if (counts.received === 0) throw invalidArgument([{ field: "body", message: "the file has no rows" }]);
    changedCells = await commitRun(ctx.db, source, runId, counts);
  } catch (error) {
    await discardStaged(ctx.db, runId).catch(() => {});
    // Failed for now: whether the run ends here is the caller's to say (a refresh may retry it).
    await markRunFailed(ctx.db, runId, failureReason(error), counts);
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
    // The source's rejections and freshness changed; survey cells are served as loaded.
    await ctx.cache.bumpDataVersion();
    await queueRecompute(ctx, runId, changedCells);
  } catch (error) {
    logEvent("error", "run loaded; follow-up failed", {
      ...runFields(source, runId, counts),
      "error.type": errorType(error),
    });
  }
  return counts;
}

/** Recomputes that have not all arrived this long after their run are sent again. */
const RECOMPUTE_OVERDUE_MS = 10 * 60_000;

/**
 * Sends again the changed cells of runs whose recompute never completed (its queueing failed,
 * or its messages were dead-lettered) and that finished within the last day. Rebuilding a cell
 * twice is harmless. Returns the runs requeued.
 */
export async function requeueOverdueRecomputes(ctx: ServiceContext, now = Date.now()): Promise<string[]> {
  const overdue = await runsWithRecomputeOwed(
    ctx.db,
    new Date(now - 24 * 60 * 60_000).toISOString(),
    new Date(now - RECOMPUTE_OVERDUE_MS).toISOString(),
  );
  for (const run of overdue) await queueRecompute(ctx, run.id, run.cells ?? []);
  return overdue.map((run) => run.id);
}

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
  run: { id: string; sourceId: string },
  error: string,
  counts: Partial<LoadCounts> = {},
): Promise<void> {
  await markRunFailed(db, run.id, error, counts);
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
  const runId = await createRun(ctx.db, source.id, "upload", "running");
  try {
    await executeRun(ctx, source, runId, readRecords(body, source.format, MAX_UPLOAD_BYTES));
  } catch (error) {
    // An upload is never retried: its failed run has ended.
    countFailedRun(source.id);
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
  return row && toRun(row, await runRejections(ctx.db, id, RUN_REJECTIONS_SHOWN));
}

export async function getRun(ctx: ServiceContext, id: string): Promise<IngestionRun> {
  const run = await findRun(ctx, id);
  if (!run) throw new ServiceError("not_found", "no-such-run", `No ingestion run with id "${id}".`);
  return run;
}

/** Runs newest first, optionally of one source. */
export async function listRuns(ctx: ServiceContext, sourceId: string | undefined, limit: number) {
  const rows = await listRunRows(ctx.db, sourceId, limit);
  const runs = await Promise.all(
    rows.map(async (row) => toRun(row, await runRejections(ctx.db, row.id, RUN_REJECTIONS_SHOWN))),
  );
  return { runs };
}
