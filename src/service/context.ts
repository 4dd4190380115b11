import type { Principal } from "../auth/roles";
import { VersionedCache } from "../cache/versioned-cache";
import { createDatabase, type Database } from "../db/client";
import { type Config, type Env, loadConfig } from "../env";
import type { IngestMessage, RecomputeMessage } from "../ingest/messages";
import { tracedD1, tracedKv } from "../observability/tracing/instrument";
import { currentSpan } from "../observability/tracing/span";

/**
 * Which copy of D1 a context reads (D1's Sessions API): any replica, the nearest being fastest;
 * the primary, for work that reads what it is about to change; or any copy at least as fresh as
 * a bookmark a caller got back from an earlier request, so that it sees its own writes.
 */
export type Freshness = "first-unconstrained" | "first-primary" | { bookmark: string };

/** What every use case needs; built once per request, batch or cron tick by the adapters. */
export interface ServiceContext {
  /** Built on first use, so that a request answered from cache never builds one. */
  readonly db: Database;
  cache: VersionedCache;
  config: Config;
  queues: {
    ingest: Queue<IngestMessage>;
    recompute: Queue<RecomputeMessage>;
  };
  /** The caller, for what depends on who asks (k-anonymity); undefined for queue and cron work. */
  principal?: Principal;
  /** The url the request came to, whose host is the service's own; undefined for queue and cron work. */
  requestUrl?: string;
  /** Secrets from the environment; absent ones fail the use cases that need them, never others. */
  secrets: { companyKey?: string; CREDENTIAL_KEYS?: string; CREDENTIAL_KEY_ID?: string };
  /** The D1 session's bookmark after its last query; null when the context ran none. */
  bookmark(): string | null;
}

/** `defer` keeps background work (cache writes) alive past the response, e.g. ctx.waitUntil. */
export function createServiceContext(
  env: Env,
  defer: (work: Promise<unknown>) => void,
  freshness: Freshness = "first-primary",
): ServiceContext {
  const config = loadConfig(env);
  // Built inside a traced invocation, the context gives every D1 query and KV operation a span;
  // otherwise it uses the bindings as they are, at no cost.
  const traced = currentSpan() !== undefined;
  const kv = traced ? tracedKv(env.CACHE) : env.CACHE;
  let session: D1DatabaseSession | undefined;
  let db: Database | undefined;
  const database = () => {
    session ??= env.DB.withSession(typeof freshness === "string" ? freshness : freshness.bookmark);
    db ??= createDatabase(traced ? tracedD1(session) : session);
    return db;
  };
  return {
    get db() {
      return database();
    },
    config,
    // A caller holding a bookmark asks for data at least that fresh: the data version then comes
    // from D1 through the session, not from what this isolate or KV last saw.
    cache: new VersionedCache(kv, database, config.dataVersionTtlMs, defer, typeof freshness !== "string"),
    queues: { ingest: env.INGEST_QUEUE, recompute: env.RECOMPUTE_QUEUE },
    secrets: {
      companyKey: env.COMPANY_KEY_SECRET || undefined,
      CREDENTIAL_KEYS: env.CREDENTIAL_KEYS,
      CREDENTIAL_KEY_ID: env.CREDENTIAL_KEY_ID,
    },
    bookmark: () => session?.getBookmark() ?? null,
  };
}
