import { BatchSchedule } from "../batching";
import { errorType, logEvent } from "../log";
import type { CounterLabels, CounterName, HistogramLabels, HistogramName } from "./families";
import { MetricDeltas, type MetricsBatch } from "./series";

/** Where batches go: the MetricsAggregator Durable Object, or a test's stand-in. */
interface MetricsSink {
  merge(batch: MetricsBatch): Promise<unknown>;
}

/** Batches the aggregator has not acknowledged, kept to resend; past this many the oldest go. */
const MAX_UNSENT_BATCHES = 20;
/**
 * An unacknowledged batch is resent for this long, well within the aggregator's memory of batch
 * ids (BATCH_MEMORY_MS), so that a resend of a batch it did take is still recognised.
 */
const RESEND_WITHIN_MS = 5 * 60_000;

/**
 * One isolate's metrics. Recording only updates a map; what accumulates goes to the aggregator
 * as one batch per flush interval, so a request never waits on it and the aggregator sees one
 * call per isolate per interval however busy the isolate is. A batch the aggregator did not
 * acknowledge is resent as it was, under the same id, with the isolate's next flush, so it
 * cannot count twice; one still unacknowledged after RESEND_WITHIN_MS is dropped.
 */
export class MetricsRecorder {
  /** Off (METRICS=off) records nothing and sends nothing. */
  enabled = true;
  private readonly deltas = new MetricDeltas();
  private unsent: { batch: MetricsBatch; createdAt: number }[] = [];
  private readonly schedule = new BatchSchedule();

  count<N extends CounterName>(name: N, labels: CounterLabels<N>, by = 1): void {
    if (this.enabled) this.deltas.count(name, labels, by);
  }

  observe<N extends HistogramName>(name: N, labels: HistogramLabels<N>, value: number): void {
    if (this.enabled) this.deltas.observe(name, labels, value);
  }

  /** After a request or a batch: makes sure what it recorded is sent within `delayMs`. */
  flushSoon(sink: () => MetricsSink, delayMs: number, defer: (work: Promise<unknown>) => void): void {
    if (this.deltas.isEmpty && this.unsent.length === 0) return;
    this.schedule.arm(() => this.send(sink()), delayMs, defer);
  }

  /** Sends everything recorded so far and waits for it: a scrape first counts its own isolate. */
  flushNow(sink: MetricsSink): Promise<void> {
    return this.send(sink);
  }

  /**
   * Sends the unacknowledged batches, oldest first, and removes each once acknowledged. Two
   * sends at once may both carry the same batch: the aggregator counts it once.
   */
  private async send(sink: MetricsSink): Promise<void> {
    const now = Date.now();
    if (!this.deltas.isEmpty) this.unsent.push({ batch: this.deltas.drain(), createdAt: now });
    const expired = this.unsent.filter((entry) => now - entry.createdAt > RESEND_WITHIN_MS);
    const overflow = Math.max(0, this.unsent.length - expired.length - MAX_UNSENT_BATCHES);
    if (expired.length + overflow > 0) {
      logEvent("warn", "metrics batches dropped unsent", { "labels.batches": expired.length + overflow });
      this.unsent = this.unsent.filter((entry) => !expired.includes(entry)).slice(overflow);
    }
    for (const entry of [...this.unsent]) {
      try {
        await sink.merge(entry.batch);
      } catch (error) {
        logEvent("warn", "metrics flush failed; the batch is kept for the next one", {
          "error.type": errorType(error),
          "labels.unsent_batches": this.unsent.length,
        });
        return;
      }
      this.unsent = this.unsent.filter((other) => other !== entry);
    }
  }
}

/** The isolate's recorder, shared by everything that counts. */
export const prometheus = new MetricsRecorder();
