import {
  COUNTERS,
  type CounterName,
  GAUGES,
  type GaugeName,
  HISTOGRAMS,
  type HistogramName,
  type MetricName,
} from "./families";

/** Label values in the order the family names its labels. */
type LabelValues = readonly string[];

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

/** Label values by label name, as recorders give them. */
export type Labels = Readonly<Record<string, string>>;

/**
 * Series by name and then one map level per label value, in the order of its family's labels: finding a
 * series already recorded walks the maps and allocates nothing, where a key string built per
 * call would cost every request its garbage.
 */
class SeriesIndex<S> {
  private readonly root = new Map<string, unknown>();
  readonly series: S[] = [];

  find(name: string, labelNames: readonly string[], labels: Labels): S | undefined {
    let node = this.root.get(name);
    for (let i = 0; i < labelNames.length && node !== undefined; i++) {
      node = (node as Map<string, unknown>).get(labels[labelNames[i]!]!);
    }
    return node as S | undefined;
  }

  add(name: string, labelNames: readonly string[], labels: Labels, series: S): void {
    let level = this.root;
    let key = name;
    for (const labelName of labelNames) {
      let next = level.get(key) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(key, next);
      }
      level = next;
      key = labels[labelName]!;
    }
    level.set(key, series);
    this.series.push(series);
  }
}

/**
 * Changes an isolate has recorded and not yet flushed. Recording is a map update and nothing
 * else, so instrumenting a request costs next to nothing; the aggregator adds the batches up.
 */
export class MetricDeltas {
  private counters = new SeriesIndex<CounterSeries>();
  private histograms = new SeriesIndex<HistogramSeries>();

  get isEmpty(): boolean {
    return this.counters.series.length === 0 && this.histograms.series.length === 0;
  }

  count(name: CounterName, labels: Labels, by = 1): void {
    const labelNames = COUNTERS[name].labels;
    const series = this.counters.find(name, labelNames, labels);
    if (series) series.value += by;
    else
      this.counters.add(name, labelNames, labels, { name, labels: valuesOf(labelNames, labels), value: by });
  }

  observe(name: HistogramName, labels: Labels, value: number): void {
    const { labels: labelNames, buckets } = HISTOGRAMS[name];
    let series = this.histograms.find(name, labelNames, labels);
    if (!series) {
      series = {
        name,
        labels: valuesOf(labelNames, labels),
        counts: new Array<number>(buckets.length + 1).fill(0),
        sum: 0,
      };
      this.histograms.add(name, labelNames, labels, series);
    }
    series.counts[bucketIndex(buckets, value)]! += 1;
    series.sum += value;
  }

  /** Takes everything recorded so far as one batch, leaving nothing behind. */
  drain(): MetricsBatch {
    const batch = {
      id: crypto.randomUUID(),
      counters: this.counters.series,
      histograms: this.histograms.series,
    };
    this.counters = new SeriesIndex();
    this.histograms = new SeriesIndex();
    return batch;
  }
}

const valuesOf = (labelNames: readonly string[], labels: Labels): LabelValues =>
  labelNames.map((labelName) => labels[labelName]!);

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
 * Every family, with HELP and TYPE even when it has no series yet, in the order families.ts lists them. A histogram
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
