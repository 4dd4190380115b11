/*
 * Workers' own addition to crypto.subtle (src/auth/scrape-token.ts uses it), for the scripts that
 * type-check the service's code against Node's globals (see scale-workers-globals.d.ts).
 */
export {};

declare module "crypto" {
  namespace webcrypto {
    interface SubtleCrypto {
      timingSafeEqual(a: ArrayBuffer | ArrayBufferView, b: ArrayBuffer | ArrayBufferView): boolean;
    }
  }
}
