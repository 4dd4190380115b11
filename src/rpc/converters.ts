import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Metric, RevenueRange, Source } from "../domain/catalogue";
import { type ServiceError, toProblem } from "../domain/errors";
import type { PeerGroupFilter } from "../domain/peer-units";
import {
  type CalculateRankingRequest,
  type CalculateRankingResponseSchema,
  CircuitState,
  Consistency,
  DistributionMethod,
  type GetBenchmarkDataRequest,
  type GetBenchmarkDataResponseSchema,
  type GetScorecardRequest,
  type GetScorecardResponseSchema,
  type GetTimeSeriesDataRequest,
  type GetTimeSeriesDataResponseSchema,
  Granularity,
  MetricDirection,
  type MetricSchema,
  MetricUnit,
  OutlierMethod,
  type PeerGroup,
  type RevenueRangeSchema,
  SourceKind,
  type SourceSchema,
  Tier,
  TrendDirection,
} from "../gen/benchmark/v1/benchmark_pb";
import type { BenchmarkResult } from "../service/benchmarks";
import { isShown } from "../service/distribution";
import type { RankingResult } from "../service/ranking";
import type { ScorecardEntry } from "../service/scorecard";
import type { SourceWithFreshness } from "../service/sources";
import type { TimeSeriesResult } from "../service/timeseries";

/*
 * Converters between protobuf messages and the service's domain shapes. Requests become the plain
 * objects the shared zod schemas validate; results become message init shapes.
 */

/** Domain enums are lower_snake strings; the generated enums use the same words in UPPER_SNAKE. */
function toEnum<E extends Record<string, string | number>>(enumeration: E, value: string): E[keyof E] {
  return enumeration[value.toUpperCase() as keyof E];
}

function timestamp(iso: string | null) {
  return iso === null ? undefined : timestampFromDate(new Date(iso));
}

function peersOf(peers: PeerGroup) {
  return { arrMin: peers.arrMin, arrMax: peers.arrMax, industry: peers.industry };
}

function peerGroupOut(group: PeerGroupFilter) {
  return { arrMin: group.arrMin, arrMax: group.arrMax ?? undefined, industry: group.industry ?? undefined };
}

function revenueRangeOut(range: RevenueRange): MessageInitShape<typeof RevenueRangeSchema> {
  return { key: range.key, minArr: range.minArr, maxArr: range.maxArr ?? undefined };
}

const nullable = (value: number | null) => value ?? undefined;

/** A oneof of peers as the fields the shared request schemas read. */
function selectorOf(selector: GetBenchmarkDataRequest["peersSelector"]) {
  switch (selector.case) {
    case "revenueRange":
      return { revenueRange: selector.value };
    case "arr":
      return { arr: selector.value };
    case "peers":
      return { peers: peersOf(selector.value) };
    default:
      return {};
  }
}

/** Repeated fields cannot be absent, so an empty list means "not given". */
const listOrUndefined = (list: string[]) => (list.length > 0 ? list : undefined);

export function benchmarksRequestFromProto(request: GetBenchmarkDataRequest) {
  return {
    metric: request.metric,
    ...selectorOf(request.peersSelector),
    period: request.period,
    sources: listOrUndefined(request.sources),
    includeStatistics: request.includeStatistics,
  };
}

export function rankingRequestFromProto(request: CalculateRankingRequest) {
  return {
    metric: request.metric,
    value: request.value,
    ...selectorOf(request.peersSelector),
    period: request.period,
    sources: listOrUndefined(request.sources),
  };
}

/** An unknown granularity number stays unknown, so validation rejects it by name. */
function granularityOf(granularity: Granularity): string {
  if (granularity === Granularity.UNSPECIFIED) return "year";
  return Granularity[granularity]?.toLowerCase() ?? `unknown (${granularity})`;
}

export function timeSeriesRequestFromProto(request: GetTimeSeriesDataRequest) {
  const band = request.bandSelector;
  return {
    metric: request.metric,
    ...(band.case === "revenueRange" ? { revenueRange: band.value } : {}),
    ...(band.case === "arr" ? { arr: band.value } : {}),
    from: request.from,
    to: request.to,
    granularity: granularityOf(request.granularity),
    sources: listOrUndefined(request.sources),
  };
}

export function scorecardRequestFromProto(request: GetScorecardRequest) {
  return { arr: request.arr, industry: request.industry, period: request.period, values: request.values };
}

function metricInfo(metric: BenchmarkResult["metric"]) {
  return {
    key: metric.key,
    name: metric.name,
    unit: toEnum(MetricUnit, metric.unit),
    direction: toEnum(MetricDirection, metric.direction),
  };
}

export function benchmarkResponse(
  result: BenchmarkResult,
): MessageInitShape<typeof GetBenchmarkDataResponseSchema> {
  return {
    metric: metricInfo(result.metric),
    revenueRange: result.revenueRange && revenueRangeOut(result.revenueRange),
    peerGroup: result.peerGroup && peerGroupOut(result.peerGroup),
    period: result.period,
    pooled: { ...result.pooled, method: toEnum(DistributionMethod, result.pooled.method) },
    sources: result.sources.map((s) =>
      isShown(s)
        ? {
            id: s.id,
            name: s.name,
            kind: toEnum(SourceKind, s.kind),
            n: s.n,
            p10: nullable(s.p10),
            p25: s.p25,
            p50: s.p50,
            p75: s.p75,
            p90: nullable(s.p90),
            lastUpdated: timestamp(s.lastUpdated),
            consistency: toEnum(Consistency, s.consistency),
          }
        : { id: s.id, name: s.name, kind: toEnum(SourceKind, s.kind), n: s.n, withheld: s.withheld },
    ),
    withheldCompanies: result.withheldCompanies,
    stale: result.stale,
    dataVersion: result.dataVersion,
    statistics: result.statistics && {
      pooled: result.statistics.pooled,
      panels: result.statistics.panels.map((p) => ({
        sourceId: p.sourceId,
        n: p.n,
        outliersExcluded: p.outliersExcluded,
        mean: nullable(p.mean),
        sd: nullable(p.sd),
        median: p.median,
        medianInterval: p.medianInterval ?? undefined,
        iqr: p.iqr,
        skewness: nullable(p.skewness),
      })),
    },
  };
}

export function rankingResponse(
  result: RankingResult,
): MessageInitShape<typeof CalculateRankingResponseSchema> {
  return {
    ...result,
    peerGroup: result.peerGroup && peerGroupOut(result.peerGroup),
    tier: toEnum(Tier, result.tier),
  };
}

export function timeSeriesResponse(
  result: TimeSeriesResult,
): MessageInitShape<typeof GetTimeSeriesDataResponseSchema> {
  return {
    metric: metricInfo(result.metric),
    revenueRange: revenueRangeOut(result.revenueRange),
    granularity: toEnum(Granularity, result.granularity),
    points: result.points,
    suppressedPeriods: result.suppressedPeriods,
    suppressionReason: result.suppressionReason,
    trend: result.trend
      ? {
          ...result.trend,
          cagr: nullable(result.trend.cagr),
          direction: toEnum(TrendDirection, result.trend.direction),
        }
      : undefined,
    trendReason: result.trendReason,
    stale: result.stale,
    dataVersion: result.dataVersion,
  };
}

export function scorecardResponse(
  arr: number,
  results: ScorecardEntry[],
  instance: string,
): MessageInitShape<typeof GetScorecardResponseSchema> {
  return {
    arr,
    results: results.map((entry) =>
      "error" in entry
        ? {
            metric: entry.metric,
            outcome: { case: "error" as const, value: problemOut(entry.error, instance) },
          }
        : {
            metric: entry.metric,
            outcome: { case: "ranking" as const, value: rankingResponse(entry.ranking) },
          },
    ),
  };
}

function problemOut(error: ServiceError, instance: string) {
  const { type, title, status, detail, errors } = toProblem(error, instance);
  return { type, title, status, detail, errors: errors ?? [] };
}

export function metricOut(metric: Metric): MessageInitShape<typeof MetricSchema> {
  return {
    ...metric,
    unit: toEnum(MetricUnit, metric.unit),
    direction: toEnum(MetricDirection, metric.direction),
    outlierMethod: toEnum(OutlierMethod, metric.outlierMethod),
  };
}

export { revenueRangeOut };

export function sourceOut(source: SourceWithFreshness | Source): MessageInitShape<typeof SourceSchema> {
  return {
    id: source.id,
    name: source.name,
    kind: toEnum(SourceKind, source.kind),
    url: source.url ?? undefined,
    active: source.active,
    lastUpdated: timestamp(source.lastUpdated),
    ageSeconds: "ageSeconds" in source ? nullable(source.ageSeconds) : undefined,
    rejectedRows: "rejectedRows" in source ? source.rejectedRows : 0,
    circuitState: toEnum(CircuitState, source.circuitState),
    consecutiveFailures: source.consecutiveFailures,
    circuitOpenedAt: timestamp(source.circuitOpenedAt),
    nextTrialAt: "nextTrialAt" in source ? timestamp(source.nextTrialAt) : undefined,
    nextRefreshAt: timestamp(source.nextRefreshAt),
    lastError: source.lastError ?? undefined,
    lastErrorAt: timestamp(source.lastErrorAt),
    hasCredential: source.hasCredential ?? false,
  };
}
