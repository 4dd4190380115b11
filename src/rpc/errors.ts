import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { type ErrorKind, type FieldViolation, INTERNAL_DETAIL, ServiceError } from "../domain/errors";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb";
import { errorType, logEvent } from "../observability/log";

/** camelCase request paths, as the shared schemas name them, in the proto's snake_case. */
function protoFieldName(field: string): string {
  return field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/** Each failure kind's Connect code, as REST answers each with its status (domain/errors.ts). */
const CONNECT_CODES: Record<ErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  conflict: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  payload_too_large: Code.ResourceExhausted,
  unsupported_media_type: Code.InvalidArgument,
  rate_limited: Code.ResourceExhausted,
  internal: Code.Internal,
  unavailable: Code.Unavailable,
};

function toConnectError(error: ServiceError): ConnectError {
  const violations = error.fields.map((f: FieldViolation) => ({
    field: protoFieldName(f.field),
    description: f.message,
  }));
  const message =
    violations.length > 0 ? violations.map((v) => `${v.field}: ${v.description}`).join("; ") : error.message;
  return new ConnectError(
    message,
    CONNECT_CODES[error.kind],
    // Headers such as WWW-Authenticate and Retry-After go out as response metadata.
    new Headers(error.headers),
    violations.length > 0 ? [{ desc: BadRequestSchema, value: { fieldViolations: violations } }] : [],
  );
}

/**
 * First in the chain: service errors become their Connect codes, Connect's own errors pass, and
 * anything else is logged and answered as internal without its details.
 */
export const errorInterceptor: Interceptor = (next) => async (request) => {
  try {
    return await next(request);
  } catch (error) {
    throw asConnectError(error, request.method.name);
  }
};

export function asConnectError(error: unknown, procedure: string): ConnectError {
  if (error instanceof ServiceError) return toConnectError(error);
  if (error instanceof ConnectError) return error;
  logEvent("error", "unhandled RPC error", {
    "rpc.method": procedure,
    "error.type": errorType(error),
    "error.message": String(error),
  });
  return new ConnectError(INTERNAL_DETAIL, Code.Internal);
}
