import { z } from "zod";
import { DEFAULT_MIN_N, PEER_GROUP_BOUNDS, SOURCE_FIELDS } from "../domain/catalogue";
import { invalidArgument, type ServiceError } from "../domain/errors";
import {
  FORBIDDEN_KEYS,
  hasUnsafeCharacters,
  MAX_ARR,
  MAX_SURVEY_N,
  SOURCE_ID_PATTERN,
} from "../domain/inputs";
import { parsePeriod } from "../domain/periods";
import { MAX_SCORECARD_METRICS } from "./scorecard";

/**
 * A schema's failure as the service's invalid_argument, one violation per issue, for REST and RPC
 * alike. `name` says which field an issue's path is; an issue about the whole input names `root`.
 */
export function invalidRequest(
  error: z.ZodError,
  root: string,
  name: (path: PropertyKey[]) => string = (path) => path.join("."),
): ServiceError {
  return invalidArgument(
    error.issues.map((issue) => ({
      field: issue.path.length > 0 ? name(issue.path) : root,
      message: issue.message,
    })),
  );
}

/**
 * The typed requests of each use case, validated the same way whichever adapter they came
 * through: REST turns query strings into these shapes first, RPC turns protobuf messages.
 */

/** The largest request body either adapter reads. */
export const MAX_BODY_BYTES = 64 * 1024;
/** The largest file an operator may upload to a source. */
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;
const MAX_SOURCES = 20;

/** Printable text only: see domain/inputs.ts for what is refused and why. */
const printable = (what: string) =>
  [
    (text: string) => !hasUnsafeCharacters(text),
    { error: `${what} must not contain control or bidi characters` },
  ] as const;

const key = (what: string) =>
  z
    .string({ error: `${what} is required` })
    .trim()
    .min(1, `${what} must not be empty`)
    .max(64, `${what} is too long`)
    .refine(...printable(what));

const finite = (what: string) => z.number({ error: `${what} must be a finite number` });

export const metricKey = key("metric");
const revenueRangeKey = key("revenueRange");
const industryKey = key("industry");
const SOURCE_ID_RULE = "must be 2–63 characters of a–z, 0–9 and -, starting with a letter or a digit";
export const sourceIdKey = z
  .string({ error: "source id is required" })
  .regex(SOURCE_ID_PATTERN, `a source id ${SOURCE_ID_RULE}`);
const arrValue = finite("arr")
  .min(0, "arr must be ≥ 0")
  .max(MAX_ARR, `arr must be at most ${MAX_ARR} (a trillion)`);
const metricValue = finite("value");
export const period = z
  .string()
  .refine(
    (text) => parsePeriod(text) !== null,
    "period must be a year such as 2024 or a quarter such as 2024-Q3",
  );
const sourcesList = z
  .array(sourceIdKey)
  .min(1, "sources must not be empty")
  .max(MAX_SOURCES, `at most ${MAX_SOURCES} sources`)
  .transform((ids) => [...new Set(ids)].sort());

/** An ARR bound of a custom peer group: a point of the grid that service/disclosure.ts relies on. */
const peerGroupBound = (what: string) =>
  arrValue.refine((arr) => PEER_GROUP_BOUNDS.includes(arr), {
    error: (issue) => {
      const above = PEER_GROUP_BOUNDS.findIndex((bound) => bound > (issue.input as number));
      const nearest =
        above > 0 ? `the nearest are ${PEER_GROUP_BOUNDS[above - 1]} and ${PEER_GROUP_BOUNDS[above]}` : "";
      return `${what} must be a point of the peer-group grid (0, then 1, 2, 3 and 5 times a power of ten from 100000)${nearest && `: ${nearest}`}`;
    },
  });

/** A custom peer group: ARR in [arrMin, arrMax), optionally one industry. */
export const peerGroup = z
  .strictObject({
    arrMin: peerGroupBound("arrMin"),
    arrMax: peerGroupBound("arrMax").optional(),
    industry: industryKey.optional(),
  })
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
    // REST refuses these keys as it parses the body; a protobuf map reaches this schema with them.
    .refine((values) => !Object.keys(values).some((name) => FORBIDDEN_KEYS.has(name)), {
      error: "values must not use the keys __proto__, constructor or prototype",
    })
    .refine((values) => Object.keys(values).length > 0, "give at least one metric")
    .refine(
      (values) => Object.keys(values).length <= MAX_SCORECARD_METRICS,
      `at most ${MAX_SCORECARD_METRICS} metrics`,
    ),
});

/* The source registry and validation rules (admin). */

const MAX_REFRESH_MINUTES = 366 * 24 * 60;
const MAX_NAME_LENGTH = 200;
const MAX_URL_LENGTH = 2048;
/** A name from the operator or from a source's own data: printable text, 1–200 characters. */
const externalName = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .trim()
    .min(1, `${what} must not be empty`)
    .max(MAX_NAME_LENGTH, `${what} must be at most ${MAX_NAME_LENGTH} characters`)
    .refine(...printable(what));

export const sourceId = z
  .string({ error: "id is required" })
  .regex(SOURCE_ID_PATTERN, `id ${SOURCE_ID_RULE}`);

/** Their headers per our field, and their metric names per our metric key. */
const sourceMapping = z.strictObject({
  columns: z.partialRecord(z.enum(SOURCE_FIELDS), externalName("a column header"), {
    error: `columns maps our fields (${SOURCE_FIELDS.join(", ")}) to your headers`,
  }),
  metricNames: z.record(externalName("a metric name"), metricKey).optional(),
});

/** Only the form: which hosts a url may name is the service's to decide (service/sources.ts). */
const sourceUrl = z
  .string({ error: "url must be a string" })
  .max(MAX_URL_LENGTH, `url must be at most ${MAX_URL_LENGTH} characters`)
  .pipe(z.url({ protocol: /^https?$/, error: "url must be an http or https URL" }));
const refreshIntervalMinutes = z
  .number({ error: "refreshIntervalMinutes must be a number of minutes" })
  .int("refreshIntervalMinutes must be a whole number of minutes")
  .min(5, "refreshIntervalMinutes must be at least 5")
  .max(MAX_REFRESH_MINUTES, "refreshIntervalMinutes must be at most a year");
const sourceFields = {
  name: externalName("name"),
  kind: z.enum(["survey", "panel"]),
  format: z.enum(["csv", "json"]),
  mapping: sourceMapping,
  active: z.boolean(),
};

/** A token the source's url wants (sent as a bearer token); write-only, stored sealed. */
const credential = z
  .string()
  .min(1, "credential must not be empty")
  .max(4096, "credential must be at most 4096 characters")
  .regex(/^[\x21-\x7e]+$/, "credential must be printable ASCII without spaces");

export const createSourceRequest = z.strictObject({
  id: sourceId,
  ...sourceFields,
  credential: credential.optional(),
  format: sourceFields.format.default("csv"),
  url: sourceUrl.optional(),
  refreshIntervalMinutes: refreshIntervalMinutes.optional(),
  active: sourceFields.active.default(true),
});

/** Any subset of the fields; null clears the url or the schedule. */
export const updateSourceRequest = z
  .strictObject({
    ...sourceFields,
    url: sourceUrl.nullable(),
    refreshIntervalMinutes: refreshIntervalMinutes.nullable(),
    credential: credential.nullable(),
  })
  .partial();

export const metricRulesRequest = z.strictObject({
  minValue: finite("minValue").optional(),
  maxValue: finite("maxValue").optional(),
  allowedBands: z
    .array(revenueRangeKey)
    .min(1, "allowedBands must not be empty")
    .max(64, "allowedBands lists at most 64 bands")
    .superRefine((bands, ctx) => {
      bands.forEach((band, i) => {
        if (bands.indexOf(band) < i) {
          ctx.addIssue({ code: "custom", path: [i], message: `allowedBands lists ${band} twice` });
        }
      });
    })
    .optional(),
  minN: z
    .number({ error: "minN must be a number" })
    .int("minN must be a whole number")
    .min(1, "minN must be at least 1")
    .max(MAX_SURVEY_N, `minN must be at most ${MAX_SURVEY_N}`)
    .default(DEFAULT_MIN_N),
});
