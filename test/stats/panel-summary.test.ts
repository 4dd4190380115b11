import { describe, expect, it } from "vitest";
import { summarizePanel } from "../../src/stats";

describe("panel summary", () => {
  it("excludes modified-z outliers, then takes type-7 quantiles and moments of the rest", () => {
    const summary = summarizePanel([100, 1, 2, 3, 4, 5, 6, 7, 8, 9], "modified_z");
    expect(summary).toEqual({
      n: 9,
      outliersExcluded: 1,
      p10: 1.8,
      p25: 3,
      p50: 5,
      p75: 7,
      p90: 8.2,
      mean: 5,
      sd: Math.sqrt(7.5),
      skewness: 0,
      // Bin(9, ½): P(X ≤ 1) = 10/512 ≤ 0.025 < P(X ≤ 2), so order statistics 2 and 8.
      medianLow: 2,
      medianHigh: 8,
      outlierFlags: [true, false, false, false, false, false, false, false, false, false],
    });
  });

  it("uses Tukey fences when the metric asks for them", () => {
    // q1 = 3.25, q3 = 7.75, so the fences are −3.5 and 14.5.
    const values = [-4, 2, 3, 4, 5, 6, 7, 8, 9, 14.5];
    expect(summarizePanel(values, "tukey")?.outlierFlags).toEqual([
      true,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it("returns nothing for an empty cell", () => {
    expect(summarizePanel([], "modified_z")).toBeNull();
  });
});
