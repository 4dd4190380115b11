import { createConnectRouter, createContextValues } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import type { Context } from "hono";
import type { AppEnv } from "../app";
import { loadAuthSetup } from "../auth/config";
import { BenchmarkService } from "../gen/benchmark/v1/benchmark_pb";
import { MAX_BODY_BYTES } from "../service/requests";
import { authInterceptor, authSetupKey, envKey, httpRequestKey } from "./auth";
import { errorInterceptor } from "./errors";
import { toFetchResponse, toUniversalRequest } from "./http-bridge";
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
  interceptors: [metricsInterceptor, errorInterceptor, authInterceptor],
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
  const contextValues = createContextValues()
    .set(servicesKey, c.var.services)
    .set(httpRequestKey, c.req.raw)
    .set(authSetupKey, loadAuthSetup(c.env))
    .set(envKey, c.env)
    .set(callTallyKey, { counted: false });
  const prepared = await toUniversalRequest(handler, c.req.raw, MAX_BODY_BYTES, contextValues);
  const response =
    "response" in prepared ? prepared.response : await toFetchResponse(await handler(prepared.request));
  if (!contextValues.get(callTallyKey).counted) await countRefusedCall(handler.method.name, response);
  // Side-effect-free methods answer GET, and a GET answer may be cached like REST's.
  if (c.req.method === "GET" && response.status === 200) {
    // private: answers depend on who asks, so no shared cache may keep them.
    response.headers.set("Cache-Control", `private, max-age=${c.var.services.config.cacheMaxAgeSeconds}`);
  }
  return response;
}
