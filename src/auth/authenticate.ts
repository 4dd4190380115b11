import { ServiceError } from "../domain/errors";
import { logEvent } from "../observability/log";
import type { AuthSetup } from "./config";
import { type Access, type AnonymousAccess, allows, LEAST_ROLE, type Principal } from "./roles";
import { unauthenticated, verifyBearer } from "./verify";

/** Tokens travel in the Authorization header only: in a url they end up in logs and histories. */
const TOKEN_PARAMETERS = ["access_token", "token", "jwt"];

/** A caller without credentials, known by the address Cloudflare saw. */
export function anonymousCaller(request: Request): Principal {
  return { kind: "anonymous", address: request.headers.get("CF-Connecting-IP") ?? "unknown" };
}

/**
 * Whether the query names one of TOKEN_PARAMETERS. Only a query with one of their names or a
 * percent escape in it is parsed: any other cannot decode to them, and most queries are such.
 */
function carriesTokenParameter(url: string): boolean {
  const at = url.indexOf("?");
  if (at === -1) return false;
  const search = url.slice(at);
  if (!/token|jwt|%/.test(search)) return false;
  const query = new URLSearchParams(search);
  return TOKEN_PARAMETERS.some((name) => query.has(name));
}

/**
 * Who sent the request: the principal of a verified bearer token, or an anonymous caller known
 * by the address Cloudflare saw (CF-Connecting-IP; X-Forwarded-For is the client's to forge).
 * A service without its auth settings answers 503 to everything, and says why in the log.
 */
export async function authenticate(request: Request, setup: AuthSetup): Promise<Principal> {
  if (!setup.ok) throw notConfigured(setup.problems);
  if (carriesTokenParameter(request.url)) {
    throw unauthenticated("invalid_request", "send the token in the Authorization header, not in the url");
  }
  const header = request.headers.get("Authorization");
  if (header === null) return anonymousCaller(request);
  const match = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/i.exec(header.trim());
  if (!match) throw unauthenticated("invalid_request", "the Authorization header must be Bearer <token>");
  return verifyBearer(match[1]!, setup.config);
}

/**
 * Who sent a request to a public route, which must answer whatever credentials a probe forwards:
 * the principal of a token that verifies, and an anonymous caller otherwise, never an error.
 * A caller with a token is still charged to its own rate-limit bucket, not to its address's.
 */
export async function identify(request: Request, setup: AuthSetup): Promise<Principal> {
  // Without its auth settings the service serves nothing, public routes included.
  if (!setup.ok) throw notConfigured(setup.problems);
  if (request.headers.get("Authorization") === null) return anonymousCaller(request);
  return authenticate(request, setup).catch(() => anonymousCaller(request));
}

/** The problems name settings, never their values, so the caller may read them too. */
function notConfigured(problems: readonly string[]): ServiceError {
  logEvent("error", "refusing requests: auth is not configured", { "labels.problems": problems });
  return new ServiceError(
    "unavailable",
    "auth-not-configured",
    `The service is not configured for authentication: ${problems.join("; ")}.`,
  );
}

/** 401 for an anonymous caller who needs a token, 403 for a token whose role does not reach. */
export function authorize(principal: Principal, access: Access, anonymous: AnonymousAccess): void {
  if (allows(principal, access, anonymous)) return;
  if (principal.kind === "anonymous") throw unauthenticated("invalid_request", "a bearer token is required");
  throw new ServiceError(
    "permission_denied",
    "insufficient-role",
    `This needs the ${LEAST_ROLE[access as Exclude<Access, "public">]} role; the token's role is ${principal.role}.`,
  );
}
