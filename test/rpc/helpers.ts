import { SELF } from "cloudflare:test";
import type { DescEnum, DescField, DescMessage } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { BenchmarkService } from "../../src/gen/benchmark/v1/benchmark_pb";
import { withToken } from "../helpers/auth";
import type { SummaryInput } from "../helpers/seed";

export const BASE_URL = "https://bench.test";

export type BenchmarkClient = Client<typeof BenchmarkService>;

/** What the Worker saw of one request, and what it sent back. */
export interface RecordedExchange {
  method: string;
  url: string;
  status: number;
  cacheControl: string | null;
}

/** Fetches through the Worker under test and records every exchange, so tests can see the HTTP under the RPC. */
export function recordingFetch() {
  const exchanges: RecordedExchange[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(
      input,
      await withToken(input instanceof Request ? input.url : String(input), { ...init, redirect: "manual" }),
    );
    const response = await SELF.fetch(request);
    // connect-web asks for redirect "error", which Workers' fetch refuses; "manual" plus this check is the same.
    if (response.status >= 300 && response.status < 400)
      throw new TypeError(`unexpected redirect to ${request.url}`);
    exchanges.push({
      method: request.method,
      url: request.url,
      status: response.status,
      cacheControl: response.headers.get("Cache-Control"),
    });
    return response;
  };
  return { fetch, exchanges };
}

export interface TransportCase {
  name: string;
  /** The HTTP method every call of this transport must use. */
  httpMethod: "GET" | "POST";
  create: (fetch: typeof globalThis.fetch) => Transport;
}

/** Every protocol and encoding the Worker serves (plain gRPC needs trailers, which Workers cannot send). */
export const TRANSPORTS: TransportCase[] = [
  {
    name: "Connect JSON",
    httpMethod: "POST",
    create: (fetch) => createConnectTransport({ baseUrl: BASE_URL, fetch, useBinaryFormat: false }),
  },
  {
    name: "Connect binary",
    httpMethod: "POST",
    create: (fetch) => createConnectTransport({ baseUrl: BASE_URL, fetch, useBinaryFormat: true }),
  },
  {
    name: "Connect GET",
    httpMethod: "GET",
    create: (fetch) =>
      createConnectTransport({ baseUrl: BASE_URL, fetch, useBinaryFormat: false, useHttpGet: true }),
  },
  {
    name: "gRPC-Web binary",
    httpMethod: "POST",
    create: (fetch) => createGrpcWebTransport({ baseUrl: BASE_URL, fetch, useBinaryFormat: true }),
  },
  {
    name: "gRPC-Web JSON",
    httpMethod: "POST",
    create: (fetch) => createGrpcWebTransport({ baseUrl: BASE_URL, fetch, useBinaryFormat: false }),
  },
];

export function benchmarkClient(transport: Transport): BenchmarkClient {
  return createClient(BenchmarkService, transport);
}

/** A client over one transport, with the HTTP exchanges its calls made. */
export function clientOver(transport: TransportCase) {
  const { fetch, exchanges } = recordingFetch();
  return { client: benchmarkClient(transport.create(fetch)), exchanges };
}

/** A Connect JSON client straight to the Worker. */
export function connectJsonClient(): BenchmarkClient {
  return benchmarkClient(TRANSPORTS[0]!.create(recordingFetch().fetch));
}

/** A raw POST to one procedure, for what no well-behaved client would send. */
export async function postRpc(
  method: string,
  body: BodyInit,
  contentType = "application/json",
): Promise<Response> {
  return SELF.fetch(
    `${BASE_URL}/${BenchmarkService.typeName}/${method}`,
    await withToken(`${BASE_URL}/${BenchmarkService.typeName}/${method}`, {
      method: "POST",
      headers: { "Content-Type": contentType },
      body,
    }),
  );
}

/** A Timestamp as the ISO string REST sends. */
export function isoOf(timestamp: Timestamp | undefined): string | undefined {
  return timestamp && timestampDate(timestamp).toISOString();
}

type Plain = string | number | boolean | null | undefined | Plain[] | { [key: string]: Plain };

/**
 * A response message in REST's JSON shape: camelCase fields, enums as their lower-case names,
 * Timestamps as ISO strings, a set oneof member as a field of its own. Unset fields are left out.
 */
export function restShape(desc: DescMessage, message: object): { [key: string]: Plain } {
  const fields = message as Record<string, unknown>;
  const out: { [key: string]: Plain } = {};
  for (const field of desc.fields) {
    const raw = field.oneof
      ? oneofValue(fields[field.oneof.localName], field.localName)
      : fields[field.localName];
    const value = fieldValue(field, raw);
    if (value !== undefined) out[field.localName] = value;
  }
  return out;
}

function oneofValue(oneof: unknown, localName: string): unknown {
  const { case: selected, value } = oneof as { case: string | undefined; value?: unknown };
  return selected === localName ? value : undefined;
}

function fieldValue(field: DescField, raw: unknown): Plain {
  if (raw === undefined) return undefined;
  switch (field.fieldKind) {
    case "scalar":
      return raw as Plain;
    case "enum":
      return enumName(field.enum, raw as number);
    case "message":
      return messageValue(field.message, raw as object);
    case "list":
      return (raw as unknown[]).map((item) =>
        field.listKind === "message"
          ? messageValue(field.message, item as object)
          : field.listKind === "enum"
            ? enumName(field.enum, item as number)
            : (item as Plain),
      );
    case "map":
      return Object.fromEntries(
        Object.entries(raw as Record<string, unknown>).map(([key, item]) => [
          key,
          field.mapKind === "message"
            ? messageValue(field.message, item as object)
            : field.mapKind === "enum"
              ? enumName(field.enum, item as number)
              : (item as Plain),
        ]),
      );
  }
}

function enumName(desc: DescEnum, value: number): string {
  return desc.value[value]?.localName.toLowerCase() ?? `unknown (${value})`;
}

function messageValue(desc: DescMessage, value: object): Plain {
  return desc.typeName === "google.protobuf.Timestamp" ? isoOf(value as Timestamp) : restShape(desc, value);
}

/** REST writes null where a message leaves a field unset; with nulls dropped the two shapes compare. */
export function withoutNulls(value: unknown): Plain {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== "object") return value as Plain;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, item]) => item !== null && item !== undefined)
      .map(([key, item]) => [key, withoutNulls(item)]),
  );
}

/**
 * One alpha summary per period with the given median and quartiles two either side; without p10
 * and p90 the pool extends the tails linearly, so p10 = median − 3.2 and p90 = median + 3.2.
 */
export function seriesRows(
  metricKey: string,
  bandKey: string,
  medians: Record<string, number>,
  n = 100,
): SummaryInput[] {
  return Object.entries(medians).map(([period, p50]) => ({
    sourceId: "alpha",
    metricKey,
    bandKey,
    period,
    n,
    p25: p50 - 2,
    p50,
    p75: p50 + 2,
  }));
}
