import { describe } from "./descriptive";
import { medianInterval } from "./intervals";
import { flagOutliers, type OutlierMethod } from "./outliers";
import { type FiveQuantiles, fiveQuantiles, sortAscending } from "./quantiles";

export interface PanelSummary extends FiveQuantiles {
  /** Values kept after outliers were excluded. */
  n: number;
  outliersExcluded: number;
  mean: number;
  sd: number | null;
  skewness: number | null;
  /** Distribution-free 95% interval for the median; null below 6 values. */
  medianLow: number | null;
  medianHigh: number | null;
  /** One flag per input value, in input order. */
  outlierFlags: boolean[];
}

/** A panel cell's aggregate: outliers flagged and excluded, then type-7 quantiles and moments. */
export function summarizePanel(values: readonly number[], method: OutlierMethod): PanelSummary | null {
  const outlierFlags = flagOutliers(values, method);
  const kept = values.filter((_, i) => !outlierFlags[i]);
  if (kept.length === 0) return null;
  const sorted = sortAscending(kept);
  const moments = describe(sorted);
  const interval = medianInterval(sorted);
  return {
    ...fiveQuantiles(sorted),
    n: sorted.length,
    outliersExcluded: values.length - sorted.length,
    mean: moments.mean,
    sd: moments.sd,
    skewness: moments.skewness,
    medianLow: interval?.low ?? null,
    medianHigh: interval?.high ?? null,
    outlierFlags,
  };
}
