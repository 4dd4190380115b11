import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { prometheus } from "../observability/prometheus/recorder";
import { currentSpan } from "../observability/tracing/span";

/** A Connect code as the protocol spells it: Code.InvalidArgument is "invalid_argument". */
export const codeName = (code: Code): string =>
  (Code[code] ?? "Unknown")
    .replace(/^[A-Z]/, (c) => c.toLowerCase())
    .replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const CODE_NAMES = new Set(
  Object.values(Code).flatMap((code) => (typeof code === "number" ? [codeName(code)] : [])),
);

/** Set per call by the router: whether the interceptors saw it and counted it. */
export const callTallyKey = createContextKey<{ counted: boolean }>(
  { counted: false },
  { description: "RPC call tally" },
);

/**
 * Outermost interceptor: counts each call by procedure and the exact code it ends with, after
 * the error interceptor has turned service errors into Connect ones.
 */
export const metricsInterceptor: Interceptor = (next) => async (request) => {
  const procedure = request.method.name;
  const span = currentSpan();
  span?.set("rpc.system.name", "connect_rpc");
  span?.set("rpc.method", `${request.service.typeName}/${procedure}`);
  request.contextValues.get(callTallyKey).counted = true;
  try {
    const response = await next(request);
    prometheus.count("rpc_requests_total", { procedure, code: "ok" });
    return response;
  } catch (error) {
    prometheus.count("rpc_requests_total", { procedure, code: codeName(ConnectError.from(error).code) });
    throw error;
  }
};

/**
 * Counts a call refused before any interceptor ran (by the request gate, or a body that does not
 * parse), by the code it was answered with.
 */
export function countRefusedCall(procedure: string, code: string | undefined): void {
  prometheus.count("rpc_requests_total", {
    procedure,
    code: code && CODE_NAMES.has(code) ? code : "unknown",
  });
}
