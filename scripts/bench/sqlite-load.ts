/**
 * The plain-SQLite side of the upload benchmark (scripts/bench/upload.ts), run in a child process
 * because better-sqlite3 is a native addon: it loads only under the Node whose ABI it was built
 * for, which need not be the Node that runs the scripts (see findSqliteNode in sqlite-node.ts).
 *
 * Loads a panel CSV into a fresh SQLite file the way a competent plain loader would: one prepared
 * upsert on the natural key, run once per row inside one transaction, into a table with the same
 * columns and primary key as the service's `observations`. Timed from the CSV text in memory to
 * the commit, parsing and band lookup included, as the service's upload includes them. Prints one
 * line of JSON (SqliteLoadResult).
 *
 *   node --import tsx scripts/bench/sqlite-load.ts CSV_FILE DATABASE_FILE SOURCE_ID RANGES_JSON
 *
 * RANGES_JSON is the service's revenue ranges ([{key, minArr, maxArr}]), so bands come from the
 * same catalogue.
 */
import { readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import Database from "better-sqlite3";

export interface SqliteLoadResult {
  rows: number;
  /** Rows in the table after the commit, counted again. */
  stored: number;
  seconds: number;
  node: string;
  betterSqlite3: string;
  sqlite: string;
  journalMode: string;
  synchronous: number;
}

interface RevenueRange {
  key: string;
  minArr: number;
  maxArr: number | null;
}

/**
 * The service's `observations` (migrations 0000 and 0002): its columns, primary key and the three
 * secondary indexes every insert also maintains. No foreign keys: there are no other tables here.
 */
const SCHEMA = `CREATE TABLE observations (
  source_id text NOT NULL,
  metric_key text NOT NULL,
  period text NOT NULL,
  company_key text NOT NULL,
  value real NOT NULL,
  arr real NOT NULL,
  band_key text NOT NULL,
  industry text,
  is_outlier integer DEFAULT false NOT NULL,
  PRIMARY KEY (source_id, metric_key, period, company_key)
);
CREATE INDEX observations_cell ON observations (metric_key, band_key, period);
CREATE INDEX observations_peer_span ON observations (metric_key, period, arr, source_id, band_key, industry, is_outlier, value);
CREATE INDEX observations_peer_industry ON observations (metric_key, period, industry, arr, source_id, band_key, is_outlier, value)`;

const UPSERT = `INSERT INTO observations (source_id, metric_key, period, company_key, value, arr, band_key, industry)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (source_id, metric_key, period, company_key) DO UPDATE SET
  value = excluded.value, arr = excluded.arr, band_key = excluded.band_key, industry = excluded.industry`;

const COLUMNS = ["company_key", "metric", "period", "arr", "industry", "value"] as const;

function bandFor(ranges: readonly RevenueRange[], arr: number): string {
  const range = ranges.find((r) => arr >= r.minArr && (r.maxArr === null || arr < r.maxArr));
  if (!range) throw new Error(`no revenue range holds arr ${arr}`);
  return range.key;
}

function load(csvFile: string, databaseFile: string, sourceId: string, ranges: RevenueRange[]) {
  const text = readFileSync(csvFile, "utf8");
  for (const suffix of ["", "-journal", "-wal", "-shm"]) rmSync(databaseFile + suffix, { force: true });
  const db = new Database(databaseFile);
  try {
    db.exec(SCHEMA);
    const upsert = db.prepare(UPSERT);

    const started = performance.now();
    // The file is the benchmark's own: comma-separated, no quoted fields, "\n" line ends.
    const lines = text.split("\n");
    const header = lines[0]!.split(",");
    const [companyAt, metricAt, periodAt, arrAt, industryAt, valueAt] = COLUMNS.map((name) => {
      const at = header.indexOf(name);
      if (at < 0) throw new Error(`the CSV has no ${name} column`);
      return at;
    }) as [number, number, number, number, number, number];
    let rows = 0;
    db.transaction(() => {
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i]!;
        if (line === "") continue;
        const fields = line.split(",");
        const arr = Number(fields[arrAt]);
        upsert.run(
          sourceId,
          fields[metricAt],
          fields[periodAt],
          fields[companyAt],
          Number(fields[valueAt]),
          arr,
          bandFor(ranges, arr),
          fields[industryAt] || null,
        );
        rows++;
      }
    })();
    const seconds = (performance.now() - started) / 1000;

    const result: SqliteLoadResult = {
      rows,
      stored: (db.prepare("SELECT COUNT(*) AS n FROM observations").get() as { n: number }).n,
      seconds,
      node: process.version,
      betterSqlite3: (createRequire(import.meta.url)("better-sqlite3/package.json") as { version: string })
        .version,
      sqlite: (db.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v,
      journalMode: db.pragma("journal_mode", { simple: true }) as string,
      synchronous: db.pragma("synchronous", { simple: true }) as number,
    };
    return result;
  } finally {
    db.close();
  }
}

const [csvFile, databaseFile, sourceId, rangesJson] = process.argv.slice(2);
if (!csvFile || !databaseFile || !sourceId || !rangesJson) {
  console.error("usage: sqlite-load.ts CSV_FILE DATABASE_FILE SOURCE_ID RANGES_JSON");
  process.exit(2);
}
console.log(JSON.stringify(load(csvFile, databaseFile, sourceId, JSON.parse(rangesJson) as RevenueRange[])));
