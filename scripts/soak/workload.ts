/**
 * What the soak (scripts/soak/run.ts) sends: reads of the service's routes over REST and over
 * Connect RPC, in JSON and binary, drawn from a seeded mix; the principals that send them, whose
 * buckets are followed on this side, so that a 429 can be told apart (due where the principal has
 * spent what its bucket holds, a fault anywhere else); and each minute's upload to a panel source
 * of the soak's own.
 */
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  type MessageInitShape,
  toBinary,
  toJsonString,
} from "@bufbuild/protobuf";
import { BenchmarkService } from "../../src/gen/benchmark/v1/benchmark_pb";
import { RPC_PATH_PREFIX } from "../../src/pipeline/access";
import { DEFAULT_RATE_LIMITS } from "../../src/ratelimit/config";
import { maxLease } from "../../src/ratelimit/lease";
import { mintDevToken } from "../dev-auth/token";
import { PANEL_HEADER, SAMPLE_MAPPINGS, validPanelRows } from "../sample-data/generate";
import type { Prng } from "../sample-data/prng";

/** One read, without its principal's Authorization header. */
export interface ReadRequest {
  /** The route or RPC method and its encoding, as the report groups requests. */
  kind: string;
  method: "GET" | "POST";
  /** Path and query. */
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

interface Band {
  key: string;
  minArr: number;
  maxArr: number | null;
}

interface PeerGroup {
  arrMin: number;
  arrMax?: number;
  industry?: string;
}

/**
 * Custom peer groups: bounds on the service's ARR grid (peerGroupBounds), some narrowed to an
 * industry of the sample panel; the preflight checks that each answers for every metric.
 */
const PEER_GROUPS: readonly PeerGroup[] = [
  { arrMin: 0, arrMax: 1_000_000 },
  { arrMin: 1_000_000, arrMax: 5_000_000 },
  { arrMin: 2_000_000, arrMax: 10_000_000, industry: "fintech" },
  { arrMin: 5_000_000, arrMax: 20_000_000, industry: "devtools" },
  { arrMin: 20_000_000 },
];

/** What the mix draws from: the service's catalogue, and where each cell's values lie. */
export interface ReadCatalogue {
  metrics: string[];
  bands: Band[];
  /** Each cell's pooled p10 and p90 at the start, by `${metric} ${band}`: ranked values are drawn between them. */
  spreads: Map<string, { p10: number; p90: number }>;
}

const bandQuery = (metric: string, band: string) =>
  `/api/v1/benchmarks?${new URLSearchParams({ metric, revenueRange: band })}`;
const peerGroupQuery = (metric: string, group: PeerGroup) =>
  `/api/v1/benchmarks?${new URLSearchParams({ metric, ...stringValues(group) })}`;
const timeSeriesQuery = (metric: string, band: string) =>
  `/api/v1/benchmarks/timeseries?${new URLSearchParams({ metric, revenueRange: band })}`;

function stringValues(group: PeerGroup): Record<string, string> {
  return Object.fromEntries(Object.entries(group).map(([name, value]) => [name, String(value)]));
}

/**
 * Reads the catalogue, then sends every GET the mix can send once. A request that fails here,
 * before any load, is a fault of the workload or of the sample data, not a finding of the soak.
 */
export async function loadReadCatalogue(baseUrl: string, authorization: string): Promise<ReadCatalogue> {
  const getJson = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${baseUrl}${path}`, {
      headers: { authorization },
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (response.status !== 200) {
      throw new Error(`preflight: GET ${path} answered ${response.status}: ${text}`);
    }
    const policy = response.headers.get("ratelimit-policy");
    if (policy !== READER_POLICY) {
      throw new Error(`preflight: readers are limited by ${policy}, where the soak expects ${READER_POLICY}`);
    }
    return JSON.parse(text) as T;
  };
  const { metrics } = await getJson<{ metrics: { key: string }[] }>("/api/v1/metrics");
  const { revenueRanges: bands } = await getJson<{ revenueRanges: Band[] }>("/api/v1/revenue-ranges");
  const catalogue: ReadCatalogue = { metrics: metrics.map((m) => m.key), bands, spreads: new Map() };
  for (const metric of catalogue.metrics) {
    for (const band of bands) {
      const { pooled } = await getJson<{ pooled: { p10: number; p90: number } }>(bandQuery(metric, band.key));
      catalogue.spreads.set(`${metric} ${band.key}`, { p10: pooled.p10, p90: pooled.p90 });
      await getJson(timeSeriesQuery(metric, band.key));
    }
    for (const group of PEER_GROUPS) await getJson(peerGroupQuery(metric, group));
  }
  return catalogue;
}

/** A Connect unary call, POSTed in the protocol's binary or JSON encoding. */
function rpcCall<I extends DescMessage>(
  method: DescMethodUnary<I>,
  init: MessageInitShape<I>,
  binary: boolean,
): ReadRequest {
  const message = create(method.input, init);
  return {
    kind: `RPC ${method.name} (${binary ? "binary" : "JSON"})`,
    method: "POST",
    path: `${RPC_PATH_PREFIX}${method.name}`,
    headers: {
      "content-type": binary ? "application/proto" : "application/json",
      "connect-protocol-version": "1",
    },
    body: binary ? toBinary(method.input, message) : toJsonString(method.input, message),
  };
}

const jsonPost = (kind: string, path: string, body: unknown): ReadRequest => ({
  kind,
  method: "POST",
  path,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

const get = (kind: string, path: string): ReadRequest => ({ kind, method: "GET", path, headers: {} });

/**
 * The read mix, by weight: three fifths REST, two fifths Connect RPC, with the cached band GET
 * the largest share.
 */
export class ReadMix {
  private readonly kinds: readonly (readonly [(prng: Prng) => ReadRequest, number])[];

  constructor(private readonly catalogue: ReadCatalogue) {
    const { getBenchmarkData, getTimeSeriesData, calculateRanking, getScorecard } = BenchmarkService.method;
    this.kinds = [
      [(prng) => get("GET benchmarks (band)", bandQuery(this.metric(prng), this.band(prng).key)), 30],
      [
        (prng) =>
          get("GET benchmarks (peer group)", peerGroupQuery(this.metric(prng), prng.pick(PEER_GROUPS))),
        8,
      ],
      [(prng) => get("GET timeseries", timeSeriesQuery(this.metric(prng), this.band(prng).key)), 8],
      [(prng) => jsonPost("POST ranking", "/api/v1/benchmarks/ranking", this.rankedValue(prng)), 10],
      [(prng) => jsonPost("POST scorecard", "/api/v1/benchmarks/scorecard", this.scorecard(prng)), 4],
      [
        (prng) =>
          rpcCall(
            getBenchmarkData,
            {
              metric: this.metric(prng),
              peersSelector: { case: "revenueRange", value: this.band(prng).key },
            },
            prng.chance(0.5),
          ),
        9,
      ],
      [
        (prng) =>
          rpcCall(
            getBenchmarkData,
            { metric: this.metric(prng), peersSelector: { case: "peers", value: prng.pick(PEER_GROUPS) } },
            prng.chance(0.5),
          ),
        3,
      ],
      [
        (prng) =>
          rpcCall(
            getTimeSeriesData,
            { metric: this.metric(prng), bandSelector: { case: "revenueRange", value: this.band(prng).key } },
            prng.chance(0.5),
          ),
        6,
      ],
      [
        (prng) => {
          const { metric, value, revenueRange } = this.rankedValue(prng);
          return rpcCall(
            calculateRanking,
            { metric, value, peersSelector: { case: "revenueRange", value: revenueRange } },
            prng.chance(0.5),
          );
        },
        16,
      ],
      [(prng) => rpcCall(getScorecard, this.scorecard(prng), prng.chance(0.5)), 6],
    ];
  }

  draw(prng: Prng): ReadRequest {
    return prng.weighted(this.kinds)(prng);
  }

  private metric(prng: Prng): string {
    return prng.pick(this.catalogue.metrics);
  }

  private band(prng: Prng): Band {
    return prng.pick(this.catalogue.bands);
  }

  /** A value between the cell's p10 and p90, so that rankings land across the distribution. */
  private valueIn(prng: Prng, metric: string, band: string): number {
    const spread = this.catalogue.spreads.get(`${metric} ${band}`)!;
    return Math.round(prng.uniform(spread.p10, spread.p90) * 100) / 100;
  }

  private rankedValue(prng: Prng) {
    const metric = this.metric(prng);
    const revenueRange = this.band(prng).key;
    return { metric, value: this.valueIn(prng, metric, revenueRange), revenueRange };
  }

  /** Three to six metrics of a company whose ARR lies in a drawn band (the open top band up to twice its floor). */
  private scorecard(prng: Prng) {
    const band = this.band(prng);
    const arr = prng.int(band.minArr, (band.maxArr ?? 2 * band.minArr) - 1);
    const metrics = [...this.catalogue.metrics];
    const values: Record<string, number> = {};
    for (let count = prng.int(3, 6); count > 0; count--) {
      const [metric] = metrics.splice(prng.int(0, metrics.length - 1), 1);
      values[metric!] = this.valueIn(prng, metric!, band.key);
    }
    return { arr, values };
  }
}

// ---------------------------------------------------------------------------------------------
// Principals and their buckets

/** Readers are analysts, in the "user" tier; the soak sets no RATE_LIMITS, so the defaults hold. */
const READER_LIMITS = DEFAULT_RATE_LIMITS.user;

/**
 * How the service states those limits on every answer (RateLimit-Policy: the burst and the
 * window; the rate is not in it): the preflight checks that it does.
 */
const READER_POLICY = `"user";q=${READER_LIMITS.burst};w=${READER_LIMITS.periodSeconds}`;

/** Tokens that an isolate may have leased from a bucket and not yet spent. */
const LEASED_AHEAD = maxLease(READER_LIMITS);

/**
 * A reader moves on to a fresh principal after this many requests: two leases short of the
 * burst, so that no 429 is ever due to it, however fast it sends.
 */
export const READS_PER_PRINCIPAL = READER_LIMITS.burst - 2 * LEASED_AHEAD;

/** A principal that reads, with what its requests have spent of its bucket. */
export class Reader {
  /** Answers other than 429: requests the limiter let through (a 5xx may come after admission). */
  private admitted = 0;
  private refused = 0;
  private firstSentAt: number | undefined;

  private constructor(readonly authorization: string) {}

  static async mint(subject: string, ttlSeconds: number): Promise<Reader> {
    return new Reader(`Bearer ${await mintDevToken("analyst", subject, ttlSeconds)}`);
  }

  get sent(): number {
    return this.admitted + this.refused;
  }

  get refusals(): number {
    return this.refused;
  }

  /** `at` in performance.now() milliseconds, as for everything below. */
  willSend(at: number): void {
    this.firstSentAt ??= at;
  }

  answered(status: number): void {
    if (status === 429) this.refused++;
    else this.admitted++;
  }

  /**
   * Whether the limiter may refuse this principal at `at`: its bucket has let through all it can
   * have held since the first request (the burst, and the refill since), short of the tokens an
   * isolate may hold leased ahead. Requests of one principal are sent one at a time, so none are
   * in flight besides the one being judged.
   */
  mayBeLimited(at: number): boolean {
    const elapsedSeconds = (at - (this.firstSentAt ?? at)) / 1000;
    const refill = (READER_LIMITS.rate * elapsedSeconds) / READER_LIMITS.periodSeconds;
    return this.admitted >= READER_LIMITS.burst + refill - LEASED_AHEAD;
  }
}

// ---------------------------------------------------------------------------------------------
// The soak's own panel source

export const SOAK_SOURCE_ID = "soak-panel";

/** Companies in each minute's upload: with every metric of the latest period, about 1,100 rows. */
export const UPLOAD_COMPANIES = 100;

export async function createSoakSource(baseUrl: string, authorization: string): Promise<void> {
  const response = await fetch(`${baseUrl}/api/v1/sources`, {
    method: "POST",
    headers: { authorization, "content-type": "application/json" },
    body: JSON.stringify({
      id: SOAK_SOURCE_ID,
      name: "Soak test panel (sample rows)",
      kind: "panel",
      mapping: SAMPLE_MAPPINGS.panel,
    }),
    signal: AbortSignal.timeout(30_000),
  });
  if (response.status !== 201) {
    throw new Error(`POST /api/v1/sources answered ${response.status}: ${await response.text()}`);
  }
  await response.body?.cancel();
}

/**
 * The minutes' uploads: each the latest-period rows of UPLOAD_COMPANIES sample companies drawn
 * for its minute, under the soak's own company keys. So each upload rewrites the same companies
 * with other values and ARR (so bands), which changes cells of the period the reads see and
 * leaves a recompute behind, while the data keeps its size: memory that grows is not the data's.
 */
export class PanelUploads {
  /** The sample panel's rows of its latest period, by company, each line without its company key. */
  private readonly companies: string[][];

  constructor() {
    let latest = "";
    let byCompany = new Map<string, string[]>();
    for (const row of validPanelRows()) {
      if (row.period < latest) continue;
      if (row.period > latest) {
        latest = row.period;
        byCompany = new Map();
      }
      // The company key is the line's first column (PANEL_HEADER).
      const comma = row.line.indexOf(",");
      const company = row.line.slice(0, comma);
      const rows = byCompany.get(company) ?? [];
      rows.push(row.line.slice(comma));
      byCompany.set(company, rows);
    }
    this.companies = [...byCompany.values()];
  }

  /** A CSV file under PANEL_HEADER, drawn with `prng`. */
  file(prng: Prng): string {
    const drawn = new Set<number>();
    while (drawn.size < UPLOAD_COMPANIES) drawn.add(prng.int(0, this.companies.length - 1));
    const lines = [PANEL_HEADER];
    [...drawn].forEach((company, slot) => {
      const key = `soak-${String(slot).padStart(3, "0")}`;
      for (const rest of this.companies[company]!) lines.push(`${key}${rest}`);
    });
    return `${lines.join("\n")}\n`;
  }
}
