import reference from "../fixtures/stats-reference.json";
import type { SourceRow, SummaryInput } from "./seed";

/** Fixture pooling cases by name; their expected values come from scipy (scripts/make-stats-fixtures.py). */
export function poolingCase(name: string) {
  const found = reference.pooling.find((c) => c.name === name);
  if (!found) throw new Error(`no pooling fixture named ${name}`);
  return found;
}

export const MIXED = poolingCase("one source without p10/p90 mixed with one having them");
export const SINGLE = poolingCase("single source, all five quantiles");

const [quartilesOnly, fullQuantiles] = MIXED.sources as [
  { n: number; quantiles: { p25: number; p50: number; p75: number } },
  { n: number; quantiles: { p10: number; p25: number; p50: number; p75: number; p90: number } },
];
const single = SINGLE.sources[0]!;

export const TEST_SOURCES: SourceRow[] = [
  { id: "alpha", name: "Alpha Survey", kind: "survey", lastUpdated: "2026-01-15T00:00:00.000Z" },
  { id: "beta", name: "Beta Survey", kind: "survey", lastUpdated: "2026-02-01T00:00:00.000Z" },
  { id: "gamma", name: "Gamma Panel", kind: "panel", lastUpdated: "2026-03-01T00:00:00.000Z" },
  { id: "retired", name: "Retired Survey", kind: "survey", active: false, lastUpdated: null },
];

export const PANEL_MOMENTS = { mean: 27.5, sd: 21.25, skewness: 1.125, outliersExcluded: 3 };

/**
 * arr_growth/1M-5M/2024 pools alpha (all five quantiles) with beta (quartiles only);
 * arr_growth/1M-5M/2025 is gamma's panel alone; cac_payback is lower-is-better;
 * logo_churn's peer group is too small to show.
 */
export const TEST_SUMMARIES: SummaryInput[] = [
  {
    sourceId: "alpha",
    metricKey: "arr_growth",
    bandKey: "1M-5M",
    period: "2024",
    n: fullQuantiles.n,
    ...fullQuantiles.quantiles,
  },
  {
    sourceId: "beta",
    metricKey: "arr_growth",
    bandKey: "1M-5M",
    period: "2024",
    n: quartilesOnly.n,
    ...quartilesOnly.quantiles,
  },
  {
    sourceId: "retired",
    metricKey: "arr_growth",
    bandKey: "1M-5M",
    period: "2024",
    n: 999,
    p10: 1,
    p25: 2,
    p50: 3,
    p75: 4,
    p90: 5,
  },
  {
    sourceId: "gamma",
    metricKey: "arr_growth",
    bandKey: "1M-5M",
    period: "2025",
    n: single.n,
    ...single.quantiles,
    ...PANEL_MOMENTS,
  },
  {
    sourceId: "alpha",
    metricKey: "cac_payback",
    bandKey: "1M-5M",
    period: "2024",
    n: 150,
    p10: 10,
    p25: 14,
    p50: 18,
    p75: 24,
    p90: 30,
  },
  {
    sourceId: "alpha",
    metricKey: "logo_churn",
    bandKey: "1M-5M",
    period: "2024",
    n: 4,
    p10: 5,
    p25: 8,
    p50: 10,
    p75: 12,
    p90: 15,
  },
];
