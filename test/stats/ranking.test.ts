import { describe, expect, it } from "vitest";
import { performancePercentile, quartileOf, tierOf } from "../../src/stats";

describe("performance, quartile and tier", () => {
  it("turn the percentile only for lower-is-better metrics", () => {
    expect(performancePercentile(30, "higher_is_better")).toBe(30);
    expect(performancePercentile(30, "lower_is_better")).toBe(70);
  });

  it.each([
    [0, 1, "bottom_quartile"],
    [24.999, 1, "bottom_quartile"],
    [25, 2, "below_median"],
    [49.999, 2, "below_median"],
    [50, 3, "above_median"],
    [74.999, 3, "above_median"],
    [75, 4, "top_quartile"],
    [89.999, 4, "top_quartile"],
    [90, 4, "top_decile"],
    [100, 4, "top_decile"],
  ])("performance %d is quartile %d, %s", (performance, quartile, tier) => {
    expect(quartileOf(performance)).toBe(quartile);
    expect(tierOf(performance)).toBe(tier);
  });
});
