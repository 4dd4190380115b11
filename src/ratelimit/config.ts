import { z } from "zod";
import { ServiceError } from "../domain/errors";
import { logEvent } from "../observability/log";

/** Rate-limit tiers: anonymous callers, viewers and analysts ("user"), and admins. */
const TIERS = ["anonymous", "user", "admin"] as const;
export type LimitTier = (typeof TIERS)[number];

/** A token bucket: `burst` tokens at most, refilled continuously at `rate` per `periodSeconds`. */
export interface TierLimits {
  rate: number;
  periodSeconds: number;
  burst: number;
}

export type RateLimits = Record<LimitTier, TierLimits>;

export const DEFAULT_RATE_LIMITS: RateLimits = {
  anonymous: { rate: 100, periodSeconds: 60, burst: 100 },
  user: { rate: 1000, periodSeconds: 3600, burst: 1200 },
  admin: { rate: 5000, periodSeconds: 3600, burst: 6000 },
};

/**
 * RATE_LIMITS is broken: the caller answers 503 rather than guess at limits. What is wrong is
 * the operator's to read in the log; a parser's message may quote the value itself.
 */
export class RateLimitConfigError extends ServiceError {
  constructor(readonly problem: string) {
    super("unavailable", "rate-limits-invalid", "RATE_LIMITS is invalid; the service's log says why.");
    this.name = "RateLimitConfigError";
  }
}

// Whole seconds and whole tokens, because the RateLimit-Policy header carries them as integers.
const count = z.number().int().positive();
const tierOverride = z.strictObject({ rate: count, periodSeconds: count, burst: count }).partial();
// Strict, so that a misspelt tier or field fails loudly instead of leaving the default in force.
const overridesSchema = z
  .strictObject({ anonymous: tierOverride, user: tierOverride, admin: tierOverride })
  .partial();

/** The defaults with RATE_LIMITS laid over them: any tier, and any field within a tier. */
export function parseRateLimits(json: string | undefined): RateLimits {
  if (!json?.trim()) return DEFAULT_RATE_LIMITS;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new RateLimitConfigError(`not JSON (${(error as Error).message})`);
  }
  const result = overridesSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) =>
      issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message,
    );
    throw new RateLimitConfigError(problems.join("; "));
  }
  const overrides = result.data;
  return Object.fromEntries(
    TIERS.map((tier) => [tier, { ...DEFAULT_RATE_LIMITS[tier], ...overrides[tier] }]),
  ) as RateLimits;
}

/** The limits' one setting: env.ts reaches this module through RateLimiter's type, so it does not import Env back. */
type RateLimitSetting = { RATE_LIMITS?: string };

let parsed: { source: RateLimitSetting; outcome: RateLimits | RateLimitConfigError } | undefined;

/** Parses RATE_LIMITS once per env object; a broken value throws RateLimitConfigError on every call. */
export function loadRateLimits(env: RateLimitSetting): RateLimits {
  if (parsed?.source !== env) {
    let outcome: RateLimits | RateLimitConfigError;
    try {
      outcome = parseRateLimits(env.RATE_LIMITS);
    } catch (error) {
      if (!(error instanceof RateLimitConfigError)) throw error;
      outcome = error;
    }
    parsed = { source: env, outcome };
  }
  if (parsed.outcome instanceof RateLimitConfigError) {
    logEvent("error", "refusing requests: RATE_LIMITS is invalid", {
      "labels.problem": parsed.outcome.problem,
    });
    throw parsed.outcome;
  }
  return parsed.outcome;
}
