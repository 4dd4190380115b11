import { parsePeriod } from "../../src/domain/periods";
import type { PanelLoad } from "../../src/ingest/panel";
import type { Rejection } from "../../src/ingest/validation";
import type { SampleSource, SurveyRecord } from "./generate";

export interface SeedInput {
  sources: SampleSource[];
  surveys: SurveyRecord[];
  panelSourceId: string;
  panel: PanelLoad;
  surveyRejections: (Rejection & { sourceId: string })[];
  loadedAt: string;
}

type SqlValue = string | number | boolean | null;

function literal(value: SqlValue): string {
  if (value === null) return "NULL";
  if (typeof value === "boolean") return value ? "1" : "0";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError(`cannot write ${value} to SQL`);
    return String(value);
  }
  return `'${value.replaceAll("'", "''")}'`;
}

/** Multi-row INSERTs in chunks, keeping each statement well under SQLite's limits. */
function inserts(table: string, columns: string[], rows: SqlValue[][], chunk = 400): string[] {
  const statements: string[] = [];
  for (let i = 0; i < rows.length; i += chunk) {
    const values = rows
      .slice(i, i + chunk)
      .map((row) => `(${row.map(literal).join(",")})`)
      .join(",\n");
    statements.push(`INSERT INTO ${table} (${columns.join(", ")}) VALUES\n${values};`);
  }
  return statements;
}

const SUMMARY_COLUMNS = [
  "source_id",
  "metric_key",
  "band_key",
  "period",
  "period_order",
  "n",
  "p10",
  "p25",
  "p50",
  "p75",
  "p90",
  "outliers_excluded",
  "mean",
  "sd",
  "skewness",
  "median_low",
  "median_high",
];

export function buildSeedSql(input: SeedInput): string {
  const { panel, panelSourceId } = input;
  const statements = [
    ...inserts(
      "sources",
      ["id", "name", "kind", "url", "active", "last_updated"],
      input.sources.map((s) => [s.id, s.name, s.kind, s.url, true, s.lastUpdated]),
    ),
    ...inserts(
      "summaries",
      SUMMARY_COLUMNS,
      input.surveys.map((r) => [
        r.sourceId,
        r.metric,
        r.band,
        r.period,
        parsePeriod(r.period)!.order,
        r.n,
        r.p10,
        r.p25,
        r.p50,
        r.p75,
        r.p90,
        0,
        null,
        null,
        null,
        null,
        null,
      ]),
    ),
    ...inserts(
      "summaries",
      SUMMARY_COLUMNS,
      panel.summaries.map((s) => [
        panelSourceId,
        s.metricKey,
        s.bandKey,
        s.period,
        s.periodOrder,
        s.n,
        s.p10,
        s.p25,
        s.p50,
        s.p75,
        s.p90,
        s.outliersExcluded,
        s.mean,
        s.sd,
        s.skewness,
        s.medianLow,
        s.medianHigh,
      ]),
    ),
    ...inserts(
      "observations",
      [
        "source_id",
        "metric_key",
        "period",
        "company_key",
        "value",
        "arr",
        "band_key",
        "industry",
        "is_outlier",
      ],
      panel.observations.map((o) => [
        panelSourceId,
        o.metricKey,
        o.period,
        o.companyKey,
        o.value,
        o.arr,
        o.bandKey,
        o.industry,
        o.isOutlier,
      ]),
    ),
    ...inserts(
      "rejected_rows",
      ["source_id", "line", "reason", "rejected_at"],
      [
        ...panel.rejections.map((r) => [panelSourceId, r.line, r.reason, input.loadedAt]),
        ...input.surveyRejections.map((r) => [r.sourceId, r.line, r.reason, input.loadedAt]),
      ],
    ),
    // A fresh version per load, so no cache entry from an earlier database can be mistaken for this one.
    `UPDATE meta SET value = ${literal(String(Date.parse(input.loadedAt)))} WHERE key = 'data_version';`,
  ];
  return `${statements.join("\n")}\n`;
}
