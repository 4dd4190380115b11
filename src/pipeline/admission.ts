import type { MiddlewareHandler } from "hono";
import { anonymousCaller, authenticate, authorize, identify } from "../auth/authenticate";
import { loadAuthSetup } from "../auth/config";
import type { Access, Principal } from "../auth/roles";
import { presentsScrapeToken } from "../auth/scrape-token";
import type { Env } from "../env";
import { admit } from "../ratelimit";
import { createServiceContext, type ServiceContext } from "../service/context";
import { METRICS_PATH, restAccess, rpcAccess, rpcMethodOf } from "./access";
import type { AppEnv } from "./app-env";
import { BOOKMARK_HEADER, requestedFreshness } from "./bookmark";

/*
 * The steps every request takes before its handler, REST and RPC alike, in one middleware and in
 * the same order: who calls, charged to its rate limit, allowed or not by what its route or
 * method needs (access.ts); then its service context. It runs before any body is read. A REST
 * refusal is thrown as the problem it is; an RPC refusal is handed to connect-es's request gate
 * (rpc/auth.ts), which throws it there, so that it is answered in the caller's protocol.
 */

export const admitRequest: MiddlewareHandler<AppEnv> = async (c, next) => {
  const { req } = c;
  const path = req.path;
  const rpcMethod = rpcMethodOf(path);
  // A Prometheus server may scrape with its own secret token instead of an admin's JWT.
  const scraper = path === METRICS_PATH && (await presentsScrapeToken(req.raw, c.env.METRICS_SCRAPE_TOKEN));
  const access = rpcMethod === undefined ? restAccess(req.method, path) : rpcAccess(rpcMethod);
  let rateLimit: Record<string, string>;
  let ctx: ServiceContext | undefined;
  try {
    const admission = await admitCaller(c.env, req.raw, access, scraper);
    rateLimit = admission.rateLimit;
    c.set("principal", admission.principal);
    // One service context per API request or RPC call, reading D1 as fresh as asked (a malformed
    // bookmark is refused). No RPC method writes: every call may read the nearest replica.
    if (rpcMethod !== undefined || path.startsWith("/api/")) {
      const writes = rpcMethod === undefined && req.method !== "GET" && access === "admin";
      ctx = openServiceContext(c.env, req.raw, admission.principal, writes, (work) =>
        c.executionCtx.waitUntil(work),
      );
      c.set("serviceContext", ctx);
    }
  } catch (error) {
    if (rpcMethod === undefined) throw error;
    c.set("refusal", error);
    return next();
  }
  await next();
  const headers = c.res.headers;
  for (const name in rateLimit) headers.set(name, rateLimit[name]!);
  const bookmark = ctx?.bookmark() ?? null;
  if (bookmark !== null) headers.set(BOOKMARK_HEADER, bookmark);
};

interface Admission {
  principal: Principal;
  /** The RateLimit headers the answer carries. */
  rateLimit: Record<string, string>;
}

/**
 * `scraper`: a Prometheus server presented the scrape token instead of a JWT; it is charged as an
 * anonymous caller and needs no role.
 */
async function admitCaller(env: Env, request: Request, access: Access, scraper = false): Promise<Admission> {
  const setup = loadAuthSetup(env);
  // A liveness probe must not fail on whatever credentials it forwards: public routes only
  // identify their caller, and paths with no route behind them are public too.
  const principal = scraper
    ? anonymousCaller(request)
    : access === "public"
      ? await identify(request, setup)
      : await authenticate(request, setup);
  // Charged before authorization, so a caller cannot probe routes it may not use for free.
  const rateLimit = await admit(env, principal);
  if (setup.ok && !scraper) authorize(principal, access, setup.config.anonymous);
  return { principal, rateLimit };
}

/** The admitted caller's service context; one that writes reads D1's primary (see bookmark.ts). */
function openServiceContext(
  env: Env,
  request: Request,
  principal: Principal,
  writes: boolean,
  defer: (work: Promise<unknown>) => void,
): ServiceContext {
  const ctx = createServiceContext(env, defer, requestedFreshness(request, writes));
  ctx.principal = principal;
  ctx.requestUrl = request.url;
  return ctx;
}
