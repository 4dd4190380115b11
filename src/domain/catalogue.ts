/** A source's refresh circuit, as stored with the source. */
export interface Circuit {
  circuitState: "closed" | "open" | "half_open";
  consecutiveFailures: number;
  /** ISO 8601 instant the circuit last opened; null while it never has. */
  circuitOpenedAt: string | null;
}

/** Which way a metric improves. */
export type Direction = "higher_is_better" | "lower_is_better";

export type MetricUnit = "percent" | "ratio" | "months" | "multiple";
export type SourceKind = "survey" | "panel";
export type SourceFormat = "csv" | "json";

/** The media type of each format, for uploads and for the Accept header of fetches. */
export const SOURCE_MEDIA_TYPES: Record<SourceFormat, string> = { csv: "text/csv", json: "application/json" };

/** Our fields that a source's columns can map to. */
export const SOURCE_FIELDS = [
  "metric",
  "band",
  "arr",
  "period",
  "n",
  "p10",
  "p25",
  "p50",
  "p75",
  "p90",
  "value",
  "companyKey",
  "industry",
] as const;
export type SourceField = (typeof SOURCE_FIELDS)[number];

/** How a source's own data maps to ours: its header per field, and its metric names per metric key. */
export interface SourceMapping {
  columns?: Partial<Record<SourceField, string>>;
  metricNames?: Record<string, string>;
}

export interface Metric {
  key: string;
  name: string;
  unit: MetricUnit;
  direction: Direction;
  minValue: number;
  maxValue: number;
  definition: string;
  outlierMethod: "modified_z" | "tukey";
}

/** A (metric, band, period) cell of the benchmark table. */
export interface Cell {
  metricKey: string;
  bandKey: string;
  period: string;
}

/** A cell as one string, for sets and maps of cells: no key holds a NUL. */
export const cellKey = (cell: Cell) => `${cell.metricKey}\u0000${cell.bandKey}\u0000${cell.period}`;

/** An ARR band, [minArr, maxArr) in USD; maxArr is null for the open top band. */
export interface RevenueRange {
  key: string;
  minArr: number;
  maxArr: number | null;
}

export interface Source extends Circuit {
  id: string;
  name: string;
  kind: SourceKind;
  format: SourceFormat;
  url: string | null;
  mapping: SourceMapping;
  refreshIntervalMinutes: number | null;
  active: boolean;
  /** ISO 8601 instant of the last load that accepted rows. */
  lastUpdated: string | null;
  /** When the scheduler may next enqueue a refresh; null means it is due now. */
  nextRefreshAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  /** The latest run that completed: its rejections are the source's. */
  lastRunId: string | null;
  /** Whether the source holds a (sealed) credential; the credential itself is never read out. */
  hasCredential?: boolean;
}

/** Ingestion's smallest sample per cell unless a metric's rules say otherwise. */
export const DEFAULT_MIN_N = 10;

/** What ingestion accepts for one metric, defaults filled in. */
export interface MetricRules {
  minValue: number;
  maxValue: number;
  allowedBands: string[];
  minN: number;
}

/** What a source publishes for one cell: its sample size and quantiles (p10 and p90 optional). */
export interface QuantileRow {
  n: number;
  p10: number | null;
  p25: number;
  p50: number;
  p75: number;
  p90: number | null;
}

export interface Catalogue {
  metrics: Metric[];
  revenueRanges: RevenueRange[];
  sources: Source[];
}

/** The catalogue's metric with this key, if it has one. */
export const findMetric = (catalogue: Catalogue, key: string | undefined): Metric | undefined =>
  catalogue.metrics.find((metric) => metric.key === key);

/** How old a source's data is: whole seconds since its last load, never negative; null if it never loaded. */
export const dataAgeSeconds = (lastUpdated: string | null, now: number): number | null =>
  lastUpdated ? Math.max(0, Math.floor((now - Date.parse(lastUpdated)) / 1000)) : null;

export function bandForArr(ranges: readonly RevenueRange[], arr: number): RevenueRange | undefined {
  return ranges.find((r) => arr >= r.minArr && (r.maxArr === null || arr < r.maxArr));
}

/**
 * The ARR values a custom peer group may start and end at: 0 and the 1-2-3-5 series from $100k
 * to $1T (100k, 200k, 300k, 500k, 1M, 2M, 3M, 5M, 10M, …). A fixed grid, the same for every
 * caller and every data set, is what lets the service reason about overlapping peer groups: any
 * two groups differ by whole steps of it (see service/disclosure.ts).
 */
export const PEER_GROUP_BOUNDS: readonly number[] = [
  0,
  ...[1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11].flatMap((decade) => [1, 2, 3, 5].map((step) => step * decade)),
  1e12,
];

/** The grid step an ARR falls in: the index of the largest bound at or below it. */
export function peerGroupStep(arr: number): number {
  let low = 0;
  let high = PEER_GROUP_BOUNDS.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (PEER_GROUP_BOUNDS[middle]! <= arr) low = middle;
    else high = middle - 1;
  }
  return low;
}
