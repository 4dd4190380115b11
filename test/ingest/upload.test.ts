import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { VersionedCache } from "../../src/cache/versioned-cache";
import type { Database } from "../../src/db/client";
import { loadCatalogue } from "../../src/db/queries";
import type { Source } from "../../src/domain/catalogue";
import { loadConfig } from "../../src/env";
import { parseUpload } from "../../src/ingest/upload";
import { getCatalogue } from "../../src/service/catalogue";
import type { ServiceContext } from "../../src/service/context";
import { findUploadTarget, uploadToSource } from "../../src/service/ingestion";
import { db, seed } from "../helpers/seed";

const SOURCE = {
  id: "drop-panel",
  name: "Drop Panel",
  kind: "panel" as const,
  mapping: {
    columns: { metric: "metric", period: "year", companyKey: "company", value: "value", arr: "arr" },
  },
};

function contextWith(database: Database): ServiceContext {
  return { db: database, cache: new VersionedCache(env.CACHE, db, 0, () => {}), config: loadConfig(env) };
}

/** The real database, except that every batch fails, as a D1 outage mid-run would. */
const failingBatches = new Proxy(db, {
  get(target, property, receiver) {
    if (property === "batch") return () => Promise.reject(new Error("D1 went away"));
    return Reflect.get(target, property, receiver);
  },
});

const csv = (values: number[]) =>
  ["company,metric,year,arr,value", ...values.map((v, i) => `co_${i}x,grr,2024,2000000,${v}`)].join("\n");

async function storedValues() {
  const { results } = await env.DB.prepare(
    "SELECT company_key, value FROM observations WHERE source_id = 'drop-panel' ORDER BY company_key",
  ).all();
  return results;
}

beforeAll(() => seed({ sources: [SOURCE] }));

describe("uploadToSource", () => {
  it("records a run that dies in the swap as failed, and leaves the previous data intact", async () => {
    const ctx = contextWith(db);
    const source = await findUploadTarget(ctx, "drop-panel");
    expect(await uploadToSource(ctx, source, csv([80, 81, 82]))).toMatchObject({
      status: "succeeded",
      accepted: 3,
    });
    const before = await storedValues();
    const summaryBefore = await env.DB.prepare(
      "SELECT * FROM summaries WHERE source_id = 'drop-panel'",
    ).all();

    // The catalogue is read in a batch too: cache it first, so the swap is what fails.
    await getCatalogue(ctx);
    const run = await uploadToSource(contextWith(failingBatches), source, csv([90, 91, 92, 93]));
    expect(run).toMatchObject({
      status: "failed",
      received: 4,
      accepted: 4,
      rejected: 0,
      error: "Error: D1 went away",
    });
    expect(run.finishedAt).not.toBeNull();
    expect(await storedValues()).toEqual(before);
    expect(
      (await env.DB.prepare("SELECT * FROM summaries WHERE source_id = 'drop-panel'").all()).results,
    ).toEqual(summaryBefore.results);
    // What the failed run staged is discarded.
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM staged_observations").first()).toEqual({ n: 0 });
  });

  it("fails a run whose every row is rejected, changing nothing", async () => {
    const ctx = contextWith(db);
    const before = await storedValues();
    const run = await uploadToSource(ctx, await findUploadTarget(ctx, "drop-panel"), csv([101, -1]));
    expect(run).toMatchObject({
      status: "failed",
      accepted: 0,
      rejected: 2,
      error: "every row was rejected",
      rejections: [
        { line: 2, reason: "value 101 is outside grr's valid range [0, 100]" },
        { line: 3, reason: "value -1 is outside grr's valid range [0, 100]" },
      ],
    });
    expect(await storedValues()).toEqual(before);
  });
});

describe("parseUpload", () => {
  const jsonSurvey: Source = {
    id: "j",
    name: "J",
    kind: "survey",
    format: "json",
    url: null,
    mapping: { columns: { metric: "m", band: "b", period: "y", n: "n", p25: "q1", p50: "q2", p75: "q3" } },
    refreshIntervalMinutes: null,
    active: true,
    lastUpdated: null,
  };

  it("reads JSON items by position and treats non-scalar cells as blank", async () => {
    const catalogue = await loadCatalogue(db);
    const text = JSON.stringify([
      { m: "grr", b: "1M-5M", y: "2024", n: 12, q1: 80, q2: 85, q3: 90 },
      { m: "grr", b: "1M-5M", y: "2025", n: { many: true }, q1: 80, q2: 85, q3: 90 },
      "not an object",
    ]);
    const parsed = parseUpload(text, jsonSurvey, catalogue, new Map());
    expect(parsed.received).toBe(3);
    expect(parsed.summaries).toEqual([
      {
        metric: "grr",
        band: "1M-5M",
        period: "2024",
        periodOrder: 20245,
        n: 12,
        p10: null,
        p25: 80,
        p50: 85,
        p75: 90,
        p90: null,
      },
    ]);
    expect(parsed.rejections).toEqual([
      { line: 2, reason: "n must be an integer ≥ 10" },
      { line: 3, reason: 'unknown metric ""' },
    ]);
  });
});
