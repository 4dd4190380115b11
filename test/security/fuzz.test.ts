import { create, toBinary } from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../src/auth/roles";
import { BenchmarkService } from "../../src/gen/benchmark/v1/benchmark_pb";
import { concatBytes } from "../../src/pipeline/bytes";
import { describe as describeValues, fiveQuantiles, sortAscending } from "../../src/stats";
import { bearer, rest } from "../auth/helpers";
import { tokenFor } from "../helpers/auth";
import { Harness } from "../helpers/jobs";
import { clearMemoryCache } from "../helpers/seed";
import {
  LARGE_PANEL,
  LARGE_PANEL_CSV,
  loadSmallPanelCell,
  registerSource,
  SMALL_PANEL,
  SURVEY,
  upload,
} from "./helpers";

/*
 * A seeded fuzzer over every REST route and RPC method: hostile query strings, bodies, uploads,
 * paths and protobuf messages, from every role. Two properties hold for every request: nothing
 * answers 5xx, and nothing a non-admin receives carries a figure of the 3-company panel.
 * The seed is fixed and the count bounded, so CI runs the same requests every time.
 */

const SEED = 1203;
/** Each property sends hundreds of requests; on a slow machine that takes tens of seconds. */
const FUZZ_TIMEOUT_MS = 180_000;
const harness = new Harness();

/** The small panel's values: digits no other figure of the scenario shares. */
const SECRET_VALUES = [3.1234567, 4.2345678, 2.5456789];

/** Every figure computed from the small panel alone, as JSON would write it. */
function secretFigures(): string[] {
  const sorted = sortAscending(SECRET_VALUES);
  const { mean, sd, skewness, iqr } = describeValues(sorted);
  return [...SECRET_VALUES, ...Object.values(fiveQuantiles(sorted)), mean, sd ?? 0, skewness ?? 0, iqr].map(
    String,
  );
}
const SECRETS = secretFigures();

/** What no error body may carry: a driver's, a runtime's or a serializer's internals. */
const INTERNALS = /SQLITE|D1_ERROR|serialize binary|RangeError|TypeError|at .+\.ts:\d+/;

const totals = { requests: 0, serverErrors: 0, leaks: 0 };
const tokens = new Map<Role, string>();

beforeAll(async () => {
  await loadSmallPanelCell(harness, SECRET_VALUES);
  await registerSource(harness, LARGE_PANEL, "panel");
  expect((await upload(harness, LARGE_PANEL, LARGE_PANEL_CSV)).status).toBe(201);
  for (const id of ["fz-panel", "fz-json"]) {
    await registerSource(harness, id, "panel", id === "fz-json" ? { format: "json" } : {});
  }
  await registerSource(harness, "fz-survey", "survey");
  for (const role of ["viewer", "analyst", "admin"] as const) tokens.set(role, await tokenFor(role));
});

type Caller = Role | "anonymous";
interface FuzzRequest {
  caller: Caller;
  path: string;
  init: RequestInit;
  /** Sends the body gzip-compressed, compressed afresh for every send. */
  gzip?: boolean;
}

/** Sends one request and checks both properties; a failure names the request. */
async function send({ caller, path, init, gzip }: FuzzRequest): Promise<void> {
  clearMemoryCache();
  const authorization = caller === "anonymous" ? undefined : bearer(tokens.get(caller)!);
  const body = gzip ? await compress(init.body as Uint8Array) : init.body;
  const response = await rest(path, { authorization }, { ...init, body }, harness.env);
  const text = await response.text();
  totals.requests++;
  const described = `${caller} ${init.method ?? "GET"} ${path} → ${response.status} ${text.slice(0, 300)}`;
  if (response.status >= 500) totals.serverErrors++;
  expect(response.status, described).toBeLessThan(500);
  expect(text, described).not.toMatch(INTERNALS);
  if (caller !== "admin") {
    const leaked = SECRETS.filter((figure) => text.includes(figure));
    if (leaked.length > 0) totals.leaks++;
    expect(leaked, described).toEqual([]);
  }
}

const property = (arbitrary: fc.Arbitrary<FuzzRequest>, numRuns: number) =>
  fc.assert(fc.asyncProperty(arbitrary, send), { seed: SEED, numRuns, endOnFailure: true });

/* Values: what a hostile caller types, next to what a well-behaved one does. */

const KNOWN_WORDS = [
  "ltv_cac",
  "ndr",
  "arr_growth",
  "burn_multiple",
  "0-1M",
  "1M-5M",
  "50M+",
  "1995",
  "2024",
  "2024-Q3",
  SMALL_PANEL,
  LARGE_PANEL,
  SURVEY,
  "fz-panel",
  "x",
  "true",
  "false",
  "year",
  "quarter",
  "0",
  "500000",
  "1000000",
  "600000",
  "3.5",
];
const HOSTILE_WORDS = [
  "",
  " ",
  "0x10",
  "0b101",
  "0o17",
  "1_000_000",
  "1e309",
  "-1e309",
  "-0",
  "NaN",
  "Infinity",
  "-1",
  "1e12",
  "1e13",
  "3000000000",
  "9007199254740993",
  "2000001",
  "null",
  "undefined",
  "__proto__",
  "constructor",
  "prototype",
  "2024-Q9",
  "99999",
  "\u0000",
  "\u202e",
  "\uFEFF",
  "🙂",
  "a,b,,c",
  ",,,",
  "'; DROP TABLE sources;--",
  "<script>alert(1)</script>",
  "../../etc/passwd",
  "%zz",
  "x".repeat(300),
];
const word = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...KNOWN_WORDS) },
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_WORDS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.double().map(String) },
  { weight: 1, arbitrary: fc.integer().map(String) },
);
const caller = fc.constantFrom<Caller>("anonymous", "viewer", "analyst", "admin");

const QUERY_NAMES = [
  "metric",
  "revenueRange",
  "arr",
  "arrMin",
  "arrMax",
  "industry",
  "period",
  "sources",
  "includeStatistics",
  "from",
  "to",
  "granularity",
  "limit",
  "sourceId",
  "access_token",
  "__proto__",
  "metric[]",
  "",
];
const queryString = fc
  .array(fc.tuple(fc.constantFrom(...QUERY_NAMES), word, fc.boolean()), { maxLength: 7 })
  .map((pairs) =>
    pairs
      .map(
        ([name, value, raw]) =>
          `${encodeURIComponent(name)}=${raw ? value.replace(/[#&\s]/g, "") : encodeURIComponent(value)}`,
      )
      .join("&"),
  );

const GET_PATHS = [
  "/health",
  "/ready",
  "/metrics",
  "/api/v1/metrics",
  "/api/v1/revenue-ranges",
  "/api/v1/benchmarks",
  "/api/v1/benchmarks/timeseries",
  "/api/v1/sources",
  `/api/v1/sources/${SMALL_PANEL}`,
  `/api/v1/sources/${SMALL_PANEL}/rejections`,
  "/api/v1/ingestion/runs",
  "/api/v1/ingestion/runs/none",
  "/api/v1/ingestion/dead-letters",
  "/api/v1/metrics/ltv_cac/rules",
];

describe("the fuzzer: no 5xx, no leak", () => {
  it(
    "REST GET: every route, hostile query strings",
    async () => {
      await property(
        fc.record({
          caller,
          path: fc
            .tuple(fc.constantFrom(...GET_PATHS), queryString)
            .map(([path, query]) => `${path}?${query}`),
          init: fc.constant({}),
        }),
        900,
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "REST GET /benchmarks and /timeseries: near-valid queries against the small panel's cell",
    async () => {
      const near = fc.record(
        {
          metric: fc.constantFrom("ltv_cac", "ltv_cac", "ndr", "bogus"),
          revenueRange: fc.constantFrom("0-1M", "1M-5M", "5M"),
          arr: fc.constantFrom("600000", "0", "-5", "0x10"),
          arrMin: fc.constantFrom("0", "500000", "100000", "2000001"),
          arrMax: fc.constantFrom("1000000", "500000", "300000", "1e13"),
          industry: fc.constantFrom("x", "null", "\u202ex"),
          period: fc.constantFrom("1995", "1994", "1995-Q1"),
          sources: fc.constantFrom(
            SMALL_PANEL,
            `${SMALL_PANEL},${LARGE_PANEL}`,
            `${SMALL_PANEL},${SURVEY}`,
            "--",
          ),
          includeStatistics: fc.constantFrom("true", "false", "yes"),
          from: fc.constantFrom("1990", "1995"),
          to: fc.constantFrom("2000", "1995"),
          granularity: fc.constantFrom("year", "quarter", "week"),
        },
        { requiredKeys: [] },
      );
      await property(
        fc.record({
          caller,
          path: fc
            .tuple(fc.constantFrom("/api/v1/benchmarks", "/api/v1/benchmarks/timeseries"), near)
            .map(([path, query]) => `${path}?${new URLSearchParams(query as Record<string, string>)}`),
          init: fc.constant({}),
        }),
        700,
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  const jsonScalar = fc.oneof(
    word,
    fc.double(),
    fc.integer(),
    fc.constantFrom(null, true, false, 1e308, -1e308, 3e9, 1e7, 600_000, 3.5, 0, -0),
  );
  const jsonish = fc.oneof(
    { weight: 4, arbitrary: jsonScalar },
    { weight: 1, arbitrary: fc.array(jsonScalar, { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.dictionary(word, jsonScalar, { maxKeys: 3 }) },
  );
  /** A body to send as JSON: near-valid objects, arbitrary JSON, forbidden keys and text that is not JSON. */
  const jsonBody = (fields: string[]) =>
    fc.oneof(
      {
        weight: 4,
        arbitrary: fc
          .dictionary(fc.constantFrom(...fields), jsonish, { maxKeys: fields.length })
          .map((o) => JSON.stringify(o)),
      },
      { weight: 1, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom("__proto__", "constructor", "prototype")
          .map((key) => `{"${key}": {"a": 1}, "metric": "ltv_cac"}`),
      },
      { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    );
  const contentType = fc.constantFrom(
    "application/json",
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "text/csv",
    "",
  );

  it(
    "REST POST ranking and scorecard: hostile JSON bodies",
    async () => {
      const rankingFields = ["metric", "value", "revenueRange", "arr", "peers", "period", "sources", "extra"];
      const scorecardFields = ["arr", "industry", "period", "values", "extra"];
      await property(
        fc.oneof(
          fc.record({
            caller,
            path: fc.constant("/api/v1/benchmarks/ranking"),
            init: fc.tuple(jsonBody(rankingFields), contentType).map(([body, type]) => post(body, type)),
          }),
          fc.record({
            caller,
            path: fc.constant("/api/v1/benchmarks/ranking"),
            init: fc
              .record(
                {
                  metric: fc.constantFrom("ltv_cac", "ndr"),
                  value: fc.constantFrom(2.6, 3.5, 4, 1e308, -1),
                  peers: fc.record(
                    {
                      arrMin: fc.constantFrom(0, 500_000, 2_000_001),
                      arrMax: fc.constantFrom(1_000_000, 500_000),
                      industry: fc.constantFrom("x", "null"),
                    },
                    { requiredKeys: ["arrMin"] },
                  ),
                  period: fc.constant("1995"),
                  sources: fc.constantFrom([SMALL_PANEL], [SMALL_PANEL, LARGE_PANEL]),
                },
                { requiredKeys: ["metric", "value", "peers"] },
              )
              .map((body) => post(JSON.stringify(body))),
          }),
          fc.record({
            caller,
            path: fc.constant("/api/v1/benchmarks/scorecard"),
            init: fc.tuple(jsonBody(scorecardFields), contentType).map(([body, type]) => post(body, type)),
          }),
        ),
        700,
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "REST admin writes: sources, rules, uploads and refreshes with hostile bodies",
    async () => {
      const sourceFields = [
        "id",
        "name",
        "kind",
        "format",
        "url",
        "refreshIntervalMinutes",
        "active",
        "mapping",
        "credential",
        "extra",
      ];
      const ruleFields = ["minValue", "maxValue", "allowedBands", "minN", "extra"];
      const fuzzSource = fc.constantFrom("fz-panel", "fz-survey", "fz-json", "fz-missing", "fz-made");
      // Writes go to the fuzzer's own sources; the scenario's stay as they are, to keep the leak check true.
      const target = (id: string, role: Caller) => (role === "admin" ? id : SMALL_PANEL);
      await property(
        fc.oneof(
          fc.record({
            caller,
            path: fc.constant("/api/v1/sources"),
            init: fc.tuple(jsonBody(sourceFields), contentType).map(([body, type]) => post(body, type)),
          }),
          fc.record({
            caller,
            path: fc.constant("/api/v1/sources"),
            init: fc
              .record(
                {
                  id: fc.constantFrom("fz-made", "--", "Aa", "fz-url"),
                  name: word,
                  kind: fc.constantFrom("panel", "survey", "other"),
                  url: fc.constantFrom(
                    "https://127.1/",
                    "https://[::ffff:10.0.0.1]/x",
                    "http://example.com/",
                    "https://example.com/x.csv",
                    "file:///etc/passwd",
                  ),
                  mapping: fc.constant({
                    columns: { metric: "m", period: "p", companyKey: "c", value: "v", arr: "a" },
                  }),
                },
                { requiredKeys: ["id", "name", "kind", "mapping"] },
              )
              .map((body) => post(JSON.stringify(body))),
          }),
          fc.tuple(caller, fuzzSource, jsonBody(sourceFields)).map(([role, id, body]) => ({
            caller: role,
            path: `/api/v1/sources/${target(id, role)}`,
            init: { ...post(body), method: "PATCH" },
          })),
          fc
            .tuple(caller, fc.constantFrom("ltv_cac", "ndr", "bogus"), jsonBody(ruleFields))
            .map(([role, key, body]) => ({
              caller: role,
              path: `/api/v1/metrics/${key}/rules`,
              init: { ...post(body), method: "PUT" },
            })),
          fc.tuple(caller, fuzzSource).map(([role, id]) => ({
            caller: role,
            path: `/api/v1/sources/${target(id, role)}/refresh`,
            init: { method: "POST" },
          })),
          fc.tuple(caller, fc.constantFrom("fz-made", "fz-url", "fz-missing")).map(([role, id]) => ({
            caller: role,
            path: `/api/v1/sources/${id}`,
            init: { method: "DELETE" },
          })),
        ),
        500,
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "REST uploads: hostile CSV, JSON, encodings and bytes",
    async () => {
      const HEADERS = [
        "company_key,metric,period,arr,value,industry",
        "metric,band,period,n,p25,p50,p75",
        "company_key,metric,period,arr,value,value",
        "__proto__,constructor,metric",
        "",
        "\uFEFFcompany_key,metric,period,arr,value",
      ];
      const cell = fc.oneof(word, fc.constant('"quoted, with comma"'), fc.constant('"unterminated'));
      const csvText = fc
        .tuple(
          fc.constantFrom(...HEADERS),
          fc.array(fc.array(cell, { maxLength: 8 }), { maxLength: 6 }),
          fc.constantFrom("\n", "\r\n", "\r"),
        )
        .map(([header, rows, end]) => [header, ...rows.map((row) => row.join(","))].join(end));
      const jsonText = fc.oneof(
        fc.jsonValue().map((value) => JSON.stringify(value)),
        fc
          .array(
            fc.dictionary(
              fc.constantFrom("company_key", "metric", "period", "arr", "value", "__proto__"),
              jsonScalar,
            ),
            { maxLength: 5 },
          )
          .map((items) => JSON.stringify(items)),
        fc.string({ maxLength: 30 }),
      );
      const body = fc.oneof(
        csvText.map((text) => ({ type: "text/csv", bytes: new TextEncoder().encode(text) })),
        jsonText.map((text) => ({ type: "application/json", bytes: new TextEncoder().encode(text) })),
        fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ type: "text/csv", bytes })),
      );
      const encoding = fc.constantFrom(
        undefined,
        undefined,
        "gzip",
        "gzip",
        "br",
        "deflate, gzip",
        "identity",
      );
      const id = (role: Caller) =>
        role === "admin"
          ? fc.constantFrom("fz-panel", "fz-survey", "fz-json", "fz-missing")
          : fc.constantFrom(SMALL_PANEL, "fz-panel");
      await property(
        caller.chain((role) =>
          fc.tuple(id(role), body, encoding).map(([target, { type, bytes }, contentEncoding]) => ({
            caller: role,
            path: `/api/v1/sources/${target}/uploads`,
            init: {
              method: "POST",
              headers: {
                "Content-Type": type,
                ...(contentEncoding ? { "Content-Encoding": contentEncoding } : {}),
              },
              body: bytes,
            },
            gzip: contentEncoding === "gzip",
          })),
        ),
        500,
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "REST paths and methods: routes that do not exist, methods they do not take, odd headers",
    async () => {
      const segment = fc.oneof(
        fc.constantFrom(
          "api",
          "v1",
          "benchmarks",
          "sources",
          "ranking",
          "..",
          "%2e%2e",
          "%00",
          "metrics",
          SMALL_PANEL,
        ),
        fc.webSegment(),
      );
      await property(
        fc.record({
          caller,
          // A path starting "//" would name another host: the caller's URL, not the service, refuses it.
          path: fc
            .array(segment, { minLength: 1, maxLength: 5 })
            .map((parts) => `/${parts.join("/")}`.replace(/^\/+/, "/")),
          init: fc.record({
            method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "PROPFIND"),
            headers: fc.constantFrom<Record<string, string>>(
              {},
              { "Content-Type": "application/json" },
              { "If-None-Match": "*" },
              { Origin: "https://evil.example" },
              { "X-Forwarded-For": "127.0.0.1" },
              { "CF-Connecting-IP": "10.0.0.1" },
            ),
          }),
        }),
        400,
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  const METHODS = BenchmarkService.methods;
  const method = fc.constantFrom(...METHODS);
  const rpcPath = (name: string) => `/${BenchmarkService.typeName}/${name}`;
  const rpcJson = fc.dictionary(
    fc.constantFrom(
      "metric",
      "revenueRange",
      "arr",
      "peers",
      "period",
      "sources",
      "includeStatistics",
      "value",
      "from",
      "to",
      "granularity",
      "values",
      "industry",
      "unknownField",
    ),
    fc.oneof(
      jsonish,
      fc.record({ arrMin: jsonScalar, arrMax: jsonScalar, industry: jsonScalar }, { requiredKeys: [] }),
    ),
    { maxKeys: 6 },
  );

  it(
    "RPC Connect JSON: every method, hostile messages",
    async () => {
      await property(
        fc.record({
          caller,
          path: method.map((m) => rpcPath(m.name)),
          init: fc
            .tuple(
              fc.oneof(
                rpcJson.map((o) => JSON.stringify(o)),
                fc.string({ maxLength: 30 }),
              ),
              fc.constantFrom("application/json", "application/json", "application/xml"),
            )
            .map(([body, type]) => post(body, type)),
        }),
        600,
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "RPC Connect binary: every method, arbitrary bytes and well-formed messages with hostile fields",
    async () => {
      const wellFormed = method.chain((m) =>
        rpcJson.map((json) => {
          try {
            return { name: m.name, bytes: toBinary(m.input, create(m.input, fromLooseJson(json))) };
          } catch {
            return { name: m.name, bytes: new Uint8Array([0x0a, 0x03, 0x6e, 0x64, 0x72]) };
          }
        }),
      );
      await property(
        fc
          .record({
            caller,
            path: fc.constant(""),
            init: fc.constant({}),
          })
          .chain((base) =>
            fc.oneof(
              fc.tuple(method, fc.uint8Array({ maxLength: 48 })).map(([m, bytes]) => ({
                ...base,
                path: rpcPath(m.name),
                init: post(bytes, "application/proto"),
              })),
              wellFormed.map(({ name, bytes }) => ({
                ...base,
                path: rpcPath(name),
                init: post(bytes, "application/proto"),
              })),
            ),
          ),
        400,
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "RPC Connect GET: every method, every encoding, hostile messages",
    async () => {
      const message = fc.oneof(
        rpcJson.map((o) => JSON.stringify(o)),
        fc.string({ maxLength: 30 }),
        fc.uint8Array({ maxLength: 24 }).map((bytes) => base64Encode(bytes, "url")),
        fc.constantFrom("!!!!", "", "e30", "%FF"),
      );
      await property(
        fc.record({
          caller,
          path: fc
            .tuple(
              method,
              fc.constantFrom("json", "proto", "xml", ""),
              fc.constantFrom("0", "1", ""),
              message,
              fc.constantFrom("", "&compression=gzip", "&connect=v2"),
            )
            .map(
              ([m, encoding, base64, text, extra]) =>
                `${rpcPath(m.name)}?connect=v1&encoding=${encoding}&base64=${base64}&message=${encodeURIComponent(text)}${extra}`,
            ),
          init: fc.constant({}),
        }),
        400,
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "RPC gRPC-Web: every method, hostile frames",
    async () => {
      const frame = fc
        .tuple(
          fc.constantFrom(0, 0, 1, 0x80, 0xff),
          fc.uint8Array({ maxLength: 24 }),
          fc.integer({ min: -4, max: 4 }),
        )
        .map(([flags, payload, lie]) => {
          const out = new Uint8Array(5 + payload.length);
          out[0] = flags;
          new DataView(out.buffer).setUint32(1, Math.max(0, payload.length + lie));
          out.set(payload, 5);
          return out;
        });
      await property(
        fc.record({
          caller,
          path: method.map((m) => rpcPath(m.name)),
          init: fc
            .tuple(
              fc.array(frame, { maxLength: 3 }),
              fc.constantFrom(
                "application/grpc-web",
                "application/grpc-web+proto",
                "application/grpc-web+json",
                "application/grpc-web-text",
              ),
            )
            .map(([frames, type]) => post(concatBytes(frames), type)),
        }),
        300,
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it("sent at least 5,000 requests across every route and method, none of them answered 5xx or leaked", ({
    task,
  }) => {
    expect(totals.requests).toBeGreaterThanOrEqual(5000);
    expect(totals.serverErrors).toBe(0);
    expect(totals.leaks).toBe(0);
    // .ci/run adds these to its last line.
    (task.meta as Record<string, unknown>).fuzz = { ...totals };
  });
});

afterAll(() => {
  console.log(
    `Fuzz: ${totals.requests} requests, ${totals.serverErrors} answered 5xx, ${totals.leaks} leaked`,
  );
});

function post(body: BodyInit, contentType = "application/json"): RequestInit {
  return { method: "POST", headers: contentType ? { "Content-Type": contentType } : {}, body };
}

async function compress(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A loose JSON object as message init: only the fields a message has, of the right kind, survive `create`. */
function fromLooseJson(json: Record<string, unknown>): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean")
      init[key] = value;
  }
  return init;
}
