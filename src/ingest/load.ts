import type { Database } from "../db/client";
import type { Catalogue, Source } from "../domain/catalogue";
import type { CsvRecord } from "./csv";
import { type Cell, stageChunk, stagedChanges, stageRejections, swapStatements } from "./staging";
import { SourceRowReader, type StagedSummary } from "./upload";
import type { Observation, Rejection, RulesByMetric } from "./validation";

/**
 * Rows held in memory before they are staged as one chunk: bounds memory on files of any size,
 * and keeps each chunk's JSON (about 150 bytes a row) well inside D1's limits on a value.
 */
const CHUNK_ROWS = 2000;

export interface LoadCounts {
  received: number;
  accepted: number;
  rejected: number;
  /** Accepted rows whose stored values were already identical. */
  unchanged: number;
}

export interface LoadResult extends LoadCounts {
  /** Panel cells whose aggregates must be rebuilt; always empty for surveys, which carry their own. */
  changedCells: Cell[];
}

/**
 * Loads one file into a source under `runId`: every record is mapped and validated, accepted
 * rows are staged and rejected rows recorded as they stream past, and then the staged rows are
 * swapped in by ONE atomic batch, which also makes this run's rejections the source's. A failure
 * before or in that batch leaves the live data exactly as it was (the caller discards staging).
 * `counts` is updated as rows are read, so a caller can report how far a failed load got.
 */
export async function loadRecords(
  db: Database,
  source: Source,
  runId: string,
  records: AsyncIterable<CsvRecord[]>,
  catalogue: Catalogue,
  rules: RulesByMetric,
  counts: LoadCounts = { received: 0, accepted: 0, rejected: 0, unchanged: 0 },
): Promise<LoadResult> {
  const reader = new SourceRowReader(source, catalogue, rules);
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
    }
    if (accepted.length >= CHUNK_ROWS || rejections.length >= CHUNK_ROWS) await flush();
  }
  await flush();

  const { unchanged, changedCells } = await stagedChanges(db, runId, source.id, source.kind);
  counts.unchanged = unchanged;
  const loadedAt = new Date().toISOString();
  const client = db.$client;
  await client.batch([
    ...swapStatements(client, runId, source.id, source.kind),
    // The source's rejections are those of its latest completed run.
    client
      .prepare("DELETE FROM rejected_rows WHERE source_id = ? AND (run_id IS NULL OR run_id != ?)")
      .bind(source.id, runId),
    // A file whose every row was refused loaded nothing: the data is as old as it was.
    ...(counts.accepted > 0
      ? [client.prepare("UPDATE sources SET last_updated = ? WHERE id = ?").bind(loadedAt, source.id)]
      : []),
  ]);
  return { ...counts, changedCells };
}
