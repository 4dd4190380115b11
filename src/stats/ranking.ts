import type { Direction } from "../domain/catalogue";

export type Tier = "bottom_quartile" | "below_median" | "above_median" | "top_quartile" | "top_decile";

/** Position turned into performance: for lower-is-better metrics a low position is good. */
export function performancePercentile(percentile: number, direction: Direction): number {
  return direction === "higher_is_better" ? percentile : 100 - percentile;
}

/** 1 is the bottom quartile, 4 the top. */
export function quartileOf(performance: number): 1 | 2 | 3 | 4 {
  if (performance < 25) return 1;
  if (performance < 50) return 2;
  if (performance < 75) return 3;
  return 4;
}

export function tierOf(performance: number): Tier {
  if (performance < 25) return "bottom_quartile";
  if (performance < 50) return "below_median";
  if (performance < 75) return "above_median";
  if (performance < 90) return "top_quartile";
  return "top_decile";
}
