import { afterEach, beforeAll, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import type { Env } from "../../src/env";
import { claims, sign } from "../helpers/auth";
import { Harness } from "../helpers/jobs";
import { bearer, Code, expectProblem, rest, rpcClient, rpcFailure } from "./helpers";

/** The test environment without `missing` and with `changed`: a deployment someone forgot to configure. */
function misconfigured(missing: (keyof Env)[], changed: Partial<Env> = {}): Env {
  const copy: Env = { ...new Harness().env, ...changed };
  for (const name of missing) delete copy[name];
  return copy;
}

const NOT_CONFIGURED = "/problems/auth-not-configured";
const detailFor = (problems: string) => `The service is not configured for authentication: ${problems}.`;

let adminToken: string;
beforeAll(async () => {
  adminToken = await sign(claims({ roles: ["admin"] }));
});
// The refusal is logged on every request: kept out of the test output, and read where it matters.
let errors: MockInstance<typeof console.error>;
beforeEach(() => {
  errors = vi.spyOn(console, "error").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

describe("without AUTH_ISSUER the Worker refuses every request", () => {
  const noIssuer = misconfigured(["AUTH_ISSUER"]);

  it.each([
    { name: "GET /health, anonymously", path: "/health", admin: false, init: {} },
    { name: "GET /api/v1/metrics, anonymously", path: "/api/v1/metrics", admin: false, init: {} },
    {
      name: "GET /api/v1/benchmarks with an admin token",
      path: "/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2024",
      admin: true,
      init: {},
    },
    {
      name: "POST /api/v1/benchmarks/ranking with an admin token",
      path: "/api/v1/benchmarks/ranking",
      admin: true,
      init: {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ metric: "arr_growth", value: 35, revenueRange: "1M-5M" }),
      },
    },
    { name: "GET /api/v1/sources with an admin token", path: "/api/v1/sources", admin: true, init: {} },
    { name: "a path with no route", path: "/nowhere", admin: false, init: {} },
  ])("$name → 503 auth-not-configured", async ({ path, admin, init }) => {
    const authorization = admin ? bearer(adminToken) : undefined;
    const response = await rest(path, { authorization }, init, noIssuer);
    const problem = await expectProblem(response, 503, NOT_CONFIGURED);
    expect(problem).toMatchObject({
      title: "Service unavailable",
      detail: detailFor("AUTH_ISSUER is not set"),
    });
  });

  it("says why in the log", async () => {
    await rest("/health", {}, {}, noIssuer);
    const lines = errors.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
    expect(lines).toContainEqual({
      "@timestamp": expect.any(String),
      "log.level": "error",
      message: "refusing requests: auth is not configured",
      "labels.problems": ["AUTH_ISSUER is not set"],
    });
  });

  it.each([
    ["anonymously", undefined],
    ["with an admin token", "admin"],
  ])("over RPC, %s, every method is unavailable", async (_name, who) => {
    const client = rpcClient({ authorization: who ? bearer(adminToken) : undefined }, noIssuer);
    // One call at a time: a call started early and awaited later would reject unobserved.
    for (const call of [
      () => client.listMetrics({}),
      () =>
        client.getBenchmarkData({
          metric: "arr_growth",
          peersSelector: { case: "revenueRange", value: "1M-5M" },
        }),
      () => client.listSources({}),
    ]) {
      const failure = await rpcFailure(call());
      expect(failure.code).toBe(Code.Unavailable);
      expect(failure.rawMessage).toBe(detailFor("AUTH_ISSUER is not set"));
    }
  });
});

describe("every missing or wrong setting is named", () => {
  it.each([
    { missing: ["AUTH_AUDIENCE"], changed: {}, problems: "AUTH_AUDIENCE is not set" },
    { missing: ["AUTH_JWKS"], changed: {}, problems: "neither AUTH_JWKS_URL nor AUTH_JWKS is set" },
    { missing: [], changed: { AUTH_ISSUER: "   " }, problems: "AUTH_ISSUER is not set" },
    { missing: [], changed: { AUTH_JWKS: "{}" }, problems: 'AUTH_JWKS is not a JWKS ({"keys": [...]})' },
    {
      missing: [],
      changed: { AUTH_JWKS: '{"keys": []}' },
      problems: 'AUTH_JWKS is not a JWKS ({"keys": [...]})',
    },
    {
      missing: [],
      changed: { AUTH_JWKS_URL: "http://keys.example.com/jwks.json" },
      problems: "AUTH_JWKS_URL must be an https url",
    },
    {
      missing: [],
      changed: { ANONYMOUS_ACCESS: "everyone" },
      problems: "ANONYMOUS_ACCESS must be none, catalogue or read",
    },
    {
      missing: ["AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_JWKS"],
      changed: {},
      problems:
        "AUTH_ISSUER is not set; AUTH_AUDIENCE is not set; neither AUTH_JWKS_URL nor AUTH_JWKS is set",
    },
  ] as { missing: (keyof Env)[]; changed: Partial<Env>; problems: string }[])(
    "$problems",
    async ({ missing, changed, problems }) => {
      const workerEnv = misconfigured(missing, changed);
      const response = await rest("/health", {}, {}, workerEnv);
      expect((await expectProblem(response, 503, NOT_CONFIGURED)).detail).toBe(detailFor(problems));
      const failure = await rpcFailure(
        rpcClient({ authorization: bearer(adminToken) }, workerEnv).listMetrics({}),
      );
      expect(failure.code).toBe(Code.Unavailable);
    },
  );
});
