import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TierLimits } from "../../src/ratelimit/config";
import { LEASE_TTL_MS, LeaseHolder, maxLease } from "../../src/ratelimit/lease";
import type { RateLimiter } from "../../src/ratelimit/rate-limiter";
import { type Bucket, type LeaseRequest, withdraw } from "../../src/ratelimit/token-bucket";
import { tokenFor } from "../helpers/auth";
import { Harness } from "../helpers/jobs";
import { growth, series } from "../helpers/metrics";

/** The bucket a Durable Object keeps, in memory, on a clock the test moves: what `lease` does, minus storage. */
function memoryBucket(clock: () => number) {
  let stored: Bucket | undefined;
  const requests: LeaseRequest[] = [];
  const stub = {
    lease: async (limits: TierLimits, request: LeaseRequest) => {
      requests.push(request);
      const { grant, bucket } = withdraw(stored, limits, clock(), request);
      stored = bucket;
      return grant;
    },
  } as unknown as DurableObjectStub<RateLimiter>;
  return { stub: () => stub, requests };
}

describe("leases", () => {
  it("let exactly 100 of 150 simultaneous requests through a bucket of 100, across three isolates", async () => {
    const key = `ip:lease-${crypto.randomUUID()}`;
    const slow = { rate: 100, periodSeconds: 3600, burst: 100 };
    const isolates = [new LeaseHolder(), new LeaseHolder(), new LeaseHolder()];
    const decisions = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        isolates[i % 3]!.spend(() => env.RATE_LIMITER.getByName(key), key, "anonymous", slow),
      ),
    );
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(100);
    const refused = decisions.filter((decision) => !decision.allowed);
    expect(refused).toHaveLength(50);
    expect(refused.every((decision) => decision.retryAfterSeconds === 36)).toBe(true);
  });

  it("lease one token to a request a minute, and more to a busy caller, up to a tenth of the burst", async () => {
    let now = 1_000_000;
    const clock = () => now;
    const limits = { rate: 1000, periodSeconds: 3600, burst: 1200 };
    const { stub, requests } = memoryBucket(clock);
    const holder = new LeaseHolder(clock);
    for (let i = 0; i < 3; i++) {
      await holder.spend(stub, "k", "user", limits);
      now += 60_000;
    }
    expect(requests).toEqual(Array(3).fill({ need: 1, extra: 0 }));

    requests.length = 0;
    for (let i = 0; i < 400; i++) {
      await holder.spend(stub, "k", "user", limits);
      now += 5;
    }
    expect(Math.max(...requests.map((r) => r.need + r.extra))).toBe(maxLease(limits));
    expect(maxLease(limits)).toBe(120);
    expect(requests.length).toBeLessThanOrEqual(400 / 20);
  });

  it("give an expired lease's unspent tokens back once, with the next call", async () => {
    let now = 1_000_000;
    const clock = () => now;
    const limits = { rate: 1000, periodSeconds: 3600, burst: 1200 };
    const { stub, requests } = memoryBucket(clock);
    const holder = new LeaseHolder(clock);
    // A burst leases ahead; the caller then stops.
    for (let i = 0; i < 50; i++) await holder.spend(stub, "k", "user", limits);
    const leased = requests.reduce((sum, r) => sum + r.need + r.extra, 0);
    expect(leased).toBeGreaterThan(50);
    now += LEASE_TTL_MS;
    await holder.spend(stub, "k", "user", limits);
    expect(requests.at(-1)).toEqual({
      need: 1,
      extra: 0,
      giveBack: { hold: expect.any(Number), tokens: leased - 50 },
    });
    now += LEASE_TTL_MS;
    await holder.spend(stub, "k", "user", limits);
    // Given back before: nothing is given back twice.
    expect(requests.at(-1)!.giveBack).toBeUndefined();
  });

  it("never let more pass, across isolates, than the bucket allows in any interval", async () => {
    const limits = { rate: 6, periodSeconds: 60, burst: 20 };
    const msPerToken = (limits.periodSeconds * 1000) / limits.rate;
    const step = fc.oneof(
      fc.record({ spends: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 12 }) }),
      fc.record({ advance: fc.integer({ min: 0, max: 2 * LEASE_TTL_MS }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        let now = 0;
        const clock = () => now;
        const { stub } = memoryBucket(clock);
        const isolates = [new LeaseHolder(clock), new LeaseHolder(clock), new LeaseHolder(clock)];
        const passed: number[] = [];
        for (const s of steps) {
          if ("advance" in s) {
            now += s.advance;
            continue;
          }
          const decisions = await Promise.all(
            s.spends.map((i) => isolates[i]!.spend(stub, "k", "user", limits)),
          );
          for (const decision of decisions) if (decision.allowed) passed.push(now);
        }
        // Any interval [a, b] admits at most the burst plus what drips in during it.
        for (let first = 0; first < passed.length; first++) {
          for (let last = first; last < passed.length; last++) {
            const dripped = Math.floor((passed[last]! - passed[first]!) / msPerToken);
            expect(last - first + 1).toBeLessThanOrEqual(limits.burst + dripped);
          }
        }
        // Nothing is lost for good: once leases expire and the bucket refills, any isolate is let through.
        now += LEASE_TTL_MS + limits.burst * msPerToken;
        for (const isolate of isolates)
          expect((await isolate.spend(stub, "k", "user", limits)).allowed).toBe(true);
      }),
      { numRuns: 200, seed: 1203 },
    );
  });
});

describe("a busy principal's cache hits", () => {
  it("make at most one Durable Object call per 20 requests", async () => {
    const harness = new Harness();
    const token = `Bearer ${await tokenFor("viewer")}`;
    const calls = series("rate_limiter_calls_total", { tier: "user" });
    const added = await growth(harness, [calls], async () => {
      for (let i = 0; i < 200; i++) {
        const response = await harness.fetch("/api/v1/metrics", { headers: { Authorization: token } });
        expect(response.status).toBe(200);
      }
    });
    expect(added[calls]).toBeGreaterThan(0);
    expect(added[calls]).toBeLessThanOrEqual(200 / 20);
  });
});
