import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { describe, expect, it } from "vitest";
import { BenchmarkService } from "../../src/gen/benchmark/v1/benchmark_pb";
import { tokenFor } from "../helpers/auth";
import { Harness } from "../helpers/jobs";

/** The design's tiers, small enough to exhaust: 100 a minute for anonymous callers. */
const harness = new Harness({
  RATE_LIMITS: JSON.stringify({
    anonymous: { rate: 100, periodSeconds: 60, burst: 100 },
    user: { rate: 1000, periodSeconds: 3600, burst: 1200 },
  }),
});

/**
 * The same bucket refilling once in 36 s instead of every 0.6 s: where a test spends a bucket
 * one request at a time, a slow machine must not earn it a token back midway.
 */
const slowRefill = new Harness({
  RATE_LIMITS: JSON.stringify({ anonymous: { rate: 100, periodSeconds: 3600, burst: 100 } }),
});

/** An anonymous GET of the catalogue, as sent from `ip`. */
function anonymous(ip: string, headers: Record<string, string> = {}, through = harness) {
  return through.fetchAnonymously("/api/v1/metrics", { headers: { "CF-Connecting-IP": ip, ...headers } });
}

describe("rate limiting per principal", () => {
  it("lets exactly 100 of 150 simultaneous requests through a bucket of 100", async () => {
    const responses = await Promise.all(
      Array.from({ length: 150 }, () => anonymous("203.0.113.1", {}, slowRefill)),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses.filter((s) => s === 429)).toHaveLength(50);
    const refused = responses.find((r) => r.status === 429)!;
    expect(refused.headers.get("Content-Type")).toBe("application/problem+json");
    expect(refused.headers.get("Retry-After")).toBe("36");
    expect(refused.headers.get("RateLimit-Policy")).toBe('"anonymous";q=100;w=3600');
    expect(refused.headers.get("RateLimit")).toBe('"anonymous";r=0;t=36');
    expect(await refused.json()).toMatchObject({ status: 429, type: "/problems/rate-limited" });
  });

  it("says how much is left on every answer", async () => {
    const first = await anonymous("203.0.113.2");
    expect(first.status).toBe(200);
    expect(first.headers.get("RateLimit-Policy")).toBe('"anonymous";q=100;w=60');
    expect(first.headers.get("RateLimit")).toBe('"anonymous";r=99;t=1');
    const second = await anonymous("203.0.113.2");
    expect(second.headers.get("RateLimit")).toBe('"anonymous";r=98;t=1');
  });

  it("keys anonymous callers by CF-Connecting-IP: a forged X-Forwarded-For changes nothing", async () => {
    for (let i = 0; i < 100; i++) {
      const forged = { "X-Forwarded-For": `198.51.100.${i}` };
      expect((await anonymous("203.0.113.3", forged, slowRefill)).status).toBe(200);
    }
    const spoofed = await anonymous("203.0.113.3", { "X-Forwarded-For": "198.51.100.200" }, slowRefill);
    expect(spoofed.status).toBe(429);
    // Another address is another bucket.
    expect((await anonymous("203.0.113.4", {}, slowRefill)).status).toBe(200);
  });

  it("keys a token's caller by its subject, in the users' tier", async () => {
    const response = await harness.fetch("/api/v1/metrics", {
      headers: { Authorization: `Bearer ${await tokenFor("viewer")}`, "CF-Connecting-IP": "203.0.113.1" },
    });
    // The exhausted anonymous bucket of that address is not this caller's.
    expect(response.status).toBe(200);
    expect(response.headers.get("RateLimit-Policy")).toBe('"user";q=1200;w=3600');
  });

  it("answers resource_exhausted over RPC once the bucket is empty", async () => {
    // One request an hour: the second is refused however slowly the test runs.
    const strict = new Harness({
      RATE_LIMITS: JSON.stringify({ anonymous: { rate: 1, periodSeconds: 3600, burst: 1 } }),
    });
    const transport = createConnectTransport({
      baseUrl: "https://bench.test",
      fetch: (input, init) => {
        const headers = new Headers(init?.headers);
        headers.set("CF-Connecting-IP", "203.0.113.9");
        const url = new URL(String(input instanceof Request ? input.url : input));
        return strict.fetchAnonymously(`${url.pathname}${url.search}`, {
          ...init,
          headers,
          redirect: "manual",
        });
      },
    });
    const client = createClient(BenchmarkService, transport);
    expect((await client.listMetrics({})).metrics.length).toBeGreaterThan(0);
    const error = await client.listMetrics({}).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.ResourceExhausted);
    expect(error?.metadata.get("Retry-After")).toBe("3600");
  });
});
