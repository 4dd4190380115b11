/**
 * Loads the generated sample data into the local D1: validates it the way ingestion does,
 * aggregates the panel, and writes everything in one SQL file applied by wrangler.
 *
 *   tsx scripts/sample-data/load.ts [--if-empty]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Catalogue, Metric, RevenueRange } from "../../src/domain/catalogue";
import { loadPanelCsv } from "../../src/ingest/panel";
import { validateSurveyRow } from "../../src/ingest/validation";
import { generateSampleData } from "./generate";
import { buildSeedSql } from "./seed-sql";

const root = join(import.meta.dirname, "..", "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");

function wranglerJson<T>(sql: string): T[] {
  const out = execFileSync(wrangler, ["d1", "execute", "DB", "--local", "--json", "--command", sql], {
    // Any WRANGLER_LOG setting, even "info", makes `--json` print nothing; leave wrangler its default.
    env: { ...process.env, WRANGLER_LOG: undefined },
    cwd: root,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const [first] = JSON.parse(out) as { results: T[] }[];
  return first?.results ?? [];
}

function readCatalogue(): Pick<Catalogue, "metrics" | "revenueRanges"> {
  const metrics = wranglerJson<Record<string, unknown>>("SELECT * FROM metrics ORDER BY sort_order").map(
    (m): Metric => ({
      key: String(m.key),
      name: String(m.name),
      unit: m.unit as Metric["unit"],
      direction: m.direction as Metric["direction"],
      minValue: Number(m.min_value),
      maxValue: Number(m.max_value),
      definition: String(m.definition),
      outlierMethod: m.outlier_method as Metric["outlierMethod"],
    }),
  );
  const revenueRanges = wranglerJson<{ key: string; min_arr: number; max_arr: number | null }>(
    "SELECT key, min_arr, max_arr FROM revenue_ranges ORDER BY sort_order",
  ).map((r): RevenueRange => ({ key: r.key, minArr: r.min_arr, maxArr: r.max_arr }));
  return { metrics, revenueRanges };
}

const ifEmpty = process.argv.includes("--if-empty");
const [{ sources } = { sources: 0 }] = wranglerJson<{ sources: number }>(
  "SELECT COUNT(*) AS sources FROM sources",
);
if (ifEmpty && sources > 0) {
  console.log(`Local database already holds ${sources} sources; sample data not reloaded.`);
  process.exit(0);
}

const started = performance.now();
const data = generateSampleData();
const catalogue: Catalogue = { ...readCatalogue(), sources: [] };
const panel = loadPanelCsv(data.panelCsv, catalogue);
const surveyRejections = data.surveys.flatMap((row, i) => {
  const rejection = validateSurveyRow(row, i + 1, catalogue);
  return rejection ? [{ sourceId: row.sourceId, ...rejection }] : [];
});
const rejectedSurveyLines = new Set(surveyRejections.map((r) => `${r.sourceId}:${r.line}`));
const surveys = data.surveys.filter((row, i) => !rejectedSurveyLines.has(`${row.sourceId}:${i + 1}`));

const sql = buildSeedSql({
  sources: data.sources,
  surveys,
  panelSourceId: data.panelSourceId,
  panel,
  surveyRejections,
  loadedAt: new Date().toISOString(),
});
const file = join(root, ".sample-data", "seed.sql");
mkdirSync(join(root, ".sample-data"), { recursive: true });
writeFileSync(file, sql);

execFileSync(wrangler, ["d1", "execute", "DB", "--local", "--file", file], { cwd: root, stdio: "ignore" });
// The data version changed; drop the mirrored copy so readers fetch the new one from D1.
execFileSync(wrangler, ["kv", "key", "delete", "data-version", "--binding", "CACHE", "--local"], {
  cwd: root,
  stdio: "ignore",
});

const outliers = panel.observations.filter((o) => o.isOutlier).length;
console.log(
  [
    "Loaded the SAMPLE data set (fictional sources; not real benchmarks):",
    `  ${data.sources.length} sources, ${surveys.length} survey cells, ${panel.summaries.length} panel cells`,
    `  panel: ${panel.observations.length} observations accepted (${outliers} flagged as outliers), ${panel.rejections.length} rows rejected`,
    ...panel.rejections.slice(0, 5).map((r) => `    line ${r.line}: ${r.reason}`),
    panel.rejections.length > 5 ? `    … GET /api/v1/sources shows the rejected-row counts` : "",
    `  in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  ]
    .filter(Boolean)
    .join("\n"),
);
