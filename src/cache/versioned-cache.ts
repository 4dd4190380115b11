import type { Database } from "../db/client";
import { incrementDataVersion, readDataVersion } from "../db/data-version";
import { prometheus } from "../observability/prometheus/recorder";

/** KV key mirroring the D1 data version, so readers at the edge need not reach D1. */
export const DATA_VERSION_KV_KEY = "data-version";
const MEMORY_ENTRIES = 512;
const KV_TTL_SECONDS = 7 * 24 * 3600;
/**
 * Bump when the shape of a cached value changes (as when sources gained their registry fields):
 * a migration does not move the data version, so a deploy would otherwise serve the old shape.
 */
const CACHE_LAYOUT = 3;

type CacheResult = "memory" | "kv" | "miss";

/**
 * The key of a cached answer: its kind and the parsed request's fields, in a fixed order. As
 * JSON, no field can run into the next and null stays apart from "null", so two different
 * requests never share a key.
 */
export const cacheKey = (kind: string, fields: readonly unknown[]): string =>
  `${kind}:${JSON.stringify(fields)}`;

/**
 * Isolate-local layer in front of KV. Keys embed the data version, so entries never need
 * invalidating: a new version simply stops reading the old ones, and the LRU drops them.
 */
class MemoryLru {
  private readonly entries = new Map<string, unknown>();
  constructor(private readonly capacity: number) {}

  get(key: string): unknown {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: unknown): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  clear(): void {
    this.entries.clear();
  }
}

const memory = new MemoryLru(MEMORY_ENTRIES);
let knownVersion: { value: string; checkedAt: number } | undefined;

export class VersionedCache {
  constructor(
    private readonly kv: KVNamespace,
    private readonly db: () => Database,
    /** How long an isolate trusts the data version it last read. */
    private readonly versionTtlMs: number,
    /** Runs work after the response, such as ctx.waitUntil; writes the cache off the hot path. */
    private readonly defer: (work: Promise<unknown>) => void,
    /** Read the data version from D1 itself, trusting neither the isolate's copy nor KV's. */
    private readonly readThrough = false,
  ) {}

  /** Read through D1 once per context: one request then answers from one version. */
  private versionReadThrough?: Promise<string>;

  async dataVersion(): Promise<string> {
    if (this.readThrough) {
      this.versionReadThrough ??= readDataVersion(this.db());
      return this.versionReadThrough;
    }
    const now = Date.now();
    if (knownVersion && now - knownVersion.checkedAt < this.versionTtlMs) return knownVersion.value;
    let value = await this.kv.get(DATA_VERSION_KV_KEY);
    if (value === null) {
      value = await readDataVersion(this.db());
      this.defer(this.kv.put(DATA_VERSION_KV_KEY, value));
    }
    knownVersion = { value, checkedAt: now };
    return value;
  }

  /** Whether KV answers: one read of the mirrored data version, for readiness checks. */
  async ping(): Promise<void> {
    await this.kv.get(DATA_VERSION_KV_KEY);
  }

  /** Marks all cached data stale. Call after every committed data change. */
  async bumpDataVersion(): Promise<string> {
    return this.mirror(await incrementDataVersion(this.db()));
  }

  /**
   * Copies D1's data version to KV and this isolate, after a batch that moved it itself; the
   * cron calls it too, to mend a mirror that a crash between the two writes left behind.
   */
  async publishDataVersion(): Promise<string> {
    return this.mirror(await readDataVersion(this.db()));
  }

  private async mirror(value: string): Promise<string> {
    if (this.readThrough) this.versionReadThrough = Promise.resolve(value);
    await this.kv.put(DATA_VERSION_KV_KEY, value);
    knownVersion = { value, checkedAt: Date.now() };
    return value;
  }

  /**
   * Reads `key` under the current data version, computing and storing it on a miss; `compute`
   * is told the version it computes for.
   */
  async getOrCompute<T>(
    key: string,
    compute: (version: string) => Promise<T>,
  ): Promise<{ value: T; result: CacheResult; version: string }> {
    const version = await this.dataVersion();
    const versionedKey = `v${version}.${CACHE_LAYOUT}:${key}`;
    const inMemory = memory.get(versionedKey) as T | undefined;
    if (inMemory !== undefined) return counted({ value: inMemory, result: "memory", version });
    const stored = await this.kv.get<T>(versionedKey, "json");
    if (stored !== null) {
      memory.set(versionedKey, stored);
      return counted({ value: stored, result: "kv", version });
    }
    const value = await compute(version);
    memory.set(versionedKey, value);
    this.defer(this.kv.put(versionedKey, JSON.stringify(value), { expirationTtl: KV_TTL_SECONDS }));
    return counted({ value, result: "miss", version });
  }

  /**
   * Keeps `value` as the last answer for `key` computed from whole data, under any version, for
   * an answer to fall back on while the data behind it is being rebuilt.
   */
  keepLastGood<T>(key: string, value: T, version: string): void {
    const entry: LastGood<T> = { value, version };
    memory.set(lastGoodKey(key), entry);
    this.defer(this.kv.put(lastGoodKey(key), JSON.stringify(entry), { expirationTtl: KV_TTL_SECONDS }));
  }

  /** The last answer kept for `key` and the data version it was computed for, if any. */
  async lastGood<T>(key: string): Promise<LastGood<T> | undefined> {
    const inMemory = memory.get(lastGoodKey(key)) as LastGood<T> | undefined;
    if (inMemory !== undefined) return inMemory;
    return (await this.kv.get<LastGood<T>>(lastGoodKey(key), "json")) ?? undefined;
  }
}

interface LastGood<T> {
  value: T;
  version: string;
}

const lastGoodKey = (key: string) => `last.${CACHE_LAYOUT}:${key}`;

function counted<T extends { result: CacheResult }>(lookup: T): T {
  prometheus.count("cache_requests_total", { result: lookup.result });
  return lookup;
}

/** Forgets isolate-local state; tests use it to observe KV behaviour. */
export function clearMemoryCache(): void {
  knownVersion = undefined;
  memory.clear();
}
