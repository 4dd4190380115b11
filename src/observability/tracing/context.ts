import { type Attributes, type FinishedSpan, randomHex, Span, type SpanKind } from "./span";

/** W3C trace context: version 00, a 16-byte trace id, an 8-byte parent span id, flags. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

interface TraceContext {
  traceId: string;
  /** This invocation's own span, the parent of everything it does. */
  spanId: string;
  /** The caller's span, when a valid traceparent named one. */
  parentSpanId?: string;
  sampled: boolean;
}

/**
 * Continues the caller's trace when its traceparent is valid, otherwise starts one; the
 * invocation gets its own span. Traces are recorded with probability `sampleRatio`, and a
 * caller can only lower that: its unsampled trace stays unsampled, but marking it sampled does
 * not make a public caller's requests cost more than the operator chose.
 */
export function traceContext(traceparent: string | undefined, sampleRatio = 1): TraceContext {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim()) : null;
  const valid = match && !/^0+$/.test(match[1]!) && !/^0+$/.test(match[2]!);
  if (valid) {
    return {
      traceId: match[1]!,
      spanId: randomHex(8),
      parentSpanId: match[2]!,
      sampled: (Number.parseInt(match[3]!, 16) & 1) === 1 && sampled(sampleRatio),
    };
  }
  return { traceId: randomHex(16), spanId: randomHex(8), sampled: sampled(sampleRatio) };
}

const sampled = (ratio: number) => ratio >= 1 || Math.random() < ratio;

export const traceparentOf = (trace: TraceContext) =>
  `00-${trace.traceId}-${trace.spanId}-${trace.sampled ? "01" : "00"}`;

/**
 * An invocation's trace: its root span, when recorded, and the spans it has finished. Work it
 * deferred with waitUntil (a cache write, say) may finish spans after it has ended: those go to
 * `late`, which the invocation's end sets.
 */
export interface Invocation {
  trace: TraceContext;
  root: Span | undefined;
  spans: FinishedSpan[];
  late?: (span: FinishedSpan) => void;
}

/** Starts an invocation's trace; its root span is recorded only when sampled and `recording`. */
export function startInvocation(
  trace: TraceContext,
  recording: boolean,
  name: string,
  kind: SpanKind,
  attributes: Attributes,
): Invocation {
  const invocation: Invocation = { trace, root: undefined, spans: [] };
  const report = (span: FinishedSpan) =>
    invocation.late ? invocation.late(span) : invocation.spans.push(span);
  if (recording && trace.sampled) {
    invocation.root = new Span(
      trace.traceId,
      trace.spanId,
      name,
      kind,
      attributes,
      report,
      trace.parentSpanId,
    );
  }
  return invocation;
}
