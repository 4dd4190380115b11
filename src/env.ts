import { z } from "zod";

/** Bindings declared in wrangler.toml. */
export interface Env {
  DB: D1Database;
  CACHE: KVNamespace;
  MIN_PEER_GROUP?: string;
  CACHE_MAX_AGE_SECONDS?: string;
  DATA_VERSION_TTL_MS?: string;
}

const configSchema = z.object({
  MIN_PEER_GROUP: z.coerce.number().int().min(1).default(5),
  CACHE_MAX_AGE_SECONDS: z.coerce.number().int().min(0).default(60),
  DATA_VERSION_TTL_MS: z.coerce.number().int().min(0).default(1000),
});

export interface Config {
  /** Smallest pooled peer group whose statistics may be shown. */
  minPeerGroup: number;
  /** Cache-Control max-age on GET responses. */
  cacheMaxAgeSeconds: number;
  /** How long an isolate trusts its copy of the data version before rereading it. */
  dataVersionTtlMs: number;
}

let parsed: { source: Env; config: Config } | undefined;

/** Parses configuration once per isolate; a bad value fails loudly instead of being guessed. */
export function loadConfig(env: Env): Config {
  if (parsed?.source === env) return parsed.config;
  const raw = configSchema.parse({
    MIN_PEER_GROUP: env.MIN_PEER_GROUP,
    CACHE_MAX_AGE_SECONDS: env.CACHE_MAX_AGE_SECONDS,
    DATA_VERSION_TTL_MS: env.DATA_VERSION_TTL_MS,
  });
  const config = {
    minPeerGroup: raw.MIN_PEER_GROUP,
    cacheMaxAgeSeconds: raw.CACHE_MAX_AGE_SECONDS,
    dataVersionTtlMs: raw.DATA_VERSION_TTL_MS,
  };
  parsed = { source: env, config };
  return config;
}
