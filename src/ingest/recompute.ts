import type { Database } from "../db/client";
import { cellRebuildInputs, type RebuiltSlice, writeCellRebuild } from "../db/recompute";
import type { Cell } from "../domain/catalogue";
import { countPeerUnits } from "../domain/peer-units";
import { parsePeriod } from "../domain/periods";
import { tracedSync } from "../observability/tracing/span";
import { type OutlierMethod, summarizePanel } from "../stats";

export interface RecomputeResult {
  cells: number;
  observations: number;
  outliers: number;
}

/**
 * Rebuilds one (metric, band, period) cell for every panel source in it, the unit the recompute
 * queue works in: each source's rows are screened for outliers and summarized, and the flags,
 * summaries and peer-group units written by one atomic batch (db/recompute.ts), which also drops
 * what panel sources no longer in the cell left there and pays the cell's debt. A cell that owes
 * nothing is left alone (null), so a redelivered message costs one read and moves nothing.
 */
export async function recomputeCell(
  db: Database,
  cell: Cell,
  outlierMethod: OutlierMethod,
): Promise<RecomputeResult | null> {
  const { owedUpTo, rows } = await cellRebuildInputs(db, cell);
  if (owedUpTo === null) return null;
  const result: RecomputeResult = { cells: 0, observations: rows.length, outliers: 0 };
  const slices: RebuiltSlice[] = [];
  for (const [sourceId, sourceRows] of Map.groupBy(rows, (row) => row.sourceId)) {
    const key = { ...cell, sourceId };
    const summary = tracedSync("stats summarize panel", { "stats.observations": sourceRows.length }, () =>
      summarizePanel(
        sourceRows.map((r) => r.value),
        outlierMethod,
      ),
    )!;
    const { outlierFlags, ...aggregate } = summary;
    const outlierKeys = sourceRows.filter((_, i) => outlierFlags[i]).map((r) => r.companyKey);
    slices.push({
      key,
      outlierKeys,
      summary: { ...aggregate, periodOrder: parsePeriod(cell.period)!.order },
      units: countPeerUnits(sourceRows.map((row, i) => ({ ...key, ...row, isOutlier: outlierFlags[i]! }))),
    });
    result.cells++;
    result.outliers += outlierKeys.length;
  }
  await writeCellRebuild(db, cell, slices, owedUpTo);
  return result;
}
