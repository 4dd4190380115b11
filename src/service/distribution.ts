import type { QuantileRow, Source, SourceKind } from "../domain/catalogue";
import type { PeerGroupFilter } from "../domain/peer-units";
import { type FiveQuantiles, type Interval, type PoolMethod, poolSources } from "../stats";
import type { WithheldSource } from "./disclosure";

/**
 * Addresses benchmark data: a metric, peers (an ARR band, an ARR figure that selects its band, or
 * a custom peer group of panel companies), a period and sources.
 */
export interface CellQuery {
  metric: string;
  revenueRange?: string | undefined;
  arr?: number | undefined;
  peerGroup?: PeerGroupFilter | undefined;
  /** Omitted: the latest period that has data. */
  period?: string | undefined;
  sources?: string[] | undefined;
}

/** Whether a source agrees with the others: its median inside their pooled [p10, p90]. */
export type Consistency = "consistent" | "outlier" | "unknown";

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
  /** Distribution-free 95% interval for the median, from order statistics; null when n < 6. */
  medianInterval: Interval | null;
  iqr: number;
  skewness: number | null;
}

/** How a distribution was obtained: pooled from source quantiles, or straight from panel rows. */
export type DistributionMethod = PoolMethod | "panel_observations";

/** A distribution as the API shows it: n, the five quantiles, and how they were obtained. */
export type Distribution = FiveQuantiles & { n: number; method: DistributionMethod };

/** Marks each source against the pool of the others; two others are the least to judge by. */
function withConsistency<T extends SourceSummary>(summaries: T[]): (T & { consistency: Consistency })[] {
  return summaries.map((source) => {
    const others = summaries.filter((other) => other !== source);
    if (others.length < 2) return { ...source, consistency: "unknown" };
    const { p10, p90 } = poolSources(others);
    return { ...source, consistency: source.p50 < p10 || source.p50 > p90 ? "outlier" : "consistent" };
  });
}

export function toSourceSummary(source: Source, row: QuantileRow): SourceSummary {
  const { n, p10, p25, p50, p75, p90 } = row;
  return {
    id: source.id,
    name: source.name,
    kind: source.kind,
    n,
    p10,
    p25,
    p50,
    p75,
    p90,
    lastUpdated: source.lastUpdated,
  };
}

/** A source shown in a cell: its quantiles, and how they agree with the others shown. */
type ShownSource = SourceSummary & { consistency: Consistency };

/** A source as a cell lists it: shown, or withheld. */
export type SourceEntry = ShownSource | WithheldSource;

export const isShown = (entry: SourceEntry): entry is ShownSource => !("withheld" in entry);

/**
 * The sources a response lists, by id: those shown with their consistency, judged among the
 * shown ones only (a withheld source must not move another's verdict), and those withheld.
 */
export function sourceEntries(shown: SourceSummary[], withheld: WithheldSource[]): SourceEntry[] {
  return [...withConsistency(shown), ...withheld].sort((a, b) => a.id.localeCompare(b.id));
}
