import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { COUNTERS, GAUGES, HISTOGRAMS } from "../../src/observability/prometheus/families";
import { MetricsRecorder } from "../../src/observability/prometheus/recorder";
import {
  bucketIndex,
  EXPOSITION_CONTENT_TYPE,
  type MetricsBatch,
  renderExposition,
} from "../../src/observability/prometheus/series";
import { aggregatorOf } from "../../src/observability/telemetry";
import { tokenFor } from "../helpers/auth";
import { Harness, registerPanel, unreachableD1 } from "../helpers/jobs";
import { growth, parseExposition, scrape, series } from "../helpers/metrics";
import { TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { clearMemoryCache, seed } from "../helpers/seed";

const harness = new Harness();
const BENCHMARKS = "/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2024";
const benchmarksOk = series("http_requests_total", {
  route: "/api/v1/benchmarks",
  method: "GET",
  status: "200",
});

beforeAll(() => seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES }));

describe("the exposition format", () => {
  it("writes HELP and TYPE for every family, cumulative buckets, +Inf, _sum and _count", () => {
    const text = renderExposition(
      {
        counters: [
          { name: "http_requests_total", labels: ["/b", "GET", "200"], value: 3 },
          { name: "http_requests_total", labels: ["/a", "POST", "201"], value: 1 },
          { name: "rate_limited_total", labels: ['we"ird\\tier\n'], value: 2 },
        ],
        histograms: [
          {
            name: "http_request_duration_seconds",
            labels: ["/a", "POST"],
            counts: [1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1],
            sum: 14.5,
          },
        ],
      },
      [
        { name: "source_circuit_state", labels: ["s1"], value: 2 },
        { name: "data_age_seconds", labels: ["s1"], value: 86400 },
        { name: "recompute_pending_cells", labels: [], value: 3 },
        { name: "recompute_oldest_pending_seconds", labels: [], value: 42 },
      ],
    );
    const lines = text.split("\n");
    expect(lines.filter((line) => line.startsWith("# TYPE")).map((line) => line.slice(7))).toEqual([
      "http_requests_total counter",
      "rpc_requests_total counter",
      "cache_requests_total counter",
      "rate_limited_total counter",
      "rate_limiter_calls_total counter",
      "ingestion_rows_total counter",
      "ingestion_runs_total counter",
      "http_request_duration_seconds histogram",
      "recompute_duration_seconds histogram",
      "source_circuit_state gauge",
      "data_age_seconds gauge",
      "recompute_pending_cells gauge",
      "recompute_oldest_pending_seconds gauge",
    ]);
    expect(lines.filter((line) => line.startsWith("http_requests_total"))).toEqual([
      'http_requests_total{route="/a",method="POST",status="201"} 1',
      'http_requests_total{route="/b",method="GET",status="200"} 3',
    ]);
    expect(lines).toContain('rate_limited_total{tier="we\\"ird\\\\tier\\n"} 2');
    expect(lines.filter((line) => line.startsWith("http_request_duration_seconds"))).toEqual([
      'http_request_duration_seconds_bucket{route="/a",method="POST",le="0.005"} 1',
      'http_request_duration_seconds_bucket{route="/a",method="POST",le="0.01"} 1',
      'http_request_duration_seconds_bucket{route="/a",method="POST",le="0.025"} 3',
      'http_request_duration_seconds_bucket{route="/a",method="POST",le="0.05"} 3',
      'http_request_duration_seconds_bucket{route="/a",method="POST",le="0.1"} 3',
      'http_request_duration_seconds_bucket{route="/a",method="POST",le="0.25"} 3',
      'http_request_duration_seconds_bucket{route="/a",method="POST",le="0.5"} 3',
      'http_request_duration_seconds_bucket{route="/a",method="POST",le="1"} 3',
      'http_request_duration_seconds_bucket{route="/a",method="POST",le="2.5"} 3',
      'http_request_duration_seconds_bucket{route="/a",method="POST",le="5"} 3',
      'http_request_duration_seconds_bucket{route="/a",method="POST",le="10"} 4',
      'http_request_duration_seconds_bucket{route="/a",method="POST",le="+Inf"} 5',
      'http_request_duration_seconds_sum{route="/a",method="POST"} 14.5',
      'http_request_duration_seconds_count{route="/a",method="POST"} 5',
    ]);
    // A histogram without labels reads zero before its first observation.
    expect(lines).toContain('recompute_duration_seconds_bucket{le="+Inf"} 0');
    expect(lines).toContain("recompute_duration_seconds_count 0");
    expect(lines).toContain('source_circuit_state{source="s1"} 2');
    expect(lines).toContain('data_age_seconds{source="s1"} 86400');
    expect(lines).toContain("recompute_pending_cells 3");
    expect(lines).toContain("recompute_oldest_pending_seconds 42");
    expect(text.endsWith("\n")).toBe(true);
  });

  it("puts an observation in the first bucket whose bound it does not exceed", () => {
    const bounds = [0.005, 0.01, 0.025];
    expect([0, 0.005, 0.0051, 0.01, 0.025, 0.026, 100].map((value) => bucketIndex(bounds, value))).toEqual([
      0, 0, 1, 1, 2, 3, 3,
    ]);
  });
});

describe("GET /metrics", () => {
  it("serves the exposition to an admin, or to the scrape token, and to nobody else", async () => {
    const scraping = new Harness({ METRICS_SCRAPE_TOKEN: "scrape-secret-0123456789" });
    const as = (authorization?: string) =>
      scraping.fetchAnonymously(
        "/metrics",
        authorization ? { headers: { Authorization: authorization } } : {},
      );
    const admin = await as(`Bearer ${await tokenFor("admin")}`);
    expect(admin.status).toBe(200);
    expect(admin.headers.get("Content-Type")).toBe(EXPOSITION_CONTENT_TYPE);
    expect(admin.headers.get("Cache-Control")).toBe("no-store");
    const text = await (await as("Bearer scrape-secret-0123456789")).text();
    for (const family of [COUNTERS, HISTOGRAMS, GAUGES].flatMap(Object.keys)) {
      expect(text).toContain(`# TYPE ${family} `);
    }

    expect((await as()).status).toBe(401);
    expect((await as(`Bearer ${await tokenFor("analyst")}`)).status).toBe(403);
    expect((await as("Bearer scrape-secret-0123456788")).status).toBe(401);
    // The scrape token opens /metrics only.
    expect(
      (
        await scraping.fetchAnonymously("/api/v1/sources", {
          headers: { Authorization: "Bearer scrape-secret-0123456789" },
        })
      ).status,
    ).toBe(401);
    // Without a configured token, no bearer passes as one.
    expect(
      (await harness.fetchAnonymously("/metrics", { headers: { Authorization: "Bearer " } })).status,
    ).toBe(401);
  });
});

describe("counting", () => {
  it("counts N requests as exactly N, by route template, method and status", async () => {
    const N = 23;
    const keys = [
      benchmarksOk,
      series("http_requests_total", { route: "/api/v1/benchmarks", method: "GET", status: "400" }),
      series("http_requests_total", { route: "/api/v1/sources/:id", method: "GET", status: "200" }),
      series("http_request_duration_seconds_count", { route: "/api/v1/benchmarks", method: "GET" }),
    ];
    const added = await growth(harness, keys, async () => {
      for (let i = 0; i < N; i++) expect((await harness.fetch(BENCHMARKS)).status).toBe(200);
      expect((await harness.fetch("/api/v1/benchmarks?metric=nope&revenueRange=1M-5M")).status).toBe(400);
      expect((await harness.fetch("/api/v1/sources/alpha")).status).toBe(200);
    });
    expect(added).toEqual({
      [keys[0]!]: N,
      [keys[1]!]: 1,
      // The route template, never the path: one series for every source.
      [keys[2]!]: 1,
      [keys[3]!]: N + 1,
    });
  });

  it("counts cache lookups by where the answer came from", async () => {
    clearMemoryCache();
    expect((await harness.fetch(BENCHMARKS)).status).toBe(200);
    const keys = ["memory", "kv", "miss"].map((result) => series("cache_requests_total", { result }));
    const N = 9;
    const added = await growth(harness, keys, async () => {
      // Each answer is one lookup of the response itself, found in the isolate's memory...
      for (let i = 0; i < N; i++)
        expect((await harness.fetch(BENCHMARKS)).headers.get("X-Cache")).toBe("memory");
      // ...or, once the isolate has forgotten it, in KV.
      clearMemoryCache();
      expect((await harness.fetch(BENCHMARKS)).headers.get("X-Cache")).toBe("kv");
    });
    expect(added).toEqual({ [keys[0]!]: N, [keys[1]!]: 1, [keys[2]!]: 0 });
  });

  it("adds up batches from several isolates, each counted once however often it is sent", async () => {
    const isolates = [new MetricsRecorder(), new MetricsRecorder(), new MetricsRecorder()];
    const labels = { route: "/isolates-test", method: "GET", status: "200" };
    const key = series("http_requests_total", labels);
    const sink = aggregatorOf(env);
    const added = await growth(harness, [key], async () => {
      isolates.forEach((isolate, i) => {
        for (let n = 0; n < 10 * (i + 1); n++) isolate.count("http_requests_total", labels);
      });
      // All at once, as isolates flush independently.
      await Promise.all(isolates.map((isolate) => isolate.flushNow(sink)));
    });
    expect(added).toEqual({ [key]: 10 + 20 + 30 });

    const batch: MetricsBatch = {
      id: crypto.randomUUID(),
      counters: [{ name: "http_requests_total", labels: Object.values(labels), value: 5 }],
      histograms: [],
    };
    const resent = await growth(harness, [key], async () => {
      expect(await sink.merge(batch)).toBe(true);
      expect(await sink.merge(batch)).toBe(false);
    });
    expect(resent).toEqual({ [key]: 5 });
  });

  it("keeps a batch the aggregator did not take and sends it once, later", async () => {
    const recorder = new MetricsRecorder();
    const labels = { route: "/retry-test", method: "POST", status: "201" };
    const key = series("http_requests_total", labels);
    const sink = aggregatorOf(env);
    const sent: MetricsBatch[] = [];
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const added = await growth(harness, [key], async () => {
      recorder.count("http_requests_total", labels, 4);
      await recorder.flushNow({ merge: () => Promise.reject(new Error("overloaded")) });
      recorder.count("http_requests_total", labels, 3);
      await recorder.flushNow({
        merge: (batch) => {
          sent.push(batch);
          return sink.merge(batch);
        },
      });
    });
    expect(added).toEqual({ [key]: 7 });
    // The failed batch went again as it was, under its own id, then the new one.
    expect(sent.map((batch) => batch.counters[0]?.value)).toEqual([4, 3]);
  });

  it("labels an unknown method as other and an unmatched path by its catch-all, never the raw path", async () => {
    const before = await scrape(harness);
    await harness.fetch("/api/v1/no-such-thing/42", { method: "GET" });
    await harness.fetch("/api/v1/benchmarks", { method: "PROPFIND" });
    await harness.fetch("/no-such-page", { method: "GET" });
    const after = await scrape(harness);
    const grown = [...after].filter(
      ([key, value]) =>
        key.startsWith("http_requests_total") &&
        !key.includes("/metrics") &&
        value !== (before.get(key) ?? 0),
    );
    // Unmatched paths take the pattern of the last middleware they passed, "/*": one series per
    // method and status, however many paths are asked for.
    expect(grown.map(([key]) => key).sort()).toEqual([
      series("http_requests_total", { route: "/*", method: "GET", status: "404" }),
      series("http_requests_total", { route: "/*", method: "other", status: "404" }),
    ]);
    expect([...after.keys()].join("\n")).not.toMatch(/no-such|PROPFIND/);
  });

  it("counts RPC calls by procedure and Connect code, including calls refused before any handler", async () => {
    const rpc = (body: string, authorization?: string) =>
      harness.fetchAnonymously("/benchmark.v1.BenchmarkService/ListMetrics", {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          ...(authorization ? { Authorization: authorization } : {}),
        },
        body,
      });
    const keys = ["ok", "unauthenticated", "invalid_argument"].map((code) =>
      series("rpc_requests_total", { procedure: "ListMetrics", code }),
    );
    const token = `Bearer ${await tokenFor("viewer")}`;
    const added = await growth(harness, keys, async () => {
      expect((await rpc("{}", token)).status).toBe(200);
      expect((await rpc("{}", token)).status).toBe(200);
      expect((await rpc("{}", "Bearer not.a.token")).status).toBe(401);
      // Not JSON: refused while parsing, before the interceptors run.
      expect((await rpc("{not json", token)).status).toBe(400);
    });
    expect(added).toEqual({ [keys[0]!]: 2, [keys[1]!]: 1, [keys[2]!]: 1 });
  });

  it("counts refusals by the rate limiter per tier", async () => {
    const strict = new Harness({
      RATE_LIMITS: JSON.stringify({ anonymous: { rate: 1, periodSeconds: 3600, burst: 2 } }),
    });
    const key = series("rate_limited_total", { tier: "anonymous" });
    const address = { headers: { "CF-Connecting-IP": "198.51.100.77" } };
    const added = await growth(harness, [key], async () => {
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await strict.fetchAnonymously("/health", address)).status);
      expect(statuses).toEqual([200, 200, 429, 429, 429]);
    });
    expect(added).toEqual({ [key]: 3 });
  });

  it("counts ingestion rows by outcome, runs by status, and the recompute's duration", async () => {
    const created = await registerPanel(harness, { id: "metered-panel", name: "Metered Panel" });
    expect(created.status).toBe(201);
    const keys = [
      series("ingestion_rows_total", { source: "metered-panel", outcome: "accepted" }),
      series("ingestion_rows_total", { source: "metered-panel", outcome: "rejected" }),
      series("ingestion_runs_total", { source: "metered-panel", status: "partially_succeeded" }),
      series("ingestion_runs_total", { source: "metered-panel", status: "failed" }),
      "recompute_duration_seconds_count",
    ];
    const upload = (body: string) =>
      harness.fetch("/api/v1/sources/metered-panel/uploads", {
        method: "POST",
        headers: { "Content-Type": "text/csv" },
        body,
      });
    const added = await growth(harness, keys, async () => {
      const rows =
        "c,m,p,a,v\nmetered_1,ndr,2024,2000000,104\nmetered_2,ndr,2024,2000000,98\nmetered_3,ndr,2024,2000000,x\n";
      expect((await upload(rows)).status).toBe(201);
      expect((await upload("c,m,p,a,v\n")).status).toBe(400);
      const result = await harness.drainRecompute();
      expect(result?.explicitAcks.length).toBe(1);
    });
    expect(added).toEqual({ [keys[0]!]: 2, [keys[1]!]: 1, [keys[2]!]: 1, [keys[3]!]: 1, [keys[4]!]: 1 });
  });

  it("reads each source's circuit and data age from D1 at scrape time", async () => {
    const samples = await scrape(harness);
    const now = Date.now();
    for (const source of TEST_SOURCES) {
      expect(samples.get(series("source_circuit_state", { source: source.id }))).toBe(0);
      const age = samples.get(series("data_age_seconds", { source: source.id }));
      if (!source.lastUpdated) expect(age).toBeUndefined();
      else {
        const expected = Math.floor((now - Date.parse(source.lastUpdated)) / 1000);
        expect(age).toBeGreaterThanOrEqual(expected - 2);
        expect(age).toBeLessThanOrEqual(expected);
      }
    }
  });

  it("still serves the counters when D1 is down, without the gauges it reads from D1", async () => {
    const broken = new Harness();
    Object.assign(broken.env, { DB: unreachableD1() });
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const samples = await scrape(broken);
    expect([...samples.keys()].some((key) => key.startsWith("http_requests_total{"))).toBe(true);
    expect([...samples.keys()].filter((key) => /^(source_circuit_state|data_age_seconds)/.test(key))).toEqual(
      [],
    );
  });

  it("records nothing with METRICS=off", async () => {
    const off = new Harness({ METRICS: "off" });
    const added = await growth(harness, [benchmarksOk], async () => {
      for (let i = 0; i < 3; i++) expect((await off.fetch(BENCHMARKS)).status).toBe(200);
    });
    expect(added).toEqual({ [benchmarksOk]: 0 });
  });
});

it("parses what it renders", () => {
  const samples = parseExposition('a_total{x="1"} 2\n# HELP b x\nb 3.5\n');
  expect([...samples]).toEqual([
    ['a_total{x="1"}', 2],
    ["b", 3.5],
  ]);
});
