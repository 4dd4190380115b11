import { Hono } from "hono";
import type { AppEnv } from "../pipeline/app-env";
import { metricRulesRequest } from "../service/requests";
import { getMetricRules, putMetricRules } from "../service/rules";
import { parseJsonBody } from "./validation";

/** Per-metric validation rules (admin), under /api/v1/metrics/:key/rules. */
export const ruleRoutes = new Hono<AppEnv>()
  .get("/:key/rules", async (c) => c.json(await getMetricRules(c.get("serviceContext"), c.req.param("key"))))
  .put("/:key/rules", async (c) => {
    const rules = await parseJsonBody(c, metricRulesRequest);
    return c.json(await putMetricRules(c.get("serviceContext"), c.req.param("key"), rules));
  });
