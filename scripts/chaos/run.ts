/**
 * The chaos test (`npm run chaos`): starts the service as `npm start` does, and kills its workerd
 * with SIGKILL at seeded random moments: first during the first start's sample-data load, then
 * during an upload, during the recompute that follows one, and during a scheduled refresh from a
 * local feed. After each kill it restarts the service the same way, waits until it has recovered
 * by itself, and checks what is stored with code of its own:
 *
 *   - no run is left queued or running;
 *   - a source holds exactly the rows of one whole file, each once: the previous file's after a
 *     run that died before its swap (the upload is then sent again), the new one's otherwise;
 *   - every panel summary and outlier flag equals a computation from scratch (reference.ts);
 *   - the data version moved if and only if the stored data did;
 *   - the first requests after recovery get no 5xx.
 *
 *   npm run chaos -- [--kills 21] [--seed 1]
 *
 * It prints each kill and its outcome, and ends with "Chaos: N passed, N failed" (checks).
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { mintDevToken } from "../dev-auth/token";
import {
  findFreePorts,
  LOOPBACK,
  type ManagedServer,
  SERVICE_START_TIMEOUT_MS,
  startService,
} from "../lib/local-server";
import { processesOfGroup } from "../lib/processes";
import { Prng } from "../sample-data/prng";
import { checkPanelSummaries, openLocalD1 } from "./reference";

const { values: args } = parseArgs({
  options: { kills: { type: "string", default: "21" }, seed: { type: "string", default: "1" } },
});
const KILLS = Number(args.kills);
const rng = new Prng(Number(args.seed));

/** Short, so that a dead run is taken over within seconds (wrangler.toml's is 60 s). */
const LEASE_SECONDS = 3;
/** How often start.mjs runs the scheduled handler here (the cron's 15 minutes otherwise). */
const SCHEDULED_INTERVAL_SECONDS = 2;
const RECOVERY_TIMEOUT_MS = 120_000;
/**
 * Where a kill may land after the operation starts: an upload of 30,000 rows (answered in a
 * second or so), the recompute after one (a second or two), a refresh (queued by the next tick,
 * within 2 s, then loaded).
 */
const KILL_WINDOW_MS = { upload: 1500, recompute: 1200, refresh: 3500 } as const;
/** From the first sample source's registration: the sample data's load (some 185,000 rows) and its recompute. */
const FIRST_LOAD_WINDOW_MS = 12_000;
type KillPoint = keyof typeof KILL_WINDOW_MS;

const UPLOADED = "chaos-panel";
const FED = "chaos-feed";

// ---------------------------------------------------------------------------------------------
// Files: 2,500 companies × 4 metrics × 3 periods, ARR from $0.2M to $80M. Each version moves
// every value and a few companies' ARR into another band, so every load changes data and cells.

interface FileRow {
  company: string;
  metric: string;
  period: string;
  arr: number;
  value: number;
}

const METRIC_RANGES: Record<string, [number, number]> = {
  ndr: [70, 150],
  arr_growth: [-20, 200],
  gross_margin: [40, 90],
  burn_multiple: [0.5, 5],
};
const PERIODS = ["2021", "2022", "2023"];
const COMPANIES = 2500;

function panelFile(label: string, version: number): { csv: string; rows: FileRow[] } {
  const draw = new Prng(Number(args.seed)).fork(`${label}/${version}`);
  const rows: FileRow[] = [];
  for (let i = 0; i < COMPANIES; i++) {
    const baseArr = 200_000 * 400 ** (i / COMPANIES);
    const arr = Math.round(draw.next() < 0.05 ? baseArr * 3 : baseArr);
    for (const [metric, [low, high]] of Object.entries(METRIC_RANGES)) {
      for (const period of PERIODS) {
        const value = Math.round((low + (high - low) * draw.next()) * 100) / 100;
        rows.push({ company: `co_${i}`, metric, period, arr, value });
      }
    }
  }
  const csv = ["c,m,p,a,v", ...rows.map((r) => `${r.company},${r.metric},${r.period},${r.arr},${r.value}`)];
  return { csv: csv.join("\n"), rows };
}

// ---------------------------------------------------------------------------------------------
// The service, its feed and its API.

const persistTo = await mkdtemp(path.join(tmpdir(), "chaos-"));
const [port, feedPort] = await findFreePorts(2);
const base = `http://${LOOPBACK}:${port}`;

let feedBody = panelFile(FED, 0).csv;
const feed = createServer((_request, response) => {
  response.writeHead(200, { "Content-Type": "text/csv" });
  response.end(feedBody);
});
await new Promise<void>((resolve) => feed.listen(feedPort, LOOPBACK, resolve));
const feedUrl = `http://${LOOPBACK}:${(feed.address() as AddressInfo).port}/${FED}.csv`;

let server: ManagedServer | undefined;
async function start({ waitForReady = true } = {}): Promise<ManagedServer> {
  server = startService(
    port!,
    ["--persist-to", persistTo, "--var", `RUN_LEASE_SECONDS:${LEASE_SECONDS}`],
    "chaos",
    { SCHEDULED_INTERVAL_SECONDS: String(SCHEDULED_INTERVAL_SECONDS), FEEDS_PORT: String(feedPort) },
  );
  // Its start-up output is kept for the error should it fail, not printed 22 times over.
  server.quiet();
  if (waitForReady) await server.waitUntilReady(SERVICE_START_TIMEOUT_MS);
  return server;
}

/** SIGKILL to every workerd of the server's process group, then the rest of the group goes too. */
async function killWorkerd(running: ManagedServer): Promise<number> {
  const workerds = (await processesOfGroup(running.processGroup!)).filter(
    ({ command }) => command === "workerd",
  );
  for (const { pid } of workerds) process.kill(pid, "SIGKILL");
  await running.stop();
  return workerds.length;
}

const authorization = `Bearer ${await mintDevToken("admin", "chaos-test")}`;

async function call(method: string, route: string, body?: string, type = "application/json") {
  const response = await fetch(`${base}${route}`, {
    method,
    headers: { Authorization: authorization, ...(body === undefined ? {} : { "Content-Type": type }) },
    body,
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const upload = (csv: string) => call("POST", `/api/v1/sources/${UPLOADED}/uploads`, csv, "text/csv");

// ---------------------------------------------------------------------------------------------
// What is stored, read from the D1 file with SQLite itself.

interface StoredRow {
  company_key: string;
  metric_key: string;
  period: string;
  arr: number;
  value: number;
}

/** What recovery waits for: cheap counts, read every half second. */
function readProgress(db: DatabaseSync) {
  const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  const fed = db
    .prepare("SELECT next_refresh_at AS nextRefreshAt, last_run_id AS lastRunId FROM sources WHERE id = ?")
    .get(FED) as { nextRefreshAt: string | null; lastRunId: string | null } | undefined;
  return {
    runsInFlight: count("SELECT COUNT(*) AS n FROM ingestion_runs WHERE status IN ('queued', 'running')"),
    pendingCells: count("SELECT COUNT(*) AS n FROM pending_cells"),
    sourcesLoaded: count("SELECT COUNT(*) AS n FROM sources WHERE last_run_id IS NOT NULL"),
    /** Set once the scheduler has queued the feed's refresh; a new url clears it. */
    fedQueued: fed?.nextRefreshAt != null,
    fedLoaded: fed?.lastRunId != null,
  };
}
type Progress = ReturnType<typeof readProgress>;

/** Everything the checks compare: the chaos sources' rows, a fingerprint of the data, its version. */
function readStore() {
  const db = openLocalD1(persistTo);
  try {
    const rows = (sourceId: string) =>
      db
        .prepare("SELECT company_key, metric_key, period, arr, value FROM observations WHERE source_id = ?")
        .all(sourceId) as unknown as StoredRow[];
    const hash = createHash("sha256");
    for (const table of ["observations", "summaries"]) {
      for (const row of db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2, 3, 4, 5`).iterate()) {
        hash.update(JSON.stringify(row));
      }
    }
    const version = db.prepare("SELECT value FROM meta WHERE key = 'data_version'").get() as {
      value: string;
    };
    return {
      ...readProgress(db),
      dataVersion: Number(version.value),
      fingerprint: hash.digest("hex"),
      summaries: checkPanelSummaries(db),
      rowsOf: { [UPLOADED]: rows(UPLOADED), [FED]: rows(FED) } as Record<string, StoredRow[]>,
    };
  } finally {
    db.close();
  }
}
type Store = ReturnType<typeof readStore>;

/** Whether the source holds exactly the file's rows, each once, under one pseudonym per company. */
function holdsExactly(stored: StoredRow[], file: FileRow[]): boolean {
  if (stored.length !== file.length) return false;
  const key = (metric: string, period: string, arr: number, value: number) =>
    `${metric}|${period}|${arr}|${value}`;
  const counts = new Map<string, number>();
  for (const r of file)
    counts.set(
      key(r.metric, r.period, r.arr, r.value),
      (counts.get(key(r.metric, r.period, r.arr, r.value)) ?? 0) + 1,
    );
  for (const r of stored) {
    const k = key(r.metric_key, r.period, r.arr, r.value);
    const left = (counts.get(k) ?? 0) - 1;
    if (left < 0) return false;
    counts.set(k, left);
  }
  return new Set(stored.map((r) => r.company_key)).size === new Set(file.map((r) => r.company)).size;
}

/** Waits, reading the D1 file only, until no run is in flight, no cell is owed and `done` holds. */
async function recovered(done: (progress: Progress) => boolean): Promise<Store> {
  const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
  for (;;) {
    const db = openLocalD1(persistTo);
    const progress = readProgress(db);
    db.close();
    if (progress.runsInFlight === 0 && progress.pendingCells === 0 && done(progress)) return readStore();
    if (Date.now() > deadline) {
      throw new Error(
        `not recovered within ${RECOVERY_TIMEOUT_MS / 1000} s: ${progress.runsInFlight} runs in flight, ${progress.pendingCells} cells owed`,
      );
    }
    await sleep(500);
  }
}

// ---------------------------------------------------------------------------------------------
// The kills.

let passed = 0;
let failed = 0;
function check(ok: boolean, what: string, notes: string[]): void {
  if (ok) passed++;
  else {
    failed++;
    notes.push(`FAILED: ${what}`);
  }
}

/** Waits until the first start's loader has registered a sample source: its load has begun. */
async function loadBegun(): Promise<void> {
  const deadline = Date.now() + SERVICE_START_TIMEOUT_MS;
  for (;;) {
    try {
      const db = openLocalD1(persistTo);
      const { n } = db.prepare("SELECT COUNT(*) AS n FROM sources").get() as { n: number };
      db.close();
      if (n > 0) return;
    } catch {
      // Not created or not migrated yet.
    }
    if (Date.now() > deadline) throw new Error("the first start never began loading the sample data");
    await sleep(200);
  }
}

/** Where a kill landed, read from the D1 file once workerd is dead. */
function atTheKill(): string {
  let db: DatabaseSync | undefined;
  try {
    db = openLocalD1(persistTo);
    const { runsInFlight, pendingCells, sourcesLoaded } = readProgress(db);
    return `at the kill ${runsInFlight} run${runsInFlight === 1 ? "" : "s"} in flight, ${pendingCells} cells owed, ${sourcesLoaded} sources loaded`;
  } catch {
    return "at the kill the database was not yet created or migrated";
  } finally {
    db?.close();
  }
}

/** The first requests after recovery: a band, a custom peer group and a ranking over the chaos data. */
async function firstRequests(): Promise<number[]> {
  const band = await call("GET", "/api/v1/benchmarks?metric=ndr&revenueRange=1M-5M&period=2023");
  const peers = await call("GET", "/api/v1/benchmarks?metric=ndr&arrMin=1000000&arrMax=20000000&period=2023");
  const ranking = await call(
    "POST",
    "/api/v1/benchmarks/ranking",
    JSON.stringify({ metric: "burn_multiple", revenueRange: "1M-5M", period: "2023", value: 1.2 }),
  );
  return [band.status, peers.status, ranking.status];
}

/**
 * The issue that started this test: a first `npm start` stopped during its sample-data load. The
 * next start must finish the load by itself, and every cell answer from whole data.
 */
async function killDuringFirstLoad(): Promise<void> {
  const notes: string[] = [];
  const delay = Math.round(rng.next() * FIRST_LOAD_WINDOW_MS);
  const first = await start({ waitForReady: false });
  await loadBegun();
  await sleep(delay);
  const killed = await killWorkerd(first);
  const landed = atTheKill();
  const restartedAt = performance.now();
  await start();
  const after = await recovered(() => true);
  const recoveryS = ((performance.now() - restartedAt) / 1000).toFixed(1);
  check(after.runsInFlight === 0, "no run is left queued or running", notes);
  check(after.sourcesLoaded === 4, `every sample source is loaded (${after.sourcesLoaded} of 4)`, notes);
  check(after.summaries.mismatches.length === 0, "every summary follows its observations", notes);
  const statuses = await firstRequests();
  check(
    statuses.every((status) => status < 500),
    `no 5xx on the first requests (${statuses.join(", ")})`,
    notes,
  );
  console.log(
    `kill 1/${KILLS} [first load, +${delay} ms after its first source, ${killed} workerd]: ${landed}; ` +
      `the next start finished the load in ${recoveryS} s; ${after.summaries.cellsChecked} panel cells match` +
      (notes.length > 0 ? `; ${notes.join("; ")}` : "; ok"),
  );
}

const order: KillPoint[] = Array.from(
  { length: KILLS - 1 },
  (_, i) => (["upload", "recompute", "refresh"] as const)[i % 3]!,
);
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(rng.next() * (i + 1));
  [order[i], order[j]] = [order[j]!, order[i]!];
}

const started = performance.now();
try {
  await killDuringFirstLoad();
  let running = server!;
  for (const [id, url] of [
    [UPLOADED, undefined],
    [FED, feedUrl],
  ] as const) {
    const registered = await call(
      "POST",
      "/api/v1/sources",
      JSON.stringify({
        id,
        name: `Chaos ${id}`,
        kind: "panel",
        ...(url ? { url, refreshIntervalMinutes: 60 * 24 * 365 } : {}),
        mapping: { columns: { companyKey: "c", metric: "m", period: "p", arr: "a", value: "v" } },
      }),
    );
    if (registered.status !== 201) throw new Error(`registering ${id}: HTTP ${registered.status}`);
  }
  // The feed's first file, which the scheduler fetches as soon as the source is registered.
  await recovered((progress) => progress.fedLoaded);
  const loaded: Record<string, FileRow[]> = { [UPLOADED]: [], [FED]: panelFile(FED, 0).rows };
  let version = 0;

  for (const [index, point] of order.entries()) {
    const notes: string[] = [];
    const delay = Math.round(rng.next() * KILL_WINDOW_MS[point]);
    const file = panelFile(point === "refresh" ? FED : UPLOADED, ++version);
    const target = point === "refresh" ? FED : UPLOADED;
    let answered: Promise<number | string> = Promise.resolve("no request in flight");
    let before: Store;

    if (point === "refresh") {
      feedBody = file.csv;
      // A new url makes the source due at the next tick of the scheduler.
      const patched = await call(
        "PATCH",
        `/api/v1/sources/${FED}`,
        JSON.stringify({ url: `${feedUrl}?v=${version}` }),
      );
      if (patched.status !== 200) throw new Error(`PATCH ${FED}: HTTP ${patched.status}`);
      before = readStore();
    } else {
      before = readStore();
      const sent = upload(file.csv);
      answered = sent.then(
        (response) => response.status,
        (error: Error) => `no answer (${error.message})`,
      );
      if (point === "recompute") {
        const status = await answered;
        check(status === 201, `the upload before the recompute was answered 201 (got ${status})`, notes);
      }
    }
    await sleep(delay);
    const killed = await killWorkerd(running);
    const outcome = await answered;
    const landed = atTheKill();

    const restartedAt = performance.now();
    running = await start();
    let after: Store;
    try {
      after = await recovered((progress) => point !== "refresh" || progress.fedQueued);
    } catch (error) {
      check(false, (error as Error).message, notes);
      console.log(`kill ${index + 2}/${KILLS} [${point}, +${delay} ms]: ${landed}; ${notes.join("; ")}`);
      break;
    }
    const recoveryS = ((performance.now() - restartedAt) / 1000).toFixed(1);

    check(after.runsInFlight === 0, "no run is left queued or running", notes);
    const heldNew = holdsExactly(after.rowsOf[target]!, file.rows);
    const heldOld = holdsExactly(after.rowsOf[target]!, loaded[target]!);
    check(heldNew || heldOld, `${target} holds exactly one whole file`, notes);
    if (point !== "upload") check(heldNew, `${target} holds the file whose load had begun`, notes);
    check(
      after.summaries.mismatches.length === 0,
      `every summary follows its observations (${after.summaries.mismatches.slice(0, 3).join("; ")})`,
      notes,
    );
    const dataChanged = after.fingerprint !== before.fingerprint;
    check(
      dataChanged ? after.dataVersion > before.dataVersion : after.dataVersion === before.dataVersion,
      `the data version moved only with the data (${before.dataVersion} -> ${after.dataVersion}, data ${dataChanged ? "changed" : "unchanged"})`,
      notes,
    );
    const statuses = await firstRequests();
    check(
      statuses.every((status) => status < 500),
      `no 5xx on the first requests (${statuses.join(", ")})`,
      notes,
    );

    // The client's part: an upload that died before its swap is sent again.
    let redone = "";
    if (point === "upload" && !heldNew) {
      const again = await upload(file.csv);
      await recovered(() => true);
      check(
        again.status === 201 && holdsExactly(readStore().rowsOf[target]!, file.rows),
        "the upload sent again is stored whole",
        notes,
      );
      redone = ", sent again";
    }
    loaded[target] = file.rows;

    console.log(
      `kill ${index + 2}/${KILLS} [${point}, +${delay} ms, ${killed} workerd]: ` +
        `${point === "refresh" ? "" : `upload ${typeof outcome === "number" ? `answered ${outcome}` : outcome}, `}${landed}; ` +
        `recovered in ${recoveryS} s; ${target} holds the ${heldNew ? "new" : "previous"} file${redone}; ` +
        `${after.summaries.cellsChecked} panel cells match; data version ${before.dataVersion} -> ${after.dataVersion}` +
        (notes.length > 0 ? `; ${notes.join("; ")}` : "; ok"),
    );
  }
} finally {
  await server?.stop();
  feed.close();
  await rm(persistTo, { recursive: true, force: true });
}
console.log(`\n${KILLS} kills in ${((performance.now() - started) / 60_000).toFixed(1)} min`);
console.log(`Chaos: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
