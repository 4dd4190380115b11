import type { Context } from "hono";
import { isAdmin } from "../auth/roles";
import { errorType, logEvent } from "../observability/log";
import { prometheus } from "../observability/prometheus/recorder";
import {
  EXPOSITION_CONTENT_TYPE,
  type GaugeSeries,
  renderExposition,
} from "../observability/prometheus/series";
import { aggregatorOf } from "../observability/telemetry";
import type { AppEnv } from "../pipeline/app-env";
import { createServiceContext } from "../service/context";
import { readiness, type SourceState, sourceStates } from "../service/health";

/*
 * The routes operators and their probes call: liveness, readiness and the Prometheus scrape.
 * They read D1 through its nearest replica.
 */

/** Liveness: cheap, and never touches D1 or KV. */
export const liveness = (c: Context<AppEnv>) => c.json({ status: "ok" });

/** These routes' service context: they only read, and any replica will do. */
const readingContext = (c: Context<AppEnv>) =>
  createServiceContext(c.env, (work) => c.executionCtx.waitUntil(work), "first-unconstrained");

/** Readiness: D1 and KV answer; 503 when either does not. Each source's freshness for an admin only. */
export async function serveReadiness(c: Context<AppEnv>): Promise<Response> {
  const ctx = readingContext(c);
  const report = await readiness(ctx, isAdmin(c.get("principal")));
  return c.json(report, report.status === "ready" ? 200 : 503);
}

const CIRCUIT_VALUE: Record<SourceState["circuitState"], number> = { closed: 0, half_open: 1, open: 2 };

/** The per-source gauges, read from D1 as they are now: states are not counted, they are looked up. */
function sourceGauges(states: SourceState[]): GaugeSeries[] {
  return states.flatMap((state) => [
    { name: "source_circuit_state", labels: [state.id], value: CIRCUIT_VALUE[state.circuitState] },
    ...(state.ageSeconds === null
      ? []
      : [{ name: "data_age_seconds" as const, labels: [state.id], value: state.ageSeconds }]),
  ]);
}

/**
 * GET /metrics: the aggregator's totals over every isolate, after this isolate's own unsent
 * deltas, and the per-source gauges from D1. Other isolates' last second or so (one flush
 * interval) arrives with their next flush.
 */
export async function serveMetrics(c: Context<AppEnv>): Promise<Response> {
  const aggregator = aggregatorOf(c.env);
  await prometheus.flushNow(aggregator);
  const ctx = readingContext(c);
  // With D1 down the counters still matter most: the scrape goes on without the gauges.
  const states = sourceStates(ctx).catch((error: unknown) => {
    logEvent("warn", "metrics scrape without source gauges: D1 did not answer", {
      "error.type": errorType(error),
    });
    return [];
  });
  const [snapshot, sources] = await Promise.all([aggregator.snapshot(), states]);
  return c.body(renderExposition(snapshot, sourceGauges(sources)), 200, {
    "Content-Type": EXPOSITION_CONTENT_TYPE,
    "Cache-Control": "no-store",
  });
}
