import type { Direction } from "../stats";

export type MetricUnit = "percent" | "ratio" | "months" | "multiple";
export type SourceKind = "survey" | "panel";

export interface Metric {
  key: string;
  name: string;
  unit: MetricUnit;
  direction: Direction;
  minValue: number;
  maxValue: number;
  definition: string;
  outlierMethod: "modified_z" | "tukey";
}

/** An ARR band, [minArr, maxArr) in USD; maxArr is null for the open top band. */
export interface RevenueRange {
  key: string;
  minArr: number;
  maxArr: number | null;
}

export interface Source {
  id: string;
  name: string;
  kind: SourceKind;
  url: string | null;
  active: boolean;
  lastUpdated: string | null;
}

/** What a source publishes for one cell: its sample size and quantiles (p10 and p90 optional). */
export interface QuantileRow {
  n: number;
  p10: number | null;
  p25: number;
  p50: number;
  p75: number;
  p90: number | null;
}

export interface Catalogue {
  metrics: Metric[];
  revenueRanges: RevenueRange[];
  sources: Source[];
}

export function bandForArr(ranges: readonly RevenueRange[], arr: number): RevenueRange | undefined {
  return ranges.find((r) => arr >= r.minArr && (r.maxArr === null || arr < r.maxArr));
}
