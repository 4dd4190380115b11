import type { Principal } from "../auth/roles";
import type { Env } from "../env";
import type { ServiceContext } from "../service/context";

/**
 * What the Hono app carries through a request: the Worker's bindings, and the variables the
 * pipeline sets (the admitted caller and its service context). Read variables with `c.get`:
 * Hono's `c.var` copies them all into a new object on every read.
 */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    serviceContext: ServiceContext;
    principal: Principal;
    /** Why admission refused an RPC call, for connect-es's request gate to answer in the call's protocol. */
    refusal: unknown;
  };
}
