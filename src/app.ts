import { Hono, type MiddlewareHandler } from "hono";
import { benchmarkRoutes } from "./api/benchmarks";
import { catalogueRoutes } from "./api/catalogue";
import { ingestionRoutes } from "./api/ingestion";
import { handleError, handleNotFound } from "./api/problem";
import { ruleRoutes } from "./api/rules";
import { sourceRoutes } from "./api/sources";
import type { Env } from "./env";
import { RPC_PATH_PREFIX, serveRpc } from "./rpc/router";
import { createServiceContext, type ServiceContext } from "./service/context";

export interface AppEnv {
  Bindings: Env;
  Variables: { services: ServiceContext };
}

export function createApp() {
  const app = new Hono<AppEnv>();
  app.onError(handleError);
  app.notFound(handleNotFound);

  // Liveness: cheap, and never touches D1 or KV.
  app.get("/health", (c) => c.json({ status: "ok" }));

  // One service context per request, for REST and RPC alike.
  const provideServices: MiddlewareHandler<AppEnv> = async (c, next) => {
    c.set(
      "services",
      createServiceContext(c.env, (work) => c.executionCtx.waitUntil(work)),
    );
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
