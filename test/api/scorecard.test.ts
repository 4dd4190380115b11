import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RankingResult } from "../../src/service/ranking";
import { TEST_OBSERVATIONS, TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { clearMemoryCache, postJson, seed } from "../helpers/seed";

type Entry = {
  metric: string;
  ranking?: RankingResult;
  error?: { status: number; type: string; detail: string };
};

beforeAll(() => seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES, observations: TEST_OBSERVATIONS }));
beforeEach(() => clearMemoryCache());

async function scorecard(body: unknown): Promise<{ arr: number; results: Entry[] }> {
  const response = await postJson("/api/v1/benchmarks/scorecard", body);
  expect(response.status).toBe(200);
  return (await response.json()) as { arr: number; results: Entry[] };
}

describe("POST /api/v1/benchmarks/scorecard", () => {
  it("ranks every metric on its own; bad ones are reported in place", async () => {
    const card = await scorecard({
      arr: 2_000_000,
      values: { arr_growth: 35, cac_payback: 14, bogus: 5, ndr: "high", logo_churn: 9, gross_margin: 101 },
    });
    expect(card.arr).toBe(2_000_000);
    const byMetric = new Map(card.results.map((entry) => [entry.metric, entry]));
    expect([...byMetric.keys()]).toEqual([
      "arr_growth",
      "cac_payback",
      "bogus",
      "ndr",
      "logo_churn",
      "gross_margin",
    ]);
    expect(byMetric.get("arr_growth")!.ranking).toMatchObject({
      revenueRange: "1M-5M",
      period: "2025",
      percentile: 75,
      tier: "top_quartile",
    });
    expect(byMetric.get("cac_payback")!.ranking).toMatchObject({ percentile: 25, performancePercentile: 75 });
    expect(byMetric.get("bogus")!.error).toMatchObject({ status: 400, type: "/problems/validation-failed" });
    expect(byMetric.get("ndr")!.error).toMatchObject({
      status: 400,
      detail: "values.ndr: must be a finite number",
    });
    expect(byMetric.get("logo_churn")!.error).toMatchObject({
      status: 422,
      type: "/problems/peer-group-too-small",
    });
    expect(byMetric.get("gross_margin")!.error).toMatchObject({ status: 400 });
    expect(byMetric.get("bogus")!.ranking).toBeUndefined();
  });

  it("with an industry, ranks against that industry's panel companies in the ARR band", async () => {
    const card = await scorecard({
      arr: 2_000_000,
      industry: "fintech",
      period: "2024",
      values: { ndr: 110 },
    });
    expect(card.results[0]!.ranking).toMatchObject({
      peerGroup: { arrMin: 1_000_000, arrMax: 5_000_000, industry: "fintech" },
      period: "2024",
      percentile: 52.5,
      peers: { n: 20 },
    });
  });

  it.each([
    [{ values: { ndr: 1 } }, "arr"],
    [{ arr: -1, values: { ndr: 1 } }, "arr"],
    [{ arr: 1, values: {} }, "values"],
    [{ arr: 1, values: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`m${i}`, i])) }, "values"],
    [{ arr: 1, values: [1, 2] }, "values"],
    [{ arr: 1, values: { ndr: 1 }, period: "2024-Q7" }, "period"],
    [{ arr: 1, values: { ndr: 1 }, industry: "" }, "industry"],
    [{ arr: 1, values: { ndr: 1 }, extra: true }, "body"],
  ])("rejects %j naming %s", async (body, field) => {
    const response = await postJson("/api/v1/benchmarks/scorecard", body);
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { errors: { field: string }[] };
    expect(problem.errors.map((e) => e.field.split(".")[0])).toContain(field);
  });
});
