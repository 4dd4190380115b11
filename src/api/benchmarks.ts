import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app";
import { getBenchmarks } from "../service/benchmarks";
import { rankValue } from "../service/ranking";
import { MAX_SCORECARD_METRICS, scorecard } from "../service/scorecard";
import { getTimeSeries } from "../service/timeseries";
import { respondCached } from "./http-cache";
import { toProblem } from "./problem";
import {
  arrParam,
  arrValue,
  booleanParam,
  industryKey,
  metricKey,
  metricValue,
  onePeerSelector,
  parseJsonBody,
  parseQuery,
  peersBody,
  periodParam,
  revenueRangeKey,
  sourcesList,
  sourcesParam,
  toPeerGroup,
} from "./validation";

const benchmarksQuery = z
  .strictObject({
    metric: metricKey,
    revenueRange: revenueRangeKey.optional(),
    arr: arrParam.optional(),
    arrMin: arrParam.optional(),
    arrMax: arrParam.optional(),
    industry: industryKey.optional(),
    period: periodParam.optional(),
    sources: sourcesParam.optional(),
    includeStatistics: booleanParam.optional(),
  })
  .superRefine(onePeerSelector("arrMin"))
  .transform(({ arrMin, arrMax, industry, ...rest }) => ({
    ...rest,
    peerGroup: arrMin === undefined ? undefined : toPeerGroup({ arrMin, arrMax, industry }),
  }));

const timeSeriesQuery = z
  .strictObject({
    metric: metricKey,
    revenueRange: revenueRangeKey.optional(),
    arr: arrParam.optional(),
    from: periodParam.optional(),
    to: periodParam.optional(),
    granularity: z.enum(["year", "quarter"]).default("year"),
    sources: sourcesParam.optional(),
  })
  .superRefine((value, ctx) => {
    if ((value.revenueRange === undefined) === (value.arr === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: ["revenueRange"],
        message: "give exactly one of revenueRange (a band key) or arr (a number)",
      });
    }
  });

const rankingBody = z
  .strictObject({
    metric: metricKey,
    value: metricValue,
    revenueRange: revenueRangeKey.optional(),
    arr: arrValue.optional(),
    peers: peersBody.optional(),
    period: periodParam.optional(),
    sources: sourcesList.optional(),
  })
  .superRefine(onePeerSelector("peers"))
  .transform(({ peers, ...rest }) => ({ ...rest, peerGroup: peers }));

const scorecardBody = z.strictObject({
  arr: arrValue,
  industry: industryKey.optional(),
  period: periodParam.optional(),
  // Values are checked per metric by the service, so one bad entry does not sink the others.
  values: z
    .record(z.string().max(64), z.unknown())
    .refine((values) => Object.keys(values).length > 0, "give at least one metric")
    .refine(
      (values) => Object.keys(values).length <= MAX_SCORECARD_METRICS,
      `at most ${MAX_SCORECARD_METRICS} metrics`,
    ),
});

export const benchmarkRoutes = new Hono<AppEnv>()
  .get("/", (c) => {
    const query = parseQuery(c, benchmarksQuery);
    return respondCached(c, `benchmarks:${JSON.stringify(query)}`, () =>
      getBenchmarks(c.var.services, query),
    );
  })
  .get("/timeseries", (c) => {
    const query = parseQuery(c, timeSeriesQuery);
    return respondCached(c, `timeseries:${JSON.stringify(query)}`, () =>
      getTimeSeries(c.var.services, query),
    );
  })
  .post("/ranking", async (c) => {
    const body = await parseJsonBody(c, rankingBody);
    return c.json(await rankValue(c.var.services, body));
  })
  .post("/scorecard", async (c) => {
    const body = await parseJsonBody(c, scorecardBody);
    const entries = await scorecard(c.var.services, body);
    const instance = new URL(c.req.url).pathname;
    return c.json({
      arr: body.arr,
      results: entries.map((entry) =>
        "error" in entry ? { metric: entry.metric, error: toProblem(entry.error, instance) } : entry,
      ),
    });
  });
