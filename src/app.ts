import { Hono } from "hono";
import { benchmarkRoutes } from "./api/benchmarks";
import { catalogueRoutes } from "./api/catalogue";
import { handleError, handleNotFound } from "./api/problem";
import { VersionedCache } from "./cache/versioned-cache";
import { createDatabase } from "./db/client";
import { type Env, loadConfig } from "./env";
import type { ServiceContext } from "./service/context";

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

  app.use("/api/*", async (c, next) => {
    const config = loadConfig(c.env);
    const db = createDatabase(c.env.DB);
    const defer = (work: Promise<unknown>) => c.executionCtx.waitUntil(work);
    c.set("services", {
      db,
      config,
      cache: new VersionedCache(c.env.CACHE, db, config.dataVersionTtlMs, defer),
    });
    await next();
  });

  app.route("/api/v1/benchmarks", benchmarkRoutes);
  app.route("/api/v1", catalogueRoutes);
  return app;
}
