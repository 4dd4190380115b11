/**
 * Loads the generated sample data through the running service's own ingestion API, the way an
 * operator would: registers each source with its column mapping, uploads its file, and waits
 * until the recompute queue has rebuilt every cell the uploads changed. The invalid rows planted
 * in the sample show up as rejections in the runs.
 *
 * Each source is loaded only where it has not loaded yet, so that a start stopped midway is
 * finished by the next: a source already registered keeps its data, and only waits for its
 * recompute; one whose upload a killed server left in flight is uploaded again, once the
 * service has taken the dead run over (409 run-in-progress until its lease expires).
 *
 *   tsx scripts/sample-data/load.ts --url http://127.0.0.1:8787
 */
import { parseArgs } from "node:util";
import type { SourceMapping } from "../../src/domain/catalogue";
import { mintDevToken } from "../dev-auth/token";
import { generateSampleData, type SampleData } from "./generate";

const { values: args } = parseArgs({ options: { url: { type: "string" } } });
const base = args.url ?? "http://127.0.0.1:8787";

interface Run {
  id: string;
  /** "recomputing" from its swap until every cell it changed is rebuilt. */
  status: string;
  received: number;
  accepted: number;
  rejected: number;
  changedCells: number;
  recomputedCells: number;
  rejections: { line: number; reason: string }[];
}

// An operator's job: the loader signs in as an admin with the development key.
const authorization = `Bearer ${await mintDevToken("admin", "sample-data-loader")}`;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterSeconds: number,
    message: string,
  ) {
    super(message);
  }
}

async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set("Authorization", authorization);
  const response = await fetch(`${base}${path}`, { ...init, headers });
  const text = await response.text();
  if (!response.ok) {
    throw new HttpError(
      response.status,
      Number(response.headers.get("Retry-After") ?? 1),
      `${init?.method ?? "GET"} ${path}: HTTP ${response.status} ${text}`,
    );
  }
  return JSON.parse(text) as T;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const SURVEY_FIELDS = ["metric", "band", "period", "n", "p10", "p25", "p50", "p75", "p90"] as const;
const identity = (fields: readonly string[]) => Object.fromEntries(fields.map((f) => [f, f]));

/** Each source's file and the mapping that reads it: surveys as CSV of cells, the panel as is. */
function filesOf(data: SampleData): { id: string; mapping: SourceMapping; csv: string }[] {
  return data.sources.map((source) => {
    if (source.kind === "panel") {
      return {
        id: source.id,
        mapping: {
          columns: {
            ...identity(["metric", "period", "arr", "value", "industry"]),
            companyKey: "company_key",
          },
        },
        csv: data.panelCsv,
      };
    }
    const rows = data.surveys
      .filter((row) => row.sourceId === source.id)
      .map((row) => SURVEY_FIELDS.map((field) => String(row[field] ?? "")).join(","));
    return {
      id: source.id,
      mapping: { columns: identity(SURVEY_FIELDS) },
      csv: [SURVEY_FIELDS.join(","), ...rows].join("\n"),
    };
  });
}

/** Polls a run until the recompute queue has rebuilt every cell it changed. */
async function recomputed(runId: string, timeoutMs = 180_000): Promise<Run> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await request<Run>(`/api/v1/ingestion/runs/${runId}`);
    if (run.status !== "recomputing") return run;
    if (Date.now() > deadline) {
      throw new Error(`run ${runId}: ${run.recomputedCells} of ${run.changedCells} cells recomputed`);
    }
    await sleep(250);
  }
}

/** Uploads a file; while an earlier run of the source is in flight, waits as the service asks. */
async function upload(file: { id: string; csv: string }, timeoutMs = 180_000): Promise<Run> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await request<Run>(`/api/v1/sources/${file.id}/uploads`, {
        method: "POST",
        headers: { "Content-Type": "text/csv" },
        body: file.csv,
      });
    } catch (error) {
      if (!(error instanceof HttpError && error.status === 409) || Date.now() > deadline) throw error;
      await sleep(error.retryAfterSeconds * 1000);
    }
  }
}

const registered = new Map(
  (await request<{ sources: { id: string; lastRunId: string | null }[] }>("/api/v1/sources")).sources.map(
    (source) => [source.id, source.lastRunId],
  ),
);

const started = performance.now();
const data = generateSampleData();
const loaded: { id: string; run: Run }[] = [];
const kept: string[] = [];
for (const file of filesOf(data)) {
  const source = data.sources.find((s) => s.id === file.id)!;
  if (!registered.has(source.id)) {
    await request("/api/v1/sources", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ id: source.id, name: source.name, kind: source.kind, mapping: file.mapping }),
    });
  }
  // A run that committed made the source's data whole; its recompute may still be owed.
  const lastRunId = registered.get(source.id);
  if (lastRunId) {
    await recomputed(lastRunId);
    kept.push(source.id);
    continue;
  }
  loaded.push({ id: file.id, run: await recomputed((await upload(file)).id) });
}

if (loaded.length === 0) {
  console.log(`The local database already holds the sample data (${kept.join(", ")}); nothing to load.`);
  process.exit(0);
}
console.log(
  [
    "Loaded the SAMPLE data set (fictional sources; not real benchmarks) through POST /api/v1/sources/:id/uploads:",
    ...(kept.length > 0 ? [`  already loaded: ${kept.join(", ")}`] : []),
    ...loaded.map(
      ({ id, run }) =>
        `  ${id}: ${run.status}, ${run.received} rows received, ${run.accepted} accepted, ${run.rejected} rejected, ` +
        `${run.changedCells} panel cells recomputed (run ${run.id})`,
    ),
    ...loaded.flatMap(({ run }) => run.rejections.slice(0, 2).map((r) => `    line ${r.line}: ${r.reason}`)),
    "  GET /api/v1/ingestion/runs shows every run with its rejections",
    `  in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  ].join("\n"),
);
