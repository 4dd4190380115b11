/*
 * The Workers names that the service's own code uses, for the benchmarks that run that code in
 * Node (scale.ts, recompute.ts). Scripts compile with Node's globals, and all of
 * @cloudflare/workers-types would clash with them, so only these are declared, each an alias of
 * the package's module export, or of Node's own type where the code meets Node's objects (streams,
 * crypto.subtle's keys).
 * A script, not a module, so that its declarations are global.
 */

type D1Database = import("@cloudflare/workers-types").D1Database;
type D1DatabaseSession = import("@cloudflare/workers-types").D1DatabaseSession;
type D1PreparedStatement = import("@cloudflare/workers-types").D1PreparedStatement;
type KVNamespace<Key extends string = string> = import("@cloudflare/workers-types").KVNamespace<Key>;
type Queue<Body = unknown> = import("@cloudflare/workers-types").Queue<Body>;
type DurableObjectNamespace<
  T extends import("@cloudflare/workers-types").Rpc.DurableObjectBranded | undefined = undefined,
> = import("@cloudflare/workers-types").DurableObjectNamespace<T>;
type SqlStorage = import("@cloudflare/workers-types").SqlStorage;
type ReadableStreamReadResult<R = unknown> = import("node:stream/web").ReadableStreamReadResult<R>;
type CryptoKey = import("node:crypto").webcrypto.CryptoKey;
type ExecutionContext = import("@cloudflare/workers-types").ExecutionContext;
type DurableObjectStub<
  T extends import("@cloudflare/workers-types").Rpc.DurableObjectBranded | undefined = undefined,
> = import("@cloudflare/workers-types").DurableObjectStub<T>;
type ScheduledController = import("@cloudflare/workers-types").ScheduledController;
type Message<Body = unknown> = import("@cloudflare/workers-types").Message<Body>;
type MessageBatch<Body = unknown> = import("@cloudflare/workers-types").MessageBatch<Body>;
/**
 * The Worker's entry (src/index.ts) is reached through the generated Env's Durable Object
 * types; its fetch takes the Workers Request, which Node's does not match, so here only its shape
 * is named.
 */
type ExportedHandler<_Env = unknown> = Record<"fetch" | "queue" | "scheduled", unknown>;

declare module "cloudflare:workers" {
  import { CloudflareWorkersModule } from "@cloudflare/workers-types";
  export = CloudflareWorkersModule;
}
