import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { QUEUES } from "../../src/ingest/messages";
import { tokenFor } from "../helpers/auth";
import { Harness, registerPanel, unreachableD1 } from "../helpers/jobs";
import { TEST_SOURCES } from "../helpers/sample-cells";
import { seed } from "../helpers/seed";

const harness = new Harness();
let lines: string[] = [];
/** Lines written with a console method other than their level's: Workers Logs files a line by its method. */
let misfiled: string[] = [];

beforeAll(async () => {
  await seed({ sources: TEST_SOURCES });
  Object.assign(harness.env, { REQUEST_LOGS: "on" });
  for (const method of ["log", "info", "warn"] as const) {
    vi.spyOn(console, method).mockImplementation((line: unknown) => {
      lines.push(String(line));
      if ((JSON.parse(String(line)) as Record<string, unknown>)["log.level"] !== method) {
        misfiled.push(`console.${method}: ${String(line)}`);
      }
    });
  }
});
afterEach(() => {
  expect(misfiled).toEqual([]);
  lines = [];
  misfiled = [];
});

describe("GET /ready", () => {
  it("answers anyone 200 when D1 and KV answer, naming no source", async () => {
    for (const init of [undefined, { headers: { Authorization: `Bearer ${await tokenFor("analyst")}` } }]) {
      const response = await harness.fetchAnonymously("/ready", init);
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown>;
      expect(Object.keys(body)).toEqual(["status", "checks", "recompute"]);
      expect(body).toMatchObject({
        status: "ready",
        checks: { d1: { ok: true }, kv: { ok: true } },
        recompute: { pendingCells: 0, oldestPendingSeconds: null },
      });
    }
    // A token that does not verify is no reason to fail a probe: it gets the public answer.
    const forged = await harness.fetchAnonymously("/ready", {
      headers: { Authorization: "Bearer not.a.token" },
    });
    expect([forged.status, Object.keys((await forged.json()) as object)]).toEqual([
      200,
      ["status", "checks", "recompute"],
    ]);
  });

  it("answers an admin with each source's freshness", async () => {
    const response = await harness.fetchAnonymously("/ready", {
      headers: { Authorization: `Bearer ${await tokenFor("admin")}` },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      status: string;
      checks: { d1: { ok: boolean }; kv: { ok: boolean } };
      sources: { id: string; lastUpdated: string | null; ageSeconds: number | null }[];
    };
    expect(body.status).toBe("ready");
    expect(body.checks.d1.ok).toBe(true);
    expect(body.checks.kv.ok).toBe(true);
    expect(body.sources.map((s) => [s.id, s.lastUpdated])).toEqual(
      TEST_SOURCES.map((s) => [s.id, s.lastUpdated ?? null]).sort(),
    );
    const gamma = body.sources.find((s) => s.id === "gamma")!;
    expect(gamma.ageSeconds).toBe(Math.floor((Date.now() - Date.parse("2026-03-01T00:00:00.000Z")) / 1000));
  });

  it("answers 503 naming the dependency that is down", async () => {
    const broken = new Harness();
    Object.assign(broken.env, { DB: unreachableD1() });
    const response = await broken.fetchAnonymously("/ready");
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      status: "unavailable",
      reasons: ["D1 did not answer"],
      checks: {
        d1: { ok: false, latencyMs: expect.any(Number), error: "unreachable" },
        kv: { ok: true, latencyMs: expect.any(Number) },
      },
    });
    // The kind of failure only, never the driver's message.
    expect(JSON.stringify(await (await broken.fetchAnonymously("/ready")).json())).not.toContain(
      "no such database",
    );
  });
});

describe("request logs", () => {
  it("write one ECS JSON line per request, with the route template and a hashed caller", async () => {
    const token = await tokenFor("viewer");
    const response = await harness.fetchAnonymously("/api/v1/sources/gamma/rejections?limit=5", {
      headers: { Authorization: `Bearer ${await tokenFor("admin")}` },
    });
    expect(response.status).toBe(200);
    await harness.fetchAnonymously("/api/v1/metrics", { headers: { Authorization: `Bearer ${token}` } });
    expect(lines).toHaveLength(2);
    const [first, second] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(Object.keys(first!).sort()).toEqual(
      [
        "@timestamp",
        "event.duration",
        "http.request.id",
        "http.request.method",
        "http.response.status_code",
        "log.level",
        "message",
        "span.id",
        "trace.id",
        "url.path",
        "user.hash",
      ].sort(),
    );
    expect(first).toMatchObject({
      "log.level": "info",
      message: "GET /api/v1/sources/:id/rejections 200",
      "http.request.method": "GET",
      "http.response.status_code": 200,
      "url.path": "/api/v1/sources/:id/rejections",
    });
    expect(second).toMatchObject({ "url.path": "/api/v1/metrics", "cache.result": "miss" });
    expect(first!["user.hash"]).toMatch(/^[0-9a-f]{16}$/);
    expect(first!["user.hash"]).not.toBe(second!["user.hash"]);
    // Neither the token, the subject nor the raw path's id is in the line.
    const text = lines.join("\n");
    for (const secret of [token, "test-viewer", "test-admin", "gamma", "limit=5"])
      expect(text).not.toContain(secret);
  });

  it("honour the caller's traceparent and send the trace id back", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const response = await harness.fetchAnonymously("/health", {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    const sent = response.headers.get("traceparent")!;
    expect(sent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(sent).not.toContain("00f067aa0ba902b7");
    expect(JSON.parse(lines[0]!)).toMatchObject({ "trace.id": traceId, "span.id": sent.split("-")[2] });
    // A malformed one starts a new trace.
    const fresh = await harness.fetchAnonymously("/health", { headers: { traceparent: "garbage" } });
    expect(fresh.headers.get("traceparent")).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(fresh.headers.get("traceparent")).not.toContain(traceId);
  });
});

describe("ingestion logs", () => {
  it("write one line per run and one per circuit change, with counts and no company value", async () => {
    const created = await registerPanel(harness, {
      id: "logged-panel",
      name: "Logged Panel",
      url: "https://feeds.example.test/logged.csv",
    });
    expect(created.status).toBe(201);
    const upload = await harness.fetch("/api/v1/sources/logged-panel/uploads", {
      method: "POST",
      headers: { "Content-Type": "text/csv" },
      body: "c,m,p,a,v\nlogged_1,ndr,2024,2000000,104.25\nlogged_2,ndr,2024,2000000,x\n",
    });
    const run = (await upload.json()) as { id: string };
    const events = () =>
      lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((e) => e["event.dataset"]);
    expect(events()).toEqual([
      {
        "@timestamp": expect.any(String),
        "log.level": "info",
        message: "ingestion run finished",
        "event.dataset": "ingestion.run",
        "event.outcome": "success",
        "labels.source": "logged-panel",
        "labels.run_id": run.id,
        "labels.status": "partially_succeeded",
        "labels.received": 2,
        "labels.accepted": 1,
        "labels.rejected": 1,
        "labels.unchanged": 0,
        "labels.changed_cells": 1,
      },
    ]);
    expect(lines.join("\n")).not.toContain("104.25");
    expect(lines.join("\n")).not.toContain("logged_1");

    lines = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response("down", { status: 503 }));
    const refresh = await harness.fetch("/api/v1/sources/logged-panel/refresh", { method: "POST" });
    expect(refresh.status).toBe(202);
    const message = harness.ingest.take();
    for (let attempt = 1; attempt <= 5; attempt++) await harness.deliver(QUEUES.ingest, message, attempt);
    expect(events().filter((e) => e["event.dataset"] === "ingestion.circuit")).toEqual([
      {
        "@timestamp": expect.any(String),
        "log.level": "warn",
        message: "circuit closed -> open",
        "event.dataset": "ingestion.circuit",
        "labels.source": "logged-panel",
        "labels.from": "closed",
        "labels.to": "open",
        "labels.consecutive_failures": 5,
      },
    ]);
  });
});
