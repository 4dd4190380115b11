import { eq } from "drizzle-orm";
import type { Database } from "./client";
import { meta } from "./schema";

/*
 * The data version: a counter in D1 that moves whenever the data answers are computed from does,
 * so that cached answers keyed by it go stale (src/cache/versioned-cache.ts mirrors it to KV).
 */

const DATA_VERSION_KEY = "data_version";

/**
 * Moves the data version on by one. Batches that change data end with it, so the data and its
 * version commit together; a crash can then leave only KV's mirror behind, which the cron mends.
 */
export const INCREMENT_DATA_VERSION_SQL = `INSERT INTO meta (key, value) VALUES ('${DATA_VERSION_KEY}', '1')
  ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1`;

/** The data version as a batch statement reads it: "0" before the first change. */
export const CURRENT_DATA_VERSION_SQL = `coalesce((SELECT value FROM meta WHERE key = '${DATA_VERSION_KEY}'), '0')`;

export async function readDataVersion(db: Database): Promise<string> {
  const [row] = await db.select({ value: meta.value }).from(meta).where(eq(meta.key, DATA_VERSION_KEY));
  return row?.value ?? "0";
}

/** Increments the data version; it changes whenever data does, so versioned cache keys go stale. */
export async function incrementDataVersion(db: Database): Promise<string> {
  const client = db.$client;
  const [, read] = await client.batch<{ version: string }>([
    client.prepare(INCREMENT_DATA_VERSION_SQL),
    client.prepare(`SELECT ${CURRENT_DATA_VERSION_SQL} AS version`),
  ]);
  return String(read!.results[0]!.version);
}
