import type { VersionedCache } from "../cache/versioned-cache";
import type { Database } from "../db/client";
import type { Config } from "../env";

/** What every use case needs; built once per request by the adapters. */
export interface ServiceContext {
  db: Database;
  cache: VersionedCache;
  config: Config;
}
