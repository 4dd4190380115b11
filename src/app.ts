import { Hono, type MiddlewareHandler } from "hono";
import { benchmarkRoutes } from "./api/benchmarks";
import { catalogueRoutes } from "./api/catalogue";
import { ingestionRoutes } from "./api/ingestion";
import { liveness, serveMetrics, serveReadiness } from "./api/operations";
import { handleError, handleNotFound } from "./api/problem";
import { ruleRoutes } from "./api/rules";
import { sourceRoutes } from "./api/sources";
import { METRICS_PATH, RPC_PATH_PREFIX } from "./pipeline/access";
import { admitRequest } from "./pipeline/admission";
import { answerHeaders } from "./pipeline/answer-headers";
import type { AppEnv } from "./pipeline/app-env";
import { observeRequests } from "./pipeline/observe-requests";
import { serveRpc } from "./rpc/router";
import { MAX_BODY_BYTES } from "./service/requests";

export function createApp() {
  const app = new Hono<AppEnv>();
  app.onError(handleError);
  app.notFound(handleNotFound);

  // Outermost of all: traces, counts, times and logs every request, whatever answers it.
  app.use("*", observeRequests);
  // Next, so that every answer carries them: routes, errors, 404s, RPC and CORS preflights.
  app.use(
    "*",
    answerHeaders({
      pathPrefixes: ["/api/", RPC_PATH_PREFIX],
      allowMethods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
      allowHeaders: [
        "Authorization",
        "Content-Type",
        "If-None-Match",
        "X-D1-Bookmark",
        "Connect-Protocol-Version",
        "Connect-Timeout-Ms",
        // gRPC-Web clients send their deadline here.
        "Grpc-Timeout",
        "X-Grpc-Web",
        "X-User-Agent",
      ],
      exposeHeaders: [
        "ETag",
        "X-D1-Bookmark",
        "RateLimit",
        "RateLimit-Policy",
        "Retry-After",
        "WWW-Authenticate",
        "Grpc-Status",
        "Grpc-Message",
        "Grpc-Status-Details-Bin",
      ],
      // Chromium's ceiling: every call with a token is preflighted, so let browsers remember.
      maxAge: 7200,
    }),
  );

  // Every request, REST or RPC, is admitted, and gets its service context (pipeline/admission.ts).
  app.use("*", admitRequest);

  app.get("/health", liveness);
  app.get("/ready", serveReadiness);
  // Prometheus exposition: the admin role or the scrape token (see above).
  app.get(METRICS_PATH, serveMetrics);

  app.use(`${RPC_PATH_PREFIX}*`, boundRpcBody);

  app.route("/api/v1/benchmarks", benchmarkRoutes);
  app.route("/api/v1", catalogueRoutes);
  app.route("/api/v1/metrics", ruleRoutes);
  app.route("/api/v1/sources", sourceRoutes);
  app.route("/api/v1/ingestion", ingestionRoutes);
  // No middleware may read the body before this: Connect reads it itself.
  app.all(`${RPC_PATH_PREFIX}*`, serveRpc);
  return app;
}

/**
 * The RPC bridge reads a body of unknown length (no Content-Length) whole before Connect's limit
 * applies. Cut one byte past the largest valid body (a message in its 5-byte gRPC-Web envelope),
 * it is still refused as too large, in the caller's protocol, but the rest is never read. REST
 * bodies need no such cut: their readers stop at the limit.
 */
const boundRpcBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  const body = c.req.raw.body;
  if (body && c.req.header("Content-Length") === undefined) {
    c.req.raw = new Request(c.req.raw, { body: body.pipeThrough(cutAfter(MAX_BODY_BYTES + 5 + 1)) });
  }
  await next();
};

/** Passes the first `limit` bytes, then ends the stream and cancels its source. */
function cutAfter(limit: number): TransformStream<Uint8Array, Uint8Array> {
  let left = limit;
  return new TransformStream({
    transform(chunk, controller) {
      controller.enqueue(chunk.subarray(0, left));
      left -= Math.min(left, chunk.byteLength);
      if (left === 0) controller.terminate();
    },
  });
}
