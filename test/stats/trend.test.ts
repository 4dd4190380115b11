import { describe, expect, it } from "vitest";
import { mannKendall, olsFit, theilSen } from "../../src/stats";
import reference from "../fixtures/stats-reference.json";

/** Relative tolerance against numpy/scipy references (see scripts/make-stats-fixtures.py). */
function expectClose(actual: number, expected: number, tolerance = 1e-9) {
  const scale = Math.max(1, Math.abs(expected));
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance * scale);
}

/** For small p-values the absolute check above says nothing; these must agree relatively too. */
function expectRelative(actual: number, expected: number, tolerance = 1e-9) {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance * Math.abs(expected));
}

describe("olsFit matches scipy.stats.linregress", () => {
  for (const c of reference.ols) {
    it(c.name, () => {
      const fit = olsFit(c.x, c.y);
      expectClose(fit.slope, c.expected.slope);
      expectClose(fit.intercept, c.expected.intercept);
      expectClose(fit.r2, c.expected.r2);
      expectClose(fit.pValue, c.expected.pValue);
      // scipy adds 1e-20 to 1 ∓ r, which only matters for (near-)perfect fits.
      if (c.expected.r2 < 1 - 1e-6) expectRelative(fit.pValue, c.expected.pValue);
    });
  }
});

describe("theilSen matches scipy.stats.theilslopes", () => {
  for (const c of reference.theilSen) {
    it(c.name, () => {
      const fit = theilSen(c.x, c.y);
      expectClose(fit.slope, c.expected.slope);
      expectClose(fit.intercept, c.expected.intercept);
      expectClose(fit.low, c.expected.low);
      expectClose(fit.high, c.expected.high);
    });
  }
});

describe("mannKendall matches pymannkendall.original_test", () => {
  for (const c of reference.mannKendall) {
    it(c.name, () => {
      const test = mannKendall(c.y);
      expect(test.s).toBe(c.expected.s);
      expectClose(test.varS, c.expected.varS);
      expectClose(test.z, c.expected.z);
      expectClose(test.pValue, c.expected.pValue);
      expectRelative(test.pValue, c.expected.pValue);
      expectClose(test.tau, c.expected.tau);
    });
  }
});

describe("trend edge cases", () => {
  const years = [2020, 2021, 2022, 2023, 2024];

  it("a constant series has no trend and no NaN", () => {
    const flat = [7, 7, 7, 7, 7];
    expect(olsFit(years, flat)).toEqual({ slope: 0, intercept: 7, r2: 0, pValue: 1 });
    expect(theilSen(years, flat)).toEqual({ slope: 0, intercept: 7, low: 0, high: 0 });
    expect(mannKendall(flat)).toEqual({ s: 0, varS: 0, z: 0, pValue: 1, tau: 0 });
  });

  it("a perfect line has r² = 1 and p = 0", () => {
    const fit = olsFit(years, [1, 3, 5, 7, 9]);
    expect(fit.r2).toBe(1);
    expect(fit.pValue).toBe(0);
    expectClose(fit.slope, 2);
  });

  it("Theil–Sen with n = 3 spans the extreme slopes at 95%", () => {
    const fit = theilSen([2022, 2023, 2024], [10, 11, 15]);
    expect(fit).toEqual({ slope: 2.5, intercept: 11 - 2.5 * 2023, low: 1, high: 4 });
  });

  it("a wider confidence never narrows the Theil–Sen interval", () => {
    const y = [12, 15, 14, 20, 26, 25, 31, 30];
    const x = [2017, 2018, 2019, 2020, 2021, 2022, 2023, 2024];
    const narrow = theilSen(x, y, 0.8);
    const wide = theilSen(x, y, 0.99);
    expect(wide.low).toBeLessThanOrEqual(narrow.low);
    expect(wide.high).toBeGreaterThanOrEqual(narrow.high);
  });

  it("rejects bad input with RangeError", () => {
    expect(() => olsFit([2020, 2021], [1, 2])).toThrow(RangeError);
    expect(() => theilSen([2020, 2021, 2022], [1, 2])).toThrow(RangeError);
    expect(() => olsFit([2020, 2021, Number.NaN], [1, 2, 3])).toThrow(RangeError);
    expect(() => olsFit([2020, 2021, 2022], [1, Number.POSITIVE_INFINITY, 3])).toThrow(RangeError);
    expect(() => theilSen([2020, 2022, 2021], [1, 2, 3])).toThrow(RangeError);
    expect(() => olsFit([2020, 2020, 2021], [1, 2, 3])).toThrow(RangeError);
    expect(() => theilSen(years, [1, 2, 3, 4, 5], 1)).toThrow(RangeError);
    expect(() => mannKendall([1, 2])).toThrow(RangeError);
    expect(() => mannKendall([1, 2, Number.NaN])).toThrow(RangeError);
  });
});
