import { describe, expect, it } from "vitest";
import { PooledCdf, poolSources, sourceCdfKnots } from "../../src/stats";

describe("source CDF knots", () => {
  it("extend the outer segments linearly to 0 and 1", () => {
    const knots = sourceCdfKnots({ n: 10, p10: 5, p25: 12, p50: 20, p75: 35, p90: 60 });
    expect(knots.ps).toEqual([0, 0.1, 0.25, 0.5, 0.75, 0.9, 1]);
    const expected = [5 - (0.1 * 7) / 0.15, 5, 12, 20, 35, 60, 60 + (0.1 * 25) / 0.15];
    knots.xs.forEach((x, i) => {
      expect(x).toBeCloseTo(expected[i]!, 12);
    });
  });

  it("collapse a tail onto the point when the adjacent segment is vertical", () => {
    const knots = sourceCdfKnots({ n: 10, p10: 0, p25: 0, p50: 4, p75: 8, p90: 8 });
    expect(knots.xs[0]).toBe(0);
    expect(knots.xs.at(-1)).toBe(8);
  });

  it("reject decreasing quantiles and non-finite values", () => {
    expect(() => sourceCdfKnots({ n: 10, p25: 5, p50: 4, p75: 6 })).toThrow(/decrease/);
    expect(() => sourceCdfKnots({ n: 10, p25: 5, p50: Number.NaN, p75: 6 })).toThrow(/finite/);
  });
});

describe("pooled CDF", () => {
  it("ranks a point mass at its midpoint, like percentileofscore(kind='mean')", () => {
    // Every company reports exactly 100: the CDF jumps from 0 to 1 at 100.
    const cdf = new PooledCdf([{ n: 50, p10: 100, p25: 100, p50: 100, p75: 100, p90: 100 }]);
    expect(cdf.cdf(99.999)).toBe(0);
    expect(cdf.cdf(100)).toBe(0.5);
    expect(cdf.cdf(100.001)).toBe(1);
    expect(cdf.quantile(0.5)).toBe(100);
  });

  it("weights sources by n", () => {
    const cdf = new PooledCdf([
      { n: 300, p10: 0, p25: 1, p50: 2, p75: 3, p90: 4 },
      { n: 100, p10: 10, p25: 11, p50: 12, p75: 13, p90: 14 },
    ]);
    // At 2 the first source is at 0.5 and the second at 0.
    expect(cdf.cdf(2)).toBe(0.375);
    expect(cdf.cdf(12)).toBe(0.875);
    // A gap between the supports is flat; the smallest x reaching p is returned.
    expect(cdf.quantile(0.75)).toBeCloseTo(4 + (0.1 * 1) / 0.15, 12);
  });

  it("reproduces a single source's published quantiles bit for bit", () => {
    const source = { n: 37, p10: 0.1, p25: 0.3, p50: 0.7, p75: 1.1, p90: 1.7 };
    expect(poolSources([source])).toEqual({ ...source, method: "single_source" });
  });

  it("refuses empty pools and non-positive n", () => {
    expect(() => poolSources([])).toThrow(RangeError);
    expect(() => poolSources([{ n: 0, p25: 1, p50: 2, p75: 3 }])).toThrow(RangeError);
  });
});
