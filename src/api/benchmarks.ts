import { Hono } from "hono";
import { z } from "zod";
import { cacheKey } from "../cache/versioned-cache";
import { toProblem } from "../domain/errors";
import type { AppEnv } from "../pipeline/app-env";
import { getBenchmarks } from "../service/benchmarks";
import { rankValue } from "../service/ranking";
import { benchmarksRequest, rankingRequest, scorecardRequest, timeSeriesRequest } from "../service/requests";
import { scorecard } from "../service/scorecard";
import { getTimeSeries } from "../service/timeseries";
import { respondCached } from "./http-cache";
import { booleanParam, listParam, numberParam, parseJsonBody, parseQuery } from "./validation";

const benchmarksQuery = z
  .strictObject({
    metric: z.string(),
    revenueRange: z.string().optional(),
    arr: numberParam("arr").optional(),
    arrMin: numberParam("arrMin").optional(),
    arrMax: numberParam("arrMax").optional(),
    industry: z.string().optional(),
    period: z.string().optional(),
    sources: listParam.optional(),
    includeStatistics: booleanParam.optional(),
  })
  // A missing arrMin is left for the typed schema to report, hence the cast.
  .transform(
    ({ arrMin, arrMax, industry, ...rest }) =>
      ({
        ...rest,
        peers:
          arrMin === undefined && arrMax === undefined && industry === undefined
            ? undefined
            : { arrMin, arrMax, industry },
      }) as z.input<typeof benchmarksRequest>,
  )
  .pipe(benchmarksRequest);

const timeSeriesQuery = z
  .strictObject({
    metric: z.string(),
    revenueRange: z.string().optional(),
    arr: numberParam("arr").optional(),
    from: z.string().optional(),
    to: z.string().optional(),
    granularity: z.string().optional(),
    sources: listParam.optional(),
  })
  .pipe(timeSeriesRequest);

export const benchmarkRoutes = new Hono<AppEnv>()
  .get("/", (c) => {
    const query = parseQuery(c, benchmarksQuery);
    const { metric, revenueRange, arr, peerGroup, period, sources, includeStatistics } = query;
    const key = cacheKey("benchmarks", [
      metric,
      revenueRange ?? null,
      arr ?? null,
      peerGroup ?? null,
      period ?? null,
      sources ?? null,
      includeStatistics ?? false,
    ]);
    return respondCached(c, key, () => getBenchmarks(c.get("serviceContext"), query));
  })
  .get("/timeseries", (c) => {
    const query = parseQuery(c, timeSeriesQuery);
    const { metric, revenueRange, arr, from, to, granularity, sources } = query;
    const key = cacheKey("timeseries", [
      metric,
      revenueRange ?? null,
      arr ?? null,
      from ?? null,
      to ?? null,
      granularity,
      sources ?? null,
    ]);
    return respondCached(c, key, () => getTimeSeries(c.get("serviceContext"), query));
  })
  .post("/ranking", async (c) => {
    const body = await parseJsonBody(c, rankingRequest);
    return c.json(await rankValue(c.get("serviceContext"), body));
  })
  .post("/scorecard", async (c) => {
    const body = await parseJsonBody(c, scorecardRequest);
    const entries = await scorecard(c.get("serviceContext"), body);
    const instance = new URL(c.req.url).pathname;
    return c.json({
      arr: body.arr,
      results: entries.map((entry) =>
        "error" in entry ? { metric: entry.metric, error: toProblem(entry.error, instance) } : entry,
      ),
    });
  });
