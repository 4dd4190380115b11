/**
 * Load benchmark behind `npm run bench`.
 *
 * First times the statistics kernel beside numpy (scripts/bench/stats-kernel.ts) and how the
 * service's costs grow as the panel grows from 1× to 100× the sample data, each size in a local
 * D1 of its own (scripts/bench/scale.ts), while no server runs. Then starts the service as `npm start` does, but with its rate limits
 * lifted, with bearer tokens minted by the development key (scripts/dev-auth/token.ts), and puts
 * its REST and Connect RPC routes under load beside a bare worker and less instrumented copies of
 * itself (scripts/bench/http.ts). Last, on the same service, a 100,000-row panel upload beside the
 * same rows loaded into plain SQLite (scripts/bench/upload.ts).
 *
 * Arguments select parts (all four when none is given); a run replaces only the sections of
 * bench/results.json it measured (scripts/lib/results.ts):
 *   npm run bench -- [stats-kernel] [scale] [http] [upload] [--scales 1,10,100]
 *
 * Exit code: 0 when the run completed (goals are reported as PASS/MISS, not enforced);
 * 1 when it could not be measured (a server did not start, wrk is missing, any request failed,
 * the RPC and REST rankings disagreed, the service's counts did not match the load, the stats
 * kernel and numpy computed different figures, the recompute's aggregates failed their checks
 * against the generated panel, or an upload did not accept every row).
 */
import { parseArgs } from "node:util";
import { mintDevToken } from "../dev-auth/token";
import {
  findFreePorts,
  LOOPBACK,
  type ManagedServer,
  SERVICE_START_TIMEOUT_MS,
  startService,
  wasInterrupted,
} from "../lib/local-server";
import { writeResults } from "../lib/results";
import { describeHttpGoals, HTTP_BENCH_PORT_COUNT, type HttpBench, startHttpBench } from "./http";
import { printScaleTable, runScaleBench, SCALE_CONFIG } from "./scale";
import { describeStatsKernelGoal, printStatsKernelTable, runStatsKernelBench } from "./stats-kernel";
import { describeUpload, runUploadBench } from "./upload";

/**
 * `wrangler dev` flags for the service. Its per-principal rate limits (1,000 requests an hour for
 * a user, 5,000 for an admin) would turn the load into 429s within the first second, and the
 * benchmark measures throughput, not the limits: every tier is lifted far beyond what a run can
 * send. The limiter still runs on every request, as it does in production.
 */
const LIFTED_RATE_LIMITS = [
  "--var",
  `RATE_LIMITS:${JSON.stringify(
    Object.fromEntries(
      ["anonymous", "user", "admin"].map((tier) => [tier, { rate: 1e9, periodSeconds: 1, burst: 1e9 }]),
    ),
  )}`,
];

/** Dev tokens minted once per run must outlive it: one expiring mid-run would fail it with 401s. */
const TOKEN_TTL_SECONDS = 6 * 3600;

// ---------------------------------------------------------------------------------------------

const PARTS = ["stats-kernel", "scale", "http", "upload"] as const;
type Part = (typeof PARTS)[number];

function selectParts(args: string[]): Set<Part> {
  for (const arg of args) {
    if (!(PARTS as readonly string[]).includes(arg)) {
      throw new Error(`unknown part "${arg}"; the parts are ${PARTS.join(", ")}`);
    }
  }
  return new Set(args.length === 0 ? PARTS : (args as Part[]));
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { scales: { type: "string" } },
    allowPositionals: true,
  });
  const parts = selectParts(positionals);
  const scales = values.scales?.split(",").map(Number) ?? SCALE_CONFIG.scales;
  const sections: Record<string, unknown> = {};
  const closingLines: string[] = [];

  // Before any server starts, so that load does not share the CPU with the kernel timings.
  if (parts.has("stats-kernel")) {
    const statsKernel = await runStatsKernelBench();
    printStatsKernelTable(statsKernel);
    console.log("");
    sections.statsKernel = statsKernel;
    closingLines.push(describeStatsKernelGoal(statsKernel));
  }
  // Also before the servers, in .wrangler/bench-scale: the service's .wrangler/state is not touched.
  if (parts.has("scale")) {
    const scale = await runScaleBench(scales);
    printScaleTable(scale);
    console.log("");
    sections.scale = scale;
  }

  if (parts.has("http") || parts.has("upload")) {
    const [servicePort = 0, ...httpPorts] = await findFreePorts(1 + HTTP_BENCH_PORT_COUNT);
    const serviceUrl = `http://${LOOPBACK}:${servicePort}`;
    // Analyst for the load; admin for reading /metrics and for the upload's sources and uploads.
    const [analystToken, adminToken] = await Promise.all([
      mintDevToken("analyst", "bench-analyst", TOKEN_TTL_SECONDS),
      mintDevToken("admin", "bench-admin", TOKEN_TTL_SECONDS),
    ]);
    let http: HttpBench | undefined;
    let service: ManagedServer | undefined;
    try {
      // Before the service starts: the HTTP part copies the service's state for its variants.
      if (parts.has("http")) http = await startHttpBench(LIFTED_RATE_LIMITS, httpPorts);
      console.log(`Starting the service (port ${servicePort})...`);
      service = startService(servicePort, [...LIFTED_RATE_LIMITS, ...(http?.tracingArgs ?? [])]);
      // A first start loads the sample data, alongside the variants' first starts.
      await Promise.all([service.waitUntilReady(2 * SERVICE_START_TIMEOUT_MS), http?.waitUntilReady()]);

      if (http) {
        const results = await http.run({ server: service, url: serviceUrl, analystToken, adminToken });
        sections.http = results;
        closingLines.push(...describeHttpGoals(results));
      }

      // After the load: an upload moves the data version and leaves a recompute behind it.
      if (parts.has("upload")) {
        if (http) console.log("");
        const upload = await runUploadBench({ url: serviceUrl, token: adminToken }).catch(
          (error: unknown) => {
            // A 500 says little by itself; the Worker's log says why.
            const message = error instanceof Error ? error.message : String(error);
            throw new Error(`${message}\nThe service's last output:\n${service?.outputTail()}`);
          },
        );
        sections.upload = upload;
        closingLines.push(describeUpload(upload));
      }
    } finally {
      await Promise.all([service?.stop(), http?.stop()]);
    }
  }

  for (const line of closingLines) console.log(line);
  // Sections in one order, whichever parts ran.
  const ordered = ["http", "statsKernel", "scale", "upload"];
  await writeResults(
    Object.fromEntries(ordered.filter((key) => key in sections).map((key) => [key, sections[key]])),
  );
}

main().catch((error: unknown) => {
  if (wasInterrupted()) return;
  console.error(`\nBenchmark failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
