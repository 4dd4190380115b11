import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/client";
import { loadCatalogue } from "../../src/db/queries";
import type { Source } from "../../src/domain/catalogue";
import { readRecords } from "../../src/ingest/records";
import { SourceRowReader } from "../../src/ingest/upload";
import { getCatalogue } from "../../src/service/catalogue";
import type { ServiceContext } from "../../src/service/context";
import { findUploadTarget, uploadToSource } from "../../src/service/ingestion";
import { failingBatches, Harness, stagedChunkCount } from "../helpers/jobs";
import { db, seed } from "../helpers/seed";

const SOURCE = {
  id: "drop-panel",
  name: "Drop Panel",
  kind: "panel" as const,
  mapping: {
    columns: { metric: "metric", period: "year", companyKey: "company", value: "value", arr: "arr" },
  },
};

const harness = new Harness();

function contextWith(database: Database): ServiceContext {
  return { ...harness.context(), db: database };
}

const streamOf = (text: string) => new Blob([text]).stream();

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
    expect(await uploadToSource(ctx, source, streamOf(csv([80, 81, 82])))).toMatchObject({
      status: "recomputing",
      accepted: 3,
    });
    const before = await storedValues();
    const summaryBefore = await env.DB.prepare(
      "SELECT * FROM summaries WHERE source_id = 'drop-panel'",
    ).all();

    // The catalogue is read in a batch too: cache it first, so the swap is what fails.
    await getCatalogue(ctx);
    const run = await uploadToSource(
      contextWith(failingBatches(db)),
      source,
      streamOf(csv([90, 91, 92, 93])),
    );
    expect(run).toMatchObject({
      status: "failed",
      received: 4,
      accepted: 4,
      rejected: 0,
      error: "unexpected: the load failed (the log names the kind of error)",
    });
    expect(run.finishedAt).not.toBeNull();
    expect(await storedValues()).toEqual(before);
    expect(
      (await env.DB.prepare("SELECT * FROM summaries WHERE source_id = 'drop-panel'").all()).results,
    ).toEqual(summaryBefore.results);
    // What the failed run staged is discarded.
    expect(await stagedChunkCount()).toBe(0);
  });

  it("fails a run whose every row is rejected, changing nothing", async () => {
    const ctx = contextWith(db);
    const before = await storedValues();
    const run = await uploadToSource(
      ctx,
      await findUploadTarget(ctx, "drop-panel"),
      streamOf(csv([101, -1])),
    );
    expect(run).toMatchObject({
      status: "failed",
      accepted: 0,
      rejected: 2,
      error: "every row was rejected",
      rejections: [
        { line: 2, reason: "value: outside grr's valid range [0, 100]" },
        { line: 3, reason: "value: outside grr's valid range [0, 100]" },
      ],
    });
    expect(await storedValues()).toEqual(before);
  });
});

describe("company key pseudonyms", () => {
  it("refuses to load a panel without the secret, storing nothing", async () => {
    const ctx = { ...contextWith(db), secrets: {} };
    const source = await findUploadTarget(ctx, "drop-panel");
    const before = await storedValues();
    const error = await uploadToSource(ctx, source, streamOf(csv([70, 71]))).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "unavailable", reason: "company-key-secret-missing" });
    expect(await storedValues()).toEqual(before);
    expect(await stagedChunkCount()).toBe(0);
  });
});

describe("SourceRowReader", () => {
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
    nextRefreshAt: null,
    circuitState: "closed",
    consecutiveFailures: 0,
    circuitOpenedAt: null,
    lastError: null,
    lastErrorAt: null,
    lastRunId: null,
  };

  it("reads streamed JSON items by position and treats non-scalar cells as blank", async () => {
    const reader = new SourceRowReader(jsonSurvey, await loadCatalogue(db), new Map(), "");
    const text = JSON.stringify([
      { m: "grr", b: "1M-5M", y: "2024", n: 12, q1: 80, q2: 85, q3: 90 },
      { m: "grr", b: "1M-5M", y: "2025", n: { many: true }, q1: 80, q2: 85, q3: 90 },
      "not an object",
    ]);
    const rows = [];
    for await (const records of readRecords(streamOf(text), "json", 1000)) {
      rows.push(...records.map((record) => reader.read(record)));
    }
    expect(rows).toEqual([
      {
        kind: "summary",
        row: {
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
      },
      { kind: "rejection", rejection: { line: 2, reason: "n: must be a whole number from 10 to 10000000" } },
      { kind: "rejection", rejection: { line: 3, reason: "the item is not an object" } },
    ]);
  });
});
