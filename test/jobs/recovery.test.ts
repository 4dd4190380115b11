import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { insertRunUnlessBusy, leaseOwnerOf } from "../../src/db/runs";
import { stageUnderLease } from "../../src/db/staging";
import { QUEUES } from "../../src/ingest/messages";
import { Harness, registerPanel, stagedChunkCount } from "../helpers/jobs";
import { scrape, series } from "../helpers/metrics";
import { clearMemoryCache, db } from "../helpers/seed";

/*
 * What a crash leaves and how the service finds its way back: the recompute owed after a swap
 * (visible, answered truthfully, resent), and runs in flight whose holder died (leases).
 */

const harness = new Harness({ RECOMPUTE_DEGRADED_AFTER_SECONDS: "600" });
beforeEach(() => {
  clearMemoryCache();
  harness.ingest.take();
  harness.recompute.take();
});

const LEASE_MS = 60_000;
/** Type-7 quantiles of 100…111, as numpy.quantile gives them. */
const QUANTILES_100_TO_111 = { n: 12, p10: 101.1, p25: 102.75, p50: 105.5, p75: 108.25, p90: 109.9 };

let counter = 0;
/** A fresh panel source, so tests do not share cells. */
async function panel(): Promise<string> {
  const id = `recovery-${++counter}`;
  expect((await registerPanel(harness, { id, name: `Recovery ${counter}` })).status).toBe(201);
  return id;
}

/** Twelve companies of `metric` in the 1M–5M band for each period, valued `first`, `first + 1`, … */
const panelCsv = (metric: string, periods: string[], first = 100) =>
  [
    "c,m,p,a,v",
    ...periods.flatMap((period) =>
      Array.from({ length: 12 }, (_, i) => `co_${i},${metric},${period},2000000,${first + i}`),
    ),
  ].join("\n");

interface Run {
  id: string;
  status: string;
  changedCells: number;
  recomputedCells: number;
  error: string | null;
}

async function upload(sourceId: string, csv: string): Promise<Run> {
  const response = await harness.fetch(`/api/v1/sources/${sourceId}/uploads`, {
    method: "POST",
    headers: { "Content-Type": "text/csv" },
    body: csv,
  });
  expect(response.status).toBe(201);
  return (await response.json()) as Run;
}

const run = async (id: string) => (await (await harness.fetch(`/api/v1/ingestion/runs/${id}`)).json()) as Run;
const get = (path: string) => harness.fetch(path);
const readiness = async () => (await (await get("/ready")).json()) as Record<string, unknown>;
const dataVersion = async () =>
  (await env.DB.prepare("SELECT value FROM meta WHERE key = 'data_version'").first<string>("value")) ?? "0";
const band = (metric: string, period: string) =>
  `/api/v1/benchmarks?metric=${metric}&revenueRange=1M-5M&period=${period}`;
/** GetBenchmarkData over Connect, in JSON. */
const rpcBenchmark = (request: object) =>
  harness.fetch("/benchmark.v1.BenchmarkService/GetBenchmarkData", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(request),
  });
const peers = (metric: string, period: string) =>
  `/api/v1/benchmarks?metric=${metric}&arrMin=1000000&arrMax=5000000&period=${period}`;

describe("a load whose recompute was lost after its swap", () => {
  it("shows as pending, answers recompute-pending instead of 404, and recovers at the next cron tick", async () => {
    const id = await panel();
    const loaded = await upload(id, panelCsv("burn_multiple", ["2019", "2020"], 1));
    // The recompute messages are lost, as with a server killed right after the swap.
    expect(harness.recompute.take()).toHaveLength(2);
    expect(loaded).toMatchObject({ status: "recomputing", changedCells: 2, recomputedCells: 0 });

    const ready = await readiness();
    expect(ready).toMatchObject({ status: "ready", recompute: { pendingCells: 2 } });
    expect((ready.recompute as { oldestPendingSeconds: number }).oldestPendingSeconds).toBeLessThan(5);
    const metrics = await scrape(harness);
    expect(metrics.get(series("recompute_pending_cells"))).toBe(2);

    const latest = "/api/v1/benchmarks?metric=burn_multiple&revenueRange=1M-5M";
    for (const path of [band("burn_multiple", "2020"), peers("burn_multiple", "2020"), latest]) {
      const response = await get(path);
      expect(response.status, path).toBe(503);
      expect(response.headers.get("Retry-After")).toBe("5");
      expect(response.headers.get("Content-Type")).toBe("application/problem+json");
      expect(((await response.json()) as { type: string }).type).toBe("/problems/recompute-pending");
    }
    // Over RPC, the same answer is Connect's unavailable.
    const rpc = await rpcBenchmark({ metric: "burn_multiple", revenueRange: "1M-5M", period: "2020" });
    expect(rpc.status).toBe(503);
    expect(await rpc.json()).toMatchObject({ code: "unavailable" });
    // Data that does not exist is still "no data".
    expect((await get(band("burn_multiple", "2018"))).status).toBe(404);

    // Within a lease the cron leaves the cells to the messages already sent; after it, resends them once.
    const finishedAt = Date.now();
    await harness.tick(finishedAt + LEASE_MS / 2);
    expect(harness.recompute.take()).toEqual([]);
    await harness.tick(finishedAt + LEASE_MS + 1000);
    const resent = harness.recompute.take();
    expect(resent).toEqual(
      expect.arrayContaining([
        { metricKey: "burn_multiple", bandKey: "1M-5M", period: "2019" },
        { metricKey: "burn_multiple", bandKey: "1M-5M", period: "2020" },
      ]),
    );
    expect(resent).toHaveLength(2);
    await harness.tick(finishedAt + LEASE_MS + 2000);
    expect(harness.recompute.take()).toEqual([]);
    await harness.deliver(QUEUES.recompute, resent);

    const response = await get(band("burn_multiple", "2020"));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { pooled: Record<string, number>; stale?: boolean };
    expect(body.pooled).toMatchObject({ n: 12, p10: 2.1, p25: 3.75, p50: 6.5, p75: 9.25, p90: 10.9 });
    expect(body.stale).toBeUndefined();
    expect((await get(peers("burn_multiple", "2020"))).status).toBe(200);
    expect(await run(loaded.id)).toMatchObject({ status: "succeeded", recomputedCells: 2 });
    expect(await readiness()).toMatchObject({
      status: "ready",
      recompute: { pendingCells: 0, oldestPendingSeconds: null },
    });
  });

  it("turns readiness to degraded, still 200, once the oldest owed cell passes the configured age", async () => {
    const id = await panel();
    await upload(id, panelCsv("cac_payback", ["2019"], 10));
    harness.recompute.take();
    await env.DB.prepare("UPDATE pending_cells SET since = ? WHERE metric_key = 'cac_payback'")
      .bind(new Date(Date.now() - 700_000).toISOString())
      .run();
    const response = await get("/ready");
    expect(response.status).toBe(200);
    const ready = (await response.json()) as { status: string; reasons: string[]; recompute: object };
    expect(ready.status).toBe("degraded");
    expect(ready.reasons).toEqual([
      expect.stringMatching(/^1 cells have waited up to 7\d\d s for a recompute \(more than 600 s\)$/),
    ]);
    await harness.deliver(QUEUES.recompute, [{ metricKey: "cac_payback", bandKey: "1M-5M", period: "2019" }]);
    expect(await readiness()).toMatchObject({ status: "ready", recompute: { pendingCells: 0 } });
  });
});

describe("a cell whose earlier summary exists", () => {
  it("is served as it was, marked stale with the data version it was current for, until rebuilt", async () => {
    const id = await panel();
    await upload(id, panelCsv("ndr", ["2019"], 100));
    await harness.drainRecompute();
    clearMemoryCache();
    const before = await (await get(band("ndr", "2019"))).json();
    expect(before).toMatchObject({ pooled: QUANTILES_100_TO_111 });
    expect((await get(peers("ndr", "2019"))).status).toBe(200);
    const versionBefore = await dataVersion();

    // Every value up by 50: the swap is in, the recompute not yet.
    await upload(id, panelCsv("ndr", ["2019"], 150));
    const sent = harness.recompute.take();
    clearMemoryCache();
    const stale = (await (await get(band("ndr", "2019"))).json()) as Record<string, unknown>;
    expect(stale).toMatchObject({ pooled: QUANTILES_100_TO_111, stale: true, dataVersion: versionBefore });
    // The peer group's last answer from whole data, with the version it was computed for.
    const stalePeers = (await (await get(peers("ndr", "2019"))).json()) as Record<string, unknown>;
    expect(stalePeers).toMatchObject({ pooled: { p50: 105.5 }, stale: true, dataVersion: versionBefore });
    const ranking = await harness.fetch("/api/v1/benchmarks/ranking", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ metric: "ndr", revenueRange: "1M-5M", period: "2019", value: 105.5 }),
    });
    expect(await ranking.json()).toMatchObject({ stale: true, dataVersion: versionBefore });
    const rpc = await rpcBenchmark({ metric: "ndr", revenueRange: "1M-5M", period: "2019" });
    expect(await rpc.json()).toMatchObject({
      pooled: { p50: 105.5 },
      stale: true,
      dataVersion: versionBefore,
    });

    await harness.deliver(QUEUES.recompute, sent);
    clearMemoryCache();
    const fresh = (await (await get(band("ndr", "2019"))).json()) as Record<string, unknown>;
    expect(fresh.pooled).toMatchObject({ n: 12, p10: 151.1, p50: 155.5, p90: 159.9 });
    expect(fresh.stale).toBeUndefined();
    expect(fresh.dataVersion).toBeUndefined();
    expect(await (await get(peers("ndr", "2019"))).json()).toMatchObject({ pooled: { p50: 155.5 } });
  });
});

describe("the data version", () => {
  it("moves with a load and with each rebuilt cell, never for a redelivered recompute", async () => {
    const id = await panel();
    const v0 = Number(await dataVersion());
    await upload(id, panelCsv("gross_margin", ["2019"], 40));
    const v1 = Number(await dataVersion());
    expect(v1).toBe(v0 + 1);
    const cells = harness.recompute.take();
    await harness.deliver(QUEUES.recompute, cells);
    expect(Number(await dataVersion())).toBe(v1 + 1);
    // The same message again, as a queue may redeliver it: the cell owes nothing, nothing moves.
    await harness.deliver(QUEUES.recompute, cells);
    expect(Number(await dataVersion())).toBe(v1 + 1);
  });
});

describe("a run whose holder died", () => {
  /** A run in flight as a killed process leaves it: its lease `ageMs` past expiry, one chunk staged. */
  async function abandonedRun(sourceId: string, trigger: "upload" | "refresh", expiredMsAgo = 1000) {
    const runId = crypto.randomUUID();
    expect(
      await insertRunUnlessBusy(db, {
        id: runId,
        sourceId,
        trigger,
        status: "running",
        attempts: 1,
        leaseOwner: "dead-attempt",
        leaseExpiresAt: new Date(Date.now() - expiredMsAgo).toISOString(),
      }),
    ).toBe(true);
    await env.DB.prepare("INSERT INTO staged_chunks (run_id, seq, rows) VALUES (?, 0, '[]')")
      .bind(runId)
      .run();
    return runId;
  }

  it("is handed over exactly once however many sweeps run at once: a fetch is queued again", async () => {
    const id = await panel();
    const runId = await abandonedRun(id, "refresh");
    await Promise.all([harness.tick(Date.now()), harness.tick(Date.now()), harness.tick(Date.now())]);
    expect(harness.ingest.take()).toEqual([{ runId, sourceId: id }]);
    const row = await env.DB.prepare("SELECT status, handovers, lease_owner FROM ingestion_runs WHERE id = ?")
      .bind(runId)
      .first();
    expect(row).toEqual({ status: "queued", handovers: 1, lease_owner: null });
    // Its new lease is running: the next sweep leaves it alone.
    await harness.tick(Date.now());
    expect(harness.ingest.take()).toEqual([]);
  });

  it("ends an upload as interrupted, dropping what it staged, once", async () => {
    const id = await panel();
    const runId = await abandonedRun(id, "upload");
    await Promise.all([harness.tick(Date.now()), harness.tick(Date.now())]);
    expect(await run(runId)).toMatchObject({
      status: "interrupted",
      error: "interrupted: the upload stopped before its swap; nothing of it was kept",
    });
    expect(await stagedChunkCount(runId)).toBe(0);
    expect(harness.ingest.take()).toEqual([]);
  });

  it("gives a fetch up as interrupted after three handovers", async () => {
    const id = await panel();
    const runId = await abandonedRun(id, "refresh");
    await env.DB.prepare("UPDATE ingestion_runs SET handovers = 3 WHERE id = ?").bind(runId).run();
    await harness.tick(Date.now());
    expect(harness.ingest.take()).toEqual([]);
    expect(await run(runId)).toMatchObject({ status: "interrupted", error: "interrupted 4 times; given up" });
  });

  it("keeps a new upload waiting while its lease runs, then lets the upload take the source over", async () => {
    const id = await panel();
    const runId = await abandonedRun(id, "upload", -30_000);
    const refused = await harness.fetch(`/api/v1/sources/${id}/uploads`, {
      method: "POST",
      headers: { "Content-Type": "text/csv" },
      body: panelCsv("ndr", ["2018"]),
    });
    expect(refused.status).toBe(409);
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThanOrEqual(29);
    expect(Number(refused.headers.get("Retry-After"))).toBeLessThanOrEqual(30);
    expect(await refused.json()).toMatchObject({ type: "/problems/run-in-progress" });

    await env.DB.prepare("UPDATE ingestion_runs SET lease_expires_at = ? WHERE id = ?")
      .bind(new Date(Date.now() - 1).toISOString(), runId)
      .run();
    expect(await upload(id, panelCsv("ndr", ["2018"]))).toMatchObject({ status: "recomputing" });
    expect(await run(runId)).toMatchObject({ status: "interrupted" });
  });

  it("cannot write once it has lost its lease: its staging is refused and the run left to the new holder", async () => {
    const id = await panel();
    const runId = await abandonedRun(id, "refresh", -LEASE_MS);
    const stale = { runId, owner: "dead-attempt", expiresAt: new Date(Date.now() + LEASE_MS).toISOString() };
    await stageUnderLease(db, stale, { chunk: { seq: 1, rows: [{}] } });
    expect(await stagedChunkCount(runId)).toBe(2);
    // Another attempt takes the run over.
    await env.DB.prepare("UPDATE ingestion_runs SET lease_owner = 'new-attempt' WHERE id = ?")
      .bind(runId)
      .run();
    await expect(stageUnderLease(db, stale, { chunk: { seq: 2, rows: [{}] } })).rejects.toThrow(
      /NOT NULL constraint failed: ingestion_runs.status/,
    );
    expect(await stagedChunkCount(runId)).toBe(2);
    expect(await leaseOwnerOf(db, runId)).toBe("new-attempt");
    expect(await run(runId)).toMatchObject({ status: "running" });
  });
});
