import {
  bandForArr,
  type Catalogue,
  DEFAULT_MIN_N,
  findMetric,
  type Metric,
  type MetricRules,
  type QuantileRow,
} from "../domain/catalogue";
import { hasUnsafeCharacters, MAX_ARR, MAX_SURVEY_N, parseDecimal } from "../domain/inputs";
import { parsePeriod } from "../domain/periods";
import { QUANTILE_KEYS } from "../stats";

/** Smallest sample a published survey cell may claim unless the metric's rules say otherwise. */
const MIN_SURVEY_N = DEFAULT_MIN_N;

/**
 * A cell's text is never repeated in a reason: it may come from a fetched url, and reasons are
 * shown to whoever reads the run. Its length helps find the mistake without saying what it was.
 */
export const lengthOf = (text: string | undefined) => {
  const length = [...(text ?? "")].length;
  return length === 1 ? "1 character" : `${length} characters`;
};

const COMPANY_KEY_PATTERN = /^[A-Za-z0-9_-]{4,64}$/;
/** An industry is a short label; a longer one is a mapping mistake, such as a notes column. */
const MAX_INDUSTRY_LENGTH = 64;

export interface Rejection {
  line: number;
  reason: string;
}

/** Stored rules per metric key, defaults filled in; a metric without an entry uses the catalogue's. */
export type RulesByMetric = ReadonlyMap<string, MetricRules>;
const NO_RULES: RulesByMetric = new Map();

type Validated<T> = { ok: true; row: T } | { ok: false; rejection: Rejection };

export interface Observation {
  companyKey: string;
  metricKey: string;
  period: string;
  value: number;
  arr: number;
  bandKey: string;
  industry: string | null;
}

export interface SurveyRow extends QuantileRow {
  metric: string;
  band: string;
  period: string;
}

/** The rules' range narrows the catalogue's, so the message names the bound in force. */
function outOfRange(metric: Metric, value: number, rules: MetricRules | undefined): string | null {
  const min = rules?.minValue ?? metric.minValue;
  const max = rules?.maxValue ?? metric.maxValue;
  return value < min || value > max ? `outside ${metric.key}'s valid range [${min}, ${max}]` : null;
}

function bandNotAllowed(metric: Metric, bandKey: string, rules: MetricRules | undefined): string | null {
  return rules && !rules.allowedBands.includes(bandKey)
    ? `band: ${bandKey} is not allowed for ${metric.key} (allowed: ${rules.allowedBands.join(", ")})`
    : null;
}

export const ARR_RULE = `arr: not a number from 0 to ${MAX_ARR}`;

/**
 * Validates one panel record. `seen` tracks (company, metric, period) within one file, so a
 * duplicate is rejected with the line of its first occurrence.
 */
export function validateObservation(
  record: Record<string, string>,
  line: number,
  catalogue: Catalogue,
  seen: Map<string, number>,
  rulesByMetric: RulesByMetric = NO_RULES,
): Validated<Observation> {
  const reject = (reason: string): Validated<Observation> => ({ ok: false, rejection: { line, reason } });
  const companyKey = record.company_key?.trim() ?? "";
  if (!COMPANY_KEY_PATTERN.test(companyKey)) return reject("company_key: missing or malformed");
  const metric = findMetric(catalogue, record.metric);
  if (!metric) return reject(`metric: unknown metric (${lengthOf(record.metric)})`);
  const period = parsePeriod(record.period ?? "");
  if (!period) return reject("period: not a year or a quarter such as 2024-Q3");
  const arr = parseDecimal(record.arr);
  if (arr === null || arr < 0 || arr > MAX_ARR) return reject(ARR_RULE);
  const value = parseDecimal(record.value);
  if (value === null) return reject("value: not a finite number");
  const rules = rulesByMetric.get(metric.key);
  const rangeProblem = outOfRange(metric, value, rules);
  if (rangeProblem) return reject(`value: ${rangeProblem}`);
  const band = bandForArr(catalogue.revenueRanges, arr)!;
  const bandProblem = bandNotAllowed(metric, band.key, rules);
  if (bandProblem) return reject(bandProblem);
  const naturalKey = `${companyKey}\u0000${metric.key}\u0000${period.key}`;
  const firstLine = seen.get(naturalKey);
  if (firstLine !== undefined)
    return reject(`duplicate of line ${firstLine} (same company, metric and period)`);
  const industry = record.industry?.trim() || null;
  if (industry !== null && industry.length > MAX_INDUSTRY_LENGTH) {
    return reject(`industry: longer than ${MAX_INDUSTRY_LENGTH} characters`);
  }
  if (industry !== null && hasUnsafeCharacters(industry)) {
    return reject("industry: contains control or bidi characters");
  }
  seen.set(naturalKey, line);
  return {
    ok: true,
    row: { companyKey, metricKey: metric.key, period: period.key, value, arr, bandKey: band.key, industry },
  };
}

/**
 * Validates one published survey cell: known keys, sane n, finite monotone quantiles in range.
 * With `seen`, a second cell of the same (metric, band, period) is rejected with the line of the first.
 */
export function validateSurveyRow(
  row: SurveyRow,
  line: number,
  catalogue: Catalogue,
  { seen, rulesByMetric = NO_RULES }: { seen?: Map<string, number>; rulesByMetric?: RulesByMetric } = {},
): Rejection | null {
  const metric = findMetric(catalogue, row.metric);
  if (!metric) return { line, reason: `metric: unknown metric (${lengthOf(row.metric)})` };
  if (!catalogue.revenueRanges.some((r) => r.key === row.band))
    return { line, reason: `band: unknown band (${lengthOf(row.band)})` };
  const period = parsePeriod(row.period);
  if (!period) return { line, reason: "period: not a year or a quarter such as 2024-Q3" };
  const rules = rulesByMetric.get(metric.key);
  const bandProblem = bandNotAllowed(metric, row.band, rules);
  if (bandProblem) return { line, reason: bandProblem };
  const minN = rules?.minN ?? MIN_SURVEY_N;
  if (!Number.isInteger(row.n) || row.n < minN || row.n > MAX_SURVEY_N) {
    return { line, reason: `n: must be a whole number from ${minN} to ${MAX_SURVEY_N}` };
  }
  let previous = Number.NEGATIVE_INFINITY;
  for (const key of QUANTILE_KEYS) {
    const value = row[key];
    if (value === null && (key === "p10" || key === "p90")) continue;
    if (value === null || !Number.isFinite(value)) return { line, reason: `${key}: not a finite number` };
    const rangeProblem = outOfRange(metric, value, rules);
    if (rangeProblem) return { line, reason: `${key}: ${rangeProblem}` };
    if (value < previous) return { line, reason: `quantiles are not monotone at ${key}` };
    previous = value;
  }
  if (seen) {
    const naturalKey = `${metric.key}\u0000${row.band}\u0000${period.key}`;
    const firstLine = seen.get(naturalKey);
    if (firstLine !== undefined)
      return { line, reason: `duplicate of line ${firstLine} (same metric, band and period)` };
    seen.set(naturalKey, line);
  }
  return null;
}
