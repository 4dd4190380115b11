import { and, asc, desc, eq, inArray, lt, ne, or, sql } from "drizzle-orm";
import type { Cell } from "../domain/catalogue";
import type { D1Client, Database } from "./client";
import { INCREMENT_DATA_VERSION_SQL } from "./data-version";
import { oweCellsStatement } from "./pending-cells";
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

/**
 * An attempt's hold on a run in flight: only the owner may write the run's stage or end it, and
 * only until the lease expires, unless it renews it first.
 */
export interface RunLease {
  runId: string;
  owner: string;
  expiresAt: string;
}

/**
 * Records a new run unless its source has one in flight, in one statement, so that of two at once
 * only one is recorded: a second load would race the first for the source's data. False when busy.
 */
export async function insertRunUnlessBusy(
  db: Database,
  run: {
    id: string;
    sourceId: string;
    trigger: RunTrigger;
    status: ActiveStatus;
    attempts: number;
    leaseOwner: string | null;
    leaseExpiresAt: string;
  },
): Promise<boolean> {
  const result = await db.$client
    .prepare(
      `INSERT INTO ingestion_runs (id, source_id, trigger, status, attempts, lease_owner, lease_expires_at, started_at)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
       WHERE NOT EXISTS (SELECT 1 FROM ingestion_runs WHERE source_id = ?2 AND status IN ('queued', 'running'))`,
    )
    .bind(
      run.id,
      run.sourceId,
      run.trigger,
      run.status,
      run.attempts,
      run.leaseOwner,
      run.leaseExpiresAt,
      new Date().toISOString(),
    )
    .run();
  return result.meta.changes > 0;
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

/** A run of the source that is queued or running, if there is one, and when its lease expires. */
export async function activeRunOf(
  db: Database,
  sourceId: string,
): Promise<{ id: string; leaseExpiresAt: string | null } | undefined> {
  const [run] = await db
    .select({ id: ingestionRuns.id, leaseExpiresAt: ingestionRuns.leaseExpiresAt })
    .from(ingestionRuns)
    .where(and(eq(ingestionRuns.sourceId, sourceId), runIsActive()))
    .limit(1);
  return run;
}

/**
 * Records a run as failed; `counts` say how far it got, when it got anywhere. Given the lease of
 * the attempt that fails it, only while that attempt still holds the run.
 */
export async function markRunFailed(
  db: Database,
  run: { runId: string; owner?: string },
  error: string,
  counts: Partial<Pick<RunRow, "received" | "accepted" | "rejected" | "unchanged">> = {},
): Promise<void> {
  await db
    .update(ingestionRuns)
    .set({ ...counts, status: "failed", finishedAt: new Date().toISOString(), error })
    .where(and(eq(ingestionRuns.id, run.runId), heldBy(run.owner)));
}

const heldBy = (owner: string | undefined) =>
  owner === undefined ? undefined : eq(ingestionRuns.leaseOwner, owner);

/**
 * Takes a run for this attempt: a queued run, or a running one whose lease has expired. Of two
 * deliveries at once only one gets it; false for the other.
 */
export async function claimRun(
  db: Database,
  lease: RunLease,
  attempt: number,
  now: string,
): Promise<boolean> {
  const claimed = await db
    .update(ingestionRuns)
    .set({
      status: "running",
      attempts: attempt,
      error: null,
      leaseOwner: lease.owner,
      leaseExpiresAt: lease.expiresAt,
    })
    .where(
      and(
        eq(ingestionRuns.id, lease.runId),
        or(
          eq(ingestionRuns.status, "queued"),
          and(eq(ingestionRuns.status, "running"), lt(ingestionRuns.leaseExpiresAt, now)),
        ),
      ),
    )
    .returning({ id: ingestionRuns.id });
  return claimed.length > 0;
}

/**
 * Puts a run back in the queue after a failed attempt that will be retried, if that attempt
 * still holds it; its message is due back before `expectedBy`, when the run is taken over.
 */
export async function requeueRun(
  db: Database,
  lease: RunLease,
  error: string,
  expectedBy: string,
): Promise<void> {
  await db
    .update(ingestionRuns)
    .set({ status: "queued", finishedAt: null, error, leaseOwner: null, leaseExpiresAt: expectedBy })
    .where(and(eq(ingestionRuns.id, lease.runId), heldBy(lease.owner)));
}

/** Who holds the run now; null when no attempt does. */
export async function leaseOwnerOf(db: Database, runId: string): Promise<string | null> {
  const [row] = await db
    .select({ owner: ingestionRuns.leaseOwner })
    .from(ingestionRuns)
    .where(eq(ingestionRuns.id, runId));
  return row?.owner ?? null;
}

/**
 * The first statement of every batch an attempt writes: it renews the lease, and when another
 * attempt has taken the run over it sets the status to NULL, which its NOT NULL constraint
 * refuses, so the whole batch rolls back and the attempt writes nothing more.
 */
export function leaseFence(client: D1Client, lease: RunLease): D1PreparedStatement {
  return client
    .prepare(
      "UPDATE ingestion_runs SET status = CASE WHEN lease_owner = ?2 THEN status END, lease_expires_at = ?3 WHERE id = ?1",
    )
    .bind(lease.runId, lease.owner, lease.expiresAt);
}

export type RunRef = Pick<RunRow, "id" | "sourceId" | "trigger">;

/**
 * Takes over every run in flight whose lease has expired, optionally of one source: its attempt
 * died (or its queue message was lost). A fetch is queued again, up to `maxHandovers` times; an
 * upload, whose file went with its request, and a fetch past that bound end as interrupted. Each
 * statement takes the runs it changes, so of two takeovers at once each run goes to one; they
 * need no batch, since a run the first one takes is out of the second's reach.
 */
export async function takeOverExpiredRuns(
  db: Database,
  options: { now: string; expectedBy: string; maxHandovers: number; sourceId?: string },
): Promise<{ requeued: RunRef[]; interrupted: RunRef[] }> {
  const expired = and(
    runIsActive(),
    lt(ingestionRuns.leaseExpiresAt, options.now),
    options.sourceId === undefined ? undefined : eq(ingestionRuns.sourceId, options.sourceId),
  );
  const ref = { id: ingestionRuns.id, sourceId: ingestionRuns.sourceId, trigger: ingestionRuns.trigger };
  const requeued = await db
    .update(ingestionRuns)
    .set({
      status: "queued",
      leaseOwner: null,
      leaseExpiresAt: options.expectedBy,
      handovers: sql`${ingestionRuns.handovers} + 1`,
      error: sql`'taken over after its lease expired; last: ' || coalesce(${ingestionRuns.error}, 'no error recorded')`,
    })
    .where(
      and(expired, ne(ingestionRuns.trigger, "upload"), lt(ingestionRuns.handovers, options.maxHandovers)),
    )
    .returning(ref);
  const interrupted = await db
    .update(ingestionRuns)
    .set({
      status: "interrupted",
      finishedAt: options.now,
      leaseOwner: null,
      error: sql`CASE WHEN ${ingestionRuns.trigger} = 'upload'
          THEN 'interrupted: the upload stopped before its swap; nothing of it was kept'
          ELSE 'interrupted ' || (${ingestionRuns.handovers} + 1) || ' times; given up' END`,
    })
    .where(expired)
    .returning(ref);
  return { requeued, interrupted };
}

/** Fails a run still queued or running, its last error kept after `reason`. */
export async function failUnfinishedRun(db: Database, runId: string, reason: string): Promise<void> {
  await db
    .update(ingestionRuns)
    .set({
      status: "failed",
      leaseOwner: null,
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
  /** When the changed cells are sent to the recompute queue again, should they still be owed. */
  requeueAfter: string;
  /** Runs of the source whose rejections are kept for their reports; older ones are dropped. */
  runsWithRejectionsKept: number;
}

interface BoundStatement {
  sql: string;
  values: (string | number | null)[];
}

/**
 * The statements that close a run, in the order they run: they commit with its swap in one batch.
 * The cells it changed become owed (pending_cells), and a run that loaded rows moves the data
 * version, since its data or at least its source's freshness changed. As SQL text and values, so
 * that the scale bench's bulk loader writes a run exactly as an upload does.
 */
export function finishRunStatements(run: FinishedRun): BoundStatement[] {
  return [
    {
      sql: `UPDATE ingestion_runs SET status = ?, error = ?, received = ?, accepted = ?, rejected = ?,
              unchanged = ?, changed_cells = ?, finished_at = ?, lease_owner = NULL WHERE id = ?`,
      values: [
        run.status,
        run.error,
        run.received,
        run.accepted,
        run.rejected,
        run.unchanged,
        run.changedCells.length,
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
    ...(run.changedCells.length === 0
      ? []
      : [
          oweCellsStatement({
            runId: run.runId,
            cells: run.changedCells,
            at: run.finishedAt,
            requeueAfter: run.requeueAfter,
          }),
        ]),
    ...(run.accepted === 0 ? [] : [{ sql: INCREMENT_DATA_VERSION_SQL, values: [] }]),
  ];
}

/** The same statements, bound for the run's D1 batch. */
export const finishRunBatch = (client: D1Client, run: FinishedRun): D1PreparedStatement[] =>
  finishRunStatements(run).map(({ sql, values }) => client.prepare(sql).bind(...values));
