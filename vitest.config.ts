import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const migrations = await readD1Migrations(fileURLToPath(new URL("./migrations", import.meta.url)));
// The tests trust the development key, as npm start does, and sign their own tokens with it.
const devKey = JSON.parse(readFileSync(new URL("./scripts/dev-auth/dev-key.json", import.meta.url), "utf8"));

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          TEST_MIGRATIONS: migrations,
          AUTH_ISSUER: devKey.issuer,
          AUTH_AUDIENCE: devKey.audience,
          AUTH_JWKS: JSON.stringify(devKey.jwks),
          TEST_SIGNING_KEY: devKey.privateJwk,
          COMPANY_KEY_SECRET: "test-only-company-key-secret",
          // Thousands of requests: test/observability turns the log lines back on where it reads them.
          REQUEST_LOGS: "off",
          // Metrics and spans go out as soon as a request ends, so that waiting on its
          // waitUntil work (as test/helpers/jobs.ts does) finds them delivered.
          TELEMETRY_FLUSH_INTERVAL_MS: "0",
          // Two keys, as after a rotation: values are sealed with test-2, test-1 still opens old ones.
          CREDENTIAL_KEYS: JSON.stringify({
            "test-1": "7lp4A7Y0pArjzZHAurWgVLB1m8rDZOccg+hLFsFO0Eg=",
            "test-2": "Av0TnR44Qc/SC3XfRXbPsgiqK1VdDb+VU7WQKb76Qow=",
          }),
          CREDENTIAL_KEY_ID: "test-2",
          // Suites make thousands of requests as a handful of principals; test/ratelimit and
          // test/auth/rate-limits.test.ts set the real tiers where they test them.
          RATE_LIMITS: JSON.stringify(
            Object.fromEntries(
              ["anonymous", "user", "admin"].map((tier) => [
                tier,
                { rate: 1e9, periodSeconds: 1, burst: 1e9 },
              ]),
            ),
          ),
        },
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["./test/apply-migrations.ts"],
  },
});
