import {
  bandForArr,
  type Catalogue,
  SOURCE_FIELDS,
  type Source,
  type SourceField,
} from "../domain/catalogue";
import { MAX_ARR, parseDecimal, parseWholeNumber } from "../domain/inputs";
import { parsePeriod } from "../domain/periods";
import type { CsvRecord } from "./csv";
import { pseudonymize } from "./pseudonym";
import {
  ARR_RULE,
  lengthOf,
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

const isBlank = (text: string | undefined) => text === undefined || text.trim() === "";
/** A blank cell is null (an optional quantile left out); any other must be a plain decimal, else NaN. */
const cellNumber = (text: string | undefined) => (isBlank(text) ? null : (parseDecimal(text) ?? Number.NaN));

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

  read({ line, fields, problem }: CsvRecord): SourceRow {
    const { source, catalogue, seen, rulesByMetric } = this;
    const reject = (reason: string): SourceRow => ({ kind: "rejection", rejection: { line, reason } });
    if (problem !== undefined) return reject(problem);
    const record = mapRecord(source, fields);
    const metric = metricKeyFor(source, record.metric);
    if (metric === undefined) {
      return reject(`metric: a name that is not in the source's mapping (${lengthOf(record.metric)})`);
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
    // A survey maps either its band or an ARR figure that falls in one.
    let band = record.band;
    if (band === undefined) {
      if (record.arr === undefined) return reject("band: missing");
      const arr = cellNumber(record.arr);
      if (arr === null || !(arr >= 0 && arr <= MAX_ARR)) return reject(ARR_RULE);
      band = bandForArr(catalogue.revenueRanges, arr)!.key;
    }
    const row: SurveyRow = {
      metric,
      band,
      period: record.period ?? "",
      n: parseWholeNumber(record.n) ?? Number.NaN,
      p10: cellNumber(record.p10),
      p25: cellNumber(record.p25) ?? Number.NaN,
      p50: cellNumber(record.p50) ?? Number.NaN,
      p75: cellNumber(record.p75) ?? Number.NaN,
      p90: cellNumber(record.p90),
    };
    const rejection = validateSurveyRow(row, line, catalogue, { seen, rulesByMetric });
    if (rejection) return { kind: "rejection", rejection };
    const period = parsePeriod(row.period)!;
    return { kind: "summary", row: { ...row, period: period.key, periodOrder: period.order } };
  }
}
