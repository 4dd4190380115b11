import { Hono, type MiddlewareHandler } from "hono";
import { restAccess } from "./api/access";
import { benchmarkRoutes } from "./api/benchmarks";
import { catalogueRoutes } from "./api/catalogue";
import { ingestionRoutes } from "./api/ingestion";
import { handleError, handleNotFound } from "./api/problem";
import { ruleRoutes } from "./api/rules";
import { sourceRoutes } from "./api/sources";
import { anonymousCaller, authenticate, authorize } from "./auth/authenticate";
import { loadAuthSetup } from "./auth/config";
import type { Principal } from "./auth/roles";
import type { Env } from "./env";
import { admit } from "./ratelimit";
import { RPC_PATH_PREFIX, serveRpc } from "./rpc/router";
import { createServiceContext, type ServiceContext } from "./service/context";

export interface AppEnv {
  Bindings: Env;
  Variables: { services: ServiceContext; principal: Principal };
}

export function createApp() {
  const app = new Hono<AppEnv>();
  app.onError(handleError);
  app.notFound(handleNotFound);

  // Every REST request is authenticated and authorized first; RPC does the same in an interceptor,
  // so that its failures carry Connect codes.
  app.use("*", async (c, next) => {
    if (c.req.path.startsWith(RPC_PATH_PREFIX)) return next();
    const setup = loadAuthSetup(c.env);
    const access = restAccess(c.req.method, c.req.path);
    // A liveness probe must not fail on whatever credentials it forwards: public routes read none.
    const principal =
      access === "public" && setup.ok ? anonymousCaller(c.req.raw) : await authenticate(c.req.raw, setup);
    // Charged before authorization, so a caller cannot probe routes it may not use for free.
    const rateLimit = await admit(c.env, principal);
    if (setup.ok) authorize(principal, access, setup.config.anonymous);
    c.set("principal", principal);
    await next();
    for (const [name, value] of Object.entries(rateLimit)) c.res.headers.set(name, value);
  });

  // Liveness: cheap, and never touches D1 or KV.
  app.get("/health", (c) => c.json({ status: "ok" }));

  // One service context per request, for REST and RPC alike.
  const provideServices: MiddlewareHandler<AppEnv> = async (c, next) => {
    const services = createServiceContext(c.env, (work) => c.executionCtx.waitUntil(work));
    // REST callers are known by now; RPC's interceptor fills this in before any handler runs.
    services.principal = c.var.principal;
    c.set("services", services);
    await next();
  };
  app.use("/api/*", provideServices);
  app.use(`${RPC_PATH_PREFIX}*`, provideServices);

  app.route("/api/v1/benchmarks", benchmarkRoutes);
  app.route("/api/v1", catalogueRoutes);
  app.route("/api/v1/metrics", ruleRoutes);
  app.route("/api/v1/sources", sourceRoutes);
  app.route("/api/v1/ingestion", ingestionRoutes);
  // No body-reading middleware may run before this: Connect reads the body itself.
  app.all(`${RPC_PATH_PREFIX}*`, serveRpc);
  return app;
}
