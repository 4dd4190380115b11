import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RankingResult } from "../../src/service/ranking";
import { wilsonInterval } from "../../src/stats";
import { withToken } from "../helpers/auth";
import { MIXED, TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { clearMemoryCache, postJson, seed } from "../helpers/seed";

const RANKING = "/api/v1/benchmarks/ranking";

async function rank(body: unknown): Promise<RankingResult> {
  const response = await postJson(RANKING, body);
  expect(response.status).toBe(200);
  return (await response.json()) as RankingResult;
}

async function problem(response: Response, status: number) {
  expect(response.status).toBe(status);
  expect(response.headers.get("Content-Type")).toBe("application/problem+json");
  return (await response.json()) as { type: string; detail: string; errors?: { field: string }[] };
}

beforeAll(() => seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES }));
beforeEach(() => clearMemoryCache());

describe("POST /api/v1/benchmarks/ranking", () => {
  it("ranks against a single source exactly at its published quantiles", async () => {
    const ranked = await rank({ metric: "arr_growth", value: 35, revenueRange: "1M-5M" });
    expect(ranked).toEqual({
      metric: "arr_growth",
      revenueRange: "1M-5M",
      period: "2025",
      value: 35,
      percentile: 75,
      percentileInterval: {
        low: 100 * wilsonInterval(0.75, 120).low,
        high: 100 * wilsonInterval(0.75, 120).high,
      },
      performancePercentile: 75,
      quartile: 4,
      tier: "top_quartile",
      peers: { n: 120, p10: 5, p25: 12, p50: 20, p75: 35, p90: 60 },
      gapToMedian: 15,
      gapToTopQuartile: 0,
    });
  });

  it.each([
    // Below p10 the CDF follows the p10–p25 line down to 0 at x = 1/3, so F(4) = 0.1·(11/3)/(14/3).
    [4, 110 / 14, 1, "bottom_quartile"],
    [12, 25, 2, "below_median"],
    [20, 50, 3, "above_median"],
    [60, 90, 4, "top_decile"],
    [200, 100, 4, "top_decile"],
    [-100, 0, 1, "bottom_quartile"],
  ])("value %d sits at percentile %d (quartile %d, %s)", async (value, percentile, quartile, tier) => {
    const ranked = await rank({ metric: "arr_growth", value, arr: 2_000_000, period: "2025" });
    expect(ranked.percentile).toBeCloseTo(percentile, 12);
    expect(ranked.quartile).toBe(quartile);
    expect(ranked.tier).toBe(tier);
  });

  it("ranks against the pooled mixture with 100·F(v)", async () => {
    const point = MIXED.cdf.find((p) => p.expected > 0.3 && p.expected < 0.7)!;
    const ranked = await rank({
      metric: "arr_growth",
      value: point.x,
      revenueRange: "1M-5M",
      period: "2024",
    });
    expect(Math.abs(ranked.percentile - 100 * point.expected)).toBeLessThan(1e-9);
    expect(ranked.peers.n).toBe(400);
    // Pooled peers: the Wilson interval takes n = Σnᵢ.
    const interval = wilsonInterval(point.expected, 400);
    expect(ranked.percentileInterval.low).toBeCloseTo(100 * interval.low, 9);
    expect(ranked.percentileInterval.high).toBeCloseTo(100 * interval.high, 9);
    expect(Math.abs(ranked.peers.p50 - MIXED.expectedQuantiles.p50)).toBeLessThan(1e-9);
    expect(ranked.gapToMedian).toBeCloseTo(point.x - MIXED.expectedQuantiles.p50, 9);
  });

  it("turns the percentile for lower-is-better metrics", async () => {
    const ranked = await rank({ metric: "cac_payback", value: 14, revenueRange: "1M-5M" });
    expect(ranked).toMatchObject({
      percentile: 25,
      performancePercentile: 75,
      quartile: 4,
      tier: "top_quartile",
      gapToMedian: -4,
      gapToTopQuartile: 0,
    });
    const slow = await rank({ metric: "cac_payback", value: 30, revenueRange: "1M-5M", sources: ["alpha"] });
    expect(slow).toMatchObject({
      percentile: 90,
      performancePercentile: 10,
      quartile: 1,
      tier: "bottom_quartile",
      gapToTopQuartile: 16,
    });
  });

  it("refuses a peer group below the minimum", async () => {
    const body = await problem(
      await postJson(RANKING, { metric: "logo_churn", value: 9, revenueRange: "1M-5M" }),
      422,
    );
    expect(body.type).toBe("/problems/peer-group-too-small");
  });

  it("answers 404 when the cell has no data", async () => {
    const body = await problem(
      await postJson(RANKING, { metric: "ndr", value: 105, revenueRange: "50M+" }),
      404,
    );
    expect(body.detail).toBe("No benchmark data for ndr in the 50M+ band.");
  });

  it.each([
    [{ metric: "arr_growth", value: 1001, revenueRange: "1M-5M" }, "value"],
    [{ metric: "gross_margin", value: -101, revenueRange: "1M-5M" }, "value"],
    [{ metric: "arr_growth", value: "NaN", revenueRange: "1M-5M" }, "value"],
    [{ metric: "arr_growth", value: "55", revenueRange: "1M-5M" }, "value"],
    [{ metric: "arr_growth", revenueRange: "1M-5M" }, "value"],
    [{ metric: "arr_growth", value: 55 }, "revenueRange"],
    [{ metric: "arr_growth", value: 55, revenueRange: "1M-5M", arr: 2e6 }, "revenueRange"],
    [{ metric: "arr_growth", value: 55, arr: -5 }, "arr"],
    [{ metric: "nope", value: 55, revenueRange: "1M-5M" }, "metric"],
    [{ metric: "arr_growth", value: 55, revenueRange: "1M-5M", period: "2025-Q0" }, "period"],
    [{ metric: "arr_growth", value: 55, revenueRange: "1M-5M", sources: [] }, "sources"],
    [{ metric: "arr_growth", value: 55, revenueRange: "1M-5M", sources: ["ghost"] }, "sources"],
    [{ metric: "arr_growth", value: 55, revenueRange: "1M-5M", extra: 1 }, "body"],
    [[1, 2, 3], "body"],
    [null, "body"],
  ])("rejects %j naming %s", async (body, field) => {
    const problemBody = await problem(await postJson(RANKING, body), 400);
    expect(problemBody.errors?.map((e) => e.field.split(".")[0])).toContain(field);
  });

  it("rejects malformed JSON with 400", async () => {
    const body = await problem(await postJson(RANKING, '{"metric": "arr_growth", value: }'), 400);
    expect(body.type).toBe("/problems/malformed-json");
  });

  it("rejects JSON with NaN or Infinity literals as malformed", async () => {
    await problem(await postJson(RANKING, '{"metric":"arr_growth","value":NaN,"revenueRange":"1M-5M"}'), 400);
    await problem(
      await postJson(RANKING, '{"metric":"arr_growth","value":Infinity,"revenueRange":"1M-5M"}'),
      400,
    );
  });

  it("rejects another content type with 415", async () => {
    const body = await problem(
      await postJson(
        RANKING,
        { metric: "arr_growth", value: 1, revenueRange: "1M-5M" },
        { "Content-Type": "text/plain" },
      ),
      415,
    );
    expect(body.type).toBe("/problems/unsupported-media-type");
  });

  it("rejects a body over 64 KiB with 413, with or without Content-Length", async () => {
    const big = JSON.stringify({
      metric: "arr_growth",
      value: 1,
      revenueRange: "1M-5M",
      pad: "x".repeat(70_000),
    });
    await problem(await postJson(RANKING, big), 413);
    const streamed = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const { SELF } = await import("cloudflare:test");
    const response = await SELF.fetch(
      `https://bench.test${RANKING}`,
      await withToken(RANKING, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: streamed,
      }),
    );
    await problem(response, 413);
  });

  it("accepts a charset parameter on the media type", async () => {
    const response = await postJson(
      RANKING,
      { metric: "arr_growth", value: 20, revenueRange: "1M-5M" },
      { "Content-Type": "application/json; charset=utf-8" },
    );
    expect(response.status).toBe(200);
  });
});
