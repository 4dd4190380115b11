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

export interface Readiness {
  status: "ready" | "unavailable";
  checks: { d1: Check; kv: Check };
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
 * Readiness: D1 and KV answer. The source ids and their freshness are an admin's to see, since
 * the list of sources is: anyone else learns ready or not, and which dependency is down.
 */
export async function readiness(
  ctx: ServiceContext,
  detailed: boolean,
  now = Date.now(),
): Promise<Readiness> {
  const [d1, kv] = await Promise.all([check(() => pingDatabase(ctx.db)), check(() => ctx.cache.ping())]);
  const report: Readiness = { status: d1.ok && kv.ok ? "ready" : "unavailable", checks: { d1, kv } };
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
