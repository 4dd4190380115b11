import { loadSeries } from "../db/queries";
import type { Metric, RevenueRange } from "../domain/catalogue";
import { invalidArgument, ServiceError } from "../domain/errors";
import { parsePeriod } from "../domain/periods";
import { tracedSync } from "../observability/tracing/span";
import { mannKendall, olsFit, poolSources, theilSen } from "../stats";
import { getCatalogue, resolveMetric, resolveRevenueRange, resolveSources } from "./catalogue";
import type { ServiceContext } from "./context";
import { companies, discloseSources, disclosureFor, mayShow } from "./disclosure";
import type { Distribution } from "./distribution";
import { recomputePending, stalenessOf } from "./staleness";

interface TimeSeriesQuery {
  metric: string;
  revenueRange?: string | undefined;
  arr?: number | undefined;
  from?: string | undefined;
  to?: string | undefined;
  granularity: "year" | "quarter";
  sources?: string[] | undefined;
}

export type TimeSeriesPoint = { period: string } & Omit<Distribution, "method">;

export interface Trend {
  /** Ordinary least squares of p50 on the period start in years (scipy.stats.linregress). */
  ols: { slope: number; intercept: number; r2: number; pValue: number };
  /** Theil–Sen slope with its 95% interval (scipy.stats.theilslopes). */
  theilSen: { slope: number; low: number; high: number };
  /** Mann–Kendall test for a monotone trend (pymannkendall's original_test). */
  mannKendall: { s: number; tau: number; z: number; pValue: number };
  /** Compound annual growth of the median; null when either end is ≤ 0. */
  cagr: number | null;
  /** up or down only when Mann–Kendall finds a trend at p < 0.05. */
  direction: "up" | "down" | "flat";
}

export interface TimeSeriesResult {
  metric: Pick<Metric, "key" | "name" | "unit" | "direction">;
  revenueRange: RevenueRange;
  granularity: "year" | "quarter";
  points: TimeSeriesPoint[];
  /** Periods with data whose pooled peer group is below the minimum, so no statistics are shown. */
  suppressedPeriods: string[];
  /** Why those periods are left out; absent when none are. */
  suppressionReason?: string;
  trend: Trend | null;
  /** Why the trend is null. */
  trendReason?: string;
  /** Present when a period of the series awaits a recompute: its points are those from before the load. */
  stale?: true;
  /** With stale: the data version the stale points were current for. */
  dataVersion?: string;
}

const MIN_TREND_POINTS = 3;
const SIGNIFICANCE = 0.05;

export async function getTimeSeries(ctx: ServiceContext, query: TimeSeriesQuery): Promise<TimeSeriesResult> {
  const catalogue = await getCatalogue(ctx);
  const metric = resolveMetric(catalogue, query.metric);
  const revenueRange = resolveRevenueRange(catalogue, query);
  const sources = resolveSources(catalogue, query.sources);
  const from = query.from === undefined ? null : parsePeriod(query.from)!;
  const to = query.to === undefined ? null : parsePeriod(query.to)!;
  if (from && to && from.startYears >= to.endYears) {
    throw invalidArgument([
      { field: "from", message: `from (${from.key}) must not come after to (${to.key})` },
    ]);
  }
  const { rows, owed } = await loadSeries(
    ctx.db,
    metric.key,
    revenueRange.key,
    query.granularity,
    sources.map((s) => s.id),
  );
  // A period is in the series when it has its granularity and lies wholly inside [from's start, to's end).
  const inSeries = (key: string) => {
    const period = parsePeriod(key);
    return (
      period !== null &&
      (period.quarter === null) === (query.granularity === "year") &&
      (!from || period.startYears >= from.startYears) &&
      (!to || period.endYears <= to.endYears)
    );
  };
  const byPeriod = Map.groupBy(
    rows.filter((row) => inSeries(row.period)),
    (row) => row.period,
  );
  const pending = owed.filter((cell) => inSeries(cell.period));
  if (byPeriod.size === 0) {
    if (pending.length > 0)
      throw recomputePending(`The ${metric.key} series of the ${revenueRange.key} band`);
    throw new ServiceError(
      "not_found",
      "no-data",
      `No ${query.granularity === "year" ? "annual" : "quarterly"} data for ${metric.key} in the ${revenueRange.key} band in that range.`,
    );
  }
  const disclosure = disclosureFor(ctx);
  const kinds = new Map(sources.map((s) => [s.id, s.kind]));
  const points: TimeSeriesPoint[] = [];
  const suppressedPeriods: string[] = [];
  for (const [period, cell] of byPeriod) {
    // Each period as its cell would be answered: only the sources the caller may see are pooled.
    const { shown } = discloseSources(
      disclosure,
      cell.map((row) => ({ ...row, kind: kinds.get(row.sourceId)! })),
    );
    if (!mayShow(disclosure, { kind: "pool", n: companies(shown) })) {
      suppressedPeriods.push(period);
      continue;
    }
    const { method: _, ...pooled } = poolSources(shown);
    points.push({ period, ...pooled });
  }
  const { key, name, unit, direction } = metric;
  const result: TimeSeriesResult = {
    metric: { key, name, unit, direction },
    revenueRange,
    granularity: query.granularity,
    points,
    suppressedPeriods,
    trend: null,
    ...stalenessOf(pending),
  };
  if (suppressedPeriods.length > 0) {
    result.suppressionReason = `k-anonymity: in each of these periods the sources that may be shown pool fewer than ${disclosure.minCompanies} companies`;
  }
  if (points.length < MIN_TREND_POINTS) {
    result.trendReason = `A trend needs at least ${MIN_TREND_POINTS} periods with data; there ${points.length === 1 ? "is 1" : `are ${points.length}`}.`;
  } else {
    result.trend = tracedSync("stats trend", { "stats.points": points.length }, () => computeTrend(points));
  }
  return result;
}

function computeTrend(points: readonly TimeSeriesPoint[]): Trend {
  const x = points.map((p) => parsePeriod(p.period)!.startYears);
  const y = points.map((p) => p.p50);
  const ols = olsFit(x, y);
  const sen = theilSen(x, y);
  const mk = mannKendall(y);
  const first = y[0]!;
  const last = y.at(-1)!;
  const years = x.at(-1)! - x[0]!;
  return {
    ols: { slope: ols.slope, intercept: ols.intercept, r2: ols.r2, pValue: ols.pValue },
    theilSen: { slope: sen.slope, low: sen.low, high: sen.high },
    mannKendall: { s: mk.s, tau: mk.tau, z: mk.z, pValue: mk.pValue },
    cagr: first > 0 && last > 0 ? (last / first) ** (1 / years) - 1 : null,
    direction: mk.pValue < SIGNIFICANCE ? (mk.s > 0 ? "up" : "down") : "flat",
  };
}
