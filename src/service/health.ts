import { recomputeBacklog } from "../db/pending-cells";
import { pingDatabase } from "../db/queries";
import { listAllSources } from "../db/sources";
import { dataAgeSeconds, type Source } from "../domain/catalogue";
import type { ServiceContext } from "./context";

interface Check {
  ok: boolean;
  latencyMs: number;
  /** Only that it failed: a driver's message or an error's name can tell a caller about the deployment. */
  error?: "unreachable";
}

/** Recompute owed: cells whose summaries are stale or missing until the queue rebuilds them. */
export interface RecomputeState {
  pendingCells: number;
  /** Seconds the oldest owed cell has waited; null when none is owed. */
  oldestPendingSeconds: number | null;
}

export interface Readiness {
  /** degraded: serving, but recompute has been owed for longer than it should ever take. */
  status: "ready" | "degraded" | "unavailable";
  /** Why the status is not "ready". */
  reasons?: string[];
  checks: { d1: Check; kv: Check };
  /** Unknown (absent) when D1 does not answer. */
  recompute?: RecomputeState;
  /** For an admin: seconds since each source last loaded rows (null when it never has). */
  sources?: { id: string; active: boolean; lastUpdated: string | null; ageSeconds: number | null }[];
}

async function check(probe: () => Promise<unknown>): Promise<Check> {
  const started = Date.now();
  try {
    await probe();
    return { ok: true, latencyMs: Date.now() - started };
  } catch {
    return { ok: false, latencyMs: Date.now() - started, error: "unreachable" };
  }
}

/**
 * Readiness: D1 and KV answer, and how much recompute is owed; degraded (still serving) once the
 * oldest owed cell has waited past the configured age. The source ids and their freshness are an
 * admin's to see, since the list of sources is: anyone else learns the status and its reasons.
 */
export async function readiness(
  ctx: ServiceContext,
  detailed: boolean,
  now = Date.now(),
): Promise<Readiness> {
  const [d1, kv] = await Promise.all([check(() => pingDatabase(ctx.db)), check(() => ctx.cache.ping())]);
  const reasons = [...(d1.ok ? [] : ["D1 did not answer"]), ...(kv.ok ? [] : ["KV did not answer"])];
  const recompute = d1.ok ? await recomputeState(ctx, now) : undefined;
  const limit = ctx.config.recomputeDegradedAfterMs / 1000;
  const waited = recompute?.oldestPendingSeconds ?? null;
  if (waited !== null && waited > limit) {
    reasons.push(
      `${recompute!.pendingCells} cells have waited up to ${waited} s for a recompute (more than ${limit} s)`,
    );
  }
  const report: Readiness = {
    status: !d1.ok || !kv.ok ? "unavailable" : reasons.length > 0 ? "degraded" : "ready",
    ...(reasons.length > 0 ? { reasons } : {}),
    checks: { d1, kv },
    ...(recompute ? { recompute } : {}),
  };
  if (detailed) {
    report.sources = d1.ok
      ? (await sourceStates(ctx, now)).map(({ id, active, lastUpdated, ageSeconds }) => ({
          id,
          active,
          lastUpdated,
          ageSeconds,
        }))
      : [];
  }
  return report;
}

export interface SourceState {
  id: string;
  active: boolean;
  lastUpdated: string | null;
  /** Seconds since the source last loaded rows; null when it never has. */
  ageSeconds: number | null;
  circuitState: Source["circuitState"];
}

/** How much recompute is owed, for readiness and the metrics scrape. */
export async function recomputeState(ctx: ServiceContext, now = Date.now()): Promise<RecomputeState> {
  const { cells, oldestSince } = await recomputeBacklog(ctx.db);
  return { pendingCells: cells, oldestPendingSeconds: dataAgeSeconds(oldestSince, now) };
}

/** Each source's freshness and refresh circuit, for readiness and the metrics scrape. */
export async function sourceStates(ctx: ServiceContext, now = Date.now()): Promise<SourceState[]> {
  return (await listAllSources(ctx.db)).map(({ id, active, lastUpdated, circuitState }) => ({
    id,
    active,
    lastUpdated,
    ageSeconds: dataAgeSeconds(lastUpdated, now),
    circuitState,
  }));
}
