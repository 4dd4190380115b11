import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type AuthConfig, loadAuthSetup } from "../../src/auth/config";
import { verifyBearer } from "../../src/auth/verify";
import type { Env } from "../../src/env";
import { claims, sign } from "../helpers/auth";

const configOf = (vars: Partial<Env> = {}): AuthConfig => {
  const setup = loadAuthSetup({ ...env, ...vars } as Env);
  if (!setup.ok) throw new Error(setup.problems.join("; "));
  return setup.config;
};

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("verified tokens", () => {
  it("check a token's signature once, then know it for the same token only", async () => {
    const config = configOf();
    const verify = vi.spyOn(crypto.subtle, "verify");
    const token = await sign(claims({ sub: "cached-user", roles: ["analyst"] }));
    // The log lines' hash of the subject, computed once with the verification: sha256("cached-user")[:16].
    const principal = {
      kind: "user",
      subject: "cached-user",
      role: "analyst",
      subjectHash: "94fa998dd253f86c",
    };
    expect(await verifyBearer(token, config)).toEqual(principal);
    expect(await verifyBearer(token, config)).toEqual(principal);
    expect(await verifyBearer(token, config)).toEqual(principal);
    expect(verify).toHaveBeenCalledTimes(1);

    // A different signature over the same claims is another token: checked, and refused.
    const forged = `${token.slice(0, token.lastIndexOf(".") + 1)}${"A".repeat(86)}`;
    await expect(verifyBearer(forged, config)).rejects.toMatchObject({ kind: "unauthenticated" });
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it("are known per configuration: a token for another audience is refused however often it passed", async () => {
    const token = await sign(claims({ sub: "audience-user" }));
    expect(await verifyBearer(token, configOf())).toMatchObject({ subject: "audience-user" });
    await expect(verifyBearer(token, configOf({ AUTH_AUDIENCE: "another-api" }))).rejects.toMatchObject({
      kind: "unauthenticated",
    });
  });

  it("still expire: past its exp and the skew, a known token is refused", async () => {
    const config = configOf();
    const now = Date.now();
    const token = await sign(claims({ sub: "expiring-user", exp: Math.floor(now / 1000) + 5 }));
    expect(await verifyBearer(token, config)).toMatchObject({ subject: "expiring-user" });
    vi.useFakeTimers({ now: now + 30_000, toFake: ["Date"] });
    // Within jose's 60 s skew, and within the minute an entry lasts.
    expect(await verifyBearer(token, config)).toMatchObject({ subject: "expiring-user" });
    vi.setSystemTime(now + 66_000);
    await expect(verifyBearer(token, config)).rejects.toMatchObject({
      kind: "unauthenticated",
      message: expect.stringContaining("expired"),
    });
  });
});
