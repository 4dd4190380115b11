import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { rejectedRows, summaries } from "../../src/db/schema";
import { MIXED, TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { call, clearMemoryCache, db, postJson, seed, seedRejections } from "../helpers/seed";

beforeAll(async () => {
  await seed({ sources: TEST_SOURCES, summaries: TEST_SUMMARIES });
  await seedRejections("gamma", [{ line: 3, reason: "value is not a number" }]);
});
beforeEach(() => clearMemoryCache());

const PANEL_MAPPING = {
  columns: {
    metric: "Metric",
    period: "Fiscal year",
    companyKey: "Company ID",
    value: "Value",
    arr: "ARR (USD)",
    industry: "Sector",
  },
  metricNames: { "Net Dollar Retention": "ndr", "ARR Growth": "arr_growth" },
};
const SURVEY_COLUMNS = { metric: "kpi", period: "year", n: "n", p25: "q1", p50: "median", p75: "q3" };

const NEW_PANEL = {
  id: "example-panel",
  name: "Example Panel",
  kind: "panel",
  url: "https://example.com/panel.csv",
  mapping: PANEL_MAPPING,
  refreshIntervalMinutes: 1440,
};

function patchJson(path: string, body: unknown): Promise<Response> {
  return call(path, {
    method: "PATCH",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** A 400 problem naming exactly these fields and messages. */
async function expectInvalid(response: Response, errors: { field: string; message: string }[]) {
  expect(response.status).toBe(400);
  expect(response.headers.get("Content-Type")).toBe("application/problem+json");
  expect(await response.json()).toMatchObject({ type: "/problems/validation-failed", status: 400, errors });
}

/** The refresh state of a source that has not been fetched yet. */
const NEVER_REFRESHED = {
  nextRefreshAt: null,
  circuitState: "closed",
  consecutiveFailures: 0,
  circuitOpenedAt: null,
  lastError: null,
  lastErrorAt: null,
  nextTrialAt: null,
  lastRunId: null,
  hasCredential: false,
};

describe("POST /api/v1/sources", () => {
  it("creates a source with defaults filled in, and lists it", async () => {
    const response = await postJson("/api/v1/sources", NEW_PANEL);
    expect(response.status).toBe(201);
    expect(response.headers.get("Location")).toBe("/api/v1/sources/example-panel");
    const created = {
      id: "example-panel",
      name: "Example Panel",
      kind: "panel",
      format: "csv",
      url: "https://example.com/panel.csv",
      mapping: PANEL_MAPPING,
      refreshIntervalMinutes: 1440,
      active: true,
      lastUpdated: null,
      ...NEVER_REFRESHED,
      ageSeconds: null,
      rejectedRows: 0,
    };
    expect(await response.json()).toEqual(created);
    expect(await (await call("/api/v1/sources/example-panel")).json()).toEqual(created);
    // The cached catalogue moved with the data version, so the list shows it at once.
    const { sources } = (await (await call("/api/v1/sources")).json()) as { sources: { id: string }[] };
    expect(sources.map((s) => s.id)).toEqual(["alpha", "beta", "example-panel", "gamma", "retired"]);
  });

  it("creates a survey mapped by arr, manual-only, in JSON", async () => {
    const response = await postJson("/api/v1/sources", {
      id: "json-survey",
      name: "JSON Survey",
      kind: "survey",
      format: "json",
      mapping: { columns: { ...SURVEY_COLUMNS, arr: "arr_usd" } },
      active: false,
    });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({
      id: "json-survey",
      name: "JSON Survey",
      kind: "survey",
      format: "json",
      url: null,
      mapping: { columns: { ...SURVEY_COLUMNS, arr: "arr_usd" } },
      refreshIntervalMinutes: null,
      active: false,
      lastUpdated: null,
      ...NEVER_REFRESHED,
      ageSeconds: null,
      rejectedRows: 0,
    });
  });

  it("answers 409 when the id is taken", async () => {
    const response = await postJson("/api/v1/sources", { ...NEW_PANEL, id: "gamma" });
    expect(response.status).toBe(409);
    expect(response.headers.get("Content-Type")).toBe("application/problem+json");
    expect(await response.json()).toEqual({
      type: "/problems/source-exists",
      title: "Conflict",
      status: 409,
      detail: 'A source with id "gamma" already exists.',
      instance: "/api/v1/sources",
      errors: [{ field: "id", message: "already taken" }],
    });
  });

  it.each(["A", "x", "has space", "Upper", "under_score", "a".repeat(64), "--", "-leading", "\u202eab"])(
    "refuses the id %j",
    async (id) => {
      await expectInvalid(await postJson("/api/v1/sources", { ...NEW_PANEL, id }), [
        {
          field: "id",
          message: "id must be 2–63 characters of a–z, 0–9 and -, starting with a letter or a digit",
        },
      ]);
    },
  );

  it.each(["ftp://example.com/data.csv", "file:///etc/passwd", "javascript:alert(1)", "not a url"])(
    "refuses the url %j",
    async (url) => {
      await expectInvalid(await postJson("/api/v1/sources", { ...NEW_PANEL, id: "bad-url", url }), [
        { field: "url", message: "url must be an http or https URL" },
      ]);
    },
  );

  it("refuses a refresh interval under 5 minutes or not whole", async () => {
    await expectInvalid(
      await postJson("/api/v1/sources", { ...NEW_PANEL, id: "fast", refreshIntervalMinutes: 4 }),
      [{ field: "refreshIntervalMinutes", message: "refreshIntervalMinutes must be at least 5" }],
    );
    await expectInvalid(
      await postJson("/api/v1/sources", { ...NEW_PANEL, id: "fast", refreshIntervalMinutes: 7.5 }),
      [
        {
          field: "refreshIntervalMinutes",
          message: "refreshIntervalMinutes must be a whole number of minutes",
        },
      ],
    );
  });

  it("names every column a panel is missing", async () => {
    const response = await postJson("/api/v1/sources", {
      ...NEW_PANEL,
      id: "thin-panel",
      mapping: { columns: { metric: "Metric", period: "Year" } },
    });
    await expectInvalid(response, [
      { field: "mapping.columns.companyKey", message: "a panel must map companyKey" },
      { field: "mapping.columns.value", message: "a panel must map value" },
      { field: "mapping.columns.arr", message: "a panel must map arr" },
    ]);
  });

  it("names every column a survey is missing, and wants one of band and arr", async () => {
    const response = await postJson("/api/v1/sources", {
      id: "thin-survey",
      name: "Thin",
      kind: "survey",
      mapping: { columns: { metric: "kpi", period: "year", p50: "median" } },
    });
    await expectInvalid(response, [
      { field: "mapping.columns.n", message: "a survey must map n" },
      { field: "mapping.columns.p25", message: "a survey must map p25" },
      { field: "mapping.columns.p75", message: "a survey must map p75" },
      { field: "mapping.columns.band", message: "a survey maps exactly one of band and arr" },
    ]);
  });

  it("refuses a survey mapping both band and arr", async () => {
    const response = await postJson("/api/v1/sources", {
      id: "both-survey",
      name: "Both",
      kind: "survey",
      mapping: { columns: { ...SURVEY_COLUMNS, band: "band", arr: "arr" } },
    });
    await expectInvalid(response, [
      { field: "mapping.columns.band", message: "a survey maps exactly one of band and arr" },
    ]);
  });

  it("names a metricNames target that is not in the catalogue", async () => {
    const response = await postJson("/api/v1/sources", {
      ...NEW_PANEL,
      id: "odd-names",
      mapping: {
        ...PANEL_MAPPING,
        metricNames: { "Net Dollar Retention": "net_retention", "ARR Growth": "arr_growth" },
      },
    });
    await expectInvalid(response, [
      {
        field: "mapping.metricNames.Net Dollar Retention",
        message: 'unknown metric "net_retention"; GET /api/v1/metrics lists the metrics',
      },
    ]);
  });

  it("refuses fields the mapping does not know, and a missing mapping", async () => {
    await expectInvalid(
      await postJson("/api/v1/sources", {
        ...NEW_PANEL,
        id: "odd-fields",
        mapping: { columns: { ...PANEL_MAPPING.columns, revenue: "Revenue" } },
      }),
      [
        {
          field: "mapping.columns",
          message:
            "columns maps our fields (metric, band, arr, period, n, p10, p25, p50, p75, p90, value, companyKey, industry) to your headers",
        },
      ],
    );
    const { mapping: _, ...withoutMapping } = NEW_PANEL;
    await expectInvalid(await postJson("/api/v1/sources", { ...withoutMapping, id: "no-mapping" }), [
      { field: "mapping", message: "Invalid input: expected object, received undefined" },
    ]);
  });
});

describe("GET /api/v1/sources/:id", () => {
  it("shows one source with its freshness and rejected rows", async () => {
    const body = (await (await call("/api/v1/sources/gamma")).json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      id: "gamma",
      name: "Gamma Panel",
      kind: "panel",
      format: "csv",
      url: null,
      mapping: {},
      refreshIntervalMinutes: null,
      active: true,
      lastUpdated: "2026-03-01T00:00:00.000Z",
      rejectedRows: 1,
    });
    expect(body.ageSeconds).toBeGreaterThan(0);
  });

  it("answers 404 for an unknown id", async () => {
    const response = await call("/api/v1/sources/nobody");
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      type: "/problems/no-such-source",
      title: "Not found",
      status: 404,
      detail: 'No source with id "nobody".',
      instance: "/api/v1/sources/nobody",
    });
  });
});

describe("PATCH /api/v1/sources/:id", () => {
  it("changes only the fields given, and clears with null", async () => {
    const response = await patchJson("/api/v1/sources/example-panel", {
      name: "Example Panel (EU)",
      url: null,
      refreshIntervalMinutes: 60,
      kind: "panel",
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      id: "example-panel",
      name: "Example Panel (EU)",
      kind: "panel",
      format: "csv",
      url: null,
      mapping: PANEL_MAPPING,
      refreshIntervalMinutes: 60,
      active: true,
      lastUpdated: null,
      ...NEVER_REFRESHED,
      ageSeconds: null,
      rejectedRows: 0,
    });
  });

  it("validates a new mapping against the source's kind", async () => {
    await expectInvalid(
      await patchJson("/api/v1/sources/example-panel", { mapping: { columns: SURVEY_COLUMNS } }),
      [
        { field: "mapping.columns.companyKey", message: "a panel must map companyKey" },
        { field: "mapping.columns.value", message: "a panel must map value" },
        { field: "mapping.columns.arr", message: "a panel must map arr" },
      ],
    );
  });

  it("refuses to change the kind", async () => {
    await expectInvalid(await patchJson("/api/v1/sources/example-panel", { kind: "survey" }), [
      { field: "kind", message: "kind cannot change; the source is a panel" },
    ]);
  });

  it("refuses unknown fields and the id", async () => {
    await expectInvalid(await patchJson("/api/v1/sources/example-panel", { id: "renamed" }), [
      { field: "body", message: 'Unrecognized key: "id"' },
    ]);
  });

  it("answers 404 for an unknown id", async () => {
    const response = await patchJson("/api/v1/sources/nobody", { active: false });
    expect(response.status).toBe(404);
  });
});

// A cached benchmark must change as soon as a source stops counting: pausing it, or deleting it.
describe("changes that alter benchmarks", () => {
  const url = "/api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M&period=2024";
  // MIXED pools beta (quartiles only) with alpha (all five quantiles).
  const [betaOnly, alphaOnly] = MIXED.sources as { n: number }[] as [{ n: number }, { n: number }];

  async function pooledSources() {
    const response = await call(url);
    const body = (await response.json()) as { pooled: { n: number }; sources: { id: string }[] };
    return { cache: response.headers.get("X-Cache"), n: body.pooled.n, ids: body.sources.map((s) => s.id) };
  }

  it("pausing a source refreshes cached benchmarks, and resuming brings it back", async () => {
    expect(await pooledSources()).toMatchObject({ n: alphaOnly.n + betaOnly.n, ids: ["alpha", "beta"] });
    expect((await pooledSources()).cache).toBe("memory");

    const paused = await patchJson("/api/v1/sources/beta", { active: false });
    expect(((await paused.json()) as { active: boolean }).active).toBe(false);
    expect(await pooledSources()).toEqual({ cache: "miss", n: alphaOnly.n, ids: ["alpha"] });

    await patchJson("/api/v1/sources/beta", { active: true });
    expect(await pooledSources()).toEqual({
      cache: "miss",
      n: alphaOnly.n + betaOnly.n,
      ids: ["alpha", "beta"],
    });
  });

  it("DELETE removes the source with its summaries, and benchmarks change", async () => {
    expect((await pooledSources()).ids).toEqual(["alpha", "beta"]);
    const response = await call("/api/v1/sources/beta", { method: "DELETE" });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");

    expect(await pooledSources()).toEqual({ cache: "miss", n: alphaOnly.n, ids: ["alpha"] });
    const remaining = await db.select({ sourceId: summaries.sourceId }).from(summaries);
    expect(remaining.some((s) => s.sourceId === "beta")).toBe(false);
    expect(remaining.length).toBe(TEST_SUMMARIES.filter((s) => s.sourceId !== "beta").length);
    expect((await call("/api/v1/sources/beta")).status).toBe(404);
    expect((await call("/api/v1/sources/beta", { method: "DELETE" })).status).toBe(404);
  });

  it("DELETE takes a source's rejected rows with it", async () => {
    expect((await call("/api/v1/sources/gamma", { method: "DELETE" })).status).toBe(204);
    expect(await db.select().from(rejectedRows)).toEqual([]);
  });
});
