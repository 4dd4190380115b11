import type { Context } from "hono";
import type { AppEnv } from "../pipeline/app-env";
import { disclosureFor } from "../service/disclosure";

interface CachedBody {
  body: string;
  etag: string;
}

async function strongEtag(body: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body));
  const hex = [...new Uint8Array(digest, 0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `"${hex}"`;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header === "*" || header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

/**
 * Serves a GET from the versioned cache: the serialized body and its ETag are stored together,
 * so a hit neither recomputes nor re-serializes, and If-None-Match can answer 304.
 */
export async function respondCached(
  c: Context<AppEnv>,
  key: string,
  produce: () => Promise<unknown>,
): Promise<Response> {
  // Who may see what differs (admins see figures below k): each view is cached apart.
  const ctx = c.get("serviceContext");
  const { audience } = disclosureFor(ctx);
  const { value, result } = await ctx.cache.getOrCompute<CachedBody>(`http:${audience}:${key}`, async () => {
    const body = JSON.stringify(await produce());
    return { body, etag: await strongEtag(body) };
  });
  const headers = {
    ETag: value.etag,
    // private: answers depend on who asks (roles, k-anonymity), so no shared cache may keep them.
    "Cache-Control": `private, max-age=${ctx.config.cacheMaxAgeSeconds}`,
    "X-Cache": result,
  };
  if (matchesEtag(c.req.header("If-None-Match"), value.etag)) return c.body(null, 304, headers);
  return c.body(value.body, 200, { ...headers, "Content-Type": "application/json" });
}
