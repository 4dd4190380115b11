import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";

/** What a Database runs on: the binding itself, or one of its sessions (see src/service/context.ts). */
export type D1Client = Pick<D1Database, "prepare" | "batch">;

export type Database = DrizzleD1Database & { $client: D1Client };

/**
 * Only drizzle's query builder is used, never `db.query`, so no schema is passed: without one,
 * building a Database is a few objects rather than a walk over every table.
 */
export function createDatabase(client: D1Client): Database {
  // drizzle calls nothing but prepare and batch, which a D1 session has as well.
  return drizzle(client as D1Database) as Database;
}
