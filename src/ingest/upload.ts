import {
  bandForArr,
  type Catalogue,
  SOURCE_FIELDS,
  type Source,
  type SourceField,
} from "../domain/catalogue";
import { invalidArgument } from "../domain/errors";
import { parsePeriod } from "../domain/periods";
import { type CsvRecord, readCsv } from "./csv";
import {
  type Observation,
  type Rejection,
  type RulesByMetric,
  type SurveyRow,
  validateObservation,
  validateSurveyRow,
} from "./validation";

export interface StagedSummary extends SurveyRow {
  periodOrder: number;
}

/** A source's file read and validated: the accepted rows of its kind and why the others were refused. */
export interface ParsedUpload {
  received: number;
  rejections: Rejection[];
  observations: Observation[];
  summaries: StagedSummary[];
}

/** JSON uploads are an array of objects; each object's position (1-based) stands in for its line. */
function readJsonRecords(text: string): CsvRecord[] {
  let items: unknown;
  try {
    items = JSON.parse(text);
  } catch {
    throw invalidArgument([{ field: "body", message: "not valid JSON" }]);
  }
  if (!Array.isArray(items))
    throw invalidArgument([{ field: "body", message: "must be an array of objects" }]);
  return items.map((item, i) => {
    const fields: Record<string, string> = {};
    if (item !== null && typeof item === "object" && !Array.isArray(item)) {
      for (const [name, value] of Object.entries(item)) {
        // Only scalars can be a cell; anything else reads as blank and fails validation.
        fields[name] = typeof value === "string" || typeof value === "number" ? String(value) : "";
      }
    }
    return { line: i + 1, fields };
  });
}

/** Reads their record as ours: each field from the header the mapping names, or from a header of its own name. */
function mapRecord(source: Source, fields: Record<string, string>): Partial<Record<SourceField, string>> {
  const columns = source.mapping.columns ?? {};
  const ours: Partial<Record<SourceField, string>> = {};
  for (const field of SOURCE_FIELDS) {
    const header = columns[field] ?? field;
    if (Object.hasOwn(fields, header)) ours[field] = fields[header];
  }
  return ours;
}

/** Their metric name to our key; undefined when the source maps names and this one is not among them. */
function metricKeyFor(source: Source, theirName: string | undefined): string | undefined {
  const names = source.mapping.metricNames ?? {};
  if (Object.keys(names).length === 0) return theirName ?? "";
  return theirName !== undefined && Object.hasOwn(names, theirName) ? names[theirName] : undefined;
}

const numberOrNull = (text: string | undefined) =>
  text === undefined || text.trim() === "" ? null : Number(text);

export function parseUpload(
  text: string,
  source: Source,
  catalogue: Catalogue,
  rulesByMetric: RulesByMetric,
): ParsedUpload {
  const records = source.format === "json" ? readJsonRecords(text) : [...readCsv(text)];
  const parsed: ParsedUpload = { received: records.length, rejections: [], observations: [], summaries: [] };
  const seen = new Map<string, number>();
  for (const { line, fields } of records) {
    const record = mapRecord(source, fields);
    const metric = metricKeyFor(source, record.metric);
    if (metric === undefined) {
      parsed.rejections.push({
        line,
        reason: `metric name "${record.metric ?? ""}" is not in the source's mapping`,
      });
      continue;
    }
    if (source.kind === "panel") {
      const result = validateObservation(
        {
          company_key: record.companyKey ?? "",
          metric,
          period: record.period ?? "",
          arr: record.arr ?? "",
          value: record.value ?? "",
          industry: record.industry ?? "",
        },
        line,
        catalogue,
        seen,
        rulesByMetric,
      );
      if (result.ok) parsed.observations.push(result.row);
      else parsed.rejections.push(result.rejection);
      continue;
    }
    const arr = numberOrNull(record.arr);
    const row: SurveyRow = {
      metric,
      // A survey maps either its band or an ARR figure that falls in one.
      band: record.band ?? (arr === null ? "" : (bandForArr(catalogue.revenueRanges, arr)?.key ?? "")),
      period: record.period ?? "",
      n: numberOrNull(record.n) ?? Number.NaN,
      p10: numberOrNull(record.p10),
      p25: numberOrNull(record.p25) ?? Number.NaN,
      p50: numberOrNull(record.p50) ?? Number.NaN,
      p75: numberOrNull(record.p75) ?? Number.NaN,
      p90: numberOrNull(record.p90),
    };
    const rejection = validateSurveyRow(row, line, catalogue, { seen, rulesByMetric });
    if (rejection) parsed.rejections.push(rejection);
    else {
      const period = parsePeriod(row.period)!;
      parsed.summaries.push({ ...row, period: period.key, periodOrder: period.order });
    }
  }
  return parsed;
}
