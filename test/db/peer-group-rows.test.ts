import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { D1Meter, meteredD1 } from "../../scripts/bench/scale-metered-d1";
import { clearMemoryCache } from "../../src/cache/versioned-cache";
import { bandForArr } from "../../src/domain/catalogue";
import type { PeerGroupFilter } from "../../src/domain/peer-units";
import { getBenchmarks } from "../../src/service/benchmarks";
import { getCatalogue } from "../../src/service/catalogue";
import { createServiceContext } from "../../src/service/context";
import { recomputeCells } from "../../src/service/recompute";
import { countSeededUnits, type ObservationInput, oweCells, seed } from "../helpers/seed";

/*
 * What a cold custom peer group reads, as D1 counts it (meta.rows_read): its own rows and the
 * counts of its bands' units, never the rest of those bands. SQLite counts the index entry it
 * steps onto to find that a range has ended, so one range read of g rows reports g + 1 whenever
 * any entry follows the range.
 */

const PERIOD = "2024";
const GROUP: PeerGroupFilter = { arrMin: 2_000_000, arrMax: 5_000_000, industry: "fintech" };

/** `count` companies of one industry spread over [arrMin, arrMax), ndr values 100, 101, … */
function companies(prefix: string, count: number, industry: string, arrMin: number, arrMax: number) {
  return Array.from({ length: count }, (_, i) => ({
    companyKey: `${prefix}_${i}`,
    industry,
    arr: Math.round(arrMin + ((arrMax - arrMin) * i) / count),
    value: 100 + i,
  }));
}

/**
 * ndr in 2024: the band 1M–5M holds 34 companies, six of each industry in each grid step the
 * group covers ([2M, 3M) and [3M, 5M)), so every unit has k = 5 and the group's 12 are shown;
 * the band 5M–20M holds 10 more. The same companies report grr, and ndr in 2023, neither read.
 * The band's units: three steps, each whole and in two industries.
 */
const PANEL = [
  ...companies("fin_low", 5, "fintech", 1_000_000, 2_000_000),
  ...companies("dev_low", 5, "devtools", 1_000_000, 2_000_000),
  ...companies("fin_2m", 6, "fintech", 2_000_000, 3_000_000),
  ...companies("dev_2m", 6, "devtools", 2_000_000, 3_000_000),
  ...companies("fin_3m", 6, "fintech", 3_000_000, 5_000_000),
  ...companies("dev_3m", 6, "devtools", 3_000_000, 5_000_000),
  ...companies("fin_big", 5, "fintech", 6_000_000, 19_000_000),
  ...companies("dev_big", 5, "devtools", 6_000_000, 19_000_000),
];
const inGroup = (group: PeerGroupFilter) =>
  PANEL.filter(
    (c) =>
      (group.industry === null || c.industry === group.industry) &&
      c.arr >= group.arrMin &&
      (group.arrMax === null || c.arr < group.arrMax),
  ).length;
const EVERY_INDUSTRY_GROUP = { ...GROUP, industry: null };
const BAND_ROWS = PANEL.filter((c) => c.arr >= 1_000_000 && c.arr < 5_000_000).length;

/** One request with the isolate's memory and KV empty, as an analyst makes it, and the statements D1 ran. */
async function coldPeerGroup(peerGroup: PeerGroupFilter, period: string | null = PERIOD) {
  clearMemoryCache();
  const { keys } = await env.CACHE.list();
  await Promise.all(keys.map((key) => env.CACHE.delete(key.name)));
  const meter = new D1Meter();
  const ctx = createServiceContext({ ...env, DB: meteredD1(env.DB, meter) }, () => {}, "first-unconstrained");
  ctx.principal = { kind: "user", subject: "analyst", role: "analyst", subjectHash: "analyst" };
  const result = await getBenchmarks(ctx, { metric: "ndr", period: period ?? undefined, peerGroup });
  return {
    period: result.period,
    shown: result.pooled.n,
    calls: meter.calls,
    latestPeriodReads: meter.statements.filter((s) => /^select "period" from "summaries"/.test(s.sql)),
    observationReads: meter.statements.filter((s) => /from "observations"/.test(s.sql)),
    unitReads: meter.statements.filter((s) => /from "peer_group_units"/.test(s.sql)),
  };
}

const readUnits = async () =>
  (
    await env.DB.prepare(
      "SELECT * FROM peer_group_units ORDER BY metric_key, period, source_id, band_key, step, industry",
    ).all()
  ).results;

let recomputed: unknown[];

beforeAll(async () => {
  const ctx = createServiceContext(env, () => {});
  const { revenueRanges } = await getCatalogue(ctx);
  const rows: ObservationInput[] = [];
  for (const [metricKey, period] of [
    ["ndr", PERIOD],
    ["ndr", "2023"],
    ["grr", PERIOD],
  ] as const) {
    for (const c of PANEL) {
      const bandKey = bandForArr(revenueRanges, c.arr)!.key;
      rows.push({ sourceId: "panel", metricKey, period, bandKey, ...c });
    }
  }
  await seed({ sources: [{ id: "panel", name: "Panel", kind: "panel" }], observations: rows });
  // Flags, summaries and unit counts as the recompute consumer writes them: without them every
  // unit would still count as being recomputed, and nothing would be shown.
  const cells = new Map(
    rows.map(({ metricKey, bandKey, period }) => [
      `${metricKey}|${bandKey}|${period}`,
      { metricKey, bandKey, period },
    ]),
  );
  await oweCells("panel", [...cells.values()]);
  await recomputeCells(ctx, [...cells.values()]);
  recomputed = await readUnits();
});

describe("a cold custom peer group", () => {
  it("of one industry reads its own rows through one index range, and nothing beyond them", async () => {
    const read = await coldPeerGroup(GROUP);
    expect([inGroup(GROUP), read.shown]).toEqual([12, 12]);
    // The 12, and the index entry after them that ends the range: not the band's 34.
    expect(BAND_ROWS).toBe(34);
    expect(read.observationReads).toEqual([expect.objectContaining({ rowsRead: 12 + 1 })]);
  });

  it("of every industry reads its own rows through one index range, and nothing beyond them", async () => {
    const read = await coldPeerGroup(EVERY_INDUSTRY_GROUP);
    expect([inGroup(EVERY_INDUSTRY_GROUP), read.shown]).toEqual([24, 24]);
    expect(read.observationReads).toEqual([expect.objectContaining({ rowsRead: 24 + 1 })]);
  });

  it("decides what to show from the band's unit counts, in the same round trip", async () => {
    const read = await coldPeerGroup(GROUP);
    // 1M–5M: steps [1M, 2M), [2M, 3M), [3M, 5M), each whole and per industry: 9 units, and the
    // entry after them (5M–20M's first).
    expect(read.unitReads).toEqual([expect.objectContaining({ rowsRead: 9 + 1 })]);
    // The catalogue, the data version and the batch of the two reads above.
    expect(read.calls).toBe(3);
  });

  it("without a period finds the latest in the same round trip, from one index entry", async () => {
    const read = await coldPeerGroup(GROUP, null);
    expect([read.period, read.shown, read.calls]).toEqual([PERIOD, 12, 3]);
    // The newest ndr summary is the panel's: the first entry of summaries_metric_latest.
    expect(read.latestPeriodReads).toEqual([expect.objectContaining({ rowsRead: 1 })]);
    // Each statement finds the period as the same subquery, and reads one entry more for it.
    expect(read.observationReads).toEqual([expect.objectContaining({ rowsRead: 12 + 1 + 1 })]);
    expect(read.unitReads).toEqual([expect.objectContaining({ rowsRead: 9 + 1 + 1 })]);
  });
});

describe("unit counts", () => {
  it("are what recompute saw: 5, 6 and 6 a step per industry, 10, 12 and 12 a whole step", () => {
    type Unit = Record<"metric_key" | "period" | "band_key" | "industry", string> &
      Record<"step" | "kept" | "outliers", number>;
    const ndr2024 = (recomputed as Unit[]).filter(
      (u) => u.metric_key === "ndr" && u.period === PERIOD && u.band_key === "1M-5M",
    );
    expect(ndr2024.map((u) => [u.step, u.industry, u.kept, u.outliers])).toEqual([
      [5, "", 10, 0],
      [5, "devtools", 5, 0],
      [5, "fintech", 5, 0],
      [6, "", 12, 0],
      [6, "devtools", 6, 0],
      [6, "fintech", 6, 0],
      [7, "", 12, 0],
      [7, "devtools", 6, 0],
      [7, "fintech", 6, 0],
    ]);
  });

  it("are rebuilt by the migration that introduced them, from bands that match their summaries", async () => {
    await countSeededUnits();
    expect(await readUnits()).toEqual(recomputed);
  });
});
