import { env } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { clearMemoryCache, VersionedCache } from "../../src/cache/versioned-cache";
import { createDatabase } from "../../src/db/client";
import { oweCellsStatement } from "../../src/db/pending-cells";
import { ingestionRuns, observations, rejectedRows, sources, summaries } from "../../src/db/schema";
import type { Cell } from "../../src/domain/catalogue";
import { parsePeriod } from "../../src/domain/periods";
import { withToken } from "./auth";

export const db = createDatabase(env.DB);

export type SourceRow = typeof sources.$inferInsert;
export type SummaryInput = Omit<typeof summaries.$inferInsert, "periodOrder">;
export type ObservationInput = typeof observations.$inferInsert;

/**
 * The peer-group units of every panel band whose observations match its summary, counted as the
 * migration that introduced them counts them: what recompute would have left for seeded rows.
 */
export async function countSeededUnits(): Promise<void> {
  const migration = env.TEST_MIGRATIONS.find((m) => m.name.startsWith("0011_"))!;
  await env.DB.batch([
    env.DB.prepare("DELETE FROM peer_group_units"),
    env.DB.prepare(migration.queries.find((query) => query.includes("INSERT INTO"))!),
  ]);
}

/**
 * Writes rows the way ingestion and recompute will (summaries as given, peer-group units counted
 * from them), then bumps the data version as every data change must.
 */
export async function seed(rows: {
  sources?: SourceRow[];
  summaries?: SummaryInput[];
  observations?: ObservationInput[];
}): Promise<void> {
  if (rows.sources?.length) await db.insert(sources).values(rows.sources);
  // D1 binds at most 100 parameters per statement.
  for (let i = 0; i < (rows.observations?.length ?? 0); i += 10) {
    await db.insert(observations).values(rows.observations!.slice(i, i + 10));
  }
  const summaryRows = (rows.summaries ?? []).map((s) => ({
    ...s,
    periodOrder: parsePeriod(s.period)!.order,
  }));
  for (let i = 0; i < summaryRows.length; i += 5)
    await db.insert(summaries).values(summaryRows.slice(i, i + 5));
  if (rows.observations?.length) await countSeededUnits();
  await new VersionedCache(
    env.CACHE,
    () => db,
    0,
    () => {},
  ).bumpDataVersion();
}

/**
 * Makes `cells` owed a recompute, as a run of `sourceId` that changed them leaves them in its
 * swap: what observations seeded straight into the table need before a recompute rebuilds them.
 */
export async function oweCells(sourceId: string, cells: Cell[]): Promise<void> {
  const runId = crypto.randomUUID();
  const at = new Date().toISOString();
  await db.insert(ingestionRuns).values({
    id: runId,
    sourceId,
    trigger: "upload",
    status: "succeeded",
    changedCells: cells.length,
    startedAt: at,
    finishedAt: at,
  });
  const owe = oweCellsStatement({ runId, cells, at, requeueAfter: at });
  await env.DB.prepare(owe.sql)
    .bind(...owe.values)
    .run();
}

/** A completed run of `sourceId` that rejected `rejections`: they become the source's rejections. */
export async function seedRejections(
  sourceId: string,
  rejections: { line: number; reason: string }[],
  at = "2026-03-01T00:00:00.000Z",
): Promise<void> {
  const runId = `${sourceId}-run`;
  await db.insert(ingestionRuns).values({
    id: runId,
    sourceId,
    trigger: "upload",
    status: "partially_succeeded",
    rejected: rejections.length,
    startedAt: at,
    finishedAt: at,
  });
  await db.update(sources).set({ lastRunId: runId }).where(eq(sources.id, sourceId));
  await db.insert(rejectedRows).values(rejections.map((r) => ({ ...r, sourceId, runId, rejectedAt: at })));
}

export { clearMemoryCache };

/**
 * A request to the Worker under test, through its real fetch handler, as an admin unless `init`
 * sets its own Authorization (test/auth covers who may do what).
 */
export async function call(path: string, init?: RequestInit): Promise<Response> {
  const { SELF } = await import("cloudflare:test");
  return SELF.fetch(`https://bench.test${path}`, await withToken(path, init));
}

/** A request with no credentials at all. */
export async function callAnonymously(path: string, init?: RequestInit): Promise<Response> {
  const { SELF } = await import("cloudflare:test");
  return SELF.fetch(`https://bench.test${path}`, init);
}

export function postJson(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return call(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}
