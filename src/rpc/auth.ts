import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { Access } from "../auth/roles";
import { rpcAccess } from "../pipeline/access";
import { asConnectError } from "./errors";

/**
 * Admits the call (src/pipeline/admission.ts) and answers the headers its response carries;
 * set per call by the router, which knows the HTTP request and its Worker.
 */
export const admissionKey = createContextKey<
  ((access: Access) => Promise<Record<string, string>>) | undefined
>(undefined, { description: "admission" });

/**
 * connect-es's request gate: runs before the body is read or parsed, so a caller is known,
 * charged and allowed (or refused, with its Connect code) before the service spends anything on
 * its message, in the order REST takes.
 */
export async function admissionGate(context: HandlerContext): Promise<void> {
  try {
    const headers = await context.values.get(admissionKey)!(rpcAccess(context.method.localName));
    for (const [name, value] of Object.entries(headers)) context.responseHeader.set(name, value);
  } catch (error) {
    throw asConnectError(error, context.method.name);
  }
}
