import { SOURCE_MEDIA_TYPES, type SourceFormat } from "../domain/catalogue";
import { type SourceUrlPolicy, sourceUrlProblem } from "./source-url";

/**
 * How a fetch failed, in categories only. The runtime's own messages tell a refused connection
 * from a reset or a name that does not resolve; repeated back through a source's lastError they
 * would let an admin map what listens where.
 */
type FetchFailureKind =
  | "timeout"
  | "network"
  | "http_3xx"
  | "http_4xx"
  | "http_5xx"
  | "redirect"
  | "blocked_url"
  | "credential";

const FAILURE_TEXT: Record<FetchFailureKind, string> = {
  timeout: "no complete answer in time",
  network: "the connection failed",
  http_3xx: "the source answered with a redirection status that is not a redirect",
  http_4xx: "the source answered with a client error status",
  http_5xx: "the source answered with a server error status",
  redirect: "a redirect could not be followed",
  blocked_url: "the url names an address the service may not fetch",
  credential: "the source's credential could not be opened",
};

/** A failed fetch; `temporary` ones (timeouts, network errors, 5xx, 429, 408) are worth retrying. */
export class FetchFailure extends Error {
  constructor(
    readonly kind: FetchFailureKind,
    readonly temporary: boolean,
    detail: string = FAILURE_TEXT[kind],
  ) {
    super(`${kind}: ${detail}`);
    this.name = "FetchFailure";
  }
}

const isTimeout = (error: unknown) =>
  error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");

const timeoutFailure = (timeoutMs: number) =>
  new FetchFailure("timeout", true, `no complete answer within ${timeoutMs} ms`);

/** Redirects are followed by hand, each hop checked again, and no more than this many. */
const MAX_REDIRECTS = 3;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Fetches a source's file and answers its body as a stream. The timeout covers every hop and
 * the body too, since the signal also aborts the body's stream. Each redirect target must pass
 * the same url policy as the registered url; the credential goes only to the registered url's
 * origin, never to wherever a redirect points.
 */
export async function fetchSource(
  source: { url: string; format: SourceFormat },
  policy: SourceUrlPolicy,
  timeoutMs: number,
  credential: string | null,
): Promise<ReadableStream<Uint8Array>> {
  const signal = AbortSignal.timeout(timeoutMs);
  const origin = new URL(source.url).origin;
  let url = source.url;
  for (let redirects = 0; ; redirects++) {
    if (sourceUrlProblem(url, policy) !== null) {
      throw new FetchFailure(
        "blocked_url",
        false,
        redirects === 0 ? undefined : "a redirect led to an address the service may not fetch",
      );
    }
    const headers: Record<string, string> = { Accept: SOURCE_MEDIA_TYPES[source.format] };
    if (credential !== null && new URL(url).origin === origin) headers.Authorization = `Bearer ${credential}`;
    let response: Response;
    try {
      response = await fetch(url, { headers, signal, redirect: "manual" });
    } catch (error) {
      throw isTimeout(error) ? timeoutFailure(timeoutMs) : new FetchFailure("network", true);
    }
    if (REDIRECT_STATUSES.has(response.status)) {
      await response.body?.cancel();
      const location = response.headers.get("Location");
      if (redirects === MAX_REDIRECTS) {
        throw new FetchFailure("redirect", false, `more than ${MAX_REDIRECTS} redirects`);
      }
      if (location === null || !URL.canParse(location, url)) {
        throw new FetchFailure("redirect", false, "a redirect without a usable Location");
      }
      url = new URL(location, url).href;
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw statusFailure(response.status);
    }
    return categorizedBody(response.body ?? new Blob([]).stream(), timeoutMs);
  }
}

/**
 * The body with its read errors put in categories too: the fetch's signal aborts the body, so
 * a stall midway is the same timeout, and a connection lost midway is a network failure.
 */
function categorizedBody(body: ReadableStream<Uint8Array>, timeoutMs: number): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        controller.error(isTimeout(error) ? timeoutFailure(timeoutMs) : new FetchFailure("network", true));
        return;
      }
      if (chunk.done) controller.close();
      else controller.enqueue(chunk.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/** An HTTP status as its class; 5xx, 429 and 408 may pass on a later try. */
function statusFailure(status: number): FetchFailure {
  if (status >= 500) return new FetchFailure("http_5xx", true);
  if (status >= 400) return new FetchFailure("http_4xx", status === 429 || status === 408);
  return new FetchFailure("http_3xx", false);
}
