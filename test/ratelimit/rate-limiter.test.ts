import {
  evictDurableObject,
  listDurableObjectIds,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import {
  bucketFor,
  DEFAULT_RATE_LIMITS,
  LeaseHolder,
  type RateLimiter,
  rateLimitExceeded,
  rateLimitHeaders,
  takeToken,
} from "../../src/ratelimit";
import type { TierLimits } from "../../src/ratelimit/config";
import { PERSIST_DELAY_MS } from "../../src/ratelimit/rate-limiter";

// Ahead of the real clock, so that the alarms the tests schedule never fire on their own.
const T0 = Date.UTC(2100, 0, 1);
/** 10 tokens, one more every 100 ms. */
const FAST = { rate: 10, periodSeconds: 1, burst: 10 };

/** A key no other test touches: the namespace's storage lives for the whole file. */
const freshKey = () => `ip:test-${crypto.randomUUID()}`;

function limiter(key: string) {
  return env.RATE_LIMITER.getByName(key);
}

/** Freezes the object's clock at `ms`, so refills are exact and tests never wait. */
async function setClock(stub: DurableObjectStub<RateLimiter>, ms: number): Promise<void> {
  await runInDurableObject(stub, (instance: RateLimiter) => {
    instance.clock = () => ms;
  });
}

/** One request through an isolate of its own: one lease of one token, as every call once was. */
function takeOne(stub: DurableObjectStub<RateLimiter>, policy: string, limits: TierLimits) {
  return new LeaseHolder().spend(() => stub, "key", policy, limits);
}

async function takeMany(stub: DurableObjectStub<RateLimiter>, count: number) {
  const decisions = [];
  for (let i = 0; i < count; i++) decisions.push(await takeOne(stub, "anonymous", FAST));
  return decisions;
}

/** The tables this object has created; the runtime's own `_cf_` tables do not count. */
async function userTables(stub: DurableObjectStub<RateLimiter>): Promise<string[]> {
  return runInDurableObject(stub, (_, state) =>
    state.storage.sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
      )
      .toArray()
      .map((row) => row.name),
  );
}

describe("rate limiter", () => {
  it("lets exactly 100 of 150 simultaneous requests through a bucket of 100", async () => {
    const stub = limiter(freshKey());
    const slow = { rate: 100, periodSeconds: 3600, burst: 100 };
    const decisions = await Promise.all(Array.from({ length: 150 }, () => takeOne(stub, "anonymous", slow)));

    const allowed = decisions.filter((decision) => decision.allowed);
    expect(allowed.length).toBe(100);
    // Each token went to exactly one request: the remaining counts are 99 down to 0, once each.
    expect(allowed.map((decision) => decision.remaining).sort((a, b) => b - a)).toEqual(
      Array.from({ length: 100 }, (_, i) => 99 - i),
    );
    expect(decisions.filter((decision) => !decision.allowed).map((decision) => decision.remaining)).toEqual(
      Array(50).fill(0),
    );
  });

  it("answers the draft's headers for a known state", async () => {
    const userKey = `user:${crypto.randomUUID()}`;
    await setClock(limiter(userKey), T0);
    const first = await takeToken(env.RATE_LIMITER, userKey, "user", DEFAULT_RATE_LIMITS);
    expect(first).toEqual({
      allowed: true,
      policy: "user",
      limit: 1200,
      windowSeconds: 3600,
      remaining: 1199,
      resetSeconds: 4,
    });
    expect(rateLimitHeaders(first)).toEqual({
      "RateLimit-Policy": '"user";q=1200;w=3600',
      RateLimit: '"user";r=1199;t=4',
    });

    // Two tokens, one more every 5 s: the third request waits for the next token.
    const stub = limiter(freshKey());
    await setClock(stub, T0);
    const pair = { rate: 2, periodSeconds: 10, burst: 2 };
    expect((await takeOne(stub, "anonymous", pair)).remaining).toBe(1);
    const last = await takeOne(stub, "anonymous", pair);
    expect(rateLimitHeaders(last)).toEqual({
      "RateLimit-Policy": '"anonymous";q=2;w=10',
      RateLimit: '"anonymous";r=0;t=5',
    });
    await setClock(stub, T0 + 2000);
    const denied = await takeOne(stub, "anonymous", pair);
    expect(denied).toEqual({
      allowed: false,
      policy: "anonymous",
      limit: 2,
      windowSeconds: 10,
      remaining: 0,
      resetSeconds: 3,
      retryAfterSeconds: 3,
    });
    expect(rateLimitHeaders(denied)).toEqual({
      "RateLimit-Policy": '"anonymous";q=2;w=10',
      RateLimit: '"anonymous";r=0;t=3',
      "Retry-After": "3",
    });

    const error = rateLimitExceeded(denied);
    expect([error.kind, error.reason, error.message]).toEqual([
      "rate_limited",
      "rate-limited",
      "Too many requests for the anonymous tier; retry in 3 s.",
    ]);
    expect(error.headers).toEqual(rateLimitHeaders(denied));
  });

  it("refills at the configured rate, never past the burst", async () => {
    const stub = limiter(freshKey());
    await setClock(stub, T0);
    const drained = await takeMany(stub, 11);
    expect(drained.map((decision) => decision.allowed)).toEqual([...Array(10).fill(true), false]);
    expect(drained[10]!.retryAfterSeconds).toBe(1);

    // 250 ms at 10 tokens a second: two and a half tokens.
    await setClock(stub, T0 + 250);
    const refilled = await takeMany(stub, 3);
    expect(refilled.map((decision) => [decision.allowed, decision.remaining])).toEqual([
      [true, 1],
      [true, 0],
      [false, 0],
    ]);

    // Ten minutes later the bucket holds its burst, not six thousand tokens.
    await setClock(stub, T0 + 600_000);
    expect((await takeOne(stub, "anonymous", FAST)).remaining).toBe(9);
  });

  it("keeps a separate bucket, in a separate object, for each key", async () => {
    const [drainedKey, otherKey] = [freshKey(), freshKey()];
    const drained = limiter(drainedKey);
    const other = limiter(otherKey);
    await setClock(drained, T0);
    await setClock(other, T0);
    await takeMany(drained, 10);

    expect((await takeOne(drained, "anonymous", FAST)).allowed).toBe(false);
    expect(await takeOne(other, "anonymous", FAST)).toMatchObject({ allowed: true, remaining: 9 });

    const ids = (await listDurableObjectIds(env.RATE_LIMITER)).map((id) => id.toString());
    const expected = [drainedKey, otherKey].map((key) => env.RATE_LIMITER.idFromName(key).toString());
    expect(ids.filter((id) => expected.includes(id)).sort()).toEqual(expected.sort());
  });

  it("writes its bucket to storage at once when created, then behind the spends, and keeps it across eviction", async () => {
    const stub = limiter(freshKey());
    await setClock(stub, T0);
    const stored = () =>
      runInDurableObject(stub, (_, state) =>
        state.storage.sql.exec("SELECT tokens, updated_at, full_at FROM bucket").toArray(),
      );
    await takeMany(stub, 1);
    expect(await stored()).toEqual([{ tokens: 9, updated_at: T0, full_at: T0 + 100 }]);
    const started = Date.now();
    await takeMany(stub, 3);
    // The three spends reach storage together, within the delay, without another request.
    await vi.waitFor(
      async () => expect(await stored()).toEqual([{ tokens: 6, updated_at: T0, full_at: T0 + 400 }]),
      { timeout: 5 * PERSIST_DELAY_MS, interval: 50 },
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(PERSIST_DELAY_MS - 50);

    await evictDurableObject(stub);
    await setClock(stub, T0);
    expect(await takeOne(stub, "anonymous", FAST)).toMatchObject({ allowed: true, remaining: 5 });
  });

  it("deletes an idle bucket once it would be full again", async () => {
    const stub = limiter(freshKey());
    await setClock(stub, T0);
    await takeOne(stub, "anonymous", FAST);
    // The alarm is set when the bucket is created, at the moment it would be full again.
    expect(await runInDurableObject(stub, (_, state) => state.storage.getAlarm())).toBe(T0 + 100);
    await takeMany(stub, 3);

    // Still refilling when the alarm fires: the bucket stays and the alarm moves to when it is full.
    await setClock(stub, T0 + 150);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await userTables(stub)).toEqual(["bucket"]);
    expect(await runInDurableObject(stub, (_, state) => state.storage.getAlarm())).toBe(T0 + 400);

    await setClock(stub, T0 + 400);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await userTables(stub)).toEqual([]);
    expect(await runInDurableObject(stub, (_, state) => state.storage.getAlarm())).toBe(null);
    expect(await runDurableObjectAlarm(stub)).toBe(false);

    // A principal who comes back starts from a full bucket.
    expect((await takeOne(stub, "anonymous", FAST)).remaining).toBe(9);
  });
});

describe("bucketFor", () => {
  it("keys users by subject and anonymous callers by address, with the tier of their role", () => {
    expect(bucketFor({ kind: "anonymous", address: "203.0.113.7" })).toEqual({
      key: "ip:203.0.113.7",
      tier: "anonymous",
    });
    expect(bucketFor({ kind: "user", subject: "u-1", role: "viewer", subjectHash: "0" })).toEqual({
      key: "user:u-1",
      tier: "user",
    });
    expect(bucketFor({ kind: "user", subject: "u-1", role: "analyst", subjectHash: "0" })).toEqual({
      key: "user:u-1",
      tier: "user",
    });
    expect(bucketFor({ kind: "user", subject: "u-2", role: "admin", subjectHash: "0" })).toEqual({
      key: "user:u-2",
      tier: "admin",
    });
  });
});
