import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { BenchmarkResult } from "../../src/service/benchmarks";
import type { RankingResult } from "../../src/service/ranking";
import { percentileRank, wilsonInterval } from "../../src/stats";
import { tokenFor } from "../helpers/auth";
import { TEST_OBSERVATIONS, TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { call, clearMemoryCache, postJson, seed } from "../helpers/seed";

beforeAll(() => seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES, observations: TEST_OBSERVATIONS }));
beforeEach(() => clearMemoryCache());

const FINTECH = "/api/v1/benchmarks?metric=ndr&arrMin=1000000&arrMax=3000000&industry=fintech&period=2024";
const FINTECH_VALUES = Array.from({ length: 20 }, (_, i) => 100 + i);

describe("custom peer groups", () => {
  it("GET /benchmarks takes type-7 quantiles of the panel rows in the ARR range and industry", async () => {
    const response = await call(`${FINTECH}&includeStatistics=true`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as BenchmarkResult;
    expect(body.peerGroup).toEqual({ arrMin: 1_000_000, arrMax: 3_000_000, industry: "fintech" });
    expect(body.revenueRange).toBeUndefined();
    expect(body.period).toBe("2024");
    // 100…119 after the 290 outlier is excluded: h = 19p.
    expect(body.pooled).toEqual({
      n: 20,
      p10: 101.9,
      p25: 104.75,
      p50: 109.5,
      p75: 114.25,
      p90: 117.1,
      method: "panel_observations",
    });
    expect(body.sources).toEqual([
      {
        id: "gamma",
        name: "Gamma Panel",
        kind: "panel",
        n: 20,
        p10: 101.9,
        p25: 104.75,
        p50: 109.5,
        p75: 114.25,
        p90: 117.1,
        lastUpdated: "2026-03-01T00:00:00.000Z",
        consistency: "unknown",
      },
    ]);
    const [panel] = body.statistics!.panels;
    expect(panel).toMatchObject({
      sourceId: "gamma",
      n: 20,
      outliersExcluded: 1,
      mean: 109.5,
      median: 109.5,
      iqr: 9.5,
      skewness: 0,
    });
    expect(panel!.sd).toBeCloseTo(Math.sqrt(35), 12);
    // Bin(20, ½): P(X ≤ 5) = 0.0207 ≤ 0.025 < P(X ≤ 6), so the ranks are 6 and 15.
    expect(panel!.medianInterval).toEqual({ low: 105, high: 114 });
  });

  it("without an industry the whole ARR range counts", async () => {
    const body = (await (
      await call("/api/v1/benchmarks?metric=ndr&arrMin=1000000&arrMax=3000000&period=2024")
    ).json()) as BenchmarkResult;
    // 80…89, 95…97 and 100…119; only the 290 outlier is excluded.
    expect(body.pooled.n).toBe(33);
    expect(body.statistics).toBeUndefined();
  });

  it("an open upper bound includes the largest companies, each shown only in a unit of k", async () => {
    const path = "/api/v1/benchmarks?metric=ndr&arrMin=1000000&industry=fintech&period=2024";
    const admin = (await (
      await call(path, { headers: { Authorization: `Bearer ${await tokenFor("admin")}` } })
    ).json()) as BenchmarkResult;
    expect(admin.peerGroup).toEqual({ arrMin: 1_000_000, arrMax: null, industry: "fintech" });
    expect(admin.pooled.n).toBe(21);
    expect(admin.withheldCompanies).toBeUndefined();
    // fin_big is the only company of its band: the group minus [1M, 3M) would be its value.
    const analyst = (await (await call(path)).json()) as BenchmarkResult;
    expect(analyst.pooled).toMatchObject({ n: 20, p50: 109.5 });
    expect(analyst.withheldCompanies).toBe(1);
  });

  it("uses the latest panel period when none is given", async () => {
    const body = (await (
      await call("/api/v1/benchmarks?metric=ndr&arrMin=1000000&arrMax=3000000&industry=fintech")
    ).json()) as BenchmarkResult;
    expect(body.period).toBe("2024");
  });

  it("ranks with the mean-kind percentile rank and a Wilson interval", async () => {
    const response = await postJson("/api/v1/benchmarks/ranking", {
      metric: "ndr",
      value: 110,
      peers: { arrMin: 1_000_000, arrMax: 3_000_000, industry: "fintech" },
      period: "2024",
    });
    expect(response.status).toBe(200);
    const ranked = (await response.json()) as RankingResult;
    const interval = wilsonInterval(0.525, 20);
    expect(ranked).toEqual({
      metric: "ndr",
      peerGroup: { arrMin: 1_000_000, arrMax: 3_000_000, industry: "fintech" },
      period: "2024",
      value: 110,
      percentile: percentileRank(FINTECH_VALUES, 110),
      percentileInterval: { low: 100 * interval.low, high: 100 * interval.high },
      performancePercentile: 52.5,
      quartile: 3,
      tier: "above_median",
      peers: { n: 20, p10: 101.9, p25: 104.75, p50: 109.5, p75: 114.25, p90: 117.1 },
      gapToMedian: 0.5,
      gapToTopQuartile: 110 - 114.25,
    });
    expect(ranked.percentile).toBe(52.5);
  });

  it("refuses a group smaller than the minimum without any statistic", async () => {
    const response = await call(
      "/api/v1/benchmarks?metric=ndr&arrMin=1000000&arrMax=3000000&industry=healthtech&period=2024",
    );
    expect(response.status).toBe(422);
    const body = (await response.json()) as { type: string; detail: string };
    expect(body.type).toBe("/problems/peer-group-too-small");
    expect(body.detail).toBe(
      "The peer group (ARR 1000000 to 3000000 in healthtech, 2024) has 3 companies; at least 5 are needed before statistics are shown.",
    );
    expect(JSON.stringify(body)).not.toMatch(/9[5-7]/);
  });

  it("refuses a group whose companies sit only in units too thin to show", async () => {
    // devtools' 10 are withheld in [1M, 2M) so that its industries shown do not give healthtech away.
    const response = await call(
      "/api/v1/benchmarks?metric=ndr&arrMin=1000000&arrMax=2000000&industry=devtools&period=2024",
    );
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({
      type: "/problems/peer-group-too-small",
      detail:
        "The peer group (ARR 1000000 to 2000000 in devtools, 2024) has 10 companies, but in ARR steps or industries too thin to show without giving some of them away; widen the range or drop the industry.",
    });
  });

  it("answers an empty group with no-data, for every role", async () => {
    for (const role of ["analyst", "admin"] as const) {
      const ranking = await postJson(
        "/api/v1/benchmarks/ranking",
        {
          metric: "ndr",
          value: 96,
          peers: { arrMin: 1_000_000, arrMax: 3_000_000, industry: "nobody" },
          period: "2024",
        },
        { Authorization: `Bearer ${await tokenFor(role)}` },
      );
      expect([role, ranking.status, ((await ranking.json()) as { type: string }).type]).toEqual([
        role,
        404,
        "/problems/no-data",
      ]);
    }
  });

  it("needs a panel among the sources", async () => {
    const response = await call(`${FINTECH}&sources=alpha,beta`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { type: string }).type).toBe("/problems/no-panel");
  });

  it.each([
    ["metric=ndr&arrMin=3000000&arrMax=1000000", "arrMax"],
    ["metric=ndr&arrMin=1000000&arrMax=1000000", "arrMax"],
    ["metric=ndr&arrMax=1000000", "arrMin"],
    ["metric=ndr&industry=fintech", "arrMin"],
    ["metric=ndr&arrMin=-1", "arrMin"],
    ["metric=ndr&arrMin=1000000&revenueRange=1M-5M", "revenueRange"],
    ["metric=ndr&arrMin=1000000&arr=2000000", "revenueRange"],
    ["metric=ndr&arrMin=abc", "arrMin"],
    ["metric=ndr&arrMin=1000000&industry=", "industry"],
  ])("rejects ?%s naming %s", async (query, field) => {
    const response = await call(`/api/v1/benchmarks?${query}`);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: { field: string }[] };
    expect(body.errors.map((e) => e.field)).toContain(field);
  });

  it.each([
    [{ arrMin: 2, arrMax: 1 }, "peers.arrMax"],
    [{ arrMax: 1 }, "peers.arrMin"],
    [{ arrMin: 1, colour: "red" }, "peers"],
    [{ arrMin: Number.MAX_VALUE, industry: 7 }, "peers.industry"],
  ])("ranking rejects peers %j naming %s", async (peers, field) => {
    const response = await postJson("/api/v1/benchmarks/ranking", { metric: "ndr", value: 100, peers });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: { field: string }[] };
    expect(body.errors.map((e) => e.field)).toContain(field);
  });

  it("ranking refuses peers together with a band", async () => {
    const response = await postJson("/api/v1/benchmarks/ranking", {
      metric: "ndr",
      value: 100,
      revenueRange: "1M-5M",
      peers: { arrMin: 1 },
    });
    expect(response.status).toBe(400);
  });
});
