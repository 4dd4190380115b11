import { env } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { QUEUES } from "../../src/ingest/messages";
import { claims, nowSeconds, sign } from "../helpers/auth";
import { Harness } from "../helpers/jobs";
import { TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { seed } from "../helpers/seed";

/**
 * Runs the flows that handle secrets, credentials and company values, keeping every response
 * body and header and every console line, and then looks for any of them in what was kept.
 */
const harness = new Harness();
const responses: string[] = [];
const logs: string[] = [];
const CREDENTIAL = "leak-probe-credential-91c2";
/** A company's own value sent for ranking, distinctive enough to find anywhere. */
const OWN_VALUE = 73.91827;
/** A panel company's value, uploaded. */
const PANEL_VALUE = 81.23456;
const RAW_COMPANY = "leakprobe_company_42";

async function keep(response: Response): Promise<Response> {
  responses.push(JSON.stringify([...response.headers]), await response.clone().text());
  return response;
}
const call = async (path: string, init?: RequestInit) => keep(await harness.fetch(path, init));
const json = (method: string, body: unknown): RequestInit => ({
  method,
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body),
});

beforeAll(async () => {
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      logs.push(args.map((a) => (typeof a === "string" ? a : (JSON.stringify(a) ?? String(a)))).join(" "));
    });
  }
  vi.spyOn(globalThis, "fetch").mockImplementation(
    async () => new Response("upstream broke", { status: 500 }),
  );
  await seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES });
});
afterAll(() => vi.restoreAllMocks());

describe("nothing secret leaks into responses or logs", () => {
  it("exercises ranking, scorecards, uploads, credentials, refreshes and failed auth", async () => {
    await call(
      "/api/v1/benchmarks/ranking",
      json("POST", { metric: "arr_growth", value: OWN_VALUE, revenueRange: "1M-5M" }),
    );
    await call(
      "/api/v1/benchmarks/scorecard",
      json("POST", { revenueRange: "1M-5M", values: { arr_growth: OWN_VALUE, nope: OWN_VALUE } }),
    );
    await call(
      "/api/v1/sources",
      json("POST", {
        id: "leak-panel",
        name: "Leak Panel",
        kind: "panel",
        url: "https://feeds.example.test/leak.csv",
        credential: CREDENTIAL,
        mapping: { columns: { companyKey: "c", metric: "m", period: "p", arr: "a", value: "v" } },
      }),
    );
    await call("/api/v1/sources/leak-panel/uploads", {
      method: "POST",
      headers: { "Content-Type": "text/csv" },
      body: `c,m,p,a,v\n${RAW_COMPANY},ndr,2024,2000000,${PANEL_VALUE}\n${RAW_COMPANY},ndr,2024,2000000,1\nx,ndr,2024,1,1\n`,
    });
    const refresh = await call("/api/v1/sources/leak-panel/refresh", { method: "POST" });
    expect(refresh.status).toBe(202);
    await harness.deliver(QUEUES.ingest, harness.ingest.take());
    await call("/api/v1/ingestion/runs?sourceId=leak-panel");
    await call("/api/v1/sources/leak-panel/rejections");
    await call("/api/v1/sources");
    await call("/api/v1/benchmarks", { headers: { Authorization: "Bearer not.a.token" } });
    await call("/api/v1/benchmarks", {
      headers: { Authorization: `Bearer ${await sign(claims({ exp: nowSeconds() - 600 }))}` },
    });
    // Headers and body of each of the ten answers.
    expect(responses).toHaveLength(20);
  });

  it("a company's own value is in no log line (only in the answer to its owner)", () => {
    expect(logs.join("\n").includes(String(OWN_VALUE))).toBe(false);
  });

  it.each([
    ["the source credential", () => CREDENTIAL],
    ["a panel company's value", () => String(PANEL_VALUE)],
    ["a raw company key", () => RAW_COMPANY],
    ["the company-key secret", () => env.COMPANY_KEY_SECRET!],
    ["a credential key", () => Object.values(JSON.parse(env.CREDENTIAL_KEYS!) as Record<string, string>)[0]!],
    ["the token signing key", () => env.TEST_SIGNING_KEY.d!],
  ])("%s appears nowhere", (_, secret) => {
    const haystack = [...responses, ...logs].join("\n");
    expect(haystack.includes(secret())).toBe(false);
  });
});
