import { env } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { type Env, loadConfig } from "../../src/env";
import { QUEUES } from "../../src/ingest/messages";
import { randomHex } from "../../src/observability/tracing/span";
import { tokenFor } from "../helpers/auth";
import { Harness } from "../helpers/jobs";
import { TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { clearMemoryCache, oweCells, seed } from "../helpers/seed";

const COLLECTOR = "http://collector.test:4318";
const CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
/** A company's own value: it must reach no span. */
const OWN_VALUE = 61.375;

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string; doubleValue?: number; boolValue?: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttribute[];
  status: { code?: number };
}
interface Export {
  url: string;
  headers: Headers;
  body: string;
  spans: OtlpSpan[];
  serviceName: string | undefined;
}

let exports: Export[] = [];

/** A stand-in OTLP/HTTP receiver: takes every POST to the collector, answers 200 as one does. */
beforeAll(async () => {
  await seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES });
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(COLLECTOR)) return realFetch(input, init);
    const body = await request.text();
    const parsed = JSON.parse(body) as {
      resourceSpans: {
        resource: { attributes: OtlpAttribute[] };
        scopeSpans: { spans: OtlpSpan[] }[];
      }[];
    };
    const resource = parsed.resourceSpans[0]!;
    exports.push({
      url: request.url,
      headers: request.headers,
      body,
      spans: resource.scopeSpans.flatMap((scope) => scope.spans),
      serviceName: resource.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue,
    });
    return new Response("{}", { status: 200, headers: { "Content-Type": "application/json" } });
  });
});
afterEach(() => {
  exports = [];
});

const attributesOf = (span: OtlpSpan) =>
  Object.fromEntries(
    span.attributes.map(({ key, value }) => [
      key,
      value.stringValue ?? value.boolValue ?? value.doubleValue ?? Number(value.intValue),
    ]),
  );

const traced = new Harness({
  OTEL_EXPORTER_OTLP_ENDPOINT: COLLECTOR,
  OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Bearer%20collector-key",
});

async function rankingRequest(harness: Harness, traceparent?: string) {
  return harness.fetch("/api/v1/benchmarks/ranking", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(traceparent ? { traceparent } : {}) },
    body: JSON.stringify({ metric: "arr_growth", value: OWN_VALUE, revenueRange: "1M-5M", period: "2024" }),
  });
}

describe("trace and span ids", () => {
  it("are fresh random hex of their length, across refills of the random pool", () => {
    // 4 KiB of random bytes per refill: 3,000 draws of 8 and 16 bytes take about nine.
    const ids = Array.from({ length: 3000 }, (_, i) => randomHex(i % 2 === 0 ? 8 : 16));
    for (const [i, id] of ids.entries())
      expect(id).toMatch(i % 2 === 0 ? /^[0-9a-f]{16}$/ : /^[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // Every byte value turns up: 36,000 uniform bytes miss one of 256 with odds below 1e-58.
    const bytes = new Set(ids.join("").match(/../g));
    expect(bytes.size).toBe(256);
  });
});

describe("OTLP trace export", () => {
  it("exports one request's spans as one OTLP/HTTP JSON request, children under the server span", async () => {
    clearMemoryCache();
    const response = await rankingRequest(traced, `00-${CALLER_TRACE}-${CALLER_SPAN}-01`);
    expect(response.status).toBe(200);
    expect(exports.length).toBe(1);
    const [sent] = exports;
    expect(sent!.url).toBe(`${COLLECTOR}/v1/traces`);
    expect(sent!.headers.get("Authorization")).toBe("Bearer collector-key");
    expect(sent!.headers.get("Content-Type")).toBe("application/json");
    expect(sent!.serviceName).toBe("benchmark-service");

    const spans = sent!.spans;
    const root = spans.find((span) => span.parentSpanId === CALLER_SPAN)!;
    // The caller's trace continues: its span is the parent of ours, and ours goes back to it.
    expect(root.name).toBe("POST /api/v1/benchmarks/ranking");
    expect(root.kind).toBe(2);
    expect(attributesOf(root)).toEqual({
      "http.request.method": "POST",
      "http.route": "/api/v1/benchmarks/ranking",
      "http.response.status_code": 200,
      "http.request.id": expect.any(String),
    });
    expect(response.headers.get("traceparent")).toBe(`00-${CALLER_TRACE}-${root.spanId}-01`);
    expect(spans.every((span) => span.traceId === CALLER_TRACE)).toBe(true);
    expect(new Set(spans.map((span) => span.spanId)).size).toBe(spans.length);

    // Every other span hangs under the server span, directly or through another.
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    for (const span of spans) {
      if (span === root) continue;
      let parent = byId.get(span.parentSpanId!);
      while (parent && parent !== root) parent = byId.get(parent.parentSpanId!);
      expect(parent, `${span.name} is under the server span`).toBe(root);
      expect(BigInt(span.startTimeUnixNano) >= BigInt(root.startTimeUnixNano)).toBe(true);
      // The cache write is deferred past the response (waitUntil): it may end after the request.
      if (span.name !== "KV put") {
        expect(BigInt(span.endTimeUnixNano) <= BigInt(root.endTimeUnixNano)).toBe(true);
      }
    }

    const names = spans.map((span) => span.name);
    expect(names).toContain("rate limit");
    expect(names).toContain("stats pooled percentile");
    expect(names.filter((name) => name.startsWith("KV "))).toContain("KV get");
    // The answer was not cached yet: its deferred write is traced too, under the same request.
    expect(names).toContain("KV put");
    // Every D1 call is a client span: a statement named by its operation and table (this request's
    // reads all go in batches, but a cache miss of the catalogue or the cell may add statements).
    const d1 = spans.filter((span) => attributesOf(span)["cloudflare.d1.method"] !== undefined);
    for (const span of d1) {
      const attributes = attributesOf(span);
      expect(span.kind).toBe(3);
      expect(span.name).toBe(`${attributes["db.operation.name"]} ${attributes["db.collection.name"]}`);
      expect(attributes["db.query.text"]).toMatch(/^(select|insert|update|delete|with) /i);
      if (attributes["cloudflare.d1.method"] === "all") {
        expect(attributes["cloudflare.d1.rows_read"]).toEqual(expect.any(Number));
      }
    }
    // A batch is one span, with its statements' text.
    const batch = spans.find((span) => span.name === "D1 batch");
    expect(batch!.kind).toBe(3);
    expect(attributesOf(batch!)).toMatchObject({
      "db.operation.name": "BATCH",
      "db.operation.batch.size": expect.any(Number),
      "db.query.text": expect.stringMatching(/^select .+; select /i),
    });
    const stats = spans.find((span) => span.name === "stats pooled percentile")!;
    expect(attributesOf(stats)).toEqual({ "stats.sources": expect.any(Number) });
    const rateLimit = spans.find((span) => span.name === "rate limit")!;
    expect(rateLimit.parentSpanId).toBe(root.spanId);
    expect(attributesOf(rateLimit)).toEqual({ "ratelimit.tier": "user" });
  });

  it("carries no token, value, key or secret", async () => {
    const token = await tokenFor("analyst");
    const response = await traced.fetchAnonymously("/api/v1/benchmarks/ranking", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ metric: "arr_growth", value: OWN_VALUE, revenueRange: "1M-5M", period: "2024" }),
    });
    expect(response.status).toBe(200);
    const body = exports.map((sent) => sent.body).join("\n");
    expect(body.length).toBeGreaterThan(0);
    for (const secret of [
      token,
      token.split(".")[2]!,
      String(OWN_VALUE),
      "test-only-company-key-secret",
      "collector-key",
    ]) {
      expect(body).not.toContain(secret);
    }
  });

  it("records nothing for a caller whose trace is not sampled, and still answers its traceparent", async () => {
    const response = await rankingRequest(traced, `00-${CALLER_TRACE}-${CALLER_SPAN}-00`);
    expect(response.status).toBe(200);
    expect(response.headers.get("traceparent")).toMatch(new RegExp(`^00-${CALLER_TRACE}-[0-9a-f]{16}-00$`));
    expect(exports).toEqual([]);
  });

  it("lets a caller lower the sampling, never raise it past TRACE_SAMPLE_RATIO", async () => {
    const unsampled = new Harness({ OTEL_EXPORTER_OTLP_ENDPOINT: COLLECTOR, TRACE_SAMPLE_RATIO: "0" });
    const response = await rankingRequest(unsampled, `00-${CALLER_TRACE}-${CALLER_SPAN}-01`);
    expect(response.status).toBe(200);
    expect(response.headers.get("traceparent")).toMatch(new RegExp(`^00-${CALLER_TRACE}-[0-9a-f]{16}-00$`));
    expect(exports).toEqual([]);
  });

  it("exports nothing without an endpoint", async () => {
    const plain = new Harness();
    expect((await rankingRequest(plain)).status).toBe(200);
    expect(exports).toEqual([]);
  });

  it("traces a queue batch from its consumer span down to the statistics", async () => {
    const cell = { metricKey: "arr_growth", bandKey: "1M-5M", period: "2024" };
    await oweCells("gamma", [cell]);
    await traced.deliver(QUEUES.recompute, [cell]);
    const spans = exports.flatMap((sent) => sent.spans);
    const root = spans.find((span) => span.parentSpanId === undefined)!;
    expect(root.name).toBe(`process ${QUEUES.recompute}`);
    expect(root.kind).toBe(5);
    expect(attributesOf(root)).toEqual({
      "messaging.system": "cloudflare_queues",
      "messaging.destination.name": QUEUES.recompute,
      "messaging.batch.message_count": 1,
    });
    const batch = spans.find((span) => span.name === "D1 batch");
    expect(batch?.parentSpanId).toBe(root.spanId);
    expect(spans.filter((span) => span.parentSpanId === root.spanId).length).toBeGreaterThan(1);
    expect(spans.every((span) => span.traceId === root.traceId)).toBe(true);
  });
});

describe("telemetry configuration", () => {
  const telemetryOf = (vars: Partial<Env>) => loadConfig({ ...env, ...vars } as Env).telemetry;

  it("adds /v1/traces to a bare endpoint, keeps a full one, and decodes the headers", () => {
    expect(telemetryOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318/" }).traces).toEqual({
      url: "http://jaeger:4318/v1/traces",
      headers: {},
      serviceName: "benchmark-service",
    });
    expect(
      telemetryOf({
        OTEL_EXPORTER_OTLP_ENDPOINT: "https://otel.example.com/v1/traces",
        OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=a%3Db, x-tenant = acme",
        OTEL_SERVICE_NAME: "benchmarks-eu",
      }).traces,
    ).toEqual({
      url: "https://otel.example.com/v1/traces",
      headers: { "x-api-key": "a=b", "x-tenant": "acme" },
      serviceName: "benchmarks-eu",
    });
  });

  it("traces nothing without an endpoint, or with an empty one", () => {
    expect(telemetryOf({}).traces).toBeUndefined();
    expect(telemetryOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "" }).traces).toBeUndefined();
    expect(telemetryOf({})).toMatchObject({ metrics: true, flushIntervalMs: 0, traceSampleRatio: 1 });
  });

  it.each([
    { OTEL_EXPORTER_OTLP_ENDPOINT: "jaeger:4318" },
    { OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://jaeger:4318" },
    { OTEL_EXPORTER_OTLP_HEADERS: "no-equals-sign" },
    { OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=%E0%A4%A" },
    { TRACE_SAMPLE_RATIO: "1.5" },
    { METRICS: "maybe" },
    { TELEMETRY_FLUSH_INTERVAL_MS: "60000" },
  ])("refuses %o", (vars) => {
    expect(() => telemetryOf(vars)).toThrow();
  });
});
