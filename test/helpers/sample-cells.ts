import { summarizePanel } from "../../src/stats";
import reference from "../fixtures/stats-reference.json";
import type { ObservationInput, SourceRow, SummaryInput } from "./seed";

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
export const PANEL_MEDIAN_INTERVAL = { medianLow: 14, medianHigh: 26 };

/**
 * Gamma's panel rows for ndr in 2024: 20 fintech companies with values 100…119 (ARR 1.0M…2.9M),
 * one fintech outlier at 290 (flagged, as the recompute of its band flags it), 10 devtools
 * companies with values 80…89 (1.0M…1.9M), and 3 healthtech companies (1.5M).
 *
 * For k = 5 the grid step [1M, 2M) holds 23 kept companies (10 fintech, 10 devtools, 3
 * healthtech) and [2M, 3M) 10 fintech: both steps may be shown. Within [1M, 2M) healthtech is
 * too small, and all industries but one shown would give its 3 away, so devtools (the first of
 * the two smallest) is withheld with it: fintech's 20 stay whole.
 */
export const TEST_OBSERVATIONS: ObservationInput[] = [
  ...Array.from({ length: 20 }, (_, i) => panelRow(`fin_${i}`, 1_000_000 + i * 100_000, "fintech", 100 + i)),
  { ...panelRow("fin_outlier", 1_550_000, "fintech", 290), isOutlier: true },
  ...Array.from({ length: 10 }, (_, i) => panelRow(`dev_${i}`, 1_000_000 + i * 100_000, "devtools", 80 + i)),
  ...Array.from({ length: 3 }, (_, i) => panelRow(`health_${i}`, 1_500_000, "healthtech", 95 + i)),
  // Outside the 1M–3M range, so never in those peer groups; alone in its band, so never shown to
  // anyone but an admin.
  panelRow("fin_big", 40_000_000, "fintech", 125),
];

/**
 * arr_growth/1M-5M/2024 pools alpha (all five quantiles) with beta (quartiles only);
 * arr_growth/1M-5M/2025 is gamma's panel alone; cac_payback is lower-is-better;
 * logo_churn's peer group is too small to show; in grr/1M-5M/2024 gamma disagrees with the others;
 * ndr/2024 is gamma's panel rows, summarized.
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
    ...PANEL_MEDIAN_INTERVAL,
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
  {
    sourceId: "alpha",
    metricKey: "grr",
    bandKey: "1M-5M",
    period: "2024",
    n: 150,
    p10: 85,
    p25: 88,
    p50: 90,
    p75: 92,
    p90: 95,
  },
  { sourceId: "beta", metricKey: "grr", bandKey: "1M-5M", period: "2024", n: 250, p25: 88, p50: 91, p75: 93 },
  {
    sourceId: "gamma",
    metricKey: "grr",
    bandKey: "1M-5M",
    period: "2024",
    n: 100,
    p10: 60,
    p25: 65,
    p50: 70,
    p75: 75,
    p90: 80,
  },
  // The aggregates recompute writes for gamma's panel cells (below): peer groups show a band only
  // when its summary matches its rows, and find their latest period through it.
  gammaSummary("1M-5M"),
  gammaSummary("20M-50M"),
];

/** What recompute writes for one band of gamma's panel, computed the way it computes it. */
function gammaSummary(bandKey: string): SummaryInput {
  const rows = TEST_OBSERVATIONS.filter((row) => row.bandKey === bandKey);
  const { outlierFlags, ...summary } = summarizePanel(
    rows.map((row) => row.value),
    "modified_z",
  )!;
  // The fixture's flags are those recompute sets.
  if (!outlierFlags.every((flagged, i) => flagged === Boolean(rows[i]!.isOutlier))) {
    throw new Error(`gamma's ${bandKey} flags differ from what recompute would set`);
  }
  return { sourceId: "gamma", metricKey: "ndr", bandKey, period: "2024", ...summary };
}

function panelRow(companyKey: string, arr: number, industry: string, value: number): ObservationInput {
  const bandKey = arr < 1_000_000 ? "0-1M" : arr < 5_000_000 ? "1M-5M" : "20M-50M";
  return { sourceId: "gamma", metricKey: "ndr", period: "2024", companyKey, arr, industry, value, bandKey };
}
