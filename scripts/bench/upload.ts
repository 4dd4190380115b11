/**
 * Upload benchmark: 100,000 panel rows posted as one CSV to a running service
 * (POST /api/v1/sources/:id/uploads), beside the same rows loaded into a plain SQLite file with
 * better-sqlite3 (scripts/bench/sqlite-load.ts: one prepared upsert in one transaction).
 *
 * The rows are the sample panel's own valid rows (scripts/sample-data/generate.ts), in file
 * order, leaving out any that the metric rules stored in the service's database would refuse
 * (rules are per metric and outlive a run: the docs' examples narrow ndr, for one), so that
 * every row must be accepted. The run each upload answers with must say received = accepted =
 * 100,000 and rejected = 0, or the benchmark fails.
 *
 * Each round registers a fresh panel source, times the upload request alone (from sending the
 * body to the last byte of the run it answers with; recomputing the aggregates may continue after
 * it), and runs the SQLite load in a child process, the two in alternating order. Before each
 * timed step the machine must be idle, so that the recompute an upload leaves behind does not
 * overlap the next measurement; the source is deleted once that work is done. The figure is the
 * median over rounds of each round's ratio of service rows/s to SQLite rows/s.
 *
 * Every request carries the admin token it is given: sources, rules and uploads need that role.
 *
 * `npm run bench` runs this against the service it started; `npm run bench -- upload` runs only this.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { REPO_ROOT } from "../lib/local-server";
import { PANEL_HEADER, SAMPLE_SEED, validPanelRows } from "../sample-data/generate";
import type { SqliteLoadResult } from "./sqlite-load";
import { findSqliteNode } from "./sqlite-node";

export const UPLOAD_CONFIG = {
  rows: 100_000,
  rounds: 3,
  seed: SAMPLE_SEED,
  sourceId: "bench-upload",
  /** A small upload first, so that the first timed round does not also pay for cold code. */
  warmupRows: 1_000,
  /** The goal: service rows/s at least this share of plain SQLite's. */
  minRatio: 0.3,
  /** Idle means less than this share of all cores busy over one second (2 cores: 0.2 ≈ 40% of one). */
  idleBelow: 0.2,
  maxIdleWaitSeconds: 60,
} as const;

const WORK_DIR = path.join(REPO_ROOT, ".wrangler/bench-sqlite");
const SQLITE_LOAD_SCRIPT = path.join(REPO_ROOT, "scripts/bench/sqlite-load.ts");
const UPLOAD_TIMEOUT_MS = 280_000;

/** The sample CSV's own headers, mapped to our fields by name. */
const MAPPING = {
  columns: {
    companyKey: "company_key",
    metric: "metric",
    period: "period",
    arr: "arr",
    value: "value",
    industry: "industry",
  },
} as const;

interface RevenueRange {
  key: string;
  minArr: number;
  maxArr: number | null;
}

interface MetricRules {
  minValue: number;
  maxValue: number;
  allowedBands: string[];
}

/** The fields of the run an upload answers with that the benchmark checks and keeps. */
interface Run {
  status: string;
  received: number;
  accepted: number;
  rejected: number;
  unchanged: number;
  durationMs: number | null;
  error: string | null;
  rejections?: { line: number; reason: string }[];
}

interface Side {
  seconds: number;
  rowsPerSecond: number;
}

interface ServiceSide extends Side {
  /** The run's own durationMs: from the run's creation to its last write, inside the Worker. */
  runDurationMs: number | null;
}

interface Round {
  order: "service first" | "sqlite first";
  service: ServiceSide;
  sqlite: Side;
  ratio: number;
  /** Time spent waiting for the machine to go idle before each step (not measured). */
  idleWaitSeconds: number;
}

export interface UploadBenchResult {
  measuredAt: string;
  request: string;
  rows: number;
  csvBytes: number;
  /** Sample-panel rows passed over because a stored metric rule would refuse them. */
  rowsSkippedForRules: number;
  /** Medians of the rounds. */
  service: ServiceSide;
  sqlite: Side;
  /** Median of the rounds' service rows/s ÷ SQLite rows/s. */
  ratio: number;
  goal: { minRatio: number; met: boolean };
  /** The last round's run, as the service answered it. */
  run: Omit<Run, "rejections" | "error">;
  runtime: { service: string; sqlite: string };
  baseline: {
    node: string;
    betterSqlite3: string;
    sqlite: string;
    journalMode: string;
    synchronous: number;
    table: string;
    statement: string;
  };
  config: {
    rounds: number;
    seed: number;
    warmupRows: number;
    idleBelow: number;
  };
  rounds: Round[];
}

// ---------------------------------------------------------------------------------------------
// Service calls

/** The service under test and the admin token to call it with. */
export interface ServiceEndpoint {
  url: string;
  token: string;
}

async function call(
  endpoint: ServiceEndpoint,
  method: string,
  pathname: string,
  init: { body?: string; contentType?: string; expect: number[]; timeoutMs?: number },
): Promise<Response> {
  const response = await fetch(`${endpoint.url}${pathname}`, {
    method,
    headers: {
      authorization: `Bearer ${endpoint.token}`,
      ...(init.contentType ? { "content-type": init.contentType } : {}),
    },
    body: init.body,
    signal: AbortSignal.timeout(init.timeoutMs ?? 30_000),
  });
  if (!init.expect.includes(response.status)) {
    throw new Error(`${method} ${pathname} answered ${response.status}:\n${await response.text()}`);
  }
  return response;
}

async function getJson<T>(endpoint: ServiceEndpoint, pathname: string): Promise<T> {
  return (await (await call(endpoint, "GET", pathname, { expect: [200] })).json()) as T;
}

/** The rules in force for every metric, so that the file holds only rows they accept. */
async function readRules(endpoint: ServiceEndpoint): Promise<Map<string, MetricRules>> {
  const { metrics } = await getJson<{ metrics: { key: string }[] }>(endpoint, "/api/v1/metrics");
  const rules = new Map<string, MetricRules>();
  for (const { key } of metrics) {
    rules.set(key, await getJson<MetricRules>(endpoint, `/api/v1/metrics/${key}/rules`));
  }
  return rules;
}

async function deleteSource(endpoint: ServiceEndpoint, sourceId: string): Promise<void> {
  await (
    await call(endpoint, "DELETE", `/api/v1/sources/${sourceId}`, { expect: [204, 404] })
  ).body?.cancel();
}

async function createSource(endpoint: ServiceEndpoint, sourceId: string): Promise<void> {
  const body = JSON.stringify({
    id: sourceId,
    name: "Upload benchmark panel (sample rows)",
    kind: "panel",
    format: "csv",
    mapping: MAPPING,
  });
  await (
    await call(endpoint, "POST", "/api/v1/sources", { body, contentType: "application/json", expect: [201] })
  ).body?.cancel();
}

/** Times the upload request alone and checks that every row was taken. */
async function timeUpload(
  endpoint: ServiceEndpoint,
  sourceId: string,
  csv: string,
  rows: number,
): Promise<{ seconds: number; run: Run }> {
  const pathname = `/api/v1/sources/${sourceId}/uploads`;
  const started = performance.now();
  const response = await call(endpoint, "POST", pathname, {
    body: csv,
    contentType: "text/csv",
    expect: [201],
    timeoutMs: UPLOAD_TIMEOUT_MS,
  });
  const run = (await response.json()) as Run;
  const seconds = (performance.now() - started) / 1000;
  if (run.received !== rows || run.accepted !== rows || run.rejected !== 0) {
    const shown = (run.rejections ?? [])
      .slice(0, 10)
      .map((rejection) => `\n    line ${rejection.line}: ${rejection.reason}`)
      .join("");
    throw new Error(
      `POST ${pathname} with ${rows} rows: the run says received ${run.received}, accepted ${run.accepted}, ` +
        `rejected ${run.rejected} (status ${run.status}${run.error ? `, error: ${run.error}` : ""}); ` +
        `expected ${rows}/${rows}/0${shown}`,
    );
  }
  return { seconds, run };
}

// ---------------------------------------------------------------------------------------------
// The file

function bandFor(ranges: readonly RevenueRange[], arr: number): string | undefined {
  return ranges.find((r) => arr >= r.minArr && (r.maxArr === null || arr < r.maxArr))?.key;
}

/** The first `rows` sample-panel rows that the stored rules accept, as one CSV. */
function buildCsv(
  rows: number,
  rules: Map<string, MetricRules>,
  ranges: readonly RevenueRange[],
): { csv: string; skipped: number } {
  const lines = [PANEL_HEADER];
  let skipped = 0;
  for (const row of validPanelRows(UPLOAD_CONFIG.seed)) {
    if (lines.length > rows) break;
    const rule = rules.get(row.metric);
    const band = bandFor(ranges, row.arr);
    const accepted =
      rule !== undefined &&
      row.value >= rule.minValue &&
      row.value <= rule.maxValue &&
      band !== undefined &&
      rule.allowedBands.includes(band);
    if (accepted) lines.push(row.line);
    else skipped++;
  }
  if (lines.length <= rows) {
    throw new Error(`the sample panel has only ${lines.length - 1} rows that the stored rules accept`);
  }
  return { csv: `${lines.join("\n")}\n`, skipped };
}

// ---------------------------------------------------------------------------------------------
// The SQLite side

const execFileAsync = promisify(execFile);

async function runSqliteLoad(
  node: string,
  csvFile: string,
  ranges: readonly RevenueRange[],
): Promise<SqliteLoadResult> {
  const args = [
    "--import",
    "tsx",
    SQLITE_LOAD_SCRIPT,
    csvFile,
    path.join(WORK_DIR, "observations.db"),
    UPLOAD_CONFIG.sourceId,
    JSON.stringify(ranges),
  ];
  try {
    const { stdout } = await execFileAsync(node, args, { cwd: REPO_ROOT, maxBuffer: 1024 * 1024 });
    return JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as SqliteLoadResult;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`the SQLite load failed under ${node}:\n${stdout ?? ""}${stderr ?? String(error)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Idle waits

/** Busy and total jiffies of all cores since boot; null where /proc/stat does not exist. */
async function cpuTimes(): Promise<{ busy: number; total: number } | null> {
  try {
    const [user, nice, system, idle, iowait, irq, softirq] = (await readFile("/proc/stat", "utf8"))
      .split("\n", 1)[0]!
      .trim()
      .split(/\s+/)
      .slice(1, 8)
      .map(Number) as [number, number, number, number, number, number, number];
    const busy = user + nice + system + irq + softirq;
    return { busy, total: busy + idle + iowait };
  } catch {
    return null;
  }
}

/** Waits until less than `idleBelow` of the CPUs was busy over a second; returns the seconds waited. */
async function waitUntilIdle(): Promise<number> {
  const started = performance.now();
  let before = await cpuTimes();
  if (!before) {
    await sleep(5_000);
    return 5;
  }
  while ((performance.now() - started) / 1000 < UPLOAD_CONFIG.maxIdleWaitSeconds) {
    await sleep(1_000);
    const after = await cpuTimes();
    if (!after) break;
    const busy = (after.busy - before.busy) / Math.max(1, after.total - before.total);
    before = after;
    if (busy < UPLOAD_CONFIG.idleBelow) break;
  }
  const waited = roundTo3((performance.now() - started) / 1000);
  if (waited >= UPLOAD_CONFIG.maxIdleWaitSeconds) {
    console.log(`upload: the machine stayed busy for ${waited} s; measuring anyway`);
  }
  return waited;
}

// ---------------------------------------------------------------------------------------------

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const roundTo3 = (value: number) => Math.round(value * 1000) / 1000;

export async function runUploadBench(endpoint: ServiceEndpoint): Promise<UploadBenchResult> {
  const { rows, rounds, sourceId, warmupRows } = UPLOAD_CONFIG;
  const ranges = (await getJson<{ revenueRanges: RevenueRange[] }>(endpoint, "/api/v1/revenue-ranges"))
    .revenueRanges;
  const { csv, skipped } = buildCsv(rows, await readRules(endpoint), ranges);
  const csvBytes = Buffer.byteLength(csv);
  if (skipped > 0)
    console.log(`upload: ${skipped} sample rows left out: stored metric rules would refuse them`);

  await rm(WORK_DIR, { recursive: true, force: true });
  await mkdir(WORK_DIR, { recursive: true });
  const csvFile = path.join(WORK_DIR, "panel.csv");
  await writeFile(csvFile, csv);
  try {
    const node = await findSqliteNode();
    console.log(
      `upload: ${rows.toLocaleString("en-US")} rows, ${(csvBytes / 1e6).toFixed(1)} MB of CSV; ` +
        `SQLite baseline under ${node}`,
    );

    await deleteSource(endpoint, sourceId);
    await createSource(endpoint, sourceId);
    const warmupCsv = `${csv.split("\n", warmupRows + 1).join("\n")}\n`;
    await timeUpload(endpoint, sourceId, warmupCsv, warmupRows);
    await waitUntilIdle();
    await deleteSource(endpoint, sourceId);

    let lastRun: Run | undefined;
    let baseline: SqliteLoadResult | undefined;
    let idleWaitSeconds = 0;
    const measureService = async (): Promise<ServiceSide> => {
      await createSource(endpoint, sourceId);
      idleWaitSeconds += await waitUntilIdle();
      const { seconds, run } = await timeUpload(endpoint, sourceId, csv, rows);
      lastRun = run;
      // The work the upload leaves behind (the recompute) ends before the source goes.
      idleWaitSeconds += await waitUntilIdle();
      await deleteSource(endpoint, sourceId);
      return {
        seconds: roundTo3(seconds),
        rowsPerSecond: Math.round(rows / seconds),
        runDurationMs: run.durationMs,
      };
    };
    const measureSqlite = async (): Promise<Side> => {
      idleWaitSeconds += await waitUntilIdle();
      baseline = await runSqliteLoad(node, csvFile, ranges);
      if (baseline.rows !== rows || baseline.stored !== rows) {
        throw new Error(
          `the SQLite load read ${baseline.rows} rows and stored ${baseline.stored}, not ${rows}`,
        );
      }
      return { seconds: roundTo3(baseline.seconds), rowsPerSecond: Math.round(rows / baseline.seconds) };
    };

    const results: Round[] = [];
    for (let round = 1; round <= rounds; round++) {
      idleWaitSeconds = 0;
      // Alternating which goes first spreads any advantage of going first (or second).
      const serviceFirst = round % 2 === 1;
      const service = serviceFirst ? await measureService() : undefined;
      const sqlite = await measureSqlite();
      const serviceSide = service ?? (await measureService());
      const ratio = roundTo3(serviceSide.rowsPerSecond / sqlite.rowsPerSecond);
      results.push({
        order: serviceFirst ? "service first" : "sqlite first",
        service: serviceSide,
        sqlite,
        ratio,
        idleWaitSeconds: roundTo3(idleWaitSeconds),
      });
      console.log(
        `round ${round}/${rounds}  service ${serviceSide.seconds.toFixed(2)} s (${serviceSide.rowsPerSecond} rows/s)  ` +
          `SQLite ${sqlite.seconds.toFixed(2)} s (${sqlite.rowsPerSecond} rows/s)  ratio ${ratio.toFixed(3)}`,
      );
    }
    if (!lastRun || !baseline) throw new Error("no round ran");

    const ratio = roundTo3(median(results.map((r) => r.ratio)));
    const { status, received, accepted, rejected, unchanged, durationMs } = lastRun;
    const runDurations = results.flatMap((r) => r.service.runDurationMs ?? []);
    return {
      measuredAt: new Date().toISOString(),
      request: `POST /api/v1/sources/${sourceId}/uploads (text/csv, ${rows} panel rows)`,
      rows,
      csvBytes,
      rowsSkippedForRules: skipped,
      service: {
        seconds: median(results.map((r) => r.service.seconds)),
        rowsPerSecond: median(results.map((r) => r.service.rowsPerSecond)),
        runDurationMs: runDurations.length > 0 ? median(runDurations) : null,
      },
      sqlite: {
        seconds: median(results.map((r) => r.sqlite.seconds)),
        rowsPerSecond: median(results.map((r) => r.sqlite.rowsPerSecond)),
      },
      ratio,
      goal: { minRatio: UPLOAD_CONFIG.minRatio, met: ratio >= UPLOAD_CONFIG.minRatio },
      run: { status, received, accepted, rejected, unchanged, durationMs },
      runtime: {
        service: "the service as npm start runs it (wrangler dev, local workerd and D1), over loopback",
        sqlite: `better-sqlite3 in a child process under Node ${baseline.node}, a fresh file in ${path.relative(REPO_ROOT, WORK_DIR)}`,
      },
      baseline: {
        node: baseline.node,
        betterSqlite3: baseline.betterSqlite3,
        sqlite: baseline.sqlite,
        journalMode: baseline.journalMode,
        synchronous: baseline.synchronous,
        table:
          "observations: the service's columns, primary key and three secondary indexes (no foreign keys)",
        statement:
          "one prepared INSERT … ON CONFLICT (source_id, metric_key, period, company_key) DO UPDATE, one transaction",
      },
      config: { rounds, seed: UPLOAD_CONFIG.seed, warmupRows, idleBelow: UPLOAD_CONFIG.idleBelow },
      rounds: results,
    };
  } finally {
    // A failed round leaves its source behind; the developer's database should not keep it.
    await deleteSource(endpoint, sourceId).catch(() => {});
    await rm(WORK_DIR, { recursive: true, force: true });
  }
}

/** One line: the figures asked for. */
export function describeUpload(result: UploadBenchResult): string {
  const spread = result.rounds.map((r) => r.ratio);
  return (
    `upload of ${result.rows.toLocaleString("en-US")} panel rows: service ${result.service.seconds.toFixed(2)} s ` +
    `(${result.service.rowsPerSecond.toLocaleString("en-US")} rows/s), plain SQLite ` +
    `${result.sqlite.seconds.toFixed(2)} s (${result.sqlite.rowsPerSecond.toLocaleString("en-US")} rows/s); ` +
    `service ≥ ${result.goal.minRatio.toFixed(2)}× SQLite: ${result.ratio.toFixed(3)}× ` +
    `(rounds ${Math.min(...spread).toFixed(3)}–${Math.max(...spread).toFixed(3)})  ${result.goal.met ? "PASS" : "MISS"}`
  );
}
