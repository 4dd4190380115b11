import { quantileSorted } from "simple-statistics";

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
  return quantileSorted(sorted as number[], probability);
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

/** Numeric ascending sort (typed-array sort compares numbers, not strings). */
export function sortAscending(values: readonly number[]): number[] {
  return Array.from(Float64Array.from(values).sort());
}
