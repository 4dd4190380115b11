import { env } from "cloudflare:test";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { QUEUES } from "../../src/ingest/messages";
import { getCatalogue } from "../../src/service/catalogue";
import { refreshSource } from "../../src/service/refresh";
import { summarizePanel } from "../../src/stats";
import { failingBatches, Harness, stagedChunkCount } from "../helpers/jobs";
import { growth, series } from "../helpers/metrics";
import { clearMemoryCache, db } from "../helpers/seed";

/** Outbound fetches by url; anything else is a test bug and fails loudly. */
const feeds = new Map<string, (signal: AbortSignal) => Response | Promise<Response>>();

beforeAll(() => {
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const feed = feeds.get(url);
    if (!feed) throw new Error(`unexpected fetch of ${url}`);
    return feed(init?.signal ?? new AbortController().signal);
  });
});
beforeEach(() => {
  clearMemoryCache();
  harness.ingest.take();
  harness.recompute.take();
});
afterEach(() => feeds.clear());

const HOUR = 3_600_000;
const HEADER = "company,metric,period,arr,value";
/** Twelve ndr values 100…111 in the 1M–5M band. */
const NDR = Array.from({ length: 12 }, (_, i) => 100 + i);
const csvOf = (values: number[], prefix = "firm") =>
  [HEADER, ...values.map((v, i) => `${prefix}_${String(i).padStart(2, "0")},ndr,2024,2000000,${v}`)].join(
    "\n",
  );
const ok = (body: BodyInit) => () => new Response(body, { headers: { "Content-Type": "text/csv" } });

const harness = new Harness({ FETCH_TIMEOUT_SECONDS: "0.05", RETRY_BASE_SECONDS: "30" });

interface Run {
  id: string;
  status: string;
  trigger: string;
  received: number;
  accepted: number;
  rejected: number;
  unchanged: number;
  changedCells: number;
  recomputedCells: number;
  attempts: number;
  error: string | null;
  rejections: { line: number; reason: string }[];
}
interface SourceState {
  circuitState: string;
  consecutiveFailures: number;
  circuitOpenedAt: string | null;
  nextTrialAt: string | null;
  lastError: string | null;
  lastUpdated: string | null;
  nextRefreshAt: string | null;
}

async function json<T>(path: string, init?: RequestInit): Promise<T> {
  return (await (await harness.fetch(path, init)).json()) as T;
}
const run = (id: string) => json<Run>(`/api/v1/ingestion/runs/${id}`);
const source = (id: string) => json<SourceState>(`/api/v1/sources/${id}`);

let counter = 0;
/** A fresh panel source fetched from its own url, so tests do not share state. */
async function panelSource(options: { interval?: number | null; format?: "csv" | "json" } = {}) {
  const id = `feed-${++counter}`;
  const url = `https://feeds.example.test/${id}.${options.format ?? "csv"}`;
  const response = await harness.fetch("/api/v1/sources", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      id,
      name: `Feed ${counter}`,
      kind: "panel",
      format: options.format ?? "csv",
      url,
      ...(options.interval === null ? {} : { refreshIntervalMinutes: options.interval ?? 60 }),
      mapping: {
        columns: { companyKey: "company", metric: "metric", period: "period", arr: "arr", value: "value" },
      },
    }),
  });
  expect(response.status).toBe(201);
  return { id, url };
}

/** Queues a manual refresh and answers the message the consumer would get. */
async function refreshMessage(sourceId: string) {
  const response = await harness.fetch(`/api/v1/sources/${sourceId}/refresh`, { method: "POST" });
  expect(response.status).toBe(202);
  const queued = (await response.json()) as Run;
  expect(queued).toMatchObject({ status: "queued", trigger: "refresh", attempts: 0 });
  const [message] = harness.ingest.take();
  expect(message).toEqual({ runId: queued.id, sourceId });
  return message!;
}

async function storedValues(sourceId: string) {
  const { results } = await env.DB.prepare(
    "SELECT company_key, value, is_outlier FROM observations WHERE source_id = ? ORDER BY company_key",
  )
    .bind(sourceId)
    .all();
  return results;
}

async function count(table: string, sourceId: string) {
  const row = await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE source_id = ?`)
    .bind(sourceId)
    .first<{ n: number }>();
  return row!.n;
}

describe("the scheduler (Cron Trigger)", () => {
  it("queues one run per due source, and none again until its interval has passed", async () => {
    // Sources other tests leave behind are pushed out of the way first.
    await env.DB.prepare("UPDATE sources SET active = 0").run();
    const due = await panelSource({ interval: 60 });
    const manualOnly = await panelSource({ interval: null });
    const paused = await panelSource({ interval: 60 });
    await harness.fetch(`/api/v1/sources/${paused.id}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ active: false }),
    });
    const now = Date.parse("2026-11-29T12:00:00.000Z");
    await harness.tick(now);
    const messages = harness.ingest.take();
    expect(messages.map((m) => m.sourceId)).toEqual([due.id]);
    expect(await run(messages[0]!.runId)).toMatchObject({ status: "queued", trigger: "schedule" });
    expect((await source(due.id)).nextRefreshAt).toBe("2026-11-29T13:00:00.000Z");

    // Its message not delivered within a lease (60 s), the run is handed over: sent again, itself.
    await harness.tick(now + 59 * 60_000);
    expect(harness.ingest.take()).toEqual(messages);
    // Due again, but its first run is still queued: a second would race it.
    await harness.tick(now + HOUR);
    expect(harness.ingest.take()).toEqual([]);
    const refused = await harness.fetch(`/api/v1/sources/${due.id}/refresh`, { method: "POST" });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ type: "/problems/run-in-progress" });
    // That request ran on the real clock, days after these ticks: it found the run's lease long
    // expired and handed it over once more, still the one run.
    expect(harness.ingest.take()).toEqual(messages);
    // Once that run has ended, the next tick queues the next one.
    feeds.set(due.url, () => new Response("gone", { status: 404 }));
    await harness.deliver(QUEUES.ingest, messages);
    await harness.tick(now + HOUR);
    expect(harness.ingest.take().map((m) => m.sourceId)).toEqual([due.id]);
    expect((await source(manualOnly.id)).nextRefreshAt).toBeNull();
  });
});

describe("the ingest consumer", () => {
  it("loads good data, queues its cell for recompute, and the benchmark lists the source", async () => {
    const { id, url } = await panelSource();
    feeds.set(url, ok(csvOf(NDR)));
    const message = await refreshMessage(id);
    const result = await harness.deliver(QUEUES.ingest, [message]);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(await run(message.runId)).toMatchObject({
      status: "recomputing",
      received: 12,
      accepted: 12,
      rejected: 0,
      unchanged: 0,
      changedCells: 1,
      attempts: 1,
      error: null,
    });
    expect(harness.recompute.sent).toEqual([{ metricKey: "ndr", bandKey: "1M-5M", period: "2024" }]);
    expect((await run(message.runId)).recomputedCells).toBe(0);
    await harness.drainRecompute();
    expect((await run(message.runId)).recomputedCells).toBe(1);
    const expected = summarizePanel(NDR, "modified_z")!;
    const summary = await env.DB.prepare(
      "SELECT n, p25, p50, p75 FROM summaries WHERE source_id = ? AND band_key = '1M-5M'",
    )
      .bind(id)
      .first();
    expect(summary).toEqual({ n: 12, p25: expected.p25, p50: expected.p50, p75: expected.p75 });
    expect(await source(id)).toMatchObject({
      circuitState: "closed",
      consecutiveFailures: 0,
      lastError: null,
    });
    const benchmark = await json<{ sources: { id: string }[] }>(
      `/api/v1/benchmarks?metric=ndr&revenueRange=1M-5M&period=2024&sources=${id}`,
    );
    expect(benchmark.sources.map((s) => s.id)).toEqual([id]);
  });

  it("accepts the good rows of a mixed file and reports each bad line", async () => {
    const { id, url } = await panelSource();
    const csv = [
      csvOf(NDR.slice(0, 10)),
      "firm_bad1,ndr,2024,2000000,not-a-number",
      "firm_bad2,nope,2024,2000000,100",
      "firm_00,ndr,2024,2000000,101",
      "firm_bad3,ndr,FY24,2000000,100",
    ].join("\n");
    feeds.set(url, ok(csv));
    const message = await refreshMessage(id);
    await harness.deliver(QUEUES.ingest, [message]);
    expect(await run(message.runId)).toMatchObject({
      status: "recomputing",
      received: 14,
      accepted: 10,
      rejected: 4,
      rejections: [
        { line: 12, reason: "value: not a finite number" },
        { line: 13, reason: "metric: unknown metric (4 characters)" },
        { line: 14, reason: "duplicate of line 2 (same company, metric and period)" },
        { line: 15, reason: "period: not a year or a quarter such as 2024-Q3" },
      ],
    });
    expect(await count("observations", id)).toBe(10);
    expect(await count("rejected_rows", id)).toBe(4);
  });

  it("loads the same message twice without doubling anything", async () => {
    const { id, url } = await panelSource();
    feeds.set(url, ok(csvOf(NDR)));
    const message = await refreshMessage(id);
    await harness.deliver(QUEUES.ingest, [message]);
    const first = await run(message.runId);
    const again = await harness.deliver(QUEUES.ingest, [message], 2);
    expect(again.explicitAcks).toHaveLength(1);
    // The run had finished: the redelivery does nothing at all.
    expect(await run(message.runId)).toEqual(first);
    expect(harness.recompute.take()).toHaveLength(1);
    expect(await count("observations", id)).toBe(12);
    expect(await count("ingestion_runs", id)).toBe(1);

    // A second refresh of the same file upserts onto the same rows.
    const second = await refreshMessage(id);
    await harness.deliver(QUEUES.ingest, [second]);
    expect(await run(second.runId)).toMatchObject({
      status: "succeeded",
      accepted: 12,
      unchanged: 12,
      changedCells: 0,
    });
    expect(harness.recompute.take()).toEqual([]);
    expect(await count("observations", id)).toBe(12);
  });

  it("reruns a delivery that died midway from a clean staging area", async () => {
    const { id, url } = await panelSource();
    feeds.set(url, ok(csvOf(NDR)));
    const message = await refreshMessage(id);
    // The first delivery staged half its rows and then its isolate went away; its lease has run out.
    await env.DB.prepare(
      "UPDATE ingestion_runs SET status = 'running', attempts = 1, lease_owner = 'dead', lease_expires_at = ? WHERE id = ?",
    )
      .bind(new Date(Date.now() - 1000).toISOString(), message.runId)
      .run();
    const ghost = {
      companyKey: "ghost_row",
      metricKey: "ndr",
      period: "2024",
      value: 5,
      arr: 2e6,
      bandKey: "1M-5M",
    };
    await env.DB.prepare("INSERT INTO staged_chunks (run_id, seq, rows) VALUES (?, 0, ?)")
      .bind(message.runId, JSON.stringify([ghost]))
      .run();
    await harness.deliver(QUEUES.ingest, [message], 2);
    expect(await run(message.runId)).toMatchObject({ status: "recomputing", accepted: 12, attempts: 2 });
    expect(await count("observations", id)).toBe(12);
    expect(await stagedChunkCount(message.runId)).toBe(0);
  });

  it("leaves the previous data intact when a run dies in the swap, and retries it", async () => {
    const { id, url } = await panelSource();
    feeds.set(url, ok(csvOf(NDR)));
    const first = await refreshMessage(id);
    await harness.deliver(QUEUES.ingest, [first]);
    await harness.drainRecompute();
    const before = await storedValues(id);
    const summaryBefore = (await env.DB.prepare("SELECT * FROM summaries WHERE source_id = ?").bind(id).all())
      .results;

    feeds.set(url, ok(csvOf(NDR.map((v) => v + 50))));
    const second = await refreshMessage(id);
    const context = harness.context();
    // The catalogue is read in a batch too: cache it first, so the swap is what fails.
    await getCatalogue(context);
    const delivery = await refreshSource({ ...context, db: failingBatches(db) }, second, 1);
    expect(delivery).toEqual({ action: "retry", delaySeconds: 30 });
    expect(await run(second.runId)).toMatchObject({
      status: "queued",
      error:
        "attempt 1 failed: unexpected: the load failed (the log names the kind of error); retrying in 30 s",
    });
    expect(await storedValues(id)).toEqual(before);
    expect(
      (await env.DB.prepare("SELECT * FROM summaries WHERE source_id = ?").bind(id).all()).results,
    ).toEqual(summaryBefore);
    expect(await stagedChunkCount(second.runId)).toBe(0);
    expect(harness.recompute.take()).toEqual([]);

    // The redelivery goes through and replaces the values.
    await harness.deliver(QUEUES.ingest, [second], 2);
    expect(await run(second.runId)).toMatchObject({ status: "recomputing", unchanged: 0, changedCells: 1 });
    const values = (await storedValues(id)).map((row) => row.value as number);
    expect(values.sort((a, b) => a - b)).toEqual(NDR.map((v) => v + 50));
  });

  it("counts a run once, when it ends, however many attempts it took", async () => {
    const { id, url } = await panelSource();
    feeds.set(url, ok(csvOf(NDR)));
    const keys = ["succeeded", "failed"].map((status) =>
      series("ingestion_runs_total", { source: id, status }),
    );
    const retried = await growth(harness, keys, async () => {
      const message = await refreshMessage(id);
      const context = harness.context();
      await getCatalogue(context);
      // The first attempt dies in the swap and is retried; the second loads.
      const delivery = await refreshSource({ ...context, db: failingBatches(db) }, message, 1);
      expect(delivery).toEqual({ action: "retry", delaySeconds: 30 });
      await harness.deliver(QUEUES.ingest, [message], 2);
      expect(await run(message.runId)).toMatchObject({ status: "recomputing" });
    });
    expect(retried).toEqual({ [keys[0]!]: 1, [keys[1]!]: 0 });

    // A file that cannot be read ends its run at once, failed.
    feeds.set(url, ok(`${HEADER}\n"firm_00,ndr,2024,2000000,101\n`));
    const unreadable = await growth(harness, keys, async () => {
      const message = await refreshMessage(id);
      await harness.deliver(QUEUES.ingest, [message]);
      expect(await run(message.runId)).toMatchObject({ status: "failed" });
    });
    expect(unreadable).toEqual({ [keys[0]!]: 0, [keys[1]!]: 1 });
  });

  it("retries a 500 with exponential backoff, keeping the data it had", async () => {
    const { id, url } = await panelSource();
    feeds.set(url, ok(csvOf(NDR)));
    await harness.deliver(QUEUES.ingest, [await refreshMessage(id)]);
    const before = await storedValues(id);

    feeds.set(url, () => new Response("upstream broke", { status: 500 }));
    const message = await refreshMessage(id);
    for (const [attempt, delay] of [
      [1, 30],
      [2, 60],
      [3, 120],
    ] as const) {
      const result = await harness.deliver(QUEUES.ingest, [message], attempt);
      // The test pool records that a message was retried, not its delay: the run's error says it.
      expect(result.retryMessages).toEqual([{ msgId: expect.any(String) }]);
      expect(result.explicitAcks).toEqual([]);
      expect(await run(message.runId)).toMatchObject({
        status: "queued",
        attempts: attempt,
        error: `attempt ${attempt} failed: http_5xx: the source answered with a server error status; retrying in ${delay} s`,
      });
    }
    expect(await source(id)).toMatchObject({
      circuitState: "closed",
      consecutiveFailures: 3,
      lastError: "http_5xx: the source answered with a server error status",
    });
    expect(await storedValues(id)).toEqual(before);
  });

  it("does not retry a 404: the run fails at once", async () => {
    const { id, url } = await panelSource();
    feeds.set(url, () => new Response("gone", { status: 404 }));
    const message = await refreshMessage(id);
    const result = await harness.deliver(QUEUES.ingest, [message]);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(await run(message.runId)).toMatchObject({
      status: "failed",
      error: "http_4xx: the source answered with a client error status",
    });
    expect((await source(id)).consecutiveFailures).toBe(1);
  });

  it("times out a source that never answers, and one whose body stalls", async () => {
    const hangs = await panelSource();
    const never = (signal: AbortSignal) =>
      new Promise<Response>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    const stalls = (signal: AbortSignal) =>
      new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(`${HEADER}\nfirm_00,ndr,2024,2000000,100\n`));
            signal.addEventListener("abort", () => controller.error(signal.reason));
          },
        }),
      );
    const stalled = await panelSource();
    for (const [feed, { id, url }] of [
      [never, hangs],
      [stalls, stalled],
    ] as const) {
      feeds.set(url, feed);
      const message = await refreshMessage(id);
      const result = await harness.deliver(QUEUES.ingest, [message]);
      expect(result.retryMessages).toEqual([{ msgId: expect.any(String) }]);
      expect((await run(message.runId)).error).toBe(
        "attempt 1 failed: timeout: no complete answer within 50 ms; retrying in 30 s",
      );
    }
    for (const { id } of [hangs, stalled]) expect(await count("observations", id)).toBe(0);
    expect(await stagedChunkCount()).toBe(0);
  });

  it("retries a body cut off midway as a network failure, keeping nothing of it", async () => {
    const { id, url } = await panelSource();
    feeds.set(
      url,
      () =>
        new Response(
          new ReadableStream({
            pull(controller) {
              controller.enqueue(new TextEncoder().encode(`${HEADER}\nfirm_00,ndr,2024,2000000,100\n`));
              controller.error(new TypeError("Network connection lost."));
            },
          }),
        ),
    );
    const message = await refreshMessage(id);
    const result = await harness.deliver(QUEUES.ingest, [message]);
    expect(result.retryMessages).toEqual([{ msgId: expect.any(String) }]);
    expect((await run(message.runId)).error).toBe(
      "attempt 1 failed: network: the connection failed; retrying in 30 s",
    );
    expect((await source(id)).lastError).toBe("network: the connection failed");
    expect(await count("observations", id)).toBe(0);
    expect(await stagedChunkCount()).toBe(0);
  });

  it("fails garbage without retrying: a CSV of nonsense and a JSON that does not parse", async () => {
    const csvFeed = await panelSource();
    feeds.set(csvFeed.url, ok("<html><body>Service Unavailable</body></html>\n\u0000\u0001\u0002"));
    const csvMessage = await refreshMessage(csvFeed.id);
    const csvResult = await harness.deliver(QUEUES.ingest, [csvMessage]);
    expect(csvResult.retryMessages).toEqual([]);
    expect(await run(csvMessage.runId)).toMatchObject({
      status: "failed",
      received: 1,
      accepted: 0,
      rejected: 1,
      error: "every row was rejected",
    });

    const jsonFeed = await panelSource({ format: "json" });
    feeds.set(jsonFeed.url, ok('[{"company": "firm_00", "metric": "ndr"'));
    const jsonMessage = await refreshMessage(jsonFeed.id);
    const jsonResult = await harness.deliver(QUEUES.ingest, [jsonMessage]);
    expect(jsonResult.retryMessages).toEqual([]);
    const failed = await run(jsonMessage.runId);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatch(/^body: not valid JSON/);
    for (const { id } of [csvFeed, jsonFeed]) {
      expect(await source(id)).toMatchObject({ consecutiveFailures: 1, lastUpdated: null });
      expect(await count("observations", id)).toBe(0);
    }
  });

  it("streams a 30 MiB file, and refuses one past 50 MiB without reading it all", async () => {
    const { id, url } = await panelSource();
    const padding = "x".repeat(1530);
    const rows = 20_000;
    const encoder = new TextEncoder();
    /** Rows made as the consumer pulls them, each padded by a column the mapping ignores. */
    const streamed = (total: number, pulled: { rows: number }) =>
      new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(encoder.encode(`${HEADER},notes\n`));
          },
          pull(controller) {
            const lines: string[] = [];
            for (let i = 0; i < 100 && pulled.rows < total; i++, pulled.rows++) {
              const value = 80 + (pulled.rows % 40);
              lines.push(`co_${String(pulled.rows).padStart(6, "0")},ndr,2024,2000000,${value},${padding}\n`);
            }
            if (lines.length === 0) controller.close();
            else controller.enqueue(encoder.encode(lines.join("")));
          },
        }),
      );
    const big = { rows: 0 };
    feeds.set(url, () => streamed(rows, big));
    const message = await refreshMessage(id);
    await harness.deliver(QUEUES.ingest, [message]);
    expect(await run(message.runId)).toMatchObject({
      status: "recomputing",
      received: rows,
      accepted: rows,
      rejected: 0,
      changedCells: 1,
    });
    expect(await count("observations", id)).toBe(rows);

    const huge = { rows: 0 };
    feeds.set(url, () => streamed(60_000, huge));
    const tooLarge = await refreshMessage(id);
    const result = await harness.deliver(QUEUES.ingest, [tooLarge]);
    expect(result.retryMessages).toEqual([]);
    expect(await run(tooLarge.runId)).toMatchObject({
      status: "failed",
      error: "The body exceeds 52428800 bytes.",
    });
    // Reading stopped at the limit: about 50 MiB of the 90 MiB were ever made.
    expect(huge.rows).toBeLessThan(34_000);
    expect(await count("observations", id)).toBe(rows);
  });
});

describe("what follows the swap", () => {
  it("cannot fail a loaded run: a recompute that was never queued is sent again by the cron", async () => {
    const { id, url } = await panelSource();
    feeds.set(url, ok(csvOf(NDR)));
    const message = await refreshMessage(id);
    const brokenQueue = new Harness({ FETCH_TIMEOUT_SECONDS: "0.05" });
    vi.spyOn(brokenQueue.recompute, "sendBatch").mockRejectedValue(new Error("queue down"));
    const result = await brokenQueue.deliver(QUEUES.ingest, [message]);
    expect(result.explicitAcks).toHaveLength(1);
    const loaded = await run(message.runId);
    expect(loaded).toMatchObject({
      status: "recomputing",
      accepted: 12,
      changedCells: 1,
      recomputedCells: 0,
    });
    expect(await count("observations", id)).toBe(12);
    expect(await count("summaries", id)).toBe(0);

    // A lease (60 s) on, the cron finds the cell still owed and sends it again, once per lease
    // (with those of earlier tests' runs, whose recomputes these tests never delivered).
    const finishedAt = Date.parse((loaded as unknown as { finishedAt: string }).finishedAt);
    const cell = { metricKey: "ndr", bandKey: "1M-5M", period: "2024" };
    await harness.tick(finishedAt + 30_000);
    expect(harness.recompute.take()).not.toContainEqual(cell);
    await harness.tick(finishedAt + 61_000);
    const resent = harness.recompute.take();
    expect(
      resent.filter((sent) => sent.metricKey === "ndr" && sent.period === "2024" && sent.bandKey === "1M-5M"),
    ).toEqual([cell]);
    await harness.tick(finishedAt + 90_000);
    expect(harness.recompute.take()).not.toContainEqual(cell);
    await harness.deliver(QUEUES.recompute, [cell]);
    expect(await count("summaries", id)).toBe(1);
    expect(await run(message.runId)).toMatchObject({ status: "succeeded", recomputedCells: 1 });
  });
});

describe("two deliveries of one message", () => {
  it("let only one claim the run", async () => {
    const { id, url } = await panelSource();
    feeds.set(url, ok(csvOf(NDR)));
    const message = await refreshMessage(id);
    // Another delivery of this same message holds the run, its lease running.
    await env.DB.prepare("UPDATE ingestion_runs SET status = 'running', attempts = 1 WHERE id = ?")
      .bind(message.runId)
      .run();
    const duplicate = await harness.deliver(QUEUES.ingest, [message], 1);
    expect(duplicate.explicitAcks).toHaveLength(1);
    // A redelivery too leaves it to its holder while the lease runs; the cron takes it over after.
    const redelivery = await harness.deliver(QUEUES.ingest, [message], 2);
    expect(redelivery.explicitAcks).toHaveLength(1);
    expect(await run(message.runId)).toMatchObject({ status: "running", attempts: 1, received: 0 });
    expect(await count("observations", id)).toBe(0);
  });
});

describe("files that cannot be read", () => {
  it("fail the run with a 400 for a quote that never closes and for an empty file", async () => {
    const { id } = await panelSource();
    const upload = (body: string) =>
      harness.fetch(`/api/v1/sources/${id}/uploads`, {
        method: "POST",
        headers: { "Content-Type": "text/csv" },
        body,
      });
    const unclosed = await upload(`${HEADER}\nfirm_00,ndr,2024,2000000,"101\nfirm_01,ndr,2024,2000000,102\n`);
    expect(unclosed.status).toBe(400);
    expect(await unclosed.json()).toMatchObject({
      errors: [{ field: "body", message: "the quoted field opened on line 2 is never closed" }],
    });
    const empty = await upload(`${HEADER}\n`);
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({
      errors: [{ field: "body", message: "the file has no rows" }],
    });
    const { runs } = await json<{ runs: Run[] }>(`/api/v1/ingestion/runs?sourceId=${id}`);
    expect(runs.map((r) => [r.status, r.error])).toEqual([
      ["failed", "body: the file has no rows"],
      ["failed", "body: the quoted field opened on line 2 is never closed"],
    ]);
    expect(await count("observations", id)).toBe(0);
    expect((await json<{ lastRunId: string | null }>(`/api/v1/sources/${id}`)).lastRunId).toBeNull();
  });
});

describe("the circuit breaker", () => {
  it("opens after 5 failures, skips the source for the cooldown, and closes on a good trial", async () => {
    const { id, url } = await panelSource({ interval: 15 });
    feeds.set(url, () => new Response("down", { status: 503 }));
    const message = await refreshMessage(id);
    for (let attempt = 1; attempt <= 4; attempt++) {
      const result = await harness.deliver(QUEUES.ingest, [message], attempt);
      expect(result.retryMessages).toHaveLength(1);
    }
    const fifth = await harness.deliver(QUEUES.ingest, [message], 5);
    // The failure that opens the circuit ends the run instead of retrying it.
    expect(fifth.retryMessages).toEqual([]);
    expect(await run(message.runId)).toMatchObject({
      status: "failed",
      error: "http_5xx: the source answered with a server error status; circuit opened after 5 failures",
    });
    const opened = await source(id);
    expect(opened).toMatchObject({ circuitState: "open", consecutiveFailures: 5 });
    const openedAt = Date.parse(opened.circuitOpenedAt!);
    expect(opened.nextTrialAt).toBe(new Date(openedAt + HOUR).toISOString());

    // A manual refresh is refused while the circuit is open.
    const refused = await harness.fetch(`/api/v1/sources/${id}/refresh`, { method: "POST" });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ type: "/problems/circuit-open" });

    // The scheduler skips it until the cooldown has passed, then sends exactly one trial.
    const mine = () => harness.ingest.take().filter((m) => m.sourceId === id);
    await harness.tick(openedAt + 30 * 60_000);
    expect(mine()).toEqual([]);
    await harness.tick(openedAt + HOUR);
    const [trial] = mine();
    expect(trial?.sourceId).toBe(id);
    expect((await source(id)).circuitState).toBe("half_open");
    // The trial's message, not delivered within a lease, is handed over: the same run, no second trial.
    await harness.tick(openedAt + HOUR + 16 * 60_000);
    expect(mine()).toEqual([trial]);

    feeds.set(url, ok(csvOf(NDR)));
    await harness.deliver(QUEUES.ingest, [trial]);
    expect(await run(trial!.runId)).toMatchObject({ status: "recomputing", accepted: 12 });
    expect(await source(id)).toMatchObject({
      circuitState: "closed",
      consecutiveFailures: 0,
      nextTrialAt: null,
    });
  });

  it("opens again at once when the half-open trial fails", async () => {
    const { id, url } = await panelSource({ interval: 15 });
    await env.DB.prepare(
      "UPDATE sources SET circuit_state = 'open', consecutive_failures = 5, circuit_opened_at = ? WHERE id = ?",
    )
      .bind("2026-11-29T00:00:00.000Z", id)
      .run();
    await harness.tick(Date.parse("2026-11-29T01:00:00.000Z"));
    const [trial] = harness.ingest.take().filter((m) => m.sourceId === id);
    feeds.set(url, () => new Response("still down", { status: 502 }));
    const result = await harness.deliver(QUEUES.ingest, [trial]);
    expect(result.retryMessages).toEqual([]);
    const reopened = await source(id);
    expect(reopened).toMatchObject({ circuitState: "open", consecutiveFailures: 6 });
    expect(Date.parse(reopened.circuitOpenedAt!)).toBeGreaterThan(Date.parse("2026-11-29T01:00:00.000Z"));
  });
});

describe("poison messages and the dead-letter queue", () => {
  it("retries a message it cannot read, so the queue dead-letters it after its attempts", async () => {
    const result = await harness.deliver(QUEUES.ingest, [{ nonsense: true }], 3);
    expect(result.retryMessages).toEqual([{ msgId: expect.any(String) }]);
    expect(result.explicitAcks).toEqual([]);
    const recompute = await harness.deliver(QUEUES.recompute, ["not a cell", { metricKey: "ndr" }]);
    expect(recompute.retryMessages).toHaveLength(2);
  });

  it("keeps each dead letter once and fails the run it carried", async () => {
    const { id, url } = await panelSource();
    feeds.set(url, () => new Response("down", { status: 500 }));
    const message = await refreshMessage(id);
    await harness.deliver(QUEUES.ingest, [message], 1);
    const dead = await harness.deliver(QUEUES.ingestDeadLetters, [message, { nonsense: true }], 5);
    expect(dead.explicitAcks).toHaveLength(2);
    expect(await run(message.runId)).toMatchObject({
      status: "failed",
      error:
        "gave up after 5 attempts; last: attempt 1 failed: http_5xx: the source answered with a server error status; retrying in 30 s",
    });
    const { deadLetters } = await json<{ deadLetters: { queue: string; body: unknown; attempts: number }[] }>(
      "/api/v1/ingestion/dead-letters",
    );
    expect(deadLetters.map(({ queue, body, attempts }) => ({ queue, body, attempts }))).toEqual(
      expect.arrayContaining([
        { queue: QUEUES.ingest, body: message, attempts: 5 },
        { queue: QUEUES.ingest, body: { nonsense: true }, attempts: 5 },
      ]),
    );
    expect(deadLetters).toHaveLength(2);
  });
});

describe("changing a source's url", () => {
  it("makes it due at once and starts it with a closed circuit", async () => {
    const { id } = await panelSource({ interval: 60 });
    await env.DB.prepare(
      `UPDATE sources SET circuit_state = 'open', consecutive_failures = 7, circuit_opened_at = ?,
         next_refresh_at = ? WHERE id = ?`,
    )
      .bind("2026-11-29T00:00:00.000Z", "2026-11-29T05:00:00.000Z", id)
      .run();
    const response = await harness.fetch(`/api/v1/sources/${id}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ url: "https://feeds.example.test/moved.csv" }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      url: "https://feeds.example.test/moved.csv",
      circuitState: "closed",
      consecutiveFailures: 0,
      circuitOpenedAt: null,
      nextTrialAt: null,
      nextRefreshAt: null,
    });
  });
});

describe("POST /api/v1/sources/:id/refresh", () => {
  it("answers 404, and 422 for a source without a url or a paused one", async () => {
    expect((await harness.fetch("/api/v1/sources/nope/refresh", { method: "POST" })).status).toBe(404);
    const { id } = await panelSource();
    await harness.fetch(`/api/v1/sources/${id}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ url: null }),
    });
    const noUrl = await harness.fetch(`/api/v1/sources/${id}/refresh`, { method: "POST" });
    expect(noUrl.status).toBe(422);
    expect(await noUrl.json()).toMatchObject({ type: "/problems/source-has-no-url" });
    const paused = await panelSource();
    await harness.fetch(`/api/v1/sources/${paused.id}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ active: false }),
    });
    const refused = await harness.fetch(`/api/v1/sources/${paused.id}/refresh`, { method: "POST" });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({ type: "/problems/source-paused" });
    expect(harness.ingest.take()).toEqual([]);
  });
});
