import type { TierLimits } from "./config";
import type { RateDecision } from "./decision";
import type { RateLimiter } from "./rate-limiter";
import type { LeaseGrant } from "./token-bucket";

/** A lease's tokens may be spent this long; then what is left goes back with the next call. */
export const LEASE_TTL_MS = 10_000;
/** How fast an isolate forgets a principal's pace: its recent arrivals halve every second. */
const PACE_HALF_LIFE_MS = 1000;
/** Principals an isolate keeps leases for; the least recently seen is dropped past this. */
const MAX_PRINCIPALS = 10_000;

/** The most one isolate may lease ahead: a tenth of the burst, so others are never starved. */
export const maxLease = (limits: TierLimits) => Math.max(1, Math.min(1000, Math.floor(limits.burst / 10)));

/** One principal's lease in this isolate. */
interface Lease {
  /** Tokens leased and not yet spent; they count as spent in the bucket already. */
  tokens: number;
  /** The bucket's hold on the tokens leased ahead, if any were. */
  hold: number | undefined;
  expiresAt: number;
  /** The bucket as the last grant left it, for the RateLimit headers. */
  bucketRemaining: number;
  resetAt: number;
  /** Set while the bucket is known to be empty: refusals are answered here until then. */
  emptyUntil: number;
  /** Arrivals, decaying with PACE_HALF_LIFE_MS: about the requests of the last second or two. */
  pace: number;
  seenAt: number;
}

/**
 * Rate limiting without a Durable Object call per request. An isolate leases tokens from the
 * principal's bucket and spends them locally; it calls the bucket again only when its lease
 * is spent or expired, or when the bucket's known emptiness has passed. Leased tokens count as
 * spent when they are leased, so across every isolate no more pass than the bucket holds; the
 * unspent rest of an expired lease goes back once, with the next call, and is lost (counted as
 * spent) if the isolate never calls again. The lease adapts to the principal's pace: a request
 * a minute leases one token, a busy caller up to `maxLease`; see `withdraw` for why tokens
 * ahead come only from a well-filled bucket.
 */
export class LeaseHolder {
  private readonly leases = new Map<string, Lease>();

  /** `onCall` hears of each call to a bucket, by policy: the rate_limiter_calls_total metric. */
  constructor(
    private readonly clock: () => number = () => Date.now(),
    private readonly onCall: (policy: string) => void = () => {},
  ) {}

  async spend(
    bucket: () => DurableObjectStub<RateLimiter>,
    key: string,
    policy: string,
    limits: TierLimits,
  ): Promise<RateDecision> {
    const lease = this.leaseFor(`${key}\u0000${limits.rate}/${limits.periodSeconds}/${limits.burst}`);
    const arrived = this.clock();
    lease.pace = lease.pace * 2 ** (-(arrived - lease.seenAt) / PACE_HALF_LIFE_MS) + 1;
    lease.seenAt = arrived;
    if (lease.tokens > 0 && arrived < lease.expiresAt)
      return this.spendLeased(lease, policy, limits, arrived);
    if (arrived < lease.emptyUntil) return refused(lease, policy, limits, arrived);
    // Each request without a token calls the bucket itself. Sharing one call between requests
    // would resume the others in the context of the request that made it, which Workers refuses.
    const extra = Math.max(0, Math.min(maxLease(limits), Math.floor(lease.pace)) - 1);
    const expired = lease.tokens > 0 && lease.hold !== undefined;
    const giveBack = expired ? { hold: lease.hold!, tokens: lease.tokens } : undefined;
    if (expired) lease.tokens = 0;
    this.onCall(policy);
    const grant: LeaseGrant = await bucket().lease(limits, { need: 1, extra, ...(giveBack && { giveBack }) });
    const now = this.clock();
    lease.bucketRemaining = grant.remaining;
    lease.resetAt = now + grant.resetSeconds * 1000;
    if (grant.granted > 1) {
      // Tokens ahead join this isolate's lease, under the newest hold: an older one lapses unreturned.
      lease.tokens += grant.granted - 1;
      lease.hold = grant.hold;
      lease.expiresAt = now + LEASE_TTL_MS;
    }
    if (grant.granted > 0) return allowed(lease, policy, limits, now);
    lease.emptyUntil = lease.resetAt;
    // Another request's lease may have come back meanwhile: its tokens serve this one too.
    if (lease.tokens > 0 && now < lease.expiresAt) return this.spendLeased(lease, policy, limits, now);
    return refused(lease, policy, limits, now);
  }

  private spendLeased(lease: Lease, policy: string, limits: TierLimits, now: number): RateDecision {
    lease.tokens--;
    return allowed(lease, policy, limits, now);
  }

  private leaseFor(key: string): Lease {
    let lease = this.leases.get(key);
    if (lease) {
      // Kept in the order last seen: the first entry is the one to drop.
      this.leases.delete(key);
    } else {
      lease = {
        tokens: 0,
        hold: undefined,
        expiresAt: 0,
        bucketRemaining: 0,
        resetAt: 0,
        emptyUntil: 0,
        pace: 0,
        seenAt: this.clock(),
      };
      if (this.leases.size >= MAX_PRINCIPALS) this.leases.delete(this.leases.keys().next().value!);
    }
    this.leases.set(key, lease);
    return lease;
  }
}

const secondsUntil = (at: number, now: number) => Math.max(0, Math.ceil((at - now) / 1000));

/**
 * `remaining` is what this isolate knows: the bucket as its last grant left it, plus its own
 * unspent tokens. Other isolates' spends since then make it too high, their unspent leases too low.
 */
function allowed(lease: Lease, policy: string, limits: TierLimits, now: number): RateDecision {
  return {
    allowed: true,
    policy,
    limit: limits.burst,
    windowSeconds: limits.periodSeconds,
    remaining: lease.bucketRemaining + lease.tokens,
    resetSeconds: secondsUntil(lease.resetAt, now),
  };
}

function refused(lease: Lease, policy: string, limits: TierLimits, now: number): RateDecision {
  const wait = Math.max(1, secondsUntil(lease.emptyUntil, now));
  return {
    allowed: false,
    policy,
    limit: limits.burst,
    windowSeconds: limits.periodSeconds,
    remaining: 0,
    resetSeconds: wait,
    retryAfterSeconds: wait,
  };
}
