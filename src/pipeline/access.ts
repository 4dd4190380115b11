import type { Access } from "../auth/roles";
import { BenchmarkService } from "../gen/benchmark/v1/benchmark_pb";

/*
 * What each REST route and each RPC method needs, declared once for both transports (see
 * docs/security.md, "Authentication"). Admission (admission.ts) reads it for both;
 * test/auth/roles.test.ts checks that every route the app serves and every method has an entry.
 */

/** Where the Hono app mounts the RPC service: each method at its name under it. */
export const RPC_PATH_PREFIX = `/${BenchmarkService.typeName}/`;

/** The Prometheus scrape, which also takes the scrape token instead of an admin's JWT. */
export const METRICS_PATH = "/metrics";

/** REST routes, by method and path. A path that matches none has no route behind it: 404 or 405 to anyone. */
export const REST_ACCESS: readonly { methods: readonly string[] | "any"; path: RegExp; access: Access }[] = [
  { methods: ["GET"], path: /^\/(health|ready)$/, access: "public" },
  // Or the scrape token, which admission.ts checks first.
  { methods: ["GET"], path: /^\/metrics$/, access: "admin" },
  { methods: ["GET"], path: /^\/api\/v1\/(metrics|revenue-ranges)$/, access: "catalogue" },
  { methods: ["GET"], path: /^\/api\/v1\/benchmarks(\/timeseries)?$/, access: "read" },
  { methods: ["POST"], path: /^\/api\/v1\/benchmarks\/(ranking|scorecard)$/, access: "analyze" },
  { methods: "any", path: /^\/api\/v1\/(sources|ingestion)(\/|$)/, access: "admin" },
  { methods: "any", path: /^\/api\/v1\/metrics\/[^/]+\/rules$/, access: "admin" },
];

/** RPC methods, by their name in the proto: typed so that a method added there must be added here. */
export const RPC_ACCESS: Record<keyof typeof BenchmarkService.method, Access> = {
  getBenchmarkData: "read",
  getTimeSeriesData: "read",
  calculateRanking: "analyze",
  getScorecard: "analyze",
  listMetrics: "catalogue",
  listRevenueRanges: "catalogue",
  listSources: "admin",
};

/** The entry for a REST request, if a route matches it. */
export function restRule(method: string, path: string) {
  const verb = method === "HEAD" ? "GET" : method;
  return REST_ACCESS.find((r) => (r.methods === "any" || r.methods.includes(verb)) && r.path.test(path));
}

/** What a REST request needs; a path with no route behind it is public, and answers 404 or 405. */
export const restAccess = (method: string, path: string): Access =>
  restRule(method, path)?.access ?? "public";

/**
 * What an RPC method needs, by its local name (getBenchmarkData). A name the service lacks is no
 * procedure, public like a path with no route: it answers 404 to anyone.
 */
export const rpcAccess = (localName: string): Access =>
  RPC_ACCESS[localName as keyof typeof RPC_ACCESS] ?? "public";

/** The RPC method a path names, as its local name; undefined for a path outside the RPC mount. */
export function rpcMethodOf(path: string): string | undefined {
  if (!path.startsWith(RPC_PATH_PREFIX)) return undefined;
  const name = path.slice(RPC_PATH_PREFIX.length);
  return name.charAt(0).toLowerCase() + name.slice(1);
}
