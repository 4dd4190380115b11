import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app";
import { getCatalogue, listRejections, listSources } from "../service/catalogue";
import { respondCached } from "./http-cache";
import { parseQuery } from "./validation";

const rejectionsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

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
  .get("/sources", async (c) => c.json({ sources: await listSources(c.var.services) }))
  .get("/sources/:id/rejections", async (c) => {
    const { limit } = parseQuery(c, rejectionsQuery);
    return c.json(await listRejections(c.var.services, c.req.param("id"), limit));
  });
