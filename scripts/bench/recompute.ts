/**
 * Recompute benchmark: a full recompute of every panel aggregate from a panel of 1,001,000
 * observations (13,000 pseudonymous companies × 11 metrics × 7 years) in a real local D1, timed.
 *
 * The code timed is the service's own `recomputeAll` (src/ingest/recompute.ts) on the drizzle
 * database the Worker builds (src/db/client.ts). It runs here in Node, and its D1 is the local
 * workerd/miniflare D1 that `wrangler dev` uses, reached through wrangler's `getPlatformProxy`:
 * every query crosses from Node into workerd, as a Worker's would cross into D1.
 *
 * Each run starts from an empty database in its own persist directory (.wrangler/bench-state,
 * never the developer's .wrangler/state): the migrations are applied with `wrangler d1 migrations
 * apply --local --persist-to`, the panel is generated (seeded) and inserted as multi-row INSERTs of
 * literal values, then `recomputeAll` runs twice: cold, and a second, idempotent pass. Afterwards
 * the figures are checked against the observations (one summary per cell, counts adding up,
 * outlier flags and medians recomputed independently in a few cells, the second pass unchanged);
 * any mismatch ends the run with an error. A third pass, through a binding that times every D1
 * call, shows where the time goes: mostly awaiting D1 calls, each of which crosses the proxy
 * between Node and workerd. The directory is removed at the end.
 *
 * `npm run bench` runs this after the stats kernel, before any server starts. Alone (prints,
 * writes nothing; --keep-state leaves the database in .wrangler/bench-state for inspection):
 *   npx tsx scripts/bench/recompute.ts
 */
import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { D1PreparedStatement } from "@cloudflare/workers-types";
import { getPlatformProxy } from "wrangler";
import { createDatabase } from "../../src/db/client";
import { type RecomputeResult, recomputeAll } from "../../src/ingest/recompute";
import { REPO_ROOT } from "../lib/local-server";
import { METRICS, valueAt } from "../sample-data/generate";
import { Prng } from "../sample-data/prng";

declare global {
  /**
   * src/db/client.ts names the Workers global D1Database; scripts compile with Node's globals only
   * (all of @cloudflare/workers-types would clash with them), so alias just that one type here.
   */
  type D1Database = import("@cloudflare/workers-types").D1Database;
}

const WRANGLER_CLI = path.join(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js");
const WRANGLER_CONFIG = path.join(REPO_ROOT, "wrangler.toml");
/** `wrangler d1 … --persist-to DIR` keeps D1 under DIR/v3; getPlatformProxy takes DIR/v3 itself. */
const PERSIST_DIR = path.join(REPO_ROOT, ".wrangler/bench-state");

export const RECOMPUTE_CONFIG = {
  companies: 13_000,
  years: [2019, 2020, 2021, 2022, 2023, 2024, 2025],
  seed: 20261130,
  sourceId: "bench-panel",
  /** D1 caps a statement at 100,000 bytes (the local D1 answers SQLITE_TOOBIG); stay clear of it. */
  maxStatementBytes: 90_000,
  /** INSERT statements per `DB.batch` call: one round trip and one transaction each. */
  statementsPerBatch: 10,
} as const;

const RUNTIME = "recompute code runs in Node against local D1 (workerd/SQLite via wrangler getPlatformProxy)";

/** Relative tolerance for a quantile recomputed here against the stored one (ulps of interpolation). */
const AGREEMENT = 1e-12;

export interface RecomputeBenchResult {
  observations: number;
  cells: number;
  outliersFlagged: number;
  /** Migrations applied with the wrangler CLI, plus getPlatformProxy's start. Not part of any figure. */
  setupSeconds: number;
  /** Generating the panel and inserting it (generation overlaps the inserts). Not the figure asked for. */
  loadSeconds: number;
  /** The first, cold `recomputeAll` over the freshly loaded panel. */
  recomputeSeconds: number;
  /** The same again over the recomputed panel: rewrites the same flags and rows. */
  secondPassSeconds: number;
  /** Over the first pass. */
  cellsPerSecond: number;
  observationsPerSecond: number;
  /** Where a pass's time goes, from a third pass (the two above are not instrumented). */
  breakdown: Breakdown;
  runtime: string;
  node: string;
  config: {
    companies: number;
    metrics: number;
    years: readonly number[];
    seed: number;
    insertStatements: number;
    persistDir: string;
  };
  /** What was checked after the passes (any failure ends the run instead). */
  verified: {
    cellsExpectedAtMost: number;
    spotChecks: SpotCheck[];
    secondPassIdentical: true;
  };
}

interface Breakdown {
  passSeconds: number;
  /** Calls into D1 (queries and batches): two per (source, metric, period) group, plus two to list metrics and groups. */
  d1Calls: number;
  /** Time spent awaiting those calls: the Node↔workerd proxy plus D1 itself. */
  d1WaitSeconds: number;
  /** prepare() and bind() calls: synchronous, but the proxy forwards each of them to workerd too. */
  statementSetupCalls: number;
  statementSetupSeconds: number;
  /** The rest: drizzle building queries and mapping rows, the outlier screens and statistics. */
  nodeSeconds: number;
  /** Median of 31 `SELECT 1` round trips: the proxy's fixed cost per call. */
  selectOneRoundTripMs: number;
}

interface SpotCheck {
  cell: string;
  values: number;
  outliers: number;
  p50: number;
}

// ---------------------------------------------------------------------------------------------
// Panel model: the sample data's calibration (scripts/sample-data/generate.ts), at band level

/** The service's ARR bands, [previous max, max), in the order of the model's medians. */
const BANDS = [
  { key: "0-1M", max: 1_000_000 },
  { key: "1M-5M", max: 5_000_000 },
  { key: "5M-20M", max: 20_000_000 },
  { key: "20M-50M", max: 50_000_000 },
  { key: "50M+", max: Number.POSITIVE_INFINITY },
] as const;

const INDUSTRIES = ["devtools", "fintech", "healthtech", "martech", "security", "vertical-saas"] as const;

const GROWTH = METRICS.findIndex((metric) => metric.key === "arr_growth");

function bandIndex(arr: number): number {
  return BANDS.findIndex((band) => arr < band.max);
}

const roundTo2Decimals = (value: number) => {
  const rounded = Math.round(value * 100) / 100;
  return rounded === 0 ? 0 : rounded; // no -0
};

interface Panel {
  /** Sorted, so rows inserted company by company within a (metric, period) append to the primary key. */
  companyKeys: string[];
  industries: string[];
  /** arr[c·Y + y], whole dollars, at the start of the year. */
  arr: Float64Array;
  /** values[(c·Y + y)·M + m], two decimals, within the metric's valid range. */
  values: Float64Array;
}

/** Companies draw a persistent score per metric plus yearly noise; ARR compounds by the drawn growth. */
function generatePanel(): Panel {
  const { companies, years, seed } = RECOMPUTE_CONFIG;
  const rng = new Prng(seed);
  const keys = new Set<string>();
  while (keys.size < companies) keys.add(`co_${rng.hex(10)}`);
  const companyKeys = [...keys].sort();
  const Y = years.length;
  const M = METRICS.length;
  const arr = new Float64Array(companies * Y);
  const values = new Float64Array(companies * Y * M);
  const industries: string[] = [];
  const own = new Float64Array(M);
  for (let c = 0; c < companies; c++) {
    industries.push(rng.pick(INDUSTRIES));
    for (let m = 0; m < M; m++) own[m] = rng.normal();
    let arrNow = Math.round(rng.logUniform(150_000, 150_000_000));
    for (let y = 0; y < Y; y++) {
      const base = (c * Y + y) * M;
      if (y > 0) arrNow = Math.max(1, Math.round(arrNow * (1 + values[base - M + GROWTH]! / 100)));
      arr[c * Y + y] = arrNow;
      const band = bandIndex(arrNow);
      for (let m = 0; m < M; m++) {
        const metric = METRICS[m]!;
        const z = Math.sqrt(metric.persistence) * own[m]! + Math.sqrt(1 - metric.persistence) * rng.normal();
        const value = valueAt(metric.shape, metric.medians[band]!, metric.spreads[band]!, z);
        values[base + m] = roundTo2Decimals(Math.min(metric.max, Math.max(metric.min, value)));
      }
    }
  }
  return { companyKeys, industries, arr, values };
}

const OBSERVATION_COLUMNS =
  "source_id, metric_key, period, company_key, value, arr, band_key, industry, is_outlier";

/**
 * Multi-row INSERTs of literal values, each under the statement size limit, in primary-key order
 * (metric, period, company), built one at a time so the whole panel never sits in memory as SQL.
 */
function* insertStatements(panel: Panel): Generator<string> {
  const { companies, years, sourceId, maxStatementBytes } = RECOMPUTE_CONFIG;
  const head = `INSERT INTO observations (${OBSERVATION_COLUMNS}) VALUES `;
  const Y = years.length;
  const M = METRICS.length;
  const metricOrder = METRICS.map((metric, m) => ({ key: metric.key, m })).sort((a, b) =>
    a.key < b.key ? -1 : 1,
  );
  let rows: string[] = [];
  let bytes = head.length;
  for (const { key, m } of metricOrder) {
    for (let y = 0; y < Y; y++) {
      for (let c = 0; c < companies; c++) {
        const arr = panel.arr[c * Y + y]!;
        const row =
          `('${sourceId}','${key}','${years[y]}','${panel.companyKeys[c]}',` +
          `${panel.values[(c * Y + y) * M + m]},${arr},'${BANDS[bandIndex(arr)]!.key}','${panel.industries[c]}',0)`;
        if (bytes + row.length + 1 > maxStatementBytes) {
          yield head + rows.join(",");
          rows = [];
          bytes = head.length;
        }
        rows.push(row);
        bytes += row.length + 1;
      }
    }
  }
  if (rows.length > 0) yield head + rows.join(",");
}

// ---------------------------------------------------------------------------------------------
// Database

const execFileAsync = promisify(execFile);

/** The migrations exactly as `npm start` applies them, but into the benchmark's own directory. */
async function applyMigrations(): Promise<void> {
  try {
    await execFileAsync(
      process.execPath,
      [WRANGLER_CLI, "d1", "migrations", "apply", "DB", "--local", "--persist-to", PERSIST_DIR],
      {
        cwd: REPO_ROOT,
        // CI skips the confirmation prompt.
        env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" },
        maxBuffer: 16 * 1024 * 1024,
      },
    );
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`wrangler d1 migrations apply failed:\n${stdout ?? ""}${stderr ?? ""}`);
  }
}

async function loadPanel(d1: D1Database, panel: Panel): Promise<number> {
  const { sourceId, statementsPerBatch } = RECOMPUTE_CONFIG;
  await d1
    .prepare("INSERT INTO sources (id, name, kind, last_updated) VALUES (?, ?, 'panel', ?)")
    .bind(sourceId, "Recompute benchmark panel (synthetic)", new Date().toISOString())
    .run();
  let statements = 0;
  let batch: string[] = [];
  // One batch in flight while the next one's SQL is built: workerd inserts while Node formats.
  let inFlight: Promise<unknown> = Promise.resolve();
  const send = async (sql: string[]) => {
    await inFlight;
    inFlight = d1.batch(sql.map((text) => d1.prepare(text)));
    // Awaited before the next batch or at the end; until then a failure must not count as unhandled.
    inFlight.catch(() => {});
  };
  for (const sql of insertStatements(panel)) {
    batch.push(sql);
    statements++;
    if (batch.length === statementsPerBatch) {
      await send(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await send(batch);
  await inFlight;
  return statements;
}

async function scalar(d1: D1Database, sql: string, ...params: unknown[]): Promise<number> {
  const row = await d1
    .prepare(sql)
    .bind(...params)
    .first<{ v: number }>();
  return row?.v ?? 0;
}

/**
 * The binding, passing every call through unchanged while counting the calls and the time spent
 * awaiting them. (A class, not a plain object, so drizzle cannot mistake it for a config object.)
 */
class TimedD1 {
  calls = 0;
  waitMs = 0;
  /** Synchronous prepare() and bind() calls, which the proxy also forwards to workerd. */
  setupCalls = 0;
  setupMs = 0;
  private readonly real = new WeakMap<object, D1PreparedStatement>();

  constructor(private readonly d1: D1Database) {}

  prepare(query: string): D1PreparedStatement {
    return this.wrap(this.setup(() => this.d1.prepare(query)));
  }

  batch(statements: D1PreparedStatement[]): Promise<unknown> {
    return this.wait(() =>
      this.d1.batch(statements.map((statement) => this.real.get(statement) ?? statement)),
    );
  }

  private wrap(statement: D1PreparedStatement): D1PreparedStatement {
    const wrapper = {
      bind: (...values: unknown[]) => this.wrap(this.setup(() => statement.bind(...values))),
      first: (column?: string) => this.wait(() => statement.first(column as string)),
      all: () => this.wait(() => statement.all()),
      run: () => this.wait(() => statement.run()),
      raw: (options?: { columnNames?: false }) => this.wait(() => statement.raw(options)),
    };
    this.real.set(wrapper, statement);
    return wrapper as unknown as D1PreparedStatement;
  }

  private setup<T>(call: () => T): T {
    this.setupCalls++;
    const start = performance.now();
    try {
      return call();
    } finally {
      this.setupMs += performance.now() - start;
    }
  }

  private async wait<T>(call: () => Promise<T>): Promise<T> {
    this.calls++;
    const start = performance.now();
    try {
      return await call();
    } finally {
      this.waitMs += performance.now() - start;
    }
  }
}

async function roundTripMs(d1: D1Database): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 31; i++) {
    const start = performance.now();
    await d1.prepare("SELECT 1").first();
    times.push(performance.now() - start);
  }
  return roundTo3(median(times));
}

// ---------------------------------------------------------------------------------------------
// Verification: independent of the service's statistics code

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Hyndman–Fan type 7 on sorted values, as numpy's default and R's quantile() compute it. */
function type7(sorted: readonly number[], p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** How many values the metric's outlier screen should flag (see src/stats/outliers.ts for the rules). */
function expectedOutliers(values: readonly number[], method: string): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (method === "tukey") {
    const q1 = type7(sorted, 0.25);
    const q3 = type7(sorted, 0.75);
    const lower = q1 - 1.5 * (q3 - q1);
    const upper = q3 + 1.5 * (q3 - q1);
    return values.filter((x) => x < lower || x > upper).length;
  }
  const centre = median(values);
  const deviations = values.map((x) => Math.abs(x - centre));
  const mad = median(deviations);
  if (mad > 0) return values.filter((x) => Math.abs((0.6745 * (x - centre)) / mad) > 3.5).length;
  const meanDeviation = deviations.reduce((sum, d) => sum + d, 0) / deviations.length;
  if (meanDeviation === 0) return 0;
  return values.filter((x) => Math.abs((x - centre) / (1.253314 * meanDeviation)) > 3.5).length;
}

function agrees(a: number, b: number): boolean {
  return Math.abs(a - b) <= AGREEMENT * Math.max(Math.abs(a), Math.abs(b), 1);
}

function fail(message: string): never {
  throw new Error(`recompute: ${message}`);
}

interface SummaryRow {
  metric_key: string;
  band_key: string;
  period: string;
  n: number;
  outliers_excluded: number;
  p50: number;
}

/** Every summary column, in key order: compared across the two passes. */
async function snapshotSummaries(d1: D1Database): Promise<string> {
  const { results } = await d1
    .prepare("SELECT * FROM summaries ORDER BY source_id, metric_key, band_key, period")
    .all();
  return JSON.stringify(results);
}

async function verify(
  d1: D1Database,
  expectedObservations: number,
  result: RecomputeResult,
): Promise<RecomputeBenchResult["verified"]> {
  const { sourceId, years } = RECOMPUTE_CONFIG;
  const cellsExpectedAtMost = METRICS.length * BANDS.length * years.length;
  const observations = await scalar(d1, "SELECT COUNT(*) AS v FROM observations");
  if (observations !== expectedObservations) {
    fail(`observations holds ${observations} rows, ${expectedObservations} were inserted`);
  }
  const distinctCells = await scalar(
    d1,
    "SELECT COUNT(*) AS v FROM (SELECT DISTINCT source_id, metric_key, band_key, period FROM observations)",
  );
  const summaryCells = await scalar(d1, "SELECT COUNT(*) AS v FROM summaries WHERE source_id = ?", sourceId);
  const summedCount = await scalar(
    d1,
    "SELECT SUM(n + outliers_excluded) AS v FROM summaries WHERE source_id = ?",
    sourceId,
  );
  const summedOutliers = await scalar(
    d1,
    "SELECT SUM(outliers_excluded) AS v FROM summaries WHERE source_id = ?",
    sourceId,
  );
  const flagged = await scalar(d1, "SELECT COUNT(*) AS v FROM observations WHERE is_outlier = 1");
  const mismatches: string[] = [];
  if (summaryCells !== distinctCells) {
    mismatches.push(`${summaryCells} summary rows for ${distinctCells} cells with observations`);
  }
  if (result.cells !== distinctCells) mismatches.push(`recomputeAll reported ${result.cells} cells`);
  if (distinctCells > cellsExpectedAtMost) {
    mismatches.push(`${distinctCells} cells, more than ${cellsExpectedAtMost} metric × band × period`);
  }
  if (summedCount !== observations) {
    mismatches.push(`summaries count n + outliers_excluded = ${summedCount}, not ${observations}`);
  }
  if (result.observations !== observations) {
    mismatches.push(`recomputeAll read ${result.observations} observations, not ${observations}`);
  }
  if (summedOutliers !== flagged || result.outliers !== flagged) {
    mismatches.push(
      `outliers: ${flagged} flagged rows, summaries exclude ${summedOutliers}, ` +
        `recomputeAll reported ${result.outliers}`,
    );
  }
  // Cell by cell: n and outliers_excluded against the rows and flags actually stored.
  const badCells = await scalar(
    d1,
    `SELECT COUNT(*) AS v FROM summaries s JOIN (
       SELECT source_id, metric_key, band_key, period, COUNT(*) AS c, SUM(is_outlier) AS o
       FROM observations GROUP BY source_id, metric_key, band_key, period
     ) g USING (source_id, metric_key, band_key, period)
     WHERE s.n != g.c - g.o OR s.outliers_excluded != g.o`,
  );
  if (badCells > 0)
    mismatches.push(`${badCells} cells whose n or outliers_excluded disagree with their rows`);
  if (mismatches.length > 0) fail(`verification failed:\n  ${mismatches.join("\n  ")}`);

  // Spot checks: the largest and the smallest cell, and a Tukey-screened one.
  const { results: summaries } = await d1
    .prepare(
      "SELECT metric_key, band_key, period, n, outliers_excluded, p50 FROM summaries WHERE source_id = ? " +
        "ORDER BY n + outliers_excluded DESC, metric_key, band_key, period",
    )
    .bind(sourceId)
    .all<SummaryRow>();
  const methods = new Map(
    (
      await d1
        .prepare("SELECT key, outlier_method FROM metrics")
        .all<{ key: string; outlier_method: string }>()
    ).results.map((row) => [row.key, row.outlier_method]),
  );
  const picks = [
    summaries[0],
    summaries.at(-1),
    summaries.find((s) => methods.get(s.metric_key) === "tukey"),
  ];
  const spotChecks: SpotCheck[] = [];
  for (const summary of new Set(picks)) {
    if (!summary) continue;
    const cell = `${summary.metric_key} ${summary.band_key} ${summary.period}`;
    const { results: rows } = await d1
      .prepare(
        "SELECT value, is_outlier FROM observations " +
          "WHERE source_id = ? AND metric_key = ? AND band_key = ? AND period = ?",
      )
      .bind(sourceId, summary.metric_key, summary.band_key, summary.period)
      .all<{ value: number; is_outlier: number }>();
    const all = rows.map((row) => row.value);
    const kept = rows.filter((row) => row.is_outlier === 0).map((row) => row.value);
    const outliers = expectedOutliers(all, methods.get(summary.metric_key)!);
    if (outliers !== rows.length - kept.length || outliers !== summary.outliers_excluded) {
      fail(
        `${cell}: its ${methods.get(summary.metric_key)} screen flags ${outliers} of ${rows.length} values, ` +
          `D1 holds ${rows.length - kept.length} flags and the summary excludes ${summary.outliers_excluded}`,
      );
    }
    const p50 = type7(
      kept.sort((a, b) => a - b),
      0.5,
    );
    if (!agrees(p50, summary.p50)) {
      fail(`${cell}: p50 is ${summary.p50} in summaries, the type-7 median of its kept values is ${p50}`);
    }
    spotChecks.push({ cell, values: rows.length, outliers, p50 });
  }
  return { cellsExpectedAtMost, spotChecks, secondPassIdentical: true };
}

// ---------------------------------------------------------------------------------------------

const roundTo3 = (value: number) => Math.round(value * 1000) / 1000;
const seconds = (since: number) => roundTo3((performance.now() - since) / 1000);

export async function runRecomputeBench(
  options: { keepState?: boolean } = {},
): Promise<RecomputeBenchResult> {
  const { companies, years } = RECOMPUTE_CONFIG;
  // Only ever this directory: the developer's data in .wrangler/state is never touched.
  await rm(PERSIST_DIR, { recursive: true, force: true });

  let started = performance.now();
  console.log(`recompute: applying migrations to ${path.relative(REPO_ROOT, PERSIST_DIR)}...`);
  await applyMigrations();
  const proxy = await getPlatformProxy<{ DB: D1Database }>({
    configPath: WRANGLER_CONFIG,
    persist: { path: path.join(PERSIST_DIR, "v3") },
    remoteBindings: false,
  });
  try {
    const d1 = proxy.env.DB;
    const setupSeconds = seconds(started);

    const catalogue = (await d1.prepare("SELECT key FROM metrics ORDER BY key").all<{ key: string }>())
      .results;
    const modelled = METRICS.map((metric) => metric.key).sort();
    if (JSON.stringify(catalogue.map((row) => row.key)) !== JSON.stringify(modelled)) {
      fail(`the catalogue's metrics differ from the benchmark's model: ${catalogue.map((row) => row.key)}`);
    }

    started = performance.now();
    const panel = generatePanel();
    const expectedObservations = companies * years.length * METRICS.length;
    const insertStatementCount = await loadPanel(d1, panel);
    const loadSeconds = seconds(started);
    console.log(
      `recompute: loaded ${expectedObservations.toLocaleString("en-US")} observations in ${loadSeconds.toFixed(1)} s ` +
        `(${insertStatementCount} INSERTs)`,
    );

    const db = createDatabase(d1);
    started = performance.now();
    const first = await recomputeAll(db);
    const recomputeSeconds = seconds(started);
    console.log(
      `recompute: first pass ${recomputeSeconds.toFixed(2)} s ` +
        `(${first.cells} cells, ${first.outliers} outliers flagged)`,
    );
    const afterFirst = await snapshotSummaries(d1);

    started = performance.now();
    const second = await recomputeAll(db);
    const secondPassSeconds = seconds(started);
    console.log(`recompute: second pass ${secondPassSeconds.toFixed(2)} s`);
    if (JSON.stringify(second) !== JSON.stringify(first) || (await snapshotSummaries(d1)) !== afterFirst) {
      fail(`the second pass changed the result: ${JSON.stringify(first)} then ${JSON.stringify(second)}`);
    }
    const verified = await verify(d1, expectedObservations, second);

    const timed = new TimedD1(d1);
    started = performance.now();
    const third = await recomputeAll(createDatabase(timed as unknown as D1Database));
    const passSeconds = seconds(started);
    if (JSON.stringify(third) !== JSON.stringify(first) || (await snapshotSummaries(d1)) !== afterFirst) {
      fail(`the instrumented pass changed the result: ${JSON.stringify(third)}`);
    }
    const breakdown: Breakdown = {
      passSeconds,
      d1Calls: timed.calls,
      d1WaitSeconds: roundTo3(timed.waitMs / 1000),
      statementSetupCalls: timed.setupCalls,
      statementSetupSeconds: roundTo3(timed.setupMs / 1000),
      nodeSeconds: roundTo3(passSeconds - (timed.waitMs + timed.setupMs) / 1000),
      selectOneRoundTripMs: await roundTripMs(d1),
    };
    console.log(
      `recompute: instrumented pass ${passSeconds.toFixed(2)} s: ${breakdown.d1WaitSeconds.toFixed(2)} s awaiting ` +
        `${breakdown.d1Calls} D1 calls, ${breakdown.statementSetupSeconds.toFixed(2)} s in ` +
        `${breakdown.statementSetupCalls} prepare/bind calls, ${breakdown.nodeSeconds.toFixed(2)} s the rest; ` +
        `SELECT 1 round trip ${breakdown.selectOneRoundTripMs.toFixed(1)} ms`,
    );

    return {
      observations: first.observations,
      cells: first.cells,
      outliersFlagged: first.outliers,
      setupSeconds,
      loadSeconds,
      recomputeSeconds,
      secondPassSeconds,
      cellsPerSecond: Math.round(first.cells / recomputeSeconds),
      observationsPerSecond: Math.round(first.observations / recomputeSeconds),
      breakdown,
      runtime: RUNTIME,
      node: process.version,
      config: {
        companies,
        metrics: METRICS.length,
        years,
        seed: RECOMPUTE_CONFIG.seed,
        insertStatements: insertStatementCount,
        persistDir: path.relative(REPO_ROOT, PERSIST_DIR),
      },
      verified,
    };
  } finally {
    await proxy.dispose();
    if (!options.keepState) await rm(PERSIST_DIR, { recursive: true, force: true });
  }
}

const percentOf = (part: number, whole: number) => Math.round((100 * part) / whole);

/** One line: the figures asked for. */
export function describeRecompute(result: RecomputeBenchResult): string {
  return (
    `recompute of ${result.observations.toLocaleString("en-US")} observations into ${result.cells} cells ` +
    `(${result.outliersFlagged} outliers flagged): ${result.recomputeSeconds.toFixed(2)} s cold, ` +
    `${result.secondPassSeconds.toFixed(2)} s second pass ` +
    `(${result.cellsPerSecond} cells/s, ${result.observationsPerSecond.toLocaleString("en-US")} observations/s)`
  );
}

export function printRecomputeSummary(result: RecomputeBenchResult): void {
  const { breakdown } = result;
  console.log("");
  console.log(describeRecompute(result));
  console.log(
    `(load ${result.loadSeconds.toFixed(1)} s, not included; of an instrumented pass's ` +
      `${breakdown.passSeconds.toFixed(2)} s, ` +
      `${percentOf(breakdown.d1WaitSeconds + breakdown.statementSetupSeconds, breakdown.passSeconds)}% was in ` +
      `D1 binding calls: ${breakdown.d1Calls} queries and batches, ${breakdown.statementSetupCalls} ` +
      `prepare/bind; SELECT 1 round trip ${breakdown.selectOneRoundTripMs.toFixed(1)} ms)`,
  );
  console.log(
    `${result.runtime}; verified: one summary per cell, counts, ` +
      `${result.verified.spotChecks.length} cells' outlier flags and p50 recomputed, second pass identical.`,
  );
}

const runAlone =
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (runAlone) {
  runRecomputeBench({ keepState: process.argv.includes("--keep-state") })
    .then(printRecomputeSummary)
    .catch((error: unknown) => {
      console.error(
        `\nRecompute benchmark failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      process.exitCode = 1;
    });
}
