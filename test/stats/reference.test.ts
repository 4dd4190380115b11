import { describe, expect, it } from "vitest";
import {
  describe as describeSample,
  flagOutliers,
  modifiedZScores,
  PooledCdf,
  percentileRank,
  poolSources,
  quantileType7,
  type SourceQuantiles,
  sortAscending,
  tukeyFences,
} from "../../src/stats";
import reference from "../fixtures/stats-reference.json";

/** Relative tolerance against numpy/scipy references (see scripts/make-stats-fixtures.py). */
function expectClose(actual: number | null, expected: number, tolerance = 1e-9) {
  expect(actual).not.toBeNull();
  const scale = Math.max(1, Math.abs(expected));
  expect(Math.abs((actual as number) - expected)).toBeLessThanOrEqual(tolerance * scale);
}

describe("type-7 quantiles match numpy.quantile(method='linear')", () => {
  for (const c of reference.quantiles) {
    it(c.name, () => {
      const sorted = sortAscending(c.values);
      c.probs.forEach((p, i) => {
        expectClose(quantileType7(sorted, p), c.expected[i]!);
      });
    });
  }
});

describe("percentile rank matches scipy percentileofscore(kind='mean')", () => {
  for (const c of reference.percentileRank) {
    it(c.name, () => expectClose(percentileRank(c.values, c.score), c.expected));
  }
});

describe("modified z-scores match the Iglewicz–Hoaglin reference", () => {
  for (const c of reference.modifiedZ) {
    it(c.name, () => {
      modifiedZScores(c.values).forEach((m, i) => {
        expectClose(m, c.expectedScores[i]!);
      });
      expect(flagOutliers(c.values, "modified_z")).toEqual(c.expectedMask);
    });
  }
});

describe("Tukey fences match numpy quartiles", () => {
  for (const c of reference.tukey) {
    it(c.name, () => {
      const fences = tukeyFences(c.values, c.k);
      expectClose(fences.lower, c.expectedLower);
      expectClose(fences.upper, c.expectedUpper);
      if (c.k === 1.5) expect(flagOutliers(c.values, "tukey")).toEqual(c.expectedMask);
    });
  }
});

describe("descriptive statistics match numpy and scipy", () => {
  for (const c of reference.descriptive) {
    it(c.name, () => {
      const d = describeSample(c.values);
      expect(d.n).toBe(c.expected.n);
      expectClose(d.mean, c.expected.mean);
      expectClose(d.sd, c.expected.sd);
      expectClose(d.median, c.expected.median);
      expectClose(d.iqr, c.expected.iqr);
      expectClose(d.skewness, c.expected.skewness);
    });
  }
});

describe("pooling matches the brentq-inverted mixture reference", () => {
  for (const c of reference.pooling) {
    it(c.name, () => {
      const sources = c.sources.map((s) => ({ n: s.n, ...s.quantiles }) as SourceQuantiles);
      const cdf = new PooledCdf(sources);
      for (const point of c.cdf) expectClose(cdf.cdf(point.x), point.expected, 1e-12);
      const pooled = poolSources(sources);
      for (const key of ["p10", "p25", "p50", "p75", "p90"] as const) {
        expectClose(pooled[key], c.expectedQuantiles[key]);
      }
      expect(pooled.n).toBe(c.sources.reduce((sum, s) => sum + s.n, 0));
    });
  }
});
