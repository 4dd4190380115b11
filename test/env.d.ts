import type { D1Migration } from "cloudflare:test";
import type { Env as WorkerEnv } from "../src/env";

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: D1Migration[];
      /** The development key's private half, for tests to sign tokens with. */
      TEST_SIGNING_KEY: JsonWebKey & { kid: string };
    }
  }
}
