import { desc } from "drizzle-orm";
import type { Database } from "./client";
import { deadLetters } from "./schema";

export type DeadLetter = Omit<typeof deadLetters.$inferInsert, "receivedAt">;

/** Keeps a message that exhausted its retries, once however often it is delivered. */
export async function keepDeadLetter(db: Database, letter: DeadLetter): Promise<void> {
  await db
    .insert(deadLetters)
    .values({ ...letter, receivedAt: new Date().toISOString() })
    .onConflictDoNothing();
}

/** Newest first. */
export function listDeadLetterRows(db: Database, limit: number) {
  return db.select().from(deadLetters).orderBy(desc(deadLetters.receivedAt)).limit(limit);
}
