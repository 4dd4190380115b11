import type { Context } from "hono";
import { z } from "zod";
import { invalidArgument, ServiceError } from "../domain/errors";
import { parsePeriod } from "../domain/periods";

export const MAX_BODY_BYTES = 64 * 1024;
const MAX_SOURCES = 20;

/** `depth` limits field paths: a query parameter is flat, so "sources.0" is reported as "sources". */
function toServiceError(error: z.ZodError, root: string, depth = Number.POSITIVE_INFINITY): ServiceError {
  return invalidArgument(
    error.issues.map((issue) => ({
      field: issue.path.length > 0 ? issue.path.slice(0, depth).join(".") : root,
      message: issue.message,
    })),
  );
}

export function parseQuery<T extends z.ZodType>(c: Context, schema: T): z.output<T> {
  const result = schema.safeParse(c.req.query());
  if (!result.success) throw toServiceError(result.error, "query", 1);
  return result.data;
}

/** Reads a JSON body: 415 for another media type, 413 past the limit, 400 when malformed. */
export async function parseJsonBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.output<T>> {
  const mediaType = c.req.header("Content-Type")?.split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/json") {
    throw new ServiceError(
      "unsupported_media_type",
      "unsupported-media-type",
      "Send the body as application/json.",
    );
  }
  const text = await readLimitedText(c.req.raw, MAX_BODY_BYTES);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ServiceError("invalid_argument", "malformed-json", "The body is not valid JSON.", [
      { field: "body", message: "not valid JSON" },
    ]);
  }
  const result = schema.safeParse(json);
  if (!result.success) throw toServiceError(result.error, "body");
  return result.data;
}

/** Streams the body and stops at the limit, so a huge or lying Content-Length costs nothing. */
async function readLimitedText(request: Request, limit: number): Promise<string> {
  const tooLarge = () =>
    new ServiceError("payload_too_large", "payload-too-large", `The body exceeds ${limit} bytes.`);
  const declared = Number(request.headers.get("Content-Length"));
  if (declared > limit) throw tooLarge();
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  try {
    return decoder.decode(concat(chunks, size));
  } catch {
    throw new ServiceError("invalid_argument", "malformed-json", "The body is not valid UTF-8.", [
      { field: "body", message: "not valid UTF-8" },
    ]);
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/* Reusable field schemas: one definition per concept, shared by every route. */

const key = (what: string) =>
  z
    .string({ error: `${what} is required` })
    .trim()
    .min(1, `${what} must not be empty`)
    .max(64, `${what} is too long`);

export const metricKey = key("metric");
export const revenueRangeKey = key("revenueRange");

export const periodParam = z
  .string()
  .refine(
    (text) => parsePeriod(text) !== null,
    "period must be a year such as 2024 or a quarter such as 2024-Q3",
  );

const finite = (what: string) => z.number({ error: `${what} must be a finite number` });

/** A number in a query string: "", "abc", "NaN" and "Infinity" are all rejected. */
const numberParam = (what: string) =>
  z.string().trim().min(1, `${what} must be a number`).transform(Number).pipe(finite(what));

export const arrParam = numberParam("arr").pipe(z.number().min(0, "arr must be ≥ 0"));
export const arrValue = finite("arr").min(0, "arr must be ≥ 0");
export const metricValue = finite("value");

export const sourcesParam = z
  .string()
  .transform((text) => text.split(",").map((id) => id.trim()))
  .pipe(z.array(key("source id")).min(1).max(MAX_SOURCES, `at most ${MAX_SOURCES} sources`))
  .transform((ids) => [...new Set(ids)].sort());

export const sourcesList = z
  .array(key("source id"))
  .min(1, "sources must not be empty")
  .max(MAX_SOURCES, `at most ${MAX_SOURCES} sources`)
  .transform((ids) => [...new Set(ids)].sort());

export const booleanParam = z.enum(["true", "false"]).transform((text) => text === "true");

export const industryKey = key("industry");

/** A custom peer group as the service takes it: an ARR range [arrMin, arrMax), optionally one industry. */
export function toPeerGroup(value: {
  arrMin: number;
  arrMax?: number | undefined;
  industry?: string | undefined;
}) {
  return { arrMin: value.arrMin, arrMax: value.arrMax ?? null, industry: value.industry ?? null };
}

function checkArrRange(
  value: { arrMin?: number | undefined; arrMax?: number | undefined },
  ctx: z.RefinementCtx,
  path: string[],
) {
  if (value.arrMin !== undefined && value.arrMax !== undefined && value.arrMax <= value.arrMin) {
    ctx.addIssue({
      code: "custom",
      path: [...path, "arrMax"],
      message: "arrMax must be greater than arrMin",
    });
  }
}

export const peersBody = z
  .strictObject({ arrMin: arrValue, arrMax: arrValue.optional(), industry: industryKey.optional() })
  .superRefine((value, ctx) => checkArrRange(value, ctx, []))
  .transform(toPeerGroup);

/**
 * Exactly one way of choosing peers: a band key, an ARR figure (its band), or a custom peer group.
 * `peerField` names the custom group's field: "arrMin" in a query string, "peers" in a body.
 */
export function onePeerSelector(peerField: "arrMin" | "peers") {
  return (
    value: {
      revenueRange?: unknown;
      arr?: unknown;
      arrMin?: number;
      arrMax?: number;
      industry?: unknown;
      peers?: unknown;
    },
    ctx: z.RefinementCtx,
  ): void => {
    const given =
      Number(value.revenueRange !== undefined) +
      Number(value.arr !== undefined) +
      Number(value[peerField] !== undefined);
    if (given !== 1) {
      ctx.addIssue({
        code: "custom",
        path: ["revenueRange"],
        message: `give exactly one of revenueRange (a band key), arr (a number) or ${peerField === "arrMin" ? "arrMin/arrMax/industry" : "peers"} (a custom peer group)`,
      });
    }
    if (peerField === "arrMin") {
      if (value.arrMin === undefined && (value.arrMax !== undefined || value.industry !== undefined)) {
        ctx.addIssue({ code: "custom", path: ["arrMin"], message: "arrMax and industry need arrMin" });
      }
      checkArrRange(value, ctx, []);
    }
  };
}
