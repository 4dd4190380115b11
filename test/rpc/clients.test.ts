import { create, isFieldSet } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PEER_GROUP_BOUNDS } from "../../src/domain/catalogue";
import {
  CalculateRankingResponseSchema,
  CircuitState,
  Consistency,
  DistributionMethod,
  GetBenchmarkDataResponseSchema,
  GetTimeSeriesDataResponseSchema,
  Granularity,
  ListRevenueRangesResponseSchema,
  MetricDirection,
  MetricSchema,
  MetricUnit,
  OutlierMethod,
  PeerGroupSchema,
  SourceKind,
  SourceSchema,
  SourceSummarySchema,
  StatisticsSchema,
  Tier,
  TimeSeriesPointSchema,
  TrendDirection,
} from "../../src/gen/benchmark/v1/benchmark_pb";
import { wilsonInterval } from "../../src/stats";
import {
  MIXED,
  PANEL_MEDIAN_INTERVAL,
  PANEL_MOMENTS,
  SINGLE,
  TEST_OBSERVATIONS,
  TEST_SOURCES,
  TEST_SUMMARIES,
} from "../helpers/sample-cells";
import { clearMemoryCache, seed } from "../helpers/seed";
import {
  type BenchmarkClient,
  clientOver,
  isoOf,
  type RecordedExchange,
  seriesRows,
  TRANSPORTS,
} from "./helpers";

/** Five falling quarters: Mann–Kendall's S = −10 gives p ≈ 0.03, a significant downward trend. */
const QUARTERLY_MEDIANS = { "2023-Q1": 20, "2023-Q2": 19, "2023-Q3": 16, "2023-Q4": 14, "2024-Q1": 12 };

beforeAll(() =>
  seed({
    sources: TEST_SOURCES,
    summaries: [
      ...TEST_SUMMARIES,
      ...seriesRows("cac_payback", "5M-20M", QUARTERLY_MEDIANS),
      // Three companies only: the period is suppressed, not shown.
      ...seriesRows("cac_payback", "5M-20M", { "2022-Q4": 25 }, 3),
    ],
    observations: TEST_OBSERVATIONS,
  }),
);
beforeEach(() => clearMemoryCache());

const BAND_1M_5M = { case: "revenueRange", value: "1M-5M" } as const;
const FINTECH_PEERS = {
  case: "peers",
  value: { arrMin: 1_000_000, arrMax: 3_000_000, industry: "fintech" },
} as const;

/** The pooled quantiles come from scipy, so they are compared to 9 digits rather than bit for bit. */
function nearQuantiles(expected: Record<"p10" | "p25" | "p50" | "p75" | "p90", number>) {
  return Object.fromEntries(Object.entries(expected).map(([q, value]) => [q, expect.closeTo(value, 9)]));
}

const timestampOf = (iso: string) => timestampFromDate(new Date(iso));

function percentileInterval(proportion: number, n: number) {
  const interval = wilsonInterval(proportion, n);
  return { low: 100 * interval.low, high: 100 * interval.high };
}

/** arr_growth at 35 against gamma's 2025 panel, which is the 1M-5M band's latest period. */
const RANKING_35_IN_1M_5M = create(CalculateRankingResponseSchema, {
  metric: "arr_growth",
  revenueRange: "1M-5M",
  period: "2025",
  value: 35,
  percentile: 75,
  percentileInterval: percentileInterval(0.75, 120),
  performancePercentile: 75,
  quartile: 4,
  tier: Tier.TOP_QUARTILE,
  peers: { n: 120, p10: 5, p25: 12, p50: 20, p75: 35, p90: 60 },
  gapToMedian: 15,
  gapToTopQuartile: 0,
});

const ARR_GROWTH_INFO = {
  key: "arr_growth",
  name: "ARR growth",
  unit: MetricUnit.PERCENT,
  direction: MetricDirection.HIGHER_IS_BETTER,
};

describe.each(TRANSPORTS)("over $name", (transport) => {
  let client: BenchmarkClient;
  let exchanges: RecordedExchange[];
  beforeEach(() => {
    ({ client, exchanges } = clientOver(transport));
  });

  // Every call really went over this transport's HTTP method, and only GET answers may be cached.
  afterEach(() => {
    expect(exchanges.length).toBeGreaterThan(0);
    for (const exchange of exchanges) {
      expect(exchange).toMatchObject({
        method: transport.httpMethod,
        status: 200,
        cacheControl: transport.httpMethod === "GET" ? "private, max-age=60" : null,
      });
    }
  });

  describe("GetBenchmarkData", () => {
    it("pools a band and leaves the quantiles a source does not publish unset", async () => {
      const response = await client.getBenchmarkData({
        metric: "arr_growth",
        peersSelector: BAND_1M_5M,
        period: "2024",
      });
      expect(response).toEqual(
        create(GetBenchmarkDataResponseSchema, {
          metric: ARR_GROWTH_INFO,
          revenueRange: { key: "1M-5M", minArr: 1_000_000, maxArr: 5_000_000 },
          period: "2024",
          pooled: {
            n: 400,
            method: DistributionMethod.CDF_MIXTURE,
            ...nearQuantiles(MIXED.expectedQuantiles),
          },
          sources: [
            {
              id: "alpha",
              name: "Alpha Survey",
              kind: SourceKind.SURVEY,
              n: 150,
              p10: 8,
              p25: 15,
              p50: 27,
              p75: 45,
              p90: 70,
              lastUpdated: timestampOf("2026-01-15T00:00:00.000Z"),
              consistency: Consistency.UNKNOWN,
            },
            {
              id: "beta",
              name: "Beta Survey",
              kind: SourceKind.SURVEY,
              n: 250,
              p25: 18,
              p50: 30,
              p75: 48,
              lastUpdated: timestampOf("2026-02-01T00:00:00.000Z"),
              consistency: Consistency.UNKNOWN,
            },
          ],
        }),
      );
      const [alpha, beta] = response.sources;
      expect(response.sources.map((s) => isoOf(s.lastUpdated))).toEqual([
        TEST_SOURCES[0]!.lastUpdated,
        TEST_SOURCES[1]!.lastUpdated,
      ]);
      // Where REST says null, the message leaves the optional field unset.
      expect(isFieldSet(alpha!, SourceSummarySchema.field.p10)).toBe(true);
      expect(isFieldSet(beta!, SourceSummarySchema.field.p10)).toBe(false);
      expect(isFieldSet(beta!, SourceSummarySchema.field.p90)).toBe(false);
      expect(response.peerGroup).toBeUndefined();
      expect(response.statistics).toBeUndefined();
    });

    it("adds descriptive statistics on request", async () => {
      const response = await client.getBenchmarkData({
        metric: "arr_growth",
        peersSelector: { case: "arr", value: 2_000_000 },
        includeStatistics: true,
      });
      expect(response.period).toBe("2025");
      expect(response.pooled).toMatchObject({ n: 120, method: DistributionMethod.SINGLE_SOURCE });
      expect(response.statistics).toEqual(
        create(StatisticsSchema, {
          pooled: { median: 20, iqr: 23 },
          panels: [
            {
              sourceId: "gamma",
              n: 120,
              outliersExcluded: PANEL_MOMENTS.outliersExcluded,
              mean: PANEL_MOMENTS.mean,
              sd: PANEL_MOMENTS.sd,
              median: 20,
              medianInterval: {
                low: PANEL_MEDIAN_INTERVAL.medianLow,
                high: PANEL_MEDIAN_INTERVAL.medianHigh,
              },
              iqr: 23,
              skewness: PANEL_MOMENTS.skewness,
            },
          ],
        }),
      );
    });

    it("serves a custom peer group from panel rows", async () => {
      const response = await client.getBenchmarkData({
        metric: "ndr",
        peersSelector: FINTECH_PEERS,
        period: "2024",
      });
      expect(response.peerGroup).toEqual(create(PeerGroupSchema, FINTECH_PEERS.value));
      expect(response.revenueRange).toBeUndefined();
      // 100…119 once the 290 outlier is excluded.
      expect(response.pooled).toMatchObject({
        n: 20,
        p10: 101.9,
        p25: 104.75,
        p50: 109.5,
        p75: 114.25,
        p90: 117.1,
        method: DistributionMethod.PANEL_OBSERVATIONS,
      });
      expect(response.sources.map((s) => [s.id, s.kind, s.n])).toEqual([["gamma", SourceKind.PANEL, 20]]);
    });
  });

  describe("GetTimeSeriesData", () => {
    it("gives no trend below three points, and says why", async () => {
      const response = await client.getTimeSeriesData({ metric: "arr_growth", bandSelector: BAND_1M_5M });
      expect(response).toEqual(
        create(GetTimeSeriesDataResponseSchema, {
          metric: ARR_GROWTH_INFO,
          revenueRange: { key: "1M-5M", minArr: 1_000_000, maxArr: 5_000_000 },
          // Unspecified granularity means annual.
          granularity: Granularity.YEAR,
          points: [
            { period: "2024", n: 400, ...nearQuantiles(MIXED.expectedQuantiles) },
            { period: "2025", n: 120, ...SINGLE.expectedQuantiles },
          ],
          suppressedPeriods: [],
          trendReason: "A trend needs at least 3 periods with data; there are 2.",
        }),
      );
      expect(response.trend).toBeUndefined();
    });

    it("fits a quarterly trend and lists the suppressed periods", async () => {
      const response = await client.getTimeSeriesData({
        metric: "cac_payback",
        bandSelector: { case: "arr", value: 6_000_000 },
        granularity: Granularity.QUARTER,
      });
      expect(response.metric).toMatchObject({
        unit: MetricUnit.MONTHS,
        direction: MetricDirection.LOWER_IS_BETTER,
      });
      expect(response.revenueRange).toMatchObject({ key: "5M-20M", minArr: 5_000_000, maxArr: 20_000_000 });
      expect(response.granularity).toBe(Granularity.QUARTER);
      expect(response.suppressedPeriods).toEqual(["2022-Q4"]);
      expect(response.suppressionReason).toBe(
        "k-anonymity: in each of these periods the sources that may be shown pool fewer than 5 companies",
      );
      expect(response.points.map((p) => p.period)).toEqual(Object.keys(QUARTERLY_MEDIANS));
      expect(response.points[0]).toEqual(
        create(TimeSeriesPointSchema, {
          period: "2023-Q1",
          n: 100,
          p10: expect.closeTo(16.8, 12),
          p25: 18,
          p50: 20,
          p75: 22,
          p90: expect.closeTo(23.2, 12),
        }),
      );
      const trend = response.trend!;
      expect(trend.direction).toBe(TrendDirection.DOWN);
      expect(trend.mannKendall).toMatchObject({ s: -10, tau: -1 });
      expect(trend.mannKendall!.pValue).toBeLessThan(0.05);
      // From 20 to 12 over one year.
      expect(trend.cagr).toBeCloseTo(-0.4, 12);
      // Per year: least squares gives −5.25 / 0.625, Theil–Sen the median of the pairwise slopes.
      expect(trend.ols!.slope).toBeCloseTo(-8.4, 9);
      expect(trend.theilSen!.slope).toBeCloseTo(-8, 9);
      expect(response.trendReason).toBeUndefined();
    });
  });

  describe("CalculateRanking", () => {
    it("ranks a value against a band", async () => {
      const response = await client.calculateRanking({
        metric: "arr_growth",
        value: 35,
        peersSelector: BAND_1M_5M,
      });
      expect(response).toEqual(RANKING_35_IN_1M_5M);
      expect(response.peerGroup).toBeUndefined();
    });

    it("ranks a value against a custom peer group", async () => {
      const response = await client.calculateRanking({
        metric: "ndr",
        value: 110,
        peersSelector: FINTECH_PEERS,
        period: "2024",
      });
      expect(response).toEqual(
        create(CalculateRankingResponseSchema, {
          metric: "ndr",
          peerGroup: FINTECH_PEERS.value,
          period: "2024",
          value: 110,
          percentile: 52.5,
          percentileInterval: percentileInterval(0.525, 20),
          performancePercentile: 52.5,
          quartile: 3,
          tier: Tier.ABOVE_MEDIAN,
          peers: { n: 20, p10: 101.9, p25: 104.75, p50: 109.5, p75: 114.25, p90: 117.1 },
          gapToMedian: 0.5,
          gapToTopQuartile: 110 - 114.25,
        }),
      );
      expect(isFieldSet(response, CalculateRankingResponseSchema.field.revenueRange)).toBe(false);
    });
  });

  describe("GetScorecard", () => {
    it("ranks each metric on its own and reports the failures in place", async () => {
      const response = await client.getScorecard({
        arr: 2_000_000,
        values: { arr_growth: 35, logo_churn: 9, bogus: 5 },
      });
      expect(response.arr).toBe(2_000_000);
      expect(response.results.map((entry) => [entry.metric, entry.outcome.case])).toEqual([
        ["arr_growth", "ranking"],
        ["logo_churn", "error"],
        ["bogus", "error"],
      ]);
      const [ranked, tooSmall, unknown] = response.results.map((entry) => entry.outcome.value);
      expect(ranked).toEqual(RANKING_35_IN_1M_5M);
      expect(tooSmall).toMatchObject({
        type: "/problems/peer-group-too-small",
        title: "Request cannot be served",
        status: 422,
        detail:
          "logo_churn in the 1M-5M band for 2024 has 4 companies; at least 5 are needed before statistics are shown.",
        errors: [],
      });
      expect(unknown).toMatchObject({
        type: "/problems/validation-failed",
        title: "Invalid request",
        status: 400,
        detail: 'metric: Unknown metric "bogus". GET /api/v1/metrics lists the metrics.',
        errors: [
          { field: "metric", message: 'Unknown metric "bogus". GET /api/v1/metrics lists the metrics.' },
        ],
      });
    });
  });

  describe("catalogue", () => {
    it("ListMetrics lists the catalogue with enum-typed units and directions", async () => {
      const { metrics } = await client.listMetrics({});
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
      expect(metrics[4]).toEqual(
        create(MetricSchema, {
          key: "cac_payback",
          name: "CAC payback",
          unit: MetricUnit.MONTHS,
          direction: MetricDirection.LOWER_IS_BETTER,
          minValue: 0,
          maxValue: 120,
          definition:
            "Months of gross-margin-adjusted new revenue needed to recover the cost of acquiring it.",
          outlierMethod: OutlierMethod.MODIFIED_Z,
        }),
      );
    });

    it("ListRevenueRanges leaves the open top band's upper bound unset", async () => {
      expect(await client.listRevenueRanges({})).toEqual(
        create(ListRevenueRangesResponseSchema, {
          revenueRanges: [
            { key: "0-1M", minArr: 0, maxArr: 1_000_000 },
            { key: "1M-5M", minArr: 1_000_000, maxArr: 5_000_000 },
            { key: "5M-20M", minArr: 5_000_000, maxArr: 20_000_000 },
            { key: "20M-50M", minArr: 20_000_000, maxArr: 50_000_000 },
            { key: "50M+", minArr: 50_000_000 },
          ],
          peerGroupBounds: [...PEER_GROUP_BOUNDS],
        }),
      );
    });

    it("ListSources gives freshness as a Timestamp and an age", async () => {
      const before = Date.now();
      const { sources } = await client.listSources({});
      const loaded = (iso: string) => ({ lastUpdated: timestampOf(iso), ageSeconds: expect.any(Number) });
      expect(sources).toEqual(
        [
          {
            id: "alpha",
            name: "Alpha Survey",
            kind: SourceKind.SURVEY,
            ...loaded("2026-01-15T00:00:00.000Z"),
          },
          { id: "beta", name: "Beta Survey", kind: SourceKind.SURVEY, ...loaded("2026-02-01T00:00:00.000Z") },
          { id: "gamma", name: "Gamma Panel", kind: SourceKind.PANEL, ...loaded("2026-03-01T00:00:00.000Z") },
          // Never loaded: no Timestamp and no age.
          { id: "retired", name: "Retired Survey", kind: SourceKind.SURVEY, active: false },
        ].map((source) =>
          create(SourceSchema, {
            active: true,
            rejectedRows: 0,
            circuitState: CircuitState.CLOSED,
            consecutiveFailures: 0,
            ...source,
          }),
        ),
      );
      expect(sources.map((s) => isoOf(s.lastUpdated))).toEqual(
        TEST_SOURCES.map((s) => s.lastUpdated ?? undefined),
      );
      for (const source of sources.filter((s) => s.lastUpdated)) {
        const expectedAge = Math.floor((before - timestampDate(source.lastUpdated!).getTime()) / 1000);
        expect(source.ageSeconds).toBeGreaterThanOrEqual(expectedAge);
        expect(source.ageSeconds).toBeLessThanOrEqual(expectedAge + 5);
      }
    });
  });
});
