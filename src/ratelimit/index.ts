import type { Principal } from "../auth/roles";
import type { Env } from "../env";
import { prometheus } from "../observability/prometheus/recorder";
import { traced } from "../observability/tracing/span";
import { type LimitTier, loadRateLimits, type RateLimits } from "./config";
import { type RateDecision, rateLimitExceeded, rateLimitHeaders } from "./decision";
import { LeaseHolder } from "./lease";
import type { RateLimiter } from "./rate-limiter";

export {
  DEFAULT_RATE_LIMITS,
  type LimitTier,
  loadRateLimits,
  RateLimitConfigError,
  type RateLimits,
} from "./config";
export { type RateDecision, rateLimitExceeded, rateLimitHeaders } from "./decision";
export { LeaseHolder } from "./lease";
export { RateLimiter } from "./rate-limiter";

/**
 * Whose bucket a request spends, and under which tier: a token's subject, or the address
 * Cloudflare saw for an anonymous caller. Viewers and analysts share the "user" tier.
 */
export function bucketFor(principal: Principal): { key: string; tier: LimitTier } {
  if (principal.kind === "anonymous") return { key: `ip:${principal.address}`, tier: "anonymous" };
  return { key: `user:${principal.subject}`, tier: principal.role === "admin" ? "admin" : "user" };
}

/** This isolate's leases: every request it serves spends from them. */
const isolateLeases = new LeaseHolder(undefined, (tier) =>
  prometheus.count("rate_limiter_calls_total", { tier }),
);

/**
 * Spends one token of `key`'s bucket (one Durable Object per key) through `leases`, which call
 * the object only when their lease for it is spent or expired.
 */
export function takeToken(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  tier: LimitTier,
  limits: RateLimits,
  leases = isolateLeases,
): Promise<RateDecision> {
  return leases.spend(() => namespace.getByName(key), key, tier, limits[tier]);
}

/**
 * Charges one request to the caller's bucket: answers the RateLimit headers to send, or throws
 * 429 (resource_exhausted over RPC) with them and Retry-After. Shared by REST and RPC.
 */
export async function admit(
  env: Pick<Env, "RATE_LIMITER" | "RATE_LIMITS">,
  principal: Principal,
): Promise<Record<string, string>> {
  const { key, tier } = bucketFor(principal);
  const decision = await traced("rate limit", { "ratelimit.tier": tier }, () =>
    takeToken(env.RATE_LIMITER, key, tier, loadRateLimits(env)),
  );
  if (!decision.allowed) {
    prometheus.count("rate_limited_total", { tier });
    throw rateLimitExceeded(decision);
  }
  return rateLimitHeaders(decision);
}
