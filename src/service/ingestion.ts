import { asc, desc, eq, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { ingestionRuns, rejectedRows } from "../db/schema";
import { findSource } from "../db/sources";
import type { Source } from "../domain/catalogue";
import { ServiceError } from "../domain/errors";
import type { CsvRecord } from "../ingest/csv";
import { type LoadCounts, type LoadResult, loadRecords } from "../ingest/load";
import { readRecords } from "../ingest/records";
import { type Cell, discardStaged } from "../ingest/staging";
import type { Rejection } from "../ingest/validation";
import { SEND_BATCH_LIMIT } from "../jobs/messages";
import { getCatalogue } from "./catalogue";
import type { ServiceContext } from "./context";
import { MAX_UPLOAD_BYTES } from "./requests";
import { rulesByMetric } from "./rules";
import { noSuchSource } from "./sources";

/** Rejections a run answers with; GET /api/v1/sources/:id/rejections pages through the rest. */
const RUN_REJECTIONS_SHOWN = 100;

type RunRow = typeof ingestionRuns.$inferSelect;
export type RunTrigger = RunRow["trigger"];

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

async function runRejections(db: Database, runId: string): Promise<Rejection[]> {
  return db
    .select({ line: rejectedRows.line, reason: rejectedRows.reason })
    .from(rejectedRows)
    .where(eq(rejectedRows.runId, runId))
    .orderBy(asc(rejectedRows.line))
    .limit(RUN_REJECTIONS_SHOWN);
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
  await db.insert(ingestionRuns).values({
    id,
    sourceId,
    trigger,
    status,
    startedAt: new Date().toISOString(),
    attempts: status === "running" ? 1 : 0,
  });
  return id;
}

/**
 * Sends one message per changed cell to the recompute queue, whose consumer rebuilds the cell
 * and then moves the data version.
 */
async function queueRecompute(ctx: ServiceContext, runId: string, cells: Cell[]): Promise<void> {
  for (let i = 0; i < cells.length; i += SEND_BATCH_LIMIT) {
    await ctx.queues.recompute.sendBatch(
      cells.slice(i, i + SEND_BATCH_LIMIT).map(({ metricKey, bandKey, period }) => ({
        body: { metricKey, bandKey, period, runId },
        contentType: "json" as const,
      })),
    );
  }
}

function outcomeOf(result: LoadResult) {
  if (result.rejected === 0) return { status: "succeeded" as const, error: null };
  if (result.accepted > 0) return { status: "partially_succeeded" as const, error: null };
  return { status: "failed" as const, error: "every row was rejected" };
}

/**
 * Loads a file under an existing run and records how it ended; shared by uploads and
 * refreshes. Afterwards the changed panel cells go to the recompute queue, and the data version
 * moves at once (the source's rejections and freshness changed; surveys carry their own
 * aggregates). On an error the run is marked failed, whatever it staged is dropped, and the
 * error is rethrown for the caller to answer or retry.
 */
export async function executeRun(
  ctx: ServiceContext,
  source: Source,
  runId: string,
  records: AsyncIterable<CsvRecord[]>,
): Promise<LoadResult> {
  const counts = { received: 0, accepted: 0, rejected: 0, unchanged: 0 };
  try {
    const result = await loadRecords(
      ctx.db,
      source,
      runId,
      records,
      await getCatalogue(ctx),
      await rulesByMetric(ctx),
      counts,
    );
    const { changedCells } = result;
    await ctx.db
      .update(ingestionRuns)
      .set({
        ...counts,
        ...outcomeOf(result),
        changedCells: changedCells.length,
        finishedAt: new Date().toISOString(),
      })
      .where(eq(ingestionRuns.id, runId));
    await ctx.cache.bumpDataVersion();
    await queueRecompute(ctx, runId, changedCells);
    return result;
  } catch (error) {
    await discardStaged(ctx.db, runId).catch(() => {});
    await finishRunFailed(ctx.db, runId, errorMessage(error), counts);
    throw error;
  }
}

export const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Ends a run as failed; `counts` say how far it got, when it got anywhere. */
export async function finishRunFailed(
  db: Database,
  runId: string,
  error: string,
  counts: Partial<LoadCounts> = {},
): Promise<void> {
  await db
    .update(ingestionRuns)
    .set({ ...counts, status: "failed", finishedAt: new Date().toISOString(), error })
    .where(eq(ingestionRuns.id, runId));
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
    if (error instanceof ServiceError) throw error;
  }
  return getRun(ctx, runId);
}

export async function getRun(ctx: ServiceContext, id: string): Promise<IngestionRun> {
  const [row] = await ctx.db.select().from(ingestionRuns).where(eq(ingestionRuns.id, id));
  if (!row) throw new ServiceError("not_found", "no-such-run", `No ingestion run with id "${id}".`);
  return toRun(row, await runRejections(ctx.db, id));
}

/** Runs newest first, optionally of one source. */
export async function listRuns(ctx: ServiceContext, sourceId: string | undefined, limit: number) {
  const rows = await ctx.db
    .select()
    .from(ingestionRuns)
    .where(sourceId === undefined ? undefined : eq(ingestionRuns.sourceId, sourceId))
    // rowid breaks ties between runs started in the same millisecond by insertion order.
    .orderBy(desc(ingestionRuns.startedAt), desc(sql`rowid`))
    .limit(limit);
  const runs = await Promise.all(rows.map(async (row) => toRun(row, await runRejections(ctx.db, row.id))));
  return { runs };
}
