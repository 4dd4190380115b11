import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src";
import { type Env, loadConfig } from "../../src/env";
import { RPC_PATH_PREFIX } from "../../src/pipeline/access";
import { tokenFor } from "../helpers/auth";

const APP = "https://app.example.com";
const ELSEWHERE = "https://evil.example.net";

/** A request through the Worker's fetch handler, with `vars` replacing configuration. */
async function call(path: string, init: RequestInit = {}, vars: Partial<Env> = {}): Promise<Response> {
  const execution = createExecutionContext();
  const response = await worker.fetch(
    new Request(`https://bench.test${path}`, init),
    { ...env, ...vars },
    execution,
  );
  await waitOnExecutionContext(execution);
  return response;
}

const bearer = async () => ({ Authorization: `Bearer ${await tokenFor("analyst")}` });
const withAllowList = { CORS_ORIGINS: `${APP}, https://admin.example.com` };

const SECURITY_HEADERS = {
  "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Referrer-Policy": "no-referrer",
  "Strict-Transport-Security": "max-age=15552000; includeSubDomains",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
};

/** Headers that govern HTML documents only: no answer of a JSON API carries them. */
const DOCUMENT_ONLY_HEADERS = [
  "Cross-Origin-Opener-Policy",
  "Origin-Agent-Cluster",
  "X-DNS-Prefetch-Control",
  "X-Download-Options",
  "X-Permitted-Cross-Domain-Policies",
  "X-XSS-Protection",
];

const ALLOW_METHODS = "GET,POST,PUT,PATCH,DELETE,OPTIONS";
const ALLOW_HEADERS =
  "Authorization,Content-Type,If-None-Match,X-D1-Bookmark,Connect-Protocol-Version,Connect-Timeout-Ms,Grpc-Timeout,X-Grpc-Web,X-User-Agent";
const EXPOSE_HEADERS =
  "ETag,X-D1-Bookmark,RateLimit,RateLimit-Policy,Retry-After,WWW-Authenticate,Grpc-Status,Grpc-Message,Grpc-Status-Details-Bin";

function expectSecurityHeaders(response: Response) {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    expect(response.headers.get(name), name).toBe(value);
  }
  for (const name of [...DOCUMENT_ONLY_HEADERS, "X-Powered-By"])
    expect(response.headers.get(name), name).toBeNull();
}

const preflight = (path: string, origin: string, method = "POST") =>
  call(
    path,
    {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
      },
    },
    withAllowList,
  );

describe("security headers", () => {
  it.each<[name: string, status: number, contentType: string, send: () => Promise<Response>]>([
    [
      "a REST answer",
      200,
      "application/json",
      async () => call("/api/v1/metrics", { headers: await bearer() }),
    ],
    ["the liveness probe", 200, "application/json", () => call("/health")],
    ["a route that does not exist", 404, "application/problem+json", () => call("/no/such/route")],
    [
      "a validation failure",
      400,
      "application/problem+json",
      async () => call("/api/v1/benchmarks", { headers: await bearer() }),
    ],
    ["a refusal by the auth middleware", 401, "application/problem+json", () => call("/api/v1/benchmarks")],
    [
      "an RPC answer",
      200,
      "application/json",
      async () =>
        call(`${RPC_PATH_PREFIX}ListMetrics`, {
          method: "POST",
          headers: { ...(await bearer()), "Content-Type": "application/json" },
          body: "{}",
        }),
    ],
    [
      "an RPC error",
      401,
      "application/json",
      () =>
        call(`${RPC_PATH_PREFIX}GetBenchmarkData`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: "{}",
        }),
    ],
    ["an unknown RPC procedure", 404, "text/plain;charset=UTF-8", () => call(`${RPC_PATH_PREFIX}Nope`)],
    ["a CORS preflight", 204, "", () => preflight("/api/v1/metrics", APP, "GET")],
  ])("are on %s (HTTP %i)", async (_name, status, contentType, send) => {
    const response = await send();
    expect(response.status, await response.clone().text()).toBe(status);
    expect(response.headers.get("Content-Type") ?? "").toBe(contentType);
    expectSecurityHeaders(response);
  });
});

describe("CORS_ORIGINS", () => {
  // wrangler.toml sets it (to ""), so its type is a string; a deployment may still leave it out.
  const parse = (CORS_ORIGINS: string | undefined) => loadConfig({ ...env, CORS_ORIGINS } as Env).corsOrigins;

  it("is a comma-separated list of exact origins; unset or empty allows none", () => {
    expect(parse(" https://app.example.com ,http://localhost:5173,")).toEqual([
      "https://app.example.com",
      "http://localhost:5173",
    ]);
    expect(parse(undefined)).toEqual([]);
    expect(parse("")).toEqual([]);
  });

  it.each([
    "https://app.example.com/",
    "https://app.example.com/path",
    "app.example.com",
    "*",
    "https://*.example.com",
    "null",
    "ftp://files.example.com",
    "https://APP.example.com",
    "https://app.example.com:443",
    `${APP},https://ok.example.com?x=1`,
  ])("fails loudly on %j", (value) => {
    expect(() => parse(value)).toThrow(
      /CORS_ORIGINS[\s\S]*is not an origin such as https:\/\/app\.example\.com/,
    );
  });

  it("fails every API request when it is malformed, rather than guessing", async () => {
    const response = await call("/api/v1/metrics", { headers: { Origin: APP } }, { CORS_ORIGINS: `${APP}/` });
    expect(response.status).toBe(500);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });
});

describe("CORS", () => {
  it.each([
    ["REST", "/api/v1/benchmarks/ranking"],
    ["RPC", `${RPC_PATH_PREFIX}CalculateRanking`],
  ])("answers a %s preflight from an allowed origin without a token", async (_name, path) => {
    const response = await preflight(path, APP);
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe(APP);
    expect(response.headers.get("Access-Control-Allow-Methods")).toBe(ALLOW_METHODS);
    expect(response.headers.get("Access-Control-Allow-Headers")).toBe(ALLOW_HEADERS);
    expect(response.headers.get("Access-Control-Max-Age")).toBe("7200");
    expect(response.headers.get("Access-Control-Allow-Credentials")).toBeNull();
    expect(response.headers.get("Vary")).toBe("Origin, Access-Control-Request-Headers");
    // Neither authenticated nor charged.
    expect(response.headers.get("WWW-Authenticate")).toBeNull();
    expect(response.headers.get("RateLimit")).toBeNull();
  });

  it("each origin on the list is allowed as itself", async () => {
    const response = await preflight("/api/v1/metrics", "https://admin.example.com");
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe("https://admin.example.com");
  });

  it("does not spend the caller's rate limit on preflights", async () => {
    const vars = {
      ...withAllowList,
      RATE_LIMITS: JSON.stringify({ anonymous: { rate: 1, periodSeconds: 3600, burst: 1 } }),
    };
    const from = { Origin: APP, "CF-Connecting-IP": "203.0.113.77" };
    for (let i = 0; i < 5; i++) {
      const response = await call(
        "/api/v1/metrics",
        { method: "OPTIONS", headers: { ...from, "Access-Control-Request-Method": "GET" } },
        vars,
      );
      expect(response.status).toBe(204);
    }
    // The bucket holds one request an hour, and it is still there.
    const first = await call("/api/v1/metrics", { headers: from }, vars);
    expect(first.status).toBe(200);
    expect(first.headers.get("RateLimit")).toBe('"anonymous";r=0;t=3600');
    expect((await call("/api/v1/metrics", { headers: from }, vars)).status).toBe(429);
  });

  it.each([
    ["an origin not on the list", ELSEWHERE, withAllowList],
    ["a look-alike of an allowed origin", "https://app.example.com.evil.net", withAllowList],
    ["the same host over http", "http://app.example.com", withAllowList],
    ["any origin when CORS_ORIGINS is unset", APP, {}],
  ])("gives %s no Access-Control-Allow-Origin", async (_name, origin, vars) => {
    const answers = [
      await call(
        "/api/v1/metrics",
        { method: "OPTIONS", headers: { Origin: origin, "Access-Control-Request-Method": "GET" } },
        vars,
      ),
      await call("/api/v1/metrics", { headers: { Origin: origin, ...(await bearer()) } }, vars),
    ];
    for (const response of answers) {
      expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
      expect(response.headers.get("Vary")).toMatch(/^Origin\b/);
    }
    // The request itself is served as ever: CORS only tells browsers what their scripts may read.
    expect(answers[1]!.status).toBe(200);
  });

  it("lets an allowed origin read a REST answer and the headers it needs", async () => {
    const response = await call(
      "/api/v1/metrics",
      { headers: { Origin: APP, ...(await bearer()) } },
      withAllowList,
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe(APP);
    expect(response.headers.get("Access-Control-Expose-Headers")).toBe(EXPOSE_HEADERS);
    expect(response.headers.get("Vary")).toBe("Origin");
    expect(response.headers.get("ETag")).toMatch(/^"[0-9a-f]{24}"$/);
    expectSecurityHeaders(response);
  });

  it("lets an allowed origin read a refusal, WWW-Authenticate included", async () => {
    const response = await call("/api/v1/benchmarks", { headers: { Origin: APP } }, withAllowList);
    expect(response.status).toBe(401);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe(APP);
    expect(response.headers.get("Access-Control-Expose-Headers")).toBe(EXPOSE_HEADERS);
    expect(response.headers.get("WWW-Authenticate")).toMatch(/^Bearer /);
  });

  it("lets an allowed origin read an RPC answer", async () => {
    const response = await call(
      `${RPC_PATH_PREFIX}ListMetrics`,
      {
        method: "POST",
        headers: { Origin: APP, ...(await bearer()), "Content-Type": "application/json" },
        body: "{}",
      },
      withAllowList,
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe(APP);
    expect(response.headers.get("Access-Control-Expose-Headers")).toBe(EXPOSE_HEADERS);
    expect(response.headers.get("Vary")).toBe("Origin");
  });

  it("leaves the liveness probe out", async () => {
    const response = await call("/health", { headers: { Origin: APP } }, withAllowList);
    expect(response.status).toBe(200);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });
});

describe("body limits", () => {
  it("reads an RPC body without a Content-Length no further than just past the limit", async () => {
    // 4 MiB in 16 KiB chunks, of which the Worker may read 64 KiB and what the stream buffers ahead.
    const chunk = new Uint8Array(16 * 1024).fill(0x20);
    let pulled = 0;
    const large = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= 4 * 1024 * 1024) return controller.close();
        pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const response = await call(`${RPC_PATH_PREFIX}CalculateRanking`, {
      method: "POST",
      headers: { ...(await bearer()), "Content-Type": "application/json" },
      body: large,
    });
    expect(response.status).toBe(429);
    expect(await response.json()).toMatchObject({ code: "resource_exhausted" });
    expect(pulled).toBeLessThanOrEqual(64 * 1024 + 4 * chunk.byteLength);
    expectSecurityHeaders(response);
  });
});
