import { and, asc, desc, eq, gt, inArray, lt, or, sql } from "drizzle-orm";
import type { Cell } from "../domain/catalogue";
import type { D1Client, Database } from "./client";
import { ingestionRuns, rejectedRows } from "./schema";

/*
 * Ingestion runs: one row per attempt to load a source's file, from queued to its end, and the
 * rows it rejected. The statements a run closes with are at the end: they commit with its swap.
 */

export type RunRow = typeof ingestionRuns.$inferSelect;
export type RunTrigger = RunRow["trigger"];
type ActiveStatus = "queued" | "running";
const ACTIVE_STATUSES: ActiveStatus[] = ["queued", "running"];

/** A run still in flight: queued, or running. */
export const runIsActive = () => inArray(ingestionRuns.status, ACTIVE_STATUSES);

export async function insertRun(
  db: Database,
  run: { id: string; sourceId: string; trigger: RunTrigger; status: ActiveStatus; attempts: number },
): Promise<void> {
  await db.insert(ingestionRuns).values({ ...run, startedAt: new Date().toISOString() });
}

export async function findRunRow(db: Database, id: string): Promise<RunRow | undefined> {
  const [row] = await db.select().from(ingestionRuns).where(eq(ingestionRuns.id, id));
  return row;
}

/** Runs newest first, optionally of one source. */
export function listRunRows(db: Database, sourceId: string | undefined, limit: number): Promise<RunRow[]> {
  return (
    db
      .select()
      .from(ingestionRuns)
      .where(sourceId === undefined ? undefined : eq(ingestionRuns.sourceId, sourceId))
      // rowid breaks ties between runs started in the same millisecond by insertion order.
      .orderBy(desc(ingestionRuns.startedAt), desc(sql`rowid`))
      .limit(limit)
  );
}

/** The first `limit` rows a run rejected, by line. */
export function runRejections(
  db: Database,
  runId: string,
  limit: number,
): Promise<{ line: number; reason: string }[]> {
  return db
    .select({ line: rejectedRows.line, reason: rejectedRows.reason })
    .from(rejectedRows)
    .where(eq(rejectedRows.runId, runId))
    .orderBy(asc(rejectedRows.line))
    .limit(limit);
}

/** A run of the source that is queued or running, if there is one. */
export async function activeRunOf(db: Database, sourceId: string): Promise<string | undefined> {
  const [run] = await db
    .select({ id: ingestionRuns.id })
    .from(ingestionRuns)
    .where(and(eq(ingestionRuns.sourceId, sourceId), runIsActive()))
    .limit(1);
  return run?.id;
}

/** Runs that finished between the two instants with fewer cells recomputed than they changed. */
export function runsWithRecomputeOwed(
  db: Database,
  finishedAfter: string,
  finishedBefore: string,
): Promise<{ id: string; cells: Cell[] | null }[]> {
  return db
    .select({ id: ingestionRuns.id, cells: ingestionRuns.changedCellList })
    .from(ingestionRuns)
    .where(
      and(
        lt(ingestionRuns.recomputedCells, ingestionRuns.changedCells),
        lt(ingestionRuns.finishedAt, finishedBefore),
        gt(ingestionRuns.finishedAt, finishedAfter),
      ),
    );
}

/** Records a run as failed; `counts` say how far it got, when it got anywhere. */
export async function markRunFailed(
  db: Database,
  runId: string,
  error: string,
  counts: Partial<Pick<RunRow, "received" | "accepted" | "rejected" | "unchanged">> = {},
): Promise<void> {
  await db
    .update(ingestionRuns)
    .set({ ...counts, status: "failed", finishedAt: new Date().toISOString(), error })
    .where(eq(ingestionRuns.id, runId));
}

/**
 * Takes a run for this attempt: a queued run, or a running one an earlier attempt left midway.
 * Of two deliveries at once only one gets it; false for the other.
 */
export async function claimRun(db: Database, runId: string, attempt: number): Promise<boolean> {
  const claimed = await db
    .update(ingestionRuns)
    .set({ status: "running", attempts: attempt, error: null })
    .where(
      and(
        eq(ingestionRuns.id, runId),
        or(
          eq(ingestionRuns.status, "queued"),
          and(eq(ingestionRuns.status, "running"), lt(ingestionRuns.attempts, attempt)),
        ),
      ),
    )
    .returning({ id: ingestionRuns.id });
  return claimed.length > 0;
}

/** Puts a run back in the queue after a failed attempt that will be retried. */
export async function requeueRun(db: Database, runId: string, error: string): Promise<void> {
  await db
    .update(ingestionRuns)
    .set({ status: "queued", finishedAt: null, error })
    .where(eq(ingestionRuns.id, runId));
}

/** Counts cells of the run as recomputed, never past the number it changed (a redelivered cell counts again). */
export async function addRecomputedCells(db: Database, runId: string, cells: number): Promise<void> {
  await db
    .update(ingestionRuns)
    .set({
      recomputedCells: sql`min(${ingestionRuns.changedCells}, ${ingestionRuns.recomputedCells} + ${cells})`,
    })
    .where(eq(ingestionRuns.id, runId));
}

/** Fails a run still queued or running, its last error kept after `reason`. */
export async function failUnfinishedRun(db: Database, runId: string, reason: string): Promise<void> {
  await db
    .update(ingestionRuns)
    .set({
      status: "failed",
      finishedAt: new Date().toISOString(),
      error: sql`${reason} || coalesce(${ingestionRuns.error}, 'no error recorded')`,
    })
    .where(and(eq(ingestionRuns.id, runId), runIsActive()));
}

/** A run as it ends: its outcome, its counts and the cells its swap changed. */
interface FinishedRun {
  runId: string;
  sourceId: string;
  status: "succeeded" | "partially_succeeded" | "failed";
  error: string | null;
  received: number;
  accepted: number;
  rejected: number;
  unchanged: number;
  changedCells: Cell[];
  finishedAt: string;
  /** Runs of the source whose rejections are kept for their reports; older ones are dropped. */
  runsWithRejectionsKept: number;
}

interface BoundStatement {
  sql: string;
  values: (string | number | null)[];
}

/**
 * The statements that close a run, in the order they run: they commit with its swap in one batch.
 * As SQL text and values, so that the scale bench's bulk loader writes a run exactly as an upload does.
 */
export function finishRunStatements(run: FinishedRun): BoundStatement[] {
  return [
    {
      sql: `UPDATE ingestion_runs SET status = ?, error = ?, received = ?, accepted = ?, rejected = ?,
              unchanged = ?, changed_cells = ?, changed_cell_list = ?, finished_at = ? WHERE id = ?`,
      values: [
        run.status,
        run.error,
        run.received,
        run.accepted,
        run.rejected,
        run.unchanged,
        run.changedCells.length,
        JSON.stringify(run.changedCells),
        run.finishedAt,
        run.runId,
      ],
    },
    {
      // A file whose every row was refused loaded nothing: the data is as old as it was.
      sql: "UPDATE sources SET last_run_id = ?, last_updated = CASE WHEN ? > 0 THEN ? ELSE last_updated END WHERE id = ?",
      values: [run.runId, run.accepted, run.finishedAt, run.sourceId],
    },
    {
      sql: `DELETE FROM rejected_rows WHERE source_id = ? AND run_id NOT IN (
              SELECT id FROM ingestion_runs WHERE source_id = ? ORDER BY started_at DESC LIMIT ?)`,
      values: [run.sourceId, run.sourceId, run.runsWithRejectionsKept],
    },
  ];
}

/** The same statements, bound for the run's D1 batch. */
export const finishRunBatch = (client: D1Client, run: FinishedRun): D1PreparedStatement[] =>
  finishRunStatements(run).map(({ sql, values }) => client.prepare(sql).bind(...values));
