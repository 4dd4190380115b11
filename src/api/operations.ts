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
import {
  type RecomputeState,
  readiness,
  recomputeState,
  type SourceState,
  sourceStates,
} from "../service/health";

/*
 * The routes operators and their probes call: liveness, readiness and the Prometheus scrape.
 * They read D1 through its nearest replica.
 */

/** Liveness: cheap, and never touches D1 or KV. */
export const liveness = (c: Context<AppEnv>) => c.json({ status: "ok" });

/** These routes' service context: they only read, and any replica will do. */
const readingContext = (c: Context<AppEnv>) =>
  createServiceContext(c.env, (work) => c.executionCtx.waitUntil(work), "first-unconstrained");

/**
 * Readiness: 503 when D1 or KV does not answer; 200 when ready, and when degraded, which still
 * serves. Each source's freshness for an admin only.
 */
export async function serveReadiness(c: Context<AppEnv>): Promise<Response> {
  const ctx = readingContext(c);
  const report = await readiness(ctx, isAdmin(c.get("principal")));
  return c.json(report, report.status === "unavailable" ? 503 : 200);
}

const CIRCUIT_VALUE: Record<SourceState["circuitState"], number> = { closed: 0, half_open: 1, open: 2 };

/** The gauges, read from D1 as they are now: states are not counted, they are looked up. */
function stateGauges(states: SourceState[], recompute: RecomputeState | null): GaugeSeries[] {
  const owed: GaugeSeries[] = recompute
    ? [
        { name: "recompute_pending_cells", labels: [], value: recompute.pendingCells },
        { name: "recompute_oldest_pending_seconds", labels: [], value: recompute.oldestPendingSeconds ?? 0 },
      ]
    : [];
  return owed.concat(
    states.flatMap((state) => [
      { name: "source_circuit_state", labels: [state.id], value: CIRCUIT_VALUE[state.circuitState] },
      ...(state.ageSeconds === null
        ? []
        : [{ name: "data_age_seconds" as const, labels: [state.id], value: state.ageSeconds }]),
    ]),
  );
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
  const gauges = Promise.all([sourceStates(ctx), recomputeState(ctx)]).catch((error: unknown) => {
    logEvent("warn", "metrics scrape without D1 gauges: D1 did not answer", {
      "error.type": errorType(error),
    });
    return [[] as SourceState[], null] as const;
  });
  const [snapshot, [sources, recompute]] = await Promise.all([aggregator.snapshot(), gauges]);
  return c.body(renderExposition(snapshot, stateGauges(sources, recompute)), 200, {
    "Content-Type": EXPOSITION_CONTENT_TYPE,
    "Cache-Control": "no-store",
  });
}
