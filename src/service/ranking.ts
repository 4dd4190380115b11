import type { Catalogue, Metric } from "../domain/catalogue";
import { invalidArgument } from "../domain/errors";
import type { PeerGroupFilter } from "../domain/peer-units";
import { tracedSync } from "../observability/tracing/span";
import {
  type FiveQuantiles,
  type Interval,
  PooledCdf,
  percentileRank,
  performancePercentile,
  quartileOf,
  type Tier,
  tierOf,
  wilsonInterval,
} from "../stats";
import { type BenchmarkCell, loadBenchmarkCell } from "./benchmarks";
import { getCatalogue, resolveMetric } from "./catalogue";
import type { ServiceContext } from "./context";
import { type CellQuery, isShown } from "./distribution";
import { loadPeerGroup } from "./peer-groups";

export type PeerQuantiles = FiveQuantiles & { n: number };

interface RankingQuery extends CellQuery {
  value: number;
}

export interface RankingResult {
  metric: string;
  revenueRange?: string;
  peerGroup?: PeerGroupFilter;
  period: string;
  value: number;
  /** The value's position among peers: 100·F(v) against pooled sources, the mean-kind rank against panel rows. */
  percentile: number;
  /** 95% Wilson interval for the percentile, treating it as a proportion of the peers' n. */
  percentileInterval: Interval;
  /** The percentile turned so that higher is always better. */
  performancePercentile: number;
  quartile: 1 | 2 | 3 | 4;
  tier: Tier;
  peers: PeerQuantiles;
  /** value − peer median, in the metric's unit. */
  gapToMedian: number;
  /** value − the top-quartile threshold (p75, or p25 when lower is better), in the metric's unit. */
  gapToTopQuartile: number;
  /** Custom peer groups: companies in the range that sit in units too small to show. */
  withheldCompanies?: number;
  /** Present when the peers predate a load whose recompute is still owed. */
  stale?: true;
  /** With stale: the data version the peers were current for. */
  dataVersion?: string;
}

function assertValueInRange(metric: Metric, value: number, field = "value"): void {
  if (value < metric.minValue || value > metric.maxValue) {
    throw invalidArgument([
      {
        field,
        message: `${metric.name} must lie between ${metric.minValue} and ${metric.maxValue} (${metric.unit}).`,
      },
    ]);
  }
}

export async function rankValue(ctx: ServiceContext, query: RankingQuery): Promise<RankingResult> {
  return rankIn(ctx, await getCatalogue(ctx), query);
}

/** A ranking against a catalogue already resolved, as a scorecard resolves it once for all its metrics. */
export async function rankIn(
  ctx: ServiceContext,
  catalogue: Catalogue,
  query: RankingQuery,
): Promise<RankingResult> {
  const metric = resolveMetric(catalogue, query.metric);
  assertValueInRange(metric, query.value);
  const { value } = query;
  if (query.peerGroup) {
    const group = await loadPeerGroup(ctx, catalogue, query, query.peerGroup);
    const percentile = tracedSync(
      "stats percentile rank",
      { "stats.observations": group.values.length },
      () => percentileRank(group.values, value),
    );
    return describeRank(metric, value, percentile, group.pooled, {
      peerGroup: group.peerGroup,
      period: group.period,
      ...(group.withheldCompanies > 0 ? { withheldCompanies: group.withheldCompanies } : {}),
      ...group.staleness,
    });
  }
  const cell = await loadBenchmarkCell(ctx, catalogue, query);
  const pooled = pooledCdfOf(cell);
  const percentile = tracedSync(
    "stats pooled percentile",
    { "stats.sources": pooled.sources },
    () => 100 * pooled.cdf.cdf(value),
  );
  return describeRank(metric, value, percentile, cell.pooled, {
    revenueRange: cell.revenueRange.key,
    period: cell.period,
    ...cell.staleness,
  });
}

/** The pooled CDF of each cell the isolate holds, built once: every ranking against the cell reads the same one. */
const pooledCdfs = new WeakMap<BenchmarkCell, { cdf: PooledCdf; sources: number }>();

function pooledCdfOf(cell: BenchmarkCell): { cdf: PooledCdf; sources: number } {
  let pooled = pooledCdfs.get(cell);
  if (pooled === undefined) {
    const shown = cell.sources.filter(isShown);
    pooled = { cdf: new PooledCdf(shown), sources: shown.length };
    pooledCdfs.set(cell, pooled);
  }
  return pooled;
}

function describeRank(
  metric: Metric,
  value: number,
  percentile: number,
  peers: PeerQuantiles,
  where: Pick<
    RankingResult,
    "revenueRange" | "peerGroup" | "period" | "withheldCompanies" | "stale" | "dataVersion"
  >,
): RankingResult {
  const performance = performancePercentile(percentile, metric.direction);
  const interval = wilsonInterval(percentile / 100, peers.n);
  const topQuartileThreshold = metric.direction === "higher_is_better" ? peers.p75 : peers.p25;
  return {
    metric: metric.key,
    ...where,
    value,
    percentile,
    percentileInterval: { low: 100 * interval.low, high: 100 * interval.high },
    performancePercentile: performance,
    quartile: quartileOf(performance),
    tier: tierOf(performance),
    peers: { n: peers.n, p10: peers.p10, p25: peers.p25, p50: peers.p50, p75: peers.p75, p90: peers.p90 },
    gapToMedian: value - peers.p50,
    gapToTopQuartile: value - topQuartileThreshold,
  };
}
