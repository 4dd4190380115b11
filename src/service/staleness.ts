import type { OwedCell } from "../db/pending-cells";
import { ServiceError } from "../domain/errors";
import { parsePeriod } from "../domain/periods";

/*
 * Answers while a recompute is owed (db/pending-cells.ts). A cell whose summaries a load made
 * stale is served as it was, marked stale with the data version it was current for; data on its
 * way that has no earlier answer is 503 recompute-pending, never 404: it exists, just not yet.
 */

/** An answer served from before a load whose recompute is still owed. */
export interface Staleness {
  stale: true;
  /** The data version the answer was current for. */
  dataVersion: string;
}

/** The owed cells rebuild fast, a few seconds a batch; a sweep resends any lost within a lease. */
const RETRY_AFTER_SECONDS = 5;

export const recomputePending = (what: string) =>
  new ServiceError(
    "unavailable",
    "recompute-pending",
    `${what} is being recomputed after a load and has no earlier answer to serve; retry in ${RETRY_AFTER_SECONDS} s.`,
    [],
    { "Retry-After": String(RETRY_AFTER_SECONDS) },
  );

/**
 * The owed cells an answer for `answered` depends on: those of that period, and, when the caller
 * asked for the latest period, any newer one, whose answer would replace it once rebuilt.
 */
export function owedFor(owed: readonly OwedCell[], asked: string | undefined, answered: string | undefined) {
  if (asked !== undefined) return owed.filter((cell) => cell.period === asked);
  if (answered === undefined) return [...owed];
  const order = parsePeriod(answered)!.order;
  return owed.filter((cell) => (parsePeriod(cell.period)?.order ?? 0) >= order);
}

/** How stale an answer that reads `owed` cells is: as of the oldest version any of them was current for. */
export function stalenessOf(owed: readonly OwedCell[]): Staleness | undefined {
  if (owed.length === 0) return undefined;
  const oldest = Math.min(...owed.map((cell) => Number(cell.dataVersion)));
  return { stale: true, dataVersion: String(oldest) };
}
