import { and, asc, count, eq } from "drizzle-orm";
import type { Source } from "../domain/catalogue";
import type { Database } from "./client";
import { rejectedRows, sources } from "./schema";

export type NewSource = typeof sources.$inferInsert;
export type SourceChanges = Partial<Omit<NewSource, "id" | "kind" | "lastUpdated">>;

export async function listAllSources(db: Database): Promise<Source[]> {
  return db.select().from(sources).orderBy(asc(sources.id));
}

export async function findSource(db: Database, id: string): Promise<Source | undefined> {
  const [row] = await db.select().from(sources).where(eq(sources.id, id));
  return row;
}

/** Inserts the source unless its id is taken; undefined means it was. */
export async function insertSource(db: Database, source: NewSource): Promise<Source | undefined> {
  const [row] = await db.insert(sources).values(source).onConflictDoNothing().returning();
  return row;
}

export async function updateSource(
  db: Database,
  id: string,
  changes: SourceChanges,
): Promise<Source | undefined> {
  if (Object.keys(changes).length === 0) return findSource(db, id);
  const [row] = await db.update(sources).set(changes).where(eq(sources.id, id)).returning();
  return row;
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
