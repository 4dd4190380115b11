import { and, asc, count, eq, getTableColumns, isNotNull, isNull, lte, notExists, or } from "drizzle-orm";
import type { Circuit, Source } from "../domain/catalogue";
import type { Database } from "./client";
import { runIsActive } from "./runs";
import { ingestionRuns, rejectedRows, sources } from "./schema";

type NewSource = typeof sources.$inferInsert;

/** Every column but the sealed credential, which only the fetch that needs it reads. */
const { sealedCredential, ...sourceColumns } = getTableColumns(sources);

export { sourceColumns };

/** The source as the service sees it, with whether it holds a credential instead of the credential. */
const withoutCredential = ({ sealed, ...source }: Source & { sealed: string | null }) => ({
  ...source,
  hasCredential: sealed !== null,
});
const selectSource = { ...sourceColumns, sealed: sealedCredential };
type SourceChanges = Partial<Omit<NewSource, "id" | "kind" | "lastUpdated">>;

export async function listAllSources(db: Database): Promise<Source[]> {
  return (await db.select(selectSource).from(sources).orderBy(asc(sources.id))).map(withoutCredential);
}

export async function findSource(db: Database, id: string): Promise<Source | undefined> {
  const [row] = await db.select(selectSource).from(sources).where(eq(sources.id, id));
  return row && withoutCredential(row);
}

/** The sealed credential of a source, for the fetch that sends it; null when it has none. */
export async function findSealedCredential(db: Database, id: string): Promise<string | null> {
  const [row] = await db.select({ sealedCredential }).from(sources).where(eq(sources.id, id));
  return row?.sealedCredential ?? null;
}

/** Inserts the source unless its id is taken; undefined means it was. */
export async function insertSource(db: Database, source: NewSource): Promise<Source | undefined> {
  const [row] = await db.insert(sources).values(source).onConflictDoNothing().returning({ id: sources.id });
  return row && findSource(db, row.id);
}

export async function updateSource(
  db: Database,
  id: string,
  changes: SourceChanges,
): Promise<Source | undefined> {
  if (Object.keys(changes).length === 0) return findSource(db, id);
  const [row] = await db.update(sources).set(changes).where(eq(sources.id, id)).returning({ id: sources.id });
  return row && findSource(db, row.id);
}

/** Deletes the source; its summaries, observations and rejected rows go with it (ON DELETE CASCADE). */
export async function deleteSource(db: Database, id: string): Promise<boolean> {
  const deleted = await db.delete(sources).where(eq(sources.id, id)).returning({ id: sources.id });
  return deleted.length > 0;
}

/** Rejected rows of the source's latest completed run. */
export async function countRejectedRows(db: Database, sourceId: string): Promise<number> {
  const [row] = await db
    .select({ rejected: count() })
    .from(rejectedRows)
    .innerJoin(sources, and(eq(sources.id, rejectedRows.sourceId), eq(sources.lastRunId, rejectedRows.runId)))
    .where(eq(rejectedRows.sourceId, sourceId));
  return row?.rejected ?? 0;
}

/** Active sources with a url whose refresh is due at `nowIso`, and that have no run queued or running. */
export function sourcesDueForRefresh(db: Database, nowIso: string) {
  return db
    .select()
    .from(sources)
    .where(
      and(
        eq(sources.active, true),
        isNotNull(sources.url),
        isNotNull(sources.refreshIntervalMinutes),
        or(isNull(sources.nextRefreshAt), lte(sources.nextRefreshAt, nowIso)),
        notExists(
          db
            .select({ id: ingestionRuns.id })
            .from(ingestionRuns)
            .where(and(eq(ingestionRuns.sourceId, sources.id), runIsActive())),
        ),
      ),
    );
}

export async function setNextRefresh(db: Database, sourceId: string, nextRefreshAt: string): Promise<void> {
  await db.update(sources).set({ nextRefreshAt }).where(eq(sources.id, sourceId));
}

/** The source's circuit, and its last error when given; nothing else of the source. */
export async function saveSourceCircuit(
  db: Database,
  sourceId: string,
  { circuitState, consecutiveFailures, circuitOpenedAt }: Circuit,
  lastError?: string,
): Promise<void> {
  await db
    .update(sources)
    .set({
      circuitState,
      consecutiveFailures,
      circuitOpenedAt,
      ...(lastError === undefined ? {} : { lastError, lastErrorAt: new Date().toISOString() }),
    })
    .where(eq(sources.id, sourceId));
}
