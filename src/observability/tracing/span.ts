import { AsyncLocalStorage } from "node:async_hooks";

export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue>;

/** OTLP's span kinds. */
export const SpanKind = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;
export type SpanKind = (typeof SpanKind)[keyof typeof SpanKind];

export interface FinishedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: SpanKind;
  startMs: number;
  endMs: number;
  attributes: Attributes;
  /** The error's type when the span failed; never its message, which may quote a query or a url. */
  errorType?: string;
}

/** The ASCII codes of each byte's two hex digits. */
const HEX_CODES = Array.from({ length: 256 }, (_, b) =>
  [...b.toString(16).padStart(2, "0")].map((d) => d.charCodeAt(0)),
);

/**
 * Random hex drawn ahead: every request draws a trace id and several span ids, sampled or not.
 * 4 KiB of random bytes become one string at a time, and an id is a slice of it, which V8 makes
 * without copying: one call to the system's generator and no garbage per id.
 */
const POOL_BYTES = 4096;
const randomBytes = new Uint8Array(POOL_BYTES);
const hexDigits = new Uint8Array(2 * POOL_BYTES);
const decoder = new TextDecoder();
let randomPool = "";
let poolUsed = 0;

/** Fresh random bytes as hex. */
export function randomHex(bytes: number): string {
  if (poolUsed + 2 * bytes > randomPool.length) {
    crypto.getRandomValues(randomBytes);
    for (let i = 0; i < POOL_BYTES; i++) {
      const [high, low] = HEX_CODES[randomBytes[i]!]!;
      hexDigits[2 * i] = high!;
      hexDigits[2 * i + 1] = low!;
    }
    randomPool = decoder.decode(hexDigits);
    poolUsed = 0;
  }
  poolUsed += 2 * bytes;
  return randomPool.slice(poolUsed - 2 * bytes, poolUsed);
}

/**
 * One unit of work in a trace. Workers only advance the clock at I/O, so a span of pure
 * computation may last 0 ms; the D1, KV and fetch spans around it carry the real time.
 */
export class Span {
  readonly startMs = Date.now();
  private ended = false;

  constructor(
    readonly traceId: string,
    readonly spanId: string,
    /** A server span is renamed once routing has found its route. */
    public name: string,
    readonly kind: SpanKind,
    readonly attributes: Attributes,
    /** Where a finished span goes: its invocation's list, or the exporter once that has ended. */
    private readonly report: (span: FinishedSpan) => void,
    readonly parentSpanId?: string,
    private errorType?: string,
  ) {}

  child(name: string, kind: SpanKind, attributes: Attributes): Span {
    return new Span(this.traceId, randomHex(8), name, kind, attributes, this.report, this.spanId);
  }

  set(name: string, value: AttributeValue | undefined): void {
    if (value !== undefined) this.attributes[name] = value;
  }

  fail(error: unknown): void {
    this.errorType =
      error instanceof Error ? ((error as { reason?: string }).reason ?? error.name) : typeof error;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.report({
      traceId: this.traceId,
      spanId: this.spanId,
      ...(this.parentSpanId ? { parentSpanId: this.parentSpanId } : {}),
      name: this.name,
      kind: this.kind,
      startMs: this.startMs,
      endMs: Date.now(),
      attributes: this.attributes,
      ...(this.errorType ? { errorType: this.errorType } : {}),
    });
  }
}

const active = new AsyncLocalStorage<Span>();

/** The span the running code is part of; undefined when this invocation is not traced. */
export const currentSpan = (): Span | undefined => active.getStore();

/** Runs `work` with `span` as the current span. */
export const withSpan = <T>(span: Span, work: () => T): T => active.run(span, work);

/**
 * Runs `work` in a child of the current span, ending it when `work` settles. Without a current
 * span (tracing off, or a trace not sampled) it runs `work` alone, at the cost of one lookup.
 */
export async function traced<T>(
  name: string,
  attributes: Attributes,
  work: (span: Span | undefined) => Promise<T>,
  kind: SpanKind = SpanKind.internal,
): Promise<T> {
  const parent = active.getStore();
  if (!parent) return work(undefined);
  const span = parent.child(name, kind, attributes);
  try {
    return await active.run(span, () => work(span));
  } catch (error) {
    span.fail(error);
    throw error;
  } finally {
    span.end();
  }
}

/** `traced` for synchronous work, such as a statistics computation. */
export function tracedSync<T>(name: string, attributes: Attributes, work: () => T): T {
  const parent = active.getStore();
  if (!parent) return work();
  const span = parent.child(name, SpanKind.internal, attributes);
  try {
    return active.run(span, work);
  } catch (error) {
    span.fail(error);
    throw error;
  } finally {
    span.end();
  }
}
