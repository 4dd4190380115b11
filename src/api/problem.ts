import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type ErrorKind, type FieldViolation, ServiceError } from "../domain/errors";

/** The one mapping from failure kind to HTTP status. */
const STATUS: Record<ErrorKind, ContentfulStatusCode> = {
  invalid_argument: 400,
  not_found: 404,
  failed_precondition: 422,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
};

const TITLE: Record<ErrorKind, string> = {
  invalid_argument: "Invalid request",
  not_found: "Not found",
  failed_precondition: "Request cannot be served",
  payload_too_large: "Payload too large",
  unsupported_media_type: "Unsupported media type",
  internal: "Internal error",
};

/** RFC 9457 problem details. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  errors?: FieldViolation[];
}

export function toProblem(error: ServiceError, instance: string): Problem {
  const body: Problem = {
    type: `/problems/${error.reason}`,
    title: TITLE[error.kind],
    status: STATUS[error.kind],
    detail: error.message,
    instance,
  };
  if (error.fields.length > 0) body.errors = error.fields;
  return body;
}

export function problemResponse(c: Context, error: ServiceError): Response {
  const body = toProblem(error, new URL(c.req.url).pathname);
  return c.body(JSON.stringify(body), STATUS[error.kind], { "Content-Type": "application/problem+json" });
}

/** Every thrown error ends here; anything unexpected is logged and answered without internals. */
export function handleError(error: unknown, c: Context): Response {
  if (error instanceof ServiceError) return problemResponse(c, error);
  console.error(JSON.stringify({ level: "error", message: "unhandled error", error: String(error) }));
  return problemResponse(
    c,
    new ServiceError("internal", "internal", "The server failed to handle the request."),
  );
}

export function handleNotFound(c: Context): Response {
  return problemResponse(
    c,
    new ServiceError(
      "not_found",
      "no-such-route",
      `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`,
    ),
  );
}
