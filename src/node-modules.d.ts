/*
 * The Node APIs the Worker uses (through the nodejs_compat flag), typed here rather than
 * pulling all of @types/node and its globals into Worker code.
 */
declare module "node:crypto" {
  interface Hmac {
    update(data: string): Hmac;
    digest(encoding: "base64url" | "hex"): string;
  }
  export function createHmac(algorithm: "sha256", key: string): Hmac;
  export function createHash(algorithm: "sha256"): Hmac;
}

declare module "node:async_hooks" {
  export class AsyncLocalStorage<T> {
    getStore(): T | undefined;
    run<R>(store: T, callback: () => R): R;
  }
}
