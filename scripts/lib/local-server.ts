/**
 * Local servers for the scripts (benchmark, RPC smoke test): started as `npm start` does, without
 * the DevTools inspector, each in its own process group so stopping it also stops wrangler's workerd, and always stopped
 * when the script exits.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const WRANGLER_CLI = path.join(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js");
export const LOOPBACK = "127.0.0.1";
/** The first start applies migrations and loads ~185k sample rows before wrangler listens. */
export const SERVICE_START_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 5_000;

/** A server started in its own process group, so stopping it also stops wrangler's workerd. */
export class ManagedServer {
  private readonly recentOutput: string[] = [];
  private echoOutput = true;
  /** Whether it printed "Ready: <url>", as start.mjs does once the sample data is in. */
  private saidReady = false;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => this.record(chunk));
    }
    child.on("error", (error) => this.record(`failed to run: ${error.message}`));
  }

  static start(name: string, args: string[], env: Record<string, string>): ManagedServer {
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const server = new ManagedServer(name, child);
    runningServers.add(server);
    return server;
  }

  /** The id of its process group, which holds wrangler and every workerd it starts. */
  get processGroup(): number | undefined {
    return this.child.pid;
  }

  get hasExited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Startup output is shown live (the first data load is slow); once ready, only kept for errors. */
  quiet(): void {
    this.echoOutput = false;
  }

  /** Waits for start.mjs's "Ready: <url>": serving, with its data loaded. */
  async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.saidReady) {
      if (this.hasExited) throw new Error(`${this.name} exited before it was ready:\n${this.outputTail()}`);
      if (Date.now() > deadline) {
        throw new Error(`${this.name} was not ready within ${timeoutMs / 1000} s:\n${this.outputTail()}`);
      }
      await sleep(500);
    }
    this.quiet();
  }

  outputTail(): string {
    return this.recentOutput.map((line) => `  [${this.name}] ${line}`).join("\n");
  }

  async stop(): Promise<void> {
    runningServers.delete(this);
    if (!this.signalGroup("SIGTERM")) return;
    const deadline = Date.now() + STOP_GRACE_MS;
    while (this.groupIsAlive() && Date.now() < deadline) await sleep(100);
    this.signalGroup("SIGKILL");
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
  }

  /** Last resort from a synchronous `exit` handler: no grace period is possible there. */
  killNow(): void {
    this.signalGroup("SIGKILL");
  }

  /** Returns false once nothing is left in the group. */
  private signalGroup(signal: NodeJS.Signals | 0): boolean {
    if (this.child.pid === undefined) return false;
    try {
      process.kill(-this.child.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  private groupIsAlive(): boolean {
    return this.signalGroup(0);
  }

  private record(chunk: string): void {
    for (const line of chunk.split(/\r?\n/)) {
      if (line.trim() === "") continue;
      if (this.echoOutput) process.stderr.write(`  [${this.name}] ${line}\n`);
      if (line.startsWith("Ready: ")) this.saidReady = true;
      this.recentOutput.push(line);
    }
    this.recentOutput.splice(0, Math.max(0, this.recentOutput.length - 40));
  }
}

const runningServers = new Set<ManagedServer>();
/** Set on Ctrl-C: work then in flight fails as the servers stop, which is no news. */
let interrupted = false;
export const wasInterrupted = () => interrupted;

process.on("exit", () => {
  for (const server of runningServers) server.killNow();
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    interrupted = true;
    console.error(`\nReceived ${signal}, stopping servers...`);
    void Promise.all([...runningServers].map((server) => server.stop())).finally(() => process.exit(130));
  });
}

/**
 * `wrangler dev` flags given to both servers so they run under identical conditions: per-request
 * logging at the default "info" level would cost throughput under load. (Not WRANGLER_LOG=warn in
 * the environment: start.mjs's data loader parses `wrangler d1 execute --json` output, which that hides.)
 */
export const WRANGLER_DEV_FLAGS = ["--log-level", "warn", "--show-interactive-dev-session=false"];

export const OFFLINE_WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: "false",
  // Skips the attempt to download the Request.cf object, which needs internet access.
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
};

/**
 * Leaves out the DevTools inspector proxy that `wrangler dev` attaches to workerd for a
 * developer's debugger, which nothing here uses and a deployed Worker does not have. Attached,
 * it turns every console call into a DevTools event and then an HTTP request to wrangler's node
 * process (InspectorProxyWorker's "debug-log"): on two cores, a service that logs a line per
 * request served a third fewer requests with it (docs/benchmarks.md). Wrangler has no flag for
 * this: it leaves the proxy out when a VS Code debugger is said to be attached.
 */
export const WITHOUT_DEVTOOLS_ENV = { VSCODE_INSPECTOR_OPTIONS: "{}" };

/**
 * Launched as `npm start` does; start.mjs passes its extra arguments (`wranglerArgs` after the
 * shared flags) on to `wrangler dev`, and reads `env` (SCHEDULED_INTERVAL_SECONDS, FEEDS_PORT).
 */
export function startService(
  port: number,
  wranglerArgs: readonly string[] = [],
  name = "service",
  env: Record<string, string> = {},
): ManagedServer {
  return ManagedServer.start(name, ["scripts/start.mjs", ...WRANGLER_DEV_FLAGS, ...wranglerArgs], {
    ...OFFLINE_WRANGLER_ENV,
    ...WITHOUT_DEVTOOLS_ENV,
    ...env,
    PORT: String(port),
  });
}

export async function waitUntilServing(server: ManagedServer, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.hasExited) {
      throw new Error(`${server.name} exited before serving ${url}:\n${server.outputTail()}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.status === 200) {
        server.quiet();
        return;
      }
    } catch {
      // Not listening yet.
    }
    await sleep(500);
  }
  throw new Error(
    `${server.name} did not answer 200 on ${url} within ${timeoutMs / 1000} s:\n${server.outputTail()}`,
  );
}

/** Ports are all held open until each is allocated, so the OS cannot hand out one twice. */
export async function findFreePorts(count: number): Promise<number[]> {
  const probes = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      probes.map(
        (probe) =>
          new Promise<number>((resolve, reject) => {
            probe.on("error", reject);
            probe.listen(0, LOOPBACK, () => {
              const address = probe.address();
              if (address && typeof address === "object") resolve(address.port);
              else reject(new Error("could not allocate a free port"));
            });
          }),
      ),
    );
  } finally {
    for (const probe of probes) probe.close();
  }
}
