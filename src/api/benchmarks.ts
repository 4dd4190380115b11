import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app";
import { getBenchmarks } from "../service/benchmarks";
import { rankValue } from "../service/ranking";
import { respondCached } from "./http-cache";
import {
  arrParam,
  arrValue,
  booleanParam,
  metricKey,
  metricValue,
  oneBandSelector,
  parseJsonBody,
  parseQuery,
  periodParam,
  revenueRangeKey,
  sourcesList,
  sourcesParam,
} from "./validation";

const benchmarksQuery = z
  .strictObject({
    metric: metricKey,
    revenueRange: revenueRangeKey.optional(),
    arr: arrParam.optional(),
    period: periodParam.optional(),
    sources: sourcesParam.optional(),
    includeStatistics: booleanParam.optional(),
  })
  .superRefine(oneBandSelector);

const rankingBody = z
  .strictObject({
    metric: metricKey,
    value: metricValue,
    revenueRange: revenueRangeKey.optional(),
    arr: arrValue.optional(),
    period: periodParam.optional(),
    sources: sourcesList.optional(),
  })
  .superRefine(oneBandSelector);

export const benchmarkRoutes = new Hono<AppEnv>()
  .get("/", (c) => {
    const query = parseQuery(c, benchmarksQuery);
    return respondCached(c, `benchmarks:${JSON.stringify(query)}`, () =>
      getBenchmarks(c.var.services, query),
    );
  })
  .post("/ranking", async (c) => {
    const body = await parseJsonBody(c, rankingBody);
    return c.json(await rankValue(c.var.services, body));
  });
