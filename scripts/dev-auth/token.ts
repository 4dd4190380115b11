/**
 * Mints bearer tokens signed by the development key, which only `npm start` and the tests trust:
 *
 *   npm run --silent token -- --role analyst [--sub someone] [--ttl 3600]
 *
 * prints one token. Production never configures this key (see docs/security.md, "Authentication").
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { importJWK, type JWK, SignJWT } from "jose";

interface DevKey {
  issuer: string;
  audience: string;
  privateJwk: JWK;
  jwks: { keys: JWK[] };
}

const devKey = JSON.parse(readFileSync(new URL("./dev-key.json", import.meta.url), "utf8")) as DevKey;

/** The wrangler variables that make a local service trust the development key. */
export function devAuthVars(): Record<string, string> {
  return {
    AUTH_ISSUER: devKey.issuer,
    AUTH_AUDIENCE: devKey.audience,
    AUTH_JWKS: JSON.stringify(devKey.jwks),
  };
}

export async function mintDevToken(
  role: string,
  subject = `dev-${role}`,
  ttlSeconds = 3600,
): Promise<string> {
  const key = await importJWK(devKey.privateJwk, "ES256");
  return new SignJWT({ roles: [role] })
    .setProtectedHeader({ alg: "ES256", kid: devKey.privateJwk.kid, typ: "JWT" })
    .setIssuer(devKey.issuer)
    .setAudience(devKey.audience)
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(key);
}

if (process.argv[1] === import.meta.filename) {
  const { values } = parseArgs({
    options: {
      role: { type: "string", default: "viewer" },
      sub: { type: "string" },
      ttl: { type: "string", default: "3600" },
    },
  });
  if (!["viewer", "analyst", "admin"].includes(values.role)) {
    console.error(`--role must be viewer, analyst or admin, not "${values.role}"`);
    process.exit(2);
  }
  console.log(await mintDevToken(values.role, values.sub, Number(values.ttl)));
}
