import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { Cell } from "../../src/domain/catalogue";
import { createServiceContext } from "../../src/service/context";
import { recomputeCells } from "../../src/service/recompute";
import { summarizePanel } from "../../src/stats";
import { TEST_OBSERVATIONS, TEST_SOURCES } from "../helpers/sample-cells";
import { oweCells, seed } from "../helpers/seed";

beforeAll(() => seed({ sources: TEST_SOURCES, observations: TEST_OBSERVATIONS }));

/** Gamma's two ndr cells in 2024, as the recompute queue delivers them after a load. */
const CELLS: Cell[] = [
  { metricKey: "ndr", bandKey: "1M-5M", period: "2024" },
  { metricKey: "ndr", bandKey: "20M-50M", period: "2024" },
];

/** A recompute of CELLS after a load that changed them (test/helpers/seed.ts oweCells). */
async function recompute() {
  await oweCells("gamma", CELLS);
  return recomputeCells(
    createServiceContext(env, () => {}),
    CELLS,
  );
}

async function summaryRows() {
  const { results } = await env.DB.prepare(
    "SELECT source_id, metric_key, band_key, period, period_order, n, p10, p25, p50, p75, p90, outliers_excluded, mean, sd, skewness, median_low, median_high FROM summaries ORDER BY band_key",
  ).all();
  return results;
}

describe("recompute", () => {
  it("rebuilds each panel cell from its observations and flags its outliers", async () => {
    expect(await recompute()).toEqual({ cells: 2, observations: 35, outliers: 1 });
    const inBand = TEST_OBSERVATIONS.filter((o) => o.bandKey === "1M-5M");
    const expected = summarizePanel(
      inBand.map((o) => o.value),
      "modified_z",
    )!;
    const [cell, big] = await summaryRows();
    expect(cell).toEqual({
      source_id: "gamma",
      metric_key: "ndr",
      band_key: "1M-5M",
      period: "2024",
      period_order: 20245,
      n: 33,
      p10: expected.p10,
      p25: expected.p25,
      p50: expected.p50,
      p75: expected.p75,
      p90: expected.p90,
      outliers_excluded: 1,
      mean: expected.mean,
      sd: expected.sd,
      skewness: expected.skewness,
      median_low: expected.medianLow,
      median_high: expected.medianHigh,
    });
    expect(big).toMatchObject({ band_key: "20M-50M", n: 1, p50: 125, median_low: null });
    const flagged = await env.DB.prepare("SELECT company_key FROM observations WHERE is_outlier = 1").all();
    expect(flagged.results).toEqual([{ company_key: "fin_outlier" }]);
  });

  it("is idempotent, and follows changed data", async () => {
    const before = await summaryRows();
    await recompute();
    expect(await summaryRows()).toEqual(before);

    await env.DB.prepare("UPDATE observations SET value = 100 WHERE company_key = 'fin_outlier'").run();
    await recompute();
    const [cell] = await summaryRows();
    expect(cell).toMatchObject({ n: 34, outliers_excluded: 0 });
    const flagged = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM observations WHERE is_outlier = 1",
    ).first();
    expect(flagged).toEqual({ n: 0 });
  });

  it("removes the aggregate of a band left without observations", async () => {
    await env.DB.prepare(
      "UPDATE observations SET arr = 2000000, band_key = '1M-5M' WHERE company_key = 'fin_big'",
    ).run();
    // The load that moved the company sends both its cells: the one it left is emptied.
    expect(await recompute()).toMatchObject({ cells: 1, observations: 35 });
    expect((await summaryRows()).map((row) => row.band_key)).toEqual(["1M-5M"]);
  });
});
