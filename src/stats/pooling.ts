import { type FiveQuantiles, QUANTILE_KEYS, QUANTILE_LEVELS } from "./quantiles";

/** What one source contributes to a pool: its size and published quantiles (p10/p90 optional). */
export interface SourceQuantiles {
  n: number;
  p10?: number | null;
  p25: number;
  p50: number;
  p75: number;
  p90?: number | null;
}

export type PoolMethod = "single_source" | "cdf_mixture";

export interface PooledDistribution extends FiveQuantiles {
  n: number;
  method: PoolMethod;
}

/** A piecewise-linear CDF given by knots (x, F(x)); x is non-decreasing, equal x marks a jump. */
interface Knots {
  xs: number[];
  ps: number[];
}

/**
 * The source's CDF: linear through its quantile points, and beyond the outermost points the
 * adjacent segment is extended until the CDF reaches 0 (below) or 1 (above).
 */
export function sourceCdfKnots(source: SourceQuantiles): Knots {
  const xs: number[] = [];
  const ps: number[] = [];
  for (const key of QUANTILE_KEYS) {
    const x = source[key];
    if (x === null || x === undefined) continue;
    if (!Number.isFinite(x)) throw new RangeError(`${key} is not a finite number`);
    const previous = xs.at(-1);
    if (previous !== undefined && x < previous) throw new RangeError(`quantiles decrease at ${key}`);
    xs.push(x);
    ps.push(QUANTILE_LEVELS[key]);
  }
  const k = xs.length - 1;
  const [x1, x2, p1, p2] = [xs[0]!, xs[1]!, ps[0]!, ps[1]!];
  const [xm, xk, pm, pk] = [xs[k - 1]!, xs[k]!, ps[k - 1]!, ps[k]!];
  // A vertical adjacent segment extends as a vertical line: the tail collapses onto the point.
  const lowerEnd = x2 > x1 ? x1 - (p1 * (x2 - x1)) / (p2 - p1) : x1;
  const upperEnd = xk > xm ? xk + ((1 - pk) * (xk - xm)) / (pk - pm) : xk;
  return { xs: [lowerEnd, ...xs, upperEnd], ps: [0, ...ps, 1] };
}

/** F(v+), the right limit; exact at knots. */
function rightLimit({ xs, ps }: Knots, v: number): number {
  if (v < xs[0]!) return 0;
  let j = xs.length - 1;
  while (xs[j]! > v) j--;
  if (xs[j] === v || j === xs.length - 1) return ps[j]!;
  return interpolate(xs[j]!, ps[j]!, xs[j + 1]!, ps[j + 1]!, v);
}

/** F(v−), the left limit; exact at knots. */
function leftLimit({ xs, ps }: Knots, v: number): number {
  if (v <= xs[0]!) return 0;
  let j = 0;
  while (j < xs.length && xs[j]! < v) j++;
  if (j === xs.length) return 1;
  if (xs[j] === v) return ps[j]!;
  return interpolate(xs[j - 1]!, ps[j - 1]!, xs[j]!, ps[j]!, v);
}

function interpolate(x0: number, p0: number, x1: number, p1: number, v: number): number {
  return p0 + ((v - x0) / (x1 - x0)) * (p1 - p0);
}

/**
 * The n-weighted mixture of source CDFs. It is piecewise linear with breakpoints at the union of
 * the sources' knots, so quantiles are found by exact inversion on those breakpoints: bisection
 * would only approximate the same root.
 */
export class PooledCdf {
  readonly n: number;
  private readonly components: { weight: number; knots: Knots }[];
  private readonly breakpoints: number[];

  constructor(sources: readonly SourceQuantiles[]) {
    if (sources.length === 0) throw new RangeError("pooling needs at least one source");
    for (const s of sources) {
      if (!(Number.isFinite(s.n) && s.n > 0)) throw new RangeError("every source needs n > 0");
    }
    this.n = sources.reduce((total, s) => total + s.n, 0);
    this.components = sources.map((s) => ({ weight: s.n / this.n, knots: sourceCdfKnots(s) }));
    const all = this.components.flatMap((c) => c.knots.xs);
    this.breakpoints = [...new Set(all)].sort((a, b) => a - b);
  }

  private mix(limit: (knots: Knots, v: number) => number, v: number): number {
    if (this.components.length === 1) return limit(this.components[0]!.knots, v);
    let total = 0;
    for (const c of this.components) total += c.weight * limit(c.knots, v);
    return total;
  }

  /** F(v), taking the midpoint of a jump so a point mass ranks like scipy's kind="mean". */
  cdf(v: number): number {
    const right = this.mix(rightLimit, v);
    const left = this.mix(leftLimit, v);
    return left === right ? right : (left + right) / 2;
  }

  /** The smallest x with F(x) ≥ p. */
  quantile(p: number): number {
    if (!(p >= 0 && p <= 1)) throw new RangeError("probability must lie in [0, 1]");
    const b = this.breakpoints;
    let previous = b[0]!;
    let previousValue = this.mix(rightLimit, previous);
    if (previousValue >= p) return previous;
    for (let k = 1; k < b.length; k++) {
      const x = b[k]!;
      const before = this.mix(leftLimit, x);
      if (before >= p) {
        if (before === p) return x;
        return previous + ((p - previousValue) / (before - previousValue)) * (x - previous);
      }
      const at = this.mix(rightLimit, x);
      if (at >= p) return x;
      previous = x;
      previousValue = at;
    }
    return b.at(-1)!;
  }
}

export function poolSources(sources: readonly SourceQuantiles[]): PooledDistribution {
  const cdf = new PooledCdf(sources);
  return {
    n: cdf.n,
    p10: cdf.quantile(0.1),
    p25: cdf.quantile(0.25),
    p50: cdf.quantile(0.5),
    p75: cdf.quantile(0.75),
    p90: cdf.quantile(0.9),
    method: sources.length === 1 ? "single_source" : "cdf_mixture",
  };
}
