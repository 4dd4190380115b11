import { createHash } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "../app";
import type { Principal } from "../auth/roles";
import { logEvent } from "./log";

/** W3C trace context: version 00, a 16-byte trace id, an 8-byte parent span id, flags. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

const randomHex = (bytes: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");

export interface TraceContext {
  traceId: string;
  spanId: string;
  flags: string;
}

/** Continues the caller's trace when its traceparent is valid, else starts one; this request gets its own span. */
export function traceContext(traceparent: string | undefined): TraceContext {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim()) : null;
  const traceId = match && !/^0+$/.test(match[1]!) && !/^0+$/.test(match[2]!) ? match[1]! : randomHex(16);
  return { traceId, spanId: randomHex(8), flags: match?.[3] ?? "01" };
}

/** Who called, without saying who: a hash of the token's subject, or "anonymous". */
function principalLabel(principal: Principal | undefined): string {
  if (principal?.kind !== "user") return "anonymous";
  return createHash("sha256").update(principal.subject).digest("hex").slice(0, 16);
}

/**
 * One JSON line per request, with ECS field names so an ELK stack takes them as they are. The
 * route is its template, never the raw path; no header, query, body or token is logged. The
 * trace id goes back in a traceparent header, so a caller can find the request's log line.
 */
export const requestLog: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  const trace = traceContext(c.req.header("traceparent"));
  const requestId = c.req.header("CF-Ray") ?? crypto.randomUUID();
  await next();
  c.res.headers.set("traceparent", `00-${trace.traceId}-${trace.spanId}-${trace.flags}`);
  if (c.env.REQUEST_LOGS === "off") return;
  const status = c.res.status;
  const route = routePath(c, -1);
  logEvent(status >= 500 ? "error" : status >= 400 ? "warn" : "info", `${c.req.method} ${route} ${status}`, {
    "event.duration": Math.round((performance.now() - started) * 1e6),
    "http.request.id": requestId,
    "http.request.method": c.req.method,
    "http.response.status_code": status,
    "url.path": route,
    "trace.id": trace.traceId,
    "span.id": trace.spanId,
    "cache.result": c.res.headers.get("X-Cache") ?? undefined,
    // REST sets the caller on the context, RPC's interceptor on the service context.
    "user.hash": principalLabel(c.var.principal ?? c.var.services?.principal),
  });
};
