import { asc, desc, eq, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { ingestionRuns, rejectedRows, sources } from "../db/schema";
import { findSource } from "../db/sources";
import type { Source } from "../domain/catalogue";
import { ServiceError } from "../domain/errors";
import { recomputeGroup } from "../ingest/recompute";
import {
  countUnchanged,
  discardStaged,
  stageObservations,
  stageSummaries,
  swapStaged,
} from "../ingest/staging";
import { type ParsedUpload, parseUpload } from "../ingest/upload";
import type { Rejection } from "../ingest/validation";
import { getCatalogue } from "./catalogue";
import type { ServiceContext } from "./context";
import { rulesByMetric } from "./rules";
import { noSuchSource } from "./sources";

/** Rejections a run answers with; GET /api/v1/sources/:id/rejections pages through the rest. */
const RUN_REJECTIONS_SHOWN = 100;
/** Five bound columns per row, and D1 binds at most 100 parameters per statement. */
const REJECTIONS_PER_STATEMENT = 20;

type RunRow = typeof ingestionRuns.$inferSelect;

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

/** The source's rejections become this run's: a re-upload replaces them rather than adding to them. */
async function replaceRejections(
  db: Database,
  source: Source,
  runId: string,
  rejections: Rejection[],
  at: string,
) {
  const rows = rejections.map((r) => ({
    sourceId: source.id,
    runId,
    line: r.line,
    reason: r.reason,
    rejectedAt: at,
  }));
  const inserts = [];
  for (let i = 0; i < rows.length; i += REJECTIONS_PER_STATEMENT) {
    inserts.push(db.insert(rejectedRows).values(rows.slice(i, i + REJECTIONS_PER_STATEMENT)));
  }
  await db.batch([db.delete(rejectedRows).where(eq(rejectedRows.sourceId, source.id)), ...inserts]);
}

/** Stages the accepted rows, swaps them in atomically, then rebuilds what depends on them. */
async function applyUpload(ctx: ServiceContext, source: Source, runId: string, upload: ParsedUpload) {
  const { db } = ctx;
  if (source.kind === "panel") await stageObservations(db, runId, source.id, upload.observations);
  else await stageSummaries(db, runId, source.id, upload.summaries);
  const unchanged = await countUnchanged(db, runId, source.kind);
  await swapStaged(db, runId, source.kind);

  const catalogue = await getCatalogue(ctx);
  const outlierMethods = new Map(catalogue.metrics.map((m) => [m.key, m.outlierMethod]));
  const groups = new Map(upload.observations.map((o) => [`${o.metricKey}\u0000${o.period}`, o]));
  for (const { metricKey, period } of groups.values()) {
    await recomputeGroup(db, { sourceId: source.id, metricKey, period }, outlierMethods.get(metricKey)!);
  }
  const finishedAt = new Date().toISOString();
  await db.update(sources).set({ lastUpdated: finishedAt }).where(eq(sources.id, source.id));
  await replaceRejections(db, source, runId, upload.rejections, finishedAt);
  return { unchanged, finishedAt };
}

/**
 * Loads one uploaded file synchronously and records the run. A run that fails midway is stored
 * as failed with its error; the swap is atomic, so the previous data is left as it was.
 */
export async function uploadToSource(
  ctx: ServiceContext,
  source: Source,
  text: string,
): Promise<IngestionRun> {
  const startedAt = new Date().toISOString();
  const upload = parseUpload(text, source, await getCatalogue(ctx), await rulesByMetric(ctx));
  const accepted = source.kind === "panel" ? upload.observations.length : upload.summaries.length;
  const [run] = await ctx.db
    .insert(ingestionRuns)
    .values({
      id: crypto.randomUUID(),
      sourceId: source.id,
      trigger: "upload",
      status: "running",
      received: upload.received,
      accepted,
      rejected: upload.rejections.length,
      startedAt,
    })
    .returning();
  const runId = run!.id;
  try {
    const { unchanged, finishedAt } = await applyUpload(ctx, source, runId, upload);
    const outcome =
      upload.rejections.length === 0
        ? { status: "succeeded" as const, error: null }
        : accepted > 0
          ? { status: "partially_succeeded" as const, error: null }
          : { status: "failed" as const, error: "every row was rejected" };
    await ctx.db
      .update(ingestionRuns)
      .set({ ...outcome, unchanged, finishedAt })
      .where(eq(ingestionRuns.id, runId));
  } catch (error) {
    await discardStaged(ctx.db, runId).catch(() => {});
    await ctx.db
      .update(ingestionRuns)
      .set({ status: "failed", finishedAt: new Date().toISOString(), error: String(error) })
      .where(eq(ingestionRuns.id, runId));
  }
  // A run that fails after the swap (in a recompute, say) has changed data too.
  await ctx.cache.bumpDataVersion();
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
