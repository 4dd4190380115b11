import { env } from "cloudflare:test";
import { importJWK, type JWTPayload, SignJWT } from "jose";
import type { Role } from "../../src/auth/roles";
import { pseudonymize } from "../../src/ingest/pseudonym";
import { restAccess, rpcAccess, rpcMethodOf } from "../../src/pipeline/access";

/** The key id the test environment's JWKS lists: the development key's. */
export const TRUSTED_KID = env.TEST_SIGNING_KEY.kid;

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A complete, valid claim set for the trusted issuer and audience; `overrides` replace or (as undefined) drop claims. */
export function claims(overrides: JWTPayload = {}): JWTPayload {
  const now = nowSeconds();
  return {
    iss: env.AUTH_ISSUER,
    aud: env.AUTH_AUDIENCE,
    sub: "attacker",
    roles: ["admin"],
    iat: now,
    exp: now + 3600,
    ...overrides,
  };
}

/** Signs `payload` exactly as given: by default with the trusted development key, ES256, its kid. */
export async function sign(
  payload: JWTPayload,
  {
    key,
    alg = "ES256",
    kid = TRUSTED_KID,
  }: { key?: CryptoKey | Uint8Array; alg?: string; kid?: string } = {},
): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg, kid, typ: "JWT" })
    .sign(key ?? (await importJWK(env.TEST_SIGNING_KEY, "ES256")));
}

const tokens = new Map<Role, Promise<string>>();

/** A valid token for `role`, made once per test file. */
export function tokenFor(role: Role): Promise<string> {
  let token = tokens.get(role);
  if (!token) {
    token = sign(claims({ sub: `test-${role}`, roles: [role] }));
    tokens.set(role, token);
  }
  return token;
}

/**
 * `init` with a bearer token for a request to `url`, unless it already says who is calling: an
 * admin's where the route needs one, an analyst's elsewhere, so that what only admins may see
 * (peer groups below k) stays hidden unless a test asks for it.
 */
export async function withToken(url: string, init: RequestInit = {}): Promise<RequestInit> {
  const headers = new Headers(init.headers);
  if (!headers.has("Authorization")) {
    const { pathname } = new URL(url, "https://bench.test");
    const rpcMethod = rpcMethodOf(pathname);
    const access = rpcMethod ? rpcAccess(rpcMethod) : restAccess(init.method ?? "GET", pathname);
    headers.set("Authorization", `Bearer ${await tokenFor(access === "admin" ? "admin" : "analyst")}`);
  }
  return { ...init, headers };
}

/** What the test environment stores `companyKey` of `sourceId` as. */
export const pseudonymOf = (sourceId: string, companyKey: string) =>
  pseudonymize(env.COMPANY_KEY_SECRET!, sourceId, companyKey);
