import { mean, sampleSkewness, sampleStandardDeviation } from "simple-statistics";
import { quantileType7, sortAscending } from "./quantiles";

export interface Descriptive {
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1); null below 2 values. */
  sd: number | null;
  median: number;
  iqr: number;
  /** Adjusted Fisher–Pearson skewness G1 (scipy's skew(bias=False)); null below 3 values. */
  skewness: number | null;
}

export function describe(values: readonly number[]): Descriptive {
  if (values.length === 0) throw new RangeError("describe needs at least one value");
  const sorted = sortAscending(values);
  const n = sorted.length;
  const sd = n >= 2 ? sampleStandardDeviation(sorted) : null;
  return {
    n,
    mean: mean(sorted),
    sd,
    median: quantileType7(sorted, 0.5),
    iqr: quantileType7(sorted, 0.75) - quantileType7(sorted, 0.25),
    // Skewness is undefined for a constant sample (0/0); report it as absent rather than NaN.
    skewness: n >= 3 && sd !== null && sd > 0 ? sampleSkewness(sorted) : null,
  };
}
