import type { Context } from "hono";
import { z } from "zod";
import { invalidArgument, payloadTooLarge, ServiceError } from "../domain/errors";
import { FORBIDDEN_KEYS, parseDecimal } from "../domain/inputs";
import { concatBytes } from "../pipeline/bytes";
import { invalidRequest, MAX_BODY_BYTES } from "../service/requests";

/**
 * Query parameters are flat: "sources.0" is the parameter sources, and the custom peer group's
 * "peers.arrMax" is the parameter arrMax.
 */
function queryParameter(path: PropertyKey[]): string {
  return String(path[0] === "peers" && path.length > 1 ? path[1] : path[0]);
}

/**
 * Valid query strings already parsed, by schema: callers repeat their queries, and a cache hit
 * should not pay for validating one again.
 */
const parsedQueries = new WeakMap<z.ZodType, Map<string, unknown>>();
/** Query strings kept per schema; the oldest goes first. */
const MAX_PARSED_QUERIES = 512;

/**
 * Parses the query string with `schema`. A parameter given twice is refused rather than one of
 * its values silently chosen: lists are written once, comma-separated (sources=a,b). Parsing
 * is pure, so a query string parsed before gives the same (frozen) result again.
 */
export function parseQuery<T extends z.ZodType>(c: Context, schema: T): z.output<T> {
  const at = c.req.url.indexOf("?");
  const search = at === -1 ? "" : c.req.url.slice(at);
  let parsed = parsedQueries.get(schema);
  if (parsed === undefined) {
    parsed = new Map();
    parsedQueries.set(schema, parsed);
  }
  const known = parsed.get(search);
  if (known !== undefined) return known as z.output<T>;

  const repeated = Object.entries(c.req.queries())
    .filter(([, values]) => values.length > 1)
    .map(([name]) => ({ field: name, message: `${name} is given more than once; give it once` }));
  if (repeated.length > 0) throw invalidArgument(repeated);
  const result = schema.safeParse(c.req.query());
  if (!result.success) throw invalidRequest(result.error, "query", queryParameter);
  if (parsed.size >= MAX_PARSED_QUERIES) parsed.delete(parsed.keys().next().value!);
  parsed.set(search, Object.freeze(result.data));
  return result.data;
}

function requireMediaType(c: Context, mediaType: string) {
  const sent = c.req.header("Content-Type")?.split(";")[0]?.trim().toLowerCase();
  if (sent !== mediaType) {
    throw new ServiceError(
      "unsupported_media_type",
      "unsupported-media-type",
      `Send the body as ${mediaType}.`,
    );
  }
}

/** Reads a text body of one media type: 415 for another, 413 past `limit` bytes, 400 when not UTF-8. */
async function readTextBody(c: Context, mediaType: string, limit: number): Promise<string> {
  requireMediaType(c, mediaType);
  return readLimitedText(c.req.raw, limit);
}

/**
 * The body of one media type as a stream, for readers that enforce `limit` as they go: 415 for
 * another type or an encoding other than gzip, and 413 at once when Content-Length already says
 * it is too large. A gzip body is unpacked as it streams, so the readers' limit bounds what it
 * unpacks to.
 */
export function bodyStream(c: Context, mediaType: string, limit: number): ReadableStream<Uint8Array> {
  requireMediaType(c, mediaType);
  if (Number(c.req.header("Content-Length")) > limit) throw payloadTooLarge(limit);
  const body = c.req.raw.body ?? new Blob([]).stream();
  const encoding = c.req.header("Content-Encoding")?.trim().toLowerCase() ?? "identity";
  if (encoding === "identity") return body;
  if (encoding === "gzip") return gunzip(body);
  throw new ServiceError(
    "unsupported_media_type",
    "unsupported-encoding",
    "Send the body uncompressed or with Content-Encoding: gzip.",
  );
}

/** Unpacks a gzip stream; a corrupt one fails its reader with a 400, not with the runtime's TypeError. */
function gunzip(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.pipeThrough(new DecompressionStream("gzip")).getReader();
  return new ReadableStream({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch {
        controller.error(invalidArgument([{ field: "body", message: "not valid gzip" }]));
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/** Reads a JSON body: 415 for another media type, 413 past the limit, 400 when malformed. */
export async function parseJsonBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.output<T>> {
  const text = await readTextBody(c, "application/json", MAX_BODY_BYTES);
  let json: unknown;
  let forbidden: string | undefined;
  try {
    json = JSON.parse(text, (name, value) => {
      if (FORBIDDEN_KEYS.has(name)) forbidden ??= name;
      return value;
    });
  } catch {
    throw new ServiceError("invalid_argument", "malformed-json", "The body is not valid JSON.", [
      { field: "body", message: "not valid JSON" },
    ]);
  }
  if (forbidden !== undefined) {
    throw invalidArgument([{ field: "body", message: `the key ${forbidden} is not allowed in a body` }]);
  }
  const result = schema.safeParse(json);
  if (!result.success) throw invalidRequest(result.error, "body");
  return result.data;
}

/**
 * Reads the body no further than the limit. Over it by Content-Length, it is refused unread.
 * Within it, the body is read in one call, much cheaper than a stream's reads: HTTP's framing
 * holds it to that length (and the limit still holds should a body built in-process run
 * longer). Of no declared length, it is streamed and stopped at the limit.
 */
async function readLimitedText(request: Request, limit: number): Promise<string> {
  const declared = request.headers.get("Content-Length");
  if (Number(declared) > limit) throw payloadTooLarge(limit);
  if (!request.body) return "";
  if (declared !== null && /^\d+$/.test(declared)) {
    const bytes = await request.arrayBuffer();
    if (bytes.byteLength > limit) throw payloadTooLarge(limit);
    return decodeUtf8(bytes);
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw payloadTooLarge(limit);
    }
    chunks.push(value);
  }
  return decodeUtf8(concatBytes(chunks));
}

function decodeUtf8(bytes: ArrayBuffer | Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ServiceError("invalid_argument", "malformed-body", "The body is not valid UTF-8.", [
      { field: "body", message: "not valid UTF-8" },
    ]);
  }
}

/* Query strings carry text: these turn it into the typed shapes of service/requests.ts. */

/** A number in a query string, as a plain decimal: "", "abc", "0x10", "NaN" and "Infinity" are rejected. */
export const numberParam = (what: string) =>
  z.string().transform((text, ctx) => {
    const value = parseDecimal(text);
    if (value === null) {
      ctx.addIssue({ code: "custom", message: `${what} must be a finite decimal number such as 2500000` });
      return z.NEVER;
    }
    return value;
  });

/** A whole number in a query string, from `min` to `max`. */
export const integerParam = (what: string, min: number, max: number) =>
  numberParam(what).pipe(
    z
      .number()
      .int(`${what} must be a whole number`)
      .min(min, `${what} must be at least ${min}`)
      .max(max, `${what} must be at most ${max}`),
  );

/** A comma-separated list, such as sources=a,b. */
export const listParam = z.string().transform((text) => text.split(",").map((item) => item.trim()));

export const booleanParam = z.enum(["true", "false"]).transform((text) => text === "true");
