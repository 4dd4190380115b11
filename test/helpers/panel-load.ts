import type { Catalogue } from "../../src/domain/catalogue";
import { parsePeriod } from "../../src/domain/periods";
import { type Observation, type Rejection, validateObservation } from "../../src/ingest/validation";
import { type PanelSummary, summarizePanel } from "../../src/stats";
import { readCsv } from "./csv";

export interface PanelCellSummary extends Omit<PanelSummary, "outlierFlags"> {
  metricKey: string;
  bandKey: string;
  period: string;
  periodOrder: number;
}

export interface PanelLoad {
  observations: (Observation & { isOutlier: boolean })[];
  rejections: Rejection[];
  summaries: PanelCellSummary[];
}

/**
 * Validates a panel file, then flags outliers and aggregates each (metric, band, period) cell,
 * all in memory: a reference for what the service's staged load and recompute must produce.
 */
export function loadPanelCsv(text: string, catalogue: Catalogue): PanelLoad {
  const seen = new Map<string, number>();
  const rejections: Rejection[] = [];
  const cells = new Map<string, Observation[]>();
  for (const { line, fields } of readCsv(text)) {
    const result = validateObservation(fields, line, catalogue, seen);
    if (!result.ok) {
      rejections.push(result.rejection);
      continue;
    }
    const cellKey = `${result.row.metricKey}|${result.row.bandKey}|${result.row.period}`;
    const cell = cells.get(cellKey);
    if (cell) cell.push(result.row);
    else cells.set(cellKey, [result.row]);
  }
  const outlierMethod = new Map(catalogue.metrics.map((m) => [m.key, m.outlierMethod]));
  const observations: PanelLoad["observations"] = [];
  const summaries: PanelCellSummary[] = [];
  for (const rows of cells.values()) {
    const { metricKey, bandKey, period } = rows[0]!;
    const summary = summarizePanel(
      rows.map((r) => r.value),
      outlierMethod.get(metricKey)!,
    );
    rows.forEach((row, i) => {
      observations.push({ ...row, isOutlier: summary?.outlierFlags[i] ?? false });
    });
    if (!summary) continue;
    const { outlierFlags: _, ...aggregate } = summary;
    summaries.push({ ...aggregate, metricKey, bandKey, period, periodOrder: parsePeriod(period)!.order });
  }
  return { observations, rejections, summaries };
}
