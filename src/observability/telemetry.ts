import type { Config, Env } from "../env";
import { prometheus } from "./prometheus/recorder";
import { type Invocation, startInvocation, traceContext } from "./tracing/context";
import { spanExporter } from "./tracing/otlp";
import { type Attributes, SpanKind, withSpan } from "./tracing/span";

/** The one aggregator every isolate flushes to and every scrape reads. */
export const aggregatorOf = (env: Pick<Env, "METRICS_AGGREGATOR">) =>
  env.METRICS_AGGREGATOR.getByName("global");

/** Starts an invocation: metrics on or off as configured, and a trace recorded when exported and sampled. */
export function beginInvocation(
  telemetry: Config["telemetry"],
  traceparent: string | undefined,
  name: string,
  kind: SpanKind,
  attributes: Attributes,
): Invocation {
  prometheus.enabled = telemetry.metrics;
  const trace = traceContext(traceparent, telemetry.traceSampleRatio);
  return startInvocation(trace, telemetry.traces !== undefined, name, kind, attributes);
}

/**
 * Ends an invocation: its root span, then its metrics and spans on their way, in batches
 * after the response (`defer` is waitUntil).
 */
export function endInvocation(
  env: Env,
  telemetry: Config["telemetry"],
  invocation: Invocation,
  defer: (work: Promise<unknown>) => void,
): void {
  invocation.root?.end();
  if (telemetry.metrics) prometheus.flushSoon(() => aggregatorOf(env), telemetry.flushIntervalMs, defer);
  const traces = telemetry.traces;
  if (traces && invocation.root) {
    spanExporter.add(invocation.spans);
    spanExporter.flushSoon(traces, telemetry.flushIntervalMs, defer);
    // Deferred work still running goes out with the isolate's next export.
    invocation.late = (span) => {
      spanExporter.add([span]);
      spanExporter.flushSoon(traces, telemetry.flushIntervalMs, defer);
    };
  }
}

/** Runs a queue batch or a cron tick as one traced, measured invocation. */
export async function observeBackgroundWork<T>(
  env: Env,
  telemetry: Config["telemetry"],
  execution: ExecutionContext,
  name: string,
  attributes: Attributes,
  work: () => Promise<T>,
): Promise<T> {
  const invocation = beginInvocation(telemetry, undefined, name, SpanKind.consumer, attributes);
  try {
    return invocation.root ? await withSpan(invocation.root, work) : await work();
  } catch (error) {
    invocation.root?.fail(error);
    throw error;
  } finally {
    endInvocation(env, telemetry, invocation, (work) => execution.waitUntil(work));
  }
}
