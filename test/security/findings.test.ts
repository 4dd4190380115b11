import { env } from "cloudflare:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { Code } from "@connectrpc/connect";
import { beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { BenchmarkService, GetBenchmarkDataRequestSchema } from "../../src/gen/benchmark/v1/benchmark_pb";
import { toFetchResponse } from "../../src/rpc/http-bridge";
import { bearer, rest, rpcFailure } from "../auth/helpers";
import { claims, sign, tokenFor } from "../helpers/auth";
import { eventually, Harness } from "../helpers/jobs";
import { clearMemoryCache } from "../helpers/seed";
import {
  as,
  jsonBody,
  LARGE_PANEL,
  LARGE_PANEL_CSV,
  loadSmallPanelCell,
  registerSource,
  rpcAs,
  SMALL_PANEL,
  SURVEY,
  upload,
} from "./helpers";

/*
 * The hostile probe's findings (issue 12), each reproduced exactly as it was reported, with the
 * answer the service gives now.
 */

const harness = new Harness();
const CELL = "metric=ltv_cac&revenueRange=0-1M&period=1995";
const withheldSmallPanel = {
  id: SMALL_PANEL,
  name: SMALL_PANEL,
  kind: "panel",
  n: 3,
  withheld: "k-anonymity",
};

beforeAll(() => loadSmallPanelCell(harness));
beforeEach(() => clearMemoryCache());

describe("finding 1: k-anonymity was checked on the pooled n only", () => {
  it("a viewer sees the 3-company panel listed with its n and withheld, and nothing else of it", async () => {
    const response = await as("viewer", harness, `/api/v1/benchmarks?${CELL}&includeStatistics=true`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.sources).toEqual([
      withheldSmallPanel,
      expect.objectContaining({ id: SURVEY, kind: "survey", n: 50, p25: 2, p50: 3, p75: 4.5 }),
    ]);
    // The pool is the survey alone, reproduced exactly: the panel adds no weight either.
    expect(body.pooled).toEqual({
      n: 50,
      p10: 1.4,
      p25: 2,
      p50: 3,
      p75: 4.5,
      p90: 5.4,
      method: "single_source",
    });
    expect(body.statistics).toEqual({ pooled: { median: 3, iqr: 2.5 }, panels: [] });
    // 2·p25 − p50, p50 and 2·p75 − p50 gave back 2.5, 3.1 and 4.2; none of them, nor their moments, is here.
    // (Timestamps are left out of the search: "…T22:44:32.859Z" holds "2.8" and is no figure.)
    const figures = JSON.stringify(body, (key, value) => (key === "lastUpdated" ? undefined : value));
    for (const figure of ["2.8", "3.1", "3.65", "4.2", "3.266"]) expect(figures).not.toContain(figure);
  });

  it("the panel alone is refused as a pool, the message counting the companies withheld", async () => {
    const response = await as("viewer", harness, `/api/v1/benchmarks?${CELL}&sources=${SMALL_PANEL}`);
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({
      type: "/problems/peer-group-too-small",
      detail:
        "ltv_cac in the 0-1M band for 1995 has 0 companies, and 3 more in panels too small to show; at least 5 are needed before statistics are shown.",
    });
  });

  it("an admin still sees the panel's figures", async () => {
    const body = (await (
      await as("admin", harness, `/api/v1/benchmarks?${CELL}&includeStatistics=true`)
    ).json()) as {
      sources: { id: string; p25?: number; p50?: number; p75?: number }[];
    };
    const panel = body.sources.find((s) => s.id === SMALL_PANEL)!;
    expect(panel).toMatchObject({ n: 3, p25: 2.8, p50: 3.1 });
    // Type 7 at h = 1.5: 3.1 + 0.5 · (4.2 − 3.1), as numpy rounds it.
    expect(panel.p75).toBe(3.6500000000000004);
  });

  it("over RPC GetBenchmarkData the panel is withheld the same way", async () => {
    const client = await rpcAs("viewer", harness);
    const answer = await client.getBenchmarkData({
      metric: "ltv_cac",
      peersSelector: { case: "revenueRange", value: "0-1M" },
      period: "1995",
      includeStatistics: true,
    });
    const panel = answer.sources.find((s) => s.id === SMALL_PANEL)!;
    expect([panel.n, panel.withheld, panel.p25, panel.p50, panel.p75, panel.p10, panel.p90]).toEqual([
      3,
      "k-anonymity",
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(answer.pooled?.n).toBe(50);
    expect(answer.statistics?.panels).toEqual([]);
  });

  it("a custom peer group over two panels leaves the small one out of every figure", async () => {
    await registerSource(harness, LARGE_PANEL, "panel");
    expect((await upload(harness, LARGE_PANEL, LARGE_PANEL_CSV)).status).toBe(201);
    const group = "metric=ltv_cac&period=1995&arrMin=0&arrMax=1000000&includeStatistics=true";
    const viewer = (await (await as("viewer", harness, `/api/v1/benchmarks?${group}`)).json()) as {
      pooled: { n: number; p50: number };
      sources: { id: string }[];
      withheldCompanies: number;
      statistics: { panels: { sourceId: string }[] };
    };
    // qk-panel-b's six values 4.8, 5.5, 5.9, 6.1, 6.6, 7.2: type-7 median 6.0.
    expect(viewer.pooled).toMatchObject({ n: 6, p50: 6 });
    expect(viewer.withheldCompanies).toBe(3);
    expect(viewer.sources.map((s) => s.id)).toEqual([SMALL_PANEL, LARGE_PANEL]);
    expect(viewer.sources[0]).toEqual(withheldSmallPanel);
    expect(viewer.statistics.panels.map((p) => p.sourceId)).toEqual([LARGE_PANEL]);
    const admin = (await (await as("admin", harness, `/api/v1/benchmarks?${group}`)).json()) as typeof viewer;
    expect(admin.pooled.n).toBe(9);
    expect(admin.withheldCompanies).toBeUndefined();
    const client = await rpcAs("analyst", harness);
    const ranked = await client.calculateRanking({
      metric: "ltv_cac",
      value: 6,
      peersSelector: { case: "peers", value: { arrMin: 0, arrMax: 1_000_000 } },
      period: "1995",
    });
    expect([ranked.peers?.n, ranked.withheldCompanies, ranked.percentile]).toEqual([6, 3, 50]);
  });

  it("a peer group withholds a band between a load and its recompute, so it cannot be differenced against the band's summary", async () => {
    const panel = "qk-pending";
    const row = (i: number, value: number) => `qp-${i},ltv_cac,1996,${500_000 + i * 50_000},${value}`;
    const file = (...rows: string[]) => ["company_key,metric,period,arr,value", ...rows].join("\n");
    const six = [1, 2, 3, 4, 5, 6].map((i) => row(i, i));
    await registerSource(harness, panel, "panel");
    expect((await upload(harness, panel, file(...six))).status).toBe(201);
    const group = `/api/v1/benchmarks?metric=ltv_cac&period=1996&arrMin=0&arrMax=1000000&sources=${panel}`;
    const band = `/api/v1/benchmarks?metric=ltv_cac&revenueRange=0-1M&period=1996&sources=${panel}`;
    const pooled = async (role: "viewer" | "admin", path: string) => {
      clearMemoryCache();
      const response = await as(role, harness, path);
      return {
        status: response.status,
        body: (await response.json()) as {
          pooled?: { n: number; p50: number };
          stale?: boolean;
          type?: string;
        },
      };
    };
    expect((await pooled("viewer", group)).body.pooled).toMatchObject({ n: 6, p50: 3.5 });

    // A seventh company, loaded but not yet recomputed: the band still summarizes six.
    const loaded = await as("admin", harness, `/api/v1/sources/${panel}/uploads`, {
      method: "POST",
      headers: { "Content-Type": "text/csv" },
      body: file(...six, row(7, 7)),
    });
    expect(loaded.status).toBe(201);
    expect((await pooled("viewer", band)).body).toMatchObject({ pooled: { n: 6, p50: 3.5 }, stale: true });
    // The group answers from the same six, as it last did from whole data: nothing to difference.
    expect((await pooled("viewer", group)).body).toMatchObject({ pooled: { n: 6, p50: 3.5 }, stale: true });
    // An admin, who never asked before, has no earlier answer: 503 until the recompute.
    const pending = await pooled("admin", group);
    expect(pending.status).toBe(503);
    expect(pending.body.type).toBe("/problems/recompute-pending");
    await harness.drainRecompute();
    expect((await pooled("viewer", group)).body.pooled).toMatchObject({ n: 7, p50: 4 });

    // A changed value, same companies: the band's mean no longer matches until recompute.
    await as("admin", harness, `/api/v1/sources/${panel}/uploads`, {
      method: "POST",
      headers: { "Content-Type": "text/csv" },
      body: file(...six.slice(0, 3), row(4, 4.5), ...six.slice(4), row(7, 7)),
    });
    expect((await pooled("viewer", group)).body).toMatchObject({ pooled: { n: 7, p50: 4 }, stale: true });
    await harness.drainRecompute();
    expect((await pooled("viewer", group)).body.pooled).toMatchObject({ n: 7, p50: 4.5 });
  });
});

describe("finding 2: survey n had no upper bound", () => {
  const surveyRow = (n: string) => `metric,band,period,n,p25,p50,p75\nltv_cac,1M-5M,1996,${n},2,3,4`;

  it.each([
    ["3000000000", "past the proto's int32"],
    ["1e308", "a float"],
    ["0x20", "hex"],
    ["9007199254740993", "past 2^53"],
    ["10000001", "one past the maximum"],
  ])("refuses n = %s (%s) with the documented bound", async (n) => {
    const run = (await (await upload(harness, SURVEY, surveyRow(n))).json()) as {
      status: string;
      rejections: { line: number; reason: string }[];
    };
    expect(run).toMatchObject({
      status: "failed",
      rejections: [{ line: 2, reason: "n: must be a whole number from 10 to 10000000" }],
    });
  });

  it("pools two surveys at the maximum n exactly, and every transport serializes the answer", async () => {
    await registerSource(harness, "max-survey-a", "survey");
    await registerSource(harness, "max-survey-b", "survey");
    const cell = (p50: number) =>
      `metric,band,period,n,p25,p50,p75\nltv_cac,5M-20M,1997,10000000,${p50 - 1},${p50},${p50 + 1}`;
    expect((await upload(harness, "max-survey-a", cell(3))).status).toBe(201);
    expect((await upload(harness, "max-survey-b", cell(5))).status).toBe(201);
    const query = "metric=ltv_cac&revenueRange=5M-20M&period=1997&sources=max-survey-a,max-survey-b";
    const body = (await (await as("viewer", harness, `/api/v1/benchmarks?${query}`)).json()) as {
      pooled: { n: number; p50: number };
    };
    // Equal weights: the mixture's median lies halfway, where F = ½.
    expect(body.pooled).toMatchObject({ n: 20_000_000, p50: 4 });
    const ranking = (await (
      await as(
        "analyst",
        harness,
        "/api/v1/benchmarks/ranking",
        jsonBody({
          metric: "ltv_cac",
          value: 4,
          revenueRange: "5M-20M",
          period: "1997",
          sources: ["max-survey-a", "max-survey-b"],
        }),
      )
    ).json()) as { percentile: number; percentileInterval: { low: number; high: number } };
    expect(ranking.percentile).toBe(50);
    expect(
      Number.isFinite(ranking.percentileInterval.low) && Number.isFinite(ranking.percentileInterval.high),
    ).toBe(true);
    const client = await rpcAs("analyst", harness);
    const rpc = await client.getBenchmarkData({
      metric: "ltv_cac",
      peersSelector: { case: "revenueRange", value: "5M-20M" },
      period: "1997",
      sources: ["max-survey-a", "max-survey-b"],
    });
    expect(rpc.pooled?.n).toBe(20_000_000);
    const series = await client.getTimeSeriesData({
      metric: "ltv_cac",
      bandSelector: { case: "revenueRange", value: "5M-20M" },
      from: "1997",
      to: "1997",
      sources: ["max-survey-a", "max-survey-b"],
    });
    expect(series.points.map((p) => p.n)).toEqual([20_000_000]);
  });
});

describe("finding 2, its answer: an internal error's message never leaves the service", () => {
  const leaked = "serialize binary: cannot encode field benchmark.v1.Distribution.n to binary: invalid int32";
  const answer = (contentType: string, status: number, body: Uint8Array) =>
    toFetchResponse({ status, header: new Headers({ "Content-Type": contentType }), body: once(body) });

  it("a Connect error of code internal says only that it happened", async () => {
    const body = new TextEncoder().encode(JSON.stringify({ code: "internal", message: leaked }));
    const response = await answer("application/json", 500, body);
    expect(await response.json()).toEqual({
      code: "internal",
      message: "The server failed to handle the request.",
    });
  });

  it("a gRPC-Web trailer of status 13 says only that it happened, and other statuses pass as they are", async () => {
    const trailer = (status: number, message: string) => {
      const text = new TextEncoder().encode(
        `grpc-status: ${status}\r\ngrpc-message: ${encodeURIComponent(message)}\r\n`,
      );
      const frame = new Uint8Array(5 + text.length);
      frame[0] = 0x80;
      new DataView(frame.buffer).setUint32(1, text.length);
      frame.set(text, 5);
      return frame;
    };
    const internal = await (await answer("application/grpc-web+proto", 200, trailer(13, leaked))).text();
    expect(internal).not.toContain("serialize");
    expect(internal).toContain("grpc-status: 13");
    expect(internal).toContain(encodeURIComponent("The server failed to handle the request."));
    const invalid = await (
      await answer("application/grpc-web+proto", 200, trailer(3, "value: out of range"))
    ).text();
    expect(invalid).toContain(encodeURIComponent("value: out of range"));
  });
});

async function* once(body: Uint8Array): AsyncIterable<Uint8Array> {
  yield body;
}

describe("finding 3: no SSRF guard on source urls", () => {
  const spellings = [
    "https://127.0.0.1/a.csv",
    "https://localhost/a.csv",
    "https://localhost./a.csv",
    "https://[::1]/a.csv",
    "https://[::ffff:127.0.0.1]/a.csv",
    "https://127.1/a.csv",
    "https://0/a.csv",
    "https://0.0.0.0/a.csv",
    "https://2130706433/a.csv",
    "https://0x7f000001/a.csv",
    "https://017700000001/a.csv",
    "https://169.254.169.254/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://100.100.100.200/latest/meta-data/",
    "https://10.0.0.8/a.csv",
    "https://192.168.1.1/a.csv",
    "https://[fd00::1]/a.csv",
    "https://bench.test/api/v1/sources",
  ];

  it.each(spellings)("refuses to register %s", async (url) => {
    const response = await as(
      "admin",
      harness,
      "/api/v1/sources",
      jsonBody({ id: "ssrf-probe", name: "probe", kind: "panel", url, mapping: { columns: {} } }),
    );
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: { field: string; message: string }[] };
    expect(body.errors.map((e) => e.field)).toContain("url");
  });

  it("refuses plain http unless SOURCE_URL_ALLOW names the origin", async () => {
    const response = await as(
      "admin",
      harness,
      "/api/v1/sources",
      jsonBody({
        id: "ssrf-probe",
        name: "probe",
        kind: "panel",
        url: "http://feeds.example.com/a.csv",
        mapping: { columns: {} },
      }),
    );
    expect((await response.json()) as object).toMatchObject({
      errors: [{ field: "url", message: "url must be https (SOURCE_URL_ALLOW admits other origins)" }],
    });
  });

  it("follows redirects by hand, three at most, checking every hop, and says so in categories", async () => {
    const fetches = vi.spyOn(globalThis, "fetch");
    await registerSource(harness, "redirecting", "panel", { url: "https://feeds.example.com/start.csv" });
    const hops = new Map<string, Response>([
      ["https://feeds.example.com/start.csv", redirect("https://feeds.example.com:8443/second.csv")],
      ["https://feeds.example.com:8443/second.csv", redirect("http://127.0.0.1:9000/internal")],
    ]);
    fetches.mockImplementation(
      async (input) => hops.get(String(input))?.clone() ?? new Response("", { status: 599 }),
    );
    const refresh = await as("admin", harness, "/api/v1/sources/redirecting/refresh", { method: "POST" });
    const run = (await refresh.json()) as { id: string };
    await harness.deliver("benchmark-ingest", harness.ingest.take());
    expect(fetches.mock.calls.map(([url, init]) => [String(url), (init as RequestInit).redirect])).toEqual([
      ["https://feeds.example.com/start.csv", "manual"],
      ["https://feeds.example.com:8443/second.csv", "manual"],
    ]);
    const failed = (await (await as("admin", harness, `/api/v1/ingestion/runs/${run.id}`)).json()) as {
      error: string;
    };
    expect(failed.error).toBe("blocked_url: a redirect led to an address the service may not fetch");
    fetches.mockRestore();
  });

  it("never echoes fetched text in rejection reasons, and lastError is a category", async () => {
    const fetches = vi.spyOn(globalThis, "fetch");
    await registerSource(harness, "echo-probe", "panel", { url: "https://feeds.example.com/secret.csv" });
    fetches.mockImplementation(
      async () =>
        new Response("company_key,metric,period,arr,value\nco-1,INTERNAL-SECRET-abc123,2024,1,1\n", {
          headers: { "Content-Type": "text/csv" },
        }),
    );
    await as("admin", harness, "/api/v1/sources/echo-probe/refresh", { method: "POST" });
    await harness.deliver("benchmark-ingest", harness.ingest.take());
    const rejections = await (await as("admin", harness, "/api/v1/sources/echo-probe/rejections")).text();
    expect(rejections).not.toContain("INTERNAL-SECRET");
    expect(JSON.parse(rejections)).toMatchObject({
      rejections: [{ line: 2, reason: "metric: unknown metric (22 characters)" }],
    });
    fetches.mockImplementation(async () =>
      Promise.reject(new TypeError("connect ECONNREFUSED 10.0.0.8:5432")),
    );
    await as("admin", harness, "/api/v1/sources/echo-probe/refresh", { method: "POST" });
    await harness.deliver("benchmark-ingest", harness.ingest.take());
    const source = (await (await as("admin", harness, "/api/v1/sources/echo-probe")).json()) as {
      lastError: string;
    };
    expect(source.lastError).toBe("network: the connection failed");
    fetches.mockRestore();
  });
});

function redirect(location: string): Response {
  return new Response(null, { status: 302, headers: { Location: location } });
}

describe("finding 4: a 5xx before authentication", () => {
  const methods = BenchmarkService.methods.map((m) => m.name);
  const messages = [
    ["json", "base64=1&message=!!!!"],
    ["json", "message=%7Bnot%20json"],
    ["json", "message=%FF%FE"],
    ["json", 'message={"metric":1}'],
    ["proto", "base64=1&message=!!!!"],
    ["proto", "message=%FF%FF%FF"],
  ];

  it.each(methods.flatMap((method) => messages.map(([encoding, rest]) => [method, encoding!, rest!])))(
    "GET %s with encoding=%s and %s answers invalid_argument to a caller it admits, unauthenticated to one it does not",
    async (method, encoding, query) => {
      const path = `/${BenchmarkService.typeName}/${method}?connect=v1&encoding=${encoding}&${query}`;
      // Callers are admitted before their message is parsed, as REST admits them: without a token,
      // only the catalogue's methods reach the parser.
      const anonymousMay = method === "ListMetrics" || method === "ListRevenueRanges";
      for (const role of ["anonymous", "admin"] as const) {
        const response = await as(role, harness, path);
        expect([role, response.status, ((await response.json()) as { code: string }).code]).toEqual(
          role === "admin" || anonymousMay ? [role, 400, "invalid_argument"] : [role, 401, "unauthenticated"],
        );
      }
    },
  );

  it("a compressed message, which the service does not take, is the caller's error, not a 501", async () => {
    const get = await as(
      "viewer",
      harness,
      `/${BenchmarkService.typeName}/ListMetrics?connect=v1&encoding=json&message=%7B%7D&compression=gzip`,
    );
    expect([get.status, ((await get.json()) as { code: string }).code]).toEqual([400, "invalid_argument"]);
    const post = await as("viewer", harness, `/${BenchmarkService.typeName}/ListMetrics`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Content-Encoding": "br" },
      body: "{}",
    });
    expect(post.status).toBe(400);
  });

  it("a well-formed GET in either encoding still answers", async () => {
    const message = create(GetBenchmarkDataRequestSchema, {
      metric: "ltv_cac",
      peersSelector: { case: "revenueRange", value: "0-1M" },
      period: "1995",
    });
    const binary = base64Encode(toBinary(GetBenchmarkDataRequestSchema, message), "url");
    const json = encodeURIComponent(
      JSON.stringify({ metric: "ltv_cac", revenueRange: "0-1M", period: "1995" }),
    );
    for (const query of [`encoding=proto&base64=1&message=${binary}`, `encoding=json&message=${json}`]) {
      const response = await as(
        "viewer",
        harness,
        `/${BenchmarkService.typeName}/GetBenchmarkData?connect=v1&${query}`,
      );
      expect(response.status).toBe(200);
    }
  });
});

describe("finding 5: a 500 on an empty peer group for an admin", () => {
  it("answers the documented no-data problem for every role, over REST and RPC", async () => {
    const peers = { arrMin: 2_000_000, arrMax: 3_000_000 };
    for (const role of ["analyst", "admin"] as const) {
      const response = await as(
        role,
        harness,
        "/api/v1/benchmarks/ranking",
        jsonBody({ metric: "ltv_cac", value: 3, peers, period: "1995" }),
      );
      expect([role, response.status, ((await response.json()) as { type: string }).type]).toEqual([
        role,
        404,
        "/problems/no-data",
      ]);
      const error = await rpcFailure(
        (await rpcAs(role, harness)).calculateRanking({
          metric: "ltv_cac",
          value: 3,
          peersSelector: { case: "peers", value: peers },
          period: "1995",
        }),
      );
      expect([role, error.code]).toEqual([role, Code.NotFound]);
    }
  });

  it("an ARR bound off the peer-group grid is a 400 naming the nearest points", async () => {
    const response = await as(
      "admin",
      harness,
      "/api/v1/benchmarks/ranking",
      jsonBody({ metric: "ltv_cac", value: 3, peers: { arrMin: 2_000_000, arrMax: 2_000_001 } }),
    );
    expect(await response.json()).toMatchObject({
      status: 400,
      errors: [
        {
          field: "peers.arrMax",
          message:
            "arrMax must be a point of the peer-group grid (0, then 1, 2, 3 and 5 times a power of ten from 100000): the nearest are 2000000 and 3000000",
        },
      ],
    });
  });
});

describe("finding 6: a cache-key collision", () => {
  it("industry=null is an industry like any other, whatever was asked before", async () => {
    const base = "/api/v1/benchmarks?metric=ltv_cac&period=1995&arrMin=0&arrMax=1000000";
    const first = await as("admin", harness, `${base}&industry=null`);
    expect(first.status).toBe(404);
    expect((await as("admin", harness, base)).status).toBe(200);
    clearMemoryCache();
    const again = await as("admin", harness, `${base}&industry=null`);
    expect([again.status, ((await again.json()) as { type: string }).type]).toEqual([
      404,
      "/problems/no-data",
    ]);
  });
});

describe("finding 7: the public /ready listed every source id", () => {
  it("names no source to an anonymous caller or a viewer, and every one to an admin", async () => {
    for (const role of ["anonymous", "viewer"] as const) {
      const text = await (await as(role, harness, "/ready")).text();
      expect(text).not.toContain(SMALL_PANEL);
      expect(Object.keys(JSON.parse(text))).toEqual(["status", "checks", "recompute"]);
    }
    const admin = (await (await as("admin", harness, "/ready")).json()) as { sources: { id: string }[] };
    expect(admin.sources.map((s) => s.id)).toContain(SMALL_PANEL);
  });
});

/** A problem's status and field errors. */
const problemOf = async (response: Response) =>
  [
    response.status,
    ((await response.json()) as { errors?: { field: string; message: string }[] }).errors,
  ] as const;

describe("finding 8: input accepted silently", () => {
  it("a repeated query parameter is a 400 naming it", async () => {
    expect(
      await problemOf(
        await as("viewer", harness, "/api/v1/benchmarks?metric=arr_growth&metric=ndr&revenueRange=1M-5M"),
      ),
    ).toEqual([400, [{ field: "metric", message: "metric is given more than once; give it once" }]]);
  });

  it.each(["0x10", "0b10000", "0o20", "1_000_000", "Infinity"])("arr=%s is not a number", async (arr) => {
    expect(await problemOf(await as("viewer", harness, `/api/v1/benchmarks?metric=ndr&arr=${arr}`))).toEqual([
      400,
      [{ field: "arr", message: "arr must be a finite decimal number such as 2500000" }],
    ]);
  });

  it("hex in a CSV value is rejected with its line", async () => {
    const run = (await (
      await upload(
        harness,
        SMALL_PANEL,
        "company_key,metric,period,arr,value,industry\nqk-9,ltv_cac,1994,500000,0x10,x",
      )
    ).json()) as { rejections: { line: number; reason: string }[] };
    expect(run.rejections).toEqual([{ line: 2, reason: "value: not a finite number" }]);
  });

  it.each(["__proto__", "constructor", "prototype"])("a %s key in a JSON body is refused", async (key) => {
    const response = await as("analyst", harness, "/api/v1/benchmarks/scorecard", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: `{"arr": 1000000, "values": {"ltv_cac": 3, "${key}": 5}}`,
    });
    expect(await problemOf(response)).toEqual([
      400,
      [{ field: "body", message: `the key ${key} is not allowed in a body` }],
    ]);
  });

  it("a duplicate CSV header refuses the file, naming line 1", async () => {
    const response = await upload(
      harness,
      SMALL_PANEL,
      "company_key,metric,period,arr,value,value\nqk-9,ltv_cac,1994,500000,1,2",
    );
    expect(await problemOf(response)).toEqual([
      400,
      [{ field: "body", message: "line 1: columns 5 and 6 have the same header" }],
    ]);
  });

  it("a row with extra fields is rejected with its line", async () => {
    const run = (await (
      await upload(
        harness,
        SMALL_PANEL,
        "company_key,metric,period,arr,value,industry\nqk-9,ltv_cac,1994,500000,1,x,surplus",
      )
    ).json()) as { rejections: { line: number; reason: string }[] };
    expect(run.rejections).toEqual([{ line: 2, reason: "the row has 7 fields; the header has 6" }]);
  });

  it.each([
    ["name", { name: "Quarterly\u202e report" }, "name must not contain control or bidi characters"],
    ["name", { name: "line\nbreak" }, "name must not contain control or bidi characters"],
    ["id", { id: "--" }, "id must be 2–63 characters of a–z, 0–9 and -, starting with a letter or a digit"],
  ])("a source %s that is not printable or well-formed is refused", async (field, change, message) => {
    const response = await as(
      "admin",
      harness,
      "/api/v1/sources",
      jsonBody({ id: "charset-probe", name: "probe", kind: "survey", mapping: { columns: {} }, ...change }),
    );
    expect(await problemOf(response)).toEqual([400, expect.arrayContaining([{ field, message }])]);
  });

  it("duplicate allowedBands are refused", async () => {
    const response = await as("admin", harness, "/api/v1/metrics/ndr/rules", {
      ...jsonBody({ allowedBands: ["1M-5M", "0-1M", "1M-5M"] }),
      method: "PUT",
    });
    expect(await problemOf(response)).toEqual([
      400,
      [{ field: "allowedBands.2", message: "allowedBands lists 1M-5M twice" }],
    ]);
  });

  it("a token valid for 100,000 days is refused", async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await sign(claims({ iat: now, exp: now + 100_000 * 86_400 }));
    const response = await rest("/api/v1/metrics", { authorization: bearer(token) }, {}, harness.env);
    expect(response.status).toBe(401);
    expect(response.headers.get("WWW-Authenticate")).toBe(
      'Bearer error="invalid_token", error_description="the token is valid for longer than 86400 seconds, the most this service accepts"',
    );
  });
});

describe("finding 9: misleading reasons", () => {
  const sourceProblem = async (change: Record<string, unknown>) =>
    (
      (await (
        await as(
          "admin",
          harness,
          "/api/v1/sources",
          jsonBody({
            id: "reason-probe",
            name: "probe",
            kind: "survey",
            mapping: { columns: {} },
            ...change,
          }),
        )
      ).json()) as { errors: { field: string; message: string }[] }
    ).errors;

  it("a name over 200 characters says so", async () => {
    expect(await sourceProblem({ name: "n".repeat(201) })).toEqual([
      { field: "name", message: "name must be at most 200 characters" },
    ]);
  });

  it("a url over 2,048 characters says so", async () => {
    expect(await sourceProblem({ url: `https://example.com/${"a".repeat(2048)}` })).toEqual([
      { field: "url", message: "url must be at most 2048 characters" },
    ]);
  });

  it("an upload racing a DELETE of its source says the source was deleted", async () => {
    await registerSource(harness, "racing-panel", "panel");
    let send!: (text: string) => void;
    let finish!: () => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        send = (text) => controller.enqueue(new TextEncoder().encode(text));
        finish = () => controller.close();
      },
    });
    const uploading = as("admin", harness, "/api/v1/sources/racing-panel/uploads", {
      method: "POST",
      headers: { "Content-Type": "text/csv" },
      body,
      duplex: "half",
    } as RequestInit);
    send("company_key,metric,period,arr,value,industry\n");
    // The upload is under way once its run is on record.
    await eventually(
      async () =>
        (await env.DB.prepare("SELECT id FROM ingestion_runs WHERE source_id = 'racing-panel'").first()) ??
        undefined,
    );
    expect((await as("admin", harness, "/api/v1/sources/racing-panel", { method: "DELETE" })).status).toBe(
      204,
    );
    send("qk-1,ltv_cac,1995,500000,3.1,x\n");
    finish();
    const response = await uploading;
    expect([response.status, ((await response.json()) as { detail: string }).detail]).toEqual([
      404,
      'Source "racing-panel" was deleted while its upload was loading; nothing of the upload was kept.',
    ]);
  });

  it("a gzip upload is read; gzip sent without saying so is named, not called bad UTF-8", async () => {
    const csv = "company_key,metric,period,arr,value,industry\nqk-7,ltv_cac,1993,500000,3.3,x\n";
    const gzipped = new Uint8Array(
      await new Response(new Blob([csv]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
    );
    const post = (headers: Record<string, string>, body: BodyInit) =>
      as("admin", harness, `/api/v1/sources/${SMALL_PANEL}/uploads`, {
        method: "POST",
        headers: { "Content-Type": "text/csv", ...headers },
        body,
      });
    const encoded = await post({ "Content-Encoding": "gzip" }, gzipped);
    expect([encoded.status, ((await encoded.json()) as { accepted: number }).accepted]).toEqual([201, 1]);
    expect(await problemOf(await post({}, gzipped))).toEqual([
      400,
      [{ field: "body", message: "the file is gzip-compressed, and its Content-Encoding does not say so" }],
    ]);
    expect(await problemOf(await post({ "Content-Encoding": "gzip" }, "not gzip at all"))).toEqual([
      400,
      [{ field: "body", message: "not valid gzip" }],
    ]);
    const brotli = await post({ "Content-Encoding": "br" }, gzipped);
    expect(brotli.status).toBe(415);
  });

  it("a JSON upload's error names where it broke, not the parser's states", async () => {
    await registerSource(harness, "json-probe", "survey", { format: "json" });
    const response = await as("admin", harness, "/api/v1/sources/json-probe/uploads", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: '[{"metric": "ndr"}] trailing',
    });
    expect(await problemOf(response)).toEqual([
      400,
      [{ field: "body", message: "not valid JSON: text follows the end of the array" }],
    ]);
  });
});

describe("finding 10: rate-limit buckets", () => {
  const limited = new Harness({
    RATE_LIMITS: JSON.stringify({
      anonymous: { rate: 100, periodSeconds: 3600, burst: 100 },
      user: { rate: 1000, periodSeconds: 3600, burst: 1200 },
    }),
  });

  it("an authenticated call to a path with no route is charged to the caller, not to its address", async () => {
    const response = await limited.fetchAnonymously("/no/such/path", {
      headers: { Authorization: `Bearer ${await tokenFor("viewer")}`, "CF-Connecting-IP": "203.0.113.50" },
    });
    expect(response.status).toBe(404);
    expect(response.headers.get("RateLimit-Policy")).toBe('"user";q=1200;w=3600');
    const anonymous = await limited.fetchAnonymously("/no/such/path", {
      headers: { "CF-Connecting-IP": "203.0.113.50" },
    });
    // The address's own bucket is untouched by the viewer's call.
    expect(anonymous.headers.get("RateLimit")).toBe('"anonymous";r=99;t=36');
  });

  it("an anonymous caller's bucket is CF-Connecting-IP's, never X-Forwarded-For's, and 'unknown' without one", async () => {
    const remaining = async (headers: Record<string, string>) =>
      (await limited.fetchAnonymously("/api/v1/metrics", { headers })).headers.get("RateLimit");
    expect(await remaining({ "CF-Connecting-IP": "198.51.100.7" })).toBe('"anonymous";r=99;t=36');
    expect(await remaining({ "CF-Connecting-IP": "198.51.100.7", "X-Forwarded-For": "192.0.2.1" })).toBe(
      '"anonymous";r=98;t=36',
    );
    // Without the header (only a local server lets that happen), every caller shares one bucket,
    // the one this file's other anonymous calls without the header were charged to as well.
    const shared = Number(/;r=(\d+);/.exec((await remaining({ "X-Forwarded-For": "192.0.2.2" }))!)![1]);
    expect(shared).toBeLessThan(99);
    expect(await remaining({})).toBe(`"anonymous";r=${shared - 1};t=36`);
  });
});
