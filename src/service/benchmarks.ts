import { cacheKey } from "../cache/versioned-cache";
import { type CellRow, loadCell } from "../db/queries";
import type { Catalogue, Metric, RevenueRange, Source } from "../domain/catalogue";
import { ServiceError } from "../domain/errors";
import type { PeerGroupFilter } from "../domain/peer-units";
import { tracedSync } from "../observability/tracing/span";
import { type PooledDistribution, poolSources } from "../stats";
import { getCatalogue, resolveMetric, resolveRevenueRange, resolveSources } from "./catalogue";
import type { ServiceContext } from "./context";
import {
  assertMayShowPool,
  companies,
  type Disclosure,
  discloseSources,
  disclosureFor,
  withheldSource,
} from "./disclosure";
import {
  type CellQuery,
  type Distribution,
  type PanelStatistics,
  type SourceEntry,
  sourceEntries,
  toSourceSummary,
} from "./distribution";
import { loadPeerGroup } from "./peer-groups";
import { owedFor, recomputePending, type Staleness, stalenessOf } from "./staleness";

/** A (metric, band, period) cell as one caller may see it: pooled over the sources it may see. */
export interface BenchmarkCell {
  metric: Metric;
  revenueRange: RevenueRange;
  period: string;
  pooled: PooledDistribution;
  /** Every source with data in the cell; those the caller may not see are listed as withheld. */
  sources: SourceEntry[];
  panelStatistics: PanelStatistics[];
  /** Set when a recompute of the cell is owed: the summaries read are those from before the load. */
  staleness?: Staleness;
}

export interface BenchmarkResult {
  metric: Pick<Metric, "key" | "name" | "unit" | "direction">;
  revenueRange?: RevenueRange;
  peerGroup?: PeerGroupFilter;
  period: string;
  pooled: Distribution;
  sources: SourceEntry[];
  /** Custom peer groups: companies in the range that sit in units too small to show. */
  withheldCompanies?: number;
  /** Present when the answer predates a load whose recompute is still owed. */
  stale?: true;
  /** With stale: the data version the answer was current for. */
  dataVersion?: string;
  statistics?: {
    pooled: { median: number; iqr: number };
    panels: PanelStatistics[];
  };
}

/**
 * Resolves the query and returns the cell's per-source summaries with their pool, as the caller
 * may see them. Cached under the data version and the caller's view, so the hot path reads at
 * most one KV entry and never scans observations. While a recompute of the cell is owed, its
 * earlier summaries are served marked stale, or 503 when it has none yet.
 */
export async function loadBenchmarkCell(
  ctx: ServiceContext,
  catalogue: Catalogue,
  query: CellQuery,
): Promise<BenchmarkCell> {
  const metric = resolveMetric(catalogue, query.metric);
  const revenueRange = resolveRevenueRange(catalogue, query);
  const sources = resolveSources(catalogue, query.sources);
  const sourceIds = sources.map((s) => s.id);
  const disclosure = disclosureFor(ctx);
  const key = cacheKey("cell", [
    disclosure.audience,
    metric.key,
    revenueRange.key,
    query.period ?? null,
    query.sources ? sourceIds : null,
  ]);
  const { value: cell } = await ctx.cache.getOrCompute(key, async () => {
    const { rows, owed } = await loadCell(ctx.db, metric.key, revenueRange.key, query.period, sourceIds);
    const pending = owedFor(owed, query.period, rows[0]?.period);
    const what = `${metric.key} in the ${revenueRange.key} band${query.period ? ` for ${query.period}` : ""}`;
    if (rows.length === 0) {
      if (pending.length > 0) throw recomputePending(`Benchmark data for ${what}`);
      throw new ServiceError(
        "not_found",
        "no-data",
        `No benchmark data for ${what}${query.sources ? ` from ${sourceIds.join(", ")}` : ""}.`,
      );
    }
    const cell = buildCell(disclosure, metric, revenueRange, rows[0]!.period, rows, sources);
    const staleness = stalenessOf(pending);
    return staleness ? { ...cell, staleness } : cell;
  });
  return cell;
}

/** Only the sources the caller may see are pooled: a withheld one adds nothing, not even weight. */
function buildCell(
  disclosure: Disclosure,
  metric: Metric,
  revenueRange: RevenueRange,
  period: string,
  rows: CellRow[],
  sources: Source[],
): BenchmarkCell {
  const byId = new Map(sources.map((s) => [s.id, s]));
  const summaries = rows.map((row) => ({ row, summary: toSourceSummary(byId.get(row.sourceId)!, row) }));
  const { shown, withheld } = discloseSources(
    disclosure,
    summaries.map((s) => s.summary),
  );
  assertMayShowPool(
    disclosure,
    companies(shown),
    `${metric.key} in the ${revenueRange.key} band for ${period}`,
    companies(withheld),
  );
  const panelStatistics = summaries
    .filter(({ summary }) => summary.kind === "panel" && shown.includes(summary))
    .map(
      ({ row }): PanelStatistics => ({
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
    pooled: tracedSync("stats pool sources", { "stats.sources": shown.length }, () => poolSources(shown)),
    sources: sourceEntries(shown, withheld.map(withheldSource)),
    panelStatistics,
  };
}

export async function getBenchmarks(
  ctx: ServiceContext,
  query: CellQuery & { includeStatistics?: boolean | undefined },
): Promise<BenchmarkResult> {
  const catalogue = await getCatalogue(ctx);
  const cell = query.peerGroup
    ? await loadPeerGroup(ctx, catalogue, query, query.peerGroup)
    : await loadBenchmarkCell(ctx, catalogue, query);
  const { key, name, unit, direction } = cell.metric;
  const result: BenchmarkResult = {
    metric: { key, name, unit, direction },
    ...("peerGroup" in cell ? { peerGroup: cell.peerGroup } : { revenueRange: cell.revenueRange }),
    period: cell.period,
    pooled: cell.pooled,
    sources: cell.sources,
  };
  if ("withheldCompanies" in cell && cell.withheldCompanies > 0)
    result.withheldCompanies = cell.withheldCompanies;
  if (cell.staleness) Object.assign(result, cell.staleness);
  if (query.includeStatistics) {
    result.statistics = {
      pooled: { median: cell.pooled.p50, iqr: cell.pooled.p75 - cell.pooled.p25 },
      panels: cell.panelStatistics,
    };
  }
  return result;
}
