import { fromBinary, fromJson } from "@bufbuild/protobuf";
import { base64Decode } from "@bufbuild/protobuf/wire";
import type { ContextValues } from "@connectrpc/connect";
import type {
  UniversalHandler,
  UniversalServerRequest,
  UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { INTERNAL_DETAIL } from "../domain/errors";

/*
 * Between fetch and connect-es's universal handlers. Unary bodies are small and bounded, so they
 * are read once into memory and answered from memory: cheaper than streaming them through
 * ReadableStream/async-iterable adapters, and it lets binary input be checked first. connect-es
 * reports a protobuf body it cannot parse as `internal`, the code for a server fault; a malformed
 * request is the client's fault, so it is refused here with `invalid_argument`, in the caller's
 * protocol.
 */

export async function toUniversalRequest(
  handler: UniversalHandler,
  request: Request,
  maxBytes: number,
  contextValues: ContextValues,
): Promise<{ request: UniversalServerRequest } | { response: Response }> {
  const base = {
    httpVersion: "",
    method: request.method,
    url: request.url,
    header: request.headers,
    signal: request.signal,
    contextValues,
  };
  const reason = `could not parse the ${handler.method.name} request`;
  const contentType = request.headers.get("Content-Type")?.split(";")[0]?.trim().toLowerCase() ?? "";
  const grpcWeb = contentType.startsWith("application/grpc-web");
  const query = new URL(request.url).searchParams;
  // The router takes no compressed messages. connect-es says so with `unimplemented`, a 501: a
  // client sending what the service does not take is the client's error, not the server's.
  const compression =
    request.method === "GET"
      ? query.get("compression")
      : request.headers.get(grpcWeb ? "Grpc-Encoding" : "Content-Encoding");
  if (compression !== null && compression !== "" && compression.toLowerCase() !== "identity") {
    const refusal = "compressed messages are not accepted; send the message uncompressed";
    return { response: grpcWeb ? grpcWebError(refusal) : connectError(refusal) };
  }
  if (request.method === "GET") {
    // A GET carries its message in the query, in either encoding and optionally base64: connect-es
    // answers a message it cannot decode there as `internal`, so each is checked here first.
    const message = query.get("message") ?? "";
    const bytes = query.get("base64") === "1" ? decodeBase64(message) : new TextEncoder().encode(message);
    const encoding = query.get("encoding");
    const decodes =
      bytes !== null &&
      (encoding === "proto" ? parses(handler, bytes) : encoding !== "json" || parsesJson(handler, bytes));
    if (!decodes) return { response: connectError(reason) };
    return { request: { ...base, body: chunks([]) } };
  }
  // An oversized body goes on as a stream: the handler stops reading at the limit and answers resource_exhausted.
  if (Number(request.headers.get("Content-Length")) > maxBytes + 5 || !request.body) {
    return { request: { ...base, body: streamChunks(request.body) } };
  }
  const body = new Uint8Array(await request.arrayBuffer());
  const grpcWebBinary =
    contentType === "application/grpc-web" || contentType === "application/grpc-web+proto";
  if (body.byteLength <= maxBytes + 5 && (contentType === "application/proto" || grpcWebBinary)) {
    const messages = grpcWeb ? envelopes(body)?.map((frame) => frame.data) : [body];
    if (!messages?.every((bytes) => parses(handler, bytes))) {
      return { response: grpcWeb ? grpcWebError(reason) : connectError(reason) };
    }
  }
  return { request: { ...base, body: chunks([body]) } };
}

/**
 * A unary answer is one small body: buffer it rather than stream it. An error connect-es raised
 * outside the interceptors (one serializing the answer, say) reaches the caller with connect-es's
 * own message, which names fields and internals: an internal error says only that it happened.
 */
export async function toFetchResponse(response: UniversalServerResponse): Promise<Response> {
  const parts: Uint8Array[] = [];
  for await (const part of response.body ?? chunks([])) parts.push(part);
  const body = withoutInternalDetail(response, parts.length === 1 ? parts[0]! : concat(parts));
  return new Response(body.byteLength > 0 ? body : null, {
    status: response.status,
    headers: response.header,
  });
}

/** Codes whose message may carry a server's internals rather than anything about the request. */
const SERVER_FAULTS = new Set(["internal", "unknown", "data_loss"]);
const SERVER_FAULT_STATUSES = new Set(["2", "13", "15"]);

function withoutInternalDetail(response: UniversalServerResponse, body: Uint8Array): Uint8Array {
  const contentType = response.header?.get("Content-Type") ?? "";
  if (contentType.startsWith("application/json") && response.status >= 500) {
    try {
      const error = JSON.parse(new TextDecoder().decode(body)) as { code?: unknown };
      if (typeof error.code === "string" && SERVER_FAULTS.has(error.code)) {
        return new TextEncoder().encode(JSON.stringify({ code: error.code, message: INTERNAL_DETAIL }));
      }
    } catch {
      // Not a Connect error body: leave it as it is.
    }
    return body;
  }
  if (!contentType.startsWith("application/grpc-web")) return body;
  const frames = envelopes(body, true);
  const trailer = frames?.at(-1);
  if (!trailer || trailer.flags !== TRAILER_FLAG) return body;
  const status = /^grpc-status: *(\d+)\r?$/im.exec(new TextDecoder().decode(trailer.data))?.[1];
  if (status === undefined || !SERVER_FAULT_STATUSES.has(status)) return body;
  return concat([body.subarray(0, trailer.offset), grpcWebTrailer(Number(status), INTERNAL_DETAIL)]);
}

async function* chunks(parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* parts;
}

async function* streamChunks(stream: ReadableStream<Uint8Array> | null): AsyncIterable<Uint8Array> {
  if (!stream) return;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((size, part) => size + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

function parses(handler: UniversalHandler, bytes: Uint8Array): boolean {
  try {
    fromBinary(handler.method.input, bytes);
    return true;
  } catch {
    return false;
  }
}

/** Whether `bytes` are UTF-8 JSON of the method's input, unknown fields refused as the router does. */
function parsesJson(handler: UniversalHandler, bytes: Uint8Array): boolean {
  try {
    const json = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
    fromJson(handler.method.input, json, { ignoreUnknownFields: false });
    return true;
  } catch {
    return false;
  }
}

function decodeBase64(text: string): Uint8Array | null {
  try {
    return base64Decode(text);
  } catch {
    return null;
  }
}

interface Frame {
  flags: number;
  /** Where the frame starts in the body. */
  offset: number;
  data: Uint8Array;
}

const TRAILER_FLAG = 0x80;

/** The frames of a gRPC-Web body: a flag byte and a 4-byte big-endian length each; null if malformed. */
function envelopes(body: Uint8Array, all = false): Frame[] | null {
  const frames: Frame[] = [];
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let offset = 0;
  while (offset < body.byteLength) {
    if (offset + 5 > body.byteLength) return null;
    const flags = body[offset]!;
    const length = view.getUint32(offset + 1);
    const end = offset + 5 + length;
    if (end > body.byteLength) return null;
    // Compressed frames are left to the handler, which negotiates compression.
    if (all || flags === 0) frames.push({ flags, offset, data: body.subarray(offset + 5, end) });
    offset = end;
  }
  return frames;
}

function connectError(message: string): Response {
  return new Response(JSON.stringify({ code: "invalid_argument", message }), {
    status: 400,
    headers: { "Content-Type": "application/json" },
  });
}

/** A gRPC-Web trailer frame (flag 0x80) carrying a status and its message. */
function grpcWebTrailer(status: number, message: string): Uint8Array {
  const trailer = new TextEncoder().encode(
    `grpc-status: ${status}\r\ngrpc-message: ${encodeURIComponent(message)}\r\n`,
  );
  const frame = new Uint8Array(5 + trailer.byteLength);
  frame[0] = TRAILER_FLAG;
  new DataView(frame.buffer).setUint32(1, trailer.byteLength);
  frame.set(trailer, 5);
  return frame;
}

/** A gRPC-Web answer with no message, only a trailer saying invalid_argument. */
function grpcWebError(message: string): Response {
  return new Response(grpcWebTrailer(3, message), {
    status: 200,
    headers: { "Content-Type": "application/grpc-web+proto" },
  });
}
