/**
 * The soak's figures (scripts/soak/run.ts): a record per minute, the verdicts on them, the
 * printed tables and the "soak" section of bench/results.json.
 */

/** The criteria. Minute 1 is the warm-up, so the RSS baseline is minute 2. */
const RSS_BASELINE_MINUTE = 2;
const MAX_RSS_GROWTH = 0.1;
const MAX_P99_RATIO = 1.5;

/** Stands in for the status where no answer came: a connection refused or reset, or a timeout. */
export const NETWORK_ERROR = "network error";

export interface UploadRecord {
  status: number | typeof NETWORK_ERROR;
  runId?: string;
  rowsAccepted?: number;
  changedCells?: number;
  /** As the run told at the end of the minute. */
  recomputedCells?: number;
}

export interface MinuteRecord {
  minute: number;
  requests: number;
  requestsPerSecond: number;
  readLatencyP50Ms: number;
  readLatencyP99Ms: number;
  /** Answers by status, reads and the admin's calls alike. */
  statuses: Record<string, number>;
  serverErrors: number;
  networkErrors: number;
  unexpected: number;
  /** VmRSS of the workerd that runs the Worker: the median of the minute's samples. */
  workerRssMiB: number;
  /** The same of wrangler's local proxy, which listens on the public port; no deployment has it. */
  proxyRssMiB: number;
  upload?: UploadRecord;
  scheduled?: number | typeof NETWORK_ERROR;
}

/** What the run came to besides the minutes, for the summary. */
export interface RunDetails {
  statusesByRequest: Map<string, Record<string, number>>;
  readerPrincipals: number;
  readsPerPrincipal: number;
  overLimitPrincipal: { letThrough: number; refused: number };
  /** The first answers that fail the run (5xx, network errors, unexpected statuses), with their bodies' start. */
  failingExamples: string[];
  serviceExited: boolean;
}

export interface Verdict {
  criterion: string;
  measured: string;
  outcome: "PASS" | "FAIL" | "SKIPPED";
}

export interface Totals {
  requests: number;
  serverErrors: number;
  networkErrors: number;
  unexpected: number;
  /** Growth of workerd's RSS from the baseline minute to the last, as a fraction; absent if the run was too short. */
  rssGrowth?: number;
  /** The last minute's read p99 over the first minute's; absent if the run was too short. */
  p99Ratio?: number;
}

export const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

export function judge(records: MinuteRecord[], details: RunDetails): { totals: Totals; verdicts: Verdict[] } {
  const sum = (field: "requests" | "serverErrors" | "networkErrors" | "unexpected") =>
    records.reduce((total, record) => total + record[field], 0);
  const totals: Totals = {
    requests: sum("requests"),
    serverErrors: sum("serverErrors"),
    networkErrors: sum("networkErrors"),
    unexpected: sum("unexpected"),
  };
  const verdicts: Verdict[] = [
    {
      criterion: "the service ran to the end",
      measured: details.serviceExited ? `it exited after ${records.length} minutes` : "yes",
      outcome: details.serviceExited ? "FAIL" : "PASS",
    },
    {
      criterion: "no 5xx and no network errors",
      measured: `${totals.serverErrors} 5xx, ${totals.networkErrors} network errors`,
      outcome: totals.serverErrors + totals.networkErrors === 0 ? "PASS" : "FAIL",
    },
    {
      criterion: "only the expected statuses (a 429 only to a principal past its limit)",
      measured: `${totals.unexpected} unexpected`,
      outcome: totals.unexpected === 0 ? "PASS" : "FAIL",
    },
  ];

  const first = records[0];
  const last = records.at(-1);
  const baseline = records[RSS_BASELINE_MINUTE - 1];
  const rssCriterion =
    `the Worker's workerd RSS growth < ${MAX_RSS_GROWTH * 100}%, the last minute's median over minute ` +
    `${RSS_BASELINE_MINUTE}'s (minute 1 is the warm-up)`;
  if (baseline && last && last !== baseline) {
    totals.rssGrowth = round(last.workerRssMiB / baseline.workerRssMiB - 1, 4);
    verdicts.push({
      criterion: rssCriterion,
      measured:
        `${(totals.rssGrowth * 100).toFixed(1)}% (${baseline.workerRssMiB} → ${last.workerRssMiB} MiB; ` +
        `wrangler's proxy ${baseline.proxyRssMiB} → ${last.proxyRssMiB} MiB)`,
      outcome: totals.rssGrowth < MAX_RSS_GROWTH ? "PASS" : "FAIL",
    });
  } else {
    verdicts.push({
      criterion: rssCriterion,
      measured: `needs at least ${RSS_BASELINE_MINUTE + 1} minutes`,
      outcome: "SKIPPED",
    });
  }
  const p99Criterion = `last minute's read p99 ≤ ${MAX_P99_RATIO} × the first minute's`;
  if (first && last && last !== first) {
    totals.p99Ratio = round(last.readLatencyP99Ms / first.readLatencyP99Ms, 3);
    verdicts.push({
      criterion: p99Criterion,
      measured: `${totals.p99Ratio.toFixed(2)} (${last.readLatencyP99Ms} / ${first.readLatencyP99Ms} ms)`,
      outcome: totals.p99Ratio <= MAX_P99_RATIO ? "PASS" : "FAIL",
    });
  } else {
    verdicts.push({ criterion: p99Criterion, measured: "needs at least 2 minutes", outcome: "SKIPPED" });
  }
  return { totals, verdicts };
}

// ---------------------------------------------------------------------------------------------
// Printing

const formatStatuses = (statuses: Record<string, number>) =>
  Object.entries(statuses)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, count]) => `${status}: ${count}`)
    .join(", ");

function describeUpload(upload: UploadRecord | undefined): string {
  if (upload?.changedCells === undefined) return String(upload?.status ?? "–");
  return (
    `${upload.status}, ${upload.rowsAccepted} rows, ` +
    `${upload.recomputedCells ?? "?"}/${upload.changedCells} cells recomputed`
  );
}

/** The line printed as each minute ends. */
export function describeMinute(record: MinuteRecord, minutes: number): string {
  return (
    `minute ${String(record.minute).padStart(String(minutes).length)}/${minutes}  ` +
    `${record.requestsPerSecond.toFixed(1)} req/s  ` +
    `p50 ${record.readLatencyP50Ms.toFixed(1)} ms  p99 ${record.readLatencyP99Ms.toFixed(1)} ms  ` +
    `RSS worker ${record.workerRssMiB.toFixed(1)} MiB, proxy ${record.proxyRssMiB.toFixed(1)} MiB  ` +
    `[${formatStatuses(record.statuses)}]  ` +
    `upload ${describeUpload(record.upload)}  cron ${record.scheduled ?? "–"}`
  );
}

/** Columns padded to their widest cell; those in `numeric` aligned right. */
function printTable(rows: string[][], numeric: ReadonlySet<number>): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
  const align = (cell: string, column: number) =>
    numeric.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!);
  for (const row of rows) console.log(row.map(align).join("  ").trimEnd());
}

export function printSummary(records: MinuteRecord[], details: RunDetails, verdicts: Verdict[]): void {
  console.log("\nPer minute (latencies are of the reads; RSS is the median of the minute's samples):");
  printTable(
    [
      [
        "minute",
        "req/s",
        "p50 ms",
        "p99 ms",
        "worker MiB",
        "proxy MiB",
        "5xx+net",
        "unexpected",
        "statuses",
        "upload",
        "cron",
      ],
      ...records.map((record) => [
        String(record.minute),
        record.requestsPerSecond.toFixed(1),
        record.readLatencyP50Ms.toFixed(1),
        record.readLatencyP99Ms.toFixed(1),
        record.workerRssMiB.toFixed(1),
        record.proxyRssMiB.toFixed(1),
        String(record.serverErrors + record.networkErrors),
        String(record.unexpected),
        formatStatuses(record.statuses),
        describeUpload(record.upload),
        String(record.scheduled ?? "–"),
      ]),
    ],
    new Set([0, 1, 2, 3, 4, 5, 6, 7]),
  );
  console.log("\nBy request, over the whole run:");
  printTable(
    [
      ["request", "statuses"],
      ...[...details.statusesByRequest]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([kind, statuses]) => [kind, formatStatuses(statuses)]),
    ],
    new Set(),
  );
  const { letThrough, refused } = details.overLimitPrincipal;
  console.log(
    `\n${details.readerPrincipals} reader principals of at most ${details.readsPerPrincipal} requests each; ` +
      `the one kept past its limit was let through ${letThrough} times and refused ${refused} times`,
  );
  if (details.failingExamples.length > 0) {
    console.log("\nFirst failing answers:");
    for (const example of details.failingExamples) console.log(`  ${example}`);
  }
  console.log("");
  for (const { outcome, criterion, measured } of verdicts) {
    console.log(`${outcome.padEnd(7)} ${criterion}: ${measured}`);
  }
}

/** The closing line: the counts and the two ratios, and the outcome. */
export function describeOutcome(totals: Totals, passed: boolean): string {
  const growth = totals.rssGrowth === undefined ? "n/a" : `${(totals.rssGrowth * 100).toFixed(1)}%`;
  return (
    `soak: ${totals.requests} requests, ${totals.serverErrors} 5xx, ${totals.networkErrors} network errors, ` +
    `${totals.unexpected} unexpected, RSS growth ${growth}, ` +
    `p99 last/first ${totals.p99Ratio?.toFixed(2) ?? "n/a"} — ${passed ? "PASS" : "FAIL"}`
  );
}
