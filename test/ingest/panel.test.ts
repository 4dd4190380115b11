import { describe, expect, it } from "vitest";
import type { Catalogue } from "../../src/domain/catalogue";
import { validateSurveyRow } from "../../src/ingest/validation";
import { readCsv } from "../helpers/csv";
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
    // Plain decimals only: hex, binary, octal, separators and Infinity are not numbers here.
    "co_2007,ndr,2024,0x1E8480,x,110",
    "co_2008,ndr,2024,2000000,x,0b1100100",
    "co_2009,ndr,2024,2000000,x,0o144",
    "co_2010,ndr,2024,2_000_000,x,110",
    "co_2011,ndr,2024,2000000,x,Infinity",
    "co_2012,ndr,2024,1e13,x,110",
    "co_2013,ndr,2024,2000000,fin\u202etech,110",
  ];
  const load = loadPanelCsv(`${header}\n${rows.join("\n")}\n`, catalogue);

  it("rejects each bad row with its line and reason", () => {
    expect(load.rejections).toEqual([
      { line: 12, reason: "duplicate of line 2 (same company, metric and period)" },
      { line: 13, reason: "company_key: missing or malformed" },
      { line: 14, reason: "metric: unknown metric (8 characters)" },
      { line: 15, reason: "period: not a year or a quarter such as 2024-Q3" },
      { line: 16, reason: "arr: not a number from 0 to 1000000000000" },
      { line: 17, reason: "value: not a finite number" },
      { line: 18, reason: "value: outside ndr's valid range [0, 300]" },
      { line: 20, reason: "industry: longer than 64 characters" },
      { line: 21, reason: "arr: not a number from 0 to 1000000000000" },
      { line: 22, reason: "value: not a finite number" },
      { line: 23, reason: "value: not a finite number" },
      { line: 24, reason: "arr: not a number from 0 to 1000000000000" },
      { line: 25, reason: "value: not a finite number" },
      { line: 26, reason: "arr: not a number from 0 to 1000000000000" },
      { line: 27, reason: "industry: contains control or bidi characters" },
    ]);
  });

  it("reads a decimal with an exponent or surrounding blanks", () => {
    const { observations, rejections } = loadPanelCsv(
      `${header}\nco_3000,ndr,2024,2.5e6,x,1.1E2\nco_3001,ndr,2024, 300000 ,x, +99.5 \n`,
      catalogue,
    );
    expect(rejections).toEqual([]);
    expect(observations.map((o) => [o.arr, o.value])).toEqual([
      [2_500_000, 110],
      [300_000, 99.5],
    ]);
  });

  it("never repeats a cell's text in a reason", () => {
    for (const { reason } of load.rejections) {
      for (const text of ["net_burn", "2024-Q5", "n/a", "301", "0x1E8480", "0b1100100", "Infinity", "iii"]) {
        expect(reason).not.toContain(text);
      }
    }
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
    [{ n: 9 }, "n: must be a whole number from 10 to 10000000"],
    [{ n: 40.5 }, "n: must be a whole number from 10 to 10000000"],
    [{ n: 10_000_000 }, null],
    [{ n: 10_000_001 }, "n: must be a whole number from 10 to 10000000"],
    [{ n: 3e9 }, "n: must be a whole number from 10 to 10000000"],
    [{ n: 1e308 }, "n: must be a whole number from 10 to 10000000"],
    [{ p25: null }, "p25: not a finite number"],
    [{ p90: 301 }, "p90: outside ndr's valid range [0, 300]"],
    [{ band: "huge" }, "band: unknown band (4 characters)"],
    [{ metric: "mrr" }, "metric: unknown metric (3 characters)"],
    [{ period: "2024-Q9" }, "period: not a year or a quarter such as 2024-Q3"],
  ])("%j → %s", (change, reason) => {
    const rejection = validateSurveyRow({ ...row, ...change } as typeof row, 7, catalogue);
    expect(rejection).toEqual(reason === null ? null : { line: 7, reason });
  });
});
