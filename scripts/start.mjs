// `npm start`: migrate the local D1, serve, run the Worker's scheduled handler on the cron's
// schedule (wrangler dev does not), and load the sample data through the service's own upload
// API wherever it is not loaded yet. Prints "Ready: <url>" once the data is in.
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

/**
 * The cron of wrangler.toml, as minutes between ticks: only the "every N minutes" form that it
 * uses (a step in the minute field, stars elsewhere) is read; anything else stops `npm start`
 * rather than run on a guess.
 */
function cronIntervalMinutes() {
  const cron = /crons\s*=\s*\["([^"]+)"\]/.exec(readFileSync(join(root, "wrangler.toml"), "utf8"))?.[1];
  const every = cron && /^\*\/(\d+) \* \* \* \*$/.exec(cron);
  if (!every) throw new Error(`start.mjs can run the cron "${cron}" only if it has the form */N * * * *`);
  return { cron, minutes: Number(every[1]) };
}

/**
 * Runs the scheduled handler through wrangler dev's local trigger: once now, for the ticks missed
 * while the server was down (it takes over runs a killed server left, and resends owed
 * recomputes), then at each tick of the cron, or every SCHEDULED_INTERVAL_SECONDS when set.
 */
function runScheduledHandler() {
  const { cron, minutes } = cronIntervalMinutes();
  const trigger = async () => {
    try {
      const response = await fetch(`${url}/cdn-cgi/local/scheduled?cron=${encodeURIComponent(cron)}`);
      if (!response.ok)
        console.error(`The scheduled handler failed: HTTP ${response.status} ${await response.text()}`);
    } catch (error) {
      console.error(`The scheduled handler could not be reached: ${error.message}`);
    }
  };
  const every = process.env.SCHEDULED_INTERVAL_SECONDS;
  const nextTick = () => {
    if (every) return Number(every) * 1000;
    const period = minutes * 60_000;
    return period - (Date.now() % period);
  };
  const schedule = () => setTimeout(() => trigger().finally(schedule), nextTick()).unref();
  return trigger().finally(schedule);
}

await healthy();
await runScheduledHandler();
// The sample data goes in through the service's own upload path, source by source, wherever it
// is not loaded yet: a first start, or one after a start stopped midway.
const load = spawn(bin("tsx"), [join("scripts", "sample-data", "load.ts"), "--url", url], {
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
