import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { INTERNAL_DETAIL, ServiceError, toProblem } from "../domain/errors";
import { errorType, logEvent } from "../observability/log";

function problemResponse(c: Context, error: ServiceError): Response {
  const body = toProblem(error, new URL(c.req.url).pathname);
  return c.body(JSON.stringify(body), body.status as ContentfulStatusCode, {
    ...error.headers,
    "Content-Type": "application/problem+json",
  });
}

/** Every thrown error ends here; anything unexpected is logged and answered without internals. */
export function handleError(error: unknown, c: Context): Response {
  if (error instanceof ServiceError) return problemResponse(c, error);
  logEvent("error", "unhandled error", {
    "url.path": new URL(c.req.url).pathname,
    "error.type": errorType(error),
    "error.message": String(error),
  });
  return problemResponse(c, new ServiceError("internal", "internal", INTERNAL_DETAIL));
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
