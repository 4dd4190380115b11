/**
 * The service's own code, run in Node against a local D1 and KV of a benchmark's own, for the
 * benchmarks that time it (scale.ts, recompute.ts). The bindings are the local workerd ones that
 * `wrangler dev` uses, reached through wrangler's getPlatformProxy: every D1 query and KV call
 * crosses from Node into workerd, as a Worker's crosses into D1 and KV.
 *
 * Data goes in as an operator puts it in: the sources are registered and their files uploaded
 * through the service's createSource and uploadToSource (POST /api/v1/sources, .../uploads), and
 * every cell is rebuilt by the recompute consumer's recomputeCells, in the batches its queue
 * delivers.
 */
import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { getPlatformProxy, unstable_readConfig } from "wrangler";
import type { z } from "zod";
import type { Role } from "../../src/auth/roles";
import type { Cell, Source } from "../../src/domain/catalogue";
import type { Env } from "../../src/env";
import type { RecomputeResult } from "../../src/ingest/recompute";
import { QUEUES } from "../../src/jobs/messages";
import { getCatalogue } from "../../src/service/catalogue";
import { createServiceContext, type Freshness, type ServiceContext } from "../../src/service/context";
import { type IngestionRun, uploadToSource } from "../../src/service/ingestion";
import { recomputeCells } from "../../src/service/recompute";
import { createSourceRequest } from "../../src/service/requests";
import { createSource, removeSource } from "../../src/service/sources";
import { OFFLINE_WRANGLER_ENV, REPO_ROOT, WRANGLER_CLI } from "../lib/local-server";
import { generateSampleData, SAMPLE_MAPPINGS, samplePanelFiles } from "../sample-data/generate";
import { type D1Meter, meteredD1 } from "./scale-metered-d1";

const WRANGLER_CONFIG = path.join(REPO_ROOT, "wrangler.toml");
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

export class LocalService {
  private constructor(
    readonly env: Env,
    private readonly dispose: () => Promise<void>,
  ) {}

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
    // `wrangler d1 … --persist-to DIR` keeps D1 under DIR/v3; getPlatformProxy takes DIR/v3 itself.
    const proxy = await getPlatformProxy<Env>({
      configPath: WRANGLER_CONFIG,
      persist: { path: path.join(persistDir, "v3") },
      remoteBindings: false,
    });
    // Panel uploads pseudonymize company keys under this secret, as the deployed service does under its own.
    const env = { ...proxy.env, COMPANY_KEY_SECRET: "benchmark-only-company-key-secret" };
    return new LocalService(env, async () => {
      await proxy.dispose();
      await rm(persistDir, { recursive: true, force: true });
    });
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
      const page = await this.env.CACHE.list(cursor === undefined ? {} : { cursor });
      await Promise.all(page.keys.map((key) => this.env.CACHE.delete(key.name)));
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor !== undefined);
  }

  async close(): Promise<void> {
    await this.dispose();
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

  /** Rebuilds `cells` with the recompute consumer's own code, `batchSize` cells a delivery. */
  async recompute(cells: readonly Cell[], batchSize: number, meter?: D1Meter): Promise<RecomputeResult> {
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

/** What loading the sample data took, and what the uploads said of it. */
export interface SampleLoad {
  seconds: number;
  files: number;
  /** Uploads sent again after a failure that was not the file's (see UPLOAD_ATTEMPTS). */
  retries: number;
  received: number;
  accepted: number;
  rejected: number;
  /** The panel cells the uploads changed: every cell of the panel, since it was empty. */
  cells: Cell[];
}

/**
 * Panel files of at most 10 MB, as at 1× (one file of 185k rows), loaded one at a time. With two
 * 50 MB files (975k rows) in flight, both requests to local D1 through wrangler's platform proxy
 * failed together with "other side closed"; with two 10 MB files at 20×, one did.
 */
const PANEL_FILE_BYTES = 10 * 1024 * 1024;

/**
 * A file whose upload failed on something other than its contents is sent again, up to twice:
 * its failed run changed nothing (the swap is one atomic batch), and rows upsert on their natural
 * key, so a retry loads exactly what the first try would have.
 */
const UPLOAD_ATTEMPTS = 3;

/**
 * The sample data at `scale` times its panel, loaded as `npm start` loads it: the three surveys,
 * each one JSON file, then the panel in files of PANEL_FILE_BYTES.
 */
export async function loadSampleData(service: LocalService, scale: number): Promise<SampleLoad> {
  const started = performance.now();
  const data = generateSampleData();
  const runs: IngestionRun[] = [];
  let retries = 0;
  const upload = async (source: Source, file: string): Promise<IngestionRun> => {
    for (let attempt = 1; ; attempt++) {
      const { run } = await service.upload(source, file);
      if (run.status !== "failed" || attempt === UPLOAD_ATTEMPTS) return run;
      retries++;
    }
  };
  for (const source of data.sources) {
    const { id, name, kind } = source;
    const format = kind === "survey" ? "json" : "csv";
    const registered = await service.createSource({ id, name, kind, format, mapping: SAMPLE_MAPPINGS[kind] });
    if (kind === "survey") {
      runs.push(await upload(registered, JSON.stringify(data.surveys.filter((s) => s.sourceId === id))));
      continue;
    }
    for (const file of samplePanelFiles(scale, PANEL_FILE_BYTES)) runs.push(await upload(registered, file));
  }
  const failed = runs.find((run) => run.status === "failed");
  if (failed) throw new Error(`an upload of the sample data failed: ${failed.error}`);
  const cells = new Map(
    runs.flatMap((run) => run.changedCellList ?? []).map((cell) => [JSON.stringify(cell), cell]),
  );
  return {
    seconds: (performance.now() - started) / 1000,
    files: runs.length,
    retries,
    received: runs.reduce((sum, run) => sum + run.received, 0),
    accepted: runs.reduce((sum, run) => sum + run.accepted, 0),
    rejected: runs.reduce((sum, run) => sum + run.rejected, 0),
    cells: [...cells.values()],
  };
}
