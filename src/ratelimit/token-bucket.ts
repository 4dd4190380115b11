import type { TierLimits } from "./config";

/** A bucket as stored: the tokens it held when last written, and when that was (epoch ms). */
export interface Bucket {
  tokens: number;
  updatedAt: number;
  /**
   * Tokens leased ahead and still spendable somewhere, with when they stop being so. Held in
   * memory only: a bucket is evicted once idle, by when every lease has expired.
   */
  ahead?: Hold[];
}

/** Tokens one lease took ahead, held against the bucket until `until`. */
interface Hold {
  id: number;
  count: number;
  until: number;
}

/**
 * How long a lease's tokens ahead stay held against the bucket: the lease's own life
 * (LEASE_TTL_MS in ./lease.ts) and a margin for clocks that disagree.
 */
export const AHEAD_HOLD_MS = 15_000;

/** What an isolate asks its principal's bucket for: see ./lease.ts. */
export interface LeaseRequest {
  /** Tokens for requests waiting now: granted first, as many as there are. */
  need: number;
  /** Tokens to spend on requests still to come, granted only from a well-filled bucket. */
  extra: number;
  /**
   * The unspent tokens of an expired lease, given back before anything is taken. Taken back only
   * while the lease's hold lasts: past it the bucket has refilled as if they were spent, and
   * taking them back as well would count them twice.
   */
  giveBack?: { hold: number; tokens: number };
}

export interface LeaseGrant {
  /** Tokens now the isolate's to spend: all of `need` before any of `extra`. */
  granted: number;
  /** Whole tokens left in the bucket after the grant. */
  remaining: number;
  /** Seconds until `remaining` grows by one. */
  resetSeconds: number;
  /** Names the hold on the tokens granted ahead, to give back what is left of them. */
  hold?: number;
}

const msPerToken = (limits: TierLimits) => (limits.periodSeconds * 1000) / limits.rate;

/**
 * Tokens at `now`: what was left plus what has dripped in since, never more than the burst less
 * the tokens leased ahead that may still be spent. Held in isolates, those are the bucket's too:
 * without the cap a bucket refilled to its burst behind them would let through more than it holds.
 */
function tokensAt(bucket: Bucket | undefined, limits: TierLimits, now: number, ahead: number): number {
  if (!bucket) return limits.burst - ahead;
  const elapsed = Math.max(0, now - bucket.updatedAt);
  return Math.min(limits.burst - ahead, bucket.tokens + elapsed / msPerToken(limits));
}

/** When the bucket is full again, every lease ahead expired: from then on, keeping it is the same as keeping nothing. */
export function fullAt(bucket: Bucket, limits: TierLimits): number {
  const refilled =
    bucket.updatedAt + Math.ceil(Math.max(0, limits.burst - bucket.tokens) * msPerToken(limits));
  return Math.max(refilled, ...(bucket.ahead ?? []).map((lease) => lease.until));
}

/**
 * Takes a lease's tokens from the bucket; they count as spent from now on. Tokens for waiting
 * requests come first, whole ones only. Tokens for requests to come are granted only from the
 * half of the burst above the other half: near the limit every token goes where a request waits
 * for it, so none sits unspent in one isolate while another refuses its callers. Pure, so the
 * Durable Object can read, decide and write without yielding in between.
 */
export function withdraw(
  stored: Bucket | undefined,
  limits: TierLimits,
  now: number,
  request: LeaseRequest,
): { grant: LeaseGrant; bucket: Bucket } {
  let ahead = (stored?.ahead ?? []).filter((hold) => hold.until > now);
  const given = request.giveBack && ahead.find((hold) => hold.id === request.giveBack!.hold);
  const returned = given ? Math.min(given.count, request.giveBack!.tokens) : 0;
  if (given) ahead = ahead.filter((hold) => hold !== given);
  const heldAhead = ahead.reduce((sum, hold) => sum + hold.count, 0);
  // Until now the given-back hold was live: the bucket refilled under it.
  const refilled = tokensAt(stored, limits, now, heldAhead + (given?.count ?? 0));
  let tokens = Math.min(limits.burst - heldAhead, refilled + returned);
  const forWaiting = Math.min(request.need, Math.floor(tokens));
  tokens -= forWaiting;
  const forLater =
    forWaiting < request.need
      ? 0
      : Math.max(0, Math.min(request.extra, Math.floor(tokens - limits.burst / 2)));
  tokens -= forLater;
  // Ids grow with time, so one never names a hold that expired or was forgotten with the object.
  const hold = forLater > 0 ? Math.max(now * 1024, ...(stored?.ahead ?? []).map((h) => h.id + 1)) : undefined;
  if (hold !== undefined) ahead.push({ id: hold, count: forLater, until: now + AHEAD_HOLD_MS });
  const remaining = Math.floor(tokens);
  // The draft's effective window is the time in which at most `remaining` requests can pass:
  // until the next whole token drips in. Measured to a full bucket, it would promise too little.
  const resetSeconds = Math.ceil(((remaining + 1 - tokens) * msPerToken(limits)) / 1000);
  return {
    grant: {
      granted: forWaiting + forLater,
      remaining,
      resetSeconds,
      ...(hold === undefined ? {} : { hold }),
    },
    // A clock that steps back must not count the same time twice.
    bucket: { tokens, updatedAt: Math.max(now, stored?.updatedAt ?? now), ahead },
  };
}
