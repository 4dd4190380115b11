import { fromBinary } from "@bufbuild/protobuf";
import { base64Decode } from "@bufbuild/protobuf/wire";
import type { ContextValues } from "@connectrpc/connect";
import type {
  UniversalHandler,
  UniversalServerRequest,
  UniversalServerResponse,
} from "@connectrpc/connect/protocol";

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
  if (request.method === "GET") {
    const url = new URL(request.url);
    if (url.searchParams.get("encoding") === "proto") {
      const message = url.searchParams.get("message") ?? "";
      const bytes =
        url.searchParams.get("base64") === "1" ? decodeBase64(message) : new TextEncoder().encode(message);
      if (!parses(handler, bytes)) return { response: connectError(reason) };
    }
    return { request: { ...base, body: chunks([]) } };
  }
  // An oversized body goes on as a stream: the handler stops reading at the limit and answers resource_exhausted.
  if (Number(request.headers.get("Content-Length")) > maxBytes + 5 || !request.body) {
    return { request: { ...base, body: streamChunks(request.body) } };
  }
  const body = new Uint8Array(await request.arrayBuffer());
  const contentType = request.headers.get("Content-Type")?.split(";")[0]?.trim().toLowerCase() ?? "";
  const grpcWeb = contentType === "application/grpc-web" || contentType === "application/grpc-web+proto";
  if (body.byteLength <= maxBytes + 5 && (contentType === "application/proto" || grpcWeb)) {
    const messages = grpcWeb ? envelopes(body) : [body];
    if (!messages?.every((bytes) => parses(handler, bytes))) {
      return { response: grpcWeb ? grpcWebError(reason) : connectError(reason) };
    }
  }
  return { request: { ...base, body: chunks([body]) } };
}

/** A unary answer is one small body: buffer it rather than stream it. */
export async function toFetchResponse(response: UniversalServerResponse): Promise<Response> {
  const parts: Uint8Array[] = [];
  for await (const part of response.body ?? chunks([])) parts.push(part);
  const body = parts.length === 1 ? parts[0]! : concat(parts);
  return new Response(body.byteLength > 0 ? body : null, {
    status: response.status,
    headers: response.header,
  });
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

function decodeBase64(text: string): Uint8Array {
  try {
    return base64Decode(text);
  } catch {
    return new Uint8Array([0xff]);
  }
}

/** The data frames of a gRPC-Web body: a flag byte and a 4-byte big-endian length each; null if malformed. */
function envelopes(body: Uint8Array): Uint8Array[] | null {
  const frames: Uint8Array[] = [];
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let offset = 0;
  while (offset < body.byteLength) {
    if (offset + 5 > body.byteLength) return null;
    const flags = body[offset]!;
    const length = view.getUint32(offset + 1);
    const end = offset + 5 + length;
    if (end > body.byteLength) return null;
    // Compressed frames are left to the handler, which negotiates compression.
    if (flags === 0) frames.push(body.subarray(offset + 5, end));
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

/** A gRPC-Web answer with no message and one trailer frame (flag 0x80) carrying the status. */
function grpcWebError(message: string): Response {
  const trailer = new TextEncoder().encode(
    `grpc-status: 3\r\ngrpc-message: ${encodeURIComponent(message)}\r\n`,
  );
  const frame = new Uint8Array(5 + trailer.byteLength);
  frame[0] = 0x80;
  new DataView(frame.buffer).setUint32(1, trailer.byteLength);
  frame.set(trailer, 5);
  return new Response(frame, { status: 200, headers: { "Content-Type": "application/grpc-web+proto" } });
}
