import { describe, expect, it } from "vitest";
import { AHEAD_HOLD_MS, fullAt, withdraw } from "../../src/ratelimit/token-bucket";

/** 1000 tokens an hour, 1200 at most: one token every 3.6 s. */
const USER = { rate: 1000, periodSeconds: 3600, burst: 1200 };
const T0 = 1_000_000;
const one = { need: 1, extra: 0 };

describe("token bucket", () => {
  it("starts full and says when the next token comes, rounded up to whole seconds", () => {
    const { grant, bucket } = withdraw(undefined, USER, T0, one);
    expect(bucket).toEqual({ tokens: 1199, updatedAt: T0, ahead: [] });
    expect(grant).toEqual({ granted: 1, remaining: 1199, resetSeconds: 4 });
    expect(fullAt(bucket, USER)).toBe(T0 + 3600);
  });

  it("counts a part-token towards the next request's window", () => {
    // 0.5 tokens left: the next whole one is 1.8 s away.
    expect(withdraw({ tokens: 1.5, updatedAt: T0 }, USER, T0, one).grant).toEqual({
      granted: 1,
      remaining: 0,
      resetSeconds: 2,
    });
    expect(withdraw({ tokens: 0.5, updatedAt: T0 }, USER, T0, one).grant).toEqual({
      granted: 0,
      remaining: 0,
      resetSeconds: 2,
    });
  });

  it("does not refill twice when the clock steps back", () => {
    const { bucket } = withdraw({ tokens: 10, updatedAt: T0 }, USER, T0 - 60_000, one);
    expect(bucket).toEqual({ tokens: 9, updatedAt: T0, ahead: [] });
  });

  it("grants waiting requests first, in whole tokens, and tokens ahead only from above half the burst", () => {
    const at = (tokens: number, need: number, extra: number) =>
      withdraw({ tokens, updatedAt: T0 }, USER, T0, { need, extra }).grant.granted;
    expect(at(1200, 5, 100)).toBe(105);
    // 640 tokens: 40 waiting, then 600 stay, so nothing ahead.
    expect(at(640, 40, 100)).toBe(40);
    expect(at(650, 40, 100)).toBe(50);
    // Fewer than needed: what there is, and nothing ahead.
    expect(at(7.9, 10, 100)).toBe(7);
  });

  it("holds tokens leased ahead against the bucket, and takes back what is left of them only while the hold lasts", () => {
    const full = withdraw(undefined, USER, T0, { need: 1, extra: 100 });
    expect(full.grant).toEqual({ granted: 101, remaining: 1099, resetSeconds: 4, hold: T0 * 1024 });
    // 10 s on, 2.8 tokens have dripped in, but the 100 still held keep the bucket at 1100.
    const later = withdraw(full.bucket, USER, T0 + 10_000, { need: 1, extra: 0 });
    expect([later.grant.remaining, later.bucket.tokens]).toEqual([1099, 1099]);
    // 30 of them unspent, given back within the hold: the bucket has them again, capped at the burst.
    const back = withdraw(full.bucket, USER, T0 + 10_000, {
      need: 1,
      extra: 0,
      giveBack: { hold: T0 * 1024, tokens: 30 },
    });
    expect([back.grant.granted, back.bucket.tokens, back.bucket.ahead]).toEqual([1, 1100 + 30 - 1, []]);
    // Past the hold the bucket has refilled as if they were spent: nothing is taken back twice.
    const late = withdraw(full.bucket, USER, T0 + AHEAD_HOLD_MS, {
      need: 1,
      extra: 0,
      giveBack: { hold: T0 * 1024, tokens: 30 },
    });
    expect(late.bucket.tokens).toBeCloseTo(1099 + AHEAD_HOLD_MS / 3600 - 1, 9);
    // A hold that names no live hold gives nothing back either.
    const unknown = withdraw(full.bucket, USER, T0 + 10_000, {
      need: 1,
      extra: 0,
      giveBack: { hold: 7, tokens: 30 },
    });
    expect(unknown.bucket.tokens).toBe(later.bucket.tokens);
  });
});
