import { anonymousCaller, authenticate, authorize, identify } from "../auth/authenticate";
import { loadAuthSetup } from "../auth/config";
import type { Access, Principal } from "../auth/roles";
import type { Env } from "../env";
import { admit } from "../ratelimit";
import { createServiceContext, type ServiceContext } from "../service/context";
import { requestedFreshness } from "./bookmark";

/*
 * The steps every request takes before its handler, REST and RPC alike, in the same order: who
 * calls, charged to its rate limit, allowed or not; then its service context. RPC runs them in
 * connect-es's request gate, before the body is parsed, so its refusals carry Connect codes.
 */

interface Admission {
  principal: Principal;
  /** The RateLimit headers the answer carries. */
  rateLimit: Record<string, string>;
}

/**
 * `scraper`: a Prometheus server presented the scrape token instead of a JWT; it is charged as an
 * anonymous caller and needs no role.
 */
export async function admitCaller(
  env: Env,
  request: Request,
  access: Access,
  scraper = false,
): Promise<Admission> {
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
export function openServiceContext(
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
