/**
 * The HTTP part of `npm run bench`: the service under load over loopback, at 16 and at 64
 * connections, beside a bare Hono worker in the same local workerd runtime.
 *
 * The service runs as `npm start` starts it, with its rate limits lifted and fully instrumented:
 * metrics, one log line per request, and every request traced to an OTLP receiver in this
 * process. Two copies of it with parts of the instrumentation off are the baselines of the
 * cached GET. The REST routes are held against the bare worker, the ranking over Connect RPC
 * (binary protobuf) against the same ranking over REST.
 *
 * Load comes from wrk, a C program on epoll: a load generator in Node would take a larger share
 * of the two cores the servers run on. Targets run in interleaved rounds, and each figure is the
 * median of the rounds with their spread, because a small, noisy machine drifts over a run and a
 * single back-to-back pass would bias whichever target came last. Between loads the bench reads
 * the service's /metrics, so that each round of a service target reports the rate limiter's
 * Durable Object calls per request as the service itself counted them. Around each load it reads
 * the CPU time of the target's server processes, of wrk and of the whole machine from /proc: on
 * two shared cores, CPU time per request says where the time goes, and how busy the machine was
 * with other work says how far to trust a round.
 */
import { execFile } from "node:child_process";
import { access, constants, cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import {
  CalculateRankingRequestSchema,
  CalculateRankingResponseSchema,
} from "../../src/gen/benchmark/v1/benchmark_pb";
import {
  LOOPBACK,
  ManagedServer,
  OFFLINE_WRANGLER_ENV,
  REPO_ROOT,
  SERVICE_START_TIMEOUT_MS,
  startService,
  WITHOUT_DEVTOOLS_ENV,
  WRANGLER_CLI,
  WRANGLER_DEV_FLAGS,
  waitUntilServing,
} from "../lib/local-server";
import { parseProcStat, processesOfGroup } from "../lib/processes";

const HTTP_LOAD = {
  connections: [16, 64],
  /** One wrk thread per core of the 2-core machine. */
  threads: 2,
  durationSeconds: 5,
  warmupSeconds: 2,
  rounds: 5,
} as const;

/** The connection count the goals are judged at. */
const GOAL_CONNECTIONS = 64;

/** Above this median share of the machine busy with other work, the run says its figures are suspect. */
const QUIET_MACHINE_BELOW = 0.1;

const WRK = "/usr/bin/wrk";
/** A request slower than this is a wrk timeout, which fails the run; far above any p99 seen here. */
const WRK_TIMEOUT_SECONDS = 10;

/**
 * The pause after each load before reading /metrics: past the service's flush interval
 * (TELEMETRY_FLUSH_INTERVAL_MS, 1 s as shipped), so that every isolate's counts of the load have
 * reached the aggregator and the requests wrk cut off at its deadline have been answered.
 */
const SETTLE_MS = 1_500;

const BARE_WORKER_CONFIG = path.join(REPO_ROOT, "scripts/bench/wrangler.bare.toml");
const BARE_START_TIMEOUT_MS = 60_000;
const SERVICE_STATE = path.join(REPO_ROOT, ".wrangler/state");

const WRK_REPORT_PREFIX = "wrk-report ";

/**
 * wrk's script: the method and a body file come after `--`, so that a binary protobuf body
 * passes untouched. Each thread counts its non-2xx answers (wrk itself counts only those over
 * 399), and done() prints one line of JSON with the exact percentiles of wrk's microsecond
 * histogram.
 */
const WRK_SCRIPT = `
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = args[1]
  if args[2] then
    local file = assert(io.open(args[2], "rb"))
    wrk.body = file:read("*a")
    file:close()
  end
  non2xx = 0
end

function response(status)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency)
  local non2xx = 0
  for _, thread in ipairs(threads) do non2xx = non2xx + thread:get("non2xx") end
  local errors = summary.errors
  io.write(string.format(
    '\\n${WRK_REPORT_PREFIX}{"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"non2xx":%d,' ..
      '"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"timeouts":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), non2xx,
    errors.connect, errors.read, errors.write, errors.timeout))
end
`;

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

/** Ports the HTTP part needs beside the service's: the bare worker's and each variant's. */
export const HTTP_BENCH_PORT_COUNT = 1 + VARIANT_NAMES.length;

type TargetName =
  | "bare"
  | "bareReplay"
  | "bareReplayLogged"
  | "cachedGet"
  | VariantName
  | "ranking"
  | "rpcRanking"
  | "rpcRankingViaConnectEs";

interface Target {
  name: TargetName;
  /** The server that answers it, whose processes' CPU time is the target's. */
  server: ManagedServer;
  /** Only the fully instrumented service counts its Durable Object calls; the others have metrics off. */
  onService: boolean;
  method: "GET" | "POST";
  url: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** How a binary body reads in the report. */
  bodyDescription?: string;
}

/**
 * Each ratio is a figure of a target over its baseline's in the same round: requests/s for
 * throughput, p99 for the tail.
 */
const RATIOS = {
  ratioToBare: { baseline: "bare", of: "requestsPerSecond", label: "× bare" },
  p99ToBare: { baseline: "bare", of: "latencyP99Ms", label: "p99 × bare" },
  ratioToRestRanking: { baseline: "ranking", of: "requestsPerSecond", label: "× REST ranking" },
  ratioToUninstrumented: {
    baseline: "cachedGetUninstrumented",
    of: "requestsPerSecond",
    label: "× uninstrumented",
  },
  ratioToSilent: { baseline: "cachedGetSilent", of: "requestsPerSecond", label: "× silent" },
  ratioToReplayLogged: {
    baseline: "bareReplayLogged",
    of: "requestsPerSecond",
    label: "× replayed, logged",
  },
  ratioToConnectEs: {
    baseline: "rpcRankingViaConnectEs",
    of: "requestsPerSecond",
    label: "× via connect-es",
  },
} as const satisfies Record<
  string,
  { baseline: TargetName; of: "requestsPerSecond" | "latencyP99Ms"; label: string }
>;
type RatioName = keyof typeof RATIOS;
const RATIO_NAMES = Object.keys(RATIOS) as RatioName[];

const RATIOS_OF: Record<TargetName, RatioName[]> = {
  bare: [],
  bareReplay: ["ratioToBare", "p99ToBare"],
  bareReplayLogged: ["ratioToBare", "p99ToBare"],
  cachedGet: ["ratioToBare", "p99ToBare", "ratioToUninstrumented", "ratioToSilent", "ratioToReplayLogged"],
  cachedGetUninstrumented: ["ratioToBare", "p99ToBare", "ratioToSilent"],
  cachedGetSilent: ["ratioToBare", "p99ToBare"],
  ranking: ["ratioToBare", "p99ToBare"],
  rpcRanking: ["ratioToBare", "p99ToBare", "ratioToRestRanking", "ratioToConnectEs"],
  rpcRankingViaConnectEs: ["ratioToBare", "p99ToBare", "ratioToRestRanking"],
};

const GOALS = {
  cachedGet: { target: "cachedGet", ratio: "ratioToBare", atLeast: 0.8, description: "cached GET req/s" },
  cachedGetP99: { target: "cachedGet", ratio: "p99ToBare", atMost: 2, description: "cached GET p99" },
  ranking: { target: "ranking", ratio: "ratioToBare", atLeast: 0.7, description: "ranking POST req/s" },
  rpcRanking: {
    target: "rpcRanking",
    ratio: "ratioToRestRanking",
    atLeast: 0.9,
    description: "RPC ranking (Connect, binary) req/s",
  },
  instrumentation: {
    target: "cachedGet",
    ratio: "ratioToUninstrumented",
    atLeast: 0.9,
    description: "cached GET req/s with metrics and traces on",
  },
} as const satisfies Record<
  string,
  { target: TargetName; ratio: RatioName; description: string } & ({ atLeast: number } | { atMost: number })
>;
type GoalName = keyof typeof GOALS;

/** One wrk run. */
interface Load {
  /** Requests answered within the duration. */
  requests: number;
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

/** The rate limiter's calls during one load, over the requests the service counted in it. */
interface DurableObjectCalls {
  rateLimiterCalls: number;
  requestsServed: number;
  rateLimiterCallsPerRequest: number;
}

/**
 * Where a load's CPU time goes: the target server's workerd processes, the rest of its process
 * group (wrangler's node and esbuild, which also carry workerd's log output), and wrk.
 */
const CPU_CONSUMERS = ["workerd", "wrangler", "wrk"] as const;
type CpuConsumer = (typeof CPU_CONSUMERS)[number];

/**
 * One load's CPU time per request wrk saw answered. `busyElsewhere` is the share of the whole
 * machine that everything else used meanwhile (the other servers, this process, other users).
 */
interface CpuUse {
  cpuMsPerRequest: Record<CpuConsumer, number>;
  busyElsewhere: number;
}

type RoundResult = Load & CpuUse & Partial<DurableObjectCalls> & Partial<Record<RatioName, number>>;

/** The median of the rounds, and the lowest and highest round. */
interface Spread {
  median: number;
  min: number;
  max: number;
}

type TargetSummary = {
  request: string;
  requestsPerSecond: Spread;
  latencyP50Ms: Spread;
  latencyP99Ms: Spread;
  cpuMsPerRequest: Record<CpuConsumer, Spread>;
  busyElsewhere: Spread;
  rateLimiterCallsPerRequest?: Spread;
  /** Every round's calls over every round's requests. */
  rateLimiterCallsOverall?: DurableObjectCalls;
  rounds: RoundResult[];
} & Partial<Record<RatioName, Spread>>;

type Summaries = Record<TargetName, TargetSummary>;

interface GoalResult {
  target: TargetName;
  figure: RatioName;
  connections: number;
  requirement: string;
  measured: Spread;
  verdict: "PASS" | "MISS";
}

export interface HttpResults {
  measuredAt: string;
  node: string;
  machine: { cpus: number; cpuModel: string; platform: string };
  config: Record<string, unknown>;
  /** Keyed by the connection count. */
  targetsByConnections: Record<string, Summaries>;
  goals: Record<GoalName, GoalResult>;
  /** Over every load of the run: how much of the machine other work took meanwhile. */
  busyElsewhere: Spread;
  tracesExported: { requests: number; spans: number };
}

/** The service the part measures and the tokens to call it with. */
export interface BenchedService {
  server: ManagedServer;
  url: string;
  /** For every target's traffic. */
  analystToken: string;
  /** For reading /metrics. */
  adminToken: string;
}

// ---------------------------------------------------------------------------------------------
// Servers beside the service

const stateOf = (variant: VariantName) =>
  path.join(REPO_ROOT, `.wrangler/bench-${VARIANTS[variant].instance}`);

/**
 * The variants answer from copies of the service's state. A fresh clone has none yet: the service
 * is started once to load its sample data, then stopped. Loaded apart, each copy would stamp its
 * own load time into its answers, and no two would answer the same body.
 */
async function prepareServiceState(port: number): Promise<void> {
  const exists = await access(SERVICE_STATE).then(
    () => true,
    () => false,
  );
  if (exists) return;
  console.log("No local state yet: starting the service once to load its sample data...");
  const service = startService(port, [], "first start");
  try {
    await service.waitUntilReady(SERVICE_START_TIMEOUT_MS);
  } finally {
    await service.stop();
  }
}

/** A variant's state is the service's data as it is now. */
async function copyServiceState(variant: VariantName): Promise<void> {
  await rm(stateOf(variant), { recursive: true, force: true });
  await cp(SERVICE_STATE, stateOf(variant), { recursive: true });
}

function startVariant(variant: VariantName, serviceArgs: readonly string[], port: number): ManagedServer {
  return startService(
    port,
    [
      ...serviceArgs,
      ...VARIANTS[variant].vars.flatMap((assignment) => ["--var", assignment]),
      "--persist-to",
      stateOf(variant),
    ],
    VARIANTS[variant].instance,
  );
}

function startBareWorker(port: number): ManagedServer {
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
      ...WRANGLER_DEV_FLAGS,
    ],
    // Without wrangler's copy of each log line into a debug file, as `npm start` runs the service.
    { ...OFFLINE_WRANGLER_ENV, ...WITHOUT_DEVTOOLS_ENV, WRANGLER_WRITE_LOGS: "false" },
  );
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

// ---------------------------------------------------------------------------------------------
// Targets and checks

/** The one query both rankings answer, so that their ratio compares the protocols alone. */
const RANKING_QUERY = { metric: "arr_growth", value: 55, revenueRange: "1M-5M" } as const;

/**
 * Every target sends the same analyst token, so that both rankings pay the same verification and
 * their ratio still compares the protocols alone. The bare worker ignores the header, but gets it
 * too: the request bytes are then equal, and a ratio to bare counts the verification as the
 * service's own work.
 */
/** A server and the address it answers at. */
interface Endpoint {
  server: ManagedServer;
  url: string;
}

function defineTargets(
  bare: Endpoint,
  service: Endpoint,
  variants: Record<VariantName, Endpoint>,
  analystToken: string,
): Record<TargetName, Target> {
  const cachedGetQuery = "/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M";
  const authorization = `Bearer ${analystToken}`;
  const rpcRankingRequest = create(CalculateRankingRequestSchema, {
    metric: RANKING_QUERY.metric,
    value: RANKING_QUERY.value,
    peersSelector: { case: "revenueRange", value: RANKING_QUERY.revenueRange },
  });
  const on = (endpoint: Endpoint) => ({ server: endpoint.server, onService: endpoint === service });
  const bareOn = (name: TargetName, path: string): Target => ({
    name,
    ...on(bare),
    method: "GET",
    url: `${bare.url}${path}`,
    headers: { authorization },
  });
  const cachedGetOn = (name: TargetName, endpoint: Endpoint): Target => ({
    name,
    ...on(endpoint),
    method: "GET",
    url: `${endpoint.url}${cachedGetQuery}`,
    headers: { authorization },
  });
  const rpcRankingOn = (name: TargetName, deadline: Record<string, string>): Target => ({
    name,
    ...on(service),
    method: "POST",
    url: `${service.url}/benchmark.v1.BenchmarkService/CalculateRanking`,
    headers: {
      authorization,
      "content-type": "application/proto",
      "connect-protocol-version": "1",
      ...deadline,
    },
    body: Buffer.from(toBinary(CalculateRankingRequestSchema, rpcRankingRequest)),
    bodyDescription: `(protobuf${Object.entries(deadline)
      .map(([header, value]) => `, ${header}: ${value}`)
      .join("")}) ${toJsonString(CalculateRankingRequestSchema, rpcRankingRequest)}`,
  });
  return {
    bare: bareOn("bare", "/bare"),
    // The cache hit's own answer from the bare worker (replayOnBare), without and with a log line.
    bareReplay: bareOn("bareReplay", "/bare/answer"),
    bareReplayLogged: bareOn("bareReplayLogged", "/bare/answer-logged"),
    cachedGet: cachedGetOn("cachedGet", service),
    cachedGetUninstrumented: cachedGetOn("cachedGetUninstrumented", variants.cachedGetUninstrumented),
    cachedGetSilent: cachedGetOn("cachedGetSilent", variants.cachedGetSilent),
    ranking: {
      name: "ranking",
      ...on(service),
      method: "POST",
      url: `${service.url}/api/v1/benchmarks/ranking`,
      headers: { authorization, "content-type": "application/json" },
      body: JSON.stringify(RANKING_QUERY),
    },
    rpcRanking: rpcRankingOn("rpcRanking", {}),
    // The same call with a deadline, which the bridge leaves to connect-es's universal handler
    // (src/rpc/http-bridge.ts): what the bridge's own Connect unary path saves, side by side.
    rpcRankingViaConnectEs: rpcRankingOn("rpcRankingViaConnectEs", { "connect-timeout-ms": "60000" }),
  };
}

function describeRequest(target: Target): string {
  const { pathname, search } = new URL(target.url);
  const body = typeof target.body === "string" ? target.body : target.bodyDescription;
  return `${target.method} ${pathname}${search}${body ? ` ${body}` : ""}`;
}

/** Fails fast with the server's answer, rather than letting wrk count thousands of errors. */
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

/** Headers the runtime writes itself on every answer. */
const RUNTIME_HEADERS = new Set(["connection", "content-length", "date", "keep-alive", "transfer-encoding"]);

/**
 * Gives the bare worker the cached GET's answer to replay (bare-worker.ts): its body and headers
 * as a hit sends them (the first request may only fill the cache).
 */
async function replayOnBare(cachedGet: Target, bare: Endpoint): Promise<void> {
  await (await fetchOk(cachedGet)).body?.cancel();
  const hit = await fetchOk(cachedGet);
  const headers = Object.fromEntries([...hit.headers].filter(([name]) => !RUNTIME_HEADERS.has(name)));
  const response = await fetch(`${bare.url}/bare/answer`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ body: await hit.text(), headers }),
  });
  if (response.status !== 204)
    throw new Error(`the bare worker took no answer to replay: ${response.status}`);
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

/** Every instance loads the same data, so the same GET must answer the same body. */
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

// ---------------------------------------------------------------------------------------------
// Load and the service's own counts

const execFileAsync = promisify(execFile);

async function checkWrkInstalled(): Promise<void> {
  await access(WRK, constants.X_OK).catch(() => {
    throw new Error(`the HTTP bench drives its load with wrk, not found at ${WRK}: apt-get install wrk`);
  });
}

/** wrk with its script and the request bodies, written to a directory of their own. */
class Wrk {
  private constructor(
    private readonly dir: string,
    private readonly bodyFiles: Map<TargetName, string>,
  ) {}

  static async prepare(targets: Target[]): Promise<Wrk> {
    const dir = await mkdtemp(path.join(os.tmpdir(), "bench-wrk-"));
    await writeFile(path.join(dir, "report.lua"), WRK_SCRIPT);
    const bodyFiles = new Map<TargetName, string>();
    for (const target of targets) {
      if (target.body === undefined) continue;
      const file = path.join(dir, `${target.name}.body`);
      await writeFile(file, target.body);
      bodyFiles.set(target.name, file);
    }
    return new Wrk(dir, bodyFiles);
  }

  /** Any socket error, timeout or non-2xx answer fails the run: the figures would not be of the route. */
  async load(target: Target, connections: number, seconds: number): Promise<Load> {
    const bodyFile = this.bodyFiles.get(target.name);
    const args = [
      ...["--threads", String(HTTP_LOAD.threads), "--connections", String(connections)],
      ...["--duration", `${seconds}s`, "--timeout", `${WRK_TIMEOUT_SECONDS}s`],
      ...["--script", path.join(this.dir, "report.lua")],
      ...Object.entries(target.headers).flatMap(([name, value]) => ["--header", `${name}: ${value}`]),
      target.url,
      "--",
      target.method,
      ...(bodyFile ? [bodyFile] : []),
    ];
    const { stdout } = await execFileAsync(WRK, args);
    const reportLine = stdout.split("\n").find((line) => line.startsWith(WRK_REPORT_PREFIX));
    if (!reportLine) throw new Error(`wrk printed no report for ${target.name}:\n${stdout}`);
    const report = JSON.parse(reportLine.slice(WRK_REPORT_PREFIX.length)) as {
      requests: number;
      durationUs: number;
      p50Us: number;
      p99Us: number;
      non2xx: number;
      connectErrors: number;
      readErrors: number;
      writeErrors: number;
      timeouts: number;
    };
    const socketErrors = report.connectErrors + report.readErrors + report.writeErrors + report.timeouts;
    if (report.non2xx > 0 || socketErrors > 0) {
      throw new Error(
        `${target.name} at ${connections} connections: ${report.non2xx} non-2xx answers, ` +
          `${report.connectErrors} connect, ${report.readErrors} read and ${report.writeErrors} write errors ` +
          `and ${report.timeouts} timeouts in ${report.requests} requests`,
      );
    }
    return {
      requests: report.requests,
      requestsPerSecond: Math.round(report.requests / (report.durationUs / 1e6)),
      latencyP50Ms: report.p50Us / 1000,
      latencyP99Ms: report.p99Us / 1000,
    };
  }

  remove(): Promise<void> {
    return rm(this.dir, { recursive: true, force: true });
  }
}

/** CPU time used so far, in ms. */
interface CpuReading {
  /** By one server's process group: its workerd processes, and the rest. */
  workerd: number;
  wrangler: number;
  /** By this process's children that have exited: the wrk runs. */
  children: number;
  /** By the whole machine, over every core. */
  machine: number;
  at: number;
}

/** Reads CPU time from /proc: what each server's processes, wrk and the whole machine used. */
class CpuMeter {
  private constructor(private readonly msPerTick: number) {}

  static async create(): Promise<CpuMeter> {
    const { stdout } = await execFileAsync("getconf", ["CLK_TCK"]);
    return new CpuMeter(1000 / Number(stdout.trim()));
  }

  async read(processGroup: number): Promise<CpuReading> {
    const group = { workerd: 0, wrangler: 0 };
    for (const { command, ownTicks } of await processesOfGroup(processGroup)) {
      group[command === "workerd" ? "workerd" : "wrangler"] += ownTicks * this.msPerTick;
    }
    const self = parseProcStat(await readFile("/proc/self/stat", "utf8"));
    // user nice system idle iowait irq softirq steal, summed over every core.
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = (
      await readFile("/proc/stat", "utf8")
    )
      .split("\n")[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return {
      ...group,
      children: self.childTicks * this.msPerTick,
      machine: (user + nice + system + irq + softirq + steal) * this.msPerTick,
      at: performance.now(),
    };
  }
}

function cpuUseBetween(before: CpuReading, after: CpuReading, requests: number): CpuUse {
  const used: Record<CpuConsumer, number> = {
    workerd: after.workerd - before.workerd,
    wrangler: after.wrangler - before.wrangler,
    wrk: after.children - before.children,
  };
  const elsewhereMs = after.machine - before.machine - used.workerd - used.wrangler - used.wrk;
  const capacityMs = (after.at - before.at) * os.availableParallelism();
  return {
    cpuMsPerRequest: Object.fromEntries(
      CPU_CONSUMERS.map((consumer) => [consumer, roundTo(3)(used[consumer] / requests)]),
    ) as Record<CpuConsumer, number>,
    busyElsewhere: roundTo(3)(Math.max(0, elsewhereMs) / capacityMs),
  };
}

/** Totals from the service's /metrics. */
interface ServiceCounts {
  rateLimiterCalls: number;
  requests: number;
}

const COUNTER_LINE = /^(\w+)\{(.*)\} (\S+)$/;

/**
 * The bench's traffic is the analyst's, in the "user" tier; the scrapes are an admin's, and
 * neither their Durable Object calls nor their own requests are counted.
 */
async function scrapeCounts(service: BenchedService): Promise<ServiceCounts> {
  const response = await fetch(`${service.url}/metrics`, {
    headers: { authorization: `Bearer ${service.adminToken}` },
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}:\n${text}`);
  const counts: ServiceCounts = { rateLimiterCalls: 0, requests: 0 };
  for (const line of text.split("\n")) {
    const [, name, labels = "", value] = COUNTER_LINE.exec(line) ?? [];
    if (name === "rate_limiter_calls_total" && labels.includes('tier="user"')) {
      counts.rateLimiterCalls += Number(value);
    } else if (name === "http_requests_total" && !labels.includes('route="/metrics"')) {
      counts.requests += Number(value);
    }
  }
  return counts;
}

/**
 * The service's counts over one load. wrk stops at its deadline with up to one request in flight
 * per connection, which the service may still answer and count; any other difference means the
 * counts are not of this load alone.
 */
function callsDuring(
  target: Target,
  connections: number,
  load: Load,
  before: ServiceCounts,
  after: ServiceCounts,
): DurableObjectCalls | undefined {
  const requestsServed = after.requests - before.requests;
  const rateLimiterCalls = after.rateLimiterCalls - before.rateLimiterCalls;
  const [fewest, most] = target.onService ? [load.requests, load.requests + connections] : [0, 0];
  if (requestsServed < fewest || requestsServed > most) {
    throw new Error(
      `the service counted ${requestsServed} requests during ${target.name}'s load at ${connections} ` +
        `connections, which sent it ${fewest === most ? fewest : `${fewest} to ${most}`}: its counts are ` +
        "not of this load alone",
    );
  }
  if (!target.onService) return undefined;
  return {
    rateLimiterCalls,
    requestsServed,
    rateLimiterCallsPerRequest: roundTo(5)(rateLimiterCalls / requestsServed),
  };
}

/** One wrk run, with the CPU time its target's server, wrk and everything else used meanwhile. */
async function measureLoad(target: Target, connections: number, wrk: Wrk, cpu: CpuMeter) {
  const processGroup = target.server.processGroup ?? 0;
  const before = await cpu.read(processGroup);
  const load = await wrk.load(target, connections, HTTP_LOAD.durationSeconds);
  const after = await cpu.read(processGroup);
  return { ...load, ...cpuUseBetween(before, after, load.requests) };
}

async function measureInRounds(
  targets: Target[],
  connections: number,
  wrk: Wrk,
  cpu: CpuMeter,
  service: BenchedService,
): Promise<Map<TargetName, RoundResult[]>> {
  for (const target of targets) await wrk.load(target, connections, HTTP_LOAD.warmupSeconds);
  await sleep(SETTLE_MS);
  let counts = await scrapeCounts(service);

  const roundsByTarget = new Map<TargetName, RoundResult[]>(targets.map((target) => [target.name, []]));
  const nameWidth = Math.max(...targets.map((target) => target.name.length));
  for (let round = 1; round <= HTTP_LOAD.rounds; round++) {
    // Rotating the order spreads any advantage of running first (or right after a given target).
    const shift = (round - 1) % targets.length;
    for (const target of [...targets.slice(shift), ...targets.slice(0, shift)]) {
      const load = await measureLoad(target, connections, wrk, cpu);
      await sleep(SETTLE_MS);
      const countsAfter = await scrapeCounts(service);
      const calls = callsDuring(target, connections, load, counts, countsAfter);
      counts = countsAfter;
      roundsByTarget.get(target.name)?.push({ ...load, ...calls });
      console.log(
        `${connections} conn.  round ${round}/${HTTP_LOAD.rounds}  ${target.name.padEnd(nameWidth)}  ` +
          `${load.requestsPerSecond} req/s  p50 ${load.latencyP50Ms.toFixed(2)} ms  ` +
          `p99 ${load.latencyP99Ms.toFixed(2)} ms  ` +
          `CPU ms/request ${CPU_CONSUMERS.map((consumer) => `${consumer} ${load.cpuMsPerRequest[consumer]}`).join(", ")}, machine ${Math.round(load.busyElsewhere * 100)}% busy elsewhere` +
          (calls ? `  ${calls.rateLimiterCalls} DO calls / ${calls.requestsServed} requests` : ""),
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

const roundTo = (digits: number) => (value: number) => Math.round(value * 10 ** digits) / 10 ** digits;

function spreadOf(values: number[], round: (value: number) => number): Spread {
  return { median: round(median(values)), min: round(Math.min(...values)), max: round(Math.max(...values)) };
}

/**
 * Each ratio is paired by round: target and baseline were measured within seconds of each other,
 * so load from elsewhere on the machine mostly cancels out of the ratio, where a ratio of the two
 * medians could pair a quiet-period baseline round with a busy-period target round.
 */
function summarize(target: Target, roundsByTarget: Map<TargetName, RoundResult[]>): TargetSummary {
  const roundsOf = (name: TargetName) => roundsByTarget.get(name) ?? [];
  const rounds = roundsOf(target.name).map((load, index) => {
    const round: RoundResult = { ...load };
    for (const ratioName of RATIOS_OF[target.name]) {
      const { baseline, of } = RATIOS[ratioName];
      const baselineRound = roundsOf(baseline)[index];
      if (baselineRound) round[ratioName] = roundTo(3)(load[of] / baselineRound[of]);
    }
    return round;
  });
  const spreadOfRounds = (figure: (round: RoundResult) => number, round: (value: number) => number) =>
    spreadOf(rounds.map(figure), round);
  const summary: TargetSummary = {
    request: describeRequest(target),
    requestsPerSecond: spreadOfRounds((round) => round.requestsPerSecond, Math.round),
    latencyP50Ms: spreadOfRounds((round) => round.latencyP50Ms, roundTo(2)),
    latencyP99Ms: spreadOfRounds((round) => round.latencyP99Ms, roundTo(2)),
    cpuMsPerRequest: Object.fromEntries(
      CPU_CONSUMERS.map((consumer) => [
        consumer,
        spreadOfRounds((round) => round.cpuMsPerRequest[consumer], roundTo(3)),
      ]),
    ) as Record<CpuConsumer, Spread>,
    busyElsewhere: spreadOfRounds((round) => round.busyElsewhere, roundTo(3)),
    rounds,
  };
  for (const ratioName of RATIOS_OF[target.name]) {
    const ratios = rounds.flatMap((round) => round[ratioName] ?? []);
    if (ratios.length > 0) summary[ratioName] = spreadOf(ratios, roundTo(3));
  }
  if (target.onService) {
    summary.rateLimiterCallsPerRequest = spreadOfRounds(
      (round) => round.rateLimiterCallsPerRequest!,
      roundTo(5),
    );
    const rateLimiterCalls = rounds.reduce((sum, round) => sum + round.rateLimiterCalls!, 0);
    const requestsServed = rounds.reduce((sum, round) => sum + round.requestsServed!, 0);
    summary.rateLimiterCallsOverall = {
      rateLimiterCalls,
      requestsServed,
      rateLimiterCallsPerRequest: roundTo(5)(rateLimiterCalls / requestsServed),
    };
  }
  return summary;
}

const formatSpread = (spread: Spread, digits: number) =>
  `${spread.median.toFixed(digits)} [${spread.min.toFixed(digits)}–${spread.max.toFixed(digits)}]`;

function printRows(rows: string[][]): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
  const alignCell = (cell: string, column: number) =>
    column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!);
  for (const row of rows) console.log(row.map(alignCell).join("  "));
}

function printTables(connections: number, summaries: Summaries): void {
  const entries = Object.entries(summaries);
  console.log(`\n${connections} connections:`);
  printRows([
    ["target", "req/s", "p50 ms", "p99 ms", ...RATIO_NAMES.map((name) => RATIOS[name].label), "DO calls/req"],
    ...entries.map(([name, summary]) => [
      name,
      formatSpread(summary.requestsPerSecond, 0),
      formatSpread(summary.latencyP50Ms, 1),
      formatSpread(summary.latencyP99Ms, 1),
      ...RATIO_NAMES.map((ratioName) => {
        const ratio = summary[ratioName];
        return ratio ? formatSpread(ratio, 2) : name === RATIOS[ratioName].baseline ? "1" : "–";
      }),
      summary.rateLimiterCallsPerRequest ? formatSpread(summary.rateLimiterCallsPerRequest, 4) : "–",
    ]),
  ]);
  console.log(
    "(median [min–max] of the rounds; each × is of each round's figure to its baseline's in the same round)\n",
  );
  printRows([
    [
      "target",
      ...CPU_CONSUMERS.map((consumer) => `${consumer} CPU ms/req`),
      "busy elsewhere",
      "DO calls, all rounds",
    ],
    ...entries.map(([name, summary]) => {
      const overall = summary.rateLimiterCallsOverall;
      return [
        name,
        ...CPU_CONSUMERS.map((consumer) => formatSpread(summary.cpuMsPerRequest[consumer], 2)),
        `${Math.round(summary.busyElsewhere.median * 100)}%`,
        overall ? `${overall.rateLimiterCalls} / ${overall.requestsServed} requests` : "–",
      ];
    }),
  ]);
  console.log(
    "(CPU time of the target's own server processes and of wrk per answered request; busy elsewhere: the\n" +
      " share of the machine everything else used meanwhile)\n",
  );
}

function evaluateGoal(name: GoalName, summaries: Summaries): GoalResult {
  const goal = GOALS[name];
  const measured = summaries[goal.target][goal.ratio];
  if (!measured) throw new Error(`${goal.target} has no ${goal.ratio} to judge the ${name} goal by`);
  const met = "atLeast" in goal ? measured.median >= goal.atLeast : measured.median <= goal.atMost;
  const requirement =
    "atLeast" in goal
      ? `≥ ${goal.atLeast.toFixed(2)} ${RATIOS[goal.ratio].label}`
      : `≤ ${goal.atMost.toFixed(2)} ${RATIOS[goal.ratio].label}`;
  return {
    target: goal.target,
    figure: goal.ratio,
    connections: GOAL_CONNECTIONS,
    requirement,
    measured,
    verdict: met ? "PASS" : "MISS",
  };
}

/** One line per goal, for the end of the run, and a warning if other work shared the machine. */
export function describeHttpGoals(results: HttpResults): string[] {
  const lines = (Object.keys(GOALS) as GoalName[]).map((name) => {
    const result = results.goals[name];
    return (
      `${GOALS[name].description} at ${result.connections} connections ${result.requirement}: ` +
      `${formatSpread(result.measured, 2)}  ${result.verdict}`
    );
  });
  const busy = results.busyElsewhere;
  if (busy.median >= QUIET_MACHINE_BELOW) {
    lines.push(
      `Other work kept ${Math.round(busy.median * 100)}% of the machine busy during the loads ` +
        `(median; ${Math.round(busy.min * 100)}–${Math.round(busy.max * 100)}%): rerun on a quiet machine before quoting.`,
    );
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------

export interface HttpBench {
  /** `wrangler dev` arguments for the service: every request traced, to the bench's receiver. */
  tracingArgs: string[];
  waitUntilReady(): Promise<void>;
  run(service: BenchedService): Promise<HttpResults>;
  stop(): Promise<void>;
}

/**
 * Starts what the part needs beside the service: the bare worker, the variants (as the service
 * is started, with `serviceArgs`, on copies of its state) and the OTLP receiver. Call before the
 * service starts, so that the copies are not taken while it writes.
 */
export async function startHttpBench(serviceArgs: readonly string[], ports: number[]): Promise<HttpBench> {
  await checkWrkInstalled();
  const [barePort = 0, ...variantPorts] = ports;
  const urlOf = (port: number) => `http://${LOOPBACK}:${port}`;
  await prepareServiceState(barePort);
  for (const variant of VARIANT_NAMES) await copyServiceState(variant);
  const otlp = await startOtlpReceiver();
  console.log(
    `Starting ${VARIANT_NAMES.map((v, i) => `${VARIANTS[v].instance} (port ${variantPorts[i]})`).join(", ")} ` +
      `and the bare worker (port ${barePort})...`,
  );
  const variants = Object.fromEntries(
    VARIANT_NAMES.map((variant, i) => {
      const port = variantPorts[i] ?? 0;
      return [variant, { server: startVariant(variant, serviceArgs, port), url: urlOf(port) }];
    }),
  ) as Record<VariantName, Endpoint>;
  const bare: Endpoint = { server: startBareWorker(barePort), url: urlOf(barePort) };
  const servers = [bare, ...Object.values(variants)].map((endpoint) => endpoint.server);
  let wrk: Wrk | undefined;

  return {
    // Every request traced and exported, so that the instrumentation goal measures all of it.
    tracingArgs: ["--var", `OTEL_EXPORTER_OTLP_ENDPOINT:${otlp.url}`],

    async waitUntilReady() {
      await Promise.all([
        // First starts load their sample data at once, on a machine of two cores.
        ...Object.values(variants).map(({ server }) => server.waitUntilReady(2 * SERVICE_START_TIMEOUT_MS)),
        waitUntilServing(bare.server, `${bare.url}/bare`, BARE_START_TIMEOUT_MS),
      ]);
    },

    async run(service) {
      const targets = defineTargets(bare, service, variants, service.analystToken);
      const targetList = Object.values(targets);
      await replayOnBare(targets.cachedGet, bare);
      await checkTargetsAnswer(targetList);
      await checkCacheIsHit(targets.cachedGet);
      await checkSameAnswer(targets.cachedGet, targets.bareReplay);
      for (const variant of VARIANT_NAMES) {
        await checkCacheIsHit(targets[variant]);
        await checkSameAnswer(targets.cachedGet, targets[variant]);
      }
      await checkRpcMatchesRest(targets.ranking, targets.rpcRanking);
      await checkRpcMatchesRest(targets.ranking, targets.rpcRankingViaConnectEs);

      wrk = await Wrk.prepare(targetList);
      const cpu = await CpuMeter.create();
      console.log(
        `Load: wrk, ${HTTP_LOAD.threads} threads, at ${HTTP_LOAD.connections.join(" and ")} connections; ` +
          `${HTTP_LOAD.rounds} interleaved rounds of ${HTTP_LOAD.durationSeconds} s per target after a ` +
          `${HTTP_LOAD.warmupSeconds} s warm-up each.`,
      );
      const targetsByConnections: Record<string, Summaries> = {};
      for (const connections of HTTP_LOAD.connections) {
        const roundsByTarget = await measureInRounds(targetList, connections, wrk, cpu, service);
        const summaries = Object.fromEntries(
          targetList.map((target) => [target.name, summarize(target, roundsByTarget)]),
        ) as Summaries;
        printTables(connections, summaries);
        targetsByConnections[connections] = summaries;
      }

      const tracesExported = otlp.received();
      console.log(
        `OTLP receiver: ${tracesExported.spans} spans in ${tracesExported.requests} export requests`,
      );
      // A goal met because tracing silently did not run would be no goal met.
      if (tracesExported.spans < 1000) {
        throw new Error(`only ${tracesExported.spans} spans were exported during the load`);
      }
      const busyElsewhere = spreadOf(
        Object.values(targetsByConnections).flatMap((summaries) =>
          Object.values(summaries).flatMap((summary) => summary.rounds.map((round) => round.busyElsewhere)),
        ),
        roundTo(3),
      );
      const atGoal = targetsByConnections[GOAL_CONNECTIONS]!;
      const goals = Object.fromEntries(
        (Object.keys(GOALS) as GoalName[]).map((name) => [name, evaluateGoal(name, atGoal)]),
      ) as Record<GoalName, GoalResult>;
      return {
        measuredAt: new Date().toISOString(),
        node: process.version,
        machine: {
          cpus: os.cpus().length,
          cpuModel: os.cpus()[0]?.model ?? "unknown",
          platform: os.platform(),
        },
        config: {
          ...HTTP_LOAD,
          loadGenerator: `wrk (${WRK}), latency percentiles from its histogram in microseconds`,
          settleMsBeforeEachScrape: SETTLE_MS,
          authorization: "Bearer <analyst dev token> on every target, the bare one included",
          instrumentation:
            "cachedGet, ranking, rpcRanking, rpcRankingViaConnectEs: metrics (flushed to the aggregator every second), one JSON log line " +
            "per request, and every request traced and exported as OTLP/HTTP JSON to a local receiver; " +
            VARIANT_NAMES.map((variant) => `${variant}: ${VARIANTS[variant].description}`).join("; ") +
            "; bareReplay: the bare worker answering the cache hit's body and headers, as the service sent them " +
            "before the loads; bareReplayLogged: the same and one JSON log line of the service's fields",
          cpu:
            "CPU time from /proc of the target server's process group by command, and of wrk, per answered " +
            "request; busyElsewhere is the share of all cores the rest of the machine used during the load",
          durableObjectCalls:
            "rate_limiter_calls_total{tier=user} from /metrics read before and after each load, over the " +
            "http_requests_total the service counted in it",
        },
        targetsByConnections,
        goals,
        busyElsewhere,
        tracesExported,
      };
    },

    async stop() {
      await Promise.all([...servers.map((server) => server.stop()), wrk?.remove()]);
      otlp.close();
    },
  };
}
