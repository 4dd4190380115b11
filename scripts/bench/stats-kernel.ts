/**
 * Statistics kernel benchmark: type-7 quantiles p10…p90 and the mean-kind percentile rank over
 * 1,000,000 values, timed for the service's own functions beside numpy doing the same on the very
 * same values, in one run. Goal: within 2× of numpy (combined time of both operations).
 *
 * The TypeScript side runs in this Node process, i.e. in V8, the engine workerd uses. The numpy
 * side is scripts/bench/stats_kernel.py under Debian's /usr/bin/python3; without numpy it is
 * skipped and the ratios are null. The two sides run alternately in a few rounds, so drift on a
 * busy machine touches both; each figure is a median.
 *
 * Expect the TypeScript quantile time to jump between about 20 and 50 ms from run to run on this
 * machine: each call copies the values into a fresh 8 MB Float64Array, and whether that lands on
 * recycled memory or on new pages (whose first touch costs ~25 ms in this sandbox) depends on when
 * V8 last collected. numpy's copy is freed at once and malloc hands the same block straight back.
 *
 * `npm run bench` runs this first, before any server starts. Alone (prints, writes nothing):
 *   npx tsx scripts/bench/stats-kernel.ts
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { percentileRank } from "../../src/stats/percentile-rank";
import {
  type FiveQuantiles,
  fiveQuantilesUnsorted,
  QUANTILE_KEYS,
  type QuantileKey,
} from "../../src/stats/quantiles";
import { Prng } from "../sample-data/prng";

const NUMPY_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "stats_kernel.py");
const PYTHON = "/usr/bin/python3";
/** stats_kernel.py's exit status when its interpreter has no numpy. */
const NUMPY_MISSING_STATUS = 3;

export const KERNEL_CONFIG = {
  values: 1_000_000,
  seed: 20261129,
  warmupRuns: 3,
  timedRuns: 15,
  rounds: 3,
} as const;

const MAX_RATIO = 2;
/** Both sides must compute the same figures to this relative tolerance, or the timing means nothing. */
const AGREEMENT = 1e-12;
const ENGINE = "V8 (Node) — the same engine workerd uses";

interface KernelTimes {
  quantilesMs: number;
  rankMs: number;
  /** quantiles + rank */
  combinedMs: number;
}

/** TypeScript ms over numpy ms. */
interface KernelRatios {
  quantiles: number;
  rank: number;
  combined: number;
}

interface KernelRound {
  /** Median ms of this round's timed runs. */
  typescript: KernelTimes;
  numpy: KernelTimes | null;
  ratio: KernelRatios | null;
}

export interface StatsKernelResult {
  operations: string;
  engine: string;
  node: string;
  numpy: string | null;
  python: string | null;
  /** Why the numpy side did not run, when it did not. */
  numpySkipped?: string;
  config: typeof KERNEL_CONFIG & { score: number };
  /** What both sides computed (checked to agree within 1e-12 each round). */
  computed: { quantiles: FiveQuantiles; percentileRank: number };
  /** Medians over the rounds. */
  typescript: KernelTimes;
  numpyTimes: KernelTimes | null;
  /** Medians of the per-round ratios; null without numpy. */
  ratio: KernelRatios | null;
  goal: { maxRatio: number; on: "combined"; met: boolean | null };
  rounds: KernelRound[];
}

// ---------------------------------------------------------------------------------------------
// Data

/**
 * Growth-rate-like values: 100·e^Z in percent with Z standard normal, kept to two decimals as
 * reported figures are, so values tie (about 40 per value near the median) and the rank's
 * "equal" count is exercised.
 */
function generateValues(count: number, seed: number): number[] {
  const random = new Prng(seed);
  const uniform = () => random.next();
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    // Box–Muller; 1 − u keeps the logarithm's argument above 0.
    const normal = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
    values.push(roundTo2Decimals(100 * Math.exp(normal)));
  }
  return values;
}

const roundTo2Decimals = (value: number) => Math.round(value * 100) / 100;

// ---------------------------------------------------------------------------------------------
// Measurement

interface SideRun {
  quantiles: FiveQuantiles;
  percentileRank: number;
  quantilesMs: number[];
  rankMs: number[];
}

function timeRuns<T>(operation: () => T): { times: number[]; result: T } {
  let result = operation();
  for (let i = 1; i < KERNEL_CONFIG.warmupRuns; i++) result = operation();
  const times: number[] = [];
  for (let i = 0; i < KERNEL_CONFIG.timedRuns; i++) {
    const start = performance.now();
    result = operation();
    times.push(performance.now() - start);
  }
  return { times, result };
}

/** What the service calls on a cell's unsorted panel values (a plain number[], as D1 returns them). */
function runTypeScript(values: readonly number[], score: number): SideRun {
  const quantiles = timeRuns(() => fiveQuantilesUnsorted(values));
  const rank = timeRuns(() => percentileRank(values, score));
  return {
    quantiles: quantiles.result,
    percentileRank: rank.result,
    quantilesMs: quantiles.times,
    rankMs: rank.times,
  };
}

interface NumpyRun extends SideRun {
  numpy: string;
  python: string;
  n: number;
}

const execFileAsync = promisify(execFile);

/** The numpy side's run, or why it cannot run here. */
async function runNumpy(valuesFile: string, score: number): Promise<NumpyRun | { unavailable: string }> {
  const args = [
    NUMPY_SCRIPT,
    valuesFile,
    String(score),
    "--warmups",
    String(KERNEL_CONFIG.warmupRuns),
    "--runs",
    String(KERNEL_CONFIG.timedRuns),
  ];
  try {
    const { stdout } = await execFileAsync(PYTHON, args);
    const run = JSON.parse(stdout) as Omit<NumpyRun, "quantiles"> & { quantiles: number[] };
    const quantiles = Object.fromEntries(QUANTILE_KEYS.map((key, i) => [key, run.quantiles[i]]));
    return { ...run, quantiles: quantiles as Record<QuantileKey, number> };
  } catch (error) {
    const { code, stderr } = error as { code?: unknown; stderr?: string };
    if (code === "ENOENT") return { unavailable: `${PYTHON} not found` };
    if (code === NUMPY_MISSING_STATUS) return { unavailable: `${PYTHON} has no numpy` };
    throw new Error(`${path.basename(NUMPY_SCRIPT)} failed (exit ${String(code)}):\n${stderr ?? ""}`);
  }
}

function agrees(a: number, b: number): boolean {
  return Math.abs(a - b) <= AGREEMENT * Math.max(Math.abs(a), Math.abs(b));
}

/** A timing of two different computations would compare nothing, so a disagreement ends the run. */
function checkAgreement(typescript: SideRun, numpy: NumpyRun, n: number): void {
  const mismatches: string[] = [];
  if (numpy.n !== n) mismatches.push(`numpy read ${numpy.n} values, not ${n}`);
  for (const key of QUANTILE_KEYS) {
    if (!agrees(typescript.quantiles[key], numpy.quantiles[key])) {
      mismatches.push(`${key}: TypeScript ${typescript.quantiles[key]}, numpy ${numpy.quantiles[key]}`);
    }
  }
  if (!agrees(typescript.percentileRank, numpy.percentileRank)) {
    mismatches.push(
      `percentile rank: TypeScript ${typescript.percentileRank}, numpy ${numpy.percentileRank}`,
    );
  }
  if (mismatches.length > 0) {
    throw new Error(
      `stats kernel: TypeScript and numpy disagree beyond ${AGREEMENT}:\n  ${mismatches.join("\n  ")}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Summary

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const roundTo3 = (value: number) => Math.round(value * 1000) / 1000;

function kernelTimes(run: SideRun): KernelTimes {
  const quantilesMs = median(run.quantilesMs);
  const rankMs = median(run.rankMs);
  return {
    quantilesMs: roundTo3(quantilesMs),
    rankMs: roundTo3(rankMs),
    combinedMs: roundTo3(quantilesMs + rankMs),
  };
}

function medianTimes(rounds: readonly KernelTimes[]): KernelTimes {
  return {
    quantilesMs: roundTo3(median(rounds.map((times) => times.quantilesMs))),
    rankMs: roundTo3(median(rounds.map((times) => times.rankMs))),
    combinedMs: roundTo3(median(rounds.map((times) => times.combinedMs))),
  };
}

/** Per round: both sides measured within seconds of each other, so machine drift mostly cancels. */
function roundRatios(typescript: KernelTimes, numpy: KernelTimes): KernelRatios {
  return {
    quantiles: roundTo3(typescript.quantilesMs / numpy.quantilesMs),
    rank: roundTo3(typescript.rankMs / numpy.rankMs),
    combined: roundTo3(typescript.combinedMs / numpy.combinedMs),
  };
}

function medianRatios(rounds: readonly KernelRatios[]): KernelRatios {
  return {
    quantiles: roundTo3(median(rounds.map((ratio) => ratio.quantiles))),
    rank: roundTo3(median(rounds.map((ratio) => ratio.rank))),
    combined: roundTo3(median(rounds.map((ratio) => ratio.combined))),
  };
}

// ---------------------------------------------------------------------------------------------

export async function runStatsKernelBench(): Promise<StatsKernelResult> {
  const { values: count, seed, rounds } = KERNEL_CONFIG;
  const values = generateValues(count, seed);
  // A recorded value next to the median, so the score ties with some of the values.
  const score = roundTo2Decimals(fiveQuantilesUnsorted(values).p50);

  const directory = await mkdtemp(path.join(os.tmpdir(), "stats-kernel-"));
  const valuesFile = path.join(directory, "values.f64");
  try {
    const typed = Float64Array.from(values);
    await writeFile(valuesFile, new Uint8Array(typed.buffer));

    let numpyUnavailable: string | undefined;
    const measureNumpy = async (): Promise<NumpyRun | null> => {
      if (numpyUnavailable !== undefined) return null;
      const outcome = await runNumpy(valuesFile, score);
      if (!("unavailable" in outcome)) return outcome;
      numpyUnavailable = `${outcome.unavailable}: numpy side skipped, ratios are null`;
      console.log(`stats kernel: ${numpyUnavailable}`);
      return null;
    };

    const roundResults: KernelRound[] = [];
    let typescriptRun: SideRun | undefined;
    let numpyRun: NumpyRun | null = null;
    for (let round = 1; round <= rounds; round++) {
      // Alternating which side goes first spreads any advantage of going first.
      if (round % 2 === 1) {
        typescriptRun = runTypeScript(values, score);
        numpyRun = await measureNumpy();
      } else {
        numpyRun = await measureNumpy();
        typescriptRun = runTypeScript(values, score);
      }
      if (numpyRun !== null) checkAgreement(typescriptRun, numpyRun, count);
      const typescript = kernelTimes(typescriptRun);
      const numpy = numpyRun === null ? null : kernelTimes(numpyRun);
      roundResults.push({ typescript, numpy, ratio: numpy === null ? null : roundRatios(typescript, numpy) });
      console.log(
        `stats kernel round ${round}/${rounds}: TypeScript ${typescript.combinedMs.toFixed(2)} ms` +
          (numpy === null ? "" : `, numpy ${numpy.combinedMs.toFixed(2)} ms`),
      );
    }

    const numpyRounds = roundResults.flatMap((round) => (round.numpy === null ? [] : [round.numpy]));
    const ratioRounds = roundResults.flatMap((round) => (round.ratio === null ? [] : [round.ratio]));
    const ratio = ratioRounds.length === 0 ? null : medianRatios(ratioRounds);
    return {
      operations:
        "type-7 quantiles p10, p25, p50, p75, p90 (fiveQuantilesUnsorted vs numpy.quantile) and the " +
        "mean-kind percentile rank of one score (percentileRank vs numpy count_nonzero)",
      engine: ENGINE,
      node: process.version,
      numpy: numpyRun?.numpy ?? null,
      python: numpyRun?.python ?? null,
      ...(numpyUnavailable !== undefined && { numpySkipped: numpyUnavailable }),
      config: { ...KERNEL_CONFIG, score },
      computed: { quantiles: typescriptRun!.quantiles, percentileRank: typescriptRun!.percentileRank },
      typescript: medianTimes(roundResults.map((round) => round.typescript)),
      numpyTimes: numpyRounds.length === 0 ? null : medianTimes(numpyRounds),
      ratio,
      goal: { maxRatio: MAX_RATIO, on: "combined", met: ratio === null ? null : ratio.combined <= MAX_RATIO },
      rounds: roundResults,
    };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

export function printStatsKernelTable(result: StatsKernelResult): void {
  const { typescript, numpyTimes, ratio } = result;
  const ms = (value: number | undefined) => (value === undefined ? "—" : value.toFixed(2));
  const times = (value: number | undefined) => (value === undefined ? "—" : `${value.toFixed(2)}×`);
  const rows = [
    ["stats kernel", "TypeScript ms", "numpy ms", "ratio"],
    ["quantiles", ms(typescript.quantilesMs), ms(numpyTimes?.quantilesMs), times(ratio?.quantiles)],
    ["rank", ms(typescript.rankMs), ms(numpyTimes?.rankMs), times(ratio?.rank)],
    ["combined", ms(typescript.combinedMs), ms(numpyTimes?.combinedMs), times(ratio?.combined)],
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const alignCell = (cell: string, column: number) =>
    column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!);
  console.log("");
  for (const row of rows) console.log(row.map(alignCell).join("  "));
  const { values, timedRuns, rounds } = result.config;
  console.log(
    `(${values.toLocaleString("en-US")} values; medians of ${rounds} interleaved rounds of ${timedRuns} ` +
      `runs each; ratio = TypeScript / numpy, paired by round)`,
  );
  const numpySide =
    result.numpy === null
      ? (result.numpySkipped ?? "numpy did not run")
      : `numpy ${result.numpy} (Python ${result.python})`;
  console.log(`TypeScript ran in ${result.engine} (${result.node}); ${numpySide}.`);
  console.log(describeStatsKernelGoal(result));
}

export function describeStatsKernelGoal({ goal, ratio }: StatsKernelResult): string {
  const verdict = goal.met === null ? "NOT MEASURED" : goal.met ? "PASS" : "MISS";
  const measured = ratio === null ? "—" : `${ratio.combined.toFixed(2)}×`;
  return `stats kernel ≤ ${goal.maxRatio.toFixed(2)}× numpy: ${measured}  ${verdict}`;
}

const runAlone =
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (runAlone) {
  runStatsKernelBench()
    .then(printStatsKernelTable)
    .catch((error: unknown) => {
      console.error(
        `\nStats kernel benchmark failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      process.exitCode = 1;
    });
}
