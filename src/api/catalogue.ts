import { Hono } from "hono";
import { PEER_GROUP_BOUNDS } from "../domain/catalogue";
import type { AppEnv } from "../pipeline/app-env";
import { getCatalogue } from "../service/catalogue";
import { respondCached } from "./http-cache";

export const catalogueRoutes = new Hono<AppEnv>()
  .get("/metrics", (c) =>
    respondCached(c, "metrics", async () => ({
      metrics: (await getCatalogue(c.get("serviceContext"))).metrics,
    })),
  )
  .get("/revenue-ranges", (c) =>
    respondCached(c, "revenue-ranges", async () => ({
      revenueRanges: (await getCatalogue(c.get("serviceContext"))).revenueRanges,
      peerGroupBounds: PEER_GROUP_BOUNDS,
    })),
  );
