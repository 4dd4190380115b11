/**
 * A reader of the scale benchmark's bulk loader (scale-bulk-load.ts runs two, in worker threads,
 * while its own thread writes): reads each panel file it is sent as an upload is read, by the
 * service's own readRecords and SourceRowReader (mapping, validation, duplicates within the file,
 * pseudonymization under the same secret), and answers with what the upload would stage, in the
 * order the swap inserts it.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { Catalogue, MetricRules, Source } from "../../src/domain/catalogue";
import { type LoadCounts, noCounts } from "../../src/ingest/load";
import { readRecords } from "../../src/ingest/records";
import { SourceRowReader } from "../../src/ingest/upload";
import type { Observation, Rejection } from "../../src/ingest/validation";
import { MAX_UPLOAD_BYTES } from "../../src/service/requests";

/** What a file is read with: the registered panel source, and the catalogue and stored metric rules as the service read them. */
export interface PanelReaderSetup {
  source: Source;
  catalogue: Catalogue;
  rules: [string, MetricRules][];
  companyKeySecret: string;
}

/** One file as the upload path reads it, before anything is written. */
export interface PanelFileRead {
  counts: LoadCounts;
  rejections: Rejection[];
  /** In the order the swap inserts them: see inSwapOrder. */
  accepted: Observation[];
}

/**
 * A file's accepted rows in the order the swap inserts them (staging.ts: ORDER BY metric, period,
 * arr), equal rows in file order, as SQLite's sorter leaves rows it finds equal. Metric and period
 * are ranked once, so that the sort compares numbers; their keys are ASCII, so JavaScript's string
 * order is SQLite's binary one.
 */
function inSwapOrder(rows: readonly Observation[]): Observation[] {
  const groupOf = (row: Observation) => `${row.metricKey}\u0000${row.period}`;
  const rankOf = new Map([...new Set(rows.map(groupOf))].sort().map((group, rank) => [group, rank]));
  const ranks = Float64Array.from(rows, (row) => rankOf.get(groupOf(row))!);
  return rows
    .map((_, i) => i)
    .sort((a, b) => ranks[a]! - ranks[b]! || rows[a]!.arr - rows[b]!.arr || a - b)
    .map((i) => rows[i]!);
}

/** Reads one file as stageRecords does (src/ingest/load.ts), keeping what it would stage. */
async function readFile(setup: PanelReaderSetup, rules: ReadonlyMap<string, MetricRules>, file: string) {
  const { source } = setup;
  // One reader per file, as each upload has its own: a duplicate is a duplicate within its file.
  const reader = new SourceRowReader(source, setup.catalogue, rules, setup.companyKeySecret);
  const counts = noCounts();
  const accepted: Observation[] = [];
  const rejections: Rejection[] = [];
  for await (const records of readRecords(new Blob([file]).stream(), source.format, MAX_UPLOAD_BYTES)) {
    for (const record of records) {
      counts.received++;
      const row = reader.read(record);
      if (row.kind === "rejection") {
        rejections.push(row.rejection);
        counts.rejected++;
      } else if (row.kind === "observation") {
        accepted.push(row.row);
        counts.accepted++;
      } else {
        throw new Error("a panel source read a survey row");
      }
    }
  }
  return { counts, rejections, accepted: inSwapOrder(accepted) } satisfies PanelFileRead;
}

const setup = workerData as PanelReaderSetup;
const rules = new Map(setup.rules);
const loader = parentPort!;
// The loader sends a reader its next file once it has the last one's answer.
loader.on("message", async (file: string) => loader.postMessage(await readFile(setup, rules, file)));
