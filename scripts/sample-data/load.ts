/**
 * Loads the generated sample data through the running service's own ingestion API, the way an
 * operator would: registers each source with its column mapping, uploads its file, and waits
 * until the recompute queue has rebuilt every cell the uploads changed. The invalid rows planted
 * in the sample show up as rejections in the runs.
 *
 *   tsx scripts/sample-data/load.ts --url http://127.0.0.1:8787 [--if-empty]
 */
import { parseArgs } from "node:util";
import type { SourceMapping } from "../../src/domain/catalogue";
import { mintDevToken } from "../dev-auth/token";
import { generateSampleData, type SampleData } from "./generate";

const { values: args } = parseArgs({
  options: { url: { type: "string" }, "if-empty": { type: "boolean", default: false } },
});
const base = args.url ?? "http://127.0.0.1:8787";

interface Run {
  id: string;
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

async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set("Authorization", authorization);
  const response = await fetch(`${base}${path}`, { ...init, headers });
  const text = await response.text();
  if (!response.ok) throw new Error(`${init?.method ?? "GET"} ${path}: HTTP ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

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
    if (run.recomputedCells >= run.changedCells) return run;
    if (Date.now() > deadline) {
      throw new Error(`run ${runId}: ${run.recomputedCells} of ${run.changedCells} cells recomputed`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const { sources: existing } = await request<{ sources: unknown[] }>("/api/v1/sources");
if (args["if-empty"] && existing.length > 0) {
  console.log(`The local database already holds ${existing.length} sources; sample data not reloaded.`);
  process.exit(0);
}

const started = performance.now();
const data = generateSampleData();
const runs: { id: string; run: Run }[] = [];
for (const file of filesOf(data)) {
  const source = data.sources.find((s) => s.id === file.id)!;
  await request("/api/v1/sources", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ id: source.id, name: source.name, kind: source.kind, mapping: file.mapping }),
  });
  const run = await request<Run>(`/api/v1/sources/${file.id}/uploads`, {
    method: "POST",
    headers: { "Content-Type": "text/csv" },
    body: file.csv,
  });
  runs.push({ id: file.id, run: await recomputed(run.id) });
}

console.log(
  [
    "Loaded the SAMPLE data set (fictional sources; not real benchmarks) through POST /api/v1/sources/:id/uploads:",
    ...runs.map(
      ({ id, run }) =>
        `  ${id}: ${run.status}, ${run.received} rows received, ${run.accepted} accepted, ${run.rejected} rejected, ` +
        `${run.changedCells} panel cells recomputed (run ${run.id})`,
    ),
    ...runs.flatMap(({ run }) => run.rejections.slice(0, 2).map((r) => `    line ${r.line}: ${r.reason}`)),
    "  GET /api/v1/ingestion/runs shows every run with its rejections",
    `  in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  ].join("\n"),
);
