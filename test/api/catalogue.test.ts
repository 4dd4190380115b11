import { beforeAll, describe, expect, it } from "vitest";
import { TEST_SOURCES } from "../helpers/sample-cells";
import { call, seed, seedRejections } from "../helpers/seed";

beforeAll(async () => {
  await seed({ sources: TEST_SOURCES });
  // gamma's latest completed run rejected two rows; those are the source's rejections.
  await seedRejections("gamma", [
    { line: 17, reason: 'unknown metric "net_burn"' },
    { line: 4, reason: "company_key is missing or malformed" },
  ]);
});

describe("catalogue endpoints", () => {
  it("GET /health is alive without touching storage", async () => {
    const response = await call("/health");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("GET /api/v1/metrics lists the catalogue in its order", async () => {
    const response = await call("/api/v1/metrics");
    expect(response.status).toBe(200);
    expect(response.headers.get("ETag")).toMatch(/^"[0-9a-f]{24}"$/);
    const { metrics } = (await response.json()) as { metrics: { key: string }[] };
    expect(metrics.map((m) => m.key)).toEqual([
      "arr_growth",
      "ndr",
      "grr",
      "gross_margin",
      "cac_payback",
      "burn_multiple",
      "magic_number",
      "rule_of_40",
      "ltv_cac",
      "logo_churn",
      "pipeline_coverage",
    ]);
    expect(metrics[4]).toEqual({
      key: "cac_payback",
      name: "CAC payback",
      unit: "months",
      direction: "lower_is_better",
      minValue: 0,
      maxValue: 120,
      definition: "Months of gross-margin-adjusted new revenue needed to recover the cost of acquiring it.",
      outlierMethod: "modified_z",
    });
  });

  it("GET /api/v1/revenue-ranges lists the bands with their bounds", async () => {
    const response = await call("/api/v1/revenue-ranges");
    expect(await response.json()).toEqual({
      revenueRanges: [
        { key: "0-1M", minArr: 0, maxArr: 1_000_000 },
        { key: "1M-5M", minArr: 1_000_000, maxArr: 5_000_000 },
        { key: "5M-20M", minArr: 5_000_000, maxArr: 20_000_000 },
        { key: "20M-50M", minArr: 20_000_000, maxArr: 50_000_000 },
        { key: "50M+", minArr: 50_000_000, maxArr: null },
      ],
      // 0, then 1, 2, 3 and 5 times each power of ten from 100k, up to a trillion.
      peerGroupBounds: [
        0,
        ...[1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11].flatMap((decade) =>
          [1, 2, 3, 5].map((step) => step * decade),
        ),
        1e12,
      ],
    });
    const { peerGroupBounds } = (await (await call("/api/v1/revenue-ranges")).json()) as {
      peerGroupBounds: number[];
    };
    expect(peerGroupBounds.slice(0, 10)).toEqual([
      0, 100_000, 200_000, 300_000, 500_000, 1_000_000, 2_000_000, 3_000_000, 5_000_000, 10_000_000,
    ]);
    expect(peerGroupBounds).toHaveLength(30);
  });

  it("GET /api/v1/sources shows freshness and rejected-row counts", async () => {
    const before = Date.now();
    const { sources } = (await (await call("/api/v1/sources")).json()) as {
      sources: { id: string; ageSeconds: number | null; rejectedRows: number; active: boolean }[];
    };
    expect(sources.map((s) => [s.id, s.active, s.rejectedRows])).toEqual([
      ["alpha", true, 0],
      ["beta", true, 0],
      ["gamma", true, 2],
      ["retired", false, 0],
    ]);
    const gamma = sources.find((s) => s.id === "gamma")!;
    const expectedAge = Math.floor((before - Date.parse("2026-03-01T00:00:00.000Z")) / 1000);
    expect(gamma.ageSeconds).toBeGreaterThanOrEqual(expectedAge);
    expect(gamma.ageSeconds).toBeLessThanOrEqual(expectedAge + 5);
    expect(sources.find((s) => s.id === "retired")!.ageSeconds).toBeNull();
  });

  it("GET /api/v1/sources/:id/rejections lists why rows were rejected, by line", async () => {
    const response = await call("/api/v1/sources/gamma/rejections?limit=10");
    expect(await response.json()).toEqual({
      sourceId: "gamma",
      total: 2,
      rejections: [
        { line: 4, reason: "company_key is missing or malformed", rejectedAt: "2026-03-01T00:00:00.000Z" },
        { line: 17, reason: 'unknown metric "net_burn"', rejectedAt: "2026-03-01T00:00:00.000Z" },
      ],
    });
    expect((await call("/api/v1/sources/nobody/rejections")).status).toBe(404);
    expect((await call("/api/v1/sources/gamma/rejections?limit=0")).status).toBe(400);
  });

  it("answers unknown routes with a problem+json 404", async () => {
    const response = await call("/api/v1/nothing-here");
    expect(response.status).toBe(404);
    expect(response.headers.get("Content-Type")).toBe("application/problem+json");
    expect(await response.json()).toMatchObject({ type: "/problems/no-such-route", status: 404 });
  });
});
