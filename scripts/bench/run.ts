/**
 * Load benchmark behind `npm run bench`.
 *
 * First times the statistics kernel beside numpy (scripts/bench/stats-kernel.ts) and a full
 * recompute of a 1,001,000-observation panel in a local D1 of its own (scripts/bench/recompute.ts)
 * while no server runs. Then starts the service as `npm start` does, but with its rate limits
 * lifted and every request traced to a local OTLP receiver; the same service with metrics, logs
 * and tracing off, whose cached GET is the instrumentation baseline; and a bare Hono worker in
 * the same local workerd runtime as the baseline of the REST routes. It drives them
 * with bearer tokens minted by the development key (scripts/dev-auth/token.ts) and autocannon over
 * loopback: the REST routes against the bare worker, and the ranking over Connect RPC (binary
 * protobuf) against the same ranking over REST. Targets run in interleaved rounds and each figure
 * is the median of the rounds, because a small, noisy machine drifts over a run and a single
 * back-to-back pass would bias whichever target came last. Last, on the same service, a
 * 100,000-row panel upload beside the same rows loaded into plain SQLite (scripts/bench/upload.ts).
 *
 * Arguments select parts (all four when none is given), and a run of some parts replaces only
 * their sections of bench/results.json:
 *   npm run bench -- [stats-kernel] [recompute] [http] [upload]
 *
 * Exit code: 0 when the run completed (goals are reported as PASS/MISS, not enforced);
 * 1 when it could not be measured (a server did not start, any request failed, the RPC and REST
 * rankings disagreed, the stats kernel and numpy computed different figures, the recompute's
 * aggregates failed their checks, or the upload did not accept every row).
 */
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import autocannon from "autocannon";
import {
  CalculateRankingRequestSchema,
  CalculateRankingResponseSchema,
} from "../../src/gen/benchmark/v1/benchmark_pb";
import { mintDevToken } from "../dev-auth/token";
import {
  findFreePorts,
  LOOPBACK,
  ManagedServer,
  OFFLINE_WRANGLER_ENV,
  REPO_ROOT,
  SERVICE_START_TIMEOUT_MS,
  startService,
  WRANGLER_CLI,
  WRANGLER_DEV_FLAGS,
  waitUntilServing,
  wasInterrupted,
} from "../lib/local-server";
import { describeRecompute, printRecomputeSummary, runRecomputeBench } from "./recompute";
import { describeStatsKernelGoal, printStatsKernelTable, runStatsKernelBench } from "./stats-kernel";
import { describeUpload, runUploadBench } from "./upload";

const RESULTS_FILE = path.join(REPO_ROOT, "bench/results.json");
const BARE_WORKER_CONFIG = path.join(REPO_ROOT, "scripts/bench/wrangler.bare.toml");

const LOAD = {
  connections: 16,
  durationSeconds: 4,
  warmupSeconds: 1,
  rounds: 5,
} as const;

const BARE_START_TIMEOUT_MS = 60_000;

/**
 * `wrangler dev` flags for the service. Its per-principal rate limits (1,000 requests an hour for
 * a user, 5,000 for an admin) would turn the load into 429s within the first second, and the
 * benchmark measures throughput, not the limits: every tier is lifted far beyond what a run can
 * send. The limiter still runs on every request, as it does in production.
 */
const LIFTED_RATE_LIMITS = [
  "--var",
  `RATE_LIMITS:${JSON.stringify(
    Object.fromEntries(
      ["anonymous", "user", "admin"].map((tier) => [tier, { rate: 1e9, periodSeconds: 1, burst: 1e9 }]),
    ),
  )}`,
];

/** Dev tokens minted once per run must outlive it: one expiring mid-run would fail it with 401s. */
const TOKEN_TTL_SECONDS = 6 * 3600;

const SERVICE_STATE = path.join(REPO_ROOT, ".wrangler/state");

/**
 * The same service with parts of its instrumentation off, as baselines of the cached GET. Each
 * runs in a local state of its own, a copy of the service's (see copyServiceState), so that all
 * of them answer the same query from the same data.
 */
const VARIANTS = {
  cachedGetUninstrumented: {
    instance: "uninstrumented",
    vars: ["METRICS:off"],
    description: "metrics off and no tracing; request log lines on, as in the service",
  },
  cachedGetSilent: {
    instance: "silent",
    vars: ["METRICS:off", "REQUEST_LOGS:off"],
    description: "metrics off, no tracing and no request log lines",
  },
} as const;
type VariantName = keyof typeof VARIANTS;
const VARIANT_NAMES = Object.keys(VARIANTS) as VariantName[];

const stateOf = (variant: VariantName) =>
  path.join(REPO_ROOT, `.wrangler/bench-${VARIANTS[variant].instance}`);

/** A variant's state is the service's data as it is now; with no state yet, each loads the same sample data. */
async function copyServiceState(variant: VariantName): Promise<void> {
  await rm(stateOf(variant), { recursive: true, force: true });
  await cp(SERVICE_STATE, stateOf(variant), { recursive: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
  });
}

function startVariant(variant: VariantName, port: number, inspectorPort: number): ManagedServer {
  return startService(
    port,
    [
      ...LIFTED_RATE_LIMITS,
      ...VARIANTS[variant].vars.flatMap((assignment) => ["--var", assignment]),
      "--persist-to",
      stateOf(variant),
      // Instances started together would otherwise race for the default 9229.
      "--inspector-port",
      String(inspectorPort),
    ],
    VARIANTS[variant].instance,
  );
}

type TargetName = "bare" | "cachedGet" | VariantName | "ranking" | "rpcRanking";

/**
 * Each ratio is a target's requests/s over its baseline's in the same round: the REST routes are
 * held against a bare worker, the RPC ranking against the same query over REST.
 */
const RATIOS = {
  ratioToBare: { baseline: "bare", label: "bare" },
  ratioToRestRanking: { baseline: "ranking", label: "REST ranking" },
  ratioToUninstrumented: { baseline: "cachedGetUninstrumented", label: "uninstrumented" },
  ratioToSilent: { baseline: "cachedGetSilent", label: "silent" },
} as const satisfies Record<string, { baseline: TargetName; label: string }>;
type RatioName = keyof typeof RATIOS;

const GOALS = {
  cachedGet: { target: "cachedGet", minRatio: 0.8, ratio: "ratioToBare", description: "cached GET" },
  ranking: { target: "ranking", minRatio: 0.7, ratio: "ratioToBare", description: "ranking POST" },
  rpcRanking: {
    target: "rpcRanking",
    minRatio: 0.9,
    ratio: "ratioToRestRanking",
    description: "RPC ranking (Connect, binary)",
  },
  instrumentation: {
    target: "cachedGet",
    minRatio: 0.9,
    ratio: "ratioToUninstrumented",
    description: "cached GET with metrics and traces on",
  },
} as const satisfies Record<
  string,
  { target: TargetName; minRatio: number; ratio: RatioName; description: string }
>;
type GoalName = keyof typeof GOALS;

interface Target {
  name: TargetName;
  method: "GET" | "POST";
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** How a binary body reads in the report. */
  bodyDescription?: string;
}

interface Measurement {
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

/** Ratios of this round's requests/s to the baseline's in the same round. */
type RoundResult = Measurement & Partial<Record<RatioName, number>>;

/** Each ratio is the median of the per-round ratios. */
type TargetSummary = Measurement &
  Partial<Record<RatioName, number>> & {
    request: string;
    rounds: RoundResult[];
  };

// ---------------------------------------------------------------------------------------------
// Baseline server

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

// ---------------------------------------------------------------------------------------------
// Targets and load

/** The one query both rankings answer, so that their ratio compares the protocols alone. */
const RANKING_QUERY = { metric: "arr_growth", value: 55, revenueRange: "1M-5M" } as const;

/**
 * Every target sends the same analyst token, so that both rankings pay the same verification and
 * their ratio still compares the protocols alone. The bare worker ignores the header, but gets it
 * too: the request bytes are then equal, and a ratio to bare counts the verification as the
 * service's own work.
 */
function defineTargets(
  barePort: number,
  servicePort: number,
  variantPorts: Record<VariantName, number>,
  analystToken: string,
): Record<TargetName, Target> {
  const service = `http://${LOOPBACK}:${servicePort}`;
  const cachedGetQuery = "/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M";
  const authorization = `Bearer ${analystToken}`;
  const rpcRankingRequest = create(CalculateRankingRequestSchema, {
    metric: RANKING_QUERY.metric,
    value: RANKING_QUERY.value,
    peersSelector: { case: "revenueRange", value: RANKING_QUERY.revenueRange },
  });
  return {
    bare: {
      name: "bare",
      method: "GET",
      url: `http://${LOOPBACK}:${barePort}/bare`,
      headers: { authorization },
    },
    cachedGet: {
      name: "cachedGet",
      method: "GET",
      url: `${service}${cachedGetQuery}`,
      headers: { authorization },
    },
    ...(Object.fromEntries(
      VARIANT_NAMES.map((variant) => [
        variant,
        {
          name: variant,
          method: "GET",
          url: `http://${LOOPBACK}:${variantPorts[variant]}${cachedGetQuery}`,
          headers: { authorization },
        },
      ]),
    ) as unknown as Record<VariantName, Target>),
    ranking: {
      name: "ranking",
      method: "POST",
      url: `${service}/api/v1/benchmarks/ranking`,
      headers: { authorization, "content-type": "application/json" },
      body: JSON.stringify(RANKING_QUERY),
    },
    rpcRanking: {
      name: "rpcRanking",
      method: "POST",
      url: `${service}/benchmark.v1.BenchmarkService/CalculateRanking`,
      headers: { authorization, "content-type": "application/proto", "connect-protocol-version": "1" },
      body: Buffer.from(toBinary(CalculateRankingRequestSchema, rpcRankingRequest)),
      bodyDescription: `(protobuf) ${toJsonString(CalculateRankingRequestSchema, rpcRankingRequest)}`,
    },
  };
}

function describeRequest(target: Target): string {
  const { pathname, search } = new URL(target.url);
  const body = typeof target.body === "string" ? target.body : target.bodyDescription;
  return `${target.method} ${pathname}${search}${body ? ` ${body}` : ""}`;
}

/** Fails fast with the server's answer, rather than letting autocannon count thousands of errors. */
async function fetchOk(target: Target): Promise<Response> {
  const response = await fetch(target.url, {
    method: target.method,
    headers: target.headers,
    body: target.body,
    signal: AbortSignal.timeout(30_000),
  });
  if (response.status !== 200) {
    throw new Error(
      `${target.name} (${describeRequest(target)}) answered ${response.status}:\n${await response.text()}`,
    );
  }
  return response;
}

async function checkTargetsAnswer(targets: Target[]): Promise<void> {
  for (const target of targets) await (await fetchOk(target)).body?.cancel();
}

/** The cached GET must be measured on the hit path; the first request only fills the cache. */
async function checkCacheIsHit(target: Target): Promise<void> {
  const response = await fetchOk(target);
  await response.body?.cancel();
  const cacheResult = response.headers.get("x-cache");
  if (cacheResult === "miss") {
    throw new Error(`${target.name} is still a cache miss after warming (X-Cache: ${cacheResult})`);
  }
  console.log(`${target.name} warmed: X-Cache: ${cacheResult ?? "(header absent)"}`);
}

/** An OTLP/HTTP receiver on loopback that counts the spans it is sent and keeps none. */
async function startOtlpReceiver(): Promise<{
  url: string;
  received: () => { requests: number; spans: number };
  close: () => void;
}> {
  let requests = 0;
  let spans = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      requests++;
      spans += (
        Buffer.concat(chunks)
          .toString("utf8")
          .match(/"spanId"/g) ?? []
      ).length;
      response.writeHead(200, { "Content-Type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${LOOPBACK}:${port}`,
    received: () => ({ requests, spans }),
    close: () => server.close(),
  };
}

/** Both instances load the same sample data, so the same GET must answer the same body. */
async function checkSameAnswer(a: Target, b: Target): Promise<void> {
  const [bodyA, bodyB] = await Promise.all([a, b].map(async (target) => (await fetchOk(target)).text()));
  if (bodyA !== bodyB) throw new Error(`${a.name} and ${b.name} answer different bodies to the same query`);
  console.log(`${b.name} matches ${a.name}`);
}

/** A ratio between the two rankings only means something if they compute the same answer. */
async function checkRpcMatchesRest(rest: Target, rpc: Target): Promise<void> {
  const restAnswer = (await (await fetchOk(rest)).json()) as { percentile: number };
  const rpcBytes = new Uint8Array(await (await fetchOk(rpc)).arrayBuffer());
  const rpcAnswer = fromBinary(CalculateRankingResponseSchema, rpcBytes);
  if (rpcAnswer.percentile !== restAnswer.percentile) {
    throw new Error(
      `${rpc.name} and ${rest.name} disagree on the same query: percentile ${rpcAnswer.percentile} ` +
        `over RPC, ${restAnswer.percentile} over REST`,
    );
  }
  console.log(`${rpc.name} matches ${rest.name}: percentile ${rpcAnswer.percentile}`);
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
  const nameWidth = Math.max(...targets.map((target) => target.name.length));
  for (let round = 1; round <= LOAD.rounds; round++) {
    // Rotating the order spreads any advantage of running first (or right after a given target).
    const shift = (round - 1) % targets.length;
    for (const target of [...targets.slice(shift), ...targets.slice(0, shift)]) {
      const measurement = await applyLoad(target, LOAD.durationSeconds);
      roundsByTarget.get(target.name)?.push(measurement);
      console.log(
        `round ${round}/${LOAD.rounds}  ${target.name.padEnd(nameWidth)}  ${measurement.requestsPerSecond} req/s  ` +
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
 * Medians over rounds. Each ratio is paired by round: target and baseline were measured within
 * seconds of each other, so load from elsewhere on the machine mostly cancels out of the ratio,
 * where a ratio of the two medians could pair a quiet-period baseline round with a busy-period
 * target round.
 */
function summarize(
  target: Target,
  roundsByTarget: Map<TargetName, Measurement[]>,
  ratioNames: RatioName[],
): TargetSummary {
  const roundsOf = (name: TargetName) => roundsByTarget.get(name) ?? [];
  const rounds = roundsOf(target.name).map((measurement, index) => {
    const round: RoundResult = { ...measurement };
    for (const ratioName of ratioNames) {
      const baseline = roundsOf(RATIOS[ratioName].baseline)[index];
      if (baseline) round[ratioName] = roundTo3(measurement.requestsPerSecond / baseline.requestsPerSecond);
    }
    return round;
  });
  const medianRatios: Partial<Record<RatioName, number>> = {};
  for (const ratioName of ratioNames) {
    const ratios = rounds.flatMap((round) => round[ratioName] ?? []);
    if (ratios.length > 0) medianRatios[ratioName] = roundTo3(median(ratios));
  }
  return {
    request: describeRequest(target),
    requestsPerSecond: median(rounds.map((round) => round.requestsPerSecond)),
    latencyP50Ms: median(rounds.map((round) => round.latencyP50Ms)),
    latencyP99Ms: median(rounds.map((round) => round.latencyP99Ms)),
    ...medianRatios,
    rounds,
  };
}

function printTable(summaries: Record<TargetName, TargetSummary>): void {
  const ratioNames = Object.keys(RATIOS) as RatioName[];
  const rows = [
    ["target", "req/s", "p50 ms", "p99 ms", ...ratioNames.map((ratioName) => `× ${RATIOS[ratioName].label}`)],
    ...Object.entries(summaries).map(([name, summary]) => [
      name,
      String(summary.requestsPerSecond),
      String(summary.latencyP50Ms),
      String(summary.latencyP99Ms),
      ...ratioNames.map(
        (ratioName) => summary[ratioName]?.toFixed(2) ?? (name === RATIOS[ratioName].baseline ? "1.00" : "–"),
      ),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const alignCell = (cell: string, column: number) =>
    column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!);
  console.log("");
  for (const row of rows) console.log(row.map(alignCell).join("  "));
  console.log("(medians of the rounds; each × is the median of each round's ratio to that round's baseline)");
}

interface GoalResult {
  minRatio: number;
  met: boolean;
}

function evaluateGoal(name: GoalName, summaries: Record<TargetName, TargetSummary>): GoalResult {
  const { target, minRatio, ratio: ratioName, description } = GOALS[name];
  const summary = summaries[target];
  const ratio = summary[ratioName] ?? 0;
  const met = ratio >= minRatio;
  console.log(
    `${description} ≥ ${minRatio.toFixed(2)}× ${RATIOS[ratioName].label}: ${ratio.toFixed(2)}×  ` +
      `${met ? "PASS" : "MISS"}`,
  );
  return { minRatio, met };
}

// ---------------------------------------------------------------------------------------------

const PARTS = ["stats-kernel", "recompute", "http", "upload"] as const;
type Part = (typeof PARTS)[number];

function selectParts(args: string[]): Set<Part> {
  for (const arg of args) {
    if (!(PARTS as readonly string[]).includes(arg)) {
      throw new Error(`unknown part "${arg}"; the parts are ${PARTS.join(", ")}`);
    }
  }
  return new Set(args.length === 0 ? PARTS : (args as Part[]));
}

/** A run of every part writes the file anew; a run of some parts replaces only their sections. */
async function writeResults(sections: Record<string, unknown>, everyPart: boolean): Promise<void> {
  let results = sections;
  if (!everyPart) {
    const previous = await readFile(RESULTS_FILE, "utf8").then(
      (text) => JSON.parse(text) as Record<string, unknown>,
      () => ({}),
    );
    results = { ...previous, ...sections };
  }
  await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nWrote ${path.relative(REPO_ROOT, RESULTS_FILE)}`);
}

async function main(): Promise<void> {
  const parts = selectParts(process.argv.slice(2));
  const sections: Record<string, unknown> = {};
  const closingLines: string[] = [];

  // Before any server starts, so that load does not share the CPU with the kernel timings.
  if (parts.has("stats-kernel")) {
    const statsKernel = await runStatsKernelBench();
    printStatsKernelTable(statsKernel);
    console.log("");
    sections.statsKernel = statsKernel;
    closingLines.push(describeStatsKernelGoal(statsKernel));
  }
  // Also before the servers, in .wrangler/bench-state: the service's .wrangler/state is not touched.
  if (parts.has("recompute")) {
    const recompute = await runRecomputeBench();
    printRecomputeSummary(recompute);
    console.log("");
    sections.recompute = recompute;
    closingLines.push(describeRecompute(recompute));
  }

  if (parts.has("http") || parts.has("upload")) {
    const http = parts.has("http");
    const [servicePort = 0, barePort = 0, bareInspectorPort = 0, ...variantPortList] = await findFreePorts(
      3 + 2 * VARIANT_NAMES.length,
    );
    const variantPorts = Object.fromEntries(
      VARIANT_NAMES.map((variant, i) => [variant, variantPortList[2 * i] ?? 0]),
    ) as Record<VariantName, number>;
    const serviceUrl = `http://${LOOPBACK}:${servicePort}`;
    // Analyst for the benchmark and ranking traffic; admin for the upload's sources and uploads.
    const [analystToken, adminToken] = await Promise.all([
      mintDevToken("analyst", "bench-analyst", TOKEN_TTL_SECONDS),
      mintDevToken("admin", "bench-admin", TOKEN_TTL_SECONDS),
    ]);
    const targets = defineTargets(barePort, servicePort, variantPorts, analystToken);
    // The service runs fully instrumented: metrics, request logs, and every request traced and
    // exported to a local OTLP receiver, so that the instrumentation goal measures all of it.
    const otlp = http ? await startOtlpReceiver() : undefined;
    if (http) for (const variant of VARIANT_NAMES) await copyServiceState(variant);

    console.log(
      `Starting the service (port ${servicePort})` +
        (http
          ? `, the same service ${VARIANT_NAMES.map((v) => `${VARIANTS[v].instance} (port ${variantPorts[v]})`).join(" and ")}, and the bare worker (port ${barePort})`
          : "") +
        "...",
    );
    const service = startService(servicePort, [
      ...LIFTED_RATE_LIMITS,
      ...(otlp ? ["--var", `OTEL_EXPORTER_OTLP_ENDPOINT:${otlp.url}`] : []),
    ]);
    const variants = http
      ? VARIANT_NAMES.map((variant, i) =>
          startVariant(variant, variantPorts[variant], variantPortList[2 * i + 1] ?? 0),
        )
      : [];
    const bare = http ? startBareWorker(barePort, bareInspectorPort) : undefined;
    try {
      await Promise.all([
        // Two first starts load their sample data at once, on a machine of two cores.
        service.waitUntilReady(2 * SERVICE_START_TIMEOUT_MS),
        ...variants.map((variant) => variant.waitUntilReady(2 * SERVICE_START_TIMEOUT_MS)),
        bare && waitUntilServing(bare, targets.bare.url, BARE_START_TIMEOUT_MS),
      ]);

      if (http) {
        await checkTargetsAnswer(Object.values(targets));
        await checkCacheIsHit(targets.cachedGet);
        for (const variant of VARIANT_NAMES) {
          await checkCacheIsHit(targets[variant]);
          await checkSameAnswer(targets.cachedGet, targets[variant]);
        }
        await checkRpcMatchesRest(targets.ranking, targets.rpcRanking);

        console.log(
          `Load: ${LOAD.connections} connections, ${LOAD.rounds} interleaved rounds of ` +
            `${LOAD.durationSeconds} s per target after a ${LOAD.warmupSeconds} s warm-up each.`,
        );
        const roundsByTarget = await measureInRounds(Object.values(targets));

        const summaries: Record<TargetName, TargetSummary> = {
          bare: summarize(targets.bare, roundsByTarget, []),
          cachedGet: summarize(targets.cachedGet, roundsByTarget, [
            "ratioToBare",
            "ratioToUninstrumented",
            "ratioToSilent",
          ]),
          cachedGetUninstrumented: summarize(targets.cachedGetUninstrumented, roundsByTarget, [
            "ratioToBare",
            "ratioToSilent",
          ]),
          cachedGetSilent: summarize(targets.cachedGetSilent, roundsByTarget, ["ratioToBare"]),
          ranking: summarize(targets.ranking, roundsByTarget, ["ratioToBare"]),
          rpcRanking: summarize(targets.rpcRanking, roundsByTarget, ["ratioToBare", "ratioToRestRanking"]),
        };

        printTable(summaries);
        const exported = otlp?.received() ?? { requests: 0, spans: 0 };
        console.log(`OTLP receiver: ${exported.spans} spans in ${exported.requests} export requests`);
        // A goal met because tracing silently did not run would be no goal met.
        if (exported.spans < 1000)
          throw new Error(`only ${exported.spans} spans were exported during the load`);
        console.log("");
        const goals: Record<GoalName, GoalResult> = {
          cachedGet: evaluateGoal("cachedGet", summaries),
          ranking: evaluateGoal("ranking", summaries),
          rpcRanking: evaluateGoal("rpcRanking", summaries),
          instrumentation: evaluateGoal("instrumentation", summaries),
        };
        Object.assign(sections, {
          measuredAt: new Date().toISOString(),
          node: process.version,
          machine: {
            cpus: os.cpus().length,
            cpuModel: os.cpus()[0]?.model ?? "unknown",
            platform: os.platform(),
          },
          config: {
            ...LOAD,
            authorization: "Bearer <analyst dev token> on every target, the bare one included",
            instrumentation:
              "cachedGet: metrics (flushed to the aggregator every second), one JSON log line per request, and " +
              "every request traced and exported as OTLP/HTTP JSON to a local receiver; " +
              VARIANT_NAMES.map((variant) => `${variant}: ${VARIANTS[variant].description}`).join("; "),
          },
          tracesExported: exported,
          targets: summaries,
          goals,
        });
      }

      // After the load: an upload moves the data version and leaves a recompute behind it.
      if (parts.has("upload")) {
        if (http) console.log("");
        const upload = await runUploadBench({ url: serviceUrl, token: adminToken }).catch(
          (error: unknown) => {
            // A 500 says little by itself; the Worker's log says why.
            const message = error instanceof Error ? error.message : String(error);
            throw new Error(`${message}\nThe service's last output:\n${service.outputTail()}`);
          },
        );
        sections.upload = upload;
        closingLines.push(describeUpload(upload));
      }
    } finally {
      await Promise.all([service.stop(), ...variants.map((variant) => variant.stop()), bare?.stop()]);
      otlp?.close();
    }
  }

  for (const line of closingLines) console.log(line);
  // Sections in the order a full run has always written them.
  const ordered = [
    "measuredAt",
    "node",
    "machine",
    "config",
    "targets",
    "goals",
    "tracesExported",
    "statsKernel",
    "recompute",
    "upload",
  ];
  await writeResults(
    Object.fromEntries(ordered.filter((key) => key in sections).map((key) => [key, sections[key]])),
    parts.size === PARTS.length,
  );
}

main().catch((error: unknown) => {
  if (wasInterrupted()) return;
  console.error(`\nBenchmark failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
