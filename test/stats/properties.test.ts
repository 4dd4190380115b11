import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  describe as describeSample,
  flagOutliers,
  medianInterval,
  normalCdf,
  normalQuantile,
  PooledCdf,
  percentileRank,
  poolSources,
  QUANTILE_KEYS,
  quantileType7,
  type SourceQuantiles,
  sortAscending,
  studentTCdf,
  wilsonInterval,
} from "../../src/stats";

// Enough runs to shake out edge cases while keeping the suite fast.
const RUNS = { numRuns: 200 };

/** Small integers give ties; bounded doubles give everything else. `+ 0` turns −0 into 0. */
const sampleValue = fc
  .oneof(fc.integer({ min: -20, max: 20 }), fc.double({ min: -1e6, max: 1e6, noNaN: true }))
  .map((v) => v + 0);
const sample = fc.array(sampleValue, { minLength: 1, maxLength: 60 });
const probability = fc.double({ min: 0, max: 1, noNaN: true });

/** A sample together with a random permutation of it. */
const sampleAndPermutation = sample.chain((values) =>
  fc.tuple(
    fc.constant(values),
    fc.shuffledSubarray(values, { minLength: values.length, maxLength: values.length }),
  ),
);

/** Published quantiles of one source: strictly increasing, p10/p90 sometimes missing. */
const source: fc.Arbitrary<SourceQuantiles> = fc
  .record({
    n: fc.integer({ min: 1, max: 5000 }),
    start: fc.double({ min: -1000, max: 1000, noNaN: true }).map((v) => v + 0),
    gaps: fc.array(fc.double({ min: 0.01, max: 1000, noNaN: true }), { minLength: 4, maxLength: 4 }),
    withP10: fc.boolean(),
    withP90: fc.boolean(),
  })
  .map(({ n, start, gaps, withP10, withP90 }) => {
    const knots = [start];
    for (const gap of gaps) knots.push(knots.at(-1)! + gap);
    const [p10, p25, p50, p75, p90] = knots;
    return { n, p10: withP10 ? p10 : null, p25: p25!, p50: p50!, p75: p75!, p90: withP90 ? p90 : null };
  });

describe("quantiles and ranks", () => {
  it("type-7 quantiles are monotone in p", () => {
    fc.assert(
      fc.property(sample, probability, probability, (values, a, b) => {
        const sorted = sortAscending(values);
        const [low, high] = a <= b ? [a, b] : [b, a];
        expect(quantileType7(sorted, low)).toBeLessThanOrEqual(quantileType7(sorted, high));
      }),
      RUNS,
    );
  });

  it("percentileRank lies in [0, 100]", () => {
    fc.assert(
      fc.property(sample, fc.double({ noNaN: true }), (values, score) => {
        const rank = percentileRank(values, score);
        expect(rank).toBeGreaterThanOrEqual(0);
        expect(rank).toBeLessThanOrEqual(100);
      }),
      RUNS,
    );
  });

  it("permuting the input changes no quantile, rank, outlier count or description", () => {
    const count = (flags: boolean[]) => flags.filter(Boolean).length;
    fc.assert(
      fc.property(sampleAndPermutation, probability, ([values, permuted], p) => {
        expect(quantileType7(sortAscending(permuted), p)).toBe(quantileType7(sortAscending(values), p));
        const score = values[0]!;
        expect(percentileRank(permuted, score)).toBe(percentileRank(values, score));
        expect(count(flagOutliers(permuted, "tukey"))).toBe(count(flagOutliers(values, "tukey")));
        expect(count(flagOutliers(permuted, "modified_z"))).toBe(count(flagOutliers(values, "modified_z")));
        expect(describeSample(permuted)).toEqual(describeSample(values));
      }),
      RUNS,
    );
  });
});

describe("pooling", () => {
  it("pooling a single source with all five quantiles is the identity", () => {
    const complete = source.filter((s) => s.p10 !== null && s.p90 !== null);
    fc.assert(
      fc.property(complete, (s) => {
        const pooled = poolSources([s]);
        for (const key of QUANTILE_KEYS) expect(pooled[key]).toBe(s[key]);
        expect(pooled.n).toBe(s.n);
      }),
      RUNS,
    );
  });

  it("the pooled CDF inverts its quantile function", () => {
    fc.assert(
      fc.property(
        fc.array(source, { minLength: 1, maxLength: 4 }),
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        (sources, q) => {
          const cdf = new PooledCdf(sources);
          expect(Math.abs(cdf.cdf(cdf.quantile(q)) - q)).toBeLessThanOrEqual(1e-9);
        },
      ),
      RUNS,
    );
  });
});

describe("intervals", () => {
  it("the Wilson interval contains p̂ and lies in [0, 1]", () => {
    const counts = fc.integer({ min: 1, max: 1_000_000 }).chain((n) =>
      fc.tuple(
        fc.constant(n),
        // whole or half counts, as percentile ranks with ties produce
        fc.integer({ min: 0, max: 2 * n }).map((halves) => halves / 2 / n),
      ),
    );
    fc.assert(
      fc.property(counts, fc.double({ min: 0.5, max: 0.999, noNaN: true }), ([n, proportion], confidence) => {
        const { low, high } = wilsonInterval(proportion, n, confidence);
        expect(low).toBeGreaterThanOrEqual(0);
        expect(high).toBeLessThanOrEqual(1);
        expect(low).toBeLessThanOrEqual(proportion);
        expect(high).toBeGreaterThanOrEqual(proportion);
      }),
      RUNS,
    );
  });

  it("the median interval contains the sample median and keeps its promised coverage", () => {
    const confidence = fc.double({ min: 0.5, max: 0.999, noNaN: true });
    fc.assert(
      fc.property(fc.array(sampleValue, { minLength: 1, maxLength: 200 }), confidence, (values, level) => {
        const sorted = sortAscending(values);
        const interval = medianInterval(sorted, level);
        // Even the widest interval [x_(1), x_(n)] misses the median with probability 2^(1−n).
        expect(interval === null).toBe(2 ** (1 - sorted.length) > 1 - level);
        if (interval === null) return;
        const median = quantileType7(sorted, 0.5);
        expect(interval.low).toBeLessThanOrEqual(median);
        expect(interval.high).toBeGreaterThanOrEqual(median);
        expect(interval.lowerRank + interval.upperRank).toBe(sorted.length + 1);
        expect(interval.coverage).toBeGreaterThanOrEqual(level);
      }),
      RUNS,
    );
  });
});

describe("distribution functions", () => {
  it("normalCdf inverts normalQuantile", () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-300, max: 1, maxExcluded: true, noNaN: true }), (p) => {
        expect(Math.abs(normalCdf(normalQuantile(p)) - p)).toBeLessThanOrEqual(1e-12 * p);
      }),
      RUNS,
    );
  });

  it("Student's t CDF is symmetric about 0", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e3, max: 1e3, noNaN: true }),
        fc.integer({ min: 1, max: 200 }),
        (t, df) => {
          expect(Math.abs(studentTCdf(t, df) + studentTCdf(-t, df) - 1)).toBeLessThanOrEqual(1e-14);
        },
      ),
      RUNS,
    );
  });
});
