/**
 * Every metric family the service exports: one source of truth for the recorders, the scrape,
 * docs/operations.md and the dashboard test. Labels are bounded by construction: route templates, method
 * and procedure names, status and Connect codes, cache results, tiers, and source ids, which
 * operators register. Never a raw path, a user or a value.
 */

/** Seconds; from a cached read (sub-millisecond, shown as 0 in Workers) to a slow upload. */
const REQUEST_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds; a batch of cells takes from tens of milliseconds to a minute on a large panel. */
const RECOMPUTE_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface Family<Label extends string> {
  help: string;
  labels: readonly Label[];
}

export const COUNTERS = {
  http_requests_total: {
    help: "HTTP requests answered, by route template, method and status code.",
    labels: ["route", "method", "status"],
  },
  rpc_requests_total: {
    help: "Connect RPC calls answered, by procedure and Connect code (ok on success).",
    labels: ["procedure", "code"],
  },
  cache_requests_total: {
    help: "Versioned-cache lookups, by where the answer came from: memory, kv or miss.",
    labels: ["result"],
  },
  rate_limited_total: {
    help: "Requests refused by the rate limiter, by tier.",
    labels: ["tier"],
  },
  rate_limiter_calls_total: {
    help: "Calls to the rate limiter's Durable Objects, by tier: one per lease, not per request.",
    labels: ["tier"],
  },
  ingestion_rows_total: {
    help: "Rows of committed ingestion runs, by source and outcome (accepted or rejected).",
    labels: ["source", "outcome"],
  },
  ingestion_runs_total: {
    help: "Ingestion runs ended, by source and final status.",
    labels: ["source", "status"],
  },
} as const satisfies Record<string, Family<string>>;

export const HISTOGRAMS = {
  http_request_duration_seconds: {
    help: "Time to answer an HTTP request, by route template and method.",
    labels: ["route", "method"],
    buckets: REQUEST_SECONDS,
  },
  recompute_duration_seconds: {
    help: "Time to recompute one batch of (metric, band, period) cells.",
    labels: [],
    buckets: RECOMPUTE_SECONDS,
  },
} as const satisfies Record<string, Family<string> & { buckets: readonly number[] }>;

/** Read from D1 at scrape time rather than counted: they are states, not events. */
export const GAUGES = {
  source_circuit_state: {
    help: "Refresh circuit of each source: 0 closed, 1 half-open, 2 open.",
    labels: ["source"],
  },
  data_age_seconds: {
    help: "Seconds since each source last loaded data; absent for a source that never has.",
    labels: ["source"],
  },
  recompute_pending_cells: {
    help: "Cells owed a recompute: their summaries are stale or missing until it runs.",
    labels: [],
  },
  recompute_oldest_pending_seconds: {
    help: "Seconds the oldest cell owed a recompute has waited; 0 when none is owed.",
    labels: [],
  },
} as const satisfies Record<string, Family<string>>;

export type CounterName = keyof typeof COUNTERS;
export type HistogramName = keyof typeof HISTOGRAMS;
export type GaugeName = keyof typeof GAUGES;
export type MetricName = CounterName | HistogramName | GaugeName;

type LabelsOfFamily<F> = F extends { labels: readonly (infer L extends string)[] }
  ? Record<L, string>
  : never;
export type CounterLabels<N extends CounterName> = LabelsOfFamily<(typeof COUNTERS)[N]>;
export type HistogramLabels<N extends HistogramName> = LabelsOfFamily<(typeof HISTOGRAMS)[N]>;
