/**
 * The failure kinds, with what REST answers for each (status and problem title). Connect's code
 * for each kind is in src/rpc/errors.ts, typed to cover every kind.
 */
const ERROR_KINDS = {
  invalid_argument: { status: 400, title: "Invalid request" },
  unauthenticated: { status: 401, title: "Unauthorized" },
  permission_denied: { status: 403, title: "Forbidden" },
  not_found: { status: 404, title: "Not found" },
  conflict: { status: 409, title: "Conflict" },
  failed_precondition: { status: 422, title: "Request cannot be served" },
  payload_too_large: { status: 413, title: "Payload too large" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  rate_limited: { status: 429, title: "Too many requests" },
  internal: { status: 500, title: "Internal error" },
  unavailable: { status: 503, title: "Service unavailable" },
} as const;

export type ErrorKind = keyof typeof ERROR_KINDS;

export interface FieldViolation {
  field: string;
  message: string;
}

export class ServiceError extends Error {
  constructor(
    readonly kind: ErrorKind,
    /** A stable, machine-readable reason such as "peer-group-too-small". */
    readonly reason: string,
    message: string,
    readonly fields: FieldViolation[] = [],
    /** Response headers the failure calls for, such as WWW-Authenticate or Retry-After. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ServiceError";
  }
}

/** All a caller learns of a failure that is the server's own: the details are logged, not sent. */
export const INTERNAL_DETAIL = "The server failed to handle the request.";

/** A body or file past its size limit. */
export const payloadTooLarge = (limit: number) =>
  new ServiceError("payload_too_large", "payload-too-large", `The body exceeds ${limit} bytes.`);

/** A validation failure; its message repeats the field messages so a glance at `detail` suffices. */
export function invalidArgument(fields: FieldViolation[]): ServiceError {
  const message = fields.map((f) => `${f.field}: ${f.message}`).join("; ");
  return new ServiceError("invalid_argument", "validation-failed", message, fields);
}

/** RFC 9457 problem details: how REST answers an error, and how a scorecard entry reports one. */
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
    title: ERROR_KINDS[error.kind].title,
    status: ERROR_KINDS[error.kind].status,
    detail: error.message,
    instance,
  };
  if (error.fields.length > 0) body.errors = error.fields;
  return body;
}
