import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TimeSeriesResult } from "../../src/service/timeseries";
import reference from "../fixtures/stats-reference.json";
import { tokenFor } from "../helpers/auth";
import { TEST_SOURCES } from "../helpers/sample-cells";
import { call, clearMemoryCache, type SummaryInput, seed } from "../helpers/seed";

function fixture(name: string) {
  const find = <T extends { name: string }>(cases: T[]) => cases.find((c) => c.name === name)!;
  return {
    ols: find(reference.ols),
    theilSen: find(reference.theilSen),
    mannKendall: find(reference.mannKendall),
  };
}

const YEARLY = fixture("ARR growth % 2019-2025");
const QUARTERLY = fixture("quarterly CAC payback months 2022-2024");

/** 2022 → "2022" as a year, "2022-Q1" as a quarter; 2022.25 → "2022-Q2". */
function periodOf(x: number, granularity: "year" | "quarter" = "year"): string {
  const year = Math.floor(x);
  return granularity === "year" ? String(year) : `${year}-Q${(x - year) * 4 + 1}`;
}

/** One source per period with the series value as its median: pooling a single source is exact. */
function series(
  metricKey: string,
  bandKey: string,
  x: number[],
  y: number[],
  { n = 100, granularity = "year" as "year" | "quarter" } = {},
): SummaryInput[] {
  return x.map((xi, i) => ({
    sourceId: "alpha",
    metricKey,
    bandKey,
    period: periodOf(xi, granularity),
    n,
    p25: y[i]! - 2,
    p50: y[i]!,
    p75: y[i]! + 2,
  }));
}

beforeAll(() =>
  seed({
    sources: TEST_SOURCES,
    summaries: [
      ...series("arr_growth", "20M-50M", YEARLY.ols.x, YEARLY.ols.y),
      // A quarter in the same cell: excluded from the annual series.
      ...series("arr_growth", "20M-50M", [2024.5], [99], { granularity: "quarter" }),
      ...series("cac_payback", "5M-20M", QUARTERLY.ols.x, QUARTERLY.ols.y, { granularity: "quarter" }),
      // Too few companies in 2018: left out of the points, and said so.
      ...series("cac_payback", "5M-20M", [2018], [30], { n: 3 }),
    ],
  }),
);
beforeEach(() => clearMemoryCache());

function expectClose(actual: number, expected: number) {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
}

async function timeseries(query: string): Promise<TimeSeriesResult> {
  const response = await call(`/api/v1/benchmarks/timeseries?${query}`);
  expect(response.status).toBe(200);
  return (await response.json()) as TimeSeriesResult;
}

describe("GET /api/v1/benchmarks/timeseries", () => {
  it("pools each year and fits the trend of the medians like scipy", async () => {
    const body = await timeseries("metric=arr_growth&revenueRange=20M-50M");
    expect(body.granularity).toBe("year");
    expect(body.revenueRange.key).toBe("20M-50M");
    expect(body.points.map((p) => p.period)).toEqual([
      "2019",
      "2020",
      "2021",
      "2022",
      "2023",
      "2024",
      "2025",
    ]);
    expect(body.points[0]).toEqual({
      period: "2019",
      n: 100,
      p10: 41.8,
      p25: 43,
      p50: 45,
      p75: 47,
      p90: 48.2,
    });
    const trend = body.trend!;
    for (const key of ["slope", "intercept", "r2", "pValue"] as const)
      expectClose(trend.ols[key], YEARLY.ols.expected[key]);
    for (const key of ["slope", "low", "high"] as const)
      expectClose(trend.theilSen[key], YEARLY.theilSen.expected[key]);
    for (const key of ["s", "tau", "z", "pValue"] as const) {
      expectClose(trend.mannKendall[key], YEARLY.mannKendall.expected[key]);
    }
    expectClose(trend.cagr!, (31.5 / 45) ** (1 / 6) - 1);
    // Mann–Kendall p = 0.133: no significant trend.
    expect(trend.direction).toBe("flat");
  });

  it("fits quarterly series against the quarter's start in years", async () => {
    const body = await timeseries("metric=cac_payback&revenueRange=5M-20M&granularity=quarter");
    expect(body.points.map((p) => p.period)).toEqual(QUARTERLY.ols.x.map((x) => periodOf(x, "quarter")));
    const trend = body.trend!;
    for (const key of ["slope", "intercept", "r2", "pValue"] as const) {
      expectClose(trend.ols[key], QUARTERLY.ols.expected[key]);
    }
    for (const key of ["slope", "low", "high"] as const)
      expectClose(trend.theilSen[key], QUARTERLY.theilSen.expected[key]);
    expectClose(trend.mannKendall.pValue, QUARTERLY.mannKendall.expected.pValue);
    expect(trend.direction).toBe("up");
  });

  it("shows those periods to an admin", async () => {
    const response = await call("/api/v1/benchmarks/timeseries?metric=cac_payback&arr=6000000", {
      headers: { Authorization: `Bearer ${await tokenFor("admin")}` },
    });
    const body = (await response.json()) as TimeSeriesResult;
    expect(body.points.map((p) => p.period)).toEqual(["2018"]);
    expect(body.suppressedPeriods).toEqual([]);
    expect(body.suppressionReason).toBeUndefined();
  });

  it("leaves out periods whose peer group is too small, and says which", async () => {
    const body = await timeseries("metric=cac_payback&arr=6000000");
    expect(body.points).toEqual([]);
    expect(body.suppressedPeriods).toEqual(["2018"]);
    expect(body.suppressionReason).toBe(
      "k-anonymity: in each of these periods the sources that may be shown pool fewer than 5 companies",
    );
    expect(body.trend).toBeNull();
    expect(body.trendReason).toBe("A trend needs at least 3 periods with data; there are 0.");
  });

  it("limits the range with from and to, and needs 3 points for a trend", async () => {
    const three = await timeseries("metric=arr_growth&revenueRange=20M-50M&from=2021&to=2023");
    expect(three.points.map((p) => p.period)).toEqual(["2021", "2022", "2023"]);
    // Three falling medians are as far as Mann–Kendall can go with n = 3 (p = 0.30): still flat.
    expect(three.trend?.mannKendall.s).toBe(-3);
    expect(three.trend?.direction).toBe("flat");
    const two = await timeseries("metric=arr_growth&revenueRange=20M-50M&from=2024");
    expect(two.points.map((p) => p.period)).toEqual(["2024", "2025"]);
    expect(two.trend).toBeNull();
    expect(two.trendReason).toBe("A trend needs at least 3 periods with data; there are 2.");
    const quarters = await timeseries(
      "metric=cac_payback&revenueRange=5M-20M&granularity=quarter&from=2024-Q2&to=2024",
    );
    expect(quarters.points.map((p) => p.period)).toEqual(["2024-Q2", "2024-Q3", "2024-Q4"]);
  });

  it("reports a null CAGR when an end of the series is not positive", async () => {
    await seed({ summaries: series("rule_of_40", "0-1M", [2021, 2022, 2023], [-5, 10, 20]) });
    const body = await timeseries("metric=rule_of_40&revenueRange=0-1M");
    expect(body.trend!.cagr).toBeNull();
  });

  it("answers 404 when the range holds no data", async () => {
    const response = await call("/api/v1/benchmarks/timeseries?metric=ndr&revenueRange=50M%2B");
    expect(response.status).toBe(404);
    expect(((await response.json()) as { detail: string }).detail).toBe(
      "No annual data for ndr in the 50M+ band in that range.",
    );
  });

  it.each([
    ["metric=arr_growth&revenueRange=20M-50M&granularity=month", "granularity"],
    ["metric=arr_growth&revenueRange=20M-50M&from=2025&to=2020", "from"],
    ["metric=arr_growth&revenueRange=20M-50M&from=20xx", "from"],
    ["metric=arr_growth&revenueRange=20M-50M&to=2024-Q0", "to"],
    ["metric=arr_growth", "revenueRange"],
    ["metric=arr_growth&revenueRange=20M-50M&arr=1", "revenueRange"],
    ["metric=arr_growth&revenueRange=20M-50M&period=2024", "query"],
    ["metric=nope&revenueRange=20M-50M", "metric"],
  ])("rejects ?%s naming %s", async (query, field) => {
    const response = await call(`/api/v1/benchmarks/timeseries?${query}`);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: { field: string }[] };
    expect(body.errors.map((e) => e.field)).toContain(field);
  });

  it("is cached with an ETag like every GET", async () => {
    const url = "/api/v1/benchmarks/timeseries?metric=arr_growth&revenueRange=20M-50M&to=2022";
    const first = await call(url);
    expect(first.headers.get("X-Cache")).toBe("miss");
    const etag = first.headers.get("ETag")!;
    const second = await call(url, { headers: { "If-None-Match": etag } });
    expect(second.status).toBe(304);
    expect(second.headers.get("X-Cache")).toBe("memory");
  });
});
