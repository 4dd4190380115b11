import type { Database } from "../db/client";
import { finishRunBatch, leaseFence, type RunLease } from "../db/runs";
import { stagedChanges, stageUnderLease, swapStatements } from "../db/staging";
import type { Catalogue, Cell, Source } from "../domain/catalogue";
import type { CsvRecord } from "./csv";
import { SourceRowReader, type StagedSummary } from "./upload";
import type { Observation, Rejection, RulesByMetric } from "./validation";

/**
 * Rows held in memory before they are staged as one chunk: bounds memory on files of any size,
 * and keeps each chunk's JSON (about 150 bytes a row) well inside D1's limits on a value.
 */
const CHUNK_ROWS = 2000;
/** Runs per source whose rejections are kept for their reports; older ones are dropped. */
export const RUNS_WITH_REJECTIONS_KEPT = 20;

export interface LoadCounts {
  received: number;
  accepted: number;
  rejected: number;
  /** Accepted rows whose stored values were already identical. */
  unchanged: number;
}

export const noCounts = (): LoadCounts => ({ received: 0, accepted: 0, rejected: 0, unchanged: 0 });

/** An attempt's hold on its run: every write renews the lease for `leaseMs` from then. */
export interface RunHold {
  runId: string;
  owner: string;
  leaseMs: number;
}

export const renewedLease = (hold: RunHold, now = Date.now()): RunLease => ({
  runId: hold.runId,
  owner: hold.owner,
  expiresAt: new Date(now + hold.leaseMs).toISOString(),
});

/**
 * Reads one file into the stage of the held run: every record is mapped and validated, accepted
 * rows are staged and rejected rows recorded as they stream past. Nothing live changes yet.
 * `counts` is updated as rows are read, so a caller can report how far a failed load got. The
 * lease is renewed with every write, and at least three times a lease however slowly the file
 * arrives, so that only an attempt that died loses its run.
 */
export async function stageRecords(
  db: Database,
  source: Source,
  hold: RunHold,
  records: AsyncIterable<CsvRecord[]>,
  catalogue: Catalogue,
  rules: RulesByMetric,
  counts: LoadCounts,
  companyKeySecret: string,
): Promise<void> {
  const reader = new SourceRowReader(source, catalogue, rules, companyKeySecret);
  const startedAt = new Date().toISOString();
  let accepted: Observation[] | StagedSummary[] = [];
  let rejections: Rejection[] = [];
  let chunks = 0;
  let renewedAt = Date.now();

  const flush = async () => {
    renewedAt = Date.now();
    await stageUnderLease(db, renewedLease(hold, renewedAt), {
      chunk: accepted.length > 0 ? { seq: chunks++, rows: accepted } : undefined,
      rejections:
        rejections.length > 0 ? { sourceId: source.id, rows: rejections, at: startedAt } : undefined,
    });
    accepted = [];
    rejections = [];
  };

  for await (const batch of records) {
    for (const record of batch) {
      counts.received++;
      const row = reader.read(record);
      if (row.kind === "rejection") {
        rejections.push(row.rejection);
        counts.rejected++;
      } else {
        // A reader yields rows of its source's kind only.
        (accepted as (Observation | StagedSummary)[]).push(row.row);
        counts.accepted++;
      }
      if (accepted.length >= CHUNK_ROWS || rejections.length >= CHUNK_ROWS) await flush();
    }
    if (Date.now() - renewedAt > hold.leaseMs / 3) await flush();
  }
  await flush();
}

export interface RunOutcome {
  status: "succeeded" | "partially_succeeded" | "failed";
  error: string | null;
}

/** How a run ended, from its counts: a run that accepted nothing it received failed. */
export function runOutcome(counts: LoadCounts): RunOutcome {
  if (counts.rejected === 0) return { status: "succeeded", error: null };
  if (counts.accepted > 0) return { status: "partially_succeeded", error: null };
  return { status: "failed", error: "every row was rejected" };
}

/**
 * Swaps a staged run in with ONE atomic batch, behind the attempt's lease, which also ends the
 * run (outcome, counts and the cells it changed, now owed a recompute), makes its rejections the
 * source's, records when the source last loaded and moves the data version: either all of that
 * happened or none of it did. Returns the panel cells to recompute.
 */
export async function commitRun(
  db: Database,
  source: Source,
  hold: RunHold,
  counts: LoadCounts,
): Promise<Cell[]> {
  const { unchanged, changedCells } = await stagedChanges(db, hold.runId, source.id, source.kind);
  counts.unchanged = unchanged;
  const client = db.$client;
  const now = Date.now();
  await client.batch([
    leaseFence(client, renewedLease(hold, now)),
    ...swapStatements(client, hold.runId, source.id, source.kind),
    ...finishRunBatch(client, {
      runId: hold.runId,
      sourceId: source.id,
      ...runOutcome(counts),
      ...counts,
      changedCells,
      finishedAt: new Date(now).toISOString(),
      requeueAfter: renewedLease(hold, now).expiresAt,
      runsWithRejectionsKept: RUNS_WITH_REJECTIONS_KEPT,
    }),
  ]);
  return changedCells;
}
