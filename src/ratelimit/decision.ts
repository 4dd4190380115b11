import { ServiceError } from "../domain/errors";

/** The outcome of one request against its principal's bucket, and what the headers tell the client. */
export interface RateDecision {
  allowed: boolean;
  /** The tier's name: the policy identifier in both headers. */
  policy: string;
  /** The bucket's capacity (burst). */
  limit: number;
  /** The policy's window, periodSeconds. */
  windowSeconds: number;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until `remaining` grows by one: the window in which at most `remaining` more requests pass. */
  resetSeconds: number;
  /** Set when denied: seconds until a token is available again. */
  retryAfterSeconds?: number;
}

/**
 * The fields of draft-ietf-httpapi-ratelimit-headers (structured-field lists, one item per policy),
 * plus Retry-After on a denial. q is the burst, so that `r` never exceeds `q`.
 */
export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  const headers: Record<string, string> = {
    "RateLimit-Policy": `"${decision.policy}";q=${decision.limit};w=${decision.windowSeconds}`,
    RateLimit: `"${decision.policy}";r=${decision.remaining};t=${decision.resetSeconds}`,
  };
  if (decision.retryAfterSeconds !== undefined) headers["Retry-After"] = String(decision.retryAfterSeconds);
  return headers;
}

/** The error a denied request becomes: 429 over REST, resource_exhausted over RPC, with the headers. */
export function rateLimitExceeded(decision: RateDecision): ServiceError {
  return new ServiceError(
    "rate_limited",
    "rate-limited",
    `Too many requests for the ${decision.policy} tier; retry in ${decision.retryAfterSeconds ?? 1} s.`,
    [],
    rateLimitHeaders(decision),
  );
}
