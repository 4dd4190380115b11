import { createHmac } from "node:crypto";

/**
 * What a panel's company key is stored as: HMAC-SHA256 under a secret, over the source and the
 * key, base64url, 22 characters. The same company in the same source always maps to the same
 * pseudonym, so re-uploads upsert onto its rows; without the secret the raw key cannot be
 * recovered or confirmed, and the same company in two sources cannot be linked. node:crypto,
 * because it is synchronous: a file of 100,000 rows takes milliseconds, not a promise per row.
 */
export function pseudonymize(secret: string, sourceId: string, companyKey: string): string {
  return createHmac("sha256", secret)
    .update(`${sourceId}\u0000${companyKey}`)
    .digest("base64url")
    .slice(0, 22);
}
