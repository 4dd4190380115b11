import { describe, expect, it } from "vitest";
import type { Catalogue } from "../../src/domain/catalogue";
import { readCsv } from "../../src/ingest/csv";
import { validateSurveyRow } from "../../src/ingest/validation";
import { loadPanelCsv } from "../helpers/panel-load";

const catalogue: Catalogue = {
  metrics: [
    {
      key: "ndr",
      name: "Net dollar retention",
      unit: "percent",
      direction: "higher_is_better",
      minValue: 0,
      maxValue: 300,
      definition: "",
      outlierMethod: "modified_z",
    },
  ],
  revenueRanges: [
    { key: "0-1M", minArr: 0, maxArr: 1_000_000 },
    { key: "1M+", minArr: 1_000_000, maxArr: null },
  ],
  sources: [],
};

describe("CSV reader", () => {
  it("handles quotes, escaped quotes, CRLF and embedded newlines, keyed by header", () => {
    const text = 'a,b\r\n1,"x, y"\r\n2,"say ""hi"""\n3,"two\nlines"\n4,\n';
    expect([...readCsv(text)]).toEqual([
      { line: 2, fields: { a: "1", b: "x, y" } },
      { line: 3, fields: { a: "2", b: 'say "hi"' } },
      { line: 4, fields: { a: "3", b: "two\nlines" } },
      { line: 6, fields: { a: "4", b: "" } },
    ]);
  });
});

describe("panel load", () => {
  const header = "company_key,metric,period,arr,industry,value";
  const good = Array.from(
    { length: 9 },
    (_, i) => `co_${1000 + i},ndr,2024,${200_000 + i},fintech,${100 + i}`,
  );
  const rows = [
    ...good,
    "co_9999,ndr,2024,300000,,290", // a gross outlier, still valid
    "co_1000,ndr,2024,200000,fintech,101", // duplicate of line 2
    ",ndr,2024,1,x,100",
    "co_2000,net_burn,2024,1,x,100",
    "co_2001,ndr,2024-Q5,1,x,100",
    "co_2002,ndr,2024,-1,x,100",
    "co_2003,ndr,2024,1,x,n/a",
    "co_2004,ndr,2024,1,x,301",
    "co_2005,ndr,2024,2000000,x,110",
    `co_2006,ndr,2024,2000000,${"i".repeat(65)},110`,
  ];
  const load = loadPanelCsv(`${header}\n${rows.join("\n")}\n`, catalogue);

  it("rejects each bad row with its line and reason", () => {
    expect(load.rejections).toEqual([
      { line: 12, reason: "duplicate of line 2 (same company, metric and period)" },
      { line: 13, reason: "company_key is missing or malformed" },
      { line: 14, reason: 'unknown metric "net_burn"' },
      { line: 15, reason: 'period "2024-Q5" is not a year or a quarter such as 2024-Q3' },
      { line: 16, reason: 'arr "-1" is not a number ≥ 0' },
      { line: 17, reason: 'value "n/a" is not a finite number' },
      { line: 18, reason: "value 301 is outside ndr's valid range [0, 300]" },
      { line: 20, reason: "industry is longer than 64 characters" },
    ]);
  });

  it("bands observations by ARR, flags the outlier and aggregates each cell without it", () => {
    expect(load.observations).toHaveLength(11);
    const outlier = load.observations.find((o) => o.companyKey === "co_9999")!;
    expect(outlier).toMatchObject({ isOutlier: true, bandKey: "0-1M", industry: null });
    expect(load.summaries).toEqual([
      {
        metricKey: "ndr",
        bandKey: "0-1M",
        period: "2024",
        periodOrder: 20245,
        n: 9,
        outliersExcluded: 1,
        p10: 100.8,
        p25: 102,
        p50: 104,
        p75: 106,
        p90: 107.2,
        mean: 104,
        sd: Math.sqrt(7.5),
        skewness: 0,
        medianLow: 101,
        medianHigh: 107,
      },
      expect.objectContaining({ bandKey: "1M+", n: 1, p50: 110, sd: null, skewness: null, medianLow: null }),
    ]);
  });
});

describe("survey validation", () => {
  const row = {
    metric: "ndr",
    band: "0-1M",
    period: "2024",
    n: 40,
    p10: 90,
    p25: 95,
    p50: 100,
    p75: 110,
    p90: 120,
  };
  it.each([
    [{}, null],
    [{ p10: null, p90: null }, null],
    [{ p50: 96, p75: 94 }, "quantiles are not monotone at p75"],
    [{ n: 9 }, "n must be an integer ≥ 10"],
    [{ n: 40.5 }, "n must be an integer ≥ 10"],
    [{ p25: null }, "p25 is not a finite number"],
    [{ p90: 301 }, "p90: value 301 is outside ndr's valid range [0, 300]"],
    [{ band: "huge" }, 'unknown band "huge"'],
    [{ metric: "mrr" }, 'unknown metric "mrr"'],
    [{ period: "2024-Q9" }, 'bad period "2024-Q9"'],
  ])("%j → %s", (change, reason) => {
    const rejection = validateSurveyRow({ ...row, ...change } as typeof row, 7, catalogue);
    expect(rejection).toEqual(reason === null ? null : { line: 7, reason });
  });
});
