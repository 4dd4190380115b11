import { latestPeriod, type PeerGroupFilter, peerGroupValues } from "../db/queries";
import type { Metric } from "../domain/catalogue";
import { ServiceError } from "../domain/errors";
import { tracedSync } from "../observability/tracing/span";
import { describe, fiveQuantiles, flagOutliers, medianInterval, sortAscending } from "../stats";
import { getCatalogue, resolveMetric, resolveSources } from "./catalogue";
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

export interface PeerGroupAggregate {
  metric: Metric;
  peerGroup: PeerGroupFilter;
  period: string;
  /** The peer group's values after outlier exclusion, ascending: ranking reads them directly. */
  values: number[];
  pooled: Distribution;
  sources: (SourceSummary & { consistency: Consistency })[];
  panelStatistics: PanelStatistics[];
}

function describePeerGroup(filter: PeerGroupFilter): string {
  const upper = filter.arrMax === null ? "and above" : `to ${filter.arrMax}`;
  return `ARR ${filter.arrMin} ${upper}${filter.industry ? ` in ${filter.industry}` : ""}`;
}

function panelStatistics(sourceId: string, sorted: number[], outliersExcluded: number): PanelStatistics {
  const moments = describe(sorted);
  const interval = medianInterval(sorted);
  return {
    sourceId,
    n: moments.n,
    outliersExcluded,
    mean: moments.mean,
    sd: moments.sd,
    median: moments.median,
    medianInterval: interval && { low: interval.low, high: interval.high },
    iqr: moments.iqr,
    skewness: moments.skewness,
  };
}

/**
 * A custom peer group: the panel companies of one period inside an ARR range (and industry).
 * One indexed range read on a cache miss; outliers are flagged within the group itself, since
 * the group, not the band, is the population being compared against.
 */
export async function loadPeerGroup(
  ctx: ServiceContext,
  query: CellQuery,
  peerGroup: PeerGroupFilter,
): Promise<PeerGroupAggregate> {
  const catalogue = await getCatalogue(ctx);
  const metric = resolveMetric(catalogue, query.metric);
  const panels = resolveSources(catalogue, query.sources).filter((s) => s.kind === "panel");
  if (panels.length === 0) {
    throw new ServiceError(
      "not_found",
      "no-panel",
      "Custom peer groups need company-level panel data, and none of the selected sources is a panel.",
    );
  }
  const panelIds = panels.map((s) => s.id);
  const key = `peers:${metric.key}:${peerGroup.arrMin}:${peerGroup.arrMax}:${peerGroup.industry}:${query.period ?? "latest"}:${panelIds.join(",")}`;
  const { value: aggregate } = await ctx.cache.getOrCompute(key, async (): Promise<PeerGroupAggregate> => {
    const period = query.period ?? (await latestPeriod(ctx.db, metric.key, null, panelIds));
    if (!period) {
      throw new ServiceError("not_found", "no-data", `No panel data for ${metric.key}.`);
    }
    const rows = await peerGroupValues(ctx.db, metric.key, period, panelIds, peerGroup);
    const flags = tracedSync("stats flag outliers", { "stats.observations": rows.length }, () =>
      flagOutliers(
        rows.map((r) => r.value),
        metric.outlierMethod,
      ),
    );
    const kept = rows.filter((_, i) => !flags[i]);
    const values = sortAscending(kept.map((r) => r.value));
    // Small groups are refused before anything is computed or cached from them.
    assertPeerGroupSize(ctx, values.length, `${describePeerGroup(peerGroup)}, ${period}`);
    const bySource = panels.flatMap((source) => {
      const sourceRows = rows.filter((r) => r.sourceId === source.id);
      const sorted = sortAscending(kept.filter((r) => r.sourceId === source.id).map((r) => r.value));
      if (sorted.length === 0) return [];
      const summary = toSourceSummary(source, { n: sorted.length, ...fiveQuantiles(sorted) });
      return [{ summary, statistics: panelStatistics(source.id, sorted, sourceRows.length - sorted.length) }];
    });
    return {
      metric,
      peerGroup,
      period,
      values,
      pooled: { n: values.length, ...fiveQuantiles(values), method: "panel_observations" },
      sources: withConsistency(bySource.map((s) => s.summary)),
      panelStatistics: bySource.map((s) => s.statistics),
    };
  });
  // Checked again on a hit: the minimum may have been raised since the group was cached.
  assertPeerGroupSize(ctx, aggregate.values.length, `${describePeerGroup(peerGroup)}, ${aggregate.period}`);
  return aggregate;
}
