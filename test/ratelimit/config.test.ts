import { describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import {
  DEFAULT_RATE_LIMITS,
  loadRateLimits,
  parseRateLimits,
  RateLimitConfigError,
} from "../../src/ratelimit/config";

describe("RATE_LIMITS", () => {
  it("defaults to the documented tiers when unset or blank", () => {
    const expected = {
      anonymous: { rate: 100, periodSeconds: 60, burst: 100 },
      user: { rate: 1000, periodSeconds: 3600, burst: 1200 },
      admin: { rate: 5000, periodSeconds: 3600, burst: 6000 },
    };
    expect(parseRateLimits(undefined)).toEqual(expected);
    expect(parseRateLimits("  ")).toEqual(expected);
    expect(DEFAULT_RATE_LIMITS).toEqual(expected);
  });

  it("overrides any subset of tiers, and any subset of fields within a tier", () => {
    const limits = parseRateLimits(
      JSON.stringify({ anonymous: { rate: 30, periodSeconds: 60, burst: 10 }, admin: { burst: 9000 } }),
    );
    expect(limits).toEqual({
      anonymous: { rate: 30, periodSeconds: 60, burst: 10 },
      user: { rate: 1000, periodSeconds: 3600, burst: 1200 },
      admin: { rate: 5000, periodSeconds: 3600, burst: 9000 },
    });
  });

  it("rejects text that is not JSON with a typed error that answers 503", () => {
    const error = captureError(() => parseRateLimits("{anonymous: 5}"));
    expect(error).toBeInstanceOf(RateLimitConfigError);
    const configError = error as RateLimitConfigError;
    expect(configError.kind).toBe("unavailable");
    expect(configError.reason).toBe("rate-limits-invalid");
    // The caller reads that it is broken; the parser's words, which quote the value, go to the log.
    expect(configError.message).toBe("RATE_LIMITS is invalid; the service's log says why.");
    expect(configError.problem).toMatch(/^not JSON \(.+\)$/);
  });

  it("names every field that breaks the schema, including unknown tiers and fields", () => {
    const error = captureError(() =>
      parseRateLimits(JSON.stringify({ user: { burst: 0, rate: 1.5 }, admn: {}, admin: { period: 60 } })),
    );
    expect(error).toBeInstanceOf(RateLimitConfigError);
    expect((error as RateLimitConfigError).problem).toBe(
      'user.rate: Invalid input: expected int, received number; user.burst: Too small: expected number to be >0; admin: Unrecognized key: "period"; Unrecognized key: "admn"',
    );
  });

  it("rejects JSON that is not an object", () => {
    expect(captureError(() => parseRateLimits("[]"))).toMatchObject({
      problem: "Invalid input: expected object, received array",
    });
    expect(captureError(() => parseRateLimits("null"))).toMatchObject({
      problem: "Invalid input: expected object, received null",
    });
  });

  it("parses once per env object, and keeps failing for a broken one", () => {
    const env = { RATE_LIMITS: JSON.stringify({ user: { burst: 5 } }) } satisfies Pick<Env, "RATE_LIMITS">;
    const first = loadRateLimits(env);
    expect(first.user).toEqual({ rate: 1000, periodSeconds: 3600, burst: 5 });
    expect(loadRateLimits(env)).toBe(first);

    const broken = { RATE_LIMITS: "[1]" };
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(() => loadRateLimits(broken)).toThrow(RateLimitConfigError);
    expect(() => loadRateLimits(broken)).toThrow(RateLimitConfigError);
    // Each refusal is logged with what is wrong, for the operator.
    expect(errors.mock.calls.map(([line]) => JSON.parse(String(line)))).toEqual([
      expect.objectContaining({
        message: "refusing requests: RATE_LIMITS is invalid",
        "labels.problem": "Invalid input: expected object, received array",
      }),
      expect.objectContaining({ message: "refusing requests: RATE_LIMITS is invalid" }),
    ]);
    errors.mockRestore();
    expect(loadRateLimits({})).toEqual(DEFAULT_RATE_LIMITS);
  });
});

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}
