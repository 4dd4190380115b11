/**
 * The service's failure kinds. Each adapter maps them once: REST to problem+json statuses
 * (api/problem.ts), RPC to Connect codes.
 */
export type ErrorKind =
  | "invalid_argument"
  | "not_found"
  | "failed_precondition"
  | "payload_too_large"
  | "unsupported_media_type"
  | "internal";

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
  ) {
    super(message);
    this.name = "ServiceError";
  }
}

/** A validation failure; its message repeats the field messages so a glance at `detail` suffices. */
export function invalidArgument(fields: FieldViolation[]): ServiceError {
  const message = fields.map((f) => `${f.field}: ${f.message}`).join("; ");
  return new ServiceError("invalid_argument", "validation-failed", message, fields);
}
