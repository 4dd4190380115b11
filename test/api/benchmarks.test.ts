import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { BenchmarkResult } from "../../src/service/benchmarks";
import { isShown } from "../../src/service/distribution";
import { poolSources } from "../../src/stats";
import { tokenFor } from "../helpers/auth";
import {
  MIXED,
  PANEL_MEDIAN_INTERVAL,
  PANEL_MOMENTS,
  SINGLE,
  TEST_SOURCES,
  TEST_SUMMARIES,
} from "../helpers/sample-cells";
import { call, clearMemoryCache, seed } from "../helpers/seed";

const QUANTILES = ["p10", "p25", "p50", "p75", "p90"] as const;

function expectClose(actual: number, expected: number) {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
}

async function problem(response: Response, status: number) {
  expect(response.status).toBe(status);
  expect(response.headers.get("Content-Type")).toBe("application/problem+json");
  const body = (await response.json()) as {
    type: string;
    title: string;
    status: number;
    detail: string;
    errors?: { field: string; message: string }[];
  };
  expect(body.status).toBe(status);
  return body;
}

beforeAll(() => seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES }));
beforeEach(() => clearMemoryCache());

describe("GET /api/v1/benchmarks", () => {
  it("pools the active sources of a cell as the n-weighted CDF mixture", async () => {
    const response = await call("/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2024");
    expect(response.status).toBe(200);
    const body = (await response.json()) as BenchmarkResult;
    expect(body.metric).toEqual({
      key: "arr_growth",
      name: "ARR growth",
      unit: "percent",
      direction: "higher_is_better",
    });
    expect(body.revenueRange).toEqual({ key: "1M-5M", minArr: 1_000_000, maxArr: 5_000_000 });
    expect(body.period).toBe("2024");
    expect(body.pooled.n).toBe(400);
    expect(body.pooled.method).toBe("cdf_mixture");
    for (const q of QUANTILES) expectClose(body.pooled[q], MIXED.expectedQuantiles[q]);
    // The retired (inactive) source is never pooled.
    expect(body.sources).toEqual([
      {
        id: "alpha",
        name: "Alpha Survey",
        kind: "survey",
        n: 150,
        p10: 8,
        p25: 15,
        p50: 27,
        p75: 45,
        p90: 70,
        lastUpdated: "2026-01-15T00:00:00.000Z",
        consistency: "unknown",
      },
      {
        id: "beta",
        name: "Beta Survey",
        kind: "survey",
        n: 250,
        p10: null,
        p25: 18,
        p50: 30,
        p75: 48,
        p90: null,
        lastUpdated: "2026-02-01T00:00:00.000Z",
        consistency: "unknown",
      },
    ]);
    expect(body.statistics).toBeUndefined();
  });

  it("maps arr to its band", async () => {
    const byBand = await (
      await call("/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2024")
    ).json();
    const byArr = await (await call("/api/v1/benchmarks?metric=arr_growth&arr=1000000&period=2024")).json();
    expect(byArr).toEqual(byBand);
  });

  it("uses the latest period with data, and a single source is reproduced exactly", async () => {
    const body = (await (
      await call("/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M")
    ).json()) as BenchmarkResult;
    expect(body.period).toBe("2025");
    expect(body.pooled).toEqual({ n: 120, ...SINGLE.expectedQuantiles, method: "single_source" });
  });

  it("narrows to the requested sources; missing tails are extended linearly", async () => {
    const body = (await (
      await call("/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2024&sources=beta")
    ).json()) as BenchmarkResult;
    expect(body.sources.map((s: { id: string }) => s.id)).toEqual(["beta"]);
    // Beta publishes 18/30/48 at 0.25/0.50/0.75: the tails extend with slopes 0.25/12 and 0.25/18.
    expect(body.pooled).toEqual({
      n: 250,
      p10: 10.8,
      p25: 18,
      p50: 30,
      p75: 48,
      p90: 58.8,
      method: "single_source",
    });
  });

  it("adds descriptive statistics on request", async () => {
    const body = (await (
      await call("/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2025&includeStatistics=true")
    ).json()) as BenchmarkResult;
    expect(body.statistics).toEqual({
      pooled: { median: 20, iqr: 23 },
      panels: [
        {
          sourceId: "gamma",
          n: 120,
          median: 20,
          iqr: 23,
          ...PANEL_MOMENTS,
          medianInterval: { low: PANEL_MEDIAN_INTERVAL.medianLow, high: PANEL_MEDIAN_INTERVAL.medianHigh },
        },
      ],
    });
  });

  it("marks a source whose median lies outside the others' pooled [p10, p90] as an outlier", async () => {
    const body = (await (
      await call("/api/v1/benchmarks?metric=grr&revenueRange=1M-5M&period=2024")
    ).json()) as BenchmarkResult;
    const sources = body.sources.filter(isShown);
    expect(sources.map((s) => [s.id, s.consistency])).toEqual([
      ["alpha", "consistent"],
      ["beta", "consistent"],
      ["gamma", "outlier"],
    ]);
    // The reasons, from the pools of the other two sources.
    const [alpha, beta, gamma] = sources;
    const withoutGamma = poolSources([alpha!, beta!]);
    expect(gamma!.p50).toBeLessThan(withoutGamma.p10);
    const withoutAlpha = poolSources([beta!, gamma!]);
    expect(alpha!.p50).toBeGreaterThanOrEqual(withoutAlpha.p10);
    expect(alpha!.p50).toBeLessThanOrEqual(withoutAlpha.p90);
  });

  it("answers 404 with a reason when the cell has no data", async () => {
    const body = await problem(await call("/api/v1/benchmarks?metric=ndr&revenueRange=5M-20M"), 404);
    expect(body.type).toBe("/problems/no-data");
    expect(body.detail).toBe("No benchmark data for ndr in the 5M-20M band.");
    const byPeriod = await problem(
      await call("/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2019"),
      404,
    );
    expect(byPeriod.detail).toBe("No benchmark data for arr_growth in the 1M-5M band for 2019.");
  });

  it("refuses to show a peer group smaller than the minimum (k-anonymity)", async () => {
    const path = "/api/v1/benchmarks?metric=logo_churn&revenueRange=1M-5M";
    for (const role of ["viewer", "analyst"] as const) {
      const body = await problem(
        await call(path, { headers: { Authorization: `Bearer ${await tokenFor(role)}` } }),
        422,
      );
      expect(body.type).toBe("/problems/peer-group-too-small");
      expect(body.detail).toContain("4 companies");
      expect(JSON.stringify(body)).not.toContain("p50");
    }
  });

  it("shows a peer group of 4 to an admin, and still not to a viewer after that", async () => {
    const path = "/api/v1/benchmarks?metric=logo_churn&revenueRange=1M-5M";
    const admin = await call(path, { headers: { Authorization: `Bearer ${await tokenFor("admin")}` } });
    expect(admin.status).toBe(200);
    expect(((await admin.json()) as { pooled: { n: number } }).pooled.n).toBe(4);
    // The admin's answer is cached apart from everyone else's.
    const viewer = await call(path, { headers: { Authorization: `Bearer ${await tokenFor("viewer")}` } });
    expect(viewer.status).toBe(422);
  });

  it.each([
    ["metric=unknown&revenueRange=1M-5M", "metric"],
    ["revenueRange=1M-5M", "metric"],
    ["metric=arr_growth&revenueRange=2M-3M", "revenueRange"],
    ["metric=arr_growth", "revenueRange"],
    ["metric=arr_growth&revenueRange=1M-5M&arr=10", "revenueRange"],
    ["metric=arr_growth&arr=NaN", "arr"],
    ["metric=arr_growth&arr=Infinity", "arr"],
    ["metric=arr_growth&arr=-1", "arr"],
    ["metric=arr_growth&arr=", "arr"],
    ["metric=arr_growth&arr=1e400", "arr"],
    ["metric=arr_growth&revenueRange=1M-5M&period=2024-Q5", "period"],
    ["metric=arr_growth&revenueRange=1M-5M&period=24", "period"],
    ["metric=arr_growth&revenueRange=1M-5M&sources=nope", "sources"],
    ["metric=arr_growth&revenueRange=1M-5M&sources=retired", "sources"],
    ["metric=arr_growth&revenueRange=1M-5M&sources=", "sources"],
    ["metric=arr_growth&revenueRange=1M-5M&includeStatistics=yes", "includeStatistics"],
    ["metric=arr_growth&revenueRange=1M-5M&revenue_range=1M-5M", "query"],
  ])("rejects ?%s naming the field %s", async (query, field) => {
    const body = await problem(await call(`/api/v1/benchmarks?${query}`), 400);
    expect(body.type).toBe("/problems/validation-failed");
    expect(body.errors?.map((e) => e.field)).toContain(field);
  });
});

// Storage is shared by the tests of one file, so this block uses URLs no earlier test requested.
describe("caching", () => {
  const url = "/api/v1/benchmarks?metric=arr_growth&arr=4999999&period=2024";

  it("misses, then hits memory, then KV, with a stable ETag and Cache-Control", async () => {
    const first = await call(url);
    expect(first.headers.get("X-Cache")).toBe("miss");
    expect(first.headers.get("Cache-Control")).toBe("private, max-age=60");
    const etag = first.headers.get("ETag");
    expect(etag).toMatch(/^"[0-9a-f]{24}"$/);
    const text = await first.text();

    const second = await call(url);
    expect(second.headers.get("X-Cache")).toBe("memory");
    expect(await second.text()).toBe(text);

    clearMemoryCache();
    const third = await call(url);
    expect(third.headers.get("X-Cache")).toBe("kv");
    expect(third.headers.get("ETag")).toBe(etag);
    expect(await third.text()).toBe(text);
  });

  it("validates a query string as ever after answering it: its variants are still refused", async () => {
    const base = "/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2024";
    const first = await call(base);
    expect(first.status).toBe(200);
    const text = await first.text();
    // Parsed once, answered the same again.
    expect(await (await call(base)).text()).toBe(text);
    const problems = async (path: string) => {
      const response = await call(path);
      return [response.status, ((await response.json()) as { errors?: unknown }).errors];
    };
    expect(await problems(`${base}&period=2023`)).toEqual([
      400,
      [{ field: "period", message: "period is given more than once; give it once" }],
    ]);
    expect(await problems(`${base}&bogus=1`)).toEqual([
      400,
      [{ field: "query", message: 'Unrecognized key: "bogus"' }],
    ]);
    expect((await call(base)).status).toBe(200);
  });

  it("answers If-None-Match with 304 and no body", async () => {
    const etag = (await call(url)).headers.get("ETag")!;
    const revalidated = await call(url, { headers: { "If-None-Match": `W/"other", ${etag}` } });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get("ETag")).toBe(etag);
    expect(await revalidated.text()).toBe("");
    const changed = await call(url, { headers: { "If-None-Match": '"stale"' } });
    expect(changed.status).toBe(200);
  });

  it("serves new data as soon as the data version moves", async () => {
    const before = (await (await call(url)).json()) as BenchmarkResult;
    expect(before.pooled.n).toBe(400);
    await seed({
      sources: [{ id: "delta", name: "Delta Survey", kind: "survey" }],
      summaries: [
        {
          sourceId: "delta",
          metricKey: "arr_growth",
          bandKey: "1M-5M",
          period: "2024",
          n: 100,
          p25: 20,
          p50: 30,
          p75: 40,
        },
      ],
    });
    const after = await call(url);
    expect(after.headers.get("X-Cache")).toBe("miss");
    const body = (await after.json()) as BenchmarkResult;
    expect(body.pooled.n).toBe(500);
    expect(body.sources.map((s: { id: string }) => s.id)).toEqual(["alpha", "beta", "delta"]);
  });
});
