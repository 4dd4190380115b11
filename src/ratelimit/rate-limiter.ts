import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import type { TierLimits } from "./config";
import type { RateDecision } from "./decision";
import { type Bucket, fullAt, take } from "./token-bucket";

/**
 * One principal's token bucket, kept in this object's own SQLite storage so it survives eviction.
 * The runtime delivers one call at a time and `take` never awaits between reading and writing
 * the bucket, so concurrent requests cannot spend the same token.
 *
 * A stored bucket always has an alarm pending: set when the bucket is created, moved on by the
 * alarm itself while the bucket is still refilling. Once the bucket is full the alarm deletes
 * everything, so an idle principal costs nothing.
 */
export class RateLimiter extends DurableObject<Env> {
  /** The time source; tests replace it to move time without waiting. */
  clock: () => number = () => Date.now();

  /** Takes one token under `policy`'s limits; the caller's tier decides them on every call. */
  async take(policy: string, limits: TierLimits): Promise<RateDecision> {
    const stored = this.readBucket();
    const { decision, bucket } = take(stored, policy, limits, this.clock());
    // A denial changes nothing: the stored bucket still refills from where it was.
    if (!decision.allowed) return decision;
    const full = fullAt(bucket, limits);
    this.writeBucket(bucket, full);
    if (!stored) await this.ctx.storage.setAlarm(full);
    return decision;
  }

  override async alarm(): Promise<void> {
    const full = this.readFullAt();
    if (full !== undefined && this.clock() < full) {
      await this.ctx.storage.setAlarm(full);
      return;
    }
    await this.ctx.storage.deleteAll();
  }

  /** The storage with the bucket table in it: deleteAll drops the table, so it is made on demand. */
  private db(): SqlStorage {
    this.ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS bucket (id INTEGER PRIMARY KEY CHECK (id = 1), tokens REAL NOT NULL, updated_at INTEGER NOT NULL, full_at INTEGER NOT NULL)",
    );
    return this.ctx.storage.sql;
  }

  private readBucket(): Bucket | undefined {
    const row = this.db()
      .exec<{ tokens: number; updated_at: number }>("SELECT tokens, updated_at FROM bucket WHERE id = 1")
      .toArray()[0];
    return row && { tokens: row.tokens, updatedAt: row.updated_at };
  }

  private readFullAt(): number | undefined {
    return this.db().exec<{ full_at: number }>("SELECT full_at FROM bucket WHERE id = 1").toArray()[0]
      ?.full_at;
  }

  private writeBucket(bucket: Bucket, full: number): void {
    this.db().exec(
      "INSERT INTO bucket (id, tokens, updated_at, full_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at, full_at = excluded.full_at",
      bucket.tokens,
      bucket.updatedAt,
      full,
    );
  }
}
