import { createConnectRouter, createContextValues, createServiceImplSpec } from "@connectrpc/connect";
import {
  createMethodUrl,
  type UniversalHandler,
  validateUniversalHandlerOptions,
} from "@connectrpc/connect/protocol";
import type { Context } from "hono";
import { BenchmarkService } from "../gen/benchmark/v1/benchmark_pb";
import type { AppEnv } from "../pipeline/app-env";
import { MAX_BODY_BYTES } from "../service/requests";
import { admissionGate, refusalKey } from "./auth";
import { errorInterceptor } from "./errors";
import {
  answerCall,
  asDecodeFailure,
  type ConnectUnaryHandler,
  connectUnaryHandler,
  responseCode,
} from "./http-bridge";
import { callTallyKey, countRefusedCall, metricsInterceptor } from "./metrics";
import { benchmarkService, serviceContextKey } from "./service";

/**
 * The Connect protocol (JSON and binary, GET for side-effect-free methods) and gRPC-Web (binary
 * and JSON); plain gRPC needs HTTP trailers, which Workers cannot send. connect-es's own
 * createFetchHandler would stream every body through ReadableStream adapters: the bridge
 * (http-bridge.ts) reads a unary body once and answers a Connect unary POST from connect-es's
 * parts without its universal handler.
 */
const options = {
  // The same body limit REST enforces.
  readMaxBytes: MAX_BODY_BYTES,
  // Strict like REST: an unknown field or enum name is an error, not silently dropped.
  jsonOptions: { ignoreUnknownFields: false },
  // The pipeline admits a call before its body is read (pipeline/admission.ts); the request gate,
  // which runs before connect-es reads it, answers the pipeline's refusal in the call's protocol.
  requestGate: admissionGate,
  // Outermost first. Metrics count each call by the Connect code it ends with, so they sit outside
  // the error interceptor, which turns service errors into those codes; validation is the
  // service methods' own first step (rpc/service.ts), against the schemas REST uses.
  interceptors: [metricsInterceptor, errorInterceptor],
};
const router = createConnectRouter({ ...options, grpc: false });
router.service(BenchmarkService, benchmarkService);

const handlers = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, h]));
/** Each unary method's Connect POST, answered without connect-es's general machinery. */
const connectUnaryHandlers = new Map<string, ConnectUnaryHandler>();
const implementation = createServiceImplSpec<typeof BenchmarkService>(BenchmarkService, benchmarkService);
// The options as connect-es completes them for its own handlers (its JSON and binary defaults).
const handlerOptions = validateUniversalHandlerOptions(options);
for (const spec of Object.values(implementation.methods)) {
  if (spec.kind !== "unary") continue;
  connectUnaryHandlers.set(createMethodUrl("/", spec.method), connectUnaryHandler(spec, handlerOptions));
}

export async function serveRpc(c: Context<AppEnv>): Promise<Response> {
  const path = c.req.path;
  const handler = handlers.get(path);
  if (!handler) return new Response(`No procedure ${path}`, { status: 404 });
  if (!handler.allowedMethods.includes(c.req.method)) {
    return new Response(null, { status: 405, headers: { Allow: handler.allowedMethods.join(", ") } });
  }
  const contextValues = createContextValues().set(callTallyKey, { counted: false });
  // Admitted or refused by the pipeline (pipeline/admission.ts); the request gate answers a refusal.
  const refusal = c.get("refusal");
  contextValues.set(refusalKey, refusal);
  const ctx = c.get("serviceContext");
  if (ctx !== undefined) contextValues.set(serviceContextKey, ctx);
  let response = await answerCall(
    handler,
    connectUnaryHandlers.get(path),
    c.req.raw,
    MAX_BODY_BYTES,
    contextValues,
  );
  if (!contextValues.get(callTallyKey).counted) {
    // Admitted but never handled: the message did not decode.
    if (refusal === undefined) response = await asDecodeFailure(handler, c.req.raw, response);
    countRefusedCall(handler.method.name, await responseCode(response));
  }
  // Side-effect-free methods answer GET, and a GET answer may be cached like REST's.
  if (c.req.method === "GET" && response.status === 200) {
    // private: answers depend on who asks, so no shared cache may keep them.
    response.headers.set("Cache-Control", `private, max-age=${ctx!.config.cacheMaxAgeSeconds}`);
  }
  return response;
}
