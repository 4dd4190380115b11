import { createConnectRouter, createContextValues } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import type { Context } from "hono";
import type { AppEnv } from "../app";
import type { Access } from "../auth/roles";
import { BenchmarkService } from "../gen/benchmark/v1/benchmark_pb";
import { admitCaller, openServices } from "../pipeline/admission";
import { BOOKMARK_HEADER } from "../pipeline/bookmark";
import { MAX_BODY_BYTES } from "../service/requests";
import { admissionGate, admissionKey } from "./auth";
import { errorInterceptor } from "./errors";
import { asDecodeFailure, responseCode, toFetchResponse, toUniversalRequest } from "./http-bridge";
import { callTallyKey, countRefusedCall, metricsInterceptor } from "./metrics";
import { benchmarkService, servicesKey } from "./service";

/** Where the Hono app mounts the service. */
export const RPC_PATH_PREFIX = `/${BenchmarkService.typeName}/`;

/**
 * Connect-es has no Workers adapter: this one routes a fetch Request to the router's universal
 * handlers. It serves the Connect protocol (JSON and binary, GET for side-effect-free methods)
 * and gRPC-Web (binary and JSON); plain gRPC needs HTTP trailers, which Workers cannot send.
 */
const router = createConnectRouter({
  // The same body limit REST enforces.
  readMaxBytes: MAX_BODY_BYTES,
  // Strict like REST: an unknown field or enum name is an error, not silently dropped.
  jsonOptions: { ignoreUnknownFields: false },
  grpc: false,
  requestGate: admissionGate,
  interceptors: [metricsInterceptor, errorInterceptor],
});
router.service(BenchmarkService, benchmarkService);

const handlers = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, h]));

export async function serveRpc(c: Context<AppEnv>): Promise<Response> {
  const path = new URL(c.req.url).pathname;
  const handler = handlers.get(path);
  if (!handler) return new Response(`No procedure ${path}`, { status: 404 });
  if (!handler.allowedMethods.includes(c.req.method)) {
    return new Response(null, { status: 405, headers: { Allow: handler.allowedMethods.join(", ") } });
  }
  const contextValues = createContextValues().set(callTallyKey, { counted: false });
  // The request gate calls this before the body is parsed: the steps REST's middleware takes.
  let admitted = false;
  contextValues.set(admissionKey, async (access: Access) => {
    const { principal, rateLimit } = await admitCaller(c.env, c.req.raw, access);
    // No method writes: every call may read the nearest replica, or from its bookmark on.
    const services = openServices(c.env, c.req.raw, principal, false, (work) =>
      c.executionCtx.waitUntil(work),
    );
    c.set("principal", principal);
    c.set("services", services);
    contextValues.set(servicesKey, services);
    admitted = true;
    return rateLimit;
  });
  const prepared = await toUniversalRequest(c.req.raw, MAX_BODY_BYTES, contextValues);
  let response =
    "response" in prepared ? prepared.response : await toFetchResponse(await handler(prepared.request));
  if (!contextValues.get(callTallyKey).counted) {
    // Admitted but never handled: the message did not decode.
    if (admitted) response = await asDecodeFailure(handler, c.req.raw, response);
    countRefusedCall(handler.method.name, await responseCode(response));
  }
  const bookmark = c.var.services?.bookmark() ?? null;
  if (bookmark !== null) response.headers.set(BOOKMARK_HEADER, bookmark);
  // Side-effect-free methods answer GET, and a GET answer may be cached like REST's.
  if (c.req.method === "GET" && response.status === 200) {
    // private: answers depend on who asks, so no shared cache may keep them.
    response.headers.set("Cache-Control", `private, max-age=${c.var.services!.config.cacheMaxAgeSeconds}`);
  }
  return response;
}
