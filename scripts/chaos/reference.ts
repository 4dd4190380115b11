/**
 * Independent checker for the chaos test: after the service is killed mid-write, every panel
 * summary and outlier flag it stored must still follow from the observations it stored.
 *
 * Written from the rules in docs/methodology.md, not from src/stats, so that a slip in the
 * service's statistics cannot vouch for itself. A slice is one (source, metric, band, period)
 * of a panel source; survey sources publish their summaries directly and are not recomputed.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

export interface SummaryCheck {
  /** Panel slices compared: those with observations, plus summary rows that have none. */
  cellsChecked: number;
  /**
   * Observations within rounding distance of an outlier fence. Either flag is right for them,
   * so the stored one is accepted and the expected summary follows it.
   */
  onFence: number;
  /** One line per disagreement, naming the slice and the field, expected vs stored. */
  mismatches: string[];
}

/** The summary columns compared; the order is that of the messages. */
const SUMMARY_COLUMNS = [
  "n",
  "outliers_excluded",
  "p10",
  "p25",
  "p50",
  "p75",
  "p90",
  "mean",
  "sd",
  "skewness",
  "median_low",
  "median_high",
] as const;
type SummaryColumn = (typeof SUMMARY_COLUMNS)[number];
type StoredSummary = Record<SummaryColumn, number | null>;
/**
 * What the stored row should hold. A column left out is one the methodology leaves undefined for
 * this slice (sd below n = 2; skewness below n = 3 or without spread), so it is not checked.
 */
type ExpectedSummary = Partial<Record<SummaryColumn, number | null>>;

interface SliceKey {
  source_id: string;
  metric_key: string;
  band_key: string;
  period: string;
}

interface ObservationRow extends SliceKey {
  company_key: string;
  value: number;
  is_outlier: number;
  outlier_method: string | null;
}

/** The observations of one slice, in ascending order of value. */
interface Slice {
  name: string;
  outlierMethod: string | null;
  values: number[];
  companies: string[];
  storedFlags: number[];
}

const RELATIVE_TOLERANCE = 1e-9;
const ABSOLUTE_TOLERANCE = 1e-12;

/** Recomputes every panel slice from its observations and compares with what the service stored. */
export function checkPanelSummaries(db: DatabaseSync): SummaryCheck {
  const summaries = readPanelSummaries(db);
  const result: SummaryCheck = { cellsChecked: 0, onFence: 0, mismatches: [] };
  const finish = (slice: Slice) => {
    result.cellsChecked++;
    checkSlice(slice, summaries.get(slice.name), result);
    summaries.delete(slice.name);
  };

  // One pass over all panel observations, grouped by slice and sorted by value within it.
  const observations = db.prepare(
    `SELECT o.source_id, o.metric_key, o.band_key, o.period, o.company_key, o.value, o.is_outlier,
            m.outlier_method
       FROM observations o
       JOIN sources s ON s.id = o.source_id
       LEFT JOIN metrics m ON m.key = o.metric_key
      WHERE s.kind = 'panel'
      ORDER BY o.source_id, o.metric_key, o.band_key, o.period, o.value`,
  );
  let slice: Slice | undefined;
  // node:sqlite types rows as loose records; the query above fixes their shape.
  for (const row of observations.iterate() as unknown as Iterable<ObservationRow>) {
    const name = sliceName(row);
    if (slice?.name !== name) {
      if (slice) finish(slice);
      slice = { name, outlierMethod: row.outlier_method, values: [], companies: [], storedFlags: [] };
    }
    slice.values.push(row.value);
    slice.companies.push(row.company_key);
    slice.storedFlags.push(row.is_outlier);
  }
  if (slice) finish(slice);

  // Whatever is left summarises a slice that has no observations.
  for (const name of summaries.keys()) {
    result.cellsChecked++;
    result.mismatches.push(`${name}: summary row stored, but the slice has no observations`);
  }
  return result;
}

/**
 * Opens, read-only, the local D1 database that `wrangler dev --persist-to <persistTo>` keeps.
 * Miniflare names it by a hash of the database's id; metadata.sqlite beside it is miniflare's own,
 * and the -wal/-shm files belong to the database.
 */
export function openLocalD1(persistTo: string): DatabaseSync {
  const dir = join(persistTo, "v3", "d1", "miniflare-D1DatabaseObject");
  const files = readdirSync(dir).filter((file) => /^[0-9a-f]{64}\.sqlite$/.test(file));
  if (files.length !== 1) {
    throw new Error(`expected one D1 database file in ${dir}, found ${files.length}: ${files.join(", ")}`);
  }
  return new DatabaseSync(join(dir, files[0]!), { readOnly: true });
}

/** Source ids, metric and band keys and periods contain no "/", so the name is unambiguous. */
function sliceName(key: SliceKey): string {
  return `${key.source_id}/${key.metric_key}/${key.band_key}/${key.period}`;
}

function readPanelSummaries(db: DatabaseSync): Map<string, StoredSummary> {
  const rows = db
    .prepare(
      `SELECT su.source_id, su.metric_key, su.band_key, su.period, ${SUMMARY_COLUMNS.map((c) => `su.${c}`).join(", ")}
         FROM summaries su
         JOIN sources s ON s.id = su.source_id
        WHERE s.kind = 'panel'`,
    )
    .all() as unknown as (SliceKey & StoredSummary)[];
  return new Map(rows.map((row) => [sliceName(row), row]));
}

function checkSlice(slice: Slice, stored: StoredSummary | undefined, result: SummaryCheck): void {
  if (!isOutlierMethod(slice.outlierMethod)) {
    result.mismatches.push(`${slice.name}: the metric's outlier method ${slice.outlierMethod} is unknown`);
    return;
  }
  const fences = outlierFences(slice.outlierMethod, slice.values);
  // Rounding noise in the service's figures is of the order of the values themselves, even where
  // a result such as a mean or a fence lands near zero.
  const scale = slice.values.reduce((largest, value) => Math.max(largest, Math.abs(value)), 1);

  const kept: number[] = [];
  slice.values.forEach((value, i) => {
    const storedFlag = slice.storedFlags[i]!;
    let isOutlier: boolean;
    if (fences && isOnFence(value, fences, scale)) {
      result.onFence++;
      isOutlier = storedFlag === 1;
    } else {
      isOutlier = fences !== null && (value < fences.lower || value > fences.upper);
      const expectedFlag = isOutlier ? 1 : 0;
      if (storedFlag !== expectedFlag) {
        result.mismatches.push(
          `${slice.name}: is_outlier of company ${slice.companies[i]} (value ${value}) expected ${expectedFlag}, stored ${storedFlag}`,
        );
      }
    }
    if (!isOutlier) kept.push(value);
  });

  if (!stored) {
    result.mismatches.push(
      `${slice.name}: no summary row for a slice with ${slice.values.length} observations`,
    );
    return;
  }
  const expected = summarise(kept, slice.values.length - kept.length);
  for (const column of SUMMARY_COLUMNS) {
    const want = expected[column];
    if (want === undefined) continue;
    const got = stored[column];
    // Counts and the dimensionless skewness are not in the unit of the values.
    const columnScale = column === "n" || column === "outliers_excluded" || column === "skewness" ? 1 : scale;
    const agrees = want === null || got === null ? want === got : closeTo(want, got, columnScale);
    if (!agrees) result.mismatches.push(`${slice.name}: ${column} expected ${want}, stored ${got}`);
  }
}

/** Relative 1e-9, with an absolute floor of 1e-12 times the size of the numbers involved. */
function closeTo(a: number, b: number, scale: number): boolean {
  const tolerance = Math.max(
    RELATIVE_TOLERANCE * Math.max(Math.abs(a), Math.abs(b)),
    ABSOLUTE_TOLERANCE * scale,
  );
  return Math.abs(a - b) <= tolerance;
}

/**
 * A value is an outlier when it lies outside [lower, upper]. Both rules are written as fences
 * (the modified z-score's |M| > 3.5 as a distance from the median) so that they share one test
 * for values that rounding could put on either side.
 */
interface Fences {
  lower: number;
  upper: number;
  /** The inner edges the fences were measured from; a value between them is never an outlier. */
  innerLower: number;
  innerUpper: number;
}

type OutlierMethod = "tukey" | "modified_z";

function isOutlierMethod(method: string | null): method is OutlierMethod {
  return method === "tukey" || method === "modified_z";
}

/** null when the rule flags nothing in this slice. */
function outlierFences(method: OutlierMethod, sorted: number[]): Fences | null {
  if (method === "tukey") {
    const q1 = quantile(sorted, 0.25);
    const q3 = quantile(sorted, 0.75);
    const reach = 1.5 * (q3 - q1);
    return { lower: q1 - reach, upper: q3 + reach, innerLower: q1, innerUpper: q3 };
  }
  // Iglewicz–Hoaglin: |0.6745·(x − median)/MAD| > 3.5; when MAD is 0 (more than half the values
  // tie), |(x − median)/(1.253314·MeanAD)| > 3.5; when that is 0 too, all values are equal.
  const median = quantile(sorted, 0.5);
  const deviations = sorted.map((x) => Math.abs(x - median)).sort((a, b) => a - b);
  const mad = quantile(deviations, 0.5);
  const reach = mad > 0 ? (3.5 * mad) / 0.6745 : 3.5 * 1.253314 * mean(deviations);
  if (reach === 0) return null;
  return { lower: median - reach, upper: median + reach, innerLower: median, innerUpper: median };
}

function isOnFence(value: number, fences: Fences, scale: number): boolean {
  return (
    (value < fences.innerLower && closeTo(fences.lower, value, scale)) ||
    (value > fences.innerUpper && closeTo(fences.upper, value, scale))
  );
}

/** The summary of the kept values, sorted ascending, as docs/methodology.md defines it. */
function summarise(kept: number[], outliers: number): ExpectedSummary {
  const n = kept.length;
  const average = mean(kept);
  const deviations = kept.map((x) => x - average);
  const expected: ExpectedSummary = {
    n,
    outliers_excluded: outliers,
    p10: quantile(kept, 0.1),
    p25: quantile(kept, 0.25),
    p50: quantile(kept, 0.5),
    p75: quantile(kept, 0.75),
    p90: quantile(kept, 0.9),
    mean: average,
  };
  const sumOfSquares = sum(deviations.map((d) => d ** 2));
  if (n >= 2) expected.sd = Math.sqrt(sumOfSquares / (n - 1));
  // Adjusted Fisher–Pearson G1 = √(n(n−1))/(n−2) · m3/m2^1.5 over the biased central moments.
  // scipy's skew(bias=False), which the methodology names, calls a variance at or below
  // (1e-14·mean)² zero and has no skewness then.
  const m2 = sumOfSquares / n;
  if (n >= 3 && m2 > (1e-14 * average) ** 2) {
    const m3 = sum(deviations.map((d) => d ** 3)) / n;
    expected.skewness = ((Math.sqrt(n * (n - 1)) / (n - 2)) * m3) / m2 ** 1.5;
  }
  // The distribution-free 95% interval for the median: [x₍ₗ₎, x₍ₙ₊₁₋ₗ₎], null below n = 6.
  const rank = medianIntervalRank(n);
  expected.median_low = rank === 0 ? null : kept[rank - 1]!;
  expected.median_high = rank === 0 ? null : kept[n - rank]!;
  return expected;
}

/**
 * With X ~ Bin(n, ½), the largest l with P(X < l) ≤ 0.025, in exact integers:
 * 40·Σ_{k<l} C(n, k) ≤ 2ⁿ. It is 0 exactly when n < 6, where the interval is null.
 */
function medianIntervalRank(n: number): number {
  const outcomes = 1n << BigInt(n);
  let below = 0n; // Σ_{j<l} C(n, j)
  let binomial = 1n; // C(n, l)
  let l = 0;
  while (40n * (below + binomial) <= outcomes) {
    below += binomial;
    binomial = (binomial * BigInt(n - l)) / BigInt(l + 1);
    l++;
  }
  return l;
}

/** Hyndman–Fan type 7 on sorted values: h = (n−1)p, between x⌊h⌋ and x⌈h⌉ (0-based). */
function quantile(sorted: number[], p: number): number {
  const h = (sorted.length - 1) * p;
  const below = sorted[Math.floor(h)]!;
  const above = sorted[Math.ceil(h)]!;
  return below + (h - Math.floor(h)) * (above - below);
}

function sum(values: number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

function mean(values: number[]): number {
  return sum(values) / values.length;
}
