import type { D1Migration } from "cloudflare:test";
import type { Settings } from "../src/env";

declare global {
  interface ImportMeta {
    /** Vite's, resolved when the test is bundled: test/architecture reads the sources' text with it. */
    glob<T>(
      pattern: string | string[],
      options: { query: "?raw"; import: "default"; eager: true },
    ): Record<string, T>;
  }
  namespace Cloudflare {
    interface Env extends Settings {
      TEST_MIGRATIONS: D1Migration[];
      /** The development key's private half, for tests to sign tokens with. */
      TEST_SIGNING_KEY: JsonWebKey & { kid: string };
    }
  }
}
