import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import type { Env } from "../../src/env";
import { BenchmarkService } from "../../src/gen/benchmark/v1/benchmark_pb";
import { RPC_ACCESS, restRule } from "../../src/pipeline/access";
import { claims, sign } from "../helpers/auth";
import { Harness } from "../helpers/jobs";
import { TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { clearMemoryCache, seed, seedRejections } from "../helpers/seed";
import type { BenchmarkClient } from "../rpc/helpers";
import { bearer, Code, challenge, expectProblem, rest, rpcClient, rpcFailure } from "./helpers";

type Caller = "anonymous" | "viewer" | "analyst" | "admin";
type Access = "public" | "catalogue" | "read" | "analyze" | "admin";

const CALLERS: Caller[] = ["anonymous", "viewer", "analyst", "admin"];

/** The roles table, restated here rather than read from src: what each caller may reach. */
const MAY: Record<Caller, Access[]> = {
  anonymous: ["public", "catalogue"],
  viewer: ["public", "catalogue", "read"],
  analyst: ["public", "catalogue", "read", "analyze"],
  admin: ["public", "catalogue", "read", "analyze", "admin"],
};
/** The weakest role the 403 names for each access a user may lack. */
const LEAST_ROLE = { analyze: "analyst", admin: "admin" } as const;

const tokens = new Map<Caller, string>();
const authorizationOf = (caller: Caller) =>
  caller === "anonymous" ? undefined : bearer(tokens.get(caller)!);

/** The Worker with recording queues: uploads and refreshes enqueue nothing that would run in the background. */
let harness: Harness;

/** A REST request as `caller` to the harness's Worker. */
function restAs(caller: Caller, path: string, init: RequestInit = {}, workerEnv?: Env) {
  return rest(path, { authorization: authorizationOf(caller) }, init, workerEnv ?? harness.env);
}

const json = (method: string, body: unknown): RequestInit => ({
  method,
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body),
});

const SURVEY_MAPPING = {
  columns: { metric: "KPI", band: "Band", period: "Year", n: "N", p25: "Q1", p50: "Median", p75: "Q3" },
  metricNames: { "Net Dollar Retention": "ndr" },
};
const PANEL_MAPPING = {
  columns: { companyKey: "company", metric: "metric", period: "period", arr: "arr", value: "value" },
};
const SURVEY_CSV = "KPI,Band,Year,N,Q1,Median,Q3\nNet Dollar Retention,1M-5M,2024,40,95,105,115";

/** Each role mutates rows of its own, so that a denied request can be shown to have changed nothing. */
const RULES_METRIC: Record<Caller, string> = {
  anonymous: "ndr",
  viewer: "grr",
  analyst: "gross_margin",
  admin: "cac_payback",
};

async function adminJson(path: string): Promise<unknown> {
  const response = await harness.fetch(path);
  expect(response.status).toBe(200);
  return response.json();
}

async function createSource(body: Record<string, unknown>) {
  const response = await harness.fetch("/api/v1/sources", json("POST", body));
  expect(response.status).toBe(201);
}

beforeAll(async () => {
  harness = new Harness();
  for (const caller of CALLERS) {
    if (caller !== "anonymous")
      tokens.set(caller, await sign(claims({ sub: `user-${caller}`, roles: [caller] })));
  }
  await seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES });
  await seedRejections("gamma", [{ line: 3, reason: "value is not a number" }]);
  for (const caller of CALLERS) {
    const survey = { name: "Survey", kind: "survey", mapping: SURVEY_MAPPING };
    await createSource({ ...survey, id: `doomed-${caller}` });
    await createSource({ ...survey, id: `patched-${caller}`, name: "Patched" });
    await createSource({ ...survey, id: `upload-${caller}` });
    await createSource({
      id: `refresh-${caller}`,
      name: "Feed",
      kind: "panel",
      url: `https://feeds.example.test/${caller}.csv`,
      mapping: PANEL_MAPPING,
    });
  }
});
beforeEach(() => clearMemoryCache());

interface RestRoute {
  /** The route as the app registers it. */
  method: string;
  route: string;
  needs: Access;
  /** What an allowed caller gets: the route's normal success. */
  success: number;
  request: (caller: Caller) => { path: string; init?: RequestInit };
  /** After a denied request: nothing it would have changed has changed. */
  untouched?: (caller: Caller) => Promise<void>;
}

const noRunsOf = async (sourceId: string) =>
  expect(await adminJson(`/api/v1/ingestion/runs?sourceId=${sourceId}`)).toEqual({ runs: [] });

const REST_ROUTES: RestRoute[] = [
  { method: "GET", route: "/health", needs: "public", success: 200, request: () => ({ path: "/health" }) },
  { method: "GET", route: "/ready", needs: "public", success: 200, request: () => ({ path: "/ready" }) },
  { method: "GET", route: "/metrics", needs: "admin", success: 200, request: () => ({ path: "/metrics" }) },
  {
    method: "GET",
    route: "/api/v1/metrics",
    needs: "catalogue",
    success: 200,
    request: () => ({ path: "/api/v1/metrics" }),
  },
  {
    method: "GET",
    route: "/api/v1/revenue-ranges",
    needs: "catalogue",
    success: 200,
    request: () => ({ path: "/api/v1/revenue-ranges" }),
  },
  {
    method: "GET",
    route: "/api/v1/benchmarks",
    needs: "read",
    success: 200,
    request: () => ({ path: "/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2024" }),
  },
  {
    method: "GET",
    route: "/api/v1/benchmarks/timeseries",
    needs: "read",
    success: 200,
    request: () => ({ path: "/api/v1/benchmarks/timeseries?metric=arr_growth&revenueRange=1M-5M" }),
  },
  {
    method: "POST",
    route: "/api/v1/benchmarks/ranking",
    needs: "analyze",
    success: 200,
    request: () => ({
      path: "/api/v1/benchmarks/ranking",
      init: json("POST", { metric: "arr_growth", value: 35, revenueRange: "1M-5M" }),
    }),
  },
  {
    method: "POST",
    route: "/api/v1/benchmarks/scorecard",
    needs: "analyze",
    success: 200,
    request: () => ({
      path: "/api/v1/benchmarks/scorecard",
      init: json("POST", { arr: 2_000_000, values: { arr_growth: 35 } }),
    }),
  },
  {
    method: "GET",
    route: "/api/v1/sources",
    needs: "admin",
    success: 200,
    request: () => ({ path: "/api/v1/sources" }),
  },
  {
    method: "POST",
    route: "/api/v1/sources",
    needs: "admin",
    success: 201,
    request: (caller) => ({
      path: "/api/v1/sources",
      init: json("POST", {
        id: `created-${caller}`,
        name: "Created",
        kind: "survey",
        mapping: SURVEY_MAPPING,
      }),
    }),
    untouched: async (caller) =>
      expect((await harness.fetch(`/api/v1/sources/created-${caller}`)).status).toBe(404),
  },
  {
    method: "GET",
    route: "/api/v1/sources/:id",
    needs: "admin",
    success: 200,
    request: () => ({ path: "/api/v1/sources/alpha" }),
  },
  {
    method: "PATCH",
    route: "/api/v1/sources/:id",
    needs: "admin",
    success: 200,
    request: (caller) => ({
      path: `/api/v1/sources/patched-${caller}`,
      init: json("PATCH", { name: "Renamed" }),
    }),
    untouched: async (caller) =>
      expect(await adminJson(`/api/v1/sources/patched-${caller}`)).toMatchObject({ name: "Patched" }),
  },
  {
    method: "DELETE",
    route: "/api/v1/sources/:id",
    needs: "admin",
    success: 204,
    request: (caller) => ({ path: `/api/v1/sources/doomed-${caller}`, init: { method: "DELETE" } }),
    untouched: async (caller) => {
      await adminJson(`/api/v1/sources/doomed-${caller}`);
    },
  },
  {
    method: "GET",
    route: "/api/v1/sources/:id/rejections",
    needs: "admin",
    success: 200,
    request: () => ({ path: "/api/v1/sources/gamma/rejections" }),
  },
  {
    method: "POST",
    route: "/api/v1/sources/:id/uploads",
    needs: "admin",
    success: 201,
    request: (caller) => ({
      path: `/api/v1/sources/upload-${caller}/uploads`,
      init: { method: "POST", headers: { "Content-Type": "text/csv" }, body: SURVEY_CSV },
    }),
    untouched: (caller) => noRunsOf(`upload-${caller}`),
  },
  {
    method: "POST",
    route: "/api/v1/sources/:id/refresh",
    needs: "admin",
    success: 202,
    request: (caller) => ({ path: `/api/v1/sources/refresh-${caller}/refresh`, init: { method: "POST" } }),
    untouched: async (caller) => {
      await noRunsOf(`refresh-${caller}`);
      expect(harness.ingest.sent.filter((m) => m.sourceId === `refresh-${caller}`)).toEqual([]);
    },
  },
  {
    method: "GET",
    route: "/api/v1/metrics/:key/rules",
    needs: "admin",
    success: 200,
    request: () => ({ path: "/api/v1/metrics/cac_payback/rules" }),
  },
  {
    method: "PUT",
    route: "/api/v1/metrics/:key/rules",
    needs: "admin",
    success: 200,
    request: (caller) => ({
      path: `/api/v1/metrics/${RULES_METRIC[caller]}/rules`,
      init: json("PUT", { minN: 42 }),
    }),
    untouched: async (caller) =>
      expect(await adminJson(`/api/v1/metrics/${RULES_METRIC[caller]}/rules`)).toMatchObject({ minN: 10 }),
  },
  {
    method: "GET",
    route: "/api/v1/ingestion/runs",
    needs: "admin",
    success: 200,
    request: () => ({ path: "/api/v1/ingestion/runs" }),
  },
  {
    method: "GET",
    route: "/api/v1/ingestion/runs/:id",
    needs: "admin",
    success: 200,
    request: () => ({ path: "/api/v1/ingestion/runs/gamma-run" }),
  },
  {
    method: "GET",
    route: "/api/v1/ingestion/dead-letters",
    needs: "admin",
    success: 200,
    request: () => ({ path: "/api/v1/ingestion/dead-letters" }),
  },
];

const REST_CASES = REST_ROUTES.flatMap((route) =>
  CALLERS.map((caller) => {
    const allowed = MAY[caller].includes(route.needs);
    return { ...route, caller, status: allowed ? route.success : caller === "anonymous" ? 401 : 403 };
  }),
);

describe("REST: every role × every route", () => {
  it("the table lists every route the app serves", () => {
    const served = createApp()
      .routes.filter((r) => r.method !== "ALL")
      .map((r) => `${r.method} ${r.path}`);
    expect(new Set(served)).toEqual(new Set(REST_ROUTES.map((r) => `${r.method} ${r.route}`)));
  });

  it("the access table has an entry for every route the app serves, and it is what the route needs", () => {
    for (const route of REST_ROUTES) {
      const path = route.route.replace(/:\w+/g, "x");
      expect(restRule(route.method, path)?.access, `${route.method} ${route.route}`).toBe(route.needs);
    }
  });

  it.each(REST_CASES)("$caller: $method $route → $status", async (row) => {
    const { path, init } = row.request(row.caller);
    const response = await restAs(row.caller, path, init);
    if (row.status === 401) {
      expect(response.headers.get("WWW-Authenticate")).toBe(
        challenge("invalid_request", "a bearer token is required"),
      );
      await expectProblem(response, 401, "/problems/invalid-request");
    } else if (row.status === 403) {
      const problem = await expectProblem(response, 403, "/problems/insufficient-role");
      const least = LEAST_ROLE[row.needs as keyof typeof LEAST_ROLE];
      expect(problem).toMatchObject({
        title: "Forbidden",
        detail: `This needs the ${least} role; the token's role is ${row.caller}.`,
      });
    } else {
      expect(response.status, await response.clone().text()).toBe(row.status);
      expect(response.headers.get("Content-Type")).not.toBe("application/problem+json");
    }
    if (row.status !== row.success) await row.untouched?.(row.caller);
  });
});

interface RpcMethod {
  name: string;
  needs: Access;
  call: (client: BenchmarkClient) => Promise<unknown>;
}

const BAND_1M_5M = { case: "revenueRange", value: "1M-5M" } as const;

const RPC_METHODS: RpcMethod[] = [
  {
    name: "GetBenchmarkData",
    needs: "read",
    call: (client) =>
      client.getBenchmarkData({ metric: "arr_growth", peersSelector: BAND_1M_5M, period: "2024" }),
  },
  {
    name: "GetTimeSeriesData",
    needs: "read",
    call: (client) => client.getTimeSeriesData({ metric: "arr_growth", bandSelector: BAND_1M_5M }),
  },
  {
    name: "CalculateRanking",
    needs: "analyze",
    call: (client) => client.calculateRanking({ metric: "arr_growth", value: 35, peersSelector: BAND_1M_5M }),
  },
  {
    name: "GetScorecard",
    needs: "analyze",
    call: (client) => client.getScorecard({ arr: 2_000_000, values: { arr_growth: 35 } }),
  },
  { name: "ListMetrics", needs: "catalogue", call: (client) => client.listMetrics({}) },
  { name: "ListRevenueRanges", needs: "catalogue", call: (client) => client.listRevenueRanges({}) },
  { name: "ListSources", needs: "admin", call: (client) => client.listSources({}) },
];

const RPC_CASES = RPC_METHODS.flatMap((method) =>
  CALLERS.map((caller) => {
    const allowed = MAY[caller].includes(method.needs);
    const outcome = allowed ? "ok" : caller === "anonymous" ? "unauthenticated" : "permission_denied";
    return { ...method, caller, outcome };
  }),
);

describe("RPC: every role × every method", () => {
  it("the table lists every method of the service", () => {
    expect(RPC_METHODS.map((m) => m.name).sort()).toEqual(BenchmarkService.methods.map((m) => m.name).sort());
  });

  it("the access table has an entry for every method, and it is what the method needs", () => {
    expect(Object.keys(RPC_ACCESS).sort()).toEqual(BenchmarkService.methods.map((m) => m.localName).sort());
    for (const method of RPC_METHODS) {
      const localName = BenchmarkService.methods.find((m) => m.name === method.name)!.localName;
      expect(RPC_ACCESS[localName as keyof typeof RPC_ACCESS], method.name).toBe(method.needs);
    }
  });

  it.each(RPC_CASES)("$caller: $name → $outcome", async (row) => {
    const client = rpcClient({ authorization: authorizationOf(row.caller) });
    if (row.outcome === "ok") {
      await expect(row.call(client)).resolves.toBeDefined();
      return;
    }
    const failure = await rpcFailure(row.call(client));
    if (row.outcome === "unauthenticated") {
      expect(failure.code).toBe(Code.Unauthenticated);
      expect(failure.metadata.get("WWW-Authenticate")).toBe(
        challenge("invalid_request", "a bearer token is required"),
      );
    } else {
      expect(failure.code).toBe(Code.PermissionDenied);
      const least = LEAST_ROLE[row.needs as keyof typeof LEAST_ROLE];
      expect(failure.rawMessage).toBe(`This needs the ${least} role; the token's role is ${row.caller}.`);
    }
  });
});

describe("where roles come from", () => {
  const RANKING = json("POST", { metric: "arr_growth", value: 35, revenueRange: "1M-5M" });
  const READ = "/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2024";

  it.each([
    ["an unknown role", { roles: ["superuser"] }],
    ["no roles claim at all", { roles: undefined }],
    ["an empty roles list", { roles: [] }],
    ["a known role in the wrong case", { roles: ["Admin"] }],
    ["a role only in an unrelated claim", { roles: undefined, groups: ["admin"] }],
  ])("a valid token with %s is 403 no-role, over REST and RPC", async (_name, overrides) => {
    const authorization = bearer(await sign(claims(overrides)));
    for (const path of [READ, "/api/v1/sources"]) {
      const problem = await expectProblem(await rest(path, { authorization }), 403, "/problems/no-role");
      expect(problem).toMatchObject({
        title: "Forbidden",
        detail: "The token carries no role this service knows.",
      });
    }
    const failure = await rpcFailure(
      rpcClient({ authorization }).getBenchmarkData({ metric: "arr_growth", peersSelector: BAND_1M_5M }),
    );
    expect(failure.code).toBe(Code.PermissionDenied);
    expect(failure.rawMessage).toBe("The token carries no role this service knows.");
  });

  it('a space-separated scope "analyst other" makes an analyst', async () => {
    const authorization = bearer(await sign(claims({ roles: undefined, scope: "analyst other" })));
    expect((await rest("/api/v1/benchmarks/ranking", { authorization }, RANKING)).status).toBe(200);
    const denied = await expectProblem(
      await rest("/api/v1/sources", { authorization }),
      403,
      "/problems/insufficient-role",
    );
    expect(denied.detail).toBe("This needs the admin role; the token's role is analyst.");
    const client = rpcClient({ authorization });
    await expect(
      client.calculateRanking({ metric: "arr_growth", value: 35, peersSelector: BAND_1M_5M }),
    ).resolves.toMatchObject({ percentile: 75 });
    expect((await rpcFailure(client.listSources({}))).code).toBe(Code.PermissionDenied);
  });

  it.each([
    ["the strongest of several roles", { roles: ["viewer", "admin"] }, 200],
    ["roles as a space-separated string", { roles: "viewer analyst" }, 403],
    ["a scope stronger than the roles claim", { roles: ["viewer"], scope: "openid admin" }, 200],
  ])("a token counts %s", async (_name, overrides, sourcesStatus) => {
    const authorization = bearer(await sign(claims(overrides)));
    expect((await rest("/api/v1/benchmarks/ranking", { authorization }, RANKING)).status).toBe(200);
    expect((await rest("/api/v1/sources", { authorization })).status).toBe(sourcesStatus);
  });
});

describe("anonymous access", () => {
  it.each(["/health", "/api/v1/metrics", "/api/v1/revenue-ranges"])(
    "by default (catalogue) GET %s answers 200 without a token",
    async (path) => {
      const response = await rest(path);
      expect(response.status).toBe(200);
    },
  );

  it("by default the catalogue is anonymous over RPC too, and the reads are not", async () => {
    const client = rpcClient();
    expect((await client.listMetrics({})).metrics.length).toBeGreaterThan(0);
    expect((await client.listRevenueRanges({})).revenueRanges.length).toBeGreaterThan(0);
    expect(
      (await rpcFailure(client.getBenchmarkData({ metric: "arr_growth", peersSelector: BAND_1M_5M }))).code,
    ).toBe(Code.Unauthenticated);
  });

  it("ANONYMOUS_ACCESS=none leaves only /health open", async () => {
    const closed: Env = { ...harness.env, ANONYMOUS_ACCESS: "none" };
    expect((await restAs("anonymous", "/health", {}, closed)).status).toBe(200);
    const metrics = await restAs("anonymous", "/api/v1/metrics", {}, closed);
    expect(metrics.headers.get("WWW-Authenticate")).toBe(
      challenge("invalid_request", "a bearer token is required"),
    );
    await expectProblem(metrics, 401, "/problems/invalid-request");
    expect((await restAs("viewer", "/api/v1/metrics", {}, closed)).status).toBe(200);
    expect((await rpcFailure(rpcClient({}, closed).listMetrics({}))).code).toBe(Code.Unauthenticated);
  });

  it("ANONYMOUS_ACCESS=read opens the reads, but not ranking or admin", async () => {
    const open: Env = { ...harness.env, ANONYMOUS_ACCESS: "read" };
    const read = "/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2024";
    expect((await restAs("anonymous", read, {}, open)).status).toBe(200);
    const ranking = json("POST", { metric: "arr_growth", value: 35, revenueRange: "1M-5M" });
    expect((await restAs("anonymous", "/api/v1/benchmarks/ranking", ranking, open)).status).toBe(401);
    expect((await restAs("anonymous", "/api/v1/sources", {}, open)).status).toBe(401);
    const client = rpcClient({}, open);
    await expect(
      client.getBenchmarkData({ metric: "arr_growth", peersSelector: BAND_1M_5M, period: "2024" }),
    ).resolves.toMatchObject({ period: "2024" });
    expect((await rpcFailure(client.listSources({}))).code).toBe(Code.Unauthenticated);
  });
});
