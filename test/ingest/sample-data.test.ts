import { beforeAll, describe, expect, it } from "vitest";
import { generateSampleData, type SampleData } from "../../scripts/sample-data/generate";
import { loadCatalogue } from "../../src/db/queries";
import type { Catalogue } from "../../src/domain/catalogue";
import { validateSurveyRow } from "../../src/ingest/validation";
import { poolSources } from "../../src/stats";
import { loadPanelCsv, type PanelLoad } from "../helpers/panel-load";
import { db } from "../helpers/seed";

let data: SampleData;
let catalogue: Catalogue;
let panel: PanelLoad;

beforeAll(async () => {
  data = generateSampleData();
  catalogue = await loadCatalogue(db);
  panel = loadPanelCsv(data.panelCsv, catalogue);
});

/** The 2024 median of a cell, pooled over every source the way the API pools them. */
function pooledMedian(metric: string, band: string): number {
  const surveys = data.surveys.filter((s) => s.metric === metric && s.band === band && s.period === "2024");
  const panelCell = panel.summaries.filter(
    (s) => s.metricKey === metric && s.bandKey === band && s.period === "2024",
  );
  return poolSources([...surveys, ...panelCell]).p50;
}

describe("sample data", () => {
  it("is deterministic", () => {
    const again = generateSampleData();
    expect(again.panelCsv).toBe(data.panelCsv);
    expect(again.surveys).toEqual(data.surveys);
  });

  it("has three surveys and a panel, all labelled as sample data", () => {
    expect(data.sources.map((s) => s.kind).sort()).toEqual(["panel", "survey", "survey", "survey"]);
    for (const source of data.sources) expect(source.name).toContain("(sample data)");
  });

  it("publishes valid survey cells for 2019–2025 with n from 30 to 400", () => {
    expect(data.surveys.every((row, i) => validateSurveyRow(row, i + 1, catalogue) === null)).toBe(true);
    expect(Math.min(...data.surveys.map((s) => s.n))).toBeGreaterThanOrEqual(30);
    expect(Math.max(...data.surveys.map((s) => s.n))).toBeLessThanOrEqual(400);
    const years = new Set(["2019", "2020", "2021", "2022", "2023", "2024", "2025"]);
    for (const source of data.sources.filter((s) => s.kind === "survey")) {
      const published = data.surveys.filter((s) => s.sourceId === source.id);
      expect(new Set(published.map((s) => s.period))).toEqual(years);
      expect(published).toHaveLength(catalogue.metrics.length * catalogue.revenueRanges.length * years.size);
    }
  });

  it("has a panel of at least 2,000 companies with every metric every year", () => {
    const companies = new Set(panel.observations.map((o) => o.companyKey));
    expect(companies.size).toBeGreaterThanOrEqual(2000);
    const cells = new Set(panel.observations.map((o) => `${o.metricKey}|${o.period}`));
    expect(cells.size).toBe(catalogue.metrics.length * 7);
    expect(panel.observations.every((o) => o.arr >= 0 && o.industry !== null)).toBe(true);
  });

  it("contains invalid rows that validation rejects, each kind at least twice", () => {
    // A reason starts with the field at fault, as in "period: not a year…", or says "duplicate of line…".
    const kinds = panel.rejections.map((r) => r.reason.split(/[: ]/)[0]);
    const counts = new Map<string, number>();
    for (const kind of kinds) counts.set(kind!, (counts.get(kind!) ?? 0) + 1);
    expect(panel.rejections.length).toBe(21);
    expect([...counts.keys()].sort()).toEqual([
      "arr",
      "company_key",
      "duplicate",
      "metric",
      "period",
      "value",
    ]);
    for (const count of counts.values()) expect(count).toBeGreaterThanOrEqual(2);
  });

  it("contains gross outliers that are flagged and excluded", () => {
    const flagged = panel.observations.filter((o) => o.isOutlier);
    expect(flagged.some((o) => o.metricKey === "arr_growth" && o.value >= 850)).toBe(true);
    expect(flagged.some((o) => o.metricKey === "burn_multiple" && o.value >= 45)).toBe(true);
  });

  it.each([
    ["arr_growth", "0-1M", 60, 75],
    ["arr_growth", "1M-5M", 40, 50],
    ["arr_growth", "20M-50M", 28, 37],
    ["arr_growth", "50M+", 28, 37],
    ["ndr", "5M-20M", 100, 110],
    ["gross_margin", "5M-20M", 70, 78],
    ["cac_payback", "5M-20M", 15, 25],
    ["burn_multiple", "5M-20M", 1.5, 2.5],
  ])("calibrates the 2024 pooled median of %s in %s to [%d, %d]", (metric, band, low, high) => {
    const median = pooledMedian(metric, band);
    expect(median).toBeGreaterThanOrEqual(low);
    expect(median).toBeLessThanOrEqual(high);
  });
});
