import { sql } from "drizzle-orm";
import { listAllSources } from "../db/sources";
import type { Source } from "../domain/catalogue";
import type { ServiceContext } from "./context";

interface Check {
  ok: boolean;
  latencyMs: number;
  error?: string;
}

export interface Readiness {
  status: "ready" | "unavailable";
  checks: { d1: Check; kv: Check };
  /** Seconds since each source last loaded rows; null when it never has. */
  sources: { id: string; active: boolean; lastUpdated: string | null; ageSeconds: number | null }[];
}

async function check(probe: () => Promise<unknown>): Promise<Check> {
  const started = Date.now();
  try {
    await probe();
    return { ok: true, latencyMs: Date.now() - started };
  } catch (error) {
    // The kind of failure only: a driver's message can carry a query or a binding's details.
    return {
      ok: false,
      latencyMs: Date.now() - started,
      error: error instanceof Error ? error.name : "Error",
    };
  }
}

/** Readiness: D1 and KV answer, and how fresh each source's data is. */
export async function readiness(ctx: ServiceContext, now = Date.now()): Promise<Readiness> {
  const [d1, kv] = await Promise.all([check(() => ctx.db.get(sql`SELECT 1`)), check(() => ctx.cache.ping())]);
  const sources = d1.ok
    ? (await sourceStates(ctx, now)).map(({ id, active, lastUpdated, ageSeconds }) => ({
        id,
        active,
        lastUpdated,
        ageSeconds,
      }))
    : [];
  return { status: d1.ok && kv.ok ? "ready" : "unavailable", checks: { d1, kv }, sources };
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
    ageSeconds: lastUpdated ? Math.max(0, Math.floor((now - Date.parse(lastUpdated)) / 1000)) : null,
    circuitState,
  }));
}
