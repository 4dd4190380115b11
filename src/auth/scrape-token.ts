const digest = async (text: string) => crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));

/**
 * Whether the request carries the metrics scrape token (METRICS_SCRAPE_TOKEN) as its bearer:
 * a shared secret for a Prometheus server, which holds no JWT. Compared in constant time, over
 * digests so that the lengths match too. Without a configured token nothing matches.
 */
export async function presentsScrapeToken(
  request: Request,
  scrapeToken: string | undefined,
): Promise<boolean> {
  if (!scrapeToken) return false;
  const presented = /^Bearer (\S+)$/i.exec(request.headers.get("Authorization")?.trim() ?? "")?.[1];
  if (presented === undefined) return false;
  const [expected, actual] = await Promise.all([digest(scrapeToken), digest(presented)]);
  return crypto.subtle.timingSafeEqual(expected, actual);
}
