import type { JSONWebKeySet } from "jose";
import { z } from "zod";
import type { Env } from "../env";
import type { AnonymousAccess } from "./roles";

/** Where the keys that sign tokens come from: the issuer's JWKS url, or keys given inline. */
export type KeySource = { url: string } | { keys: JSONWebKeySet };

export interface AuthConfig {
  issuer: string;
  audience: string;
  keys: KeySource;
  /** The claim that lists a token's roles; a space-separated `scope` is read as well. */
  roleClaim: string;
  anonymous: AnonymousAccess;
  /** The longest a token may be valid for, from its iat (or from now) to its exp. */
  maxTokenLifetimeSeconds: number;
}

/** A day: long enough for any session, short enough that a leaked token soon stops working. */
const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600;

/** Either the configuration, or every setting that is missing or wrong: the service then refuses to serve. */
export type AuthSetup = { ok: true; config: AuthConfig } | { ok: false; problems: string[] };

const jwksSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) });

let parsed: { source: Env; setup: AuthSetup } | undefined;

/**
 * Reads the auth settings once per isolate. There is no default issuer, audience or key: a
 * deployment without them answers 503 to every request rather than trust anything.
 */
export function loadAuthSetup(env: Env): AuthSetup {
  if (parsed?.source === env) return parsed.setup;
  const problems: string[] = [];
  const issuer = env.AUTH_ISSUER?.trim();
  const audience = env.AUTH_AUDIENCE?.trim();
  if (!issuer) problems.push("AUTH_ISSUER is not set");
  if (!audience) problems.push("AUTH_AUDIENCE is not set");
  let keys: KeySource | undefined;
  if (env.AUTH_JWKS_URL?.trim()) {
    const url = env.AUTH_JWKS_URL.trim();
    if (!/^https:\/\//.test(url) && !/^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(url)) {
      problems.push("AUTH_JWKS_URL must be an https url");
    } else keys = { url };
  } else if (env.AUTH_JWKS?.trim()) {
    try {
      keys = { keys: jwksSchema.parse(JSON.parse(env.AUTH_JWKS)) as JSONWebKeySet };
    } catch {
      problems.push('AUTH_JWKS is not a JWKS ({"keys": [...]})');
    }
  } else problems.push("neither AUTH_JWKS_URL nor AUTH_JWKS is set");
  const anonymous = z.enum(["none", "catalogue", "read"]).safeParse(env.ANONYMOUS_ACCESS ?? "catalogue");
  if (!anonymous.success) problems.push("ANONYMOUS_ACCESS must be none, catalogue or read");
  const lifetime = z.coerce
    .number()
    .int()
    .min(60)
    .max(366 * 24 * 3600)
    .safeParse(env.MAX_TOKEN_LIFETIME_SECONDS?.trim() || DEFAULT_MAX_TOKEN_LIFETIME_SECONDS);
  if (!lifetime.success) {
    problems.push("MAX_TOKEN_LIFETIME_SECONDS must be a whole number of seconds from 60 to a year");
  }

  const setup: AuthSetup =
    problems.length > 0 || !keys || !anonymous.success || !lifetime.success
      ? { ok: false, problems }
      : {
          ok: true,
          config: {
            issuer: issuer!,
            audience: audience!,
            keys,
            roleClaim: env.AUTH_ROLE_CLAIM?.trim() || "roles",
            anonymous: anonymous.data,
            maxTokenLifetimeSeconds: lifetime.data,
          },
        };
  parsed = { source: env, setup };
  return setup;
}
