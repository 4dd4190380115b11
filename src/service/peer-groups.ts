import { cacheKey } from "../cache/versioned-cache";
import { peerGroupRows } from "../db/queries";
import type { Catalogue, Metric, RevenueRange } from "../domain/catalogue";
import { ServiceError } from "../domain/errors";
import type { PeerGroupFilter } from "../domain/peer-units";
import { describe, fiveQuantiles, medianInterval, sortAscending } from "../stats";
import { resolveMetric, resolveSources } from "./catalogue";
import type { ServiceContext } from "./context";
import {
  assertMayShowPool,
  disclosureFor,
  releasedUnits,
  summarizedUnits,
  type WithheldSource,
  withheldSource,
} from "./disclosure";
import {
  type CellQuery,
  type Distribution,
  type PanelStatistics,
  type SourceEntry,
  type SourceSummary,
  sourceEntries,
  toSourceSummary,
} from "./distribution";
import { owedFor, recomputePending, type Staleness } from "./staleness";

interface PeerGroupAggregate {
  metric: Metric;
  peerGroup: PeerGroupFilter;
  period: string;
  /** The peer group's values shown, ascending: ranking reads them directly. */
  values: number[];
  pooled: Distribution;
  sources: SourceEntry[];
  panelStatistics: PanelStatistics[];
  /** Companies of the group left out because they sit in units too small to show. */
  withheldCompanies: number;
  /** Set when a recompute the group reads is owed: this is the group's last answer from before. */
  staleness?: Staleness;
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

/** The bands a peer group reaches into: deciding what may be shown takes the units of each. */
function bandsReached(ranges: readonly RevenueRange[], group: PeerGroupFilter): string[] {
  const arrMax = group.arrMax;
  return ranges
    .filter((r) => (r.maxArr === null || group.arrMin < r.maxArr) && (arrMax === null || r.minArr < arrMax))
    .map((r) => r.key);
}

/**
 * A custom peer group: the panel companies of one period inside an ARR range (and industry).
 * Outliers are those recompute flagged in each company's band, so that every request sees the
 * same companies as kept; of those, the caller sees what service/disclosure.ts releases. On a
 * cache miss, one round trip reads the group's own rows, through one index range, and the unit
 * counts of the bands it reaches into (of the latest period with panel data, when none is asked).
 * While a recompute of any of those cells is owed, the rows are half new and the outlier flags
 * old: the group's last answer from whole data is served, marked stale, or 503 when it has none.
 */
export async function loadPeerGroup(
  ctx: ServiceContext,
  catalogue: Catalogue,
  query: CellQuery,
  peerGroup: PeerGroupFilter,
): Promise<PeerGroupAggregate> {
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
  const disclosure = disclosureFor(ctx);
  const key = cacheKey("peers", [
    disclosure.audience,
    metric.key,
    peerGroup.arrMin,
    peerGroup.arrMax,
    peerGroup.industry,
    query.period ?? null,
    panelIds,
  ]);
  const { value: aggregate } = await ctx.cache.getOrCompute(
    key,
    async (version): Promise<PeerGroupAggregate> => {
      const {
        period,
        rows: inGroup,
        units,
        owed,
      } = await peerGroupRows(
        ctx.db,
        metric.key,
        query.period,
        panelIds,
        peerGroup,
        bandsReached(catalogue.revenueRanges, peerGroup),
      );
      if (owedFor(owed, query.period, period).length > 0) {
        const earlier = await ctx.cache.lastGood<PeerGroupAggregate>(key);
        if (earlier) return { ...earlier.value, staleness: { stale: true, dataVersion: earlier.version } };
        throw recomputePending(`The peer group (${describePeerGroup(peerGroup)}) for ${metric.key}`);
      }
      if (period === undefined) {
        throw new ServiceError("not_found", "no-data", `No panel data for ${metric.key}.`);
      }
      const kept = inGroup.filter((row) => !row.isOutlier);
      const where = `${describePeerGroup(peerGroup)}, ${period}`;
      if (kept.length === 0) {
        throw new ServiceError(
          "not_found",
          "no-data",
          `No panel companies for ${metric.key} in the peer group (${where}).`,
        );
      }
      // Refused before anything is computed or cached from so few.
      assertMayShowPool(disclosure, kept.length, `The peer group (${where})`);
      const byIndustry = peerGroup.industry !== null;
      const summarized = summarizedUnits(disclosure, inGroup, units, byIndustry);
      const released = releasedUnits(disclosure, units);
      const inUnit = byIndustry ? released.industry : released.step;
      const shown = kept.filter((row) => summarized(row) && inUnit(row));
      if (shown.length === 0) {
        const why = kept.some((row) => !summarized(row))
          ? "some in bands still being recomputed after a load; retry shortly"
          : "in ARR steps or industries too thin to show without giving some of them away; widen the range or drop the industry";
        throw new ServiceError(
          "failed_precondition",
          "peer-group-too-small",
          `The peer group (${where}) has ${kept.length} companies, but ${why}.`,
        );
      }
      const summaries: SourceSummary[] = [];
      const withheld: WithheldSource[] = [];
      const statistics: PanelStatistics[] = [];
      for (const source of panels) {
        const keptOfSource = kept.filter((row) => row.sourceId === source.id);
        if (keptOfSource.length === 0) continue;
        const sorted = sortAscending(
          shown.filter((row) => row.sourceId === source.id).map((row) => row.value),
        );
        if (sorted.length === 0) {
          withheld.push(withheldSource({ ...source, n: keptOfSource.length }));
          continue;
        }
        const outliers = inGroup.filter((row) => row.sourceId === source.id && row.isOutlier).length;
        summaries.push(toSourceSummary(source, { n: sorted.length, ...fiveQuantiles(sorted) }));
        statistics.push(panelStatistics(source.id, sorted, outliers));
      }
      const values = sortAscending(shown.map((row) => row.value));
      const fresh: PeerGroupAggregate = {
        metric,
        peerGroup,
        period,
        values,
        pooled: { n: values.length, ...fiveQuantiles(values), method: "panel_observations" },
        sources: sourceEntries(summaries, withheld),
        panelStatistics: statistics,
        withheldCompanies: kept.length - shown.length,
      };
      ctx.cache.keepLastGood(key, fresh, version);
      return fresh;
    },
  );
  return aggregate;
}
