import type { TierLimits } from "./config";
import type { RateDecision } from "./decision";

/** A bucket as stored: the tokens it held when last written, and when that was (epoch ms). */
export interface Bucket {
  tokens: number;
  updatedAt: number;
}

const msPerToken = (limits: TierLimits) => (limits.periodSeconds * 1000) / limits.rate;

/** Tokens at `now`: what was left plus what has dripped in since, never more than the burst. */
function tokensAt(bucket: Bucket | undefined, limits: TierLimits, now: number): number {
  if (!bucket) return limits.burst;
  const elapsed = Math.max(0, now - bucket.updatedAt);
  return Math.min(limits.burst, bucket.tokens + elapsed / msPerToken(limits));
}

/** When the bucket is full again: from then on, keeping it is the same as keeping nothing. */
export function fullAt(bucket: Bucket, limits: TierLimits): number {
  return bucket.updatedAt + Math.ceil(Math.max(0, limits.burst - bucket.tokens) * msPerToken(limits));
}

/**
 * One request against the bucket: a token is taken when a whole one is there. Pure, so the
 * Durable Object can read, decide and write without yielding in between.
 */
export function take(
  stored: Bucket | undefined,
  policy: string,
  limits: TierLimits,
  now: number,
): { decision: RateDecision; bucket: Bucket } {
  let tokens = tokensAt(stored, limits, now);
  const allowed = tokens >= 1;
  if (allowed) tokens -= 1;
  const remaining = Math.floor(tokens);
  // The draft's effective window is the time in which at most `remaining` requests can pass:
  // until the next whole token drips in. Measured to a full bucket, it would promise too little.
  const untilNextToken = Math.ceil(((remaining + 1 - tokens) * msPerToken(limits)) / 1000);
  const decision: RateDecision = {
    allowed,
    policy,
    limit: limits.burst,
    windowSeconds: limits.periodSeconds,
    remaining,
    resetSeconds: untilNextToken,
  };
  if (!allowed) decision.retryAfterSeconds = untilNextToken;
  // A clock that steps back must not count the same time twice.
  return { decision, bucket: { tokens, updatedAt: Math.max(now, stored?.updatedAt ?? now) } };
}
