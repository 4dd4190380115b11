import { createExecutionContext, SELF, waitOnExecutionContext } from "cloudflare:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { expect } from "vitest";
import worker from "../../src";
import type { Env } from "../../src/env";
import { BASE_URL, type BenchmarkClient, benchmarkClient } from "../rpc/helpers";

/**
 * One request to the Worker's fetch handler: through SELF with the test environment, or, given
 * `workerEnv`, straight to the handler with that environment (recording queues, missing settings).
 */
export async function dispatch(request: Request, workerEnv?: Env): Promise<Response> {
  if (!workerEnv) return SELF.fetch(request);
  const execution = createExecutionContext();
  const response = await worker.fetch(request, workerEnv, execution);
  await waitOnExecutionContext(execution);
  return response;
}

export interface Credentials {
  /** The Authorization header, verbatim; none when undefined. */
  authorization?: string;
  /** Query parameters added to the url, e.g. an access_token. */
  query?: Record<string, string>;
}

/** A REST request carrying exactly the given credentials and nothing else. */
export function rest(
  path: string,
  { authorization, query }: Credentials = {},
  init: RequestInit = {},
  workerEnv?: Env,
): Promise<Response> {
  const url = new URL(path, BASE_URL);
  for (const [name, value] of Object.entries(query ?? {})) url.searchParams.set(name, value);
  const headers = new Headers(init.headers);
  if (authorization !== undefined) headers.set("Authorization", authorization);
  return dispatch(new Request(url, { ...init, headers }), workerEnv);
}

/** A Connect JSON client whose every call carries exactly the given credentials. */
export function rpcClient(credentials: Credentials = {}, workerEnv?: Env): BenchmarkClient {
  const fetch: typeof globalThis.fetch = async (input, init) => {
    // connect-web asks for redirect "error", which Workers' fetch refuses.
    const original = new Request(input, { ...init, redirect: "manual" });
    const url = new URL(original.url);
    for (const [name, value] of Object.entries(credentials.query ?? {})) url.searchParams.set(name, value);
    const request = new Request(url, original);
    if (credentials.authorization !== undefined)
      request.headers.set("Authorization", credentials.authorization);
    return dispatch(request, workerEnv);
  };
  return benchmarkClient(createConnectTransport({ baseUrl: BASE_URL, fetch, useBinaryFormat: false }));
}

export const bearer = (token: string) => `Bearer ${token}`;

/** The ConnectError a call failed with; fails the test when the call succeeds. */
export async function rpcFailure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  expect.fail("the call succeeded");
}

/** Asserts a REST problem+json response, answering its body. */
export async function expectProblem(
  response: Response,
  status: number,
  type: string,
): Promise<{ type: string; status: number; title: string; detail: string; instance: string }> {
  expect(response.status).toBe(status);
  expect(response.headers.get("Content-Type")).toBe("application/problem+json");
  const body = (await response.json()) as Awaited<ReturnType<typeof expectProblem>>;
  expect(body).toMatchObject({ type, status });
  return body;
}

/** What RFC 6750 asks a 401 to say, for `error` with its description. */
export const challenge = (error: "invalid_token" | "invalid_request", description: string) =>
  `Bearer error="${error}", error_description="${description}"`;

export { Code };
