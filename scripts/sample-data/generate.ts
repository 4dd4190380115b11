/**
 * Deterministic SAMPLE data for local development and demos: three fictional survey sources that
 * publish quantiles per (metric, ARR band, year), and one fictional company panel published as a
 * CSV of per-company observations. None of it is real; every source name says "(sample data)".
 *
 * Pure: no I/O, no clock, no Math.random. The same seed gives byte-identical output.
 *
 * Model. Each metric has a median per ARR band (calibrated to widely published SaaS benchmark
 * figures), a shape that turns a standard-normal score z into a value (linear, log-shifted for
 * right-skewed metrics, or reflected below a cap for left-skewed ones), a mild year effect, and
 * small per-industry and per-source offsets. Survey quantiles are that model evaluated at the
 * quantiles' z-scores plus sampling noise shrinking with n; panel companies draw z from a
 * persistent company effect (partly a shared "quality" factor) plus yearly noise.
 */
import type { SourceKind, SourceMapping } from "../../src/domain/catalogue";
import type { SurveyRow } from "../../src/ingest/validation";
import { Prng } from "./prng";

export interface SampleSource {
  id: string;
  name: string;
  kind: "survey" | "panel";
  url: string | null;
  lastUpdated: string;
}

/** A survey's published cell, in the shape ingestion validates. */
export interface SurveyRecord extends SurveyRow {
  sourceId: string;
}

export interface SampleData {
  sources: SampleSource[];
  surveys: SurveyRecord[];
  panelSourceId: string;
  panelCsv: string;
}

export const SAMPLE_SEED = 20260115;

// ---------------------------------------------------------------------------------------------
// Dimensions

const YEARS = [2019, 2020, 2021, 2022, 2023, 2024, 2025] as const;

/** ARR bands [min, max) in USD, with the log10 ARR where each band's calibration is anchored. */
const BANDS = [
  { key: "0-1M", anchor: Math.log10(450_000) },
  { key: "1M-5M", anchor: Math.log10(2_200_000) },
  { key: "5M-20M", anchor: Math.log10(10_000_000) },
  { key: "20M-50M", anchor: Math.log10(32_000_000) },
  { key: "50M+", anchor: Math.log10(110_000_000) },
] as const;

/** Market climate per year: +1 ≈ the 2021 boom, negative ≈ the 2023 efficiency squeeze. */
const CLIMATE: Record<number, number> = {
  2019: 0,
  2020: -0.2,
  2021: 1,
  2022: 0.4,
  2023: -0.6,
  2024: -0.1,
  2025: 0,
};

const INDUSTRIES = [
  "devtools",
  "fintech",
  "healthtech",
  "martech",
  "security",
  "hr-tech",
  "vertical-saas",
  "data-infra",
] as const;
type Industry = (typeof INDUSTRIES)[number];

// ---------------------------------------------------------------------------------------------
// Metric model

type Five = readonly [number, number, number, number, number];

/**
 * How a standard-normal score z becomes a value around a median m with spread s:
 * - linear:    m + s·z
 * - log:       (m + shift)·exp(s·z) − shift        (right-skewed, bounded below by −shift)
 * - reflected: cap − (cap − m)·exp(−s·z)           (left-skewed, bounded above by cap)
 */
export type Shape = { kind: "linear" } | { kind: "log"; shift: number } | { kind: "reflected"; cap: number };

export interface MetricModel {
  key: string;
  unit: "percent" | "months" | "multiple" | "ratio";
  direction: "higher" | "lower";
  min: number;
  max: number;
  /** Median per band, in BANDS order. */
  medians: Five;
  /** Spread per band (sd for linear shapes, log-sd otherwise). */
  spreads: Five;
  shape: Shape;
  /** Change of the median per unit of CLIMATE. */
  climate: number;
  /** Share of a panel company's variance that persists across years. */
  persistence: number;
  /** Loading of the company effect on the shared quality factor. */
  quality: number;
}

/** The calibration of every metric; the recompute benchmark draws its synthetic panel from it too. */
export const METRICS: readonly MetricModel[] = [
  {
    key: "arr_growth",
    unit: "percent",
    direction: "higher",
    min: -100,
    max: 1000,
    // A touch above the published figures (~65/45/38/33/32) for the two small bands: in the panel,
    // the companies still small after years of compounding are the slower growers.
    medians: [70, 47, 38, 33, 32],
    spreads: [0.48, 0.44, 0.42, 0.4, 0.38],
    shape: { kind: "log", shift: 50 },
    climate: 9,
    // Low, so the few companies still under $1M after years of compounding are not all laggards.
    persistence: 0.25,
    quality: 0.3,
  },
  {
    key: "ndr",
    unit: "percent",
    direction: "higher",
    min: 0,
    max: 300,
    medians: [101, 103, 105, 107, 109],
    spreads: [0.12, 0.11, 0.11, 0.1, 0.1],
    shape: { kind: "log", shift: 50 },
    climate: 3,
    persistence: 0.55,
    quality: 0.4,
  },
  {
    key: "grr",
    unit: "percent",
    direction: "higher",
    min: 0,
    max: 100,
    medians: [85, 87, 89, 90, 91],
    spreads: [0.45, 0.45, 0.45, 0.45, 0.45],
    shape: { kind: "reflected", cap: 100 },
    climate: 1,
    persistence: 0.6,
    quality: 0.4,
  },
  {
    key: "gross_margin",
    unit: "percent",
    direction: "higher",
    min: -100,
    max: 100,
    medians: [71, 72, 74, 76, 77],
    spreads: [0.33, 0.31, 0.3, 0.29, 0.28],
    shape: { kind: "reflected", cap: 100 },
    climate: 0.5,
    persistence: 0.75,
    quality: 0.2,
  },
  {
    key: "cac_payback",
    unit: "months",
    direction: "lower",
    min: 0,
    max: 120,
    medians: [16, 18, 20, 22, 24],
    spreads: [0.5, 0.48, 0.46, 0.45, 0.45],
    shape: { kind: "log", shift: 0 },
    climate: -2.5,
    persistence: 0.5,
    quality: 0.4,
  },
  {
    key: "burn_multiple",
    unit: "multiple",
    direction: "lower",
    min: -20,
    max: 100,
    medians: [2.5, 2.2, 1.9, 1.7, 1.5],
    spreads: [0.5, 0.48, 0.46, 0.45, 0.45],
    shape: { kind: "log", shift: 1 },
    climate: -0.3,
    persistence: 0.45,
    quality: 0.45,
  },
  {
    key: "magic_number",
    unit: "ratio",
    direction: "higher",
    min: -5,
    max: 10,
    medians: [0.85, 0.8, 0.75, 0.7, 0.65],
    spreads: [0.36, 0.35, 0.34, 0.33, 0.32],
    shape: { kind: "log", shift: 0.5 },
    climate: 0.1,
    persistence: 0.4,
    quality: 0.4,
  },
  {
    key: "rule_of_40",
    unit: "percent",
    direction: "higher",
    min: -200,
    max: 300,
    medians: [22, 26, 30, 34, 38],
    spreads: [24, 22, 20, 18, 17],
    shape: { kind: "linear" },
    climate: 6,
    persistence: 0.5,
    quality: 0.5,
  },
  {
    key: "ltv_cac",
    unit: "ratio",
    direction: "higher",
    min: 0,
    max: 100,
    medians: [3, 3.2, 3.5, 3.7, 4],
    spreads: [0.45, 0.45, 0.44, 0.43, 0.42],
    shape: { kind: "log", shift: 0 },
    climate: 0.3,
    persistence: 0.5,
    quality: 0.4,
  },
  {
    key: "logo_churn",
    unit: "percent",
    direction: "lower",
    min: 0,
    max: 100,
    medians: [15, 13, 11, 9.5, 8],
    spreads: [0.5, 0.5, 0.5, 0.5, 0.5],
    shape: { kind: "log", shift: 0 },
    climate: -1.2,
    persistence: 0.55,
    quality: 0.4,
  },
  {
    key: "pipeline_coverage",
    unit: "multiple",
    direction: "higher",
    min: 0,
    max: 50,
    medians: [2.5, 2.8, 3, 3.2, 3.5],
    spreads: [0.3, 0.3, 0.3, 0.3, 0.3],
    shape: { kind: "log", shift: 0 },
    climate: 0.2,
    persistence: 0.35,
    quality: 0.2,
  },
];

/** Raw per-industry offsets to the median (value units); centred across industries below. */
const RAW_INDUSTRY_EFFECTS: Record<Industry, Partial<Record<string, number>>> = {
  devtools: { arr_growth: 5, gross_margin: 3, ndr: 3 },
  fintech: { gross_margin: -8, grr: 1 },
  healthtech: { cac_payback: 3, logo_churn: -1.5, arr_growth: -3 },
  martech: { logo_churn: 3, grr: -3, ndr: -3 },
  security: { ndr: 4, cac_payback: 2, gross_margin: 2 },
  "hr-tech": { arr_growth: -2, logo_churn: 1 },
  "vertical-saas": { grr: 2, logo_churn: -2, arr_growth: -3, ndr: -2 },
  "data-infra": { ndr: 5, arr_growth: 4, gross_margin: -3 },
};

function centredIndustryEffects(): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const industry of INDUSTRIES) out.set(industry, new Map());
  for (const metric of METRICS) {
    const raw = INDUSTRIES.map((i) => RAW_INDUSTRY_EFFECTS[i][metric.key] ?? 0);
    const mean = raw.reduce((a, b) => a + b, 0) / raw.length;
    INDUSTRIES.forEach((industry, i) => {
      out.get(industry)!.set(metric.key, raw[i]! - mean);
    });
  }
  return out;
}

/** Standard-normal scores of p10, p25, p50, p75, p90. */
const QUANTILE_Z: Five = [
  -1.2815515655446004, -0.6744897501960817, 0, 0.6744897501960817, 1.2815515655446004,
];

export function valueAt(shape: Shape, median: number, spread: number, z: number): number {
  switch (shape.kind) {
    case "linear":
      return median + spread * z;
    case "log":
      return Math.max(median + shape.shift, 1e-6) * Math.exp(spread * z) - shape.shift;
    case "reflected":
      return shape.cap - Math.max(shape.cap - median, 1e-6) * Math.exp(-spread * z);
  }
}

/** Median and spread at a log10 ARR, interpolated linearly between the band anchors. */
function paramsAt(metric: MetricModel, log10Arr: number): { median: number; spread: number } {
  const first = BANDS[0].anchor;
  const last = BANDS[BANDS.length - 1]!.anchor;
  if (log10Arr <= first) return { median: metric.medians[0], spread: metric.spreads[0] };
  if (log10Arr >= last) return { median: metric.medians[4], spread: metric.spreads[4] };
  for (let i = 0; i < BANDS.length - 1; i++) {
    const lo = BANDS[i]!.anchor;
    const hi = BANDS[i + 1]!.anchor;
    if (log10Arr <= hi) {
      const t = (log10Arr - lo) / (hi - lo);
      return {
        median: metric.medians[i]! + t * (metric.medians[i + 1]! - metric.medians[i]!),
        spread: metric.spreads[i]! + t * (metric.spreads[i + 1]! - metric.spreads[i]!),
      };
    }
  }
  return { median: metric.medians[4], spread: metric.spreads[4] };
}

const clamp = (v: number, min: number, max: number): number => Math.min(max, Math.max(min, v));

function round(v: number, decimals: number): number {
  const f = 10 ** decimals;
  const r = Math.round(v * f) / f;
  return r === 0 ? 0 : r; // no -0
}

function surveyDecimals(metric: MetricModel): number {
  return metric.unit === "percent" || metric.unit === "months" ? 1 : 2;
}

// ---------------------------------------------------------------------------------------------
// Sources

interface SurveyConfig {
  source: SampleSource;
  quartilesOnly: boolean;
  /** Spread multiplier: how heterogeneous the source's respondents are. */
  spread: number;
  /** Offsets to the median (value units): the source's own lean. */
  bias: Partial<Record<string, number>>;
}

const SURVEYS: readonly SurveyConfig[] = [
  {
    source: {
      id: "northwind-survey",
      name: "Northwind SaaS Survey (sample data)",
      kind: "survey",
      url: null,
      lastUpdated: "2026-01-15T00:00:00.000Z",
    },
    quartilesOnly: false,
    spread: 1.05,
    // Reads optimistic on growth: its respondents skew towards well-funded, fast-growing firms.
    bias: { arr_growth: 5, ndr: 3, rule_of_40: 4, magic_number: 0.05, pipeline_coverage: 0.1 },
  },
  {
    source: {
      id: "summit-report",
      name: "Summit SaaS Metrics Report (sample data)",
      kind: "survey",
      url: null,
      lastUpdated: "2025-12-01T00:00:00.000Z",
    },
    quartilesOnly: false,
    spread: 0.95,
    // Reads pessimistic on margins and efficiency.
    bias: { gross_margin: -4, grr: -1.5, cac_payback: 2, burn_multiple: 0.2, ltv_cac: -0.2 },
  },
  {
    source: {
      id: "harbor-benchmarks",
      name: "Harbor Growth Benchmarks (sample data)",
      kind: "survey",
      url: null,
      lastUpdated: "2025-11-20T00:00:00.000Z",
    },
    quartilesOnly: true,
    spread: 1,
    bias: { arr_growth: -2, logo_churn: 1, pipeline_coverage: -0.2, rule_of_40: -2 },
  },
];

const PANEL_SOURCE: SampleSource = {
  id: "meridian-panel",
  name: "Meridian Company Panel (sample data)",
  kind: "panel",
  url: null,
  lastUpdated: "2026-01-31T00:00:00.000Z",
};

// ---------------------------------------------------------------------------------------------
// Surveys

function surveyCell(
  rng: Prng,
  config: SurveyConfig,
  metric: MetricModel,
  bandIndex: number,
  year: number,
): SurveyRecord {
  const n = rng.int(30, 400);
  const median =
    metric.medians[bandIndex]! + metric.climate * CLIMATE[year]! + (config.bias[metric.key] ?? 0);
  const spread = metric.spreads[bandIndex]! * config.spread;
  // Sampling error in z units: a shared shift of the whole distribution plus per-quantile jitter.
  const shift = rng.normal(0, 0.8 / Math.sqrt(n));
  const decimals = surveyDecimals(metric);
  const step = 10 ** -decimals;
  const q = QUANTILE_Z.map((z) =>
    round(
      clamp(
        valueAt(metric.shape, median, spread, z + shift + rng.normal(0, 0.3 / Math.sqrt(n))),
        metric.min,
        metric.max,
      ),
      decimals,
    ),
  );
  // Strictly increasing after rounding, and still inside the valid range.
  for (let i = 1; i < q.length; i++) if (q[i]! <= q[i - 1]!) q[i] = round(q[i - 1]! + step, decimals);
  if (q[4]! > metric.max) {
    q[4] = metric.max;
    for (let i = 3; i >= 0; i--) if (q[i]! >= q[i + 1]!) q[i] = round(q[i + 1]! - step, decimals);
  }
  const [p10, p25, p50, p75, p90] = q as unknown as Five;
  return {
    sourceId: config.source.id,
    metric: metric.key,
    band: BANDS[bandIndex]!.key,
    period: String(year),
    n,
    p10: config.quartilesOnly ? null : p10,
    p25,
    p50,
    p75,
    p90: config.quartilesOnly ? null : p90,
  };
}

function generateSurveys(root: Prng): SurveyRecord[] {
  const out: SurveyRecord[] = [];
  for (const config of SURVEYS) {
    const rng = root.fork(`survey:${config.source.id}`);
    for (const metric of METRICS)
      for (let b = 0; b < BANDS.length; b++)
        for (const year of YEARS) {
          out.push(surveyCell(rng, config, metric, b, year));
        }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Panel

/** The sample panel's companies at scale 1, the panel that the tests and the docs' examples describe. */
export const SAMPLE_PANEL_COMPANIES = 2400;
export const PANEL_HEADER = "company_key,metric,period,arr,industry,value";

const byOwnName = (fields: readonly string[]) => Object.fromEntries(fields.map((field) => [field, field]));

/** How the service reads the sample files: every field under its own name, the panel's company key as in PANEL_HEADER. */
export const SAMPLE_MAPPINGS = {
  survey: { columns: byOwnName(["metric", "band", "period", "n", "p10", "p25", "p50", "p75", "p90"]) },
  panel: {
    columns: { ...byOwnName(["metric", "period", "arr", "value", "industry"]), companyKey: "company_key" },
  },
} satisfies Record<SourceKind, SourceMapping>;
const M = METRICS.length;
const Y = YEARS.length;
const GROWTH = METRICS.findIndex((m) => m.key === "arr_growth");

export interface Company {
  key: string;
  industry: string;
  /** ARR per year, integer dollars. */
  arr: number[];
}

interface Panel {
  companies: Company[];
  /** values[(c·Y + y)·M + m], rounded to 2 decimals. */
  values: Float64Array;
}

function companyKey(rng: Prng, taken: Set<string>): string {
  for (;;) {
    const key = `co_${rng.hex(10)}`;
    if (!taken.has(key)) {
      taken.add(key);
      return key;
    }
  }
}

/** One panel value: the company's persistent score plus this year's noise, around the model at its size. */
function drawValue(
  rng: Prng,
  m: number,
  log10Arr: number,
  year: number,
  own: number,
  offset: number,
): number {
  const metric = METRICS[m]!;
  const { median, spread } = paramsAt(metric, log10Arr);
  const z = Math.sqrt(metric.persistence) * own + Math.sqrt(1 - metric.persistence) * rng.normal();
  const centre = median + metric.climate * CLIMATE[year]! + offset;
  return round(clamp(valueAt(metric.shape, centre, spread, z), metric.min, metric.max), 2);
}

/** Companies are drawn one after another from one stream: a larger panel starts with the smaller one's companies. */
function simulatePanel(rng: Prng, taken: Set<string>, count: number): Panel {
  const effects = centredIndustryEffects();
  const companies: Company[] = [];
  const values = new Float64Array(count * Y * M);
  const own = new Float64Array(M);
  const offsets = new Float64Array(M);
  for (let c = 0; c < count; c++) {
    const key = companyKey(rng, taken);
    const industry = rng.pick(INDUSTRIES);
    const industryEffects = effects.get(industry);
    const quality = rng.normal();
    for (let m = 0; m < M; m++) {
      const metric = METRICS[m]!;
      const sign = metric.direction === "higher" ? 1 : -1;
      own[m] = sign * metric.quality * quality + Math.sqrt(1 - metric.quality ** 2) * rng.normal();
      offsets[m] = industryEffects?.get(metric.key) ?? 0;
    }
    const arr: number[] = [];
    let arrNow = Math.round(rng.logUniform(150_000, 150_000_000));
    for (let y = 0; y < Y; y++) {
      const year = YEARS[y]!;
      const base = (c * Y + y) * M;
      // Bands go by the ARR the company opens the year with (the `arr` column); every metric,
      // growth included, is measured over the year. The 2019 ARR is drawn, later years compound.
      if (y > 0) arrNow = Math.max(1, Math.round(arrNow * (1 + values[base - M + GROWTH]! / 100)));
      arr.push(arrNow);
      const log10Arr = Math.log10(arrNow);
      for (let m = 0; m < M; m++) values[base + m] = drawValue(rng, m, log10Arr, year, own[m]!, offsets[m]!);
    }
    companies.push({ key, industry, arr });
  }
  return { companies, values };
}

/** Plausible-but-extreme values, inside each metric's valid range: outlier screens flag, not reject. */
const OUTLIERS: readonly { metric: string; min: number; max: number; count: number }[] = [
  { metric: "arr_growth", min: 850, max: 960, count: 3 },
  { metric: "burn_multiple", min: 45, max: 70, count: 3 },
  { metric: "cac_payback", min: 100, max: 118, count: 3 },
  { metric: "ltv_cac", min: 60, max: 90, count: 2 },
  { metric: "pipeline_coverage", min: 30, max: 45, count: 2 },
  { metric: "magic_number", min: 6, max: 9, count: 2 },
  { metric: "gross_margin", min: -80, max: -60, count: 1 },
];

/** `scale` times OUTLIERS' counts, so a larger panel keeps the same share of gross outliers. */
function plantOutliers(rng: Prng, panel: Panel, scale: number): void {
  const used = new Set<number>();
  const companies = panel.companies.length;
  for (const spec of OUTLIERS) {
    const m = METRICS.findIndex((x) => x.key === spec.metric);
    for (let k = 0; k < spec.count * scale; ) {
      const c = rng.int(0, companies - 1);
      // A tenfold year only for a small company, and only in the last year, so no later ARR in the
      // file contradicts it.
      const y = m === GROWTH ? Y - 1 : rng.int(0, Y - 1);
      if (m === GROWTH && panel.companies[c]!.arr[y]! >= 5_000_000) continue;
      const index = (c * Y + y) * M + m;
      if (used.has(index)) continue;
      used.add(index);
      panel.values[index] = round(rng.uniform(spec.min, spec.max), 2);
      k++;
    }
  }
}

function formatRow(
  key: string,
  metric: string,
  period: string,
  arr: string,
  industry: string,
  value: string,
) {
  return `${key},${metric},${period},${arr},${industry},${value}`;
}

function validRow(panel: Panel, index: number): string {
  const m = index % M;
  const y = Math.floor(index / M) % Y;
  const c = Math.floor(index / (M * Y));
  const company = panel.companies[c]!;
  return formatRow(
    company.key,
    METRICS[m]!.key,
    String(YEARS[y]),
    String(company.arr[y]),
    company.industry,
    String(panel.values[index]),
  );
}

/**
 * Rows that validation must reject, three of each kind per 2,400 companies. Rows that would
 * otherwise be fine use a fresh company key, so each row fails for exactly one reason (never also
 * as a duplicate).
 */
function invalidRows(
  rng: Prng,
  panel: Panel,
  taken: Set<string>,
  scale: number,
): { at: number; line: string }[] {
  const total = panel.values.length;
  const out: { at: number; line: string }[] = [];
  const somewhere = (line: string) => out.push({ at: rng.int(0, total), line });
  const year = () => String(rng.pick(YEARS));
  const arr = () => String(Math.round(rng.logUniform(200_000, 80_000_000)));
  const industry = () => rng.pick(INDUSTRIES);
  const fresh = (metric: string, value: string, arrText = arr()) =>
    formatRow(companyKey(rng, taken), metric, year(), arrText, industry(), value);
  const existing = (metric: string, period: string) => {
    const c = rng.int(0, panel.companies.length - 1);
    const y = rng.int(0, Y - 1);
    const company = panel.companies[c]!;
    const value = panel.values[(c * Y + y) * M + METRICS.findIndex((x) => x.key === "ndr")];
    return formatRow(company.key, metric, period, String(company.arr[y]), company.industry, String(value));
  };

  for (let copy = 0; copy < scale; copy++) {
    // 1. Value outside the metric's valid range.
    somewhere(fresh("gross_margin", "140"));
    somewhere(fresh("ndr", "350.5"));
    somewhere(fresh("logo_churn", "-4.2"));
    // 2. Non-numeric value (including a blank one).
    somewhere(fresh("cac_payback", "n/a"));
    somewhere(fresh("ltv_cac", "#DIV/0!"));
    somewhere(fresh("magic_number", ""));
    // 3. Empty company key.
    somewhere(formatRow("", "ndr", "2022", arr(), industry(), "104.2"));
    somewhere(formatRow("", "grr", "2023", arr(), industry(), "88.7"));
    somewhere(formatRow("", "burn_multiple", "2021", arr(), industry(), "2.35"));
    // 4. Unknown metric name (an existing company, a metric the catalogue does not define).
    somewhere(existing("net_burn", year()));
    somewhere(existing("net_burn", year()));
    somewhere(existing("nrr", year()));
    // 5. Malformed period.
    somewhere(existing("ndr", "2024-Q5"));
    somewhere(existing("ndr", "24"));
    somewhere(existing("ndr", "FY2023"));
    // 6. Negative ARR.
    somewhere(fresh("grr", "90.1", "-1250000"));
    somewhere(fresh("arr_growth", "42.5", "-42000"));
    somewhere(fresh("gross_margin", "73.4", "-8800000"));
    // 7. Exact duplicate of an earlier row, placed later in the file.
    for (let k = 0; k < 3; k++) {
      const original = rng.int(0, total - 20_000);
      out.push({ at: rng.int(original + 1, total), line: validRow(panel, original) });
    }
  }
  return out;
}

/**
 * The panel at `scale` times SAMPLE_PANEL_COMPANIES, with `scale` times the planted outliers.
 * Every scale draws from the same streams, so the companies of a smaller panel open a larger one.
 */
function drawPanel(root: Prng, scale: number, taken: Set<string>): Panel {
  if (!Number.isInteger(scale) || scale < 1)
    throw new Error(`scale must be a whole number ≥ 1, not ${scale}`);
  const panel = simulatePanel(root.fork("panel:companies"), taken, SAMPLE_PANEL_COMPANIES * scale);
  plantOutliers(root.fork("panel:outliers"), panel, scale);
  return panel;
}

/** The panel file's lines under its header, one chunk per company, the invalid rows planted among them. */
function* panelCsvChunks(root: Prng, scale: number): Generator<string> {
  const taken = new Set<string>();
  const panel = drawPanel(root, scale, taken);
  // Stable order: by insertion point, then in the order the rows were made.
  const inserts = invalidRows(root.fork("panel:invalid"), panel, taken, scale)
    .map((row, order) => ({ ...row, order }))
    .sort((a, b) => a.at - b.at || a.order - b.order);
  const total = panel.values.length;
  // Each company's rows are joined into one flat chunk right away, so the row pieces die young
  // instead of surviving as a 185k-row rope until the final join (which was GC-bound).
  const perCompany = Y * M;
  let rows: string[] = [];
  let next = 0;
  for (let i = 0; i <= total; i++) {
    while (next < inserts.length && inserts[next]!.at === i) rows.push(inserts[next++]!.line);
    if (i < total) rows.push(validRow(panel, i));
    if ((i + 1) % perCompany === 0 || i === total) {
      if (rows.length > 0) yield rows.join("\n");
      rows = [];
    }
  }
}

/**
 * The sample panel at `scale` times its 2,400 companies, as CSV files of whole companies, each
 * under the header and at most `maxBytes` long: how an operator loads a panel too large for one
 * upload. The text is ASCII, so its length is its size in bytes.
 */
export function* samplePanelFiles(
  scale: number,
  maxBytes: number,
  seed: number = SAMPLE_SEED,
): Generator<string> {
  let lines = [PANEL_HEADER];
  let bytes = PANEL_HEADER.length + 1;
  for (const chunk of panelCsvChunks(new Prng(seed), scale)) {
    if (lines.length > 1 && bytes + chunk.length + 1 > maxBytes) {
      yield `${lines.join("\n")}\n`;
      lines = [PANEL_HEADER];
      bytes = PANEL_HEADER.length + 1;
    }
    lines.push(chunk);
    bytes += chunk.length + 1;
  }
  if (lines.length > 1) yield `${lines.join("\n")}\n`;
}

/** The companies of the sample panel at `scale`, in file order. */
export function samplePanelCompanies(scale: number, seed: number = SAMPLE_SEED): readonly Company[] {
  return drawPanel(new Prng(seed), scale, new Set()).companies;
}

/** One valid row of the sample panel: its line under PANEL_HEADER, and what validation and recompute look at. */
export interface PanelRow {
  line: string;
  metric: string;
  period: string;
  arr: number;
  value: number;
}

/**
 * The sample panel's valid rows at `scale` in file order, without the planted invalid rows (the
 * planted outliers are valid and stay): for a file that validation must accept whole, and for
 * checking what the service made of the panel.
 */
export function* validPanelRows(seed: number = SAMPLE_SEED, scale = 1): Generator<PanelRow> {
  // The same streams as the panel's files, so these are the sample panel's own rows.
  const panel = drawPanel(new Prng(seed), scale, new Set());
  for (let index = 0; index < panel.values.length; index++) {
    const y = Math.floor(index / M) % Y;
    yield {
      line: validRow(panel, index),
      metric: METRICS[index % M]!.key,
      period: String(YEARS[y]),
      arr: panel.companies[Math.floor(index / (M * Y))]!.arr[y]!,
      value: panel.values[index]!,
    };
  }
}

// ---------------------------------------------------------------------------------------------

export function generateSampleData(seed: number = SAMPLE_SEED): SampleData {
  const root = new Prng(seed);
  return {
    sources: [...SURVEYS.map((s) => ({ ...s.source })), { ...PANEL_SOURCE }],
    surveys: generateSurveys(root),
    panelSourceId: PANEL_SOURCE.id,
    // One file, as no limit cuts it.
    panelCsv: samplePanelFiles(1, Number.POSITIVE_INFINITY, seed).next().value!,
  };
}
