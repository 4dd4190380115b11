import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { asConnectError } from "./errors";

/** Why the pipeline refused the call (pipeline/admission.ts), or undefined when it admitted it. */
export const refusalKey = createContextKey<unknown>(undefined, { description: "admission refusal" });

/**
 * connect-es's request gate: runs before the body is read or parsed. The pipeline has admitted
 * the caller by then, or refused it; a refusal is thrown here, to be answered with its Connect code
 * in the caller's protocol.
 */
export async function admissionGate(context: HandlerContext): Promise<void> {
  const refusal = context.values.get(refusalKey);
  if (refusal !== undefined) throw asConnectError(refusal, context.method.name);
}
