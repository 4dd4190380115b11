import {
  bandForArr,
  type Catalogue,
  SOURCE_FIELDS,
  type Source,
  type SourceField,
} from "../domain/catalogue";
import { parsePeriod } from "../domain/periods";
import type { CsvRecord } from "./csv";
import { pseudonymize } from "./pseudonym";
import {
  type Observation,
  quoted,
  type Rejection,
  type RulesByMetric,
  type SurveyRow,
  validateObservation,
  validateSurveyRow,
} from "./validation";

export interface StagedSummary extends SurveyRow {
  periodOrder: number;
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

/** One row of a source's file, read through its mapping and validated. */
export type SourceRow =
  | { kind: "observation"; row: Observation }
  | { kind: "summary"; row: StagedSummary }
  | { kind: "rejection"; rejection: Rejection };

/**
 * Reads a source's records one at a time. It remembers the natural keys it has seen, so a
 * duplicate later in the same file is rejected; one reader per file.
 */
export class SourceRowReader {
  private readonly seen = new Map<string, number>();

  /** `companyKeySecret` pseudonymizes a panel's company keys; raw ones never leave the reader. */
  constructor(
    private readonly source: Source,
    private readonly catalogue: Catalogue,
    private readonly rulesByMetric: RulesByMetric,
    private readonly companyKeySecret: string,
  ) {}

  read({ line, fields }: CsvRecord): SourceRow {
    const { source, catalogue, seen, rulesByMetric } = this;
    const record = mapRecord(source, fields);
    const metric = metricKeyFor(source, record.metric);
    if (metric === undefined) {
      return {
        kind: "rejection",
        rejection: { line, reason: `metric name ${quoted(record.metric)} is not in the source's mapping` },
      };
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
      if (!result.ok) return { kind: "rejection", rejection: result.rejection };
      const companyKey = pseudonymize(this.companyKeySecret, source.id, result.row.companyKey);
      return { kind: "observation", row: { ...result.row, companyKey } };
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
    if (rejection) return { kind: "rejection", rejection };
    const period = parsePeriod(row.period)!;
    return { kind: "summary", row: { ...row, period: period.key, periodOrder: period.order } };
  }
}
