import { eq } from "drizzle-orm";
import type { Database } from "./client";
import { metricRules } from "./schema";

export type StoredRules = typeof metricRules.$inferSelect;

export async function findRules(db: Database, metricKey: string): Promise<StoredRules | undefined> {
  const [row] = await db.select().from(metricRules).where(eq(metricRules.metricKey, metricKey));
  return row;
}

export async function listRules(db: Database): Promise<StoredRules[]> {
  return db.select().from(metricRules);
}

/** Replaces the metric's rules as a whole: what the request leaves out reverts to the default. */
export async function replaceRules(db: Database, rules: StoredRules): Promise<StoredRules> {
  const { metricKey: _, ...values } = rules;
  const [row] = await db
    .insert(metricRules)
    .values(rules)
    .onConflictDoUpdate({ target: metricRules.metricKey, set: values })
    .returning();
  return row!;
}
