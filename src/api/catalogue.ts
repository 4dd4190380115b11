import { Hono } from "hono";
import type { AppEnv } from "../app";
import { getCatalogue, listSources } from "../service/catalogue";
import { respondCached } from "./http-cache";

export const catalogueRoutes = new Hono<AppEnv>()
  .get("/metrics", (c) =>
    respondCached(c, "metrics", async () => ({ metrics: (await getCatalogue(c.var.services)).metrics })),
  )
  .get("/revenue-ranges", (c) =>
    respondCached(c, "revenue-ranges", async () => ({
      revenueRanges: (await getCatalogue(c.var.services)).revenueRanges,
    })),
  )
  // Freshness changes with the clock, not only with the data, so this one is computed per request.
  .get("/sources", async (c) => c.json({ sources: await listSources(c.var.services) }));
