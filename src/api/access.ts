import type { Access } from "../auth/roles";

/**
 * What each REST route needs (see docs/security.md, "Authentication"). A path that matches none has no
 * route behind it and answers 404 or 405 to anyone; test/auth/roles.test.ts checks that every
 * route the app serves is listed here.
 */
const ROUTES: { methods: string[] | "any"; path: RegExp; access: Access }[] = [
  { methods: ["GET"], path: /^\/(health|ready)$/, access: "public" },
  // Or the scrape token, which src/app.ts checks first.
  { methods: ["GET"], path: /^\/metrics$/, access: "admin" },
  { methods: ["GET"], path: /^\/api\/v1\/(metrics|revenue-ranges)$/, access: "catalogue" },
  { methods: ["GET"], path: /^\/api\/v1\/benchmarks(\/timeseries)?$/, access: "read" },
  { methods: ["POST"], path: /^\/api\/v1\/benchmarks\/(ranking|scorecard)$/, access: "analyze" },
  { methods: "any", path: /^\/api\/v1\/(sources|ingestion)(\/|$)/, access: "admin" },
  { methods: "any", path: /^\/api\/v1\/metrics\/[^/]+\/rules$/, access: "admin" },
];

export function restAccess(method: string, path: string): Access {
  const verb = method === "HEAD" ? "GET" : method;
  const route = ROUTES.find((r) => (r.methods === "any" || r.methods.includes(verb)) && r.path.test(path));
  return route?.access ?? "public";
}
