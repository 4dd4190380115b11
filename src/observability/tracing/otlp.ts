import { BatchSchedule } from "../batching";
import { errorType, logEvent } from "../log";
import type { AttributeValue, FinishedSpan } from "./span";

/** Where spans go: an OTLP/HTTP receiver (a collector, or Jaeger's on port 4318). */
export interface OtlpTarget {
  /** The full traces url, such as http://collector:4318/v1/traces. */
  url: string;
  headers: Record<string, string>;
  serviceName: string;
}

/** Spans waiting to be sent; past this many the oldest are dropped rather than hold memory. */
const MAX_PENDING_SPANS = 4096;
const EXPORT_TIMEOUT_MS = 10_000;

function otlpValue(value: AttributeValue) {
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
}

const otlpAttributes = (attributes: Record<string, AttributeValue>) =>
  Object.entries(attributes).map(([key, value]) => ({ key, value: otlpValue(value) }));

const unixNanos = (ms: number) => (BigInt(Math.round(ms)) * 1_000_000n).toString();

/** An OTLP/HTTP JSON ExportTraceServiceRequest (ids in hex, times in nanoseconds as strings). */
function otlpTraceRequest(spans: FinishedSpan[], serviceName: string) {
  return {
    resourceSpans: [
      {
        resource: { attributes: otlpAttributes({ "service.name": serviceName }) },
        scopeSpans: [
          {
            scope: { name: "benchmark-service" },
            spans: spans.map((span) => ({
              traceId: span.traceId,
              spanId: span.spanId,
              ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
              name: span.name,
              kind: span.kind,
              startTimeUnixNano: unixNanos(span.startMs),
              endTimeUnixNano: unixNanos(span.endMs),
              attributes: otlpAttributes(
                span.errorType ? { ...span.attributes, "error.type": span.errorType } : span.attributes,
              ),
              // 2 is ERROR; unset otherwise, as OTel asks of instrumentation.
              status: span.errorType ? { code: 2 } : {},
            })),
          },
        ],
      },
    ],
  };
}

/**
 * One isolate's finished spans, sent as one OTLP request per flush interval. A failed export is
 * logged and dropped: traces are samples, and resending would only grow a backlog.
 */
class SpanExporter {
  private pending: FinishedSpan[] = [];
  private readonly schedule = new BatchSchedule();

  add(spans: FinishedSpan[]): void {
    this.pending.push(...spans);
    if (this.pending.length > MAX_PENDING_SPANS)
      this.pending.splice(0, this.pending.length - MAX_PENDING_SPANS);
  }

  flushSoon(target: OtlpTarget, delayMs: number, defer: (work: Promise<unknown>) => void): void {
    if (this.pending.length > 0) this.schedule.arm(() => this.send(target), delayMs, defer);
  }

  private async send(target: OtlpTarget): Promise<void> {
    if (this.pending.length === 0) return;
    const spans = this.pending;
    this.pending = [];
    try {
      const response = await fetch(target.url, {
        method: "POST",
        headers: { ...target.headers, "Content-Type": "application/json" },
        body: JSON.stringify(otlpTraceRequest(spans, target.serviceName)),
        signal: AbortSignal.timeout(EXPORT_TIMEOUT_MS),
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
    } catch (error) {
      logEvent("warn", "trace export failed; its spans are dropped", {
        "error.type": errorType(error),
        "labels.spans": spans.length,
      });
    }
  }
}

/** The isolate's exporter. */
export const spanExporter = new SpanExporter();
