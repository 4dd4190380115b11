/**
 * Self-test of the chaos checker (scripts/chaos/reference.ts) on a small in-memory database:
 *   tsx scripts/chaos/reference.selftest.ts
 * Exits non-zero on the first failed assertion.
 *
 * The stored figures below are numpy 2.4.6 / scipy 1.17.1 output, printed by this script
 * (flags given for the last two calls: the value 35.6 sits exactly on the upper Tukey fence,
 * where either flag is right):
 *
 *   import numpy as np, scipy.stats as st
 *   def ref(v, rule, flags=None):
 *       x = np.array(v, float); m = np.median(x)
 *       if flags is not None: out = np.array(flags, bool)
 *       elif rule == "tukey":
 *           q1, q3 = np.percentile(x, [25, 75]); out = (x < q1 - 1.5 * (q3 - q1)) | (x > q3 + 1.5 * (q3 - q1))
 *       else:
 *           d = np.abs(x - m); mad = np.median(d); mean_ad = d.mean()
 *           z = 0.6745 * (x - m) / mad if mad > 0 else (x - m) / (1.253314 * mean_ad) if mean_ad > 0 else 0 * x
 *           out = np.abs(z) > 3.5
 *       k = np.sort(x[~out]); n = len(k)
 *       l = max(i for i in range(n + 1) if st.binom.cdf(i - 1, n, 0.5) <= 0.025)
 *       print(dict(flags=out.astype(int).tolist(), n=n, outliers_excluded=int(out.sum()),
 *                  **dict(zip(["p10", "p25", "p50", "p75", "p90"], np.percentile(k, [10, 25, 50, 75, 90]).tolist())),
 *                  mean=k.mean(), sd=k.std(ddof=1) if n > 1 else None,
 *                  skewness=st.skew(k, bias=False) if n > 2 and k.std() > 0 else None,
 *                  median_low=k[l - 1] if l else None, median_high=k[n - l] if l else None))
 *   ref([10, 12, 11, 13, 12.5, 11.5, 14, 10.5, 95, 18.75, 21], "modified_z")
 *   ref([5, 5, 5, 5, 5, 6, 7, 35, 43], "modified_z")
 *   ref([7.25] * 5, "modified_z")
 *   ref([3.3], "modified_z")
 *   ref([20, 25, 30, 35, 40, 45, 50, 55, 300], "tukey")
 *   ref([1, 2, 4], "tukey")
 *   ref([10.1, 10.1, 10.1, 20.3, 20.3, 20.3, 35.6], "tukey", flags=[0] * 7)
 *   ref([10.1, 10.1, 10.1, 20.3, 20.3, 20.3, 35.6], "tukey", flags=[0] * 6 + [1])
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { checkPanelSummaries } from "./reference";

interface Summary {
  n: number;
  outliers_excluded: number;
  p10: number;
  p25: number;
  p50: number;
  p75: number;
  p90: number;
  mean: number;
  sd: number | null;
  skewness: number | null;
  median_low: number | null;
  median_high: number | null;
}

interface Slice {
  sourceId: string;
  metricKey: string;
  bandKey: string;
  period: string;
  values: number[];
  flags: number[];
  summary: Summary;
}

const EDGE_OF_FENCE = [10.1, 10.1, 10.1, 20.3, 20.3, 20.3, 35.6];

const SLICES: Slice[] = [
  {
    // A clear modified-z outlier (95), and two near the threshold: 18.75 (|M| = 2.81) is kept,
    // 21 (|M| = 3.82) is not.
    sourceId: "panel-a",
    metricKey: "growth",
    bandKey: "1M-5M",
    period: "2024",
    values: [10, 12, 11, 13, 12.5, 11.5, 14, 10.5, 95, 18.75, 21],
    flags: [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1],
    summary: {
      n: 9,
      outliers_excluded: 2,
      p10: 10.4,
      p25: 11.0,
      p50: 12.0,
      p75: 13.0,
      p90: 14.950000000000001,
      mean: 12.583333333333334,
      sd: 2.62797450520358,
      skewness: 1.8214654276151496,
      median_low: 10.5,
      median_high: 14.0,
    },
  },
  {
    // MAD = 0, so the MeanAD fallback decides: 35 (|M| = 3.03) is kept, 43 (|M| = 3.84) is not.
    sourceId: "panel-a",
    metricKey: "growth",
    bandKey: "5M-20M",
    period: "2024",
    values: [5, 5, 5, 5, 5, 6, 7, 35, 43],
    flags: [0, 0, 0, 0, 0, 0, 0, 0, 1],
    summary: {
      n: 8,
      outliers_excluded: 1,
      p10: 5.0,
      p25: 5.0,
      p50: 5.0,
      p75: 6.25,
      p90: 15.399999999999995,
      mean: 9.125,
      sd: 10.480423928176078,
      skewness: 2.8017490827056615,
      median_low: 5.0,
      median_high: 35.0,
    },
  },
  {
    // All equal: MAD and MeanAD are 0, nothing is flagged, and there is no skewness.
    sourceId: "panel-a",
    metricKey: "growth",
    bandKey: "0-1M",
    period: "2024-Q3",
    values: [7.25, 7.25, 7.25, 7.25, 7.25],
    flags: [0, 0, 0, 0, 0],
    summary: {
      n: 5,
      outliers_excluded: 0,
      p10: 7.25,
      p25: 7.25,
      p50: 7.25,
      p75: 7.25,
      p90: 7.25,
      mean: 7.25,
      sd: 0.0,
      skewness: null,
      median_low: null,
      median_high: null,
    },
  },
  {
    // n = 1: no sd, no skewness, no median interval.
    sourceId: "panel-a",
    metricKey: "growth",
    bandKey: "0-1M",
    period: "2024",
    values: [3.3],
    flags: [0],
    summary: {
      n: 1,
      outliers_excluded: 0,
      p10: 3.3,
      p25: 3.3,
      p50: 3.3,
      p75: 3.3,
      p90: 3.3,
      mean: 3.3,
      sd: null,
      skewness: null,
      median_low: null,
      median_high: null,
    },
  },
  {
    // A clear Tukey outlier.
    sourceId: "panel-a",
    metricKey: "rule_of_40",
    bandKey: "1M-5M",
    period: "2024",
    values: [20, 25, 30, 35, 40, 45, 50, 55, 300],
    flags: [0, 0, 0, 0, 0, 0, 0, 0, 1],
    summary: {
      n: 8,
      outliers_excluded: 1,
      p10: 23.5,
      p25: 28.75,
      p50: 37.5,
      p75: 46.25,
      p90: 51.5,
      mean: 37.5,
      sd: 12.24744871391589,
      skewness: 0.0,
      median_low: 20.0,
      median_high: 55.0,
    },
  },
  {
    // n = 3, the smallest with a skewness; too few for a median interval.
    sourceId: "panel-a",
    metricKey: "rule_of_40",
    bandKey: "0-1M",
    period: "2024",
    values: [1, 2, 4],
    flags: [0, 0, 0],
    summary: {
      n: 3,
      outliers_excluded: 0,
      p10: 1.2,
      p25: 1.5,
      p50: 2.0,
      p75: 3.0,
      p90: 3.6,
      mean: 2.3333333333333335,
      sd: 1.5275252316519465,
      skewness: 0.9352195295828235,
      median_low: null,
      median_high: null,
    },
  },
  {
    // 35.6 lies on the upper fence 20.3 + 1.5·(20.3 − 10.1), stored as kept.
    sourceId: "panel-a",
    metricKey: "rule_of_40",
    bandKey: "5M-20M",
    period: "2024",
    values: EDGE_OF_FENCE,
    flags: [0, 0, 0, 0, 0, 0, 0],
    summary: {
      n: 7,
      outliers_excluded: 0,
      p10: 10.1,
      p25: 10.1,
      p50: 20.3,
      p75: 20.3,
      p90: 26.420000000000005,
      mean: 18.11428571428571,
      sd: 9.244535065184651,
      skewness: 1.1321377313973884,
      median_low: 10.1,
      median_high: 35.6,
    },
  },
  {
    // The same slice in another panel, stored as flagged; the skewness of what is left is 0 but
    // for rounding.
    sourceId: "panel-c",
    metricKey: "rule_of_40",
    bandKey: "5M-20M",
    period: "2024",
    values: EDGE_OF_FENCE,
    flags: [0, 0, 0, 0, 0, 0, 1],
    summary: {
      n: 6,
      outliers_excluded: 1,
      p10: 10.1,
      p25: 10.1,
      p50: 15.2,
      p75: 20.3,
      p90: 20.3,
      mean: 15.199999999999998,
      sd: 5.586770086552695,
      skewness: 2.4448884946667028e-15,
      median_low: 10.1,
      median_high: 20.3,
    },
  },
];

const SUMMARY_COLUMNS = Object.keys(SLICES[0]!.summary) as (keyof Summary)[];
const FIRST = SLICES[0]!;
const FIRST_NAME = "panel-a/growth/1M-5M/2024";
const WHERE_FIRST = `source_id = 'panel-a' AND metric_key = 'growth' AND band_key = '1M-5M' AND period = '2024'`;

/** The reference slices, stored as the service would store them, plus a survey it must skip. */
function referenceDatabase(): DatabaseSync {
  const db = new DatabaseSync(":memory:");
  db.exec(`
    CREATE TABLE sources (id TEXT PRIMARY KEY, kind TEXT NOT NULL);
    CREATE TABLE metrics (key TEXT PRIMARY KEY, outlier_method TEXT NOT NULL);
    CREATE TABLE observations (
      source_id TEXT, metric_key TEXT, band_key TEXT, period TEXT, company_key TEXT,
      value REAL NOT NULL, is_outlier INTEGER NOT NULL);
    CREATE TABLE summaries (
      source_id TEXT, metric_key TEXT, band_key TEXT, period TEXT,
      ${SUMMARY_COLUMNS.map((column) => `${column} REAL`).join(", ")});
    INSERT INTO sources VALUES ('panel-a', 'panel'), ('panel-c', 'panel'), ('survey-b', 'survey');
    INSERT INTO metrics VALUES ('growth', 'modified_z'), ('rule_of_40', 'tukey');
    -- A survey's summary has no observations and is not a panel's to recompute.
    INSERT INTO summaries (source_id, metric_key, band_key, period, n, p25, p50, p75)
      VALUES ('survey-b', 'growth', '1M-5M', '2024', 100, 1, 2, 3);
  `);
  const insertObservation = db.prepare("INSERT INTO observations VALUES (?, ?, ?, ?, ?, ?, ?)");
  const summaryColumns = ["source_id", "metric_key", "band_key", "period", ...SUMMARY_COLUMNS];
  const insertSummary = db.prepare(
    `INSERT INTO summaries (${summaryColumns.join(", ")}) VALUES (${summaryColumns.map(() => "?").join(", ")})`,
  );
  for (const slice of SLICES) {
    const key = [slice.sourceId, slice.metricKey, slice.bandKey, slice.period];
    slice.values.forEach((value, i) => {
      insertObservation.run(...key, `${slice.bandKey}-company-${i}`, value, slice.flags[i]!);
    });
    insertSummary.run(...key, ...SUMMARY_COLUMNS.map((column) => slice.summary[column]));
  }
  return db;
}

function test(name: string, body: () => void): void {
  body();
  console.log(`ok - ${name}`);
}

test("the recomputation agrees with numpy on every slice", () => {
  const check = checkPanelSummaries(referenceDatabase());
  assert.deepEqual(check.mismatches, []);
  assert.equal(check.cellsChecked, SLICES.length);
  // 35.6 in each of the two edge-of-fence slices, accepted with either flag.
  assert.equal(check.onFence, 2);
});

test("a corrupted p50 and a corrupted is_outlier flag are both reported", () => {
  const db = referenceDatabase();
  db.exec(`UPDATE summaries SET p50 = 12.1 WHERE ${WHERE_FIRST}`);
  db.exec(`UPDATE observations SET is_outlier = 0 WHERE ${WHERE_FIRST} AND value = 95`);
  assert.deepEqual(checkPanelSummaries(db).mismatches, [
    `${FIRST_NAME}: is_outlier of company 1M-5M-company-8 (value 95) expected 1, stored 0`,
    `${FIRST_NAME}: p50 expected 12, stored 12.1`,
  ]);
});

test("every summary column is compared", () => {
  for (const column of SUMMARY_COLUMNS) {
    const db = referenceDatabase();
    db.exec(`UPDATE summaries SET ${column} = ${column} + 1 WHERE ${WHERE_FIRST}`);
    const stored = FIRST.summary[column]! + 1;
    assert.deepEqual(checkPanelSummaries(db).mismatches, [
      `${FIRST_NAME}: ${column} expected ${FIRST.summary[column]}, stored ${stored}`,
    ]);
  }
});

test("a missing or an orphaned summary row is reported", () => {
  const db = referenceDatabase();
  db.exec(`DELETE FROM summaries WHERE ${WHERE_FIRST}`);
  db.exec("DELETE FROM observations WHERE metric_key = 'growth' AND band_key = '0-1M' AND period = '2024'");
  const check = checkPanelSummaries(db);
  assert.deepEqual(check.mismatches, [
    `${FIRST_NAME}: no summary row for a slice with 11 observations`,
    "panel-a/growth/0-1M/2024: summary row stored, but the slice has no observations",
  ]);
  assert.equal(check.cellsChecked, SLICES.length);
});

test("a metric with an unknown outlier method is reported", () => {
  const db = referenceDatabase();
  db.exec("UPDATE metrics SET outlier_method = 'grubbs' WHERE key = 'growth'");
  const growthSlices = ["0-1M/2024", "0-1M/2024-Q3", "1M-5M/2024", "5M-20M/2024"];
  assert.deepEqual(
    checkPanelSummaries(db).mismatches,
    growthSlices.map((slice) => `panel-a/growth/${slice}: the metric's outlier method grubbs is unknown`),
  );
});
