/**
 * Soak test behind `npm run soak` (not run in CI):
 *
 *   npm run soak -- [--minutes 10] [--connections 64] [--seed 20260115]
 *
 * Starts the service as `npm start` does, in a local state of its own (a fresh temporary
 * directory, given to wrangler as --persist-to), with its rate limits as shipped. Then, for the
 * given minutes, each of `--connections` loops sends one read after another over a keep-alive
 * connection (scripts/soak/workload.ts: cached GETs, rankings, scorecards, time series and
 * custom peer groups, over REST and Connect RPC). Each loop moves to a fresh principal before
 * its bucket runs out, except the first, which keeps one principal past its limit and then waits
 * out each Retry-After, so that the limiter's refusals are soaked too. At the start of every
 * minute an admin uploads a panel file to the soak's own source, which changes data and leaves a
 * recompute behind, and the scheduled (cron) handler runs once.
 *
 * Prints a line per minute (requests/s, p50 and p99 of the reads, statuses, the resident memory
 * of the workerd that runs the Worker and of wrangler's local proxy in front of it), then a
 * summary and the verdicts (scripts/soak/report.ts), and
 * writes them to bench/results.json under "soak", leaving its other sections as they are.
 *
 * Exit code 1 when a criterion fails: the service exited; a 5xx or a network error; any status
 * other than 200 to a read (or 304 to a conditional GET), 201 to an upload, 200 to the cron, or a
 * 429 to a principal that cannot have spent its bucket; the Worker's workerd RSS (the median of its
 * samples in a minute) grew 10% or more from minute 2 (minute 1 is the warm-up) to the last; the last
 * minute's p99 is over 1.5 times the first minute's.
 */
import { rmSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { mintDevToken } from "../dev-auth/token";
import {
  findFreePorts,
  LOOPBACK,
  type ManagedServer,
  REPO_ROOT,
  SERVICE_START_TIMEOUT_MS,
  startService,
  wasInterrupted,
} from "../lib/local-server";
import { processesOfGroup } from "../lib/processes";
import { writeResults } from "../lib/results";
import { SAMPLE_SEED } from "../sample-data/generate";
import { Prng } from "../sample-data/prng";
import {
  describeMinute,
  describeOutcome,
  judge,
  type MinuteRecord,
  NETWORK_ERROR,
  printSummary,
  type RunDetails,
  round,
  type UploadRecord,
} from "./report";
import {
  createSoakSource,
  loadReadCatalogue,
  PanelUploads,
  READS_PER_PRINCIPAL,
  Reader,
  ReadMix,
  SOAK_SOURCE_ID,
  UPLOAD_COMPANIES,
} from "./workload";

const MINUTE_MS = 60_000;

/** A read slower than this counts as a network error: far beyond any p99 seen on this machine. */
const READ_TIMEOUT_MS = 30_000;
const UPLOAD_TIMEOUT_MS = 120_000;
/** After a network error a loop pauses, rather than spin on a refused connection. */
const NETWORK_ERROR_PAUSE_MS = 1_000;
/** The first this many failing answers are kept, to say what went wrong. */
const FAILING_EXAMPLES = 10;
/** workerd's RSS is sampled this often; a minute's figure is the median, not one moment of the GC's cycle. */
const RSS_SAMPLE_MS = 5_000;

/**
 * Miniflare's trigger route, which `wrangler dev` always serves (wrangler 4 rewrites the older
 * /cdn-cgi/handler/scheduled to it; --test-scheduled only adds /__scheduled). With format=json it
 * answers 500 when the handler throws.
 */
const SCHEDULED_PATH = "/cdn-cgi/local/scheduled";

interface Options {
  minutes: number;
  connections: number;
  seed: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      minutes: { type: "string", default: "10" },
      connections: { type: "string", default: "64" },
      seed: { type: "string", default: String(SAMPLE_SEED) },
    },
  });
  const integer = (name: keyof typeof values, least: number) => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < least) throw new Error(`--${name} must be an integer ≥ ${least}`);
    return value;
  };
  return {
    minutes: integer("minutes", 1),
    // The first connection's principal is kept past its limit: the others carry the load.
    connections: integer("connections", 2),
    seed: integer("seed", 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Requests and what they came to

type Answer =
  | { status: number; headers: Headers; body: Uint8Array; latencyMs: number }
  | { error: string; latencyMs: number };

/** Sends one request and reads its whole answer: the latency runs to the last byte. */
async function send(url: string, init: RequestInit, timeoutMs = READ_TIMEOUT_MS): Promise<Answer> {
  const started = performance.now();
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const body = new Uint8Array(await response.arrayBuffer());
    const latencyMs = performance.now() - started;
    return { status: response.status, headers: response.headers, body, latencyMs };
  } catch (error) {
    // fetch's own message is "fetch failed"; its cause says what failed.
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return {
      error: cause?.code ?? cause?.message ?? (error as Error).message,
      latencyMs: performance.now() - started,
    };
  }
}

const textOf = (answer: { body: Uint8Array }) => new TextDecoder().decode(answer.body);

/** One minute's answers; each counts in the minute it came in. */
class MinuteTally {
  requests = 0;
  readonly statuses: Record<string, number> = {};
  readonly readLatenciesMs: number[] = [];
  readonly workerRssSamplesMiB: number[] = [];
  readonly proxyRssSamplesMiB: number[] = [];
  serverErrors = 0;
  networkErrors = 0;
  unexpected = 0;
}

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Resident memory of the server's two workerd processes, in MiB: the one that runs the Worker,
 * and wrangler's local proxy in front of it, which listens on the public port and which no
 * deployment has.
 */
async function workerdRssMiB(
  processGroup: number,
  publicPort: number,
): Promise<{ worker: number; proxy: number }> {
  const rss = { worker: 0, proxy: 0 };
  for (const { pid, command } of await processesOfGroup(processGroup)) {
    if (command !== "workerd") continue;
    // A process may exit between the listing and the reads.
    const commandLine = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
    const kib = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
    rss[commandLine.includes(`entry=${LOOPBACK}:${publicPort}\0`) ? "proxy" : "worker"] += kib / 1024;
  }
  return rss;
}

/** The cron that wrangler.toml schedules, which the deployed Worker's handler is called with. */
async function configuredCron(): Promise<string> {
  const toml = await readFile(path.join(REPO_ROOT, "wrangler.toml"), "utf8");
  const crons = /^crons\s*=\s*(\[.*\])\s*$/m.exec(toml)?.[1];
  const cron = crons ? (JSON.parse(crons) as string[])[0] : undefined;
  if (!cron) throw new Error("wrangler.toml schedules no cron under [triggers]");
  return cron;
}

function sleepUntil(at: number): Promise<void> {
  return sleep(Math.max(0, at - performance.now()));
}

// ---------------------------------------------------------------------------------------------
// The soak

interface Setup {
  options: Options;
  server: ManagedServer;
  port: number;
  baseUrl: string;
  adminAuthorization: string;
  mix: ReadMix;
  uploads: PanelUploads;
  cron: string;
  tokenTtlSeconds: number;
  /** Kept past its limit by the first loop. */
  overLimitReader: Reader;
}

class Soak {
  private readonly prng: Prng;
  private readonly tallies: MinuteTally[];
  private readonly uploads: UploadRecord[] = [];
  private readonly scheduled: (number | typeof NETWORK_ERROR)[] = [];
  private readonly statusesByRequest = new Map<string, Record<string, number>>();
  private readonly failingExamples: string[] = [];
  private readersMinted = 0;
  private startedAt = 0;
  private endsAt = 0;
  /** Set when the service is found to have exited: the loops stop. */
  private serviceExited = false;

  constructor(private readonly setup: Setup) {
    this.prng = new Prng(setup.options.seed);
    this.tallies = Array.from({ length: setup.options.minutes }, () => new MinuteTally());
  }

  /** Runs the load, printing each minute's line as it ends; fewer minutes if the service exits. */
  async run(): Promise<MinuteRecord[]> {
    const { minutes, connections } = this.setup.options;
    this.startedAt = performance.now();
    this.endsAt = this.startedAt + minutes * MINUTE_MS;
    const work = [
      ...Array.from({ length: connections }, (_, loop) => this.readLoop(loop)),
      this.minutelyAdminWork(),
      this.sampleMemory(),
    ];
    const records: MinuteRecord[] = [];
    for (let minute = 1; minute <= minutes; minute++) {
      // The last minute closes once every request in flight has been answered.
      if (minute < minutes) await sleepUntil(this.startedAt + minute * MINUTE_MS);
      else await Promise.all(work);
      if (this.setup.server.hasExited) {
        this.serviceExited = true;
        console.error(`The service exited during minute ${minute}:\n${this.setup.server.outputTail()}`);
        await Promise.all(work);
        break;
      }
      const record = await this.closeMinute(minute);
      records.push(record);
      console.log(describeMinute(record, minutes));
    }
    return records;
  }

  details(): RunDetails {
    const { overLimitReader } = this.setup;
    return {
      statusesByRequest: this.statusesByRequest,
      readerPrincipals: this.readersMinted,
      readsPerPrincipal: READS_PER_PRINCIPAL,
      overLimitPrincipal: {
        letThrough: overLimitReader.sent - overLimitReader.refusals,
        refused: overLimitReader.refusals,
      },
      failingExamples: this.failingExamples,
      serviceExited: this.serviceExited,
    };
  }

  private running(): boolean {
    return performance.now() < this.endsAt && !this.serviceExited;
  }

  /** The minute under way, from 1; the last goes on until its stragglers are answered. */
  private currentMinute(): number {
    const elapsed = performance.now() - this.startedAt;
    return Math.min(this.tallies.length, Math.floor(elapsed / MINUTE_MS) + 1);
  }

  private nextReader(): Promise<Reader> {
    return Reader.mint(`soak-reader-${++this.readersMinted}`, this.setup.tokenTtlSeconds);
  }

  private async readLoop(loop: number): Promise<void> {
    const prng = this.prng.fork(`reads-${loop}`);
    const keepsPrincipal = loop === 0;
    let reader = keepsPrincipal ? this.setup.overLimitReader : await this.nextReader();
    // The last ETag of each GET this loop made: half its repeats revalidate, so 304s stay in the mix.
    const etags = new Map<string, string>();
    while (this.running()) {
      if (!keepsPrincipal && reader.sent >= READS_PER_PRINCIPAL) reader = await this.nextReader();
      const request = this.setup.mix.draw(prng);
      const headers: Record<string, string> = { ...request.headers, authorization: reader.authorization };
      const etag = etags.get(request.path);
      const conditional = etag !== undefined && prng.chance(0.5);
      if (conditional) headers["if-none-match"] = etag;
      reader.willSend(performance.now());
      const answer = await send(`${this.setup.baseUrl}${request.path}`, {
        method: request.method,
        headers,
        body: request.body,
      });
      if ("error" in answer) {
        this.record(request.kind, answer, false, true);
        await sleep(NETWORK_ERROR_PAUSE_MS);
        continue;
      }
      const { status } = answer;
      const expected =
        status === 200 ||
        (status === 304 && conditional) ||
        (status === 429 && reader.mayBeLimited(performance.now()));
      reader.answered(status);
      this.record(request.kind, answer, expected, true);
      const newEtag = answer.headers.get("etag");
      if (request.method === "GET" && status === 200 && newEtag) etags.set(request.path, newEtag);
      // As a well-behaved client does; the principal's bucket refills meanwhile.
      if (status === 429) await sleep(1000 * Number(answer.headers.get("retry-after") ?? 1));
    }
  }

  /** At the start of each minute: an upload to the soak's source, then the cron handler. */
  private async minutelyAdminWork(): Promise<void> {
    for (let minute = 0; minute < this.setup.options.minutes; minute++) {
      await sleepUntil(this.startedAt + minute * MINUTE_MS);
      if (!this.running()) return;
      this.uploads[minute] = await this.upload(this.prng.fork(`upload-${minute}`));
      this.scheduled[minute] = await this.runScheduledHandler();
    }
  }

  private async upload(prng: Prng): Promise<UploadRecord> {
    const answer = await send(
      `${this.setup.baseUrl}/api/v1/sources/${SOAK_SOURCE_ID}/uploads`,
      {
        method: "POST",
        headers: { authorization: this.setup.adminAuthorization, "content-type": "text/csv" },
        body: this.setup.uploads.file(prng),
      },
      UPLOAD_TIMEOUT_MS,
    );
    const created = !("error" in answer) && answer.status === 201;
    this.record("POST upload", answer, created, false);
    if ("error" in answer) return { status: NETWORK_ERROR };
    if (!created) return { status: answer.status };
    const run = JSON.parse(textOf(answer)) as { id: string; accepted: number; changedCells: number };
    return {
      status: answer.status,
      runId: run.id,
      rowsAccepted: run.accepted,
      changedCells: run.changedCells,
    };
  }

  private async runScheduledHandler(): Promise<number | typeof NETWORK_ERROR> {
    const query = new URLSearchParams({ cron: this.setup.cron, format: "json" });
    const answer = await send(`${this.setup.baseUrl}${SCHEDULED_PATH}?${query}`, {});
    this.record("scheduled handler", answer, !("error" in answer) && answer.status === 200, false);
    return "error" in answer ? NETWORK_ERROR : answer.status;
  }

  private async sampleMemory(): Promise<void> {
    while (this.running()) {
      const rss = await workerdRssMiB(this.setup.server.processGroup ?? 0, this.setup.port);
      const tally = this.tallies[this.currentMinute() - 1]!;
      tally.workerRssSamplesMiB.push(rss.worker);
      tally.proxyRssSamplesMiB.push(rss.proxy);
      await sleep(Math.min(RSS_SAMPLE_MS, Math.max(0, this.endsAt - performance.now())));
    }
  }

  /** How far the recompute of an upload's cells has got. */
  private async recomputedCells(runId: string): Promise<number | undefined> {
    const answer = await send(`${this.setup.baseUrl}/api/v1/ingestion/runs/${runId}`, {
      headers: { authorization: this.setup.adminAuthorization },
    });
    const ok = !("error" in answer) && answer.status === 200;
    this.record("GET ingestion run", answer, ok, false);
    return ok ? (JSON.parse(textOf(answer)) as { recomputedCells: number }).recomputedCells : undefined;
  }

  private async closeMinute(minute: number): Promise<MinuteRecord> {
    const upload = this.uploads[minute - 1];
    if (upload?.runId) upload.recomputedCells = await this.recomputedCells(upload.runId);
    const tally = this.tallies[minute - 1]!;
    return {
      minute,
      requests: tally.requests,
      requestsPerSecond: round(tally.requests / (MINUTE_MS / 1000), 1),
      readLatencyP50Ms: round(percentile(tally.readLatenciesMs, 50), 1),
      readLatencyP99Ms: round(percentile(tally.readLatenciesMs, 99), 1),
      statuses: tally.statuses,
      serverErrors: tally.serverErrors,
      networkErrors: tally.networkErrors,
      unexpected: tally.unexpected,
      workerRssMiB: round(percentile(tally.workerRssSamplesMiB, 50), 1),
      proxyRssMiB: round(percentile(tally.proxyRssSamplesMiB, 50), 1),
      upload,
      scheduled: this.scheduled[minute - 1],
    };
  }

  private record(kind: string, answer: Answer, expected: boolean, isRead: boolean): void {
    const minute = this.currentMinute();
    const tally = this.tallies[minute - 1]!;
    const status = "error" in answer ? NETWORK_ERROR : String(answer.status);
    tally.requests++;
    tally.statuses[status] = (tally.statuses[status] ?? 0) + 1;
    const byRequest = this.statusesByRequest.get(kind) ?? {};
    byRequest[status] = (byRequest[status] ?? 0) + 1;
    this.statusesByRequest.set(kind, byRequest);
    if (isRead) tally.readLatenciesMs.push(answer.latencyMs);
    if ("error" in answer) tally.networkErrors++;
    else if (answer.status >= 500) tally.serverErrors++;
    else if (!expected) tally.unexpected++;
    if (expected || this.failingExamples.length >= FAILING_EXAMPLES) return;
    const detail = "error" in answer ? answer.error : textOf(answer).slice(0, 300).replace(/\s+/g, " ");
    this.failingExamples.push(`minute ${minute}, ${kind}: ${status} ${detail}`);
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions();
  const loadAtStart = os.loadavg();
  const [port = 0] = await findFreePorts(1);
  const baseUrl = `http://${LOOPBACK}:${port}`;
  const state = await mkdtemp(path.join(os.tmpdir(), "soak-state-"));
  process.on("exit", () => rmSync(state, { recursive: true, force: true }));
  // Tokens must outlive the run: one expiring mid-run would turn reads into 401s.
  const tokenTtlSeconds = options.minutes * 60 + 3600;

  console.log(`Starting the service (port ${port}, state in ${state})...`);
  const server = startService(port, ["--persist-to", state]);
  try {
    await server.waitUntilReady(SERVICE_START_TIMEOUT_MS);
    // Principals of their own: the admin's bucket stays far from its limit, the preflight's is spent apart.
    const adminAuthorization = `Bearer ${await mintDevToken("admin", "soak-admin", tokenTtlSeconds)}`;
    const preflight = await Reader.mint("soak-preflight", tokenTtlSeconds);
    await createSoakSource(baseUrl, adminAuthorization);
    const soak = new Soak({
      options,
      server,
      port,
      baseUrl,
      adminAuthorization,
      mix: new ReadMix(await loadReadCatalogue(baseUrl, preflight.authorization)),
      uploads: new PanelUploads(),
      cron: await configuredCron(),
      tokenTtlSeconds,
      overLimitReader: await Reader.mint("soak-over-limit", tokenTtlSeconds),
    });
    console.log(
      `Soaking for ${options.minutes} minutes at ${options.connections} connections (seed ${options.seed}); ` +
        "minute 1 is the warm-up.",
    );
    const records = await soak.run();
    const details = soak.details();
    const { totals, verdicts } = judge(records, details);
    printSummary(records, details, verdicts);
    const passed = verdicts.every((verdict) => verdict.outcome !== "FAIL");
    await writeResults({
      soak: {
        measuredAt: new Date().toISOString(),
        node: process.version,
        machine: {
          cpus: os.cpus().length,
          cpuModel: os.cpus()[0]?.model ?? "unknown",
          loadAverage: {
            note: "1, 5 and 15 minute load averages, before the service started and after the load",
            atStart: loadAtStart.map((load) => round(load, 2)),
            atEnd: os.loadavg().map((load) => round(load, 2)),
          },
        },
        config: {
          minutes: options.minutes,
          connections: options.connections,
          seed: options.seed,
          warmUpMinutes: 1,
          reads:
            "each connection a loop of one request after another, drawn from a seeded mix of REST and Connect RPC " +
            "(JSON and binary) reads: benchmarks by band and by custom peer group, time series, rankings, " +
            "scorecards; half the repeated GETs conditional",
          principals:
            `analysts; each loop moves to a fresh principal after ${READS_PER_PRINCIPAL} requests, except the ` +
            "first, which keeps one past its limit and waits out each Retry-After",
          minutely:
            `an upload of ${UPLOAD_COMPANIES} panel companies' latest-period rows to the soak's own source ` +
            `(${SOAK_SOURCE_ID}), then the scheduled handler (${SCHEDULED_PATH}, with the cron of wrangler.toml)`,
          latencies: "of the reads, to the last byte of the answer; nearest-rank percentiles per minute",
          rss:
            "VmRSS of the workerd that runs the Worker (judged) and of wrangler's local proxy in front of it " +
            `(reported), sampled every ${RSS_SAMPLE_MS / 1000} s; a minute's figure is the median of its samples`,
        },
        minutes: records,
        totals,
        statusesByRequest: Object.fromEntries(details.statusesByRequest),
        readerPrincipals: details.readerPrincipals,
        overLimitPrincipal: details.overLimitPrincipal,
        failingExamples: details.failingExamples,
        verdicts,
        passed,
      },
    });
    console.log(describeOutcome(totals, passed));
    if (!passed) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}

main().catch((error: unknown) => {
  if (wasInterrupted()) return;
  console.error(`\nSoak failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
