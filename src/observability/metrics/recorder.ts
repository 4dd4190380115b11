import { BatchSchedule } from "../batching";
import { errorType, logEvent } from "../log";
import {
  COUNTERS,
  type CounterLabels,
  type CounterName,
  HISTOGRAMS,
  type HistogramLabels,
  type HistogramName,
} from "./catalogue";
import { MetricDeltas, type MetricsBatch } from "./series";

/** Where batches go: the MetricsAggregator Durable Object, or a test's stand-in. */
export interface MetricsSink {
  merge(batch: MetricsBatch): Promise<unknown>;
}

/** Batches the aggregator has not acknowledged, kept to resend; past this many the oldest go. */
const MAX_UNSENT_BATCHES = 20;

const valuesOf = (names: readonly string[], labels: Record<string, string>) =>
  names.map((name) => labels[name]!);

/**
 * One isolate's metrics. Recording only updates a map; what accumulates goes to the aggregator
 * as one batch per flush interval, so a request never waits on it and the aggregator sees one
 * call per isolate per interval however busy the isolate is. A batch the aggregator did not
 * acknowledge is resent as it was, under the same id, so it cannot count twice.
 */
export class MetricsRecorder {
  /** Off (METRICS=off) records nothing and sends nothing. */
  enabled = true;
  private readonly deltas = new MetricDeltas();
  private readonly unsent: MetricsBatch[] = [];
  private readonly schedule = new BatchSchedule();

  count<N extends CounterName>(name: N, labels: CounterLabels<N>, by = 1): void {
    if (this.enabled) this.deltas.count(name, valuesOf(COUNTERS[name].labels, labels), by);
  }

  observe<N extends HistogramName>(name: N, labels: HistogramLabels<N>, value: number): void {
    if (this.enabled) this.deltas.observe(name, valuesOf(HISTOGRAMS[name].labels, labels), value);
  }

  /** After a request or a batch: makes sure what it recorded is sent within `delayMs`. */
  flushSoon(sink: () => MetricsSink, delayMs: number, defer: (work: Promise<unknown>) => void): void {
    if (this.deltas.isEmpty && this.unsent.length === 0) return;
    this.schedule.arm(() => this.send(sink()), delayMs, defer);
  }

  /** Sends everything recorded so far and waits for it: a scrape first counts its own isolate. */
  flushNow(sink: MetricsSink): Promise<void> {
    return this.schedule.now(() => this.send(sink));
  }

  private async send(sink: MetricsSink): Promise<void> {
    if (!this.deltas.isEmpty) this.unsent.push(this.deltas.drain());
    while (this.unsent.length > 0) {
      try {
        await sink.merge(this.unsent[0]!);
      } catch (error) {
        logEvent("warn", "metrics flush failed; the batch is kept for the next one", {
          "error.type": errorType(error),
          "labels.unsent_batches": this.unsent.length,
        });
        this.unsent.splice(0, Math.max(0, this.unsent.length - MAX_UNSENT_BATCHES));
        return;
      }
      this.unsent.shift();
    }
  }
}

/** The isolate's recorder, shared by everything that counts. */
export const metrics = new MetricsRecorder();
