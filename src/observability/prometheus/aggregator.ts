import { DurableObject } from "cloudflare:workers";
import { HISTOGRAMS } from "./families";
import {
  addHistogram,
  type CounterSeries,
  type HistogramSeries,
  type MetricsBatch,
  type MetricsSnapshot,
  seriesKey,
} from "./series";

/** A batch id is remembered this long: an isolate retries an unanswered flush within seconds. */
const BATCH_MEMORY_MS = 10 * 60_000;

/**
 * The service's counters and histograms, added up across every isolate. Isolates share no
 * memory: each flushes what it recorded here in batches (see recorder.ts), and GET /metrics
 * reads the totals back. Totals live in this object's SQLite storage, so they survive its
 * eviction and a deploy, and only ever grow, as Prometheus counters must.
 *
 * A batch is applied in one synchronous transaction together with its id, so one sent twice
 * (a flush whose answer was lost, then retried) counts once.
 */
export class MetricsAggregator extends DurableObject {
  private ready = false;

  /** Adds one isolate's batch; answers whether it was new. */
  merge(batch: MetricsBatch): boolean {
    const sql = this.sql();
    return this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      const seen = sql.exec("SELECT 1 FROM applied_batches WHERE id = ?", batch.id).toArray().length > 0;
      if (seen) return false;
      sql.exec("INSERT INTO applied_batches (id, applied_at) VALUES (?, ?)", batch.id, now);
      sql.exec("DELETE FROM applied_batches WHERE applied_at < ?", now - BATCH_MEMORY_MS);
      for (const series of batch.counters) {
        sql.exec(
          "INSERT INTO counters (key, name, labels, value) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
          seriesKey(series.name, series.labels),
          series.name,
          JSON.stringify(series.labels),
          series.value,
        );
      }
      for (const series of batch.histograms) this.addHistogram(series);
      return true;
    });
  }

  snapshot(): MetricsSnapshot {
    const sql = this.sql();
    const counters = sql
      .exec<{ name: string; labels: string; value: number }>("SELECT name, labels, value FROM counters")
      .toArray()
      .map((row) => ({ name: row.name, labels: JSON.parse(row.labels), value: row.value }) as CounterSeries);
    const histograms = sql
      .exec<{ name: string; labels: string; counts: string; sum: number }>(
        "SELECT name, labels, counts, sum FROM histograms",
      )
      .toArray()
      .map(
        (row) =>
          ({
            name: row.name,
            labels: JSON.parse(row.labels),
            counts: JSON.parse(row.counts),
            sum: row.sum,
          }) as HistogramSeries,
      );
    return { counters, histograms };
  }

  private addHistogram(series: HistogramSeries): void {
    // A batch from an isolate running other families or bucket bounds (mid-deploy) cannot be
    // added bucket by bucket; the rest of its batch still counts.
    const family = HISTOGRAMS[series.name] as (typeof HISTOGRAMS)[typeof series.name] | undefined;
    if (!family || series.counts.length !== family.buckets.length + 1) return;
    const sql = this.sql();
    const key = seriesKey(series.name, series.labels);
    const row = sql
      .exec<{ counts: string; sum: number }>("SELECT counts, sum FROM histograms WHERE key = ?", key)
      .toArray()[0];
    const total: HistogramSeries = row
      ? { ...series, counts: JSON.parse(row.counts), sum: row.sum }
      : { ...series, counts: series.counts.map(() => 0), sum: 0 };
    addHistogram(total, series);
    sql.exec(
      "INSERT INTO histograms (key, name, labels, counts, sum) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET counts = excluded.counts, sum = excluded.sum",
      key,
      series.name,
      JSON.stringify(series.labels),
      JSON.stringify(total.counts),
      total.sum,
    );
  }

  private sql(): SqlStorage {
    const sql = this.ctx.storage.sql;
    if (!this.ready) {
      sql.exec(`
        CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL);
        CREATE TABLE IF NOT EXISTS histograms (key TEXT PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL, counts TEXT NOT NULL, sum REAL NOT NULL);
        CREATE TABLE IF NOT EXISTS applied_batches (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS applied_batches_by_time ON applied_batches (applied_at);
      `);
      this.ready = true;
    }
    return sql;
  }
}
