import { env } from "cloudflare:test";
import { importJWK, type JWTPayload, SignJWT } from "jose";
import { restAccess } from "../../src/api/access";
import type { Role } from "../../src/auth/roles";
import { pseudonymize } from "../../src/ingest/pseudonym";
import { methodAccess } from "../../src/rpc/auth";
import { RPC_PATH_PREFIX } from "../../src/rpc/router";

/**
 * Tokens signed by the development key the test environment trusts (see vitest.config.ts);
 * `claims` and `header` override the defaults, for tokens that must fail.
 */
export async function signToken(
  claims: JWTPayload = {},
  { expiresIn = "1h", header = {} }: { expiresIn?: string | number; header?: Record<string, unknown> } = {},
): Promise<string> {
  const key = await importJWK(env.TEST_SIGNING_KEY, "ES256");
  return new SignJWT({ sub: "test-user", roles: ["viewer"], ...claims })
    .setProtectedHeader({ alg: "ES256", kid: env.TEST_SIGNING_KEY.kid, typ: "JWT", ...header })
    .setIssuer(env.AUTH_ISSUER!)
    .setAudience(env.AUTH_AUDIENCE!)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(key);
}

const tokens = new Map<Role, Promise<string>>();

/** A valid token for `role`, made once per test file. */
export function tokenFor(role: Role): Promise<string> {
  let token = tokens.get(role);
  if (!token) {
    token = signToken({ sub: `test-${role}`, roles: [role] });
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
    const rpcMethod = pathname.startsWith(RPC_PATH_PREFIX) ? pathname.split("/").at(-1)! : undefined;
    const access = rpcMethod ? methodAccess(rpcMethod) : restAccess(init.method ?? "GET", pathname);
    headers.set("Authorization", `Bearer ${await tokenFor(access === "admin" ? "admin" : "analyst")}`);
  }
  return { ...init, headers };
}

/** What the test environment stores `companyKey` of `sourceId` as. */
export const pseudonymOf = (sourceId: string, companyKey: string) =>
  pseudonymize(env.COMPANY_KEY_SECRET!, sourceId, companyKey);
