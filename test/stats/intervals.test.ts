import { describe, expect, it } from "vitest";
import {
  binomialCdf,
  medianInterval,
  normalCdf,
  normalQuantile,
  sortAscending,
  studentTCdf,
  wilsonInterval,
} from "../../src/stats";
import reference from "../fixtures/stats-reference.json";

/** Relative tolerance against numpy/scipy references (see scripts/make-stats-fixtures.py). */
function expectClose(actual: number, expected: number, tolerance = 1e-9) {
  const scale = Math.max(1, Math.abs(expected));
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance * scale);
}

describe("wilsonInterval matches the closed formula and scipy's binomtest", () => {
  for (const c of reference.wilson) {
    it(c.name, () => {
      const interval = wilsonInterval(c.proportion, c.n, c.confidence);
      expectClose(interval.low, c.expected.low);
      expectClose(interval.high, c.expected.high);
    });
  }

  it("is exactly [0, ·] at p̂ = 0 and [·, 1] at p̂ = 1", () => {
    expect(wilsonInterval(0, 10).low).toBe(0);
    expect(wilsonInterval(1, 10).high).toBe(1);
  });

  it("rejects bad input with RangeError", () => {
    expect(() => wilsonInterval(1.2, 10)).toThrow(RangeError);
    expect(() => wilsonInterval(Number.NaN, 10)).toThrow(RangeError);
    expect(() => wilsonInterval(0.5, 0)).toThrow(RangeError);
    expect(() => wilsonInterval(0.5, 10, 0)).toThrow(RangeError);
  });
});

describe("medianInterval matches the binomial order-statistic reference", () => {
  for (const c of reference.medianInterval) {
    it(c.name, () => {
      const interval = medianInterval(sortAscending(c.values), c.confidence);
      if (c.expected === null) {
        expect(interval).toBeNull();
        return;
      }
      expect(interval).not.toBeNull();
      expect(interval!.lowerRank).toBe(c.expected.lowerRank);
      expect(interval!.upperRank).toBe(c.expected.upperRank);
      expect(interval!.low).toBe(c.expected.low);
      expect(interval!.high).toBe(c.expected.high);
      expectClose(interval!.coverage, c.expected.coverage);
    });
  }

  it("needs 6 values at 95% and returns null for an empty sample", () => {
    expect(medianInterval([1, 2, 3, 4, 5])).toBeNull();
    expect(medianInterval([1, 2, 3, 4, 5, 6])).toMatchObject({ lowerRank: 1, upperRank: 6 });
    expect(medianInterval([])).toBeNull();
  });

  it("rejects unsorted or non-finite values and a bad confidence", () => {
    expect(() => medianInterval([1, 3, 2, 4, 5, 6])).toThrow(RangeError);
    expect(() => medianInterval([1, 2, 3, 4, 5, Number.NaN])).toThrow(RangeError);
    expect(() => medianInterval([1, 2, 3, 4, 5, 6], 1.5)).toThrow(RangeError);
  });
});

describe("distribution functions agree with scipy in the tails", () => {
  // Values from scipy 1.10: norm.cdf, norm.ppf, t.cdf, binom.cdf.
  it.each([
    [-1.959963984540054, 0.025],
    [-5, 2.866515718791933e-7],
    [-12, 1.776482112077653e-33],
    [0.3, 0.6179114221889526],
  ])("normalCdf(%d)", (x, expected) => {
    expect(Math.abs(normalCdf(x) - expected)).toBeLessThanOrEqual(1e-13 * expected);
  });

  it("handles infinite arguments", () => {
    expect(normalCdf(Number.NEGATIVE_INFINITY)).toBe(0);
    expect(normalCdf(Number.POSITIVE_INFINITY)).toBe(1);
    expect(normalQuantile(0)).toBe(Number.NEGATIVE_INFINITY);
    expect(studentTCdf(Number.NEGATIVE_INFINITY, 3)).toBe(0);
  });

  it.each([
    [0.975, 1.959963984540054],
    [1e-10, -6.361340902404056],
    [0.5, 0],
  ])("normalQuantile(%d)", (p, expected) => {
    expect(Math.abs(normalQuantile(p) - expected)).toBeLessThanOrEqual(
      1e-14 * Math.max(1, Math.abs(expected)),
    );
  });

  it.each([
    [-2, 5, 0.05096973941492914],
    [-8, 3, 0.0020382887938927333],
    [1.5, 28, 0.9275965909787973],
  ])("studentTCdf(%d, %d)", (t, df, expected) => {
    expect(Math.abs(studentTCdf(t, df) - expected)).toBeLessThanOrEqual(1e-13 * expected);
  });

  it.each([
    [0, 6, 0.015625],
    [468, 1000, 0.023145598680249086],
    [2, 10, 0.0546875],
  ])("binomialCdf(%d, %d, 0.5)", (k, n, expected) => {
    expect(Math.abs(binomialCdf(k, n, 0.5) - expected)).toBeLessThanOrEqual(1e-13 * expected);
  });
});
