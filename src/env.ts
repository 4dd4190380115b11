import { z } from "zod";
import type { OtlpTarget } from "./observability/tracing/otlp";

/**
 * The Worker's environment: its bindings and `[vars]`, which `npm run gen:env` writes from
 * wrangler.toml into worker-configuration.d.ts as `Cloudflare.Env` (CI fails when it is stale),
 * and the settings wrangler.toml does not declare.
 */
export interface Env extends Cloudflare.Env, Settings {}

/** Secrets, and optional settings whose defaults are in the schema below. */
export interface Settings {
  DATA_VERSION_TTL_MS?: string;
  /** Bearer tokens: see src/auth/config.ts. */
  AUTH_ISSUER?: string;
  AUTH_AUDIENCE?: string;
  AUTH_JWKS_URL?: string;
  AUTH_JWKS?: string;
  AUTH_ROLE_CLAIM?: string;
  ANONYMOUS_ACCESS?: string;
  MAX_TOKEN_LIFETIME_SECONDS?: string;
  /** Tiers of the per-principal token buckets: see src/ratelimit/config.ts. */
  RATE_LIMITS?: string;
  /** The HMAC key panel company keys are pseudonymized with (a secret; see src/ingest/pseudonym.ts). */
  COMPANY_KEY_SECRET?: string;
  /** Keys that seal source credentials, and the current one: see src/ingest/credentials.ts. */
  CREDENTIAL_KEYS?: string;
  CREDENTIAL_KEY_ID?: string;
  /** "off" silences the per-request JSON log lines (the test suite does); on by default. */
  REQUEST_LOGS?: string;
  /** Comma-separated origins a source url may name though the SSRF guard would refuse them. */
  SOURCE_URL_ALLOW?: string;
  /** "off" records no metrics; on by default. */
  METRICS?: string;
  /** A secret bearer token that may read GET /metrics, for a scraper without a JWT. */
  METRICS_SCRAPE_TOKEN?: string;
  /** How long an isolate gathers metrics and spans before it sends them as one batch. */
  TELEMETRY_FLUSH_INTERVAL_MS?: string;
  /** OTLP/HTTP receiver for spans, such as http://collector:4318; unset means no tracing. */
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  /** Headers for that receiver, as "name=value,name2=value2" (a secret when it holds a key). */
  OTEL_EXPORTER_OTLP_HEADERS?: string;
  OTEL_SERVICE_NAME?: string;
  /** Share of new traces recorded, 0 to 1; a caller's traceparent decides for its own trace. */
  TRACE_SAMPLE_RATIO?: string;
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

/** A comma-separated list of exact origins. */
const originList = z
  .string()
  .default("")
  .transform((text) =>
    text
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== ""),
  )
  .pipe(z.array(origin));

const configSchema = z.object({
  MIN_PEER_GROUP: z.coerce.number().int().min(1).default(5),
  CACHE_MAX_AGE_SECONDS: z.coerce.number().int().min(0).default(60),
  DATA_VERSION_TTL_MS: z.coerce.number().int().min(0).default(1000),
  FETCH_TIMEOUT_SECONDS: z.coerce.number().positive().default(30),
  RETRY_BASE_SECONDS: z.coerce.number().int().min(0).default(30),
  CIRCUIT_FAILURE_THRESHOLD: z.coerce.number().int().min(1).default(5),
  CIRCUIT_COOLDOWN_SECONDS: z.coerce.number().int().min(0).default(3600),
  RUN_LEASE_SECONDS: z.coerce.number().int().min(1).default(60),
  RECOMPUTE_DEGRADED_AFTER_SECONDS: z.coerce.number().int().min(1).default(900),
  CORS_ORIGINS: originList,
  SOURCE_URL_ALLOW: originList,
  METRICS: z.enum(["on", "off"]).default("on"),
  TELEMETRY_FLUSH_INTERVAL_MS: z.coerce.number().int().min(0).max(20_000).default(1000),
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .url({ protocol: /^https?$/ })
    .optional()
    .transform((url) => url && (/\/v1\/traces\/?$/.test(url) ? url : `${url.replace(/\/+$/, "")}/v1/traces`)),
  OTEL_EXPORTER_OTLP_HEADERS: z
    .string()
    .default("")
    .transform((text, context) => {
      const headers: Record<string, string> = {};
      for (const pair of text.split(",").filter((item) => item.trim() !== "")) {
        const at = pair.indexOf("=");
        if (at <= 0) {
          context.addIssue({ code: "custom", message: "expected name=value pairs separated by commas" });
          return z.NEVER;
        }
        try {
          headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(
            pair.slice(at + 1).trim(),
          );
        } catch {
          context.addIssue({ code: "custom", message: "a header name or value is not valid URL encoding" });
          return z.NEVER;
        }
      }
      return headers;
    }),
  OTEL_SERVICE_NAME: z.string().min(1).default("benchmark-service"),
  TRACE_SAMPLE_RATIO: z.coerce.number().min(0).max(1).default(1),
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
  /** How long a run in flight is held without renewal before it is taken over. */
  runLeaseMs: number;
  /** How long recompute may be owed before readiness reports the service degraded. */
  recomputeDegradedAfterMs: number;
  /** Origins allowed cross-origin access (CORS); empty means none. */
  corsOrigins: string[];
  /** Origins a source url may name whatever the SSRF guard says of them (http included). */
  sourceUrlAllow: string[];
  telemetry: {
    metrics: boolean;
    /** How long an isolate gathers metrics and spans before sending them as one batch. */
    flushIntervalMs: number;
    /** Where spans go; undefined when tracing is off. */
    traces: OtlpTarget | undefined;
    traceSampleRatio: number;
  };
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
    RUN_LEASE_SECONDS: env.RUN_LEASE_SECONDS,
    RECOMPUTE_DEGRADED_AFTER_SECONDS: env.RECOMPUTE_DEGRADED_AFTER_SECONDS,
    CORS_ORIGINS: env.CORS_ORIGINS,
    SOURCE_URL_ALLOW: env.SOURCE_URL_ALLOW,
    METRICS: env.METRICS,
    TELEMETRY_FLUSH_INTERVAL_MS: env.TELEMETRY_FLUSH_INTERVAL_MS,
    // An empty value, as `--var NAME:` leaves it, means unset.
    OTEL_EXPORTER_OTLP_ENDPOINT: env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
    OTEL_EXPORTER_OTLP_HEADERS: env.OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_SERVICE_NAME: env.OTEL_SERVICE_NAME,
    TRACE_SAMPLE_RATIO: env.TRACE_SAMPLE_RATIO,
  });
  const config = {
    minPeerGroup: raw.MIN_PEER_GROUP,
    cacheMaxAgeSeconds: raw.CACHE_MAX_AGE_SECONDS,
    dataVersionTtlMs: raw.DATA_VERSION_TTL_MS,
    fetchTimeoutMs: raw.FETCH_TIMEOUT_SECONDS * 1000,
    retryBaseSeconds: raw.RETRY_BASE_SECONDS,
    circuitFailureThreshold: raw.CIRCUIT_FAILURE_THRESHOLD,
    circuitCooldownMs: raw.CIRCUIT_COOLDOWN_SECONDS * 1000,
    runLeaseMs: raw.RUN_LEASE_SECONDS * 1000,
    recomputeDegradedAfterMs: raw.RECOMPUTE_DEGRADED_AFTER_SECONDS * 1000,
    corsOrigins: raw.CORS_ORIGINS,
    sourceUrlAllow: raw.SOURCE_URL_ALLOW,
    telemetry: {
      metrics: raw.METRICS === "on",
      flushIntervalMs: raw.TELEMETRY_FLUSH_INTERVAL_MS,
      traces: raw.OTEL_EXPORTER_OTLP_ENDPOINT
        ? {
            url: raw.OTEL_EXPORTER_OTLP_ENDPOINT,
            headers: raw.OTEL_EXPORTER_OTLP_HEADERS,
            serviceName: raw.OTEL_SERVICE_NAME,
          }
        : undefined,
      traceSampleRatio: raw.TRACE_SAMPLE_RATIO,
    },
  };
  parsed = { source: env, config };
  return config;
}
