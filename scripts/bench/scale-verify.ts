/**
 * Checks that the scale benchmark's bulk loader (scale-bulk-load.ts) stores what the upload path
 * stores. The sample data is loaded twice at one size, each time into a fresh local D1 of its own
 * (scale-service.ts's loadSampleData): once with the panel uploaded file by file through the
 * service's uploadToSource, once with the bulk loader. Every cell is then rebuilt on both by the
 * recompute consumer's recomputeCells, as the benchmark's first recompute does, and the two
 * database files are compared table by table and row by row (scale-compare-d1.ts; it says which
 * columns it sets aside, and why).
 *
 *   npx tsx scripts/bench/scale-verify.ts [--scale 1] [--file-bytes 10485760,400000]
 *
 * Each file size is checked on its own. The default sizes are the benchmark's (one file at 1×) and
 * one that cuts 1× into 25 files, so that the runs' bookkeeping across files is compared too:
 * duplicates in a later file than their original, and the rejections of only the latest 20 runs
 * kept. Exits with 1 when anything differs.
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import type { RecomputeResult } from "../../src/ingest/recompute";
import { REPO_ROOT } from "../lib/local-server";
import type { D1Comparison } from "./scale-compare-d1";
import {
  LocalService,
  loadSampleData,
  PANEL_FILE_BYTES,
  type PanelLoader,
  recomputeBatchSize,
  type SampleLoad,
} from "./scale-service";
import { runUnderSqliteNode } from "./sqlite-node";

const WORK_DIR = path.join(REPO_ROOT, ".wrangler/bench-scale-verify");
const COMPARE_SCRIPT = path.join(REPO_ROOT, "scripts/bench/scale-compare-d1.ts");
/** About 7,400 panel rows a file: 25 files at 1×. */
const SMALL_FILE_BYTES = 400_000;
const LOADERS: readonly PanelLoader[] = ["upload", "bulk"];

interface Loaded {
  load: SampleLoad;
  recompute: RecomputeResult;
  databaseFile: string;
}

/** Loads the sample data into a fresh local D1 and rebuilds every cell; the runtime is stopped after, its files left. */
async function loadAndRecompute(loader: PanelLoader, scale: number, panelFileBytes: number): Promise<Loaded> {
  const service = await LocalService.open(path.join(WORK_DIR, loader));
  try {
    const load = await loadSampleData(service, scale, { panelLoader: loader, panelFileBytes });
    const recompute = await service.recompute(load.cells, recomputeBatchSize());
    console.log(
      `  ${loader}: ${load.files} runs, ${load.accepted.toLocaleString("en-US")} rows accepted and ` +
        `${load.rejected} rejected in ${load.seconds.toFixed(1)} s; ${recompute.cells} cells rebuilt`,
    );
    return { load, recompute, databaseFile: await service.release() };
  } catch (error) {
    await service.close();
    throw error;
  }
}

/** What the two loads reported of themselves: it must agree before their tables are compared. */
function reportedDifferences(upload: Loaded, bulk: Loaded): string[] {
  const reported = ({ load, recompute }: Loaded) => ({
    files: load.files,
    received: load.received,
    accepted: load.accepted,
    rejected: load.rejected,
    cells: load.cells,
    recompute,
  });
  const [a, b] = [reported(upload), reported(bulk)];
  return (Object.keys(a) as (keyof typeof a)[])
    .filter((key) => JSON.stringify(a[key]) !== JSON.stringify(b[key]))
    .map((key) => `${key}: upload ${JSON.stringify(a[key])}, bulk ${JSON.stringify(b[key])}`.slice(0, 300));
}

function printComparison(comparison: D1Comparison): void {
  const schema = comparison.schemaOnlyIn.every((objects) => objects.length === 0);
  console.log(
    `  schema (every object's type, name, table, first page and SQL): ${schema ? "equal" : "DIFFERENT"}`,
  );
  for (const [i, objects] of comparison.schemaOnlyIn.entries()) {
    for (const object of objects) console.log(`    only in ${LOADERS[i]}: ${object}`);
  }
  for (const { table, setAside, rows, onlyIn, examples } of comparison.tables) {
    const same = rows[0] === rows[1] && onlyIn[0] === 0 && onlyIn[1] === 0;
    const verdict = setAside
      ? `not compared: ${setAside}`
      : same
        ? "equal"
        : `DIFFERENT: ${onlyIn[0]} only in upload, ${onlyIn[1]} only in bulk`;
    console.log(`  ${table}: ${rows.map((n) => n.toLocaleString("en-US")).join(" and ")} rows, ${verdict}`);
    if (!same) for (const example of examples) console.log(`    ${JSON.stringify(example)}`);
  }
}

async function verify(scale: number, panelFileBytes: number): Promise<boolean> {
  console.log(`\n${scale}×, panel files of at most ${panelFileBytes.toLocaleString("en-US")} bytes:`);
  const [upload, bulk] = [
    await loadAndRecompute("upload", scale, panelFileBytes),
    await loadAndRecompute("bulk", scale, panelFileBytes),
  ];
  const reported = reportedDifferences(upload, bulk);
  for (const difference of reported) console.log(`  the loads reported different ${difference}`);
  const comparison = await runUnderSqliteNode<D1Comparison>(COMPARE_SCRIPT, [
    upload.databaseFile,
    bulk.databaseFile,
  ]);
  printComparison(comparison);
  const equal = reported.length === 0 && comparison.equal;
  console.log(`  ${equal ? "EQUAL" : "NOT EQUAL"}`);
  return equal;
}

const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    "file-bytes": { type: "string", default: `${PANEL_FILE_BYTES},${SMALL_FILE_BYTES}` },
  },
});
const scale = Number(values.scale);
let equal = true;
try {
  for (const bytes of values["file-bytes"].split(",").map(Number)) {
    equal = (await verify(scale, bytes)) && equal;
  }
  console.log(
    "\nSet aside as differing by nature: run ids (random UUIDs; each run stands as its place in the " +
      "order runs were created), the times of writes (runs' start and finish, rejections, a source's " +
      "last load, migrations applied) and workerd's own table, _cf_METADATA.",
  );
} finally {
  await rm(WORK_DIR, { recursive: true, force: true });
}
process.exit(equal ? 0 : 1);
