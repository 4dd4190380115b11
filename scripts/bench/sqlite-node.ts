/**
 * better-sqlite3 is a native addon: it loads only under the Node whose ABI it was built for, which
 * need not be the Node that runs the scripts. The benchmarks that use it (upload.ts, scale-service.ts,
 * scale-verify.ts) run their SQLite side in a child process under a Node that can load it.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../lib/local-server";

const execFileAsync = promisify(execFile);

/**
 * A Node that can load better-sqlite3. npm builds the addon for the headers it is configured with
 * (`nodedir`; on these machines the system Node's) or downloads a prebuilt one for the Node that
 * ran the install, so it may load under this Node, under the system's, or under both.
 */
export async function findSqliteNode(): Promise<string> {
  const nodedir = process.env.npm_config_nodedir;
  const candidates = [
    process.execPath,
    ...(nodedir ? [path.join(nodedir, "bin/node")] : []),
    ...(process.env.PATH ?? "").split(path.delimiter).map((dir) => path.join(dir, "node")),
  ];
  const tried = new Set<string>();
  const failures: string[] = [];
  for (const candidate of candidates) {
    if (!existsSync(candidate)) continue;
    const real = realpathSync(candidate);
    if (tried.has(real)) continue;
    tried.add(real);
    try {
      await execFileAsync(real, ["-e", "new (require('better-sqlite3'))(':memory:').close()"], {
        cwd: REPO_ROOT,
      });
      return real;
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? String(error);
      const reason = stderr.split("\n").find((line) => line.includes("NODE_MODULE_VERSION")) ?? stderr.trim();
      failures.push(`${real}: ${reason.split("\n")[0]}`);
    }
  }
  throw new Error(
    `no Node here can load better-sqlite3 (run npm install, or npm rebuild better-sqlite3):\n  ${failures.join("\n  ")}`,
  );
}

/**
 * Runs a TypeScript script under a Node that can load better-sqlite3 and returns the JSON of the
 * last line it prints. Its stderr is passed through, for progress on long runs.
 */
export async function runUnderSqliteNode<T>(
  script: string,
  args: readonly string[],
  { env = process.env, nodeFlags = [] }: { env?: NodeJS.ProcessEnv; nodeFlags?: readonly string[] } = {},
): Promise<T> {
  const node = await findSqliteNode();
  const child = spawn(node, [...nodeFlags, "--import", "tsx", script, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (exitCode !== 0) {
    throw new Error(
      `${path.relative(REPO_ROOT, script)} failed under ${node} (exit ${exitCode}):\n${stdout}`,
    );
  }
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as T;
}
