import { describe, expect, it } from "vitest";
import { Prng } from "../../scripts/sample-data/prng";
import { fiveQuantiles, fiveQuantilesUnsorted, percentileRank, sortAscending } from "../../src/stats";

// Seeded, so a failing case can be reproduced.
const prng = new Prng(20261129);
const random = () => prng.next();

function randomValues(n: number, generate: () => number): number[] {
  return Array.from({ length: n }, generate);
}

/** Sizes below and above the 600 at which selection starts sampling for its pivot. */
const SIZES = [1, 2, 3, 4, 5, 7, 10, 11, 50, 101, 599, 600, 601, 602, 1000, 4999, 20_000];

const DISTRIBUTIONS: Record<string, () => number> = {
  "uniform [0, 1)": () => random(),
  "negative and positive": () => (random() - 0.7) * 1e6,
  "all negative": () => -1 - random() * 50,
  "lognormal-ish, rounded (ties)": () => Math.round(100 * Math.exp(4 * random() - 2)) / 100,
  "five distinct values": () => Math.floor(random() * 5) - 2,
  "two distinct values": () => (random() < 0.9 ? 3.5 : -1),
};

function expectSameAsSorted(values: readonly number[]): void {
  expect(fiveQuantilesUnsorted(values)).toEqual(fiveQuantiles(sortAscending(values)));
}

describe("fiveQuantilesUnsorted equals fiveQuantiles on the sorted values, exactly", () => {
  for (const [name, generate] of Object.entries(DISTRIBUTIONS)) {
    it(name, () => {
      for (const n of SIZES) {
        for (let repeat = 0; repeat < 5; repeat++) expectSameAsSorted(randomValues(n, generate));
      }
    });
  }

  it("n = 1 and n = 2", () => {
    expect(fiveQuantilesUnsorted([-4.25])).toEqual({
      p10: -4.25,
      p25: -4.25,
      p50: -4.25,
      p75: -4.25,
      p90: -4.25,
    });
    expectSameAsSorted([3, 1]);
    expectSameAsSorted([-2.5, -7]);
  });

  it("already ordered, reversed and constant inputs", () => {
    const ascending = Array.from({ length: 5000 }, (_, i) => i / 7);
    expectSameAsSorted(ascending);
    expectSameAsSorted([...ascending].reverse());
    expectSameAsSorted(Array.from({ length: 5000 }, () => 42));
  });

  it("accepts a Float64Array", () => {
    const values = randomValues(3000, DISTRIBUTIONS["negative and positive"]!);
    expect(fiveQuantilesUnsorted(Float64Array.from(values))).toEqual(fiveQuantiles(sortAscending(values)));
  });

  it("leaves its input as it was", () => {
    const values = randomValues(3000, DISTRIBUTIONS["lognormal-ish, rounded (ties)"]!);
    const before = [...values];
    fiveQuantilesUnsorted(values);
    expect(values).toEqual(before);

    const typed = Float64Array.from(values);
    fiveQuantilesUnsorted(typed);
    expect(Array.from(typed)).toEqual(before);
  });

  it("refuses an empty input", () => {
    expect(() => fiveQuantilesUnsorted([])).toThrow(RangeError);
  });
});

describe("percentileRank", () => {
  it("is 100·(#{x<v} + ½·#{x=v})/n exactly, for arrays and Float64Arrays", () => {
    const values = randomValues(2001, DISTRIBUTIONS["five distinct values"]!);
    for (const score of [-3, -2, 0, 0.5, 2, 3]) {
      const below = values.filter((x) => x < score).length;
      const equal = values.filter((x) => x === score).length;
      const expected = (100 * (below + equal / 2)) / values.length;
      expect(percentileRank(values, score)).toBe(expected);
      expect(percentileRank(Float64Array.from(values), score)).toBe(expected);
    }
  });
});
