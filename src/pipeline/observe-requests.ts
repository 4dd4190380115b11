import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Principal } from "../auth/roles";
import { loadConfig } from "../env";
import { logEvent } from "../observability/log";
import { prometheus } from "../observability/prometheus/recorder";
import { beginInvocation, endInvocation } from "../observability/telemetry";
import { traceparentOf } from "../observability/tracing/context";
import { SpanKind, withSpan } from "../observability/tracing/span";
import type { AppEnv } from "./app-env";

/** Methods a label may name; any other is "other", so that a client cannot mint series. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Who called, without saying who: a hash of the token's subject, or "anonymous". */
const principalLabel = (principal: Principal | undefined): string =>
  principal?.kind === "user" ? principal.subjectHash : "anonymous";

/**
 * Observes every request, whatever answers it: one server span (when traced) around
 * everything, the request counter and duration histogram by route template, and one JSON log
 * line with ECS field names so an ELK stack takes them as they are. The route is its template,
 * never the raw path; no header, query, body or token is logged, counted or traced. The trace
 * id goes back in a traceparent header, so a caller can find the request's log line and spans.
 */
export const observeRequests: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  const { telemetry } = loadConfig(c.env);
  const method = KNOWN_METHODS.has(c.req.method) ? c.req.method : "other";
  const invocation = beginInvocation(telemetry, c.req.header("traceparent"), method, SpanKind.server, {
    "http.request.method": method,
  });
  const requestId = c.req.header("CF-Ray") ?? crypto.randomUUID();
  if (invocation.root) await withSpan(invocation.root, next);
  else await next();

  const status = c.res.status;
  const route = routePath(c, -1);
  const seconds = (performance.now() - started) / 1000;
  c.res.headers.set("traceparent", traceparentOf(invocation.trace));
  prometheus.count("http_requests_total", { route, method, status: String(status) });
  prometheus.observe("http_request_duration_seconds", { route, method }, seconds);
  const root = invocation.root;
  if (root) {
    root.name = `${method} ${route}`;
    root.set("http.route", route);
    root.set("http.response.status_code", status);
    root.set("http.request.id", requestId);
    if (status >= 500) root.fail(new Error("server error"));
  }
  endInvocation(c.env, telemetry, invocation, (work) => c.executionCtx.waitUntil(work));

  if (c.env.REQUEST_LOGS === "off") return;
  logEvent(status >= 500 ? "error" : status >= 400 ? "warn" : "info", `${method} ${route} ${status}`, {
    "event.duration": Math.round(seconds * 1e9),
    "http.request.id": requestId,
    "http.request.method": method,
    "http.response.status_code": status,
    "url.path": route,
    "trace.id": invocation.trace.traceId,
    "span.id": invocation.trace.spanId,
    "cache.result": c.res.headers.get("X-Cache") ?? undefined,
    // REST sets the caller on the context, RPC's interceptor on the service context.
    "user.hash": principalLabel(c.get("principal")),
  });
};
