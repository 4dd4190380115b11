import type { DescMessage } from "@bufbuild/protobuf";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  CalculateRankingResponseSchema,
  GetBenchmarkDataResponseSchema,
  GetScorecardResponseSchema,
  GetTimeSeriesDataResponseSchema,
  Granularity,
  ListMetricsResponseSchema,
  ListRevenueRangesResponseSchema,
  ListSourcesResponseSchema,
} from "../../src/gen/benchmark/v1/benchmark_pb";
import { TEST_OBSERVATIONS, TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { call, clearMemoryCache, postJson, seed } from "../helpers/seed";
import { connectJsonClient, restShape, seriesRows, withoutNulls } from "./helpers";

/*
 * The same questions asked through REST and through Connect must get the same answers. Each RPC
 * response is turned into REST's JSON shape (enums as lower-case names, Timestamps as ISO strings)
 * and compared whole; REST's nulls are dropped, since a message can only leave such a field unset.
 */

beforeAll(() =>
  seed({
    sources: TEST_SOURCES,
    summaries: [
      ...TEST_SUMMARIES,
      ...seriesRows("cac_payback", "5M-20M", { "2023-Q1": 20, "2023-Q2": 19, "2023-Q3": 16, "2023-Q4": 14 }),
      ...seriesRows("cac_payback", "5M-20M", { "2022-Q4": 25 }, 3),
      ...seriesRows("rule_of_40", "0-1M", { 2021: -5, 2022: 10, 2023: 20, 2024: 18 }),
    ],
    observations: TEST_OBSERVATIONS,
  }),
);
beforeEach(() => clearMemoryCache());

const rpc = connectJsonClient();

async function restJson(response: Promise<Response>): Promise<unknown> {
  const answered = await response;
  expect(answered.status).toBe(200);
  return answered.json();
}

function expectSameAnswer(rest: unknown, schema: DescMessage, message: object) {
  expect(restShape(schema, message)).toEqual(withoutNulls(rest));
}

/** Peers as REST names them; the RPC takes the same choice as a oneof. */
interface PeersQuery {
  metric: string;
  revenueRange?: string;
  arr?: number;
  peers?: { arrMin: number; arrMax?: number; industry?: string };
  period?: string;
  sources?: string[];
}

function bandSelector({ revenueRange, arr }: PeersQuery) {
  return revenueRange !== undefined
    ? ({ case: "revenueRange", value: revenueRange } as const)
    : ({ case: "arr", value: arr! } as const);
}

function peersSelector(query: PeersQuery) {
  return query.peers ? ({ case: "peers", value: query.peers } as const) : bandSelector(query);
}

/** REST's query string: the peer group's fields are flat and lists are comma-separated. */
function queryString<T extends PeersQuery>({ peers, sources, ...rest }: T): string {
  const flat = { ...rest, ...peers, sources: sources?.join(",") };
  return new URLSearchParams(
    Object.entries(flat).flatMap(([key, value]) => (value === undefined ? [] : [[key, String(value)]])),
  ).toString();
}

const FINTECH = { arrMin: 1_000_000, arrMax: 3_000_000, industry: "fintech" };

describe("GetBenchmarkData matches GET /api/v1/benchmarks", () => {
  it.each<[string, PeersQuery & { includeStatistics?: boolean }]>([
    ["a band", { metric: "arr_growth", revenueRange: "1M-5M", period: "2024" }],
    ["an ARR figure and the latest period", { metric: "arr_growth", arr: 2_000_000 }],
    ["a band with statistics", { metric: "arr_growth", revenueRange: "1M-5M", includeStatistics: true }],
    ["a sources filter", { metric: "arr_growth", revenueRange: "1M-5M", period: "2024", sources: ["beta"] }],
    ["consistency verdicts", { metric: "grr", revenueRange: "1M-5M", period: "2024" }],
    ["a custom peer group", { metric: "ndr", peers: FINTECH, period: "2024", includeStatistics: true }],
    ["an open-ended peer group", { metric: "ndr", peers: { arrMin: 1_000_000 }, period: "2024" }],
  ])("for %s", async (_name, query) => {
    const rest = await restJson(call(`/api/v1/benchmarks?${queryString(query)}`));
    const message = await rpc.getBenchmarkData({ ...query, peersSelector: peersSelector(query) });
    expectSameAnswer(rest, GetBenchmarkDataResponseSchema, message);
  });
});

describe("GetTimeSeriesData matches GET /api/v1/benchmarks/timeseries", () => {
  it.each<[string, PeersQuery & { from?: string; to?: string; granularity?: "year" | "quarter" }]>([
    ["too few points for a trend", { metric: "arr_growth", revenueRange: "1M-5M" }],
    [
      "a quarterly trend with suppressed periods",
      { metric: "cac_payback", arr: 6_000_000, granularity: "quarter" },
    ],
    [
      "a from–to range",
      { metric: "cac_payback", revenueRange: "5M-20M", granularity: "quarter", from: "2023-Q2", to: "2023" },
    ],
    ["a trend without a CAGR", { metric: "rule_of_40", revenueRange: "0-1M", sources: ["alpha"] }],
  ])("for %s", async (_name, { granularity, ...query }) => {
    const rest = await restJson(
      call(`/api/v1/benchmarks/timeseries?${queryString({ ...query, granularity })}`),
    );
    const message = await rpc.getTimeSeriesData({
      ...query,
      bandSelector: bandSelector(query),
      granularity: granularity === "quarter" ? Granularity.QUARTER : Granularity.UNSPECIFIED,
    });
    expectSameAnswer(rest, GetTimeSeriesDataResponseSchema, message);
  });
});

describe("CalculateRanking matches POST /api/v1/benchmarks/ranking", () => {
  it.each<[string, PeersQuery & { value: number }]>([
    ["a band", { metric: "arr_growth", value: 35, revenueRange: "1M-5M" }],
    ["the pooled mixture", { metric: "arr_growth", value: 30, revenueRange: "1M-5M", period: "2024" }],
    ["a value below every quantile", { metric: "arr_growth", value: 4, arr: 2_000_000, period: "2025" }],
    [
      "a lower-is-better metric",
      { metric: "cac_payback", value: 30, revenueRange: "1M-5M", sources: ["alpha"] },
    ],
    ["a custom peer group", { metric: "ndr", value: 110, peers: FINTECH, period: "2024" }],
  ])("for %s", async (_name, query) => {
    const rest = await restJson(postJson("/api/v1/benchmarks/ranking", query));
    const message = await rpc.calculateRanking({ ...query, peersSelector: peersSelector(query) });
    expectSameAnswer(rest, CalculateRankingResponseSchema, message);
  });
});

describe("GetScorecard matches POST /api/v1/benchmarks/scorecard", () => {
  /** REST problems also carry the request path, and leave out an empty list of field errors. */
  function asRpcScorecard(rest: unknown) {
    const { results, ...card } = rest as { results: { error?: { instance: string; errors?: unknown[] } }[] };
    return {
      ...card,
      results: results.map(({ error, ...entry }) => {
        if (!error) return entry;
        const { instance: _, ...problem } = error;
        return { ...entry, error: { errors: [], ...problem } };
      }),
    };
  }

  it.each([
    [
      "rankings and per-metric errors",
      {
        arr: 2_000_000,
        values: { arr_growth: 35, cac_payback: 14, bogus: 5, logo_churn: 9, gross_margin: 101 },
      },
    ],
    ["an industry's peers", { arr: 2_000_000, industry: "fintech", period: "2024", values: { ndr: 110 } }],
  ])("for %s", async (_name, request) => {
    const rest = await restJson(postJson("/api/v1/benchmarks/scorecard", request));
    const message = await rpc.getScorecard(request);
    expectSameAnswer(asRpcScorecard(rest), GetScorecardResponseSchema, message);
  });
});

describe("the catalogue matches REST", () => {
  it("ListMetrics matches GET /api/v1/metrics", async () => {
    expectSameAnswer(
      await restJson(call("/api/v1/metrics")),
      ListMetricsResponseSchema,
      await rpc.listMetrics({}),
    );
  });

  it("ListRevenueRanges matches GET /api/v1/revenue-ranges", async () => {
    expectSameAnswer(
      await restJson(call("/api/v1/revenue-ranges")),
      ListRevenueRangesResponseSchema,
      await rpc.listRevenueRanges({}),
    );
  });

  it("ListSources matches GET /api/v1/sources, ages up to a second later", async () => {
    const rest = withoutNulls(await restJson(call("/api/v1/sources"))) as {
      sources: { ageSeconds?: number; format: string; mapping: object }[];
    };
    const message = await rpc.listSources({});
    // The RPC call comes second and may fall a tick of the clock later.
    // The registry's admin fields (format, mapping, schedule) are REST-only for now.
    const withLaterAges = rest.sources.map(({ ageSeconds, format: _, mapping: __, ...source }) =>
      ageSeconds === undefined
        ? source
        : { ...source, ageSeconds: expect.toBeOneOf([ageSeconds, ageSeconds + 1]) },
    );
    expect(restShape(ListSourcesResponseSchema, message)).toEqual({ sources: withLaterAges });
  });
});
