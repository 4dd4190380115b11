import { DurableObject } from "cloudflare:workers";
import type { TierLimits } from "./config";
import { type Bucket, fullAt, type LeaseGrant, type LeaseRequest, withdraw } from "./token-bucket";

/** How long a spend may live only in memory before it is written to storage. */
export const PERSIST_DELAY_MS = 1000;

/**
 * One principal's token bucket, from which isolates lease tokens (./lease.ts). The runtime
 * delivers one call at a time and `lease` never awaits between reading and updating the
 * bucket, so two leases never hold the same token.
 *
 * The bucket lives in memory and is written to this object's SQLite storage behind the spends:
 * at once when it is created, then at most once per PERSIST_DELAY_MS. A write holds back the
 * object's answers until it is durable, so writing every spend would make each request wait for
 * one; this way a busy principal's requests wait for about one write a second. An object is only
 * evicted once idle, after the write has landed; one torn down mid-burst (a deploy) forgets at
 * most the last second's spends.
 *
 * A stored bucket always has an alarm pending: set when the bucket is created, moved on by the
 * alarm itself while the bucket is still refilling. Once the bucket is full the alarm deletes
 * everything, so an idle principal costs nothing.
 */
export class RateLimiter extends DurableObject {
  /** The time source; tests replace it to move time without waiting. */
  clock: () => number = () => Date.now();

  /** The bucket as this object knows it, read from storage on first use. */
  private memory: { bucket: Bucket; fullAt: number } | undefined;
  private loaded = false;
  private writeTimer: ReturnType<typeof setTimeout> | undefined;

  /** Grants a lease under the caller's tier's limits, which it sends on every call. */
  async lease(limits: TierLimits, request: LeaseRequest): Promise<LeaseGrant> {
    const stored = this.current();
    const { grant, bucket } = withdraw(stored?.bucket, limits, this.clock(), request);
    // A refusal that gives nothing back changes nothing: the bucket still refills from where it was.
    if (grant.granted === 0 && request.giveBack === undefined) return grant;
    this.memory = { bucket, fullAt: fullAt(bucket, limits) };
    if (stored) {
      this.writeSoon();
      return grant;
    }
    this.write();
    await this.ctx.storage.setAlarm(this.memory.fullAt);
    return grant;
  }

  override async alarm(): Promise<void> {
    // Whatever is still only in memory first: the alarm decides on the bucket as it is.
    if (this.writeTimer) this.write();
    const full = this.current()?.fullAt;
    if (full !== undefined && this.clock() < full) {
      await this.ctx.storage.setAlarm(full);
      return;
    }
    this.cancelWrite();
    this.memory = undefined;
    await this.ctx.storage.deleteAll();
  }

  private current(): { bucket: Bucket; fullAt: number } | undefined {
    if (!this.loaded) {
      this.memory = this.readBucket();
      this.loaded = true;
    }
    return this.memory;
  }

  private writeSoon(): void {
    this.writeTimer ??= setTimeout(() => this.write(), PERSIST_DELAY_MS);
  }

  private cancelWrite(): void {
    if (this.writeTimer !== undefined) clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
  }

  private write(): void {
    this.cancelWrite();
    if (this.memory) this.writeBucket(this.memory.bucket, this.memory.fullAt);
  }

  /** The storage with the bucket table in it: deleteAll drops the table, so it is made on demand. */
  private db(): SqlStorage {
    this.ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS bucket (id INTEGER PRIMARY KEY CHECK (id = 1), tokens REAL NOT NULL, updated_at INTEGER NOT NULL, full_at INTEGER NOT NULL)",
    );
    return this.ctx.storage.sql;
  }

  private readBucket(): { bucket: Bucket; fullAt: number } | undefined {
    const row = this.db()
      .exec<{ tokens: number; updated_at: number; full_at: number }>(
        "SELECT tokens, updated_at, full_at FROM bucket WHERE id = 1",
      )
      .toArray()[0];
    return row && { bucket: { tokens: row.tokens, updatedAt: row.updated_at }, fullAt: row.full_at };
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
