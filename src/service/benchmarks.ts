import { type CellRow, latestPeriod, loadCell } from "../db/queries";
import type { Metric, QuantileRow, RevenueRange, Source, SourceKind } from "../domain/catalogue";
import { ServiceError } from "../domain/errors";
import { type PooledDistribution, poolSources } from "../stats";
import { getCatalogue, resolveMetric, resolveRevenueRange, resolveSources } from "./catalogue";
import type { ServiceContext } from "./context";

/** Addresses one benchmark cell: a metric, a band (or an ARR figure), a period and sources. */
export interface CellQuery {
  metric: string;
  revenueRange?: string | undefined;
  arr?: number | undefined;
  /** Omitted: the latest period that has data. */
  period?: string | undefined;
  sources?: string[] | undefined;
}

export interface SourceSummary extends QuantileRow {
  id: string;
  name: string;
  kind: SourceKind;
  lastUpdated: string | null;
}

export interface PanelStatistics {
  sourceId: string;
  n: number;
  outliersExcluded: number;
  mean: number | null;
  sd: number | null;
  median: number;
  iqr: number;
  skewness: number | null;
}

export interface BenchmarkCell {
  metric: Metric;
  revenueRange: RevenueRange;
  period: string;
  pooled: PooledDistribution;
  sources: SourceSummary[];
  panelStatistics: PanelStatistics[];
}

export interface BenchmarkResult {
  metric: Pick<Metric, "key" | "name" | "unit" | "direction">;
  revenueRange: RevenueRange;
  period: string;
  pooled: PooledDistribution;
  sources: SourceSummary[];
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
  if (cell.pooled.n < ctx.config.minPeerGroup) {
    throw new ServiceError(
      "failed_precondition",
      "peer-group-too-small",
      `The peer group has ${cell.pooled.n} companies; at least ${ctx.config.minPeerGroup} are needed before statistics are shown.`,
    );
  }
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
  const summaries = rows.map((row): SourceSummary => {
    const source = byId.get(row.sourceId)!;
    return {
      id: source.id,
      name: source.name,
      kind: source.kind,
      n: row.n,
      p10: row.p10,
      p25: row.p25,
      p50: row.p50,
      p75: row.p75,
      p90: row.p90,
      lastUpdated: source.lastUpdated,
    };
  });
  const panelStatistics = rows
    .filter((row) => byId.get(row.sourceId)!.kind === "panel")
    .map((row) => ({
      sourceId: row.sourceId,
      n: row.n,
      outliersExcluded: row.outliersExcluded,
      mean: row.mean,
      sd: row.sd,
      median: row.p50,
      iqr: row.p75 - row.p25,
      skewness: row.skewness,
    }));
  return {
    metric,
    revenueRange,
    period,
    pooled: poolSources(summaries),
    sources: summaries,
    panelStatistics,
  };
}

export async function getBenchmarks(
  ctx: ServiceContext,
  query: CellQuery & { includeStatistics?: boolean | undefined },
): Promise<BenchmarkResult> {
  const cell = await loadBenchmarkCell(ctx, query);
  const { key, name, unit, direction } = cell.metric;
  const result: BenchmarkResult = {
    metric: { key, name, unit, direction },
    revenueRange: cell.revenueRange,
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
