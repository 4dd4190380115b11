import { isAdmin } from "../auth/roles";
import type { PeerGroupFilter } from "../db/queries";
import type { QuantileRow, Source, SourceKind } from "../domain/catalogue";
import { ServiceError } from "../domain/errors";
import { type FiveQuantiles, type Interval, type PoolMethod, poolSources } from "../stats";
import type { ServiceContext } from "./context";

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
export function withConsistency<T extends SourceSummary>(
  summaries: T[],
): (T & { consistency: Consistency })[] {
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

/**
 * k-anonymity: statistics of fewer than `minPeerGroup` companies could identify them, so none
 * are shown to anyone but an admin.
 */
export function mayShowPeerGroup(ctx: ServiceContext, n: number): boolean {
  return n >= ctx.config.minPeerGroup || isAdmin(ctx.principal);
}

export function assertPeerGroupSize(ctx: ServiceContext, n: number, description?: string): void {
  if (!mayShowPeerGroup(ctx, n)) {
    throw new ServiceError(
      "failed_precondition",
      "peer-group-too-small",
      `The peer group${description ? ` (${description})` : ""} has ${n} companies; at least ${ctx.config.minPeerGroup} are needed before statistics are shown.`,
    );
  }
}
