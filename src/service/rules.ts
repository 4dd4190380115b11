import type { z } from "zod";
import { findRules, listRules, replaceRules, type StoredRules } from "../db/rules";
import {
  type Catalogue,
  DEFAULT_MIN_N,
  findMetric,
  type Metric,
  type MetricRules,
} from "../domain/catalogue";
import { type FieldViolation, invalidArgument, ServiceError } from "../domain/errors";
import { getCatalogue } from "./catalogue";
import type { ServiceContext } from "./context";
import type { metricRulesRequest } from "./requests";

function catalogueMetric(catalogue: Catalogue, key: string): Metric {
  const metric = findMetric(catalogue, key);
  if (!metric) throw new ServiceError("not_found", "no-such-metric", `No metric with key "${key}".`);
  return metric;
}

/** Stored rules over the defaults: the catalogue's valid range, every band, DEFAULT_MIN_N. */
function effectiveRules(catalogue: Catalogue, metric: Metric, stored: StoredRules | undefined) {
  const rules: MetricRules = {
    minValue: stored?.minValue ?? metric.minValue,
    maxValue: stored?.maxValue ?? metric.maxValue,
    allowedBands: stored?.allowedBands ?? catalogue.revenueRanges.map((r) => r.key),
    minN: stored?.minN ?? DEFAULT_MIN_N,
  };
  return { metric: metric.key, ...rules };
}

export async function getMetricRules(ctx: ServiceContext, key: string) {
  const catalogue = await getCatalogue(ctx);
  const metric = catalogueMetric(catalogue, key);
  return effectiveRules(catalogue, metric, await findRules(ctx.db, key));
}

/** Ingestion's view: every metric that has stored rules, with its defaults filled in. */
export async function rulesByMetric(ctx: ServiceContext): Promise<Map<string, MetricRules>> {
  const catalogue = await getCatalogue(ctx);
  const rules = new Map<string, MetricRules>();
  for (const stored of await listRules(ctx.db)) {
    const { metric: _, ...effective } = effectiveRules(
      catalogue,
      catalogueMetric(catalogue, stored.metricKey),
      stored,
    );
    rules.set(stored.metricKey, effective);
  }
  return rules;
}

function rulesViolations(
  catalogue: Catalogue,
  metric: Metric,
  request: z.output<typeof metricRulesRequest>,
): FieldViolation[] {
  const range = `[${metric.minValue}, ${metric.maxValue}]`;
  const violations: FieldViolation[] = [];
  for (const field of ["minValue", "maxValue"] as const) {
    const value = request[field];
    if (value !== undefined && (value < metric.minValue || value > metric.maxValue)) {
      violations.push({ field, message: `${field} must lie within ${metric.key}'s valid range ${range}` });
    }
  }
  if ((request.minValue ?? metric.minValue) >= (request.maxValue ?? metric.maxValue)) {
    violations.push({ field: "minValue", message: "minValue must be less than maxValue" });
  }
  const bands = catalogue.revenueRanges.map((r) => r.key);
  (request.allowedBands ?? []).forEach((band, i) => {
    if (!bands.includes(band)) {
      violations.push({
        field: `allowedBands.${i}`,
        message: `unknown band "${band}"; use one of ${bands.join(", ")}`,
      });
    }
  });
  return violations;
}

/** Replaces the metric's rules and moves the data version, since ingestion will apply them. */
export async function putMetricRules(
  ctx: ServiceContext,
  key: string,
  request: z.output<typeof metricRulesRequest>,
) {
  const catalogue = await getCatalogue(ctx);
  const metric = catalogueMetric(catalogue, key);
  const violations = rulesViolations(catalogue, metric, request);
  if (violations.length > 0) throw invalidArgument(violations);
  const stored = await replaceRules(ctx.db, {
    metricKey: key,
    minValue: request.minValue ?? null,
    maxValue: request.maxValue ?? null,
    allowedBands: request.allowedBands ?? null,
    minN: request.minN,
  });
  await ctx.cache.bumpDataVersion();
  return effectiveRules(catalogue, metric, stored);
}
