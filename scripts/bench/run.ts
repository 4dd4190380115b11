/**
 * Load benchmark behind `npm run bench`.
 *
 * First times the statistics kernel beside numpy (scripts/bench/stats-kernel.ts) and a full
 * recompute of a 1,001,000-observation panel in a local D1 of its own (scripts/bench/recompute.ts)
 * while no server runs. Then starts the service exactly as `npm start` does, plus a bare Hono
 * worker in the same local workerd runtime as a baseline, and drives both with autocannon over
 * loopback. Targets run in interleaved rounds and each figure is the median of the rounds, because
 * a small, noisy machine drifts over a run and a single back-to-back pass would bias whichever
 * target came last.
 *
 * Exit code: 0 when the run completed (goals are reported as PASS/MISS, not enforced);
 * 1 when it could not be measured (a server did not start, any request failed, the stats kernel
 * and numpy computed different figures, or the recompute's aggregates failed their checks).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { describeRecompute, printRecomputeSummary, runRecomputeBench } from "./recompute";
import { describeStatsKernelGoal, printStatsKernelTable, runStatsKernelBench } from "./stats-kernel";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const RESULTS_FILE = path.join(REPO_ROOT, "bench/results.json");
const WRANGLER_CLI = path.join(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js");
const BARE_WORKER_CONFIG = path.join(REPO_ROOT, "scripts/bench/wrangler.bare.toml");
const LOOPBACK = "127.0.0.1";

const LOAD = {
  connections: 16,
  durationSeconds: 4,
  warmupSeconds: 1,
  rounds: 5,
} as const;

/** The first start applies migrations and loads ~185k sample rows before wrangler listens. */
const SERVICE_START_TIMEOUT_MS = 120_000;
const BARE_START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

const GOALS = {
  cachedGet: { minRatio: 0.8, description: "cached GET" },
  ranking: { minRatio: 0.7, description: "ranking POST" },
} as const;

type TargetName = "bare" | "cachedGet" | "ranking";
type GoalTarget = keyof typeof GOALS;

interface Target {
  name: TargetName;
  method: "GET" | "POST";
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

interface Measurement {
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

interface RoundResult extends Measurement {
  /** This round's requests/s over the bare worker's in the same round. */
  ratioToBare?: number;
}

interface TargetSummary extends Measurement {
  request: string;
  rounds: RoundResult[];
  /** Median of the per-round ratios. */
  ratioToBare?: number;
}

// ---------------------------------------------------------------------------------------------
// Child processes

/** A server started in its own process group, so stopping it also stops wrangler's workerd. */
class ManagedServer {
  private readonly recentOutput: string[] = [];
  private echoOutput = true;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => this.record(chunk));
    }
    child.on("error", (error) => this.record(`failed to run: ${error.message}`));
  }

  static start(name: string, args: string[], env: NodeJS.ProcessEnv): ManagedServer {
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const server = new ManagedServer(name, child);
    runningServers.add(server);
    return server;
  }

  get hasExited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Startup output is shown live (the first data load is slow); once ready, only kept for errors. */
  quiet(): void {
    this.echoOutput = false;
  }

  outputTail(): string {
    return this.recentOutput.map((line) => `  [${this.name}] ${line}`).join("\n");
  }

  async stop(): Promise<void> {
    runningServers.delete(this);
    if (!this.signalGroup("SIGTERM")) return;
    const deadline = Date.now() + STOP_GRACE_MS;
    while (this.groupIsAlive() && Date.now() < deadline) await sleep(100);
    this.signalGroup("SIGKILL");
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
  }

  /** Last resort from a synchronous `exit` handler: no grace period is possible there. */
  killNow(): void {
    this.signalGroup("SIGKILL");
  }

  /** Returns false once nothing is left in the group. */
  private signalGroup(signal: NodeJS.Signals | 0): boolean {
    if (this.child.pid === undefined) return false;
    try {
      process.kill(-this.child.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  private groupIsAlive(): boolean {
    return this.signalGroup(0);
  }

  private record(chunk: string): void {
    for (const line of chunk.split(/\r?\n/)) {
      if (line.trim() === "") continue;
      if (this.echoOutput) process.stderr.write(`  [${this.name}] ${line}\n`);
      this.recentOutput.push(line);
    }
    this.recentOutput.splice(0, Math.max(0, this.recentOutput.length - 40));
  }
}

const runningServers = new Set<ManagedServer>();
/** Set on Ctrl-C: the load then in flight fails as the servers stop, which is no news. */
let interrupted = false;

process.on("exit", () => {
  for (const server of runningServers) server.killNow();
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    interrupted = true;
    console.error(`\nReceived ${signal}, stopping servers...`);
    void Promise.all([...runningServers].map((server) => server.stop())).finally(() => process.exit(130));
  });
}

/**
 * `wrangler dev` flags given to both servers so they run under identical conditions: per-request
 * logging at the default "info" level would cost throughput under load. (Not WRANGLER_LOG=warn in
 * the environment: start.mjs's data loader parses `wrangler d1 execute --json` output, which that hides.)
 */
const WRANGLER_DEV_FLAGS = ["--log-level", "warn", "--show-interactive-dev-session=false"];

const OFFLINE_WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: "false",
  // Skips the attempt to download the Request.cf object, which needs internet access.
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
};

/** Launched as `npm start` does; start.mjs passes its extra arguments on to `wrangler dev`. */
function startService(port: number): ManagedServer {
  return ManagedServer.start("service", ["scripts/start.mjs", ...WRANGLER_DEV_FLAGS], {
    ...OFFLINE_WRANGLER_ENV,
    PORT: String(port),
  });
}

function startBareWorker(port: number, inspectorPort: number): ManagedServer {
  return ManagedServer.start(
    "bare",
    [
      WRANGLER_CLI,
      "dev",
      "-c",
      BARE_WORKER_CONFIG,
      "--ip",
      LOOPBACK,
      "--port",
      String(port),
      // Two wrangler processes starting together would otherwise race for the default 9229.
      "--inspector-port",
      String(inspectorPort),
      ...WRANGLER_DEV_FLAGS,
    ],
    OFFLINE_WRANGLER_ENV,
  );
}

async function waitUntilServing(server: ManagedServer, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.hasExited) {
      throw new Error(`${server.name} exited before serving ${url}:\n${server.outputTail()}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.status === 200) {
        server.quiet();
        return;
      }
    } catch {
      // Not listening yet.
    }
    await sleep(500);
  }
  throw new Error(
    `${server.name} did not answer 200 on ${url} within ${timeoutMs / 1000} s:\n${server.outputTail()}`,
  );
}

/** Ports are all held open until each is allocated, so the OS cannot hand out one twice. */
async function findFreePorts(count: number): Promise<number[]> {
  const probes = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      probes.map(
        (probe) =>
          new Promise<number>((resolve, reject) => {
            probe.on("error", reject);
            probe.listen(0, LOOPBACK, () => {
              const address = probe.address();
              if (address && typeof address === "object") resolve(address.port);
              else reject(new Error("could not allocate a free port"));
            });
          }),
      ),
    );
  } finally {
    for (const probe of probes) probe.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Targets and load

function defineTargets(barePort: number, servicePort: number): Record<TargetName, Target> {
  const service = `http://${LOOPBACK}:${servicePort}`;
  return {
    bare: { name: "bare", method: "GET", url: `http://${LOOPBACK}:${barePort}/bare` },
    cachedGet: {
      name: "cachedGet",
      method: "GET",
      url: `${service}/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M`,
    },
    ranking: {
      name: "ranking",
      method: "POST",
      url: `${service}/api/v1/benchmarks/ranking`,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ metric: "arr_growth", value: 55, revenueRange: "1M-5M" }),
    },
  };
}

function describeRequest(target: Target): string {
  const { pathname, search } = new URL(target.url);
  return `${target.method} ${pathname}${search}${target.body ? ` ${target.body}` : ""}`;
}

async function fetchOnce(target: Target): Promise<Response> {
  return fetch(target.url, {
    method: target.method,
    headers: target.headers,
    body: target.body,
    signal: AbortSignal.timeout(30_000),
  });
}

/** Fails fast with the server's answer, rather than letting autocannon count thousands of errors. */
async function checkTargetsAnswer(targets: Target[]): Promise<void> {
  for (const target of targets) {
    const response = await fetchOnce(target);
    const body = await response.text();
    if (response.status !== 200) {
      throw new Error(`${target.name} (${describeRequest(target)}) answered ${response.status}:\n${body}`);
    }
  }
}

/** The cached GET must be measured on the hit path; the first request only fills the cache. */
async function checkCacheIsHit(target: Target): Promise<void> {
  const response = await fetchOnce(target);
  await response.body?.cancel();
  const cacheResult = response.headers.get("x-cache");
  if (cacheResult === "miss") {
    throw new Error(`${target.name} is still a cache miss after warming (X-Cache: ${cacheResult})`);
  }
  console.log(`cachedGet warmed: X-Cache: ${cacheResult ?? "(header absent)"}`);
}

async function applyLoad(target: Target, durationSeconds: number): Promise<Measurement> {
  const result = await autocannon({
    url: target.url,
    method: target.method,
    headers: target.headers,
    body: target.body,
    connections: LOAD.connections,
    duration: durationSeconds,
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(
      `${target.name}: ${result.non2xx} non-2xx responses and ${result.errors} errors ` +
        `(${result.timeouts} timeouts) out of ${result.requests.sent} requests; ` +
        `status codes: ${JSON.stringify(result.statusCodeStats)}`,
    );
  }
  return {
    // Completed requests over the measured time; autocannon's own average is over only a few
    // one-second samples and rounds each of them.
    requestsPerSecond: Math.round(result.requests.total / result.duration),
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
  };
}

async function measureInRounds(targets: Target[]): Promise<Map<TargetName, Measurement[]>> {
  for (const target of targets) await applyLoad(target, LOAD.warmupSeconds);

  const roundsByTarget = new Map<TargetName, Measurement[]>(targets.map((target) => [target.name, []]));
  for (let round = 1; round <= LOAD.rounds; round++) {
    // Rotating the order spreads any advantage of running first (or right after a given target).
    const shift = (round - 1) % targets.length;
    for (const target of [...targets.slice(shift), ...targets.slice(0, shift)]) {
      const measurement = await applyLoad(target, LOAD.durationSeconds);
      roundsByTarget.get(target.name)?.push(measurement);
      console.log(
        `round ${round}/${LOAD.rounds}  ${target.name.padEnd(9)}  ${measurement.requestsPerSecond} req/s  ` +
          `p50 ${measurement.latencyP50Ms} ms  p99 ${measurement.latencyP99Ms} ms`,
      );
    }
  }
  return roundsByTarget;
}

// ---------------------------------------------------------------------------------------------
// Reporting

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[middle]!;
  return (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const roundTo3 = (value: number) => Math.round(value * 1000) / 1000;

/**
 * Medians over rounds. The ratio to bare is paired by round: both were measured within seconds
 * of each other, so load from elsewhere on the machine mostly cancels out of the ratio, where a
 * ratio of the two medians could pair a quiet-period bare round with a busy-period target round.
 */
function summarize(
  target: Target,
  measurements: Measurement[],
  bareMeasurements?: Measurement[],
): TargetSummary {
  const rounds: RoundResult[] = measurements.map((measurement, index) => {
    const bare = bareMeasurements?.[index];
    return bare
      ? { ...measurement, ratioToBare: roundTo3(measurement.requestsPerSecond / bare.requestsPerSecond) }
      : measurement;
  });
  const ratios = rounds.flatMap((round) => (round.ratioToBare === undefined ? [] : [round.ratioToBare]));
  return {
    request: describeRequest(target),
    requestsPerSecond: median(rounds.map((round) => round.requestsPerSecond)),
    latencyP50Ms: median(rounds.map((round) => round.latencyP50Ms)),
    latencyP99Ms: median(rounds.map((round) => round.latencyP99Ms)),
    ...(ratios.length > 0 && { ratioToBare: roundTo3(median(ratios)) }),
    rounds,
  };
}

function printTable(summaries: Record<TargetName, TargetSummary>): void {
  const rows = [
    ["target", "req/s", "p50 ms", "p99 ms", "× bare"],
    ...Object.entries(summaries).map(([name, summary]) => [
      name,
      String(summary.requestsPerSecond),
      String(summary.latencyP50Ms),
      String(summary.latencyP99Ms),
      (summary.ratioToBare ?? 1).toFixed(2),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const alignCell = (cell: string, column: number) =>
    column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!);
  console.log("");
  for (const row of rows) console.log(row.map(alignCell).join("  "));
  console.log("(medians of the rounds; × bare is the median of each round's ratio to that round's bare)");
}

interface GoalResult {
  minRatio: number;
  met: boolean;
}

function evaluateGoal(name: GoalTarget, summary: TargetSummary): GoalResult {
  const { minRatio, description } = GOALS[name];
  const ratio = summary.ratioToBare ?? 0;
  const met = ratio >= minRatio;
  console.log(
    `${description} ≥ ${minRatio.toFixed(2)}× bare: ${ratio.toFixed(2)}×  ${met ? "PASS" : "MISS"}`,
  );
  return { minRatio, met };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  // Before any server starts, so that load does not share the CPU with the kernel timings.
  const statsKernel = await runStatsKernelBench();
  printStatsKernelTable(statsKernel);
  console.log("");
  // Also before the servers, in .wrangler/bench-state: the service's .wrangler/state is not touched.
  const recompute = await runRecomputeBench();
  printRecomputeSummary(recompute);
  console.log("");

  const [servicePort = 0, barePort = 0, bareInspectorPort = 0] = await findFreePorts(3);
  const targets = defineTargets(barePort, servicePort);

  console.log(`Starting the service (port ${servicePort}) and the bare worker (port ${barePort})...`);
  const service = startService(servicePort);
  const bare = startBareWorker(barePort, bareInspectorPort);
  try {
    await Promise.all([
      waitUntilServing(service, `http://${LOOPBACK}:${servicePort}/health`, SERVICE_START_TIMEOUT_MS),
      waitUntilServing(bare, targets.bare.url, BARE_START_TIMEOUT_MS),
    ]);
    await checkTargetsAnswer(Object.values(targets));
    await checkCacheIsHit(targets.cachedGet);

    console.log(
      `Load: ${LOAD.connections} connections, ${LOAD.rounds} interleaved rounds of ` +
        `${LOAD.durationSeconds} s per target after a ${LOAD.warmupSeconds} s warm-up each.`,
    );
    const roundsByTarget = await measureInRounds(Object.values(targets));

    const roundsOf = (name: TargetName) => roundsByTarget.get(name) ?? [];
    const summaries: Record<TargetName, TargetSummary> = {
      bare: summarize(targets.bare, roundsOf("bare")),
      cachedGet: summarize(targets.cachedGet, roundsOf("cachedGet"), roundsOf("bare")),
      ranking: summarize(targets.ranking, roundsOf("ranking"), roundsOf("bare")),
    };

    printTable(summaries);
    console.log("");
    const goals: Record<GoalTarget, GoalResult> = {
      cachedGet: evaluateGoal("cachedGet", summaries.cachedGet),
      ranking: evaluateGoal("ranking", summaries.ranking),
    };
    console.log(describeStatsKernelGoal(statsKernel));
    console.log(describeRecompute(recompute));

    const results = {
      measuredAt: new Date().toISOString(),
      node: process.version,
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? "unknown",
        platform: os.platform(),
      },
      config: { ...LOAD },
      targets: summaries,
      goals,
      statsKernel,
      recompute,
    };
    await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
    await writeFile(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`\nWrote ${path.relative(REPO_ROOT, RESULTS_FILE)}`);
  } finally {
    await Promise.all([service.stop(), bare.stop()]);
  }
}

main().catch((error: unknown) => {
  if (interrupted) return;
  console.error(`\nBenchmark failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
