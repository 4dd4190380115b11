/** The five quantiles every benchmark cell publishes. */
export const QUANTILE_LEVELS = { p10: 0.1, p25: 0.25, p50: 0.5, p75: 0.75, p90: 0.9 } as const;
export type QuantileKey = keyof typeof QUANTILE_LEVELS;
export const QUANTILE_KEYS = Object.keys(QUANTILE_LEVELS) as QuantileKey[];

export interface FiveQuantiles {
  p10: number;
  p25: number;
  p50: number;
  p75: number;
  p90: number;
}

/** Hyndman–Fan type 7 (numpy's "linear", R's default) on already sorted values. */
export function quantileType7(sorted: readonly number[], probability: number): number {
  requireValues(sorted.length);
  if (!(probability >= 0 && probability <= 1)) {
    throw new RangeError(`quantile probability must be within [0, 1], got ${probability}`);
  }
  return interpolateType7(sorted, probability);
}

export function fiveQuantiles(sorted: readonly number[]): FiveQuantiles {
  return {
    p10: quantileType7(sorted, 0.1),
    p25: quantileType7(sorted, 0.25),
    p50: quantileType7(sorted, 0.5),
    p75: quantileType7(sorted, 0.75),
    p90: quantileType7(sorted, 0.9),
  };
}

const FIVE_PROBABILITIES: readonly number[] = Object.values(QUANTILE_LEVELS);

/**
 * The same five quantiles as `fiveQuantiles(sortAscending(values))`, bit for bit, in expected O(n): only
 * the order statistics type 7 reads are selected (Floyd–Rivest), on a copy, so `values` is left
 * as it was. Values must not be NaN, which has no place in an order (a sort puts it last); and
 * where −0 ties with 0, either may come out.
 */
export function fiveQuantilesUnsorted(values: readonly number[] | Float64Array): FiveQuantiles {
  const n = values.length;
  requireValues(n);
  // set() copies an array straight in; the Float64Array constructor iterates it, over 10× slower in V8.
  const work = new Float64Array(n);
  work.set(values);
  const ranks = type7Ranks(n, FIVE_PROBABILITIES);
  selectRanks(work, ranks, 0, ranks.length - 1, 0, n - 1);
  return {
    p10: interpolateType7(work, 0.1),
    p25: interpolateType7(work, 0.25),
    p50: interpolateType7(work, 0.5),
    p75: interpolateType7(work, 0.75),
    p90: interpolateType7(work, 0.9),
  };
}

/** Numeric ascending sort (typed-array sort compares numbers, not strings). */
export function sortAscending(values: readonly number[]): number[] {
  return Array.from(Float64Array.from(values).sort());
}

function requireValues(n: number): void {
  if (n === 0) throw new RangeError("a quantile needs at least one value");
}

/**
 * Type 7 at h = (n − 1)·p: order statistic ⌊h⌋, moved towards the next one by h's fraction.
 * Shared by the sorted and the selection paths so both round identically; `orderStatistics` only
 * needs the right values at those two positions.
 */
function interpolateType7(orderStatistics: ArrayLike<number>, probability: number): number {
  const h = (orderStatistics.length - 1) * probability;
  const lower = Math.floor(h);
  const fraction = h - lower;
  const below = orderStatistics[lower]!;
  return fraction === 0 ? below : below + fraction * (orderStatistics[lower + 1]! - below);
}

/** Ascending, distinct positions `interpolateType7` reads for these probabilities. */
function type7Ranks(n: number, probabilities: readonly number[]): number[] {
  const ranks = new Set<number>();
  for (const probability of probabilities) {
    const h = (n - 1) * probability;
    const lower = Math.floor(h);
    ranks.add(lower);
    if (h !== lower) ranks.add(lower + 1);
  }
  return [...ranks].sort((a, b) => a - b);
}

/**
 * Puts the order statistics ranks[from..to] in place within work[left..right]. Selecting the
 * middle rank first splits the array there, so each remaining rank is searched only on its side.
 */
function selectRanks(
  work: Float64Array,
  ranks: readonly number[],
  from: number,
  to: number,
  left: number,
  right: number,
): void {
  if (from > to) return;
  const middle = (from + to) >> 1;
  const rank = ranks[middle]!;
  floydRivestSelect(work, rank, left, right);
  selectRanks(work, ranks, from, middle - 1, left, rank - 1);
  selectRanks(work, ranks, middle + 1, to, rank + 1, right);
}

/** Ranges above this size first select within a sample, to pick a pivot close to the k-th value. */
const SAMPLING_THRESHOLD = 600;

/**
 * Floyd–Rivest selection: afterwards work[k] holds the k-th smallest of work[left..right], with
 * nothing larger before it and nothing smaller after it. Expected ~n + min(k, n − k) comparisons.
 */
function floydRivestSelect(work: Float64Array, k: number, left: number, right: number): void {
  while (right > left) {
    if (right - left > SAMPLING_THRESHOLD) {
      const size = right - left + 1;
      const offset = k - left + 1;
      const logSize = Math.log(size);
      const sampleSize = 0.5 * Math.exp((2 * logSize) / 3);
      const spread =
        0.5 * Math.sqrt((logSize * sampleSize * (size - sampleSize)) / size) * (offset < size / 2 ? -1 : 1);
      const sampleLeft = Math.max(left, Math.floor(k - (offset * sampleSize) / size + spread));
      const sampleRight = Math.min(right, Math.floor(k + ((size - offset) * sampleSize) / size + spread));
      floydRivestSelect(work, k, sampleLeft, sampleRight);
    }
    // Hoare partition around the k-th value's current occupant.
    const pivot = work[k]!;
    let i = left;
    let j = right;
    swap(work, left, k);
    if (work[right]! > pivot) swap(work, left, right);
    while (i < j) {
      swap(work, i, j);
      i++;
      j--;
      while (work[i]! < pivot) i++;
      while (work[j]! > pivot) j--;
    }
    if (work[left] === pivot) swap(work, left, j);
    else {
      j++;
      swap(work, j, right);
    }
    if (j <= k) left = j + 1;
    if (k <= j) right = j - 1;
  }
}

function swap(work: Float64Array, a: number, b: number): void {
  const held = work[a]!;
  work[a] = work[b]!;
  work[b] = held;
}
