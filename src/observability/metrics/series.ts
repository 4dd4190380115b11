import {
  COUNTERS,
  type CounterName,
  GAUGES,
  type GaugeName,
  HISTOGRAMS,
  type HistogramName,
  type MetricName,
} from "./catalogue";

/** Label values in the order the catalogue names the labels. */
export type LabelValues = readonly string[];

export interface CounterSeries {
  name: CounterName;
  labels: LabelValues;
  value: number;
}

/** Per-bucket counts, not cumulative: one per bound of the family, then one past the last (+Inf). */
export interface HistogramSeries {
  name: HistogramName;
  labels: LabelValues;
  counts: number[];
  sum: number;
}

export interface GaugeSeries {
  name: GaugeName;
  labels: LabelValues;
  value: number;
}

/** Counter and histogram totals, as the aggregator holds them. */
export interface MetricsSnapshot {
  counters: CounterSeries[];
  histograms: HistogramSeries[];
}

/** What one isolate adds in one flush; the id lets the aggregator drop a batch sent twice. */
export interface MetricsBatch extends MetricsSnapshot {
  id: string;
}

export const seriesKey = (name: MetricName, labels: LabelValues): string => JSON.stringify([name, ...labels]);

/** Where `value` falls: the first bound it does not exceed, or the overflow bucket. */
export function bucketIndex(bounds: readonly number[], value: number): number {
  const index = bounds.findIndex((bound) => value <= bound);
  return index === -1 ? bounds.length : index;
}

export function addHistogram(into: HistogramSeries, from: Pick<HistogramSeries, "counts" | "sum">): void {
  for (let i = 0; i < into.counts.length; i++) into.counts[i]! += from.counts[i] ?? 0;
  into.sum += from.sum;
}

/**
 * Changes an isolate has recorded and not yet flushed. Recording is a map update and nothing
 * else, so instrumenting a request costs next to nothing; the aggregator adds the batches up.
 */
export class MetricDeltas {
  private readonly counters = new Map<string, CounterSeries>();
  private readonly histograms = new Map<string, HistogramSeries>();

  get isEmpty(): boolean {
    return this.counters.size === 0 && this.histograms.size === 0;
  }

  count(name: CounterName, labels: LabelValues, by = 1): void {
    const key = seriesKey(name, labels);
    const series = this.counters.get(key);
    if (series) series.value += by;
    else this.counters.set(key, { name, labels, value: by });
  }

  observe(name: HistogramName, labels: LabelValues, value: number): void {
    const bounds = HISTOGRAMS[name].buckets;
    const key = seriesKey(name, labels);
    let series = this.histograms.get(key);
    if (!series) {
      series = { name, labels, counts: new Array<number>(bounds.length + 1).fill(0), sum: 0 };
      this.histograms.set(key, series);
    }
    series.counts[bucketIndex(bounds, value)]! += 1;
    series.sum += value;
  }

  /** Takes everything recorded so far as one batch, leaving nothing behind. */
  drain(): MetricsBatch {
    const batch = {
      id: crypto.randomUUID(),
      counters: [...this.counters.values()],
      histograms: [...this.histograms.values()],
    };
    this.counters.clear();
    this.histograms.clear();
    return batch;
  }

  /** Puts a batch that could not be delivered back, to go with the next one. */
  restore(batch: MetricsSnapshot): void {
    for (const series of batch.counters) this.count(series.name, series.labels, series.value);
    for (const series of batch.histograms) {
      const key = seriesKey(series.name, series.labels);
      const existing = this.histograms.get(key);
      if (existing) addHistogram(existing, series);
      else this.histograms.set(key, { ...series, counts: [...series.counts] });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition format 0.0.4

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const escapeHelp = (text: string) => text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
const escapeLabel = (text: string) =>
  text.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function formatLabels(names: readonly string[], values: LabelValues, extra?: [string, string]): string {
  const pairs = names.map((name, i) => `${name}="${escapeLabel(values[i] ?? "")}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

function byLabels(a: { labels: LabelValues }, b: { labels: LabelValues }): number {
  const [x, y] = [JSON.stringify(a.labels), JSON.stringify(b.labels)];
  return x < y ? -1 : x > y ? 1 : 0;
}

function seriesOf<S extends { name: MetricName; labels: LabelValues }>(all: S[], name: MetricName): S[] {
  return all.filter((series) => series.name === name).sort(byLabels);
}

/**
 * Every family, with HELP and TYPE even when it has no series yet, in catalogue order. A histogram
 * without labels shows zeros before its first event, as Prometheus clients do.
 */
export function renderExposition(snapshot: MetricsSnapshot, gauges: GaugeSeries[]): string {
  const lines: string[] = [];
  const header = (name: string, help: string, type: string) =>
    lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);

  for (const [name, family] of Object.entries(COUNTERS) as [CounterName, (typeof COUNTERS)[CounterName]][]) {
    header(name, family.help, "counter");
    for (const { labels, value } of seriesOf(snapshot.counters, name)) {
      lines.push(`${name}${formatLabels(family.labels, labels)} ${formatNumber(value)}`);
    }
  }

  for (const [name, family] of Object.entries(HISTOGRAMS) as [
    HistogramName,
    (typeof HISTOGRAMS)[HistogramName],
  ][]) {
    header(name, family.help, "histogram");
    const series = seriesOf(snapshot.histograms, name);
    if (series.length === 0 && family.labels.length === 0) {
      series.push({ name, labels: [], counts: new Array<number>(family.buckets.length + 1).fill(0), sum: 0 });
    }
    for (const { labels, counts, sum } of series) {
      let cumulative = 0;
      const bounds = [...family.buckets.map(String), "+Inf"];
      bounds.forEach((bound, i) => {
        cumulative += counts[i] ?? 0;
        lines.push(`${name}_bucket${formatLabels(family.labels, labels, ["le", bound])} ${cumulative}`);
      });
      lines.push(`${name}_sum${formatLabels(family.labels, labels)} ${formatNumber(sum)}`);
      lines.push(`${name}_count${formatLabels(family.labels, labels)} ${cumulative}`);
    }
  }

  for (const [name, family] of Object.entries(GAUGES) as [GaugeName, (typeof GAUGES)[GaugeName]][]) {
    header(name, family.help, "gauge");
    for (const { labels, value } of seriesOf(gauges, name)) {
      lines.push(`${name}${formatLabels(family.labels, labels)} ${formatNumber(value)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
