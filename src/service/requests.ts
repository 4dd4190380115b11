import { z } from "zod";
import { parsePeriod } from "../domain/periods";
import { MAX_SCORECARD_METRICS } from "./scorecard";

/**
 * The typed requests of each use case, validated the same way whichever adapter they came
 * through: REST turns query strings into these shapes first, RPC turns protobuf messages.
 */

/** The largest request body either adapter reads. */
export const MAX_BODY_BYTES = 64 * 1024;
const MAX_SOURCES = 20;

const key = (what: string) =>
  z
    .string({ error: `${what} is required` })
    .trim()
    .min(1, `${what} must not be empty`)
    .max(64, `${what} is too long`);

const finite = (what: string) => z.number({ error: `${what} must be a finite number` });

export const metricKey = key("metric");
export const revenueRangeKey = key("revenueRange");
export const industryKey = key("industry");
export const sourceIdKey = key("source id");
export const arrValue = finite("arr").min(0, "arr must be ≥ 0");
export const metricValue = finite("value");
export const period = z
  .string()
  .refine(
    (text) => parsePeriod(text) !== null,
    "period must be a year such as 2024 or a quarter such as 2024-Q3",
  );
export const sourcesList = z
  .array(sourceIdKey)
  .min(1, "sources must not be empty")
  .max(MAX_SOURCES, `at most ${MAX_SOURCES} sources`)
  .transform((ids) => [...new Set(ids)].sort());

/** A custom peer group: ARR in [arrMin, arrMax), optionally one industry. */
export const peerGroup = z
  .strictObject({ arrMin: arrValue, arrMax: arrValue.optional(), industry: industryKey.optional() })
  .superRefine((value, ctx) => {
    if (value.arrMax !== undefined && value.arrMax <= value.arrMin) {
      ctx.addIssue({ code: "custom", path: ["arrMax"], message: "arrMax must be greater than arrMin" });
    }
  })
  .transform((value) => ({
    arrMin: value.arrMin,
    arrMax: value.arrMax ?? null,
    industry: value.industry ?? null,
  }));

/** Exactly one of `fields` chooses the peers; the error is reported on the first. */
function exactlyOne<T extends Record<string, unknown>>(fields: (keyof T & string)[]) {
  return (value: T, ctx: z.RefinementCtx) => {
    if (fields.filter((field) => value[field] !== undefined).length !== 1) {
      ctx.addIssue({
        code: "custom",
        path: [fields[0]!],
        message: `give exactly one of ${fields.join(", ")}`,
      });
    }
  };
}

export const benchmarksRequest = z
  .strictObject({
    metric: metricKey,
    revenueRange: revenueRangeKey.optional(),
    arr: arrValue.optional(),
    peers: peerGroup.optional(),
    period: period.optional(),
    sources: sourcesList.optional(),
    includeStatistics: z.boolean().optional(),
  })
  .superRefine(exactlyOne(["revenueRange", "arr", "peers"]))
  .transform(({ peers, ...rest }) => ({ ...rest, peerGroup: peers }));

export const timeSeriesRequest = z
  .strictObject({
    metric: metricKey,
    revenueRange: revenueRangeKey.optional(),
    arr: arrValue.optional(),
    from: period.optional(),
    to: period.optional(),
    granularity: z.enum(["year", "quarter"]).default("year"),
    sources: sourcesList.optional(),
  })
  .superRefine(exactlyOne(["revenueRange", "arr"]));

export const rankingRequest = z
  .strictObject({
    metric: metricKey,
    value: metricValue,
    revenueRange: revenueRangeKey.optional(),
    arr: arrValue.optional(),
    peers: peerGroup.optional(),
    period: period.optional(),
    sources: sourcesList.optional(),
  })
  .superRefine(exactlyOne(["revenueRange", "arr", "peers"]))
  .transform(({ peers, ...rest }) => ({ ...rest, peerGroup: peers }));

export const scorecardRequest = z.strictObject({
  arr: arrValue,
  industry: industryKey.optional(),
  period: period.optional(),
  // Values are checked per metric by the service, so one bad entry does not sink the others.
  values: z
    .record(z.string().max(64), z.unknown())
    .refine((values) => Object.keys(values).length > 0, "give at least one metric")
    .refine(
      (values) => Object.keys(values).length <= MAX_SCORECARD_METRICS,
      `at most ${MAX_SCORECARD_METRICS} metrics`,
    ),
});
