// `npm start`: migrate the local D1, serve, and load the sample data into an empty database
// through the service's own upload API. Prints "Ready: <url>" once the data is in.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const port = process.env.PORT ?? "8787";

function run(command, args) {
  const result = spawnSync(command, args, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, CI: "true" },
  });
  if (result.status !== 0) {
    console.error(`\n${command} ${args.join(" ")} failed (exit ${result.status}).`);
    process.exit(result.status ?? 1);
  }
}

// A second local instance (the benchmark's) keeps its state apart with --persist-to: migrate that one.
const persistAt = process.argv.indexOf("--persist-to");
const persistTo = persistAt === -1 ? [] : ["--persist-to", process.argv[persistAt + 1]];
run(bin("wrangler"), ["d1", "migrations", "apply", "DB", "--local", ...persistTo]);

// Local development trusts the development key (scripts/dev-auth), and only here: wrangler.toml
// configures no issuer, so a deployment without its own auth settings refuses to serve.
const devKey = JSON.parse(readFileSync(join(root, "scripts", "dev-auth", "dev-key.json"), "utf8"));
const devAuth = {
  AUTH_ISSUER: devKey.issuer,
  AUTH_AUDIENCE: devKey.audience,
  AUTH_JWKS: JSON.stringify(devKey.jwks),
  // Production sets its own with `wrangler secret put COMPANY_KEY_SECRET`.
  COMPANY_KEY_SECRET: "development-only-company-key-secret",
  CREDENTIAL_KEYS: JSON.stringify({ "dev-1": "3yV0lEy0Cux/bJCLG/5463cLOzv7u3SrNCfi/xXfVXk=" }),
  CREDENTIAL_KEY_ID: "dev-1",
};
// The SSRF guard refuses loopback urls; the example feed server (npm run feeds) is admitted by name.
const feeds = `http://127.0.0.1:${process.env.FEEDS_PORT ?? "8788"}`;
const devSettings = { ...devAuth, SOURCE_URL_ALLOW: process.env.SOURCE_URL_ALLOW ?? feeds };
const devVars = Object.entries(devSettings).flatMap(([name, value]) => ["--var", `${name}:${value}`]);

const server = spawn(
  bin("wrangler"),
  ["dev", "--port", port, "--ip", "127.0.0.1", ...devVars, ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: "inherit",
    env: {
      ...process.env,
      // Fetching the Request.cf placeholder needs the internet; skip it unless asked for.
      CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false",
      // Wrangler would also append every line the worker logs, one per request, to a debug file
      // under ~/.config/.wrangler/logs (kept 30 days), one file write per line; they are on stdout.
      WRANGLER_WRITE_LOGS: process.env.WRANGLER_WRITE_LOGS ?? "false",
    },
  },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.kill(signal));
server.on("exit", (code, signal) => process.exit(code ?? (signal ? 0 : 1)));

const url = `http://127.0.0.1:${port}`;
async function healthy() {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`${url}/health did not answer within 150 s`);
}

// An empty database gets the sample data through the service's own upload path.
await healthy();
const load = spawn(bin("tsx"), [join("scripts", "sample-data", "load.ts"), "--url", url, "--if-empty"], {
  cwd: root,
  stdio: "inherit",
});
load.on("exit", (code) => {
  if (code !== 0) {
    console.error("\nLoading the sample data failed; the server keeps running without it.");
    return;
  }
  console.log(`\nReady: ${url}`);
});
