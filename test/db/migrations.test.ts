import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";

async function names(type: "table" | "index"): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%' ORDER BY name",
  )
    .bind(type)
    .all<{ name: string }>();
  return results.map((r) => r.name);
}

describe("migrations", () => {
  it("create every table and the indexes for each query path", async () => {
    expect(await names("table")).toEqual([
      "dead_letters",
      "ingestion_runs",
      "meta",
      "metric_rules",
      "metrics",
      "observations",
      "peer_group_units",
      "pending_cells",
      "rejected_rows",
      "revenue_ranges",
      "sources",
      "staged_chunks",
      "summaries",
    ]);
    expect(await names("index")).toEqual([
      "ingestion_runs_lease",
      "ingestion_runs_source",
      "observations_cell",
      "observations_peer_industry",
      "observations_peer_span",
      "peer_group_units_cell",
      "pending_cells_cell",
      "pending_cells_requeue",
      "pending_cells_run",
      "rejected_rows_run",
      "rejected_rows_source",
      "summaries_latest_period",
      "summaries_metric_latest",
      "summaries_source",
    ]);
  });

  it("seed the catalogue, the bands and the data version", async () => {
    const metrics = await env.DB.prepare("SELECT COUNT(*) AS n FROM metrics").first<{ n: number }>();
    expect(metrics?.n).toBe(11);
    const bands = await env.DB.prepare("SELECT key FROM revenue_ranges ORDER BY sort_order").all<{
      key: string;
    }>();
    expect(bands.results.map((b) => b.key)).toEqual(["0-1M", "1M-5M", "5M-20M", "20M-50M", "50M+"]);
    const version = await env.DB.prepare("SELECT value FROM meta WHERE key = 'data_version'").first<{
      value: string;
    }>();
    expect(version?.value).toBe("1");
  });

  it("give sources loaded by script a CSV format, an empty mapping and no schedule", async () => {
    await env.DB.prepare("INSERT INTO sources (id, name, kind) VALUES ('legacy', 'Legacy', 'panel')").run();
    const row = await env.DB.prepare(
      "SELECT format, mapping, refresh_interval_minutes FROM sources WHERE id = 'legacy'",
    ).first();
    expect(row).toEqual({ format: "csv", mapping: "{}", refresh_interval_minutes: null });
  });

  it("refuse rules for unknown metrics, a minimum n under 1 and an empty range", async () => {
    const insert = (metric: string, minValue: number | null, maxValue: number | null, minN: number) =>
      env.DB.prepare("INSERT INTO metric_rules (metric_key, min_value, max_value, min_n) VALUES (?, ?, ?, ?)")
        .bind(metric, minValue, maxValue, minN)
        .run();
    await expect(insert("not_a_metric", null, null, 10)).rejects.toThrow(/FOREIGN KEY constraint failed/);
    await expect(insert("ndr", null, null, 0)).rejects.toThrow(/CHECK constraint failed/);
    await expect(insert("ndr", 100, 90, 10)).rejects.toThrow(/CHECK constraint failed/);
    await insert("ndr", 90, null, 10);
  });

  it("read custom peer groups from a covering index: by ARR, or by industry and ARR", async () => {
    for (const [industry, index] of [
      ["", "observations_peer_span"],
      ["AND industry = 'fintech'", "observations_peer_industry"],
    ]) {
      for (const upper of ["", "AND arr < 5"]) {
        const { results } = await env.DB.prepare(
          `EXPLAIN QUERY PLAN SELECT source_id, band_key, arr, industry, value, is_outlier FROM observations WHERE metric_key = 'ndr' AND period = '2024' ${industry} AND arr >= 1 ${upper} AND source_id IN ('a', 'b')`,
        ).all<{ detail: string }>();
        expect(results.map((r) => r.detail).join(" ")).toMatch(
          new RegExp(`USING COVERING INDEX ${index} \\(`),
        );
      }
    }
  });

  it("look cells up through the summaries primary key", async () => {
    const { results } = await env.DB.prepare(
      "EXPLAIN QUERY PLAN SELECT * FROM summaries WHERE metric_key = 'ndr' AND band_key = '1M-5M' AND period = '2024'",
    ).all<{ detail: string }>();
    expect(results.map((r) => r.detail).join(" ")).toMatch(
      /USING (PRIMARY KEY|INDEX sqlite_autoindex_summaries_1)/,
    );
  });

  it("refuse summaries whose quartiles decrease, and unknown metrics", async () => {
    await env.DB.prepare("INSERT INTO sources (id, name, kind) VALUES ('s', 'S', 'survey')").run();
    const insert = (metric: string, p25: number, p50: number, p75: number) =>
      env.DB.prepare(
        "INSERT INTO summaries (source_id, metric_key, band_key, period, period_order, n, p25, p50, p75) VALUES ('s', ?, '0-1M', '2024', 20245, 10, ?, ?, ?)",
      )
        .bind(metric, p25, p50, p75)
        .run();
    await expect(insert("ndr", 110, 100, 120)).rejects.toThrow(/CHECK constraint failed/);
    await expect(insert("not_a_metric", 1, 2, 3)).rejects.toThrow(/FOREIGN KEY constraint failed/);
    await insert("ndr", 95, 100, 120);
  });
});
