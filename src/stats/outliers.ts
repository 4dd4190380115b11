import { median } from "simple-statistics";
import { quantileType7, sortAscending } from "./quantiles";

export type OutlierMethod = "modified_z" | "tukey";

/** Iglewicz–Hoaglin cut-off for |M|. */
const MODIFIED_Z_THRESHOLD = 3.5;
const TUKEY_K = 1.5;

/**
 * Modified z-scores M = 0.6745·(x − median)/MAD. When more than half the values are equal MAD is
 * 0, so we fall back to the mean absolute deviation, M = (x − median)/(1.253314·MeanAD), as IBM's
 * SPSS does; when that is 0 too, every value equals the median and no score is extreme.
 */
export function modifiedZScores(values: readonly number[]): number[] {
  if (values.length === 0) return [];
  const center = median(values as number[]);
  const deviations = values.map((x) => Math.abs(x - center));
  const mad = median(deviations);
  if (mad > 0) return values.map((x) => (0.6745 * (x - center)) / mad);
  const meanAbsoluteDeviation = deviations.reduce((sum, d) => sum + d, 0) / deviations.length;
  if (meanAbsoluteDeviation === 0) return values.map(() => 0);
  return values.map((x) => (x - center) / (1.253314 * meanAbsoluteDeviation));
}

export function tukeyFences(values: readonly number[], k = TUKEY_K): { lower: number; upper: number } {
  const sorted = sortAscending(values);
  const q1 = quantileType7(sorted, 0.25);
  const q3 = quantileType7(sorted, 0.75);
  const iqr = q3 - q1;
  return { lower: q1 - k * iqr, upper: q3 + k * iqr };
}

/** One flag per value, true where the value is an outlier under `method`. */
export function flagOutliers(values: readonly number[], method: OutlierMethod): boolean[] {
  if (values.length === 0) return [];
  if (method === "tukey") {
    const { lower, upper } = tukeyFences(values);
    return values.map((x) => x < lower || x > upper);
  }
  return modifiedZScores(values).map((m) => Math.abs(m) > MODIFIED_Z_THRESHOLD);
}
