import { fromBinary } from "@bufbuild/protobuf";
import { base64Decode } from "@bufbuild/protobuf/wire";
import type { UniversalHandler } from "@connectrpc/connect/protocol";

/**
 * connect-es reports a protobuf body it cannot parse as `internal`, the code for a server fault.
 * A malformed request is the client's fault, so binary inputs are parsed here first and refused
 * with `invalid_argument` in the caller's protocol; well-formed ones go on to the handler.
 */
export async function rejectMalformedBinary(
  handler: UniversalHandler,
  request: Request,
  maxBytes: number,
): Promise<{ request: Request } | { response: Response }> {
  const contentType = request.headers.get("Content-Type")?.split(";")[0]?.trim().toLowerCase() ?? "";
  if (request.method === "GET") {
    const url = new URL(request.url);
    if (url.searchParams.get("encoding") !== "proto") return { request };
    const message = url.searchParams.get("message") ?? "";
    const bytes =
      url.searchParams.get("base64") === "1" ? decodeBase64(message) : new TextEncoder().encode(message);
    return parses(handler, bytes)
      ? { request }
      : { response: connectError(`could not parse the ${handler.method.name} request`) };
  }
  const grpcWeb = contentType === "application/grpc-web" || contentType === "application/grpc-web+proto";
  if (contentType !== "application/proto" && !grpcWeb) return { request };
  const body = new Uint8Array(await request.arrayBuffer());
  // Oversized bodies go on untouched: the handler answers them with resource_exhausted.
  const rebuilt = new Request(request, { body });
  if (body.byteLength > maxBytes + 5) return { request: rebuilt };
  const messages = grpcWeb ? envelopes(body) : [body];
  if (messages?.every((bytes) => parses(handler, bytes))) return { request: rebuilt };
  const reason = `could not parse the ${handler.method.name} request`;
  return { response: grpcWeb ? grpcWebError(reason) : connectError(reason) };
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
