import { type CellRow, latestPeriod, loadCell, type PeerGroupFilter } from "../db/queries";
import type { Metric, RevenueRange, Source } from "../domain/catalogue";
import { ServiceError } from "../domain/errors";
import { tracedSync } from "../observability/tracing/span";
import { type PooledDistribution, poolSources } from "../stats";
import { getCatalogue, resolveMetric, resolveRevenueRange, resolveSources } from "./catalogue";
import type { ServiceContext } from "./context";
import {
  assertPeerGroupSize,
  type CellQuery,
  type Consistency,
  type Distribution,
  type PanelStatistics,
  type SourceSummary,
  toSourceSummary,
  withConsistency,
} from "./distribution";
import { loadPeerGroup } from "./peer-groups";

export interface BenchmarkCell {
  metric: Metric;
  revenueRange: RevenueRange;
  period: string;
  pooled: PooledDistribution;
  sources: (SourceSummary & { consistency: Consistency })[];
  panelStatistics: PanelStatistics[];
}

export interface BenchmarkResult {
  metric: Pick<Metric, "key" | "name" | "unit" | "direction">;
  revenueRange?: RevenueRange;
  peerGroup?: PeerGroupFilter;
  period: string;
  pooled: Distribution;
  sources: (SourceSummary & { consistency: Consistency })[];
  statistics?: {
    pooled: { median: number; iqr: number };
    panels: PanelStatistics[];
  };
}

/**
 * Resolves the query and returns the cell's per-source summaries with their pool. Cached under
 * the data version, so the hot path reads at most one KV entry and never scans observations.
 */
export async function loadBenchmarkCell(ctx: ServiceContext, query: CellQuery): Promise<BenchmarkCell> {
  const catalogue = await getCatalogue(ctx);
  const metric = resolveMetric(catalogue, query.metric);
  const revenueRange = resolveRevenueRange(catalogue, query);
  const sources = resolveSources(catalogue, query.sources);
  const sourceIds = sources.map((s) => s.id);
  const key = `cell:${metric.key}:${revenueRange.key}:${query.period ?? "latest"}:${query.sources ? sourceIds.join(",") : "*"}`;
  const { value: cell } = await ctx.cache.getOrCompute(key, async () => {
    const period = query.period ?? (await latestPeriod(ctx.db, metric.key, revenueRange.key, sourceIds));
    const rows = period ? await loadCell(ctx.db, metric.key, revenueRange.key, period, sourceIds) : [];
    if (!period || rows.length === 0) {
      throw new ServiceError(
        "not_found",
        "no-data",
        `No benchmark data for ${metric.key} in the ${revenueRange.key} band` +
          (query.period ? ` for ${query.period}` : "") +
          (query.sources ? ` from ${sourceIds.join(", ")}` : "") +
          ".",
      );
    }
    return buildCell(metric, revenueRange, period, rows, sources);
  });
  assertPeerGroupSize(ctx, cell.pooled.n);
  return cell;
}

function buildCell(
  metric: Metric,
  revenueRange: RevenueRange,
  period: string,
  rows: CellRow[],
  sources: Source[],
): BenchmarkCell {
  const byId = new Map(sources.map((s) => [s.id, s]));
  const summaries = rows.map((row) => toSourceSummary(byId.get(row.sourceId)!, row));
  const panelStatistics = rows
    .filter((row) => byId.get(row.sourceId)!.kind === "panel")
    .map(
      (row): PanelStatistics => ({
        sourceId: row.sourceId,
        n: row.n,
        outliersExcluded: row.outliersExcluded,
        mean: row.mean,
        sd: row.sd,
        median: row.p50,
        medianInterval:
          row.medianLow === null || row.medianHigh === null
            ? null
            : { low: row.medianLow, high: row.medianHigh },
        iqr: row.p75 - row.p25,
        skewness: row.skewness,
      }),
    );
  return {
    metric,
    revenueRange,
    period,
    pooled: tracedSync("stats pool sources", { "stats.sources": summaries.length }, () =>
      poolSources(summaries),
    ),
    sources: withConsistency(summaries),
    panelStatistics,
  };
}

export async function getBenchmarks(
  ctx: ServiceContext,
  query: CellQuery & { includeStatistics?: boolean | undefined },
): Promise<BenchmarkResult> {
  const cell = query.peerGroup
    ? await loadPeerGroup(ctx, query, query.peerGroup)
    : await loadBenchmarkCell(ctx, query);
  const { key, name, unit, direction } = cell.metric;
  const result: BenchmarkResult = {
    metric: { key, name, unit, direction },
    ...("peerGroup" in cell ? { peerGroup: cell.peerGroup } : { revenueRange: cell.revenueRange }),
    period: cell.period,
    pooled: cell.pooled,
    sources: cell.sources,
  };
  if (query.includeStatistics) {
    result.statistics = {
      pooled: { median: cell.pooled.p50, iqr: cell.pooled.p75 - cell.pooled.p25 },
      panels: cell.panelStatistics,
    };
  }
  return result;
}
