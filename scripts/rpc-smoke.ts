/**
 * `npm run rpc:smoke`: starts the service as `npm start` does (or uses BASE_URL when given), then
 * calls every BenchmarkService method with `buf curl --schema proto`, over the Connect protocol
 * and over gRPC-Web, with bearer tokens minted by the development key (scripts/dev-auth/token.ts):
 * a service at BASE_URL must trust that key, as `npm start`'s does. Fails on any error.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { mintDevToken } from "./dev-auth/token";
import {
  findFreePorts,
  LOOPBACK,
  REPO_ROOT,
  SERVICE_START_TIMEOUT_MS,
  startService,
  waitUntilServing,
} from "./lib/local-server";

const run = promisify(execFile);
const BUF = path.join(REPO_ROOT, "node_modules/.bin/buf");

type Role = "analyst" | "admin";

/**
 * One request per method, with a check of the answer it must give against the sample data. Each
 * goes with an analyst token unless its method needs admin.
 */
const CALLS: {
  method: string;
  role?: Role;
  request: unknown;
  check: (response: Record<string, unknown>) => boolean;
}[] = [
  {
    method: "GetBenchmarkData",
    request: { metric: "arr_growth", revenueRange: "1M-5M", includeStatistics: true },
    check: (r) => r.period === "2025" && typeof (r.pooled as { p50?: number }).p50 === "number",
  },
  {
    method: "GetTimeSeriesData",
    request: { metric: "ndr", arr: 3_000_000, granularity: "GRANULARITY_YEAR" },
    check: (r) => Array.isArray(r.points) && r.points.length === 7,
  },
  {
    method: "CalculateRanking",
    request: { metric: "burn_multiple", value: 1.2, peers: { arrMin: 1_000_000, arrMax: 5_000_000 } },
    check: (r) => typeof r.percentile === "number" && typeof r.tier === "string",
  },
  {
    method: "GetScorecard",
    request: { arr: 3_500_000, values: { arr_growth: 55, ndr: 112 } },
    check: (r) => Array.isArray(r.results) && r.results.length === 2,
  },
  { method: "ListMetrics", request: {}, check: (r) => Array.isArray(r.metrics) && r.metrics.length === 11 },
  {
    method: "ListRevenueRanges",
    request: {},
    check: (r) => Array.isArray(r.revenueRanges) && r.revenueRanges.length === 5,
  },
  {
    method: "ListSources",
    role: "admin",
    request: {},
    check: (r) => Array.isArray(r.sources) && r.sources.length === 4,
  },
];

const PROTOCOLS = ["connect", "grpcweb"] as const;

async function smoke(baseUrl: string): Promise<number> {
  const tokens: Record<Role, string> = {
    analyst: await mintDevToken("analyst", "rpc-smoke-analyst"),
    admin: await mintDevToken("admin", "rpc-smoke-admin"),
  };
  let failures = 0;
  for (const protocol of PROTOCOLS) {
    for (const call of CALLS) {
      const url = `${baseUrl}/benchmark.v1.BenchmarkService/${call.method}`;
      const args = [
        "curl",
        "--schema",
        "proto",
        "--protocol",
        protocol,
        "-H",
        `Authorization: Bearer ${tokens[call.role ?? "analyst"]}`,
        "--data",
        JSON.stringify(call.request),
        url,
      ];
      let problem: string | null = null;
      try {
        const { stdout } = await run(BUF, args, { cwd: REPO_ROOT, timeout: 30_000 });
        if (!call.check(JSON.parse(stdout))) problem = `unexpected answer: ${stdout.slice(0, 300)}`;
      } catch (error) {
        const { stderr, message } = error as { stderr?: string; message: string };
        problem = (stderr || message).trim();
      }
      if (problem) failures++;
      console.log(
        `${problem ? "✗" : "✓"} ${protocol.padEnd(7)} ${call.method}${problem ? `\n    ${problem}` : ""}`,
      );
    }
  }
  console.log(`RPC smoke: ${PROTOCOLS.length * CALLS.length - failures} passed, ${failures} failed`);
  return failures;
}

async function main(): Promise<void> {
  const given = process.env.BASE_URL;
  if (given) {
    process.exitCode = (await smoke(given.replace(/\/$/, ""))) > 0 ? 1 : 0;
    return;
  }
  const [port] = await findFreePorts(1);
  const server = startService(port!);
  try {
    await waitUntilServing(server, `http://${LOOPBACK}:${port}/health`, SERVICE_START_TIMEOUT_MS);
    process.exitCode = (await smoke(`http://${LOOPBACK}:${port}`)) > 0 ? 1 : 0;
  } finally {
    await server.stop();
  }
}

await main();
