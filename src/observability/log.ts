/**
 * One JSON log line with ECS field names: the base fields every line carries, then the event's
 * own. Callers pass identifiers, counts and outcomes, never secrets, tokens or company values.
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
  if (level === "error") console.error(line);
  else console.log(line);
}

/** What kind of error it was, without its message, which may quote a url or a driver's details. */
export const errorType = (error: unknown): string =>
  error instanceof Error ? ((error as { reason?: string }).reason ?? error.name) : typeof error;
