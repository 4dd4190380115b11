import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  env,
  getQueueResult,
  type QueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import worker from "../../src";
import type { Database } from "../../src/db/client";
import type { Env } from "../../src/env";
import { type IngestMessage, QUEUES, type RecomputeMessage } from "../../src/ingest/messages";
import { createServiceContext, type ServiceContext } from "../../src/service/context";
import { withToken } from "./auth";

/** A queue producer that keeps what is sent, so a test can deliver it when and how it likes. */
export class RecordingQueue<Body> implements Queue<Body> {
  readonly sent: Body[] = [];

  async send(body: Body): Promise<QueueSendResponse> {
    this.sent.push(body);
    return this.response();
  }

  async sendBatch(messages: Iterable<MessageSendRequest<Body>>): Promise<QueueSendBatchResponse> {
    for (const message of messages) this.sent.push(message.body);
    return this.response();
  }

  private response() {
    return { metadata: { metrics: { backlogCount: this.sent.length, backlogBytes: 0 } } };
  }

  /** Empties the queue, answering what was in it. */
  take(): Body[] {
    return this.sent.splice(0);
  }

  async metrics(): Promise<QueueMetrics> {
    return { backlogCount: this.sent.length, backlogBytes: 0 };
  }
}

/** Configuration variables a test may replace. */
type Vars = Partial<
  Pick<
    Env,
    | "FETCH_TIMEOUT_SECONDS"
    | "RETRY_BASE_SECONDS"
    | "CIRCUIT_FAILURE_THRESHOLD"
    | "CIRCUIT_COOLDOWN_SECONDS"
    | "MIN_PEER_GROUP"
    | "RATE_LIMITS"
    | "ANONYMOUS_ACCESS"
    | "METRICS"
    | "METRICS_SCRAPE_TOKEN"
    | "OTEL_EXPORTER_OTLP_ENDPOINT"
    | "OTEL_EXPORTER_OTLP_HEADERS"
    | "TRACE_SAMPLE_RATIO"
    | "DATA_VERSION_TTL_MS"
    | "RUN_LEASE_SECONDS"
    | "RECOMPUTE_DEGRADED_AFTER_SECONDS"
  >
>;

/**
 * The Worker with recording queues: REST calls, queue deliveries and cron ticks go through its
 * real handlers against the real D1 and KV, but nothing it enqueues moves until the test
 * delivers it. `vars` replace configuration, e.g. a short fetch timeout.
 */
export class Harness {
  readonly ingest = new RecordingQueue<IngestMessage>();
  readonly recompute = new RecordingQueue<RecomputeMessage>();
  readonly env: Env;
  private nextMessageId = 0;

  constructor(vars: Vars = {}) {
    this.env = { ...env, ...vars, INGEST_QUEUE: this.ingest, RECOMPUTE_QUEUE: this.recompute };
  }

  context(): ServiceContext {
    return createServiceContext(this.env, () => {});
  }

  /** A request through the Worker's fetch handler, with a token as test/helpers/auth.ts picks it. */
  async fetch(path: string, init?: RequestInit): Promise<Response> {
    return this.fetchAnonymously(path, await withToken(path, init));
  }

  /** A request exactly as given: without a token unless `init` carries one. */
  async fetchAnonymously(path: string, init?: RequestInit): Promise<Response> {
    const execution = createExecutionContext();
    const request = new Request(`https://bench.test${path}`, init);
    const response = await worker.fetch(request, this.env, execution);
    await waitOnExecutionContext(execution);
    return response;
  }

  /** Delivers bodies to the Worker's queue handler as one batch, and answers the outcome. */
  async deliver(queue: string, bodies: unknown[], attempts = 1): Promise<QueueResult> {
    const batch = createMessageBatch(
      queue,
      bodies.map((body) => ({ id: `msg-${++this.nextMessageId}`, timestamp: new Date(), attempts, body })),
    );
    const execution = createExecutionContext();
    await worker.queue(batch, this.env, execution);
    return getQueueResult(batch, execution);
  }

  /** Delivers whatever the recompute queue holds, as the real queue would. */
  async drainRecompute(): Promise<QueueResult | undefined> {
    const cells = this.recompute.take();
    return cells.length > 0 ? this.deliver(QUEUES.recompute, cells) : undefined;
  }

  /** Runs the Worker's cron handler as the Cron Trigger would at `scheduledTime`. */
  async tick(scheduledTime: number): Promise<void> {
    const controller = createScheduledController({ scheduledTime, cron: "*/15 * * * *" });
    const execution = createExecutionContext();
    await worker.scheduled(controller, this.env, execution);
    await waitOnExecutionContext(execution);
  }
}

/**
 * Registers a panel source through the API, its CSV columns named c, m, p, a, v (company key,
 * metric, period, ARR, value), and answers the API's response.
 */
export function registerPanel(harness: Harness, source: { id: string; name: string; url?: string }) {
  return harness.fetch("/api/v1/sources", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      ...source,
      kind: "panel",
      mapping: { columns: { companyKey: "c", metric: "m", period: "p", arr: "a", value: "v" } },
    }),
  });
}

/** Polls `check` until it answers something: for work the real queues do in the background. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The database, except that every batch fails, through drizzle or the raw D1 client, as a D1
 * outage mid-run would; single statements still work.
 */
export function failingBatches(database: Database): Database {
  const fail = () => Promise.reject(new Error("D1 went away"));
  const client = new Proxy(database.$client, {
    get: (target, property) => (property === "batch" ? fail : Reflect.get(target, property, target)),
  });
  return new Proxy(database, {
    get(target, property, receiver) {
      if (property === "batch") return fail;
      if (property === "$client") return client;
      return Reflect.get(target, property, receiver);
    },
  });
}

/** A D1 binding that is down: every statement, through a session or not, fails as D1 would. */
export function unreachableD1(): D1Database {
  const failing = () => Promise.reject(new TypeError("D1_ERROR: no such database"));
  const statement = { all: failing, raw: failing, run: failing, first: failing };
  const client = { prepare: () => ({ ...statement, bind: () => statement }), batch: failing };
  return { ...client, withSession: () => ({ ...client, getBookmark: () => null }) } as unknown as D1Database;
}

/** Chunks waiting in staging, of one run or of every run. */
export async function stagedChunkCount(runId?: string): Promise<number> {
  const statement =
    runId === undefined
      ? env.DB.prepare("SELECT COUNT(*) AS n FROM staged_chunks")
      : env.DB.prepare("SELECT COUNT(*) AS n FROM staged_chunks WHERE run_id = ?").bind(runId);
  return (await statement.first<{ n: number }>())!.n;
}
