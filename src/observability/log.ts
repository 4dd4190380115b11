/**
 * One JSON log line with ECS field names: the base fields every line carries, then the event's
 * own. Callers pass identifiers, counts and outcomes, never secrets, tokens or company values.
 * The console method matches the level, since Workers Logs and `wrangler tail` file a line under
 * the method it was written with.
 */
export function logEvent(
  level: "info" | "warn" | "error",
  message: string,
  fields: Record<string, unknown> = {},
) {
  const line = JSON.stringify({
    "@timestamp": new Date().toISOString(),
    "log.level": level,
    message,
    ...fields,
  });
  console[level](line);
}

/** What kind of error it was, without its message, which may quote a url or a driver's details. */
export const errorType = (error: unknown): string =>
  error instanceof Error ? ((error as { reason?: string }).reason ?? error.name) : typeof error;
