import { binomialCdf, normalQuantile } from "./distributions";

export interface Interval {
  low: number;
  high: number;
}

interface MedianInterval extends Interval {
  /** 1-based rank of `low` in the sorted sample. */
  lowerRank: number;
  /** 1-based rank of `high`; always n + 1 − lowerRank. */
  upperRank: number;
  /** The exact coverage 1 − 2·P(X ≤ lowerRank − 1), X ~ Bin(n, ½); at least the requested confidence. */
  coverage: number;
}

function assertConfidence(confidence: number): void {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError("confidence must lie in (0, 1)");
}

/**
 * Wilson score interval for a proportion p̂ (0..1, may come from a half-integer count) out of n
 * trials; z = normal quantile of (1+confidence)/2. Written as in scipy's binomtest(...).proportion_ci
 * (method="wilson"); the ends are clamped to [0, 1] and are exactly 0 / 1 at p̂ = 0 / 1, where the
 * formula would only reach them up to rounding.
 */
export function wilsonInterval(proportion: number, n: number, confidence = 0.95): Interval {
  if (!(proportion >= 0 && proportion <= 1)) throw new RangeError("proportion must lie in [0, 1]");
  if (!(n > 0 && Number.isFinite(n))) throw new RangeError("n must be finite and > 0");
  assertConfidence(confidence);
  const z = normalQuantile(0.5 + 0.5 * confidence);
  const denominator = 2 * (n + z * z);
  const center = (2 * n * proportion + z * z) / denominator;
  const halfWidth = (z / denominator) * Math.sqrt(4 * n * proportion * (1 - proportion) + z * z);
  return {
    low: proportion === 0 ? 0 : Math.max(0, center - halfWidth),
    high: proportion === 1 ? 1 : Math.min(1, center + halfWidth),
  };
}

/**
 * Distribution-free CI for the median from order statistics: the number of values below the
 * median is Bin(n, ½), so [x_(l), x_(n+1−l)] covers it with probability 1 − 2·P(X ≤ l − 1). We take
 * the largest (narrowest) l whose coverage is still ≥ confidence. Returns null when even l = 1 falls
 * short (n < 6 at 95%), including for an empty sample. `sorted` must be ascending.
 */
export function medianInterval(sorted: readonly number[], confidence = 0.95): MedianInterval | null {
  assertConfidence(confidence);
  for (let i = 0; i < sorted.length; i++) {
    if (!Number.isFinite(sorted[i])) throw new RangeError("values must be finite numbers");
    if (i > 0 && sorted[i]! < sorted[i - 1]!) throw new RangeError("values must be sorted ascending");
  }
  const n = sorted.length;
  const tailBudget = (1 - confidence) / 2;
  const lowerTail = (rank: number) => binomialCdf(rank - 1, n, 0.5);
  if (n === 0 || lowerTail(1) > tailBudget) return null;
  // lowerTail grows with the rank and exceeds ½ past the middle, so bisect on [1, ⌊(n+1)/2⌋].
  let lowerRank = 1;
  let firstFailing = Math.floor((n + 1) / 2) + 1;
  while (firstFailing - lowerRank > 1) {
    const middle = (lowerRank + firstFailing) >> 1;
    if (lowerTail(middle) <= tailBudget) lowerRank = middle;
    else firstFailing = middle;
  }
  const upperRank = n + 1 - lowerRank;
  return {
    low: sorted[lowerRank - 1]!,
    high: sorted[upperRank - 1]!,
    lowerRank,
    upperRank,
    coverage: 1 - 2 * lowerTail(lowerRank),
  };
}
