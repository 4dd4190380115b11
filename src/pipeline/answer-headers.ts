import type { Context, MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { loadConfig } from "../env";
import type { AppEnv } from "./app-env";

/**
 * Every answer's security headers. Answers are JSON, never a page: nothing may load, run or frame
 * them. CORP binds only no-cors loads (<script>, <img>); CORS fetches from allowed origins pass
 * whatever it says, so the strictest value costs the allow-list nothing. Headers that govern only
 * HTML documents (opener, agent clusters, DNS prefetch, IE downloads, Flash policies, the XSS
 * auditor) are left out: no answer is one, and each header costs every answer its bytes.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Referrer-Policy": "no-referrer",
  "Strict-Transport-Security": "max-age=15552000; includeSubDomains",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
};

interface CrossOriginOptions {
  /** Paths under these prefixes answer browser scripts from the configured origins. */
  pathPrefixes: string[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAge: number;
}

const allowedOrigin = (origin: string, c: Context<AppEnv>) =>
  loadConfig(c.env).corsOrigins.includes(origin) ? origin : null;

/**
 * The headers every answer carries, whatever answers it (routes, errors, 404s, RPC): the security
 * headers, and CORS for the configured origins on the paths that serve them. Hono's cors answers
 * preflights, before authentication: a preflight carries no token, and must neither need one nor
 * spend the caller's rate limit. On any other request the headers are written once the answer
 * exists, in one step, because headers written before the handler runs make Hono build a
 * placeholder response to hold them and copy them into the real one. Nothing here allocates
 * per request that need not: it runs on every request.
 */
export function answerHeaders(options: CrossOriginOptions): MiddlewareHandler<AppEnv> {
  const preflight = cors({ ...options, origin: allowedOrigin });
  const exposed = options.exposeHeaders.join(",");
  return async (c, next) => {
    const path = c.req.path;
    let crossOrigin = false;
    for (const prefix of options.pathPrefixes) crossOrigin ||= path.startsWith(prefix);
    if (crossOrigin && c.req.method === "OPTIONS") {
      const answer = await preflight(c, next);
      if (answer) c.res = answer;
    } else if (crossOrigin) {
      // Decided first: a malformed CORS_ORIGINS fails the request before it does anything.
      const origin = allowedOrigin(c.req.header("Origin") ?? "", c);
      await next();
      const headers = c.res.headers;
      if (origin !== null) {
        headers.set("Access-Control-Allow-Origin", origin);
        headers.set("Access-Control-Expose-Headers", exposed);
      }
      headers.append("Vary", "Origin");
    } else {
      await next();
    }
    const headers = c.res.headers;
    for (const name in SECURITY_HEADERS) headers.set(name, SECURITY_HEADERS[name]!);
  };
}
