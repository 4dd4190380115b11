// `npm start`: migrate the local D1, load the sample data into an empty database, then serve.
import { spawn, spawnSync } from "node:child_process";
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

run(bin("wrangler"), ["d1", "migrations", "apply", "DB", "--local"]);
run(bin("tsx"), [join("scripts", "sample-data", "load.ts"), "--if-empty"]);

const server = spawn(
  bin("wrangler"),
  ["dev", "--port", port, "--ip", "127.0.0.1", ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: "inherit",
    // Fetching the Request.cf placeholder needs the internet; skip it unless asked for.
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false" },
  },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.kill(signal));
server.on("exit", (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
