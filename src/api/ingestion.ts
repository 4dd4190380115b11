import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../pipeline/app-env";
import { getRun, listRuns } from "../service/ingestion";
import { listDeadLetters } from "../service/recompute";
import { sourceIdKey } from "../service/requests";
import { integerParam, parseQuery } from "./validation";

const runsQuery = z.strictObject({
  sourceId: sourceIdKey.optional(),
  limit: integerParam("limit", 1, 100).default(20),
});

const deadLettersQuery = z.strictObject({
  limit: integerParam("limit", 1, 100).default(20),
});

// Runs change as they finish, so these are read per request rather than cached.
export const ingestionRoutes = new Hono<AppEnv>()
  .get("/runs", async (c) => {
    const { sourceId, limit } = parseQuery(c, runsQuery);
    return c.json(await listRuns(c.get("serviceContext"), sourceId, limit));
  })
  .get("/runs/:id", async (c) => c.json(await getRun(c.get("serviceContext"), c.req.param("id"))))
  .get("/dead-letters", async (c) => {
    const { limit } = parseQuery(c, deadLettersQuery);
    return c.json(await listDeadLetters(c.get("serviceContext"), limit));
  });
