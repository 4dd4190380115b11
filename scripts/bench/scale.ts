/**
 * Scale benchmark: how the service's costs grow with its data. The same seeded sample data
 * (scripts/sample-data/generate.ts) is loaded at 1×, 10× and 100× its panel (2,400, 24,000 and
 * 240,000 companies, 77 observations each), each size into a fresh local D1, and at each size
 * the code production runs is timed (scale-service.ts: in Node, against local D1 and KV):
 *
 *   - a band benchmark, a custom peer group (an ARR range in one industry) and a ranking, cold
 *     (the isolate's memory cache and KV emptied) and warm (answered from the memory cache);
 *   - a rebuild of every cell by the recompute consumer's recomputeCells (recompute.ts);
 *   - an upload of 100,000 panel rows to a new source, through uploadToSource.
 *
 * Every figure is the median of several rounds, with their spread (min–max); cold and warm
 * requests are interleaved round by round, so that drift over a run does not favour one. An
 * extra cold request of each kind, through a binding that keeps D1's meta, says how many rows
 * it read. Growth is the largest size's median over the smallest's; a custom peer group's cost
 * per row is the slope of its cold latency over the rows it read, fitted across the sizes.
 *
 * Preparing a size is timed: loading it (scale-service.ts's loadSampleData: the sources registered
 * and the surveys uploaded through the service, the panel written straight into the local D1
 * database file by scale-bulk-load.ts, storing what its uploads would, as scale-verify.ts checks)
 * and the first rebuild of every cell. Uploading the panel file by file would take longer than
 * the limit at 100×; the upload path is what the 100,000-row upload times. A size whose
 * preparation, predicted from the sizes before it, would take longer than prepareLimitMinutes is
 * replaced by the largest size that would fit, and the results say so.
 *
 * `npm run bench -- scale` runs it and writes the `scale` section of bench/results.json;
 * `npm run bench -- scale --scales 1,10` measures other sizes.
 */
import os from "node:os";
import path from "node:path";
import type { Role } from "../../src/auth/roles";
import { clearMemoryCache } from "../../src/cache/versioned-cache";
import { type BenchmarkResult, getBenchmarks } from "../../src/service/benchmarks";
import type { ServiceContext } from "../../src/service/context";
import { rankValue } from "../../src/service/ranking";
import { REPO_ROOT } from "../lib/local-server";
import {
  PANEL_HEADER,
  SAMPLE_MAPPINGS,
  SAMPLE_PANEL_COMPANIES,
  validPanelRows,
} from "../sample-data/generate";
import {
  median,
  type RecomputeCheck,
  type RecomputePass,
  recomputeChecks,
  timeRecomputePass,
} from "./recompute";
import { D1Meter } from "./scale-metered-d1";
import { LocalService, loadSampleData, RUNTIME, recomputeBatchSize } from "./scale-service";

export const SCALE_CONFIG = {
  scales: [1, 10, 100],
  prepareLimitMinutes: 20,
  persistDir: path.join(REPO_ROOT, ".wrangler/bench-scale"),
  requestRounds: 7,
  /** Warm requests per round; the round's figure is their median. */
  warmRequestsPerRound: 25,
  recomputeRounds: 3,
  uploadRounds: 3,
  uploadRows: 100_000,
  uploadSourceId: "scale-upload",
  /** Largest size over smallest, for a warm request of any kind and a cold band benchmark. */
  maxGrowth: 1.5,
} as const;

/** The requests timed, as an analyst makes them: each name's request, and the call that answers it. */
const REQUESTS = {
  bandBenchmark: {
    label: "band benchmark",
    request: "GET /api/v1/benchmarks?metric=arr_growth&revenueRange=1M-5M",
    run: (ctx: ServiceContext) => getBenchmarks(ctx, { metric: "arr_growth", revenueRange: "1M-5M" }),
  },
  peerGroup: {
    label: "custom peer group",
    request:
      "GET /api/v1/benchmarks?metric=arr_growth&arrMin=2000000&arrMax=5000000&industry=fintech&includeStatistics=true",
    // Statistics, for the outliers of the group: with the companies shown and withheld, its size.
    run: (ctx: ServiceContext) =>
      getBenchmarks(ctx, {
        metric: "arr_growth",
        peerGroup: { arrMin: 2_000_000, arrMax: 5_000_000, industry: "fintech" },
        includeStatistics: true,
      }),
  },
  ranking: {
    label: "ranking",
    request: 'POST /api/v1/benchmarks/ranking {"metric":"arr_growth","value":55,"revenueRange":"1M-5M"}',
    run: (ctx: ServiceContext) => rankValue(ctx, { metric: "arr_growth", value: 55, revenueRange: "1M-5M" }),
  },
} as const;
type RequestName = keyof typeof REQUESTS;
const REQUEST_NAMES = Object.keys(REQUESTS) as RequestName[];
const CALLER: Role = "analyst";

/** A figure over rounds: their median, their spread and the rounds themselves. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  rounds: number[];
}

/** An error's message and its causes': "fetch failed" says nothing without the socket error under it. */
function withCauses(error: unknown): string {
  const messages: string[] = [];
  for (let cause = error; cause !== undefined; cause = (cause as Error).cause) {
    messages.push(cause instanceof Error ? cause.message : String(cause));
    if (!(cause instanceof Error)) break;
  }
  return messages.join(": ");
}

export interface RequestFigures {
  request: string;
  coldMs: Spread;
  /** Microseconds: a warm request never leaves the isolate. */
  warmUs: Spread;
  /** Of one cold request: the D1 calls it made and the rows D1 says they read, per statement. */
  d1Calls: number;
  rowsRead: number;
  statements: { sql: string; rowsRead: number }[];
}

export interface SizeResult {
  scale: number;
  companies: number;
  observations: number;
  cells: number;
  preparation: {
    /** Loading the sample data and the first rebuild of every cell: what a size needs before it serves. */
    seconds: number;
    /** How the sample data was loaded (scale-service.ts's LOAD_METHODS). */
    loadMethod: string;
    loadSeconds: number;
    /** Of loadSeconds, the bulk loader's own: from cutting the panel's first file to its commit. */
    panelLoadSeconds: number;
    /** The panel's rows (invalid ones included) per second of panelLoadSeconds. */
    panelRowsPerSecond: number;
    firstRecomputeSeconds: number;
    /** Files loaded, each one ingestion run: the surveys' and the panel's. */
    files: number;
    /** Survey uploads sent again after a failure that was not the file's. */
    retries: number;
    rowsReceived: number;
    rowsAccepted: number;
    rowsRejected: number;
    withinLimit: boolean;
  };
  requests: Record<RequestName, RequestFigures>;
  peerGroup: {
    /** Companies in the group (ARR range and industry), outliers included. */
    groupRows: number;
    /**
     * Panel rows the read of the group read: D1's count for its statement, less what the
     * latest-period subquery in it read (the batch runs the same query as a statement of its own).
     */
    rowsRead: number;
    shown: number;
  };
  recompute: { seconds: Spread; batchSize: number; passes: RecomputePass[] };
  upload: { rows: number; seconds: Spread; rowsPerSecond: number };
  verified: RecomputeCheck;
}

export interface ScaleResults {
  measuredAt: string;
  node: string;
  runtime: string;
  machine: { cpus: number; memoryGb: number };
  config: Omit<typeof SCALE_CONFIG, "persistDir"> & {
    persistDir: string;
    requests: Record<RequestName, string>;
  };
  /** The sizes measured: the configured ones, unless one would not prepare within the limit. */
  scales: number[];
  notes: string[];
  sizes: SizeResult[];
  /** Largest size's median over the smallest's, per figure. */
  growth: Record<FigureName, number>;
  peerGroupCost: {
    /** Slope of the cold peer group's median latency over the panel rows it read, across the sizes. */
    msPer1000Rows: number;
    /** The same fit's latency at no rows: what the request costs whatever the group. */
    fixedMs: number;
  };
  acceptance: {
    everyFigureAtEverySize: boolean;
    warmGrowthUnderLimit: Record<RequestName, boolean>;
    coldBandBenchmarkGrowthUnderLimit: boolean;
    /** At every size: rows read ≤ the group's rows, plus the one entry a range read steps onto to end. */
    coldPeerGroupReadsNoMoreThanGroup: boolean;
  };
}

// ---------------------------------------------------------------------------------------------
// Figures

const roundTo3 = (value: number) => Math.round(value * 1000) / 1000;

function spread(rounds: number[]): Spread {
  return {
    median: roundTo3(median(rounds)),
    min: roundTo3(Math.min(...rounds)),
    max: roundTo3(Math.max(...rounds)),
    rounds: rounds.map(roundTo3),
  };
}

/** The table's rows: each figure's label, unit and where a size keeps it. */
const FIGURES = {
  ...(Object.fromEntries(
    REQUEST_NAMES.flatMap((name) => [
      [
        `${name}Cold`,
        {
          label: `${REQUESTS[name].label}, cold`,
          unit: "ms",
          of: (s: SizeResult) => s.requests[name].coldMs,
        },
      ],
      [
        `${name}Warm`,
        {
          label: `${REQUESTS[name].label}, warm`,
          unit: "µs",
          of: (s: SizeResult) => s.requests[name].warmUs,
        },
      ],
    ]),
  ) as Record<`${RequestName}${"Cold" | "Warm"}`, Figure>),
  recompute: { label: "recompute of every cell", unit: "s", of: (s: SizeResult) => s.recompute.seconds },
  upload: { label: "upload of 100,000 rows", unit: "s", of: (s: SizeResult) => s.upload.seconds },
} satisfies Record<string, Figure>;
interface Figure {
  label: string;
  unit: Unit;
  of: (size: SizeResult) => Spread;
}
type FigureName = keyof typeof FIGURES;
const FIGURE_NAMES = Object.keys(FIGURES) as FigureName[];

/** Least squares of y over x. */
function fitLine(points: readonly { x: number; y: number }[]): { slope: number; intercept: number } {
  const meanX = points.reduce((sum, p) => sum + p.x, 0) / points.length;
  const meanY = points.reduce((sum, p) => sum + p.y, 0) / points.length;
  const sxx = points.reduce((sum, p) => sum + (p.x - meanX) ** 2, 0);
  const sxy = points.reduce((sum, p) => sum + (p.x - meanX) * (p.y - meanY), 0);
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return { slope, intercept: meanY - slope * meanX };
}

// ---------------------------------------------------------------------------------------------
// Requests

/** One request with the isolate's memory cache and KV empty; `meter`, when given, records its D1 calls. */
async function coldRequest(service: LocalService, name: RequestName, meter?: D1Meter) {
  clearMemoryCache();
  await service.emptyKv();
  const { ctx, settle } = service.context(CALLER, meter ? { meter } : {});
  const started = performance.now();
  const response = await REQUESTS[name].run(ctx);
  const ms = performance.now() - started;
  // The cache writes it deferred, as waitUntil would run them after the response.
  await settle();
  return { ms, response };
}

/** The median of warm requests in µs, each with a context of its own as the Worker builds one per request. */
async function warmRequests(service: LocalService, name: RequestName): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < SCALE_CONFIG.warmRequestsPerRound; i++) {
    const { ctx, settle } = service.context(CALLER);
    const started = performance.now();
    await REQUESTS[name].run(ctx);
    times.push((performance.now() - started) * 1000);
    await settle();
  }
  return median(times);
}

/** Companies in the group: those shown, those withheld and the outliers left out. */
function groupRows(result: BenchmarkResult): number {
  const outliers = (result.statistics?.panels ?? []).reduce((sum, panel) => sum + panel.outliersExcluded, 0);
  return result.pooled.n + (result.withheldCompanies ?? 0) + outliers;
}

async function measureRequests(service: LocalService) {
  const cold = Object.fromEntries(REQUEST_NAMES.map((name) => [name, [] as number[]]));
  const warm = Object.fromEntries(REQUEST_NAMES.map((name) => [name, [] as number[]]));
  for (let round = 0; round < SCALE_CONFIG.requestRounds; round++) {
    for (const name of REQUEST_NAMES) {
      cold[name]!.push((await coldRequest(service, name)).ms);
      warm[name]!.push(await warmRequests(service, name));
    }
  }
  const requests = {} as Record<RequestName, RequestFigures>;
  let peerGroup: SizeResult["peerGroup"] | undefined;
  for (const name of REQUEST_NAMES) {
    const meter = new D1Meter();
    const { response } = await coldRequest(service, name, meter);
    requests[name] = {
      request: REQUESTS[name].request,
      coldMs: spread(cold[name]!),
      warmUs: spread(warm[name]!),
      d1Calls: meter.calls,
      rowsRead: meter.rowsRead,
      statements: meter.statements.map(({ sql, rowsRead }) => ({ sql, rowsRead })),
    };
    if (name === "peerGroup") {
      const reads = meter.statements.filter((s) => /from "observations"/.test(s.sql));
      if (reads.length !== 1) throw new Error(`the cold peer group read observations ${reads.length} times`);
      const periodReads = meter.statements.filter((s) => /^select "period" from "summaries"/.test(s.sql));
      const inSubquery =
        periodReads.length === 1 && /\(select "period"/.test(reads[0]!.sql) ? periodReads[0]!.rowsRead : 0;
      const result = response as BenchmarkResult;
      peerGroup = {
        groupRows: groupRows(result),
        rowsRead: reads[0]!.rowsRead - inSubquery,
        shown: result.pooled.n,
      };
    }
  }
  return { requests, peerGroup: peerGroup! };
}

// ---------------------------------------------------------------------------------------------
// Upload

/** The sample panel's first valid rows, as the upload benchmark (upload.ts) sends them. */
function uploadCsv(rows: number): string {
  const lines = [PANEL_HEADER];
  for (const row of validPanelRows()) {
    if (lines.length > rows) break;
    lines.push(row.line);
  }
  return `${lines.join("\n")}\n`;
}

async function measureUpload(service: LocalService): Promise<SizeResult["upload"]> {
  const { uploadRows: rows, uploadSourceId: id } = SCALE_CONFIG;
  const csv = uploadCsv(rows);
  const seconds: number[] = [];
  for (let round = 0; round < SCALE_CONFIG.uploadRounds; round++) {
    const source = await service.createSource({
      id,
      name: "Scale benchmark upload (sample rows)",
      kind: "panel",
      format: "csv",
      mapping: SAMPLE_MAPPINGS.panel,
    });
    const { run, seconds: taken } = await service.upload(source, csv);
    if (run.accepted !== rows || run.rejected !== 0) {
      throw new Error(`the upload of ${rows} rows accepted ${run.accepted} and rejected ${run.rejected}`);
    }
    seconds.push(taken);
    // Untimed: the next round uploads to an empty source again.
    await service.removeSource(id);
  }
  const figure = spread(seconds);
  return { rows, seconds: figure, rowsPerSecond: Math.round(rows / figure.median) };
}

// ---------------------------------------------------------------------------------------------
// One size

async function measureSize(scale: number): Promise<SizeResult> {
  const log = (message: string) => console.log(`scale ${scale}×: ${message}`);
  const batchSize = recomputeBatchSize();
  const service = await LocalService.open(SCALE_CONFIG.persistDir);
  try {
    log(`loading ${(SAMPLE_PANEL_COMPANIES * scale).toLocaleString("en-US")} companies...`);
    const load = await loadSampleData(service, scale);
    const first = await timeRecomputePass(service, load.cells, batchSize);
    const preparationSeconds = load.seconds + first.pass.seconds;
    log(
      `prepared in ${(preparationSeconds / 60).toFixed(1)} min (load ${load.seconds.toFixed(0)} s, the ` +
        `panel's ${load.panelRows.toLocaleString("en-US")} rows written in ${load.panelSeconds.toFixed(0)} s; ` +
        `first recompute ${first.pass.seconds.toFixed(0)} s)`,
    );
    const checks = recomputeChecks(service, scale, load.cells);
    await checks.verifyFirst(first.result);

    log("requests...");
    const { requests, peerGroup } = await measureRequests(service);
    log("recompute...");
    const passes: RecomputePass[] = [];
    let last = first.result;
    for (let round = 0; round < SCALE_CONFIG.recomputeRounds; round++) {
      const { result, pass } = await timeRecomputePass(service, load.cells, batchSize);
      passes.push(pass);
      last = result;
      log(`recompute ${round + 1}/${SCALE_CONFIG.recomputeRounds}: ${pass.seconds.toFixed(1)} s`);
    }
    const verified = await checks.verifySame(last);
    log("upload...");
    const upload = await measureUpload(service);
    return {
      scale,
      companies: SAMPLE_PANEL_COMPANIES * scale,
      observations: verified.observations,
      cells: verified.cells,
      preparation: {
        seconds: roundTo3(preparationSeconds),
        loadMethod: load.method,
        loadSeconds: roundTo3(load.seconds),
        panelLoadSeconds: roundTo3(load.panelSeconds),
        panelRowsPerSecond: Math.round(load.panelRows / load.panelSeconds),
        firstRecomputeSeconds: first.pass.seconds,
        files: load.files,
        retries: load.retries,
        rowsReceived: load.received,
        rowsAccepted: load.accepted,
        rowsRejected: load.rejected,
        withinLimit: preparationSeconds <= SCALE_CONFIG.prepareLimitMinutes * 60,
      },
      requests,
      peerGroup,
      recompute: { seconds: spread(passes.map((p) => p.seconds)), batchSize, passes },
      upload,
      verified,
    };
  } finally {
    await service.close();
  }
}

// ---------------------------------------------------------------------------------------------

export async function runScaleBench(scales: readonly number[] = SCALE_CONFIG.scales): Promise<ScaleResults> {
  const limitSeconds = SCALE_CONFIG.prepareLimitMinutes * 60;
  const sizes: SizeResult[] = [];
  const notes: string[] = [];
  if (scales.join() !== SCALE_CONFIG.scales.join()) {
    notes.push(
      `sizes ${scales.join("×, ")}× as --scales asked, instead of the configured ${SCALE_CONFIG.scales.join("×, ")}×`,
    );
  }
  for (const planned of scales) {
    let scale = planned;
    const previous = sizes.at(-1);
    if (previous) {
      // Loading and rebuilding cost a part per cell and a part per row: a line through the sizes
      // measured predicts the next (in proportion to the rows, from one size alone).
      const fit =
        sizes.length > 1
          ? fitLine(sizes.map((size) => ({ x: size.scale, y: size.preparation.seconds })))
          : { slope: previous.preparation.seconds / previous.scale, intercept: 0 };
      const predicted = fit.intercept + fit.slope * planned;
      if (predicted > limitSeconds) {
        scale = Math.floor((limitSeconds - fit.intercept) / fit.slope);
        notes.push(
          `${planned}× would take about ${(predicted / 60).toFixed(0)} min to prepare here (a line through ` +
            `${sizes.map((size) => `${size.scale}×: ${(size.preparation.seconds / 60).toFixed(1)} min`).join(", ")}), ` +
            `over the ${SCALE_CONFIG.prepareLimitMinutes}-minute limit; measured at ${scale}×, the largest size that fits`,
        );
        if (scale <= previous.scale) break;
      }
    }
    let size: SizeResult;
    try {
      size = await measureSize(scale);
    } catch (error) {
      // The sizes measured still stand; the table says where the run stopped, and why.
      if (!previous) throw error;
      console.error(error);
      notes.push(`${scale}× failed (${withCauses(error)}); measured up to ${previous.scale}×`);
      break;
    }
    if (!size.preparation.withinLimit) {
      notes.push(
        `${scale}× took ${(size.preparation.seconds / 60).toFixed(1)} min to prepare, over the ` +
          `${SCALE_CONFIG.prepareLimitMinutes}-minute limit`,
      );
    }
    sizes.push(size);
  }
  const smallest = sizes[0]!;
  const largest = sizes.at(-1)!;
  const growth = Object.fromEntries(
    FIGURE_NAMES.map((name) => [
      name,
      roundTo3(FIGURES[name].of(largest).median / FIGURES[name].of(smallest).median),
    ]),
  ) as Record<FigureName, number>;
  const fit = fitLine(
    sizes.map((size) => ({ x: size.peerGroup.rowsRead, y: size.requests.peerGroup.coldMs.median })),
  );
  return {
    measuredAt: new Date().toISOString(),
    node: process.version,
    runtime: RUNTIME,
    machine: { cpus: os.cpus().length, memoryGb: Math.round(os.totalmem() / 2 ** 30) },
    config: {
      ...SCALE_CONFIG,
      persistDir: path.relative(REPO_ROOT, SCALE_CONFIG.persistDir),
      requests: Object.fromEntries(REQUEST_NAMES.map((name) => [name, REQUESTS[name].request])) as Record<
        RequestName,
        string
      >,
    },
    scales: sizes.map((size) => size.scale),
    notes,
    sizes,
    growth,
    peerGroupCost: { msPer1000Rows: roundTo3(fit.slope * 1000), fixedMs: roundTo3(fit.intercept) },
    acceptance: {
      everyFigureAtEverySize:
        sizes.length === SCALE_CONFIG.scales.length &&
        sizes.every((s, i) => s.scale === SCALE_CONFIG.scales[i]),
      warmGrowthUnderLimit: Object.fromEntries(
        REQUEST_NAMES.map((name) => [name, growth[`${name}Warm`] < SCALE_CONFIG.maxGrowth]),
      ) as Record<RequestName, boolean>,
      coldBandBenchmarkGrowthUnderLimit: growth.bandBenchmarkCold < SCALE_CONFIG.maxGrowth,
      coldPeerGroupReadsNoMoreThanGroup: sizes.every(
        (size) => size.peerGroup.rowsRead <= size.peerGroup.groupRows + 1,
      ),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Report

type Unit = "µs" | "ms" | "s";

const formatNumber = (value: number, unit: Unit | "rows") =>
  unit === "rows" ? Math.round(value).toLocaleString("en-US") : value.toFixed(value >= 100 ? 0 : 1);

const formatSpread = (figure: Spread, unit: Unit) =>
  `${formatNumber(figure.median, unit)} (${formatNumber(figure.min, unit)}–${formatNumber(figure.max, unit)})`;

const verdict = (met: boolean) => (met ? "PASS" : "MISS");

/** The scale table in Markdown: every figure at every size, its growth, and the goals. */
export function printScaleTable(results: ScaleResults): void {
  const { sizes } = results;
  const first = sizes[0]!;
  const last = sizes.at(-1)!;
  const ratioHeader = `${last.scale}×/${first.scale}×`;
  const goalOf = (name: FigureName): string => {
    if (name.endsWith("Warm") || name === "bandBenchmarkCold") {
      return `< ${SCALE_CONFIG.maxGrowth}× ${verdict(results.growth[name] < SCALE_CONFIG.maxGrowth)}`;
    }
    return "";
  };
  const row = (cells: string[]) => console.log(`| ${cells.join(" | ")} |`);
  console.log("");
  console.log(
    `Scale: median (min–max) of ${SCALE_CONFIG.requestRounds} rounds for requests (warm: each round the ` +
      `median of ${SCALE_CONFIG.warmRequestsPerRound}), ${SCALE_CONFIG.recomputeRounds} for the recompute, ` +
      `${SCALE_CONFIG.uploadRounds} for the upload; ${results.runtime}`,
  );
  console.log("");
  row([
    "",
    ...sizes.map((s) => `${s.scale}× (${s.companies.toLocaleString("en-US")} companies)`),
    ratioHeader,
    "goal",
  ]);
  row(["---", ...sizes.map(() => "---:"), "---:", "---"]);
  for (const name of FIGURE_NAMES) {
    const figure = FIGURES[name];
    row([
      `${figure.label} (${figure.unit})`,
      ...sizes.map((s) => formatSpread(figure.of(s), figure.unit)),
      `${results.growth[name].toFixed(2)}×`,
      goalOf(name),
    ]);
  }
  const rowsRow = (label: string, of: (s: SizeResult) => number, goal = "") =>
    row([
      label,
      ...sizes.map((s) => formatNumber(of(s), "rows")),
      `${(of(last) / of(first)).toFixed(2)}×`,
      goal,
    ]);
  for (const name of REQUEST_NAMES)
    rowsRow(`${REQUESTS[name].label}, cold: D1 rows read`, (s) => s.requests[name].rowsRead);
  rowsRow("custom peer group: rows in the group", (s) => s.peerGroup.groupRows);
  rowsRow(
    "custom peer group: panel rows read",
    (s) => s.peerGroup.rowsRead,
    `≤ group ${verdict(results.acceptance.coldPeerGroupReadsNoMoreThanGroup)}`,
  );
  rowsRow("observations", (s) => s.observations);
  row([
    "preparation (min)",
    ...sizes.map((s) => (s.preparation.seconds / 60).toFixed(1)),
    "",
    `≤ ${SCALE_CONFIG.prepareLimitMinutes} min`,
  ]);
  console.log("");
  console.log(
    `custom peer group, cold: ${results.peerGroupCost.msPer1000Rows.toFixed(2)} ms per 1,000 panel rows read, ` +
      `${results.peerGroupCost.fixedMs.toFixed(1)} ms fixed (least squares over the sizes)`,
  );
  console.log(`every figure at every configured size: ${verdict(results.acceptance.everyFigureAtEverySize)}`);
  for (const note of results.notes) console.log(`note: ${note}`);
}
