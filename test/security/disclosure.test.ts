import fc from "fast-check";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import type { Role } from "../../src/auth/roles";
import { bandForArr, PEER_GROUP_BOUNDS, type RevenueRange } from "../../src/domain/catalogue";
import { countPeerUnits } from "../../src/domain/peer-units";
import { BenchmarkService } from "../../src/gen/benchmark/v1/benchmark_pb";
import { releasedUnits } from "../../src/service/disclosure";
import { Harness } from "../helpers/jobs";
import { clearMemoryCache } from "../helpers/seed";
import {
  as,
  jsonBody,
  LARGE_PANEL,
  LARGE_PANEL_CSV,
  loadSmallPanelCell,
  registerSource,
  rpcAs,
  SMALL_PANEL,
  smallPanelCsv,
  upload,
} from "./helpers";

const BANDS: RevenueRange[] = [
  { key: "0-1M", minArr: 0, maxArr: 1_000_000 },
  { key: "1M-5M", minArr: 1_000_000, maxArr: 5_000_000 },
  { key: "5M-20M", minArr: 5_000_000, maxArr: 20_000_000 },
  { key: "20M-50M", minArr: 20_000_000, maxArr: 50_000_000 },
  { key: "50M+", minArr: 50_000_000, maxArr: null },
];

describe("peer-group units: no combination of what a non-admin sees isolates fewer than k companies", () => {
  /**
   * Every figure shown is a function of the values of one set of companies: a panel's band
   * summary, or a custom peer group. Companies that belong to exactly the same shown sets can
   * never be told apart by any sum or difference of those figures, so the smallest group anyone
   * could isolate is the smallest such class. It must hold at least k companies.
   */
  const company = fc.record({
    sourceId: fc.constantFrom("p1", "p2"),
    arr: fc.constantFrom(
      50_000,
      150_000,
      250_000,
      400_000,
      700_000,
      1_500_000,
      2_500_000,
      4_000_000,
      7_000_000,
      15_000_000,
      40_000_000,
      80_000_000,
    ),
    industry: fc.constantFrom("fintech", "devtools", "health", null),
  });
  const bounds = PEER_GROUP_BOUNDS.filter((bound) => bound <= 100_000_000);

  type Row = { sourceId: string; bandKey: string; arr: number; industry: string | null };
  type Released = { step: (row: Row) => boolean; industry: (row: Row) => boolean };
  /** The units recompute would count for these companies, none an outlier. */
  const unitsOf = (rows: Row[]) =>
    countPeerUnits(rows.map((row) => ({ ...row, value: 1, isOutlier: false })));

  /** The fewest companies that some figure shown, or some sum or difference of them, is about. */
  function smallestClass(rows: Row[], k: number, released: Released): number {
    const shownSets: number[][] = [];
    // A panel's band summary is shown when it holds k companies.
    for (const band of BANDS) {
      for (const source of ["p1", "p2"]) {
        const members = rows.flatMap((r, i) => (r.sourceId === source && r.bandKey === band.key ? [i] : []));
        if (members.length >= k) shownSets.push(members);
      }
    }
    for (let low = 0; low < bounds.length; low++) {
      for (let high = low + 1; high <= bounds.length; high++) {
        const arrMax = high === bounds.length ? null : bounds[high]!;
        for (const industry of [null, "fintech", "devtools", "health"]) {
          for (const sources of [["p1"], ["p2"], ["p1", "p2"]]) {
            const members = rows.flatMap((r, i) =>
              sources.includes(r.sourceId) &&
              r.arr >= bounds[low]! &&
              (arrMax === null || r.arr < arrMax) &&
              (industry === null ? released.step(r) : r.industry === industry && released.industry(r))
                ? [i]
                : [],
            );
            if (members.length > 0) shownSets.push(members);
          }
        }
      }
    }
    const classes = new Map<string, number>();
    rows.forEach((_, i) => {
      const signature = shownSets.map((set) => (set.includes(i) ? "1" : "0")).join("");
      if (signature.includes("1")) classes.set(signature, (classes.get(signature) ?? 0) + 1);
    });
    return Math.min(Number.POSITIVE_INFINITY, ...classes.values());
  }

  it("holds for random panels, every grid-aligned group, every industry and every choice of panels", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }),
        fc.array(company, { minLength: 1, maxLength: 70 }),
        (k, companies) => {
          const rows: Row[] = companies.map((c) => ({ ...c, bandKey: bandForArr(BANDS, c.arr)!.key }));
          const released = releasedUnits(
            { exempt: false, minCompanies: k, audience: `k${k}` },
            unitsOf(rows),
          );
          return smallestClass(rows, k, released) >= k;
        },
      ),
      { seed: 20261203, numRuns: 150 },
    );
  });

  it("admins are exempt: every company is shown", () => {
    const rows = [{ sourceId: "p1", bandKey: "0-1M", arr: 5, industry: "x" }];
    const released = releasedUnits({ exempt: true, minCompanies: 5, audience: "admin" }, unitsOf(rows));
    expect([released.step(rows[0]!), released.industry(rows[0]!)]).toEqual([true, true]);
  });

  it("withholds the smallest shown step when the steps withheld would leave fewer than k, and the check sees why", () => {
    // Band 1M-5M: [1M, 2M) holds 5, [2M, 3M) holds 6, [3M, 5M) holds 2.
    const at = (arr: number, n: number): Row[] =>
      Array.from({ length: n }, () => ({ sourceId: "p1", bandKey: "1M-5M", arr, industry: null }));
    const rows = [...at(1_500_000, 5), ...at(2_500_000, 6), ...at(4_000_000, 2)];
    // Showing both big steps, the band's summary minus them would be the two of [3M, 5M).
    const everyStepOfFive: Released = { step: (row) => row.arr < 3_000_000, industry: () => false };
    expect(smallestClass(rows, 5, everyStepOfFive)).toBe(2);
    const released = releasedUnits({ exempt: false, minCompanies: 5, audience: "k5" }, unitsOf(rows));
    expect([rows[0], rows[5], rows[11]].map((row) => released.step(row!))).toEqual([false, true, false]);
    expect(smallestClass(rows, 5, released)).toBe(6);
  });
});

/*
 * The walk: every REST route and RPC method, as a viewer and an analyst, with the hostile probe's
 * 3-company panel in the cell. Nothing a non-admin receives may depend on those companies'
 * values: the walk runs twice, the panel's values changed in between, and every answer must be
 * byte for byte the same. An admin's answers do change, which shows the walk reaches the panel.
 */

const harness = new Harness();
const SURVEY_QUERY = "metric=ltv_cac&period=1995";

interface WalkStep {
  /** The route as the app registers it, or the RPC method. */
  route: string;
  /** An admin route that writes: walked as the callers it refuses, never as an admin. */
  writes?: boolean;
  call: (role: Role) => Promise<{ status: number; body: string }>;
}

const restStep = (method: string, route: string, path: string, init: RequestInit = {}): WalkStep => ({
  route: `${method} ${route}`,
  writes: method !== "GET" && !route.startsWith("/api/v1/benchmarks"),
  call: async (role) => {
    const response = await as(role, harness, path, { ...init, method });
    return { status: response.status, body: await response.text() };
  },
});

const rpcStep = (
  method: string,
  call: (client: Awaited<ReturnType<typeof rpcAs>>) => Promise<unknown>,
): WalkStep => ({
  route: method,
  call: async (role) => {
    try {
      return { status: 200, body: JSON.stringify(await call(await rpcAs(role, harness))) };
    } catch (error) {
      return { status: 0, body: String(error) };
    }
  },
});

const band = { case: "revenueRange" as const, value: "0-1M" };
const peers = (arrMin: number, arrMax: number | undefined, industry?: string) => ({
  case: "peers" as const,
  value: { arrMin, arrMax, industry },
});
const csv = { headers: { "Content-Type": "text/csv" }, body: "company_key,metric,period,arr,value\n" };

const WALK: WalkStep[] = [
  restStep("GET", "/health", "/health"),
  restStep("GET", "/ready", "/ready"),
  restStep("GET", "/metrics", "/metrics"),
  restStep("GET", "/api/v1/metrics", "/api/v1/metrics"),
  restStep("GET", "/api/v1/revenue-ranges", "/api/v1/revenue-ranges"),
  ...[
    "revenueRange=0-1M",
    "revenueRange=0-1M&includeStatistics=true",
    "arr=600000&includeStatistics=true",
    `revenueRange=0-1M&sources=${SMALL_PANEL}`,
    `revenueRange=0-1M&sources=${SMALL_PANEL},${LARGE_PANEL}`,
    "arrMin=0&arrMax=1000000&includeStatistics=true",
    "arrMin=0&arrMax=1000000&industry=x&includeStatistics=true",
    "arrMin=500000&arrMax=1000000&includeStatistics=true",
    "arrMin=500000&includeStatistics=true",
    "arrMin=0&arrMax=500000",
    `arrMin=0&arrMax=1000000&sources=${SMALL_PANEL}`,
  ].map((query) => restStep("GET", "/api/v1/benchmarks", `/api/v1/benchmarks?${SURVEY_QUERY}&${query}`)),
  restStep(
    "GET",
    "/api/v1/benchmarks/timeseries",
    "/api/v1/benchmarks/timeseries?metric=ltv_cac&revenueRange=0-1M&from=1990&to=2000",
  ),
  ...[
    { revenueRange: "0-1M" },
    { arr: 600_000 },
    { peers: { arrMin: 0, arrMax: 1_000_000 } },
    { peers: { arrMin: 0, arrMax: 1_000_000, industry: "x" } },
    { peers: { arrMin: 500_000 }, sources: [SMALL_PANEL, LARGE_PANEL] },
  ].flatMap((where) =>
    [2.6, 3.5, 4].map((value) =>
      restStep(
        "POST",
        "/api/v1/benchmarks/ranking",
        "/api/v1/benchmarks/ranking",
        jsonBody({ metric: "ltv_cac", value, period: "1995", ...where }),
      ),
    ),
  ),
  ...[{}, { industry: "x" }].map((extra) =>
    restStep(
      "POST",
      "/api/v1/benchmarks/scorecard",
      "/api/v1/benchmarks/scorecard",
      jsonBody({ arr: 600_000, period: "1995", values: { ltv_cac: 3.5 }, ...extra }),
    ),
  ),
  // The admin routes: refused to these callers, whatever they hold.
  restStep("GET", "/api/v1/sources", "/api/v1/sources"),
  restStep(
    "POST",
    "/api/v1/sources",
    "/api/v1/sources",
    jsonBody({ id: "never", name: "n", kind: "survey", mapping: { columns: {} } }),
  ),
  restStep("GET", "/api/v1/sources/:id", `/api/v1/sources/${SMALL_PANEL}`),
  restStep("PATCH", "/api/v1/sources/:id", `/api/v1/sources/${SMALL_PANEL}`, jsonBody({ active: false })),
  restStep("DELETE", "/api/v1/sources/:id", `/api/v1/sources/${SMALL_PANEL}`),
  restStep("GET", "/api/v1/sources/:id/rejections", `/api/v1/sources/${SMALL_PANEL}/rejections`),
  restStep("POST", "/api/v1/sources/:id/uploads", `/api/v1/sources/${SMALL_PANEL}/uploads`, csv),
  restStep("POST", "/api/v1/sources/:id/refresh", `/api/v1/sources/${SMALL_PANEL}/refresh`),
  restStep("GET", "/api/v1/metrics/:key/rules", "/api/v1/metrics/ltv_cac/rules"),
  restStep("PUT", "/api/v1/metrics/:key/rules", "/api/v1/metrics/ltv_cac/rules", jsonBody({})),
  restStep("GET", "/api/v1/ingestion/runs", `/api/v1/ingestion/runs?sourceId=${SMALL_PANEL}`),
  restStep("GET", "/api/v1/ingestion/runs/:id", "/api/v1/ingestion/runs/none"),
  restStep("GET", "/api/v1/ingestion/dead-letters", "/api/v1/ingestion/dead-letters"),
  ...[
    band,
    { case: "arr" as const, value: 600_000 },
    peers(0, 1_000_000),
    peers(0, 1_000_000, "x"),
    peers(500_000, undefined),
  ].map((peersSelector) =>
    rpcStep("GetBenchmarkData", (client) =>
      client.getBenchmarkData({ metric: "ltv_cac", period: "1995", peersSelector, includeStatistics: true }),
    ),
  ),
  rpcStep("GetTimeSeriesData", (client) =>
    client.getTimeSeriesData({ metric: "ltv_cac", bandSelector: band, from: "1990", to: "2000" }),
  ),
  ...[band, peers(0, 1_000_000), peers(0, 1_000_000, "x")].map((peersSelector) =>
    rpcStep("CalculateRanking", (client) =>
      client.calculateRanking({ metric: "ltv_cac", value: 3.5, period: "1995", peersSelector }),
    ),
  ),
  rpcStep("GetScorecard", (client) =>
    client.getScorecard({ arr: 600_000, period: "1995", industry: "x", values: { ltv_cac: 3.5 } }),
  ),
  rpcStep("GetScorecard", (client) =>
    client.getScorecard({ arr: 600_000, period: "1995", values: { ltv_cac: 3.5 } }),
  ),
  rpcStep("ListMetrics", (client) => client.listMetrics({})),
  rpcStep("ListRevenueRanges", (client) => client.listRevenueRanges({})),
  rpcStep("ListSources", (client) => client.listSources({})),
];

/** Every answer of the walk to `role`; /ready's latencies are the only part that may vary by itself. */
async function walk(role: Role): Promise<string[]> {
  const answers: string[] = [];
  for (const step of WALK) {
    if (role === "admin" && step.writes) continue;
    clearMemoryCache();
    const { status, body } = await step.call(role);
    answers.push(`${step.route} ${status} ${body.replace(/"latencyMs":\d+/g, '"latencyMs":0')}`);
  }
  return answers;
}

describe("the walk: no answer to a non-admin depends on a panel of fewer than k companies", () => {
  const answers = new Map<string, string[]>();

  beforeAll(async () => {
    await loadSmallPanelCell(harness);
    await registerSource(harness, LARGE_PANEL, "panel");
    expect((await upload(harness, LARGE_PANEL, LARGE_PANEL_CSV)).status).toBe(201);
    for (const role of ["viewer", "analyst", "admin"] as const)
      answers.set(`${role} before`, await walk(role));
    // The same three companies, the same ARR and industry, other values.
    expect((await upload(harness, SMALL_PANEL, smallPanelCsv([9.7, 1.3, 6.4]))).status).toBe(201);
    for (const role of ["viewer", "analyst", "admin"] as const)
      answers.set(`${role} after`, await walk(role));
  });
  beforeEach(() => clearMemoryCache());

  it("covers every REST route the app serves and every RPC method", () => {
    const served = createApp()
      .routes.filter((r) => r.method !== "ALL")
      .map((r) => `${r.method} ${r.path}`);
    const walked = new Set(WALK.map((step) => step.route));
    expect(
      [...served, ...BenchmarkService.methods.map((m) => m.name)].filter((route) => !walked.has(route)),
    ).toEqual([]);
  });

  it.each(["viewer", "analyst"] as const)(
    "answers a %s the same whatever the 3 companies' values",
    (role) => {
      const before = answers.get(`${role} before`)!;
      const after = answers.get(`${role} after`)!;
      expect(after.filter((answer, i) => answer !== before[i])).toEqual([]);
      // The walk is not vacuous: a viewer gets data on 16 of its steps, an analyst on 38.
      expect(before.filter((answer) => / 200 /.test(answer))).toHaveLength(role === "viewer" ? 16 : 38);
    },
  );

  it("answers an admin differently, so the walk does reach the panel", () => {
    const before = answers.get("admin before")!;
    const after = answers.get("admin after")!;
    expect(after.filter((answer, i) => answer !== before[i]).length).toBeGreaterThan(10);
  });
});
