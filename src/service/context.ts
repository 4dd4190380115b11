import type { Principal } from "../auth/roles";
import { VersionedCache } from "../cache/versioned-cache";
import { createDatabase, type Database } from "../db/client";
import { type Config, type Env, loadConfig } from "../env";
import type { IngestMessage, RecomputeMessage } from "../jobs/messages";
import { tracedD1, tracedKv } from "../observability/tracing/instrument";
import { currentSpan } from "../observability/tracing/span";

/** What every use case needs; built once per request, batch or cron tick by the adapters. */
export interface ServiceContext {
  db: Database;
  cache: VersionedCache;
  config: Config;
  queues: {
    ingest: Queue<IngestMessage>;
    recompute: Queue<RecomputeMessage>;
  };
  /** The caller, for what depends on who asks (k-anonymity); undefined for queue and cron work. */
  principal?: Principal;
  /** The host name the request came to, the service's own; undefined for queue and cron work. */
  serviceHost?: string;
  /** Secrets from the environment; absent ones fail the use cases that need them, never others. */
  secrets: { companyKey?: string; CREDENTIAL_KEYS?: string; CREDENTIAL_KEY_ID?: string };
}

/** `defer` keeps background work (cache writes) alive past the response, e.g. ctx.waitUntil. */
export function createServiceContext(env: Env, defer: (work: Promise<unknown>) => void): ServiceContext {
  const config = loadConfig(env);
  // Built inside a traced invocation, the context gives every D1 query and KV operation a span;
  // otherwise it uses the bindings as they are, at no cost.
  const traced = currentSpan() !== undefined;
  const db = createDatabase(traced ? tracedD1(env.DB) : env.DB);
  const kv = traced ? tracedKv(env.CACHE) : env.CACHE;
  return {
    db,
    config,
    cache: new VersionedCache(kv, db, config.dataVersionTtlMs, defer),
    queues: { ingest: env.INGEST_QUEUE, recompute: env.RECOMPUTE_QUEUE },
    secrets: {
      companyKey: env.COMPANY_KEY_SECRET || undefined,
      CREDENTIAL_KEYS: env.CREDENTIAL_KEYS,
      CREDENTIAL_KEY_ID: env.CREDENTIAL_KEY_ID,
    },
  };
}
