/**
 * The recompute part of the scale benchmark (scale.ts): every cell of the sample data rebuilt by
 * the code production runs, the recompute consumer's `recomputeCells` (src/service/recompute.ts),
 * in the batches its queue delivers (wrangler.toml's max_batch_size), timed pass by pass.
 *
 * The data goes in as scale-service.ts loads it, which leaves every cell to rebuild: that first
 * rebuild is part of loading. Each timed pass rebuilds every loaded cell again, as a
 * reload of the whole panel does, through a binding that counts its D1 calls, rows and waits, to
 * show where the time goes. The figures are then checked against the generated panel,
 * independently of the service's statistics code: every cell's n, outliers and median, and every
 * pass leaving the same figures as the first. Any mismatch ends the run with an error.
 */
import { bandForArr, type Cell, type Metric } from "../../src/domain/catalogue";
import type { RecomputeResult } from "../../src/ingest/recompute";
import { getBenchmarks } from "../../src/service/benchmarks";
import { getCatalogue } from "../../src/service/catalogue";
import type { PanelStatistics } from "../../src/service/distribution";
import { generateSampleData, SAMPLE_SEED, validPanelRows } from "../sample-data/generate";
import { D1Meter } from "./scale-metered-d1";
import type { LocalService } from "./scale-service";

/** Relative tolerance for a median recomputed here against the stored one (ulps of interpolation). */
const AGREEMENT = 1e-12;

/** One pass over every cell, and where its time went. */
export interface RecomputePass {
  seconds: number;
  /** Calls into D1 (queries and batches): two per cell, and a few per delivered batch. */
  d1Calls: number;
  /** Time spent awaiting those calls: the Node↔workerd proxy plus D1 itself. */
  d1WaitSeconds: number;
  /** prepare() and bind() calls: synchronous, but the proxy forwards each of them to workerd too. */
  statementSetupCalls: number;
  statementSetupSeconds: number;
  /** The rest: drizzle building queries and mapping rows, the outlier screens and statistics. */
  nodeSeconds: number;
  /** What D1 says the pass read and wrote (meta.rows_read, rows_written). */
  rowsRead: number;
  rowsWritten: number;
}

export interface RecomputeCheck {
  cells: number;
  observations: number;
  outliers: number;
  /** Every pass left the same n, outliers, mean and median in every cell as the first. */
  passesIdentical: true;
}

const roundTo3 = (value: number) => Math.round(value * 1000) / 1000;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Rebuilds every cell once, metered; the result is what recomputeCells reported. */
export async function timeRecomputePass(
  service: LocalService,
  cells: readonly Cell[],
  batchSize: number,
): Promise<{ result: RecomputeResult; pass: RecomputePass }> {
  const meter = new D1Meter();
  const started = performance.now();
  const result = await service.recompute(cells, batchSize, meter);
  const seconds = (performance.now() - started) / 1000;
  return {
    result,
    pass: {
      seconds: roundTo3(seconds),
      d1Calls: meter.calls,
      d1WaitSeconds: roundTo3(meter.waitMs / 1000),
      statementSetupCalls: meter.setupCalls,
      statementSetupSeconds: roundTo3(meter.setupMs / 1000),
      nodeSeconds: roundTo3(seconds - (meter.waitMs + meter.setupMs) / 1000),
      rowsRead: meter.rowsRead,
      rowsWritten: meter.rowsWritten,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Verification: independent of the service's statistics code

/** Hyndman–Fan type 7 on sorted values, as numpy's default and R's quantile() compute it. */
function type7(sorted: readonly number[], p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** The values the metric's outlier screen should flag (see src/stats/outliers.ts for the rules). */
function expectedOutliers(values: readonly number[], method: Metric["outlierMethod"]): Set<number> {
  const flagged = (test: (x: number) => boolean) => new Set(values.flatMap((x, i) => (test(x) ? [i] : [])));
  if (method === "tukey") {
    const sorted = [...values].sort((a, b) => a - b);
    const q1 = type7(sorted, 0.25);
    const q3 = type7(sorted, 0.75);
    return flagged((x) => x < q1 - 1.5 * (q3 - q1) || x > q3 + 1.5 * (q3 - q1));
  }
  const centre = median(values);
  const deviations = values.map((x) => Math.abs(x - centre));
  const mad = median(deviations);
  if (mad > 0) return flagged((x) => Math.abs((0.6745 * (x - centre)) / mad) > 3.5);
  const meanDeviation = deviations.reduce((sum, d) => sum + d, 0) / deviations.length;
  if (meanDeviation === 0) return new Set();
  return flagged((x) => Math.abs((x - centre) / (1.253314 * meanDeviation)) > 3.5);
}

const agrees = (a: number, b: number) => Math.abs(a - b) <= AGREEMENT * Math.max(Math.abs(a), Math.abs(b), 1);

function fail(message: string): never {
  throw new Error(`recompute: ${message}`);
}

const cellKey = (cell: Cell) => `${cell.metricKey} ${cell.bandKey} ${cell.period}`;

/** The panel's statistics in every cell, as the service shows them to an admin. */
async function storedStatistics(service: LocalService, cells: readonly Cell[]): Promise<PanelStatistics[]> {
  const panelId = generateSampleData().panelSourceId;
  const statistics: PanelStatistics[] = [];
  for (const cell of cells) {
    const { ctx, settle } = service.context("admin");
    const result = await getBenchmarks(ctx, {
      metric: cell.metricKey,
      revenueRange: cell.bandKey,
      period: cell.period,
      sources: [panelId],
      includeStatistics: true,
    });
    await settle();
    const [panel] = result.statistics?.panels ?? [];
    if (!panel) fail(`${cellKey(cell)}: no panel statistics`);
    statistics.push(panel);
  }
  return statistics;
}

/**
 * Checks every cell against the generated panel, whose valid rows are exactly what the load
 * stored: n, the outliers flagged and left out, and the type-7 median of the rest.
 */
async function checkAgainstPanel(
  service: LocalService,
  scale: number,
  cells: readonly Cell[],
  result: RecomputeResult,
  statistics: readonly PanelStatistics[],
): Promise<void> {
  const { ctx } = service.context("admin");
  const catalogue = await getCatalogue(ctx);
  const methods = new Map(catalogue.metrics.map((m) => [m.key, m.outlierMethod]));
  const valuesOf = new Map<string, number[]>();
  let rows = 0;
  for (const row of validPanelRows(SAMPLE_SEED, scale)) {
    rows++;
    const bandKey = bandForArr(catalogue.revenueRanges, row.arr)!.key;
    const key = cellKey({ metricKey: row.metric, bandKey, period: row.period });
    const values = valuesOf.get(key);
    if (values) values.push(row.value);
    else valuesOf.set(key, [row.value]);
  }
  if (result.observations !== rows)
    fail(`recomputeCells read ${result.observations} observations, not ${rows}`);
  if (result.cells !== valuesOf.size || cells.length !== valuesOf.size) {
    fail(`${result.cells} cells rebuilt of ${cells.length} sent; the panel has ${valuesOf.size}`);
  }
  let outliers = 0;
  cells.forEach((cell, i) => {
    const key = cellKey(cell);
    const values = valuesOf.get(key) ?? fail(`${key}: not a cell of the panel`);
    const flagged = expectedOutliers(values, methods.get(cell.metricKey)!);
    const kept = values.filter((_, j) => !flagged.has(j)).sort((a, b) => a - b);
    const stored = statistics[i]!;
    outliers += flagged.size;
    if (stored.n !== kept.length || stored.outliersExcluded !== flagged.size) {
      fail(
        `${key}: the service shows n ${stored.n} and ${stored.outliersExcluded} outliers; ` +
          `its ${values.length} values give ${kept.length} kept and ${flagged.size} flagged`,
      );
    }
    if (!agrees(stored.median, type7(kept, 0.5))) {
      fail(`${key}: the service shows median ${stored.median}, its kept values give ${type7(kept, 0.5)}`);
    }
  });
  if (result.outliers !== outliers)
    fail(`recomputeCells flagged ${result.outliers} outliers, not ${outliers}`);
}

/**
 * Verifies the first pass against the panel, then that every later pass left the same figures:
 * call `verifyFirst` after the first pass and `verifySame` after the last.
 */
export function recomputeChecks(service: LocalService, scale: number, cells: readonly Cell[]) {
  let first: { result: RecomputeResult; snapshot: string } | undefined;
  return {
    async verifyFirst(result: RecomputeResult): Promise<void> {
      const statistics = await storedStatistics(service, cells);
      await checkAgainstPanel(service, scale, cells, result, statistics);
      first = { result, snapshot: JSON.stringify(statistics) };
    },
    async verifySame(result: RecomputeResult): Promise<RecomputeCheck> {
      if (!first) fail("no first pass to compare with");
      const snapshot = JSON.stringify(await storedStatistics(service, cells));
      if (JSON.stringify(result) !== JSON.stringify(first.result) || snapshot !== first.snapshot) {
        fail(
          `a later pass changed the result: ${JSON.stringify(first.result)}, then ${JSON.stringify(result)}`,
        );
      }
      return { ...first.result, passesIdentical: true };
    },
  };
}
