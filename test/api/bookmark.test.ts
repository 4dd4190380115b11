import { env } from "cloudflare:test";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { DATA_VERSION_KV_KEY } from "../../src/cache/versioned-cache";
import { createDatabase } from "../../src/db/client";
import { incrementDataVersion } from "../../src/db/data-version";
import { summaries } from "../../src/db/schema";
import { Harness } from "../helpers/jobs";
import { TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { clearMemoryCache, seed } from "../helpers/seed";

const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/;
// One source alone: the pooled median is its own, 18 as seeded.
const CELL = "/api/v1/benchmarks?metric=cac_payback&revenueRange=1M-5M&period=2024&sources=alpha";

// Every isolate trusts the data version it last read for ten minutes: long enough that only a
// bookmark can make this one read past it.
const harness = new Harness({ DATA_VERSION_TTL_MS: "600000" });

const median = async (response: Response) => {
  expect(response.status).toBe(200);
  return ((await response.json()) as { pooled: { p50: number } }).pooled.p50;
};

/** A write as another isolate makes it: through its own session, bumping D1's data version and KV's copy. */
async function writeElsewhere(p50: number): Promise<string> {
  const session = env.DB.withSession("first-primary");
  const db = createDatabase(session);
  await db
    .update(summaries)
    .set({ p50 })
    .where(
      and(
        eq(summaries.sourceId, "alpha"),
        eq(summaries.metricKey, "cac_payback"),
        eq(summaries.period, "2024"),
      ),
    );
  await env.CACHE.put(DATA_VERSION_KV_KEY, await incrementDataVersion(db));
  return session.getBookmark()!;
}

beforeAll(async () => {
  await seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES });
  clearMemoryCache();
});

describe("D1 bookmarks (X-D1-Bookmark)", () => {
  it("a request that sends a write's bookmark back reads past the isolate's cached data version", async () => {
    const first = await harness.fetch(CELL);
    // The cell came from D1, so the answer says how fresh that read was.
    expect(first.headers.get("X-D1-Bookmark")).toMatch(BOOKMARK);
    expect(await median(first)).toBe(18);

    const bookmark = await writeElsewhere(19);
    // Without the bookmark this isolate still trusts the version it read, and answers from memory.
    const stale = await harness.fetch(CELL);
    expect(stale.headers.get("X-Cache")).toBe("memory");
    expect(stale.headers.get("X-D1-Bookmark")).toBeNull();
    expect(await median(stale)).toBe(18);

    const fresh = await harness.fetch(CELL, { headers: { "X-D1-Bookmark": bookmark } });
    expect(await median(fresh)).toBe(19);
    // The session went on from the bookmark: what it answers is at least as fresh.
    expect(fresh.headers.get("X-D1-Bookmark")! >= bookmark).toBe(true);
  });

  it("an admin's write answers with the bookmark of that write", async () => {
    const response = await harness.fetch("/api/v1/metrics/cac_payback/rules", {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ minValue: 0, maxValue: 120 }),
    });
    expect(response.status).toBe(200);
    const bookmark = response.headers.get("X-D1-Bookmark");
    expect(bookmark).toMatch(BOOKMARK);
    // Sent back, it reads what was written.
    const rules = await harness.fetch("/api/v1/metrics/cac_payback/rules", {
      headers: { "X-D1-Bookmark": bookmark! },
    });
    expect(await rules.json()).toMatchObject({ minValue: 0, maxValue: 120 });
  });

  it("an RPC call takes the bookmark too, and refuses a malformed one with invalid_argument", async () => {
    const rpc = (bookmark: string) =>
      harness.fetch("/benchmark.v1.BenchmarkService/ListMetrics", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-D1-Bookmark": bookmark },
        body: "{}",
      });
    const bookmark = await writeElsewhere(20);
    const answered = await rpc(bookmark);
    expect(answered.status).toBe(200);
    // The catalogue was read through the session started at the bookmark.
    expect(answered.headers.get("X-D1-Bookmark")! >= bookmark).toBe(true);
    const refused = await rpc("latest");
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      code: "invalid_argument",
      message:
        "x-d1-bookmark: must be a bookmark exactly as an earlier response's X-D1-Bookmark header gave it",
    });
  });

  it("refuses a bookmark D1 never gave, naming the header", async () => {
    const response = await harness.fetch(CELL, { headers: { "X-D1-Bookmark": "latest" } });
    expect(response.status).toBe(400);
    expect(response.headers.get("Content-Type")).toBe("application/problem+json");
    expect(await response.json()).toMatchObject({
      type: "/problems/validation-failed",
      errors: [
        {
          field: "x-d1-bookmark",
          message: "must be a bookmark exactly as an earlier response's X-D1-Bookmark header gave it",
        },
      ],
    });
  });
});
