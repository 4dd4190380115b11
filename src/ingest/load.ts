import type { Database } from "../db/client";
import { finishRunBatch } from "../db/runs";
import { stageChunk, stagedChanges, stageRejections, swapStatements } from "../db/staging";
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

/**
 * Reads one file into the stage of run `runId`: every record is mapped and validated, accepted
 * rows are staged and rejected rows recorded as they stream past. Nothing live changes yet.
 * `counts` is updated as rows are read, so a caller can report how far a failed load got.
 */
export async function stageRecords(
  db: Database,
  source: Source,
  runId: string,
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

  const flush = async () => {
    if (accepted.length > 0) await stageChunk(db, runId, chunks++, accepted);
    if (rejections.length > 0) await stageRejections(db, source.id, runId, rejections, startedAt);
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
 * Swaps a staged run in with ONE atomic batch, which also ends the run (outcome, counts and the
 * cells it changed), makes its rejections the source's and records when the source last loaded:
 * either all of that happened or none of it did. Returns the panel cells to recompute.
 */
export async function commitRun(
  db: Database,
  source: Source,
  runId: string,
  counts: LoadCounts,
): Promise<Cell[]> {
  const { unchanged, changedCells } = await stagedChanges(db, runId, source.id, source.kind);
  counts.unchanged = unchanged;
  const client = db.$client;
  await client.batch([
    ...swapStatements(client, runId, source.id, source.kind),
    ...finishRunBatch(client, {
      runId,
      sourceId: source.id,
      ...runOutcome(counts),
      ...counts,
      changedCells,
      finishedAt: new Date().toISOString(),
      runsWithRejectionsKept: RUNS_WITH_REJECTIONS_KEPT,
    }),
  ]);
  return changedCells;
}
