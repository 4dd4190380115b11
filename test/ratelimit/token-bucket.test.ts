import { describe, expect, it } from "vitest";
import { fullAt, take } from "../../src/ratelimit/token-bucket";

/** 1000 tokens an hour, 1200 at most: one token every 3.6 s. */
const USER = { rate: 1000, periodSeconds: 3600, burst: 1200 };
const T0 = 1_000_000;

describe("token bucket", () => {
  it("starts full and says when the next token comes, rounded up to whole seconds", () => {
    const { decision, bucket } = take(undefined, "user", USER, T0);
    expect(bucket).toEqual({ tokens: 1199, updatedAt: T0 });
    expect(decision).toEqual({
      allowed: true,
      policy: "user",
      limit: 1200,
      windowSeconds: 3600,
      remaining: 1199,
      resetSeconds: 4,
    });
    expect(fullAt(bucket, USER)).toBe(T0 + 3600);
  });

  it("counts a part-token towards the next request's window", () => {
    // 0.5 tokens left: the next whole one is 1.8 s away.
    const { decision } = take({ tokens: 1.5, updatedAt: T0 }, "user", USER, T0);
    expect([decision.allowed, decision.remaining, decision.resetSeconds]).toEqual([true, 0, 2]);
    const denied = take({ tokens: 0.5, updatedAt: T0 }, "user", USER, T0).decision;
    expect([denied.allowed, denied.remaining, denied.retryAfterSeconds]).toEqual([false, 0, 2]);
  });

  it("does not refill twice when the clock steps back", () => {
    const { bucket } = take({ tokens: 10, updatedAt: T0 }, "user", USER, T0 - 60_000);
    expect(bucket).toEqual({ tokens: 9, updatedAt: T0 });
  });
});
