/**
 * Compares two local D1 database files table by table and row by row, for scale-verify.ts: every
 * table of either, every column with its storage class, and the rowid (the order recompute reads a
 * cell's rows in). What differs between two loads of the same data by nature is set aside
 * (NORMALIZED, NOT_THE_SERVICES). The schema is compared too: every object's type, name, table,
 * SQL and first page.
 *
 *   node --import tsx scripts/bench/scale-compare-d1.ts FILE_A FILE_B
 *
 * under a Node that can load better-sqlite3 (sqlite-node.ts). Prints one line of JSON (D1Comparison).
 */
import Database from "better-sqlite3";

export interface TableComparison {
  table: string;
  /** Why the table's rows were not compared, when they were not. */
  setAside?: string;
  rows: [number, number];
  /** Rows of each file that the other does not have, after NORMALIZED. */
  onlyIn: [number, number];
  /** A few of them, for the report. */
  examples: unknown[];
}

export interface D1Comparison {
  equal: boolean;
  /** Schema objects (type, name, table, first page, SQL) of each file that the other does not have. */
  schemaOnlyIn: [string[], string[]];
  tables: TableComparison[];
}

/** Tables in the file that are workerd's, not the service's, and why their rows may differ. */
const NOT_THE_SERVICES: Record<string, string> = {
  _cf_METADATA:
    "workerd's metadata of the Durable Object behind local D1: a count it moves on with every write it " +
    "commits, which writes made without workerd (the bulk loader's) do not move",
};

/**
 * What stands in for columns that two loads of the same data cannot share: the time of a write,
 * and a run's id, a random UUID, for which the run's place in the order runs were created stands.
 */
const NORMALIZED: Record<string, Record<string, "ignored: a time" | "the run's ordinal">> = {
  ingestion_runs: { id: "the run's ordinal", started_at: "ignored: a time", finished_at: "ignored: a time" },
  rejected_rows: { run_id: "the run's ordinal", rejected_at: "ignored: a time" },
  sources: { last_run_id: "the run's ordinal", last_updated: "ignored: a time" },
  d1_migrations: { applied_at: "ignored: a time" },
};

const SCHEMAS = ["main", "other"] as const;
type Schema = (typeof SCHEMAS)[number];

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

function compare(fileA: string, fileB: string): D1Comparison {
  const db = new Database(fileA);
  try {
    db.prepare("ATTACH DATABASE ? AS other").run(fileB);
    for (const schema of SCHEMAS) {
      db.exec(`CREATE TEMP TABLE ${schema}_run_ordinal AS
        SELECT id, row_number() OVER (ORDER BY rowid) AS ordinal FROM ${schema}.ingestion_runs`);
    }
    const schemaObjects = (schema: Schema) =>
      new Set(
        (
          db
            .prepare(`SELECT type, name, tbl_name, rootpage, sql FROM ${schema}.sqlite_master`)
            .all() as Record<string, string | null>[]
        ).map((object) => JSON.stringify(object)),
      );
    const [objectsA, objectsB] = SCHEMAS.map(schemaObjects) as [Set<string>, Set<string>];
    const schemaOnlyIn: D1Comparison["schemaOnlyIn"] = [
      [...objectsA].filter((object) => !objectsB.has(object)),
      [...objectsB].filter((object) => !objectsA.has(object)),
    ];

    const tableNames = (schema: Schema) =>
      (
        db.prepare(`SELECT name FROM ${schema}.sqlite_master WHERE type = 'table' ORDER BY name`).all() as {
          name: string;
        }[]
      ).map((row) => row.name);
    const tables = [...new Set(SCHEMAS.flatMap(tableNames))].sort();

    const comparisons = tables.map((table): TableComparison => {
      const inBoth = SCHEMAS.every((schema) => tableNames(schema).includes(table));
      const count = (schema: Schema) =>
        tableNames(schema).includes(table)
          ? (db.prepare(`SELECT count(*) AS n FROM ${schema}.${quote(table)}`).get() as { n: number }).n
          : 0;
      const rows: [number, number] = [count("main"), count("other")];
      const setAside = NOT_THE_SERVICES[table];
      if (setAside) return { table, setAside, rows, onlyIn: [0, 0], examples: [] };
      if (!inBoth) return { table, rows, onlyIn: rows, examples: [] };
      const columns = (
        db.prepare(`SELECT name FROM pragma_table_info(?, 'main')`).all(table) as { name: string }[]
      ).map((row) => row.name);
      const withoutRowid = (
        db.prepare("SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?").get(table) as {
          wr: number;
        }
      ).wr;
      const selectList = (schema: Schema) =>
        [
          ...(withoutRowid ? [] : ["t.rowid AS rowid"]),
          ...columns.flatMap((column) => {
            const rule = NORMALIZED[table]?.[column];
            const value = `t.${quote(column)}`;
            if (rule === "ignored: a time") return [];
            if (rule === "the run's ordinal") {
              return [`(SELECT ordinal FROM ${schema}_run_ordinal WHERE id = ${value}) AS ${quote(column)}`];
            }
            return [value, `typeof(${value}) AS ${quote(`typeof ${column}`)}`];
          }),
        ].join(", ");
      const select = (schema: Schema) => `SELECT ${selectList(schema)} FROM ${schema}.${quote(table)} AS t`;
      const onlyIn = (first: Schema, second: Schema) => `${select(first)} EXCEPT ${select(second)}`;
      const countOf = (sql: string) =>
        (db.prepare(`SELECT count(*) AS n FROM (${sql})`).get() as { n: number }).n;
      return {
        table,
        rows,
        onlyIn: [countOf(onlyIn("main", "other")), countOf(onlyIn("other", "main"))],
        examples: [
          ...db.prepare(`${onlyIn("main", "other")} LIMIT 3`).all(),
          ...db.prepare(`${onlyIn("other", "main")} LIMIT 3`).all(),
        ],
      };
    });
    return {
      equal:
        schemaOnlyIn.every((objects) => objects.length === 0) &&
        comparisons.every((c) => c.rows[0] === c.rows[1] && c.onlyIn[0] === 0 && c.onlyIn[1] === 0),
      schemaOnlyIn,
      tables: comparisons,
    };
  } finally {
    db.close();
  }
}

const [fileA, fileB] = process.argv.slice(2);
if (!fileA || !fileB) {
  console.error("usage: scale-compare-d1.ts FILE_A FILE_B");
  process.exit(2);
}
console.log(JSON.stringify(compare(fileA, fileB)));
