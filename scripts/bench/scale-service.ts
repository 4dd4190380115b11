/**
 * The service's own code, run in Node against a local D1 and KV of a benchmark's own, for the
 * benchmarks that time it (scale.ts, recompute.ts). The bindings are the local workerd ones that
 * `wrangler dev` uses, reached through wrangler's getPlatformProxy: every D1 query and KV call
 * crosses from Node into workerd, as a Worker's crosses into D1 and KV.
 *
 * The sample data goes in as loadSampleData says: the sources are registered and the surveys
 * uploaded through the service's createSource and uploadToSource (POST /api/v1/sources,
 * .../uploads); the panel, too large to upload within the preparation limit at 100×, is written
 * straight into the local D1 database file by scale-bulk-load.ts, as its uploads would have stored
 * it (scale-verify.ts checks this). Every cell is then rebuilt by the recompute consumer's
 * recomputeCells, in the batches its queue delivers.
 */
import { execFile } from "node:child_process";
import { readdir, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { getPlatformProxy, unstable_readConfig } from "wrangler";
import type { z } from "zod";
import type { Role } from "../../src/auth/roles";
import { clearMemoryCache, DATA_VERSION_KV_KEY } from "../../src/cache/versioned-cache";
import { readDataVersion } from "../../src/db/data-version";
import { oweCellsStatement } from "../../src/db/pending-cells";
import type { Cell, Source } from "../../src/domain/catalogue";
import type { Env } from "../../src/env";
import { QUEUES } from "../../src/ingest/messages";
import type { RecomputeResult } from "../../src/ingest/recompute";
import { getCatalogue } from "../../src/service/catalogue";
import { createServiceContext, type Freshness, type ServiceContext } from "../../src/service/context";
import { type IngestionRun, uploadToSource } from "../../src/service/ingestion";
import { recomputeCells } from "../../src/service/recompute";
import { createSourceRequest } from "../../src/service/requests";
import { rulesByMetric } from "../../src/service/rules";
import { createSource, removeSource } from "../../src/service/sources";
import { OFFLINE_WRANGLER_ENV, REPO_ROOT, WRANGLER_CLI } from "../lib/local-server";
import { generateSampleData, SAMPLE_MAPPINGS, samplePanelFiles } from "../sample-data/generate";
import type { PanelBulkLoad, PanelBulkLoadJob } from "./scale-bulk-load";
import { type D1Meter, meteredD1 } from "./scale-metered-d1";
import { runUnderSqliteNode } from "./sqlite-node";

const WRANGLER_CONFIG = path.join(REPO_ROOT, "wrangler.toml");
const BULK_LOAD_SCRIPT = path.join(REPO_ROOT, "scripts/bench/scale-bulk-load.ts");
/** Panel uploads pseudonymize company keys under this secret, as the deployed service does under its own. */
const COMPANY_KEY_SECRET = "benchmark-only-company-key-secret";
const execFileAsync = promisify(execFile);

export const RUNTIME =
  "service code in Node against local D1 and KV (workerd via wrangler getPlatformProxy), the way wrangler dev keeps them";

/** The recompute consumer's batch size, as wrangler.toml configures its queue. */
export function recomputeBatchSize(): number {
  const consumer = unstable_readConfig({ config: WRANGLER_CONFIG }).queues.consumers?.find(
    (c: { queue: string }) => c.queue === QUEUES.recompute,
  );
  if (!consumer?.max_batch_size)
    throw new Error(`wrangler.toml sets no max_batch_size for ${QUEUES.recompute}`);
  return consumer.max_batch_size;
}

/** A context and a way to wait for the work it deferred (cache writes, as waitUntil runs them). */
export interface BenchContext {
  ctx: ServiceContext;
  settle(): Promise<void>;
}

/**
 * At 100×, the first KV list after the ten-minute first recompute failed in wrangler's platform
 * proxy with "fetch failed", caused by "other side closed" (2026-12-07). Listing and deleting keys
 * are idempotent, so such a call is made again, twice at most.
 */
async function againIfSocketClosed<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const cause = (error as Error).cause as { code?: string } | undefined;
      if (attempt === 3 || cause?.code !== "UND_ERR_SOCKET") throw error;
    }
  }
}

export class LocalService {
  private runtime!: { env: Env; dispose(): Promise<void> };

  private constructor(private readonly persistDir: string) {}

  /**
   * A fresh database in `persistDir` (never the developer's .wrangler/state), migrated exactly as
   * `npm start` migrates its own.
   */
  static async open(persistDir: string): Promise<LocalService> {
    await rm(persistDir, { recursive: true, force: true });
    try {
      await execFileAsync(
        process.execPath,
        [WRANGLER_CLI, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir],
        // CI skips the confirmation prompt.
        { cwd: REPO_ROOT, env: { ...process.env, ...OFFLINE_WRANGLER_ENV, CI: "true" }, maxBuffer: 16 << 20 },
      );
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`wrangler d1 migrations apply failed:\n${stdout ?? ""}${stderr ?? ""}`);
    }
    // The isolate's memory must not answer from another database's data versions.
    clearMemoryCache();
    const service = new LocalService(persistDir);
    await service.start();
    return service;
  }

  private async start(): Promise<void> {
    // `wrangler d1 … --persist-to DIR` keeps D1 under DIR/v3; getPlatformProxy takes DIR/v3 itself.
    const proxy = await getPlatformProxy<Env>({
      configPath: WRANGLER_CONFIG,
      persist: { path: path.join(this.persistDir, "v3") },
      remoteBindings: false,
    });
    this.runtime = { env: { ...proxy.env, COMPANY_KEY_SECRET }, dispose: () => proxy.dispose() };
  }

  get env(): Env {
    return this.runtime.env;
  }

  /** The local D1 database's SQLite file: the one database miniflare keeps under the persist directory. */
  private async databaseFile(): Promise<string> {
    const dir = path.join(this.persistDir, "v3/d1/miniflare-D1DatabaseObject");
    // Named by a hash of the database's id; metadata.sqlite beside it is miniflare's own.
    const files = (await readdir(dir)).filter((name) => /^[0-9a-f]{64}\.sqlite$/.test(name));
    if (files.length !== 1) throw new Error(`expected one D1 database file in ${dir}, found ${files.length}`);
    return path.join(dir, files[0]!);
  }

  /**
   * Stops the local runtime, so that nothing else holds the database file, while `write` writes
   * to it, then starts it again. D1 moved its data version without the runtime: KV's copy is set
   * to it, as bumpDataVersion would have, and the isolate's memory forgets the old one.
   */
  async withDatabaseFile<T>(write: (databaseFile: string) => Promise<T>): Promise<T> {
    await this.runtime.dispose();
    try {
      return await write(await this.databaseFile());
    } finally {
      await this.start();
      clearMemoryCache();
      const { ctx } = this.context("admin");
      await this.env.CACHE.put(DATA_VERSION_KV_KEY, await readDataVersion(ctx.db));
    }
  }

  /** Stops the local runtime and leaves its files: the database file, for the caller to read and then remove. */
  async release(): Promise<string> {
    await this.runtime.dispose();
    return this.databaseFile();
  }

  /**
   * A context as the Worker builds one per request, for a caller of `role`: reads go to any
   * replica, as GETs do; `meter`, when given, records every D1 call the context makes.
   */
  context(role: Role, options: { freshness?: Freshness; meter?: D1Meter } = {}): BenchContext {
    const deferred: Promise<unknown>[] = [];
    const env = options.meter ? { ...this.env, DB: meteredD1(this.env.DB, options.meter) } : this.env;
    const ctx = createServiceContext(
      env,
      (work) => deferred.push(work),
      options.freshness ?? (role === "admin" ? "first-primary" : "first-unconstrained"),
    );
    ctx.principal = { kind: "user", subject: `bench-${role}`, role, subjectHash: `bench-${role}` };
    return {
      ctx,
      settle: async () => {
        await Promise.all(deferred.splice(0));
      },
    };
  }

  /** Empties the KV namespace: with the isolate's memory cleared too, the next request is cold. */
  async emptyKv(): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await againIfSocketClosed(() =>
        this.env.CACHE.list(cursor === undefined ? {} : { cursor }),
      );
      await Promise.all(page.keys.map((key) => againIfSocketClosed(() => this.env.CACHE.delete(key.name))));
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor !== undefined);
  }

  async close(): Promise<void> {
    await this.runtime.dispose();
    await rm(this.persistDir, { recursive: true, force: true });
  }

  /** Registers a source through the service, as POST /api/v1/sources does. */
  async createSource(request: z.input<typeof createSourceRequest>): Promise<Source> {
    const { ctx, settle } = this.context("admin");
    await createSource(ctx, createSourceRequest.parse(request));
    const source = (await getCatalogue(ctx)).sources.find((s) => s.id === request.id)!;
    await settle();
    return source;
  }

  async removeSource(id: string): Promise<void> {
    const { ctx, settle } = this.context("admin");
    await removeSource(ctx, id);
    await settle();
  }

  /**
   * Uploads one file to a source, as POST /api/v1/sources/:id/uploads does; `seconds` is the
   * upload's own time, until it answers, without the cache writes it leaves behind.
   */
  async upload(source: Source, file: string): Promise<{ run: IngestionRun; seconds: number }> {
    const { ctx, settle } = this.context("admin");
    const body = new Blob([file]).stream();
    const started = performance.now();
    const run = await uploadToSource(ctx, source, body);
    const seconds = (performance.now() - started) / 1000;
    await settle();
    return { run, seconds };
  }

  /** The cells owed a recompute, as a load left them. */
  async owedCells(): Promise<Cell[]> {
    const { results } = await this.env.DB.prepare(
      "SELECT DISTINCT metric_key AS metricKey, band_key AS bandKey, period FROM pending_cells ORDER BY 1, 2, 3",
    ).all<Cell>();
    return results;
  }

  /**
   * Rebuilds `cells` with the recompute consumer's own code, `batchSize` cells a delivery. Each
   * is first made owed, as the latest run would have left it, since a cell that owes nothing is
   * skipped: every pass then rebuilds every cell.
   */
  async recompute(cells: readonly Cell[], batchSize: number, meter?: D1Meter): Promise<RecomputeResult> {
    const latestRun = await this.env.DB.prepare(
      "SELECT id FROM ingestion_runs ORDER BY started_at DESC LIMIT 1",
    ).first<string>("id");
    const now = new Date().toISOString();
    const owe = oweCellsStatement({ runId: latestRun!, cells: [...cells], at: now, requeueAfter: now });
    await this.env.DB.prepare(owe.sql)
      .bind(...owe.values)
      .run();
    const total: RecomputeResult = { cells: 0, observations: 0, outliers: 0 };
    for (let i = 0; i < cells.length; i += batchSize) {
      const { ctx, settle } = this.context("admin", meter ? { meter } : {});
      const result = await recomputeCells(ctx, cells.slice(i, i + batchSize));
      await settle();
      total.cells += result.cells;
      total.observations += result.observations;
      total.outliers += result.outliers;
    }
    return total;
  }
}

/** How the sample panel goes in: written straight into the database file, or uploaded file by file. */
export type PanelLoader = "bulk" | "upload";

/** What each way of loading does, for the benchmark's results. */
export const LOAD_METHODS: Record<PanelLoader, string> = {
  bulk:
    "sources registered and the surveys uploaded through the service (createSource, uploadToSource); " +
    "the panel's files, cut as for upload (10 MB), each read by the service's own readRecords and " +
    "SourceRowReader (mapping, validation, keyed-HMAC pseudonymization) and written straight into the " +
    "local D1 database file with better-sqlite3 (prepared statements in one transaction, rows in the " +
    "order the uploads' swaps insert them), one upload run per file, storing the rows, rejections, " +
    "runs and data version their uploads would " +
    "(scripts/bench/scale-verify.ts checks this row by row at 1×); the upload path is timed separately, " +
    "by the 100,000-row upload at each size and by npm run bench -- upload",
  upload:
    "sources registered and every file uploaded through the service (createSource, uploadToSource): " +
    "the surveys, then the panel in files of at most 10 MB, one at a time",
};

/** What loading the sample data took, and what its runs said of it. */
export interface SampleLoad {
  method: string;
  seconds: number;
  /**
   * Of `seconds`, the panel's own: the bulk loader's, from cutting its first file to its commit
   * (stopping and starting the runtime around it is not in it), or the panel's uploads.
   */
  panelSeconds: number;
  /** The panel's rows, as its files hold them: planted invalid rows included. */
  panelRows: number;
  /** Files loaded, each one ingestion run: the surveys' and the panel's. */
  files: number;
  /** Uploads sent again after a failure that was not the file's (see UPLOAD_ATTEMPTS). */
  retries: number;
  received: number;
  accepted: number;
  rejected: number;
  /** The panel cells the runs changed: every cell of the panel, since it was empty. */
  cells: Cell[];
}

/**
 * The panel's files are at most 10 MB, as at 1× (one file of 185k rows). Uploaded, they go one at
 * a time: with two 50 MB files (975k rows) in flight, both requests to local D1 through wrangler's
 * platform proxy failed together with "other side closed"; with two 10 MB files at 20×, one did.
 * The bulk loader reads the same files, so that its runs are the uploads' runs.
 */
export const PANEL_FILE_BYTES = 10 * 1024 * 1024;

/**
 * A file whose upload failed on something other than its contents is sent again, up to twice:
 * its failed run changed nothing (the swap is one atomic batch), and rows upsert on their natural
 * key, so a retry loads exactly what the first try would have.
 */
const UPLOAD_ATTEMPTS = 3;

/** What the benchmark reads of a run, whichever way it was loaded. */
interface RunSummary {
  status: IngestionRun["status"];
  error: string | null;
  received: number;
  accepted: number;
  rejected: number;
}

/** The panel written straight into the database file by scale-bulk-load.ts, with the service's catalogue and rules. */
async function bulkLoadPanel(
  service: LocalService,
  source: Source,
  scale: number,
  panelFileBytes: number,
): Promise<PanelBulkLoad> {
  const { ctx, settle } = service.context("admin");
  const [catalogue, rules] = await Promise.all([getCatalogue(ctx), rulesByMetric(ctx)]);
  await settle();
  return service.withDatabaseFile((databaseFile) => {
    const job: PanelBulkLoadJob = {
      databaseFile,
      scale,
      panelFileBytes,
      source,
      catalogue,
      rules: [...rules],
    };
    return runUnderSqliteNode<PanelBulkLoad>(BULK_LOAD_SCRIPT, [JSON.stringify(job)], {
      env: { ...process.env, COMPANY_KEY_SECRET },
      // A file's rows live until it is written: a larger young generation copies them less often.
      nodeFlags: ["--max-semi-space-size=32"],
    });
  });
}

/**
 * The sample data at `scale` times its panel: the sources registered and the three surveys
 * uploaded (one JSON file each) through the service, then the panel, in files of at most
 * `panelFileBytes`, written by the bulk loader or uploaded, as `panelLoader` says.
 */
export async function loadSampleData(
  service: LocalService,
  scale: number,
  {
    panelLoader = "bulk",
    panelFileBytes = PANEL_FILE_BYTES,
  }: { panelLoader?: PanelLoader; panelFileBytes?: number } = {},
): Promise<SampleLoad> {
  const started = performance.now();
  const data = generateSampleData();
  let retries = 0;
  const upload = async (source: Source, file: string): Promise<RunSummary> => {
    for (let attempt = 1; ; attempt++) {
      const { run } = await service.upload(source, file);
      if (run.status !== "failed" || attempt === UPLOAD_ATTEMPTS) {
        return run;
      }
      retries++;
    }
  };
  const surveyRuns: RunSummary[] = [];
  let panel: Source | undefined;
  for (const source of data.sources) {
    const { id, name, kind } = source;
    const format = kind === "survey" ? "json" : "csv";
    const registered = await service.createSource({ id, name, kind, format, mapping: SAMPLE_MAPPINGS[kind] });
    if (kind === "survey") {
      surveyRuns.push(
        await upload(registered, JSON.stringify(data.surveys.filter((s) => s.sourceId === id))),
      );
    } else {
      panel = registered;
    }
  }
  if (!panel) throw new Error("the sample data has no panel source");

  const uploadPanel = async (source: Source) => {
    const panelStarted = performance.now();
    const runs: RunSummary[] = [];
    for (const file of samplePanelFiles(scale, panelFileBytes)) runs.push(await upload(source, file));
    return { runs, seconds: (performance.now() - panelStarted) / 1000 };
  };
  const panelLoad =
    panelLoader === "bulk"
      ? await bulkLoadPanel(service, panel, scale, panelFileBytes)
      : await uploadPanel(panel);
  const runs = [...surveyRuns, ...panelLoad.runs];

  const failed = runs.find((run) => run.status === "failed");
  if (failed) throw new Error(`a load of the sample data failed: ${failed.error}`);
  return {
    method: LOAD_METHODS[panelLoader],
    seconds: (performance.now() - started) / 1000,
    panelSeconds: panelLoad.seconds,
    panelRows: panelLoad.runs.reduce((sum, run) => sum + run.received, 0),
    files: runs.length,
    retries,
    received: runs.reduce((sum, run) => sum + run.received, 0),
    accepted: runs.reduce((sum, run) => sum + run.accepted, 0),
    rejected: runs.reduce((sum, run) => sum + run.rejected, 0),
    cells: await service.owedCells(),
  };
}
