import { env } from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MAX_UPLOAD_BYTES } from "../../src/service/requests";
import { summarizePanel } from "../../src/stats";
import { pseudonymOf } from "../helpers/auth";
import { eventually } from "../helpers/jobs";
import { TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { call, clearMemoryCache, postJson, seed } from "../helpers/seed";

const PANEL = {
  id: "up-panel",
  name: "Upload Panel",
  kind: "panel",
  mapping: {
    columns: {
      metric: "Metric",
      period: "Year",
      companyKey: "Company",
      value: "Value",
      arr: "ARR",
      industry: "Sector",
    },
    metricNames: { "Net Dollar Retention": "ndr", "ARR Growth": "arr_growth" },
  },
};
const SURVEY = {
  id: "up-survey",
  name: "Upload Survey",
  kind: "survey",
  mapping: {
    columns: { metric: "KPI", band: "Band", period: "Year", n: "N", p25: "Q1", p50: "Median", p75: "Q3" },
    metricNames: { "Net Dollar Retention": "ndr" },
  },
};
const JSON_SURVEY = {
  id: "up-json",
  name: "Upload JSON Survey",
  kind: "survey",
  format: "json",
  mapping: {
    columns: {
      metric: "metric",
      arr: "arr_usd",
      period: "year",
      n: "n",
      p10: "p10",
      p25: "q1",
      p50: "median",
      p75: "q3",
      p90: "p90",
    },
  },
};

beforeAll(async () => {
  await seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES });
  for (const source of [PANEL, SURVEY, JSON_SURVEY]) {
    expect((await postJson("/api/v1/sources", source)).status).toBe(201);
  }
});
beforeEach(() => clearMemoryCache());

interface Run {
  id: string;
  sourceId: string;
  status: string;
  received: number;
  accepted: number;
  rejected: number;
  unchanged: number;
  changedCells: number;
  durationMs: number;
  recomputedCells: number;
  error: string | null;
  rejections: { line: number; reason: string }[];
}

function upload(sourceId: string, body: BodyInit, contentType = "text/csv"): Promise<Response> {
  return call(`/api/v1/sources/${sourceId}/uploads`, {
    method: "POST",
    headers: { "Content-Type": contentType },
    body,
  });
}

/** The run once the recompute queue has rebuilt every cell it changed. */
const recomputed = (runId: string) =>
  eventually(async () => {
    const run = (await (await call(`/api/v1/ingestion/runs/${runId}`)).json()) as Run;
    return run.status === "recomputing" ? undefined : run;
  });

async function uploadRun(sourceId: string, body: BodyInit, contentType?: string): Promise<Run> {
  const response = await upload(sourceId, body, contentType);
  expect(response.status).toBe(201);
  const run = (await response.json()) as Run;
  expect(response.headers.get("Location")).toBe(`/api/v1/ingestion/runs/${run.id}`);
  return run;
}

const PANEL_HEADER = "Company,Metric,Year,ARR,Value,Sector";
/** Twelve ndr values 100…111 in the 1M–5M band and one far outlier. */
const NDR_VALUES = [...Array.from({ length: 12 }, (_, i) => 100 + i), 290];
const GOOD_PANEL = [
  PANEL_HEADER,
  ...NDR_VALUES.map(
    (value, i) => `co_${String(i).padStart(2, "0")},Net Dollar Retention,2024,2000000,${value},fintech`,
  ),
].join("\n");

async function rows(query: string, ...params: unknown[]) {
  return (
    await env.DB.prepare(query)
      .bind(...params)
      .all()
  ).results;
}

describe("POST /api/v1/sources/:id/uploads", () => {
  it("loads a panel CSV, recomputes its cell and flags the outlier", async () => {
    const run = await uploadRun("up-panel", GOOD_PANEL);
    expect(run).toMatchObject({
      sourceId: "up-panel",
      trigger: "upload",
      // Loaded; its one changed cell waits for the recompute queue.
      status: "recomputing",
      recomputedCells: 0,
      received: 13,
      accepted: 13,
      rejected: 0,
      unchanged: 0,
      error: null,
      rejections: [],
    });
    expect(run.durationMs).toBeGreaterThanOrEqual(0);
    expect(run.changedCells).toBe(1);
    expect(await rows("SELECT COUNT(*) AS n FROM observations WHERE source_id = 'up-panel'")).toEqual([
      { n: 13 },
    ]);
    // The recompute queue's consumer rebuilds the cell in the background, a batch timeout later.
    expect(await recomputed(run.id)).toMatchObject({ status: "succeeded", recomputedCells: 1 });
    expect(
      await rows("SELECT company_key FROM observations WHERE source_id = 'up-panel' AND is_outlier = 1"),
    ).toEqual([{ company_key: pseudonymOf("up-panel", "co_12") }]);
    const expected = summarizePanel(NDR_VALUES.slice(0, 12), "modified_z")!;
    expect(
      await rows(
        "SELECT band_key, n, outliers_excluded, p25, p50, p75 FROM summaries WHERE source_id = 'up-panel'",
      ),
    ).toEqual([
      {
        band_key: "1M-5M",
        n: 12,
        outliers_excluded: 1,
        p25: expected.p25,
        p50: expected.p50,
        p75: expected.p75,
      },
    ]);
    // Staging is emptied by the swap.
    expect(await rows("SELECT COUNT(*) AS n FROM staged_chunks")).toEqual([{ n: 0 }]);
    const source = (await (await call("/api/v1/sources/up-panel")).json()) as { lastUpdated: string | null };
    expect(source.lastUpdated).not.toBeNull();
  });

  it("stores company keys only as keyed pseudonyms, the same one for the same company", async () => {
    const stored = await rows("SELECT company_key FROM observations WHERE source_id = 'up-panel' ORDER BY 1");
    const expected = NDR_VALUES.map((_, i) => pseudonymOf("up-panel", `co_${String(i).padStart(2, "0")}`));
    expect(stored.map((row) => row.company_key)).toEqual(expected.sort());
    expect(expected[0]).toMatch(/^[A-Za-z0-9_-]{22}$/);
    // No table holds a raw key.
    for (const table of ["observations", "staged_chunks", "rejected_rows", "ingestion_runs"]) {
      const dump = JSON.stringify(await rows(`SELECT * FROM ${table}`));
      expect(dump).not.toMatch(/co_\d\d/);
    }
  });

  it("loads the same file twice without doubling anything", async () => {
    const run = await uploadRun("up-panel", GOOD_PANEL);
    expect(run).toMatchObject({
      status: "succeeded",
      received: 13,
      accepted: 13,
      unchanged: 13,
      changedCells: 0,
    });
    expect(await rows("SELECT COUNT(*) AS n FROM observations WHERE source_id = 'up-panel'")).toEqual([
      { n: 13 },
    ]);
    expect(await rows("SELECT COUNT(*) AS n FROM summaries WHERE source_id = 'up-panel'")).toEqual([
      { n: 1 },
    ]);
  });

  it("loads a survey CSV through its metric names, refusing duplicates and small n", async () => {
    const csv = [
      "KPI,Band,Year,N,Q1,Median,Q3",
      "Net Dollar Retention,1M-5M,2024,40,95,105,115",
      "Net Dollar Retention,5M-20M,2024,30,98,108,118",
      "Net Dollar Retention,1M-5M,2024,41,1,2,3",
      "Net Dollar Retention,0-1M,2024,5,90,100,110",
    ].join("\n");
    const run = await uploadRun("up-survey", csv);
    expect(run).toMatchObject({
      status: "partially_succeeded",
      received: 4,
      accepted: 2,
      rejected: 2,
      unchanged: 0,
      rejections: [
        { line: 4, reason: "duplicate of line 2 (same metric, band and period)" },
        { line: 5, reason: "n: must be a whole number from 10 to 10000000" },
      ],
    });
    expect(
      await rows(
        "SELECT metric_key, band_key, period, n, p25, p50, p75 FROM summaries WHERE source_id = 'up-survey' ORDER BY band_key",
      ),
    ).toEqual([
      { metric_key: "ndr", band_key: "1M-5M", period: "2024", n: 40, p25: 95, p50: 105, p75: 115 },
      { metric_key: "ndr", band_key: "5M-20M", period: "2024", n: 30, p25: 98, p50: 108, p75: 118 },
    ]);
  });

  it("loads a JSON survey mapped by ARR", async () => {
    const body = JSON.stringify([
      {
        metric: "arr_growth",
        arr_usd: 3_000_000,
        year: "2024",
        n: 50,
        p10: 5,
        q1: 20,
        median: 40,
        q3: 60,
        p90: 90,
      },
      { metric: "grr", arr_usd: 700_000, year: 2024, n: 20, q1: 80, median: 85, q3: 90 },
    ]);
    const run = await uploadRun("up-json", body, "application/json");
    expect(run).toMatchObject({ status: "succeeded", received: 2, accepted: 2, rejected: 0 });
    expect(
      await rows(
        "SELECT metric_key, band_key, n, p10, p50, p90 FROM summaries WHERE source_id = 'up-json' ORDER BY metric_key",
      ),
    ).toEqual([
      { metric_key: "arr_growth", band_key: "1M-5M", n: 50, p10: 5, p50: 40, p90: 90 },
      { metric_key: "grr", band_key: "0-1M", n: 20, p10: null, p50: 85, p90: null },
    ]);
  });

  it("refuses a JSON body that is malformed or not an array", async () => {
    const malformed = await upload("up-json", "[", "application/json");
    expect(malformed.status).toBe(400);
    const { errors } = (await malformed.json()) as { errors: { field: string; message: string }[] };
    expect(errors).toEqual([{ field: "body", message: "not valid JSON: the file ends inside the array" }]);
    const notArray = await upload("up-json", '{"metric":"grr"}', "application/json");
    expect(notArray.status).toBe(400);
    expect(await notArray.json()).toMatchObject({
      type: "/problems/validation-failed",
      errors: [{ field: "body", message: "must be an array of objects" }],
    });
  });

  it("changes the pooled numbers and the cached benchmark", async () => {
    const path = "/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2024";
    const before = (await (await call(path)).json()) as { pooled: { n: number }; sources: { id: string }[] };
    await call(path); // now cached
    const csv = [
      PANEL_HEADER,
      ...Array.from({ length: 10 }, (_, i) => `grow_${i},ARR Growth,2024,3000000,${30 + i},devtools`),
    ].join("\n");
    expect(await uploadRun("up-panel", csv)).toMatchObject({ status: "recomputing", accepted: 10 });
    // Through the real recompute queue: the cached answer changes once the cell is rebuilt.
    const after = await eventually(async () => {
      clearMemoryCache();
      const body = (await (await call(path)).json()) as { pooled: { n: number }; sources: { id: string }[] };
      return body.pooled.n === before.pooled.n ? undefined : body;
    });
    expect(after.pooled.n).toBe(before.pooled.n + 10);
    expect(after.sources.map((s) => s.id)).toEqual([...before.sources.map((s) => s.id), "up-panel"].sort());
  });

  it("reports each rejected line of a mixed file, rules included", async () => {
    const rules = await call("/api/v1/metrics/ndr/rules", {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ minValue: 50, maxValue: 200 }),
    });
    expect(rules.status).toBe(200);
    const csv = [
      PANEL_HEADER,
      "mix_a,Net Dollar Retention,2025,2000000,110,fintech",
      "mix_b,Gross Margin,2025,2000000,70,fintech",
      "mix_c,Net Dollar Retention,2025,2000000,250,fintech",
      "mix_a,Net Dollar Retention,2025,2500000,111,fintech",
      "mix_d,Net Dollar Retention,FY25,2000000,100,fintech",
      "mix_e,Net Dollar Retention,2025,2000000,120,",
    ].join("\n");
    const run = await uploadRun("up-panel", csv);
    const rejections = [
      { line: 3, reason: "metric: a name that is not in the source's mapping (12 characters)" },
      { line: 4, reason: "value: outside ndr's valid range [50, 200]" },
      { line: 5, reason: "duplicate of line 2 (same company, metric and period)" },
      { line: 6, reason: "period: not a year or a quarter such as 2024-Q3" },
    ];
    expect(run).toMatchObject({
      status: "recomputing",
      received: 6,
      accepted: 2,
      rejected: 4,
      unchanged: 0,
      rejections,
    });
    expect(await recomputed(run.id)).toEqual({
      ...run,
      status: "partially_succeeded",
      recomputedCells: run.changedCells,
    });
    const listed = await (await call("/api/v1/sources/up-panel/rejections")).json();
    expect(listed).toMatchObject({ sourceId: "up-panel", total: 4, rejections });
    // Back to the defaults, so later tests see the catalogue's range.
    await call("/api/v1/metrics/ndr/rules", {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
  });

  it("answers 404 for an unknown source, 415 for another type, 413 past 50 MiB", async () => {
    expect((await upload("nope", GOOD_PANEL)).status).toBe(404);
    expect((await upload("up-panel", GOOD_PANEL, "text/plain")).status).toBe(415);
    expect((await upload("up-json", GOOD_PANEL)).status).toBe(415);
    const tooLarge = await upload("up-panel", new Uint8Array(MAX_UPLOAD_BYTES + 1));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.headers.get("Content-Type")).toBe("application/problem+json");
  });
});

describe("GET /api/v1/ingestion/runs", () => {
  it("lists runs newest first, optionally of one source", async () => {
    const { runs } = (await (await call("/api/v1/ingestion/runs")).json()) as { runs: Run[] };
    expect(runs.map((r) => [r.sourceId, r.status])).toEqual([
      ["up-panel", "partially_succeeded"],
      ["up-panel", "succeeded"],
      // The two refused JSON bodies: each answered 400 and is on record as a failed run.
      ["up-json", "failed"],
      ["up-json", "failed"],
      ["up-json", "succeeded"],
      ["up-survey", "partially_succeeded"],
      ["up-panel", "succeeded"],
      ["up-panel", "succeeded"],
    ]);
    expect(runs[2]!.error).toBe("body: must be an array of objects");
    const { runs: surveyRuns } = (await (await call("/api/v1/ingestion/runs?sourceId=up-survey")).json()) as {
      runs: Run[];
    };
    expect(surveyRuns).toEqual([runs[5]]);
  });

  it("answers 404 for an unknown run", async () => {
    const response = await call("/api/v1/ingestion/runs/nope");
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ type: "/problems/no-such-run" });
  });
});
