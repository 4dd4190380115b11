import { createContextKey, type Interceptor } from "@connectrpc/connect";
import { authenticate, authorize } from "../auth/authenticate";
import type { AuthSetup } from "../auth/config";
import type { Access } from "../auth/roles";
import type { Env } from "../env";
import { admit } from "../ratelimit";
import { servicesKey } from "./service";

/** What each method needs, as REST's routes do (src/api/access.ts); a method missing here needs admin. */
const METHOD_ACCESS: Record<string, Access | undefined> = {
  GetBenchmarkData: "read",
  GetTimeSeriesData: "read",
  CalculateRanking: "analyze",
  GetScorecard: "analyze",
  ListMetrics: "catalogue",
  ListRevenueRanges: "catalogue",
  ListSources: "admin",
};

export const methodAccess = (name: string): Access => METHOD_ACCESS[name] ?? "admin";

/** The HTTP request a call came in, and the auth settings to judge it by; set by the router. */
export const httpRequestKey = createContextKey<Request | undefined>(undefined, {
  description: "HTTP request",
});
export const authSetupKey = createContextKey<AuthSetup | undefined>(undefined, { description: "auth setup" });
export const envKey = createContextKey<Env | undefined>(undefined, { description: "Worker env" });

/**
 * The same checks REST makes, inside Connect, so that failures carry Connect codes
 * (unauthenticated, permission_denied, resource_exhausted, unavailable). The caller becomes the
 * service context's principal before the handler runs.
 */
export const authInterceptor: Interceptor = (next) => async (request) => {
  const setup = request.contextValues.get(authSetupKey)!;
  const principal = await authenticate(request.contextValues.get(httpRequestKey)!, setup);
  const rateLimit = await admit(request.contextValues.get(envKey)!, principal);
  if (setup.ok) authorize(principal, methodAccess(request.method.name), setup.config.anonymous);
  request.contextValues.get(servicesKey)!.principal = principal;
  const response = await next(request);
  for (const [name, value] of Object.entries(rateLimit)) response.header.set(name, value);
  return response;
};
