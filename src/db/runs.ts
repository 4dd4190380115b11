import type { Cell } from "../domain/catalogue";

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
