import { SELF } from "cloudflare:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  BenchmarkService,
  GetTimeSeriesDataRequestSchema,
  type Granularity,
} from "../../src/gen/benchmark/v1/benchmark_pb";
import { BadRequestSchema } from "../../src/gen/google/rpc/error_details_pb";
import { withToken } from "../helpers/auth";
import { TEST_OBSERVATIONS, TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { clearMemoryCache, seed } from "../helpers/seed";
import {
  BASE_URL,
  type BenchmarkClient,
  clientOver,
  postRpc,
  type RecordedExchange,
  TRANSPORTS,
} from "./helpers";

beforeAll(() => seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES, observations: TEST_OBSERVATIONS }));
beforeEach(() => clearMemoryCache());

const BAND_1M_5M = { case: "revenueRange", value: "1M-5M" } as const;
/** Bytes no message decodes from: a tag whose varint never ends within 32 bits. */
const MALFORMED_PROTOBUF = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]);
const OVER_64_KIB = JSON.stringify({ metric: "x".repeat(70_000), value: 1 });

async function rejection(call: Promise<unknown>): Promise<ConnectError> {
  const error = await call.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}

/** A failure: its code, the snake_case fields its BadRequest detail names (none for other codes), the call. */
type ClientCase = [
  name: string,
  code: keyof typeof Code,
  fields: string[],
  call: (client: BenchmarkClient) => Promise<unknown>,
];

const CLIENT_CASES: ClientCase[] = [
  [
    "no peers chosen",
    "InvalidArgument",
    ["revenue_range"],
    (c) => c.getBenchmarkData({ metric: "arr_growth" }),
  ],
  [
    "a missing value (not read as 0)",
    "InvalidArgument",
    ["value"],
    (c) => c.calculateRanking({ metric: "arr_growth", peersSelector: BAND_1M_5M }),
  ],
  [
    "a scorecard without arr",
    "InvalidArgument",
    ["arr"],
    (c) => c.getScorecard({ values: { arr_growth: 10 } }),
  ],
  [
    "an unknown metric",
    "InvalidArgument",
    ["metric"],
    (c) => c.calculateRanking({ metric: "nope", value: 1, peersSelector: BAND_1M_5M }),
  ],
  [
    "a value outside the metric's range",
    "InvalidArgument",
    ["value"],
    (c) => c.calculateRanking({ metric: "arr_growth", value: 5000, peersSelector: BAND_1M_5M }),
  ],
  [
    "a NaN value",
    "InvalidArgument",
    ["value"],
    (c) => c.calculateRanking({ metric: "arr_growth", value: Number.NaN, peersSelector: BAND_1M_5M }),
  ],
  [
    "an infinite value",
    "InvalidArgument",
    ["value"],
    (c) =>
      c.calculateRanking({
        metric: "arr_growth",
        value: Number.POSITIVE_INFINITY,
        peersSelector: BAND_1M_5M,
      }),
  ],
  [
    "a peer group whose upper bound is below its lower",
    "InvalidArgument",
    ["peers.arr_max"],
    (c) =>
      c.calculateRanking({
        metric: "ndr",
        value: 100,
        peersSelector: { case: "peers", value: { arrMin: 2_000_000, arrMax: 1_000_000 } },
      }),
  ],
  [
    "an unknown source",
    "InvalidArgument",
    ["sources"],
    (c) => c.getBenchmarkData({ metric: "arr_growth", peersSelector: BAND_1M_5M, sources: ["ghost"] }),
  ],
  [
    "a malformed period",
    "InvalidArgument",
    ["period"],
    (c) =>
      c.calculateRanking({ metric: "arr_growth", value: 1, peersSelector: BAND_1M_5M, period: "2025-Q0" }),
  ],
  [
    "an unknown granularity number",
    "InvalidArgument",
    ["granularity"],
    (c) =>
      c.getTimeSeriesData({ metric: "arr_growth", bandSelector: BAND_1M_5M, granularity: 99 as Granularity }),
  ],
  ["an empty scorecard", "InvalidArgument", ["values"], (c) => c.getScorecard({ arr: 1, values: {} })],
  [
    "a cell without data",
    "NotFound",
    [],
    (c) =>
      c.calculateRanking({
        metric: "ndr",
        value: 105,
        peersSelector: { case: "revenueRange", value: "50M+" },
      }),
  ],
  [
    "a custom peer group without a panel among the sources",
    "NotFound",
    [],
    (c) =>
      c.getBenchmarkData({
        metric: "ndr",
        peersSelector: { case: "peers", value: { arrMin: 1_000_000 } },
        sources: ["alpha"],
      }),
  ],
  [
    "a peer group below the minimum size",
    "FailedPrecondition",
    [],
    (c) => c.calculateRanking({ metric: "logo_churn", value: 9, peersSelector: BAND_1M_5M }),
  ],
];

describe.each(TRANSPORTS)("over $name", (transport) => {
  let client: BenchmarkClient;
  let exchanges: RecordedExchange[];
  beforeEach(() => {
    ({ client, exchanges } = clientOver(transport));
  });

  it.each(CLIENT_CASES)("%s fails with %s naming %j", async (_name, code, fields, call) => {
    const error = await rejection(call(client));
    expect(Code[error.code]).toBe(code);
    expect(error.rawMessage).not.toMatch(/internal/i);
    const violations = error.findDetails(BadRequestSchema).flatMap((detail) => detail.fieldViolations);
    expect(violations.map((v) => v.field)).toEqual(fields);
    // Each violation says what is wrong, not just where.
    for (const violation of violations) expect(violation.description).not.toBe("");
    // A failed answer, even to a GET, is never marked cacheable.
    for (const exchange of exchanges) expect(exchange.cacheControl).toBeNull();
  });
});

/** The Connect protocol's error body. */
interface ConnectErrorJson {
  code: string;
  message?: string;
  details?: { type: string }[];
}

async function connectErrorOf(response: Response, status: number): Promise<ConnectErrorJson> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get("Content-Type")).toBe("application/json");
  expect(text).not.toMatch(/internal/i);
  return JSON.parse(text) as ConnectErrorJson;
}

function streamOf(text: string): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
  });
}

/** A time series request in Connect JSON, with fields to add or override. */
const timeSeriesJson = (fields: Record<string, unknown>) =>
  JSON.stringify({ metric: "arr_growth", revenueRange: "1M-5M", ...fields });

const procedureUrl = (method: string) => `${BASE_URL}/${BenchmarkService.typeName}/${method}`;

describe("requests no client would send", () => {
  it.each<[name: string, status: number, code: string, send: () => Promise<Response>]>([
    ["malformed JSON", 400, "invalid_argument", () => postRpc("CalculateRanking", "{nope")],
    [
      "a NaN literal, which JSON does not have",
      400,
      "invalid_argument",
      () => postRpc("CalculateRanking", '{"metric":"arr_growth","value":NaN,"revenueRange":"1M-5M"}'),
    ],
    [
      "an unknown granularity name",
      400,
      "invalid_argument",
      () => postRpc("GetTimeSeriesData", timeSeriesJson({ granularity: "GRANULARITY_NOPE" })),
    ],
    [
      "an unknown granularity number in JSON",
      400,
      "invalid_argument",
      () => postRpc("GetTimeSeriesData", timeSeriesJson({ granularity: 99 })),
    ],
    [
      "an unknown granularity number in binary",
      400,
      "invalid_argument",
      () =>
        postRpc(
          "GetTimeSeriesData",
          toBinary(
            GetTimeSeriesDataRequestSchema,
            create(GetTimeSeriesDataRequestSchema, {
              metric: "arr_growth",
              bandSelector: BAND_1M_5M,
              granularity: 99 as Granularity,
            }),
          ),
          "application/proto",
        ),
    ],
    [
      "a malformed protobuf body",
      400,
      "invalid_argument",
      () => postRpc("CalculateRanking", MALFORMED_PROTOBUF, "application/proto"),
    ],
    [
      "a malformed protobuf message in a Connect GET",
      400,
      "invalid_argument",
      async () =>
        SELF.fetch(
          `${procedureUrl("CalculateRanking")}?connect=v1&encoding=proto&base64=1&message=${btoa(
            String.fromCharCode(...MALFORMED_PROTOBUF),
          )}`,
          await withToken(procedureUrl("CalculateRanking")),
        ),
    ],
    ["a body over 64 KiB", 429, "resource_exhausted", () => postRpc("CalculateRanking", OVER_64_KIB)],
    [
      "a body over 64 KiB without a Content-Length",
      429,
      "resource_exhausted",
      () => postRpc("CalculateRanking", streamOf(OVER_64_KIB)),
    ],
  ])("%s gets HTTP %i with code %s", async (_name, status, code, send) => {
    const body = await connectErrorOf(await send(), status);
    expect(body.code).toBe(code);
  });

  it("a validation failure carries a BadRequest detail on the wire", async () => {
    const body = await connectErrorOf(
      await postRpc(
        "CalculateRanking",
        JSON.stringify({ metric: "arr_growth", value: 5000, revenueRange: "1M-5M" }),
      ),
      400,
    );
    expect(body.code).toBe("invalid_argument");
    expect(body.details?.map((d) => d.type)).toEqual(["google.rpc.BadRequest"]);
  });

  it("gRPC-Web answers a malformed protobuf body with INVALID_ARGUMENT", async () => {
    // One data frame: flag 0, a big-endian length, then the bytes.
    const frame = new Uint8Array([0, 0, 0, 0, MALFORMED_PROTOBUF.length, ...MALFORMED_PROTOBUF]);
    const response = await postRpc("CalculateRanking", frame, "application/grpc-web+proto");
    const trailers = grpcWebTrailers(new Uint8Array(await response.arrayBuffer()));
    expect(trailers.get("grpc-status")).toBe(String(Code.InvalidArgument));
  });

  it("a caller without a token is refused before its body is parsed, as REST refuses it", async () => {
    const response = await SELF.fetch(procedureUrl("CalculateRanking"), {
      method: "POST",
      headers: { "Content-Type": "application/proto" },
      body: MALFORMED_PROTOBUF,
    });
    const body = await connectErrorOf(response, 401);
    expect(body.code).toBe("unauthenticated");
    expect(response.headers.get("WWW-Authenticate")).toMatch(/^Bearer /);
  });
});

/** The trailer frame (flag 0x80) of a gRPC-Web response body, as header lines. */
function grpcWebTrailers(body: Uint8Array): Map<string, string> {
  let offset = 0;
  while (offset + 5 <= body.length) {
    const length = new DataView(body.buffer, body.byteOffset + offset + 1, 4).getUint32(0);
    const payload = body.subarray(offset + 5, offset + 5 + length);
    if (body[offset]! & 0x80) {
      const lines = new TextDecoder().decode(payload).split("\r\n").filter(Boolean);
      return new Map(lines.map((line) => line.split(/:\s*/, 2) as [string, string]));
    }
    offset += 5 + length;
  }
  throw new Error("no trailer frame in the gRPC-Web response");
}

describe("HTTP around the procedures", () => {
  it("an unknown procedure is 404", async () => {
    const response = await postRpc("NoSuchMethod", "{}");
    expect(response.status).toBe(404);
    expect(await response.text()).not.toMatch(/internal/i);
  });

  it("PUT is 405 and says which methods are allowed", async () => {
    const response = await SELF.fetch(
      procedureUrl("CalculateRanking"),
      await withToken(procedureUrl("CalculateRanking"), { method: "PUT", body: "{}" }),
    );
    expect(response.status).toBe(405);
    expect(response.headers.get("Allow")).toBe("POST, GET");
  });

  it("a text/plain body is 415", async () => {
    const response = await postRpc("CalculateRanking", "metric=arr_growth", "text/plain");
    expect(response.status).toBe(415);
    expect(await response.text()).not.toMatch(/internal/i);
  });
});
