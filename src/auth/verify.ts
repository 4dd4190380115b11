import { createHash } from "node:crypto";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";
import { ServiceError } from "../domain/errors";
import type { AuthConfig, KeySource } from "./config";
import { type Principal, strongestRole } from "./roles";

const hashSubject = (subject: string) => createHash("sha256").update(subject).digest("hex").slice(0, 16);

/** Asymmetric algorithms only: an HS256 token "signed" with a public key can never verify. */
const ALGORITHMS = ["RS256", "ES256", "EdDSA"];
const CLOCK_SKEW_SECONDS = 60;

/** Remote key sets live as long as the isolate: jose caches their keys, with a cooldown between refetches. */
const keySets = new Map<string, JWTVerifyGetKey>();

function keySetFor(source: KeySource): JWTVerifyGetKey {
  const id = "url" in source ? source.url : JSON.stringify(source.keys);
  let keySet = keySets.get(id);
  if (!keySet) {
    keySet =
      "url" in source
        ? createRemoteJWKSet(new URL(source.url), {
            timeoutDuration: 5_000,
            cooldownDuration: 30_000,
            cacheMaxAge: 10 * 60_000,
          })
        : createLocalJWKSet(source.keys);
    keySets.set(id, keySet);
  }
  return keySet;
}

/** A 401 in the form RFC 6750 asks for: the reason both in the header and the problem body. */
export function unauthenticated(error: "invalid_token" | "invalid_request", description: string) {
  return new ServiceError("unauthenticated", error.replace("_", "-"), description, [], {
    "WWW-Authenticate": `Bearer error="${error}", error_description="${description.replaceAll('"', "'")}"`,
  });
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "the token has expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    return error.claim === "nbf"
      ? "the token is not valid yet"
      : `the token's ${error.claim} claim is not accepted`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) return "no key of the issuer matches the token";
  if (error instanceof errors.JOSEAlgNotAllowed) return "the token's algorithm is not accepted";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "the token's signature does not verify";
  if (error instanceof errors.JWKSTimeout) return "the issuer's keys could not be fetched in time";
  return "the token is malformed";
}

/** Roles from the configured claim (a list, or a space-separated string) and from `scope`. */
function roleNames(payload: JWTPayload, claim: string): string[] {
  const names: string[] = [];
  for (const value of [payload[claim], payload.scope]) {
    if (typeof value === "string") names.push(...value.split(" "));
    else if (Array.isArray(value)) names.push(...value.filter((v): v is string => typeof v === "string"));
  }
  return names;
}

/**
 * Tokens this isolate has verified, by their full text (signature included, so only the same
 * token matches), per auth configuration: a caller's every request need not check the signature
 * again. An entry lasts a minute at most and never past the token's expiry, with the same skew.
 */
const verified = new WeakMap<AuthConfig, Map<string, { principal: Principal; until: number }>>();
const VERIFIED_MAX_ENTRIES = 1000;
const VERIFIED_TTL_MS = 60_000;

/** Verifies a bearer token and answers who it speaks for; any failure is a 401 invalid_token. */
export async function verifyBearer(token: string, config: AuthConfig): Promise<Principal> {
  const now = Date.now();
  let tokens = verified.get(config);
  if (!tokens) {
    tokens = new Map();
    verified.set(config, tokens);
  }
  const known = tokens.get(token);
  if (known && now < known.until) return known.principal;
  tokens.delete(token);
  const { principal, expiresAt } = await verifySignedToken(token, config);
  tokens.set(token, { principal, until: Math.min(expiresAt, now + VERIFIED_TTL_MS) });
  if (tokens.size > VERIFIED_MAX_ENTRIES) tokens.delete(tokens.keys().next().value!);
  return principal;
}

async function verifySignedToken(
  token: string,
  config: AuthConfig,
): Promise<{ principal: Principal; expiresAt: number }> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keySetFor(config.keys), {
      issuer: config.issuer,
      audience: config.audience,
      algorithms: ALGORITHMS,
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ["sub", "exp"],
    }));
  } catch (error) {
    throw unauthenticated("invalid_token", describe(error));
  }
  if (typeof payload.sub !== "string" || payload.sub === "") {
    throw unauthenticated("invalid_token", "the token's sub claim is not accepted");
  }
  // A token valid for months is as good as a password that never changes: refuse it, whoever signed it.
  const issuedAt = Math.min(payload.iat ?? Number.POSITIVE_INFINITY, Date.now() / 1000);
  if (payload.exp! - issuedAt > config.maxTokenLifetimeSeconds + CLOCK_SKEW_SECONDS) {
    throw unauthenticated(
      "invalid_token",
      `the token is valid for longer than ${config.maxTokenLifetimeSeconds} seconds, the most this service accepts`,
    );
  }
  const role = strongestRole(roleNames(payload, config.roleClaim));
  if (!role) {
    throw new ServiceError("permission_denied", "no-role", "The token carries no role this service knows.");
  }
  // exp is a required claim; jose accepts it up to the skew past.
  return {
    principal: { kind: "user", subject: payload.sub, role, subjectHash: hashSubject(payload.sub) },
    expiresAt: (payload.exp! + CLOCK_SKEW_SECONDS) * 1000,
  };
}
