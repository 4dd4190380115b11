import { SELF } from "cloudflare:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { createConnectRouter, createContextValues, createServiceImplSpec } from "@connectrpc/connect";
import { validateUniversalHandlerOptions } from "@connectrpc/connect/protocol";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { INTERNAL_DETAIL, invalidArgument } from "../../src/domain/errors";
import { BenchmarkService, CalculateRankingRequestSchema } from "../../src/gen/benchmark/v1/benchmark_pb";
import { errorInterceptor } from "../../src/rpc/errors";
import { answerCall, connectUnaryHandler } from "../../src/rpc/http-bridge";
import { withToken } from "../helpers/auth";
import { TEST_OBSERVATIONS, TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { clearMemoryCache, seed } from "../helpers/seed";
import { BASE_URL } from "./helpers";

/*
 * A Connect unary POST is answered by the bridge from connect-es's parts (connectUnaryHandler),
 * and any call it does not take by connect-es's universal handler. A call with a deadline
 * (Connect-Timeout-Ms) goes to connect-es, so the same call sent with and without one must get
 * the same answer, byte for byte, whichever way it ends.
 */

beforeAll(() => seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES, observations: TEST_OBSERVATIONS }));
beforeEach(() => clearMemoryCache());

const RANKING = { metric: "arr_growth", value: 55, revenueRange: "1M-5M" };
const RANKING_PROTO = toBinary(
  CalculateRankingRequestSchema,
  create(CalculateRankingRequestSchema, {
    metric: "arr_growth",
    value: 55,
    peersSelector: { case: "revenueRange", value: "1M-5M" },
  }),
);
/** A tag whose varint never ends within 32 bits: no message decodes from it. */
const MALFORMED_PROTOBUF = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]);

interface Call {
  procedure: string;
  contentType: string;
  body: Uint8Array | string;
  /** Whose token the call carries; none sends no Authorization header. */
  caller?: "none";
}

const CALLS: [name: string, call: Call, status: number][] = [
  [
    "a ranking in binary",
    { procedure: "CalculateRanking", contentType: "application/proto", body: RANKING_PROTO },
    200,
  ],
  [
    "a ranking in JSON",
    { procedure: "CalculateRanking", contentType: "application/json", body: JSON.stringify(RANKING) },
    200,
  ],
  [
    "a band benchmark in JSON with a charset",
    {
      procedure: "GetBenchmarkData",
      contentType: "application/json; charset=utf-8",
      body: JSON.stringify({ metric: "arr_growth", revenueRange: "1M-5M", includeStatistics: true }),
    },
    200,
  ],
  [
    "an empty message",
    { procedure: "ListMetrics", contentType: "application/proto", body: new Uint8Array() },
    200,
  ],
  [
    "a value out of range, with its BadRequest detail",
    {
      procedure: "CalculateRanking",
      contentType: "application/json",
      body: JSON.stringify({ ...RANKING, value: 5000 }),
    },
    400,
  ],
  [
    "a malformed protobuf body",
    { procedure: "CalculateRanking", contentType: "application/proto", body: MALFORMED_PROTOBUF },
    400,
  ],
  [
    "an unknown JSON field",
    {
      procedure: "CalculateRanking",
      contentType: "application/json",
      body: JSON.stringify({ ...RANKING, extra: 1 }),
    },
    400,
  ],
  [
    "JSON that is not JSON",
    { procedure: "CalculateRanking", contentType: "application/json", body: "{" },
    400,
  ],
  [
    "no token",
    { procedure: "CalculateRanking", contentType: "application/proto", body: RANKING_PROTO, caller: "none" },
    401,
  ],
  [
    "an analyst asking for the sources",
    { procedure: "ListSources", contentType: "application/json", body: "{}" },
    403,
  ],
];

/**
 * Headers that differ between any two calls: the trace, the caller's bucket, the clock, whether D1
 * was read rather than the cache, and the framing (workerd sends a Content-Length for either).
 */
const PER_CALL_HEADERS = new Set(["traceparent", "ratelimit", "date", "x-d1-bookmark", "content-length"]);

async function send(call: Call, headers: Record<string, string> = {}): Promise<Response> {
  const url = `${BASE_URL}/${BenchmarkService.typeName}/${call.procedure}`;
  const init = { method: "POST", headers: { "Content-Type": call.contentType, ...headers }, body: call.body };
  if (call.caller === "none") return SELF.fetch(url, init);
  // The analyst's token, even for an admin's procedure: the refusal is what is compared.
  return SELF.fetch(
    url,
    await withToken("https://bench.test/api/v1/benchmarks/ranking", { ...init, method: "POST" }),
  );
}

async function answerOf(response: Response) {
  const headers = [...response.headers].filter(([name]) => !PER_CALL_HEADERS.has(name.toLowerCase()));
  const body = new Uint8Array(await response.arrayBuffer());
  const json = response.headers.get("Content-Type")?.startsWith("application/json");
  return { status: response.status, headers, body: json ? new TextDecoder().decode(body) : body };
}

describe("a Connect unary POST gets the same answer from the bridge and from connect-es", () => {
  it.each(CALLS)("%s", async (_name, call, status) => {
    const bridge = await answerOf(await send(call));
    const connectEs = await answerOf(await send(call, { "Connect-Timeout-Ms": "60000" }));
    expect(bridge.status).toBe(status);
    expect(bridge).toEqual(connectEs);
  });
});

describe("connectUnaryHandler beside connect-es's universal handler, on one implementation", () => {
  // An int32 field out of its range fails binary serialization: connect-es's message names the field.
  const implementation = {
    async listMetrics() {
      return { metrics: [{ key: "arr_growth", name: "ARR growth" }] };
    },
    async calculateRanking() {
      throw invalidArgument([{ field: "value", message: "must be at most 1000" }]);
    },
    async getBenchmarkData() {
      return { pooled: { n: 2 ** 40 } };
    },
  };
  const options = {
    readMaxBytes: 65_536,
    jsonOptions: { ignoreUnknownFields: false },
    interceptors: [
      errorInterceptor,
      // Metadata set by an interceptor goes out as headers and, in Connect unary, trailer- headers.
      (next: Parameters<typeof errorInterceptor>[0]) => async (request: Parameters<typeof next>[0]) => {
        const response = await next(request);
        response.header.set("X-Answered-By", "interceptor");
        response.trailer.set("X-Trailer", "set");
        return response;
      },
    ],
  };
  const router = createConnectRouter({ ...options, grpc: false, grpcWeb: false });
  router.service(BenchmarkService, implementation);
  const specs = createServiceImplSpec<typeof BenchmarkService>(BenchmarkService, implementation).methods;

  async function bothWays(procedure: string, localName: string, contentType: string, body: string) {
    const handler = router.handlers.find((h) => h.method.name === procedure)!;
    const spec = specs[localName]!;
    if (spec.kind !== "unary") throw new Error(`${procedure} is not unary`);
    const request = () =>
      new Request(`${BASE_URL}${handler.requestPath}`, {
        method: "POST",
        headers: { "Content-Type": contentType, "Content-Length": String(body.length) },
        body,
      });
    const bridge = connectUnaryHandler(spec, validateUniversalHandlerOptions(options));
    const [viaBridge, viaConnectEs] = await Promise.all([
      answerCall(handler, bridge, request(), options.readMaxBytes, createContextValues()),
      answerCall(handler, undefined, request(), options.readMaxBytes, createContextValues()),
    ]);
    return [await answerOf(viaBridge), await answerOf(viaConnectEs)] as const;
  }

  it("an answer carries the interceptor's headers and trailers", async () => {
    const [bridge, connectEs] = await bothWays("ListMetrics", "listMetrics", "application/json", "{}");
    expect(bridge).toEqual(connectEs);
    expect(new Headers(bridge.headers).get("X-Answered-By")).toBe("interceptor");
    expect(new Headers(bridge.headers).get("Trailer-X-Trailer")).toBe("set");
    expect(JSON.parse(bridge.body as string)).toEqual({
      metrics: [{ key: "arr_growth", name: "ARR growth" }],
    });
  });

  it("a service error becomes its Connect error, with its field violation", async () => {
    const [bridge, connectEs] = await bothWays(
      "CalculateRanking",
      "calculateRanking",
      "application/json",
      "{}",
    );
    expect(bridge).toEqual(connectEs);
    expect(bridge.status).toBe(400);
    const error = JSON.parse(bridge.body as string);
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toBe("value: must be at most 1000");
    expect(error.details.map((detail: { type: string }) => detail.type)).toEqual(["google.rpc.BadRequest"]);
  });

  it("an answer that fails to serialize is internal, and says nothing of its fields", async () => {
    const [bridge, connectEs] = await bothWays(
      "GetBenchmarkData",
      "getBenchmarkData",
      "application/proto",
      "",
    );
    expect(bridge).toEqual(connectEs);
    expect(bridge.status).toBe(500);
    expect(JSON.parse(bridge.body as string)).toEqual({
      code: "internal",
      message: INTERNAL_DETAIL,
    });
  });
});
