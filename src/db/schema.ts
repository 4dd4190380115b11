import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { DEFAULT_MIN_N, type SourceMapping } from "../domain/catalogue";

export const metrics = sqliteTable(
  "metrics",
  {
    key: text("key").primaryKey(),
    name: text("name").notNull(),
    unit: text("unit", { enum: ["percent", "ratio", "months", "multiple"] }).notNull(),
    direction: text("direction", { enum: ["higher_is_better", "lower_is_better"] }).notNull(),
    minValue: real("min_value").notNull(),
    maxValue: real("max_value").notNull(),
    definition: text("definition").notNull(),
    outlierMethod: text("outlier_method", { enum: ["modified_z", "tukey"] })
      .notNull()
      .default("modified_z"),
    sortOrder: integer("sort_order").notNull(),
  },
  (t) => [check("metrics_range", sql`${t.minValue} < ${t.maxValue}`)],
);

/** ARR bands, [minArr, maxArr) in USD; the top band has no upper bound. */
export const revenueRanges = sqliteTable("revenue_ranges", {
  key: text("key").primaryKey(),
  minArr: real("min_arr").notNull(),
  maxArr: real("max_arr"),
  sortOrder: integer("sort_order").notNull(),
});

export const sources = sqliteTable("sources", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  kind: text("kind", { enum: ["survey", "panel"] }).notNull(),
  format: text("format", { enum: ["csv", "json"] })
    .notNull()
    .default("csv"),
  url: text("url"),
  /** Their headers to our fields; `{}` for sources loaded by script, which need none. */
  mapping: text("mapping", { mode: "json" }).$type<SourceMapping>().notNull().default({}),
  /** Minutes between scheduled fetches; null when the source is only uploaded by hand. */
  refreshIntervalMinutes: integer("refresh_interval_minutes"),
  active: integer("active", { mode: "boolean" }).notNull().default(true),
  /** ISO 8601 instant of the last successful load. */
  lastUpdated: text("last_updated"),
  /** When the scheduler may next enqueue a refresh; null means it is due now. */
  nextRefreshAt: text("next_refresh_at"),
  /** The refresh circuit: closed (normal), open (skipped until its cooldown passes) or half_open (one trial). */
  circuitState: text("circuit_state", { enum: ["closed", "open", "half_open"] })
    .notNull()
    .default("closed"),
  /** Refresh attempts that failed in a row; a success resets it. */
  consecutiveFailures: integer("consecutive_failures").notNull().default(0),
  circuitOpenedAt: text("circuit_opened_at"),
  lastError: text("last_error"),
  lastErrorAt: text("last_error_at"),
  /** The latest run that completed: its rejections are the source's. */
  lastRunId: text("last_run_id"),
  /** A token the source's url wants, sealed by src/ingest/credentials.ts; never read back out. */
  sealedCredential: text("sealed_credential"),
});

/** What ingestion accepts per metric; a missing row or column means the catalogue's default. */
export const metricRules = sqliteTable(
  "metric_rules",
  {
    metricKey: text("metric_key")
      .primaryKey()
      .references(() => metrics.key, { onDelete: "cascade" }),
    minValue: real("min_value"),
    maxValue: real("max_value"),
    /** Band keys a row may fall in; null allows every band. */
    allowedBands: text("allowed_bands", { mode: "json" }).$type<string[]>(),
    minN: integer("min_n").notNull().default(DEFAULT_MIN_N),
  },
  (t) => [
    check("metric_rules_min_n", sql`${t.minN} >= 1`),
    check(
      "metric_rules_range",
      sql`${t.minValue} IS NULL OR ${t.maxValue} IS NULL OR ${t.minValue} < ${t.maxValue}`,
    ),
  ],
);

/**
 * One row per (source, metric, band, period). Surveys publish these rows; for panels they are
 * derived from observations (outliers excluded), so requests never rescan observations.
 */
export const summaries = sqliteTable(
  "summaries",
  {
    sourceId: text("source_id")
      .notNull()
      .references(() => sources.id, { onDelete: "cascade" }),
    metricKey: text("metric_key")
      .notNull()
      .references(() => metrics.key),
    bandKey: text("band_key")
      .notNull()
      .references(() => revenueRanges.key),
    period: text("period").notNull(),
    /** Sort key for periods: year * 10 + quarter, with 5 for a whole year. */
    periodOrder: integer("period_order").notNull(),
    n: integer("n").notNull(),
    p10: real("p10"),
    p25: real("p25").notNull(),
    p50: real("p50").notNull(),
    p75: real("p75").notNull(),
    p90: real("p90"),
    /** Panel rows only: observations flagged as outliers and left out of the quantiles. */
    outliersExcluded: integer("outliers_excluded").notNull().default(0),
    mean: real("mean"),
    sd: real("sd"),
    skewness: real("skewness"),
    /** Panel rows only: the distribution-free 95% interval for the median (order statistics). */
    medianLow: real("median_low"),
    medianHigh: real("median_high"),
  },
  (t) => [
    primaryKey({ columns: [t.metricKey, t.bandKey, t.period, t.sourceId] }),
    index("summaries_latest_period").on(t.metricKey, t.bandKey, t.periodOrder),
    // The latest period of a metric in any band among some sources, as a custom peer group
    // without a period needs it: read from this index alone, newest first, up to the first
    // entry of one of those sources.
    index("summaries_metric_latest").on(t.metricKey, t.periodOrder, t.sourceId, t.period),
    index("summaries_source").on(t.sourceId),
    check("summaries_n", sql`${t.n} > 0`),
    check("summaries_monotone", sql`${t.p25} <= ${t.p50} AND ${t.p50} <= ${t.p75}`),
  ],
);

/** Anonymized company-level panel data: a pseudonymous key, never a company name. */
export const observations = sqliteTable(
  "observations",
  {
    sourceId: text("source_id")
      .notNull()
      .references(() => sources.id, { onDelete: "cascade" }),
    metricKey: text("metric_key")
      .notNull()
      .references(() => metrics.key),
    period: text("period").notNull(),
    companyKey: text("company_key").notNull(),
    value: real("value").notNull(),
    arr: real("arr").notNull(),
    bandKey: text("band_key")
      .notNull()
      .references(() => revenueRanges.key),
    industry: text("industry"),
    isOutlier: integer("is_outlier", { mode: "boolean" }).notNull().default(false),
  },
  (t) => [
    primaryKey({ columns: [t.sourceId, t.metricKey, t.period, t.companyKey] }),
    index("observations_cell").on(t.metricKey, t.bandKey, t.period),
    // A custom peer group reads its own rows, and only them, as one range of a covering index:
    // by ARR for a group of every industry, by industry then ARR for a group of one. The band is
    // the one recompute flagged the row in, so it is read, not derived from ARR again.
    index("observations_peer_span").on(
      t.metricKey,
      t.period,
      t.arr,
      t.sourceId,
      t.bandKey,
      t.industry,
      t.isOutlier,
      t.value,
    ),
    index("observations_peer_industry").on(
      t.metricKey,
      t.period,
      t.industry,
      t.arr,
      t.sourceId,
      t.bandKey,
      t.isOutlier,
      t.value,
    ),
  ],
);

/**
 * Per panel, metric and period: the companies of each peer-group unit (domain/peer-units.ts) as
 * recompute last counted them, written in the same batch as the band's outlier flags. A unit's
 * industry is '' for the whole step.
 */
export const peerGroupUnits = sqliteTable(
  "peer_group_units",
  {
    metricKey: text("metric_key")
      .notNull()
      .references(() => metrics.key),
    period: text("period").notNull(),
    sourceId: text("source_id")
      .notNull()
      .references(() => sources.id, { onDelete: "cascade" }),
    bandKey: text("band_key")
      .notNull()
      .references(() => revenueRanges.key),
    step: integer("step").notNull(),
    industry: text("industry").notNull(),
    kept: integer("kept").notNull(),
    outliers: integer("outliers").notNull(),
    keptSum: real("kept_sum").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.metricKey, t.period, t.sourceId, t.bandKey, t.step, t.industry] }),
    // Recompute replaces a cell's units; the key above leads with the period, not the band.
    index("peer_group_units_cell").on(t.metricKey, t.bandKey, t.period),
  ],
);

/** Rows that failed validation on load, kept so operators can see why. */
export const rejectedRows = sqliteTable(
  "rejected_rows",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    sourceId: text("source_id")
      .notNull()
      .references(() => sources.id, { onDelete: "cascade" }),
    /** The upload run that rejected the row; null for rows loaded by script. */
    runId: text("run_id").references(() => ingestionRuns.id, { onDelete: "cascade" }),
    line: integer("line").notNull(),
    reason: text("reason").notNull(),
    rejectedAt: text("rejected_at").notNull(),
  },
  (t) => [index("rejected_rows_source").on(t.sourceId), index("rejected_rows_run").on(t.runId, t.line)],
);

/** One load of a source's file: what it received, kept and refused, and how it ended. */
export const ingestionRuns = sqliteTable(
  "ingestion_runs",
  {
    id: text("id").primaryKey(),
    sourceId: text("source_id")
      .notNull()
      .references(() => sources.id, { onDelete: "cascade" }),
    /** upload: a file posted by an operator; refresh: a fetch asked for by hand; schedule: by the cron. */
    trigger: text("trigger", { enum: ["upload", "refresh", "schedule"] }).notNull(),
    /** interrupted: an upload whose process died before its swap; nothing of it was kept. */
    status: text("status", {
      enum: ["queued", "running", "succeeded", "failed", "partially_succeeded", "interrupted"],
    }).notNull(),
    received: integer("received").notNull().default(0),
    accepted: integer("accepted").notNull().default(0),
    rejected: integer("rejected").notNull().default(0),
    /** Accepted rows whose stored values were already identical. */
    unchanged: integer("unchanged").notNull().default(0),
    startedAt: text("started_at").notNull(),
    finishedAt: text("finished_at"),
    error: text("error"),
    /** Deliveries of the run's queue message so far; 1 for uploads. */
    attempts: integer("attempts").notNull().default(0),
    /** (metric, band, period) cells the run changed; pending_cells holds those not yet rebuilt. */
    changedCells: integer("changed_cells").notNull().default(0),
    /**
     * Who holds the run while it is in flight: a token of the attempt that claimed it. Every write
     * of the attempt checks it, so an attempt that lost its lease cannot touch the run any more.
     */
    leaseOwner: text("lease_owner"),
    /** When a run in flight is taken over: requeued (a fetch), or ended as interrupted (an upload). */
    leaseExpiresAt: text("lease_expires_at"),
    /** Times the run was taken over after its lease expired; bounded, so a run that kills its worker ends. */
    handovers: integer("handovers").notNull().default(0),
  },
  (t) => [
    index("ingestion_runs_source").on(t.sourceId, t.startedAt),
    index("ingestion_runs_lease").on(t.status, t.leaseExpiresAt),
  ],
);

/**
 * Recompute owed: a row per cell a run changed, written by the run's swap batch and deleted by
 * the cell's rebuild batch, so a crash at any point leaves the debt on record. Until its rows are
 * gone, a cell's summaries are stale (or missing) and its answers say so.
 */
export const pendingCells = sqliteTable(
  "pending_cells",
  {
    /** Order of arrival: a rebuild clears only the rows that were there when it read the cell. */
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    metricKey: text("metric_key").notNull(),
    bandKey: text("band_key").notNull(),
    period: text("period").notNull(),
    runId: text("run_id")
      .notNull()
      .references(() => ingestionRuns.id, { onDelete: "cascade" }),
    /** When the run's swap made the cell's summaries stale. */
    since: text("since").notNull(),
    /** The data version before that swap: the last whose answers the cell's summaries were current for. */
    dataVersion: text("data_version").notNull(),
    /** When the cell is sent to the recompute queue again, should it still be owed by then. */
    requeueAfter: text("requeue_after").notNull(),
  },
  (t) => [
    index("pending_cells_cell").on(t.metricKey, t.bandKey, t.period),
    index("pending_cells_run").on(t.runId),
    index("pending_cells_requeue").on(t.requeueAfter),
  ],
);

/**
 * Accepted rows of a run waiting to be swapped in, a JSON array per chunk: a run that dies before
 * the swap leaves the live tables untouched.
 */
export const stagedChunks = sqliteTable(
  "staged_chunks",
  {
    runId: text("run_id")
      .notNull()
      .references(() => ingestionRuns.id, { onDelete: "cascade" }),
    seq: integer("seq").notNull(),
    /** Observations of a panel or cells of a survey, as ingest/staging.ts writes and reads them. */
    rows: text("rows").notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.seq] })],
);

/** Queue messages that exhausted their retries, kept so an operator can see what failed. */
export const deadLetters = sqliteTable("dead_letters", {
  messageId: text("message_id").primaryKey(),
  queue: text("queue").notNull(),
  body: text("body", { mode: "json" }).notNull(),
  attempts: integer("attempts").notNull(),
  receivedAt: text("received_at").notNull(),
});

/** Small key/value facts about the data set, such as the data version. */
export const meta = sqliteTable("meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});
