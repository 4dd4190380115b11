import type { Access } from "../auth/roles";
import type { BenchmarkService } from "../gen/benchmark/v1/benchmark_pb";

/*
 * What each REST route and each RPC method needs, declared once for both transports (see
 * docs/security.md, "Authentication"). Admission (admission.ts) reads it for both;
 * test/auth/roles.test.ts checks that every route the app serves and every method has an entry.
 */

/** REST routes, by method and path. A path that matches none has no route behind it: 404 or 405 to anyone. */
export const REST_ACCESS: readonly { methods: readonly string[] | "any"; path: RegExp; access: Access }[] = [
  { methods: ["GET"], path: /^\/(health|ready)$/, access: "public" },
  // Or the scrape token, which src/app.ts checks first.
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

/** What an RPC method needs, by its local name (getBenchmarkData); one the service lacks needs admin. */
export const rpcAccess = (localName: string): Access =>
  RPC_ACCESS[localName as keyof typeof RPC_ACCESS] ?? "admin";
