import { invalidArgument } from "../domain/errors";
import {
  type FiveQuantiles,
  PooledCdf,
  performancePercentile,
  quartileOf,
  type Tier,
  tierOf,
} from "../stats";
import { type CellQuery, loadBenchmarkCell } from "./benchmarks";
import { getCatalogue, resolveMetric } from "./catalogue";
import type { ServiceContext } from "./context";

export type PeerQuantiles = FiveQuantiles & { n: number };

export interface RankingQuery extends CellQuery {
  value: number;
}

export interface RankingResult {
  metric: string;
  revenueRange: string;
  period: string;
  value: number;
  /** The value's position among peers, 100·F(v). */
  percentile: number;
  /** The percentile turned so that higher is always better. */
  performancePercentile: number;
  quartile: 1 | 2 | 3 | 4;
  tier: Tier;
  peers: PeerQuantiles;
  /** value − peer median, in the metric's unit. */
  gapToMedian: number;
  /** value − the top-quartile threshold (p75, or p25 when lower is better), in the metric's unit. */
  gapToTopQuartile: number;
}

export async function rankValue(ctx: ServiceContext, query: RankingQuery): Promise<RankingResult> {
  const metric = resolveMetric(await getCatalogue(ctx), query.metric);
  if (query.value < metric.minValue || query.value > metric.maxValue) {
    throw invalidArgument([
      {
        field: "value",
        message: `${metric.name} must lie between ${metric.minValue} and ${metric.maxValue} (${metric.unit}).`,
      },
    ]);
  }
  const cell = await loadBenchmarkCell(ctx, query);
  const { pooled } = cell;
  const percentile = 100 * new PooledCdf(cell.sources).cdf(query.value);
  const performance = performancePercentile(percentile, metric.direction);
  const topQuartileThreshold = metric.direction === "higher_is_better" ? pooled.p75 : pooled.p25;
  return {
    metric: metric.key,
    revenueRange: cell.revenueRange.key,
    period: cell.period,
    value: query.value,
    percentile,
    performancePercentile: performance,
    quartile: quartileOf(performance),
    tier: tierOf(performance),
    peers: {
      n: pooled.n,
      p10: pooled.p10,
      p25: pooled.p25,
      p50: pooled.p50,
      p75: pooled.p75,
      p90: pooled.p90,
    },
    gapToMedian: query.value - pooled.p50,
    gapToTopQuartile: query.value - topQuartileThreshold,
  };
}
