import { and, eq, isNull, ne, or } from "drizzle-orm";
import type { Database } from "../db/client";
import { rejectedRows, sources } from "../db/schema";
import type { Catalogue, Source } from "../domain/catalogue";
import type { CsvRecord } from "./csv";
import {
  type Cell,
  changedCells,
  countUnchanged,
  stageObservations,
  stageRejections,
  stageSummaries,
  swapStatements,
} from "./staging";
import { SourceRowReader, type StagedSummary } from "./upload";
import type { Observation, Rejection, RulesByMetric } from "./validation";

/** Rows held in memory before they are written to staging: bounds memory on files of any size. */
const FLUSH_ROWS = 2000;

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
  loadedAt: string;
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
  let observations: Observation[] = [];
  let summaries: StagedSummary[] = [];
  let rejections: Rejection[] = [];

  const flush = async () => {
    if (observations.length > 0) await stageObservations(db, runId, source.id, observations);
    if (summaries.length > 0) await stageSummaries(db, runId, source.id, summaries);
    if (rejections.length > 0) await stageRejections(db, source.id, runId, rejections, startedAt);
    observations = [];
    summaries = [];
    rejections = [];
  };

  for await (const batch of records) {
    for (const record of batch) {
      counts.received++;
      const row = reader.read(record);
      if (row.kind === "observation") observations.push(row.row);
      else if (row.kind === "summary") summaries.push(row.row);
      else rejections.push(row.rejection);
      if (row.kind === "rejection") counts.rejected++;
      else counts.accepted++;
    }
    if (observations.length + summaries.length + rejections.length >= FLUSH_ROWS) await flush();
  }
  await flush();

  counts.unchanged = await countUnchanged(db, runId, source.kind);
  const cells = source.kind === "panel" ? await changedCells(db, runId) : [];
  const loadedAt = new Date().toISOString();
  const [swapFirst, ...swapRest] = swapStatements(db, runId, source.kind);
  await db.batch([
    swapFirst!,
    ...swapRest,
    // The source's rejections are those of its latest completed run.
    db
      .delete(rejectedRows)
      .where(
        and(
          eq(rejectedRows.sourceId, source.id),
          or(isNull(rejectedRows.runId), ne(rejectedRows.runId, runId)),
        ),
      ),
    // A file whose every row was refused loaded nothing: the data is as old as it was.
    ...(counts.accepted > 0
      ? [db.update(sources).set({ lastUpdated: loadedAt }).where(eq(sources.id, source.id))]
      : []),
  ]);
  return { ...counts, changedCells: cells, loadedAt };
}
