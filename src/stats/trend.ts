import { normalCdf, normalQuantile, studentTCdf } from "./distributions";

/**
 * Trend statistics for a short series of yearly (or quarterly) medians: x are period starts in
 * years (2019, 2020, 2024.5, …), strictly increasing; y the medians; n ≥ 3.
 */

/** Ordinary least squares, as scipy.stats.linregress. */
export interface OlsFit {
  slope: number;
  intercept: number;
  /** rvalue², 0 for a constant series. */
  r2: number;
  /** Two-sided t-test of slope = 0 with n − 2 degrees of freedom. */
  pValue: number;
}

/** Theil–Sen slope with Sen's confidence interval, as scipy.stats.theilslopes(method="separate"). */
export interface TheilSenFit {
  slope: number;
  /** median(y) − slope·median(x). */
  intercept: number;
  low: number;
  high: number;
}

/** Mann–Kendall trend test, as pymannkendall.original_test. */
export interface MannKendall {
  /** Σ sign(y_j − y_i) over i < j. */
  s: number;
  /** Var(S) with the tie correction. */
  varS: number;
  /** Continuity-corrected normal score. */
  z: number;
  pValue: number;
  /** Kendall's tau-a, S / (n(n−1)/2). */
  tau: number;
}

function assertFinite(values: readonly number[], name: string): void {
  if (!values.every(Number.isFinite)) throw new RangeError(`${name} must be finite numbers`);
}

function assertSeries(x: readonly number[], y: readonly number[]): void {
  if (x.length !== y.length) throw new RangeError("x and y must have the same length");
  if (y.length < 3) throw new RangeError("a trend needs at least 3 points");
  assertFinite(x, "x");
  assertFinite(y, "y");
  for (let i = 1; i < x.length; i++) {
    if (!(x[i]! > x[i - 1]!)) throw new RangeError("x must be strictly increasing");
  }
}

function assertConfidence(confidence: number): void {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError("confidence must lie in (0, 1)");
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

function medianOfSorted(sorted: readonly number[]): number {
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function isConstant(values: readonly number[]): boolean {
  return values.every((v) => v === values[0]);
}

/**
 * A constant y has no trend: slope 0, r² 0, p 1. scipy gets the same, up to rounding noise from
 * subtracting a mean that is not exactly representable (e.g. r ≈ 4e-14 for y ≡ 0.1); we return the
 * exact values instead.
 */
export function olsFit(x: readonly number[], y: readonly number[]): OlsFit {
  assertSeries(x, y);
  if (isConstant(y)) return { slope: 0, intercept: y[0]!, r2: 0, pValue: 1 };
  const xMean = mean(x);
  const yMean = mean(y);
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    const dx = x[i]! - xMean;
    const dy = y[i]! - yMean;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  const slope = sxy / sxx;
  // Rounding can push |r| a hair past 1.
  const r = Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
  const df = x.length - 2;
  // A perfect fit has t = ±∞ and p = 0 (scipy's 1e-20 fudge in the denominator gives ~1e-20 instead).
  const t = r * Math.sqrt(df / ((1 - r) * (1 + r)));
  return { slope, intercept: yMean - slope * xMean, r2: r * r, pValue: 2 * studentTCdf(-Math.abs(t), df) };
}

/** Sizes of the groups of equal values, for the tie corrections. */
function tieGroupSizes(values: readonly number[]): number[] {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.values()].filter((count) => count > 1);
}

/** Var(S) of Kendall's S under no trend, corrected for tied groups (Kendall 1975). */
function kendallVariance(y: readonly number[]): number {
  const n = y.length;
  const term = (t: number) => t * (t - 1) * (2 * t + 5);
  return (term(n) - tieGroupSizes(y).reduce((sum, t) => sum + term(t), 0)) / 18;
}

/** numpy's round: halves go to the even neighbour. */
function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Theil–Sen: the median of all pairwise slopes. The interval is Sen's (1968, eq. 2.6) order
 * statistics of the sorted slopes, picked with numpy's rounding exactly as scipy does, so the ranks
 * (and hence low/high) agree with scipy rather than with a textbook variant. With n = 3 there are
 * only 3 slopes and the 95% interval is [min, max].
 */
export function theilSen(x: readonly number[], y: readonly number[], confidence = 0.95): TheilSenFit {
  assertSeries(x, y);
  assertConfidence(confidence);
  const slopes: number[] = [];
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) slopes.push((y[j]! - y[i]!) / (x[j]! - x[i]!));
  }
  slopes.sort((a, b) => a - b);
  const slope = medianOfSorted(slopes);
  const intercept = medianOfSorted([...y].sort((a, b) => a - b)) - slope * medianOfSorted(x);
  // x is strictly increasing, so only ties in y reduce the variance.
  const sigma = Math.sqrt(kendallVariance(y));
  const z = normalQuantile((1 - confidence) / 2); // negative, as scipy's norm.ppf(alpha/2)
  const count = slopes.length;
  const upperIndex = Math.min(roundHalfToEven((count - z * sigma) / 2), count - 1);
  const lowerIndex = Math.max(roundHalfToEven((count + z * sigma) / 2) - 1, 0);
  return { slope, intercept, low: slopes[lowerIndex]!, high: slopes[upperIndex]! };
}

/**
 * Mann–Kendall test on a series in time order. When every value is tied Var(S) = 0 and S = 0;
 * z = 0 and p = 1 then, as in pymannkendall. p is 2·Φ(−|z|) rather than 2·(1 − Φ(|z|)), which is
 * the same number without the cancellation for large |z|.
 */
export function mannKendall(y: readonly number[]): MannKendall {
  if (y.length < 3) throw new RangeError("a trend needs at least 3 points");
  assertFinite(y, "y");
  const n = y.length;
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) s += Math.sign(y[j]! - y[i]!);
  }
  const varS = kendallVariance(y);
  const z = s === 0 ? 0 : (s - Math.sign(s)) / Math.sqrt(varS);
  return { s, varS, z, pValue: 2 * normalCdf(-Math.abs(z)), tau: s / ((n * (n - 1)) / 2) };
}
