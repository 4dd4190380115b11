/**
 * The scale benchmark's loader of the sample panel (scale-service.ts runs it): writes the panel at
 * one size straight into that size's local D1 database file with better-sqlite3, while no local
 * runtime holds the file open. Uploading it file by file through the service would take longer
 * than the benchmark's preparation limit at 100×; the upload path is timed on its own (scale.ts's
 * 100,000-row upload, and upload.ts).
 *
 * It stores what uploading the same files would have stored (scale-verify.ts checks this row by
 * row at 1×). The panel is cut into the files its uploads would send (samplePanelFiles, under the
 * same size limit); two worker threads read them as uploads are read, with the service's own code
 * (scale-bulk-read.ts), while this thread writes each, in order, as its upload's swap and commit
 * would: one upload run with its rejections, counts and changed cells, the source's last run and
 * the data version moving as each run moves them. Only the writes differ: prepared statements in
 * one transaction instead of staged chunks swapped in by one D1 batch per file. New rows are
 * inserted in the order the swap inserts them, so they get the same rowids (a cell's rows are read
 * back in rowid order, and recompute sums them in that order) and the indexes of observations grow
 * as the uploads would grow them, row by row in that order, not built afresh and denser.
 *
 * Below the rows, one difference remains. workerd's SQLite writes a whole-number arr as an 8-byte
 * float, better-sqlite3's as a 3- or 4-byte integer (both read back as the same REAL), so the first
 * recompute, which rewrites every row through workerd, grows each by about 4.5 bytes: at 1× the
 * table then spans 4,800 pages instead of the uploads' 4,385, its two peer-group indexes 4-6% fewer.
 *
 *   node --import tsx scripts/bench/scale-bulk-load.ts JOB_JSON   (COMPANY_KEY_SECRET in the environment)
 *
 * under a Node that can load better-sqlite3 (sqlite-node.ts). Prints one line of JSON
 * (PanelBulkLoad); progress goes to stderr.
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { finishRunStatements } from "../../src/db/runs";
import type { Cell } from "../../src/domain/catalogue";
import {
  type LoadCounts,
  RUNS_WITH_REJECTIONS_KEPT,
  type RunOutcome,
  runOutcome,
} from "../../src/ingest/load";
import type { Observation } from "../../src/ingest/validation";
import { samplePanelFiles } from "../sample-data/generate";
import type { PanelFileRead, PanelReaderSetup } from "./scale-bulk-read";

export interface PanelBulkLoadJob extends Omit<PanelReaderSetup, "companyKeySecret"> {
  databaseFile: string;
  scale: number;
  /** The size limit the panel's files are cut at, as for their upload. */
  panelFileBytes: number;
}

/** One file's run, as its upload would have ended it. */
export interface PanelBulkRun extends LoadCounts, RunOutcome {
  changedCells: Cell[];
}

export interface PanelBulkLoad {
  runs: PanelBulkRun[];
  /** From cutting the first file to the commit. */
  seconds: number;
}

/**
 * The page cache's limit: room for the pages the load keeps changing, the four indexes of
 * observations and the table's last (about 5 GB at 100×), so that each is written once, at the
 * commit. Past it, SQLite writes pages out early and reads them back from the system's file cache.
 */
const CACHE_MIB = 6144;

/** Reader threads: reading a file takes about three times as long as writing it. */
const READERS = 2;

/** A reader's worker: tsx must be registered in it before it can start from TypeScript. */
const READER_ENTRY = `import("tsx/esm/api").then(({ register }) => {
  register();
  return import(${JSON.stringify(new URL("./scale-bulk-read.ts", import.meta.url).href)});
});`;

/**
 * The files read by READERS worker threads, each given the next file as soon as it answers, and
 * yielded in file order: while this thread writes a file, the readers read the next ones.
 */
async function* readInParallel(
  files: Iterable<string>,
  setup: PanelReaderSetup,
): AsyncGenerator<PanelFileRead> {
  const readers = Array.from(
    { length: READERS },
    () => new Worker(READER_ENTRY, { eval: true, workerData: setup }),
  );
  const unsent = files[Symbol.iterator]();
  const reading: Promise<[PanelFileRead]>[] = [];
  // File i goes to reader i % READERS, so each reader has one file at a time and answers in order.
  let sent = 0;
  const sendNext = () => {
    const next = unsent.next();
    if (next.done) return;
    const reader = readers[sent++ % READERS]!;
    reading.push(once(reader, "message") as Promise<[PanelFileRead]>);
    reader.postMessage(next.value);
  };
  try {
    for (const _ of readers) sendNext();
    while (reading.length > 0) {
      const [read] = await reading.shift()!;
      sendNext();
      yield read;
    }
  } finally {
    await Promise.all(readers.map((reader) => reader.terminate()));
  }
}

// ---------------------------------------------------------------------------------------------
// Writing: what the upload's swap and commit write

/** Changed cells in the order stagedChanges lists them (staging.ts). */
const cellOrder = (a: Cell, b: Cell) =>
  a.metricKey.localeCompare(b.metricKey) ||
  a.bandKey.localeCompare(b.bandKey) ||
  a.period.localeCompare(b.period);

/** A run's statements, each writing what the upload path's own SQL writes (staging.ts, load.ts, ingestion.ts, db/queries.ts). */
function prepareStatements(db: Database.Database) {
  const shared = new Map<string, Database.Statement>();
  return {
    createRun: db.prepare(
      `INSERT INTO ingestion_runs (id, source_id, trigger, status, started_at, attempts)
       VALUES (?, ?, 'upload', 'running', ?, 1)`,
    ),
    rejectRow: db.prepare(
      "INSERT INTO rejected_rows (source_id, run_id, line, reason, rejected_at) VALUES (?, ?, ?, ?, ?)",
    ),
    // New rows start unflagged; the recompute of their cell flags the outliers.
    insertNew: db.prepare(
      `INSERT INTO observations
         (source_id, metric_key, period, company_key, value, arr, band_key, industry, is_outlier)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)
       ON CONFLICT (source_id, metric_key, period, company_key) DO NOTHING`,
    ),
    liveRow: db.prepare(
      `SELECT value, arr, band_key AS bandKey, industry FROM observations
       WHERE source_id = ? AND metric_key = ? AND period = ? AND company_key = ?`,
    ),
    /** A statement the service shares as text (db/runs.ts), prepared once per load. */
    prepared: (sql: string) => {
      let statement = shared.get(sql);
      if (statement === undefined) {
        statement = db.prepare(sql);
        shared.set(sql, statement);
      }
      return statement;
    },
  };
}
type Statements = ReturnType<typeof prepareStatements>;
type LiveRow = Pick<Observation, "value" | "arr" | "bandKey" | "industry">;

/** Writes what one file's upload would: its run, its rejections, its swap and its commit. */
function writeRun(statements: Statements, sourceId: string, { counts, rejections, accepted }: PanelFileRead) {
  const runId = randomUUID();
  const startedAt = new Date().toISOString();
  statements.createRun.run(runId, sourceId, startedAt);
  for (const rejection of rejections) {
    statements.rejectRow.run(sourceId, runId, rejection.line, rejection.reason, startedAt);
  }

  // The swap's upsert: a new row is inserted; a row an earlier file stored (the panel's planted
  // duplicates) is left alone, keeping its rowid, when its values are the same.
  const cells = new Map<string, Cell>();
  let lastCellKey = "";
  for (const { companyKey, metricKey, period, value, arr, bandKey, industry } of accepted) {
    const row = [sourceId, metricKey, period, companyKey, value, arr, bandKey, industry];
    if (statements.insertNew.run(...row).changes > 0) {
      const cellKey = `${metricKey}\u0000${bandKey}\u0000${period}`;
      // Rows in swap order come cell after cell.
      if (cellKey !== lastCellKey) cells.set(cellKey, { metricKey, bandKey, period });
      lastCellKey = cellKey;
      continue;
    }
    const live = statements.liveRow.get(sourceId, metricKey, period, companyKey) as LiveRow;
    if (live.value !== value || live.arr !== arr || live.bandKey !== bandKey || live.industry !== industry) {
      // The swap would rewrite the row, and recompute the band it leaves; no sample file revises a row.
      throw new Error(`a ${metricKey} row of ${period} that an earlier file stored has other values here`);
    }
    counts.unchanged++;
  }

  const changedCells = [...cells.values()].sort(cellOrder);
  const outcome = runOutcome(counts);
  const finishedAt = new Date().toISOString();
  const finishing = finishRunStatements({
    runId,
    sourceId,
    ...outcome,
    ...counts,
    changedCells,
    finishedAt,
    // The benchmark's first recompute pays the cells at once; none is ever due for a resend.
    requeueAfter: finishedAt,
    runsWithRejectionsKept: RUNS_WITH_REJECTIONS_KEPT,
  });
  for (const { sql, values } of finishing) statements.prepared(sql).run(...values);
  return { ...counts, ...outcome, changedCells } satisfies PanelBulkRun;
}

// ---------------------------------------------------------------------------------------------

async function load(job: PanelBulkLoadJob, companyKeySecret: string): Promise<PanelBulkLoad> {
  const { databaseFile, scale, panelFileBytes, ...setup } = job;
  const db = new Database(databaseFile);
  try {
    // Opening the file recovers the write-ahead log the runtime left; leaving WAL mode checkpoints
    // it. Without a journal, each page is written once, at the commit or when the cache spills it:
    // a failed load leaves a broken file, which the benchmark throws away with its directory.
    db.pragma("journal_mode = OFF");
    db.pragma("synchronous = OFF");
    db.pragma(`cache_size = ${-CACHE_MIB * 1024}`);
    const runs: PanelBulkRun[] = [];
    const started = performance.now();
    // One transaction for every file, begun by hand: the files arrive asynchronously, and
    // better-sqlite3's transaction() takes only synchronous functions.
    db.exec("BEGIN");
    const statements = prepareStatements(db);
    const files = samplePanelFiles(scale, panelFileBytes);
    for await (const read of readInParallel(files, { ...setup, companyKeySecret })) {
      runs.push(writeRun(statements, setup.source.id, read));
      if (runs.length % 10 === 0) {
        const rows = runs.reduce((sum, run) => sum + run.received, 0);
        const seconds = (performance.now() - started) / 1000;
        console.error(
          `  bulk load: ${runs.length} files, ${rows.toLocaleString("en-US")} rows, ${seconds.toFixed(0)} s`,
        );
      }
    }
    db.exec("COMMIT");
    const seconds = (performance.now() - started) / 1000;
    // The journal mode the runtime left the file in.
    db.pragma("journal_mode = WAL");
    return { runs, seconds };
  } finally {
    db.close();
  }
}

const [jobJson] = process.argv.slice(2);
const companyKeySecret = process.env.COMPANY_KEY_SECRET;
if (!jobJson || !companyKeySecret) {
  console.error("usage: COMPANY_KEY_SECRET=… scale-bulk-load.ts JOB_JSON");
  process.exit(2);
}
console.log(JSON.stringify(await load(JSON.parse(jobJson) as PanelBulkLoadJob, companyKeySecret)));
