import { invalidArgument } from "../domain/errors";
import type { Freshness } from "../service/context";

/**
 * The D1 bookmark a response carries after its request ran a query, and a later request may send
 * back to read data at least that fresh: how an admin sees their own write on a read replica.
 */
export const BOOKMARK_HEADER = "X-D1-Bookmark";

/** D1's bookmarks: three 8-digit hex counters and a 32-digit hex hash. */
const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/;

/**
 * A request with a bookmark reads at least that fresh; one that writes reads the primary, so that
 * what it checks before writing is current; any other may read the nearest replica.
 */
export function requestedFreshness(request: Request, writes: boolean): Freshness {
  const bookmark = request.headers.get(BOOKMARK_HEADER);
  if (bookmark === null) return writes ? "first-primary" : "first-unconstrained";
  if (!BOOKMARK.test(bookmark)) {
    throw invalidArgument([
      {
        // Lower case, as HTTP/2 spells header names, and as RPC's field names are spelled too.
        field: BOOKMARK_HEADER.toLowerCase(),
        message: "must be a bookmark exactly as an earlier response's X-D1-Bookmark header gave it",
      },
    ]);
  }
  return { bookmark };
}
