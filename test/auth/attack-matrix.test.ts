import { env } from "cloudflare:test";
import { base64url, generateKeyPair } from "jose";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { claims, nowSeconds, sign, TRUSTED_KID } from "../helpers/auth";
import { TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { clearMemoryCache, seed } from "../helpers/seed";
import {
  bearer,
  Code,
  type Credentials,
  challenge,
  expectProblem,
  rest,
  rpcClient,
  rpcFailure,
} from "./helpers";

beforeAll(() => seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES }));
beforeEach(() => clearMemoryCache());

/** A read route: anonymous callers may not use it, a viewer may. */
const READ_ROUTE = "/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2024";
const READ_CALL = {
  metric: "arr_growth",
  peersSelector: { case: "revenueRange", value: "1M-5M" },
  period: "2024",
} as const;

const encodeJson = (value: unknown) => base64url.encode(JSON.stringify(value));

/** The trusted public key, as the JWKS publishes it. */
const publicJwk = () => (JSON.parse(env.AUTH_JWKS!) as { keys: Record<string, unknown>[] }).keys[0]!;

/** `token` with one character of `part` (0 header, 1 payload, 2 signature) replaced. */
function tamper(token: string, part: number, at = 0): string {
  const parts = token.split(".");
  const text = parts[part]!;
  parts[part] = text.slice(0, at) + (text[at] === "A" ? "B" : "A") + text.slice(at + 1);
  return parts.join(".");
}

/** A freshly generated ES256 key the issuer never published. */
async function foreignKey(): Promise<CryptoKey> {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  return privateKey;
}

interface Attack {
  name: string;
  credentials: () => Promise<Credentials>;
  error: "invalid_token" | "invalid_request";
  description: string;
}

const ATTACKS: Attack[] = [
  {
    name: "no token",
    credentials: async () => ({}),
    error: "invalid_request",
    description: "a bearer token is required",
  },
  {
    name: "alg none",
    credentials: async () => ({
      authorization: bearer(`${encodeJson({ alg: "none", typ: "JWT" })}.${encodeJson(claims())}.`),
    }),
    error: "invalid_token",
    description: "the token's algorithm is not accepted",
  },
  {
    name: "alg none with the trusted kid",
    credentials: async () => ({
      authorization: bearer(
        `${encodeJson({ alg: "none", kid: TRUSTED_KID, typ: "JWT" })}.${encodeJson(claims())}.`,
      ),
    }),
    error: "invalid_token",
    description: "the token's algorithm is not accepted",
  },
  {
    name: "HS256 signed with the public key's JSON as the secret",
    credentials: async () => ({
      authorization: bearer(
        await sign(claims(), { alg: "HS256", key: new TextEncoder().encode(JSON.stringify(publicJwk())) }),
      ),
    }),
    error: "invalid_token",
    description: "the token's algorithm is not accepted",
  },
  {
    name: "HS256 signed with the JWKS document as the secret",
    credentials: async () => ({
      authorization: bearer(
        await sign(claims(), { alg: "HS256", key: new TextEncoder().encode(env.AUTH_JWKS!) }),
      ),
    }),
    error: "invalid_token",
    description: "the token's algorithm is not accepted",
  },
  {
    name: "expired two minutes ago (beyond the 60 s skew)",
    credentials: async () => ({
      authorization: bearer(await sign(claims({ iat: nowSeconds() - 3600, exp: nowSeconds() - 120 }))),
    }),
    error: "invalid_token",
    description: "the token has expired",
  },
  {
    name: "not valid for another five minutes",
    credentials: async () => ({ authorization: bearer(await sign(claims({ nbf: nowSeconds() + 300 }))) }),
    error: "invalid_token",
    description: "the token is not valid yet",
  },
  {
    name: "a wrong issuer",
    credentials: async () => ({
      authorization: bearer(await sign(claims({ iss: "https://evil.example" }))),
    }),
    error: "invalid_token",
    description: "the token's iss claim is not accepted",
  },
  {
    name: "no issuer",
    credentials: async () => ({ authorization: bearer(await sign(claims({ iss: undefined }))) }),
    error: "invalid_token",
    description: "the token's iss claim is not accepted",
  },
  {
    name: "a wrong audience",
    credentials: async () => ({ authorization: bearer(await sign(claims({ aud: "another-service" }))) }),
    error: "invalid_token",
    description: "the token's aud claim is not accepted",
  },
  {
    name: "no subject",
    credentials: async () => ({ authorization: bearer(await sign(claims({ sub: undefined }))) }),
    error: "invalid_token",
    description: "the token's sub claim is not accepted",
  },
  {
    name: "no expiry",
    credentials: async () => ({ authorization: bearer(await sign(claims({ exp: undefined }))) }),
    error: "invalid_token",
    description: "the token's exp claim is not accepted",
  },
  {
    name: "an unknown kid (a key the issuer never published)",
    credentials: async () => ({
      authorization: bearer(await sign(claims(), { key: await foreignKey(), kid: "attacker-key-1" })),
    }),
    error: "invalid_token",
    description: "no key of the issuer matches the token",
  },
  {
    name: "a foreign key under the trusted kid",
    credentials: async () => ({ authorization: bearer(await sign(claims(), { key: await foreignKey() })) }),
    error: "invalid_token",
    description: "the token's signature does not verify",
  },
  {
    name: "a tampered payload (viewer re-encoded as admin)",
    credentials: async () => {
      const [header, body, signature] = (await sign(claims({ roles: ["viewer"] }))).split(".");
      const payload = JSON.parse(new TextDecoder().decode(base64url.decode(body!))) as Record<
        string,
        unknown
      >;
      return {
        authorization: bearer(`${header}.${encodeJson({ ...payload, roles: ["admin"] })}.${signature}`),
      };
    },
    error: "invalid_token",
    description: "the token's signature does not verify",
  },
  {
    name: "a tampered payload (one character changed)",
    credentials: async () => ({ authorization: bearer(tamper(await sign(claims()), 1, 5)) }),
    error: "invalid_token",
    description: "the token's signature does not verify",
  },
  {
    name: "a tampered signature",
    credentials: async () => ({ authorization: bearer(tamper(await sign(claims()), 2)) }),
    error: "invalid_token",
    description: "the token's signature does not verify",
  },
  {
    name: "garbage in three parts",
    credentials: async () => ({ authorization: bearer("abc.def.ghi") }),
    error: "invalid_token",
    description: "the token is malformed",
  },
  ...["access_token", "token", "jwt"].map(
    (parameter): Attack => ({
      name: `a valid token in the query string (?${parameter}=)`,
      credentials: async () => ({ query: { [parameter]: await sign(claims()) } }),
      error: "invalid_request",
      description: "send the token in the Authorization header, not in the url",
    }),
  ),
  {
    name: "a valid token in the header and again in the query string",
    credentials: async () => {
      const token = await sign(claims());
      return { authorization: bearer(token), query: { access_token: token } };
    },
    error: "invalid_request",
    description: "send the token in the Authorization header, not in the url",
  },
  ...["Basic abc", "Bearer", "Bearer a b", "Token abc.def.ghi", "Bearer abc,def"].map(
    (authorization): Attack => ({
      name: `a malformed Authorization header "${authorization}"`,
      credentials: async () => ({ authorization }),
      error: "invalid_request",
      description: "the Authorization header must be Bearer <token>",
    }),
  ),
];

describe("REST: every attack is a 401", () => {
  it.each(ATTACKS)("$name", async ({ credentials, error, description }) => {
    const response = await rest(READ_ROUTE, await credentials());
    expect(response.headers.get("WWW-Authenticate")).toBe(challenge(error, description));
    const problem = await expectProblem(response, 401, `/problems/${error.replace("_", "-")}`);
    expect(problem).toMatchObject({
      title: "Unauthorized",
      detail: description,
      instance: "/api/v1/benchmarks",
    });
  });

  it("a valid token in the query string under a percent-escaped name (?%74oken=)", async () => {
    const separator = READ_ROUTE.includes("?") ? "&" : "?";
    const response = await rest(`${READ_ROUTE}${separator}%74oken=${await sign(claims())}`);
    const description = "send the token in the Authorization header, not in the url";
    expect(response.headers.get("WWW-Authenticate")).toBe(challenge("invalid_request", description));
    await expectProblem(response, 401, "/problems/invalid-request");
  });

  // A bad token is refused even where no token is needed, rather than read as anonymous.
  it.each(ATTACKS.filter((attack) => attack.name !== "no token"))(
    "on the anonymous catalogue too: $name",
    async ({ credentials, error, description }) => {
      const response = await rest("/api/v1/metrics", await credentials());
      expect(response.headers.get("WWW-Authenticate")).toBe(challenge(error, description));
      await expectProblem(response, 401, `/problems/${error.replace("_", "-")}`);
    },
  );
});

describe("RPC: every attack is unauthenticated", () => {
  it.each(ATTACKS)("$name", async ({ credentials, error, description }) => {
    const failure = await rpcFailure(rpcClient(await credentials()).getBenchmarkData(READ_CALL));
    expect(failure.code).toBe(Code.Unauthenticated);
    expect(failure.rawMessage).toBe(description);
    expect(failure.metadata.get("WWW-Authenticate")).toBe(challenge(error, description));
  });
});

describe("the tokens the attacks imitate", () => {
  it("a valid viewer token reads benchmarks over REST and RPC", async () => {
    const credentials = { authorization: bearer(await sign(claims({ roles: ["viewer"] }))) };
    expect((await rest(READ_ROUTE, credentials)).status).toBe(200);
    const response = await rpcClient(credentials).getBenchmarkData(READ_CALL);
    expect(response.pooled?.n).toBe(400);
  });

  it("the scheme is case-insensitive, as RFC 6750 allows", async () => {
    const token = await sign(claims({ roles: ["viewer"] }));
    expect((await rest(READ_ROUTE, { authorization: `bearer ${token}` })).status).toBe(200);
  });

  it.each([
    [
      "expired 30 s ago",
      () => claims({ roles: ["viewer"], iat: nowSeconds() - 3600, exp: nowSeconds() - 30 }),
    ],
    ["valid 30 s from now", () => claims({ roles: ["viewer"], nbf: nowSeconds() + 30 })],
  ])("a token %s still passes, within the 60 s clock skew", async (_name, payload) => {
    const credentials = { authorization: bearer(await sign(payload())) };
    expect((await rest(READ_ROUTE, credentials)).status).toBe(200);
    await expect(rpcClient(credentials).getBenchmarkData(READ_CALL)).resolves.toMatchObject({
      period: "2024",
    });
  });
});
