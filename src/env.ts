import { z } from "zod";
import type { IngestMessage, RecomputeMessage } from "./jobs/messages";
import type { RateLimiter } from "./ratelimit/rate-limiter";

/** Bindings declared in wrangler.toml. */
export interface Env {
  DB: D1Database;
  CACHE: KVNamespace;
  MIN_PEER_GROUP?: string;
  CACHE_MAX_AGE_SECONDS?: string;
  DATA_VERSION_TTL_MS?: string;
  INGEST_QUEUE: Queue<IngestMessage>;
  RECOMPUTE_QUEUE: Queue<RecomputeMessage>;
  FETCH_TIMEOUT_SECONDS?: string;
  RETRY_BASE_SECONDS?: string;
  CIRCUIT_FAILURE_THRESHOLD?: string;
  CIRCUIT_COOLDOWN_SECONDS?: string;
  /** Bearer tokens: see src/auth/config.ts. */
  AUTH_ISSUER?: string;
  AUTH_AUDIENCE?: string;
  AUTH_JWKS_URL?: string;
  AUTH_JWKS?: string;
  AUTH_ROLE_CLAIM?: string;
  ANONYMOUS_ACCESS?: string;
  /** One token bucket per principal; tiers from RATE_LIMITS, see src/ratelimit/config.ts. */
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  RATE_LIMITS?: string;
  /** The HMAC key panel company keys are pseudonymized with (a secret; see src/ingest/pseudonym.ts). */
  COMPANY_KEY_SECRET?: string;
  /** Keys that seal source credentials, and the current one: see src/crypto/credentials.ts. */
  CREDENTIAL_KEYS?: string;
  CREDENTIAL_KEY_ID?: string;
  /** "off" silences the per-request JSON log lines (the test suite does); on by default. */
  REQUEST_LOGS?: string;
  /** Comma-separated origins whose browser scripts may call the API; unset means none. */
  CORS_ORIGINS?: string;
}

/**
 * An origin exactly as a browser sends it: scheme, host and port only, no path or trailing slash,
 * and no wildcard, which would match nothing yet look as if it matched much.
 */
const origin = z
  .string()
  .refine((text) => /^https?:\/\/[^*]+$/.test(text) && URL.canParse(text) && new URL(text).origin === text, {
    error: (issue) => `${JSON.stringify(issue.input)} is not an origin such as https://app.example.com`,
  });

const configSchema = z.object({
  MIN_PEER_GROUP: z.coerce.number().int().min(1).default(5),
  CACHE_MAX_AGE_SECONDS: z.coerce.number().int().min(0).default(60),
  DATA_VERSION_TTL_MS: z.coerce.number().int().min(0).default(1000),
  FETCH_TIMEOUT_SECONDS: z.coerce.number().positive().default(30),
  RETRY_BASE_SECONDS: z.coerce.number().int().min(0).default(30),
  CIRCUIT_FAILURE_THRESHOLD: z.coerce.number().int().min(1).default(5),
  CIRCUIT_COOLDOWN_SECONDS: z.coerce.number().int().min(0).default(3600),
  CORS_ORIGINS: z
    .string()
    .default("")
    .transform((text) =>
      text
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== ""),
    )
    .pipe(z.array(origin)),
});

export interface Config {
  /** Smallest pooled peer group whose statistics may be shown. */
  minPeerGroup: number;
  /** Cache-Control max-age on GET responses. */
  cacheMaxAgeSeconds: number;
  /** How long an isolate trusts its copy of the data version before rereading it. */
  dataVersionTtlMs: number;
  /** How long a source fetch may take before it counts as failed. */
  fetchTimeoutMs: number;
  /** First retry delay of a failed refresh; each further attempt doubles it. */
  retryBaseSeconds: number;
  /** Consecutive failed refreshes that open a source's circuit. */
  circuitFailureThreshold: number;
  /** How long an open circuit skips its source before one trial refresh. */
  circuitCooldownMs: number;
  /** Origins allowed cross-origin access (CORS); empty means none. */
  corsOrigins: string[];
}

let parsed: { source: Env; config: Config } | undefined;

/** Parses configuration once per isolate; a bad value fails loudly instead of being guessed. */
export function loadConfig(env: Env): Config {
  if (parsed?.source === env) return parsed.config;
  const raw = configSchema.parse({
    MIN_PEER_GROUP: env.MIN_PEER_GROUP,
    CACHE_MAX_AGE_SECONDS: env.CACHE_MAX_AGE_SECONDS,
    DATA_VERSION_TTL_MS: env.DATA_VERSION_TTL_MS,
    FETCH_TIMEOUT_SECONDS: env.FETCH_TIMEOUT_SECONDS,
    RETRY_BASE_SECONDS: env.RETRY_BASE_SECONDS,
    CIRCUIT_FAILURE_THRESHOLD: env.CIRCUIT_FAILURE_THRESHOLD,
    CIRCUIT_COOLDOWN_SECONDS: env.CIRCUIT_COOLDOWN_SECONDS,
    CORS_ORIGINS: env.CORS_ORIGINS,
  });
  const config = {
    minPeerGroup: raw.MIN_PEER_GROUP,
    cacheMaxAgeSeconds: raw.CACHE_MAX_AGE_SECONDS,
    dataVersionTtlMs: raw.DATA_VERSION_TTL_MS,
    fetchTimeoutMs: raw.FETCH_TIMEOUT_SECONDS * 1000,
    retryBaseSeconds: raw.RETRY_BASE_SECONDS,
    circuitFailureThreshold: raw.CIRCUIT_FAILURE_THRESHOLD,
    circuitCooldownMs: raw.CIRCUIT_COOLDOWN_SECONDS * 1000,
    corsOrigins: raw.CORS_ORIGINS,
  };
  parsed = { source: env, config };
  return config;
}
