import { env } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { loadCredentialKeys, sealCredential } from "../../src/ingest/credentials";
import { QUEUES } from "../../src/ingest/messages";
import { Harness } from "../helpers/jobs";

const harness = new Harness();
const SECRET = "paid-source-token-7f3a9c";
const url = "https://feeds.example.test/paid.csv";
const CSV = [
  "company,metric,period,arr,value",
  ...Array.from({ length: 6 }, (_, i) => `paid_${i}x,ndr,2024,2000000,${100 + i}`),
].join("\n");

let sentAuthorization: (string | null)[] = [];
beforeAll(() => {
  vi.spyOn(globalThis, "fetch").mockImplementation(async (_input, init) => {
    sentAuthorization.push(new Headers(init?.headers).get("Authorization"));
    return new Response(CSV, { headers: { "Content-Type": "text/csv" } });
  });
});
afterEach(() => {
  sentAuthorization = [];
});

const post = (body: unknown) =>
  harness.fetch("/api/v1/sources", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });

const sealedOf = async (id: string) =>
  (await env.DB.prepare("SELECT sealed_credential FROM sources WHERE id = ?").bind(id).first<{
    sealed_credential: string | null;
  }>())!.sealed_credential;

async function refresh(id: string) {
  const response = await harness.fetch(`/api/v1/sources/${id}/refresh`, { method: "POST" });
  expect(response.status).toBe(202);
  const [message] = harness.ingest.take();
  await harness.deliver(QUEUES.ingest, [message]);
  return (await (await harness.fetch(`/api/v1/ingestion/runs/${message!.runId}`)).json()) as {
    status: string;
    error: string | null;
  };
}

const SOURCE = {
  name: "Paid Panel",
  kind: "panel",
  url,
  mapping: {
    columns: { companyKey: "company", metric: "metric", period: "period", arr: "arr", value: "value" },
  },
};

describe("source credentials", () => {
  it("are sealed with AES-GCM under the current key and never answered", async () => {
    const response = await post({ ...SOURCE, id: "paid", credential: SECRET });
    expect(response.status).toBe(201);
    const text = await response.text();
    expect(text).not.toContain(SECRET);
    expect(JSON.parse(text)).toMatchObject({ id: "paid", hasCredential: true });
    expect(JSON.parse(text)).not.toHaveProperty("sealedCredential");
    const sealed = await sealedOf("paid");
    expect(sealed).toMatch(/^v1\.test-2\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain(SECRET);
    for (const path of ["/api/v1/sources", "/api/v1/sources/paid"]) {
      const body = await (await harness.fetch(path)).text();
      expect(body).not.toContain(SECRET);
      expect(body).not.toContain(sealed!);
    }
  });

  it("are sent as a bearer token to the source's url, and only there", async () => {
    expect(await refresh("paid")).toMatchObject({ status: "recomputing", error: null });
    expect(sentAuthorization).toEqual([`Bearer ${SECRET}`]);
  });

  it("still open when sealed with an older key that is still listed, and are resealed on change", async () => {
    const keys = await loadCredentialKeys({
      CREDENTIAL_KEYS: env.CREDENTIAL_KEYS,
      CREDENTIAL_KEY_ID: "test-1",
    });
    await env.DB.prepare("UPDATE sources SET sealed_credential = ? WHERE id = 'paid'")
      .bind(await sealCredential(keys, "paid", "older-token"))
      .run();
    // The same rows again: nothing changed, nothing to recompute.
    expect(await refresh("paid")).toMatchObject({ status: "succeeded", changedCells: 0 });
    expect(sentAuthorization).toEqual(["Bearer older-token"]);
    const patched = await harness.fetch("/api/v1/sources/paid", {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ credential: "newer-token" }),
    });
    expect(patched.status).toBe(200);
    expect(await sealedOf("paid")).toMatch(/^v1\.test-2\./);
  });

  it("fail the run, without saying what they are, when altered or moved to another source", async () => {
    const sealed = (await sealedOf("paid"))!;
    await post({ ...SOURCE, id: "paid-copy" });
    await env.DB.prepare("UPDATE sources SET sealed_credential = ? WHERE id = 'paid-copy'")
      .bind(sealed)
      .run();
    const moved = await refresh("paid-copy");
    expect(moved).toEqual({
      ...moved,
      status: "failed",
      error:
        "credential: the source's credential does not decrypt: it was altered or sealed for another source",
    });
    expect(sentAuthorization).toEqual([]);
  });

  it("can be cleared, and are refused with 503 where no keys are configured", async () => {
    const cleared = await harness.fetch("/api/v1/sources/paid", {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ credential: null }),
    });
    expect(await cleared.json()).toMatchObject({ hasCredential: false });
    expect(await sealedOf("paid")).toBeNull();
    const keyless = new Harness();
    Object.assign(keyless.env, { CREDENTIAL_KEYS: undefined, CREDENTIAL_KEY_ID: undefined });
    const refused = await keyless.fetch("/api/v1/sources", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...SOURCE, id: "paid-keyless", credential: SECRET }),
    });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ type: "/problems/credential-keys-missing" });
    expect(await env.DB.prepare("SELECT 1 FROM sources WHERE id = 'paid-keyless'").first()).toBeNull();
  });
});
