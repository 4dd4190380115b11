import {
  Code,
  ConnectError,
  type ContextValues,
  type HandlerContext,
  type MethodImplSpec,
} from "@connectrpc/connect";
import {
  createMethodSerializationLookup,
  invokeUnaryImplementation,
  mergeNonProtocolHeaders,
  type UniversalHandler,
  type UniversalHandlerOptions,
  type UniversalServerRequest,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  errorToJsonBytes,
  parseContentType,
  trailerMux,
} from "@connectrpc/connect/protocol-connect";
import { INTERNAL_DETAIL } from "../domain/errors";
import { concatBytes } from "../pipeline/bytes";
import { codeName } from "./metrics";

/*
 * Between fetch and connect-es's universal handlers, and in their place for a Connect unary POST
 * (connectUnaryHandler). Unary bodies are small and bounded, so they are read once into memory and
 * answered from memory: cheaper than streaming them through ReadableStream/async-iterable
 * adapters. A malformed request is the client's fault, so it is refused with `invalid_argument`,
 * in the caller's protocol, never as a server fault.
 */

/** A Connect unary call answered by connectUnaryHandler: the request, and what it needs from the router. */
/** `binary`: the message is protobuf, not JSON, as the request's content type said. */
export type ConnectUnaryHandler = (
  request: Request,
  binary: boolean,
  contextValues: ContextValues,
) => Promise<Response>;

/**
 * The Connect protocol's unary POST, the call every generated client makes, answered from
 * connect-es's own parts: its content types, message serialization with its limits, interceptor
 * chain and error JSON. What it leaves out is its universal handler's general machinery: a
 * deadline signal linked through two AbortControllers, copies of every header, and the body
 * streamed in and out as async iterables. In workerd that machinery cost the RPC ranking about a
 * tenth of its throughput beside REST (docs/benchmarks.md). Only a call that connect-es would
 * answer the same way comes here (see connectUnaryEncoding); any other goes to connect-es.
 */
export function connectUnaryHandler(
  spec: Extract<MethodImplSpec, { kind: "unary" }>,
  options: UniversalHandlerOptions,
): ConnectUnaryHandler {
  const serialization = createMethodSerializationLookup(
    spec.method,
    options.binaryOptions,
    options.jsonOptions,
    options,
  );
  // A message that does not decode is the caller's: connect-es says so of JSON, and calls binary
  // it cannot decode internal, which asDecodeFailure turns into invalid_argument on its path.
  const parse = (binary: boolean, bytes: Uint8Array) => {
    try {
      return serialization.getI(binary).parse(bytes);
    } catch (error) {
      if (error instanceof ConnectError && error.code !== Code.Internal) throw error;
      throw new ConnectError(decodeFailure(spec.method.name), Code.InvalidArgument);
    }
  };
  return async (request, binary, contextValues) => {
    const context: HandlerContext = {
      service: spec.method.parent,
      method: spec.method,
      protocolName: "connect",
      requestMethod: request.method,
      url: request.url,
      // Aborted when the caller goes away; the call has no deadline of its own (connectUnaryEncoding).
      signal: request.signal,
      timeoutMs: () => undefined,
      requestHeader: request.headers,
      responseHeader: new Headers({ "Content-Type": binary ? contentTypeUnaryProto : contentTypeUnaryJson }),
      responseTrailer: new Headers(),
      values: contextValues,
    };
    let status = 200;
    let body: Uint8Array;
    try {
      // The gate runs before the body is read, as connect-es runs it.
      await options.requestGate?.(context);
      const input = parse(binary, new Uint8Array(await request.arrayBuffer()));
      const output = await invokeUnaryImplementation(spec, context, input, options.interceptors);
      body = serialization.getO(binary).serialize(output);
    } catch (thrown) {
      const error = ConnectError.from(thrown);
      status = codeToHttpStatus(error.code);
      context.responseHeader.set("Content-Type", contentTypeUnaryJson);
      mergeNonProtocolHeaders(context.responseHeader, error.metadata);
      const shown = SERVER_FAULTS.has(codeName(error.code))
        ? new ConnectError(INTERNAL_DETAIL, error.code)
        : error;
      body = errorToJsonBytes(shown, options.jsonOptions);
    }
    const headers = trailerMux(context.responseHeader, context.responseTrailer);
    headers.set("Content-Length", String(body.byteLength));
    return new Response(body, { status, headers });
  };
}

/**
 * The message's encoding when connectUnaryHandler answers the request as connect-es would: a
 * Connect unary POST with no deadline to enforce and a declared length within the limit;
 * undefined for any other. Compressed requests are refused before either path (answerCall).
 */
function connectUnaryEncoding(request: Request, maxBytes: number): { binary: boolean } | undefined {
  if (request.method !== "POST" || request.headers.has("Connect-Timeout-Ms")) return undefined;
  const type = parseContentType(request.headers.get("Content-Type"));
  if (type === undefined || type.stream) return undefined;
  return Number(request.headers.get("Content-Length") ?? NaN) <= maxBytes ? type : undefined;
}

/**
 * Answers a call: a compressed one is refused, a Connect unary POST goes to its ConnectUnaryHandler
 * when connectUnaryEncoding says so, and any other to connect-es's universal handler.
 */
export async function answerCall(
  handler: UniversalHandler,
  connectUnary: ConnectUnaryHandler | undefined,
  request: Request,
  maxBytes: number,
  contextValues: ContextValues,
): Promise<Response> {
  const contentType = request.headers.get("Content-Type")?.split(";")[0]?.trim().toLowerCase() ?? "";
  const grpcWeb = contentType.startsWith("application/grpc-web");
  // The router takes no compressed messages. connect-es says so with `unimplemented`, a 501: a
  // client sending what the service does not take is the client's error, not the server's.
  const compression =
    request.method === "GET"
      ? new URL(request.url).searchParams.get("compression")
      : request.headers.get(grpcWeb ? "Grpc-Encoding" : "Content-Encoding");
  if (compression !== null && compression !== "" && compression.toLowerCase() !== "identity") {
    return invalidArgument(grpcWeb, "compressed messages are not accepted; send the message uncompressed");
  }
  const unary = connectUnary && connectUnaryEncoding(request, maxBytes);
  if (unary) return connectUnary(request, unary.binary, contextValues);
  return toFetchResponse(await handler(await toUniversalRequest(request, maxBytes, contextValues)));
}

async function toUniversalRequest(
  request: Request,
  maxBytes: number,
  contextValues: ContextValues,
): Promise<UniversalServerRequest> {
  const base = {
    httpVersion: "",
    method: request.method,
    url: request.url,
    header: request.headers,
    signal: request.signal,
    contextValues,
  };
  // A GET carries its message in the query.
  if (request.method === "GET") return { ...base, body: chunks([]) };
  // An oversized body goes on as a stream: the handler stops reading at the limit and answers resource_exhausted.
  if (Number(request.headers.get("Content-Length")) > maxBytes + 5 || !request.body) {
    return { ...base, body: streamChunks(request.body) };
  }
  return { ...base, body: chunks([new Uint8Array(await request.arrayBuffer())]) };
}

/**
 * connect-es calls a message it cannot decode `internal`, the code of a server fault, and answers
 * so before any interceptor runs. Before the interceptors, past the request gate, only reading and
 * decoding the request can fail: such an answer is the client's malformed message, refused with
 * invalid_argument in its protocol. The message is thus decoded once, by connect-es, and only
 * for a caller the gate admitted.
 */
export async function asDecodeFailure(
  handler: UniversalHandler,
  request: Request,
  response: Response,
): Promise<Response> {
  if ((await responseCode(response)) !== "internal") return response;
  const grpcWeb =
    request.headers.get("Content-Type")?.toLowerCase().startsWith("application/grpc-web") ?? false;
  return invalidArgument(grpcWeb, decodeFailure(handler.method.name), response.headers);
}

const decodeFailure = (procedure: string) => `could not parse the ${procedure} request`;

/**
 * The Connect code an answer ends with, as the protocol spells it: from its grpc-status header or
 * trailer frame (gRPC-Web), or its Connect error body; "ok" for a Connect answer that is no error.
 */
export async function responseCode(response: Response): Promise<string | undefined> {
  const contentType = response.headers.get("Content-Type") ?? "";
  const header = response.headers.get("grpc-status");
  if (contentType.startsWith("application/grpc-web")) {
    const status =
      header ??
      /^grpc-status: *(\d+)\r?$/im.exec(
        new TextDecoder().decode(
          envelopes(new Uint8Array(await response.clone().arrayBuffer()), true)?.findLast(
            (frame) => frame.flags === TRAILER_FLAG,
          )?.data,
        ),
      )?.[1];
    return status === undefined ? undefined : codeName(Number(status) as Code);
  }
  if (response.status === 200) return "ok";
  if (!contentType.startsWith("application/json")) return undefined;
  const body = (await response
    .clone()
    .json()
    .catch(() => undefined)) as { code?: unknown } | undefined;
  return typeof body?.code === "string" ? body.code : undefined;
}

/**
 * A unary answer is one small body: buffer it rather than stream it. An error connect-es raised
 * outside the interceptors (one serializing the answer, say) reaches the caller with connect-es's
 * own message, which names fields and internals: an internal error says only that it happened.
 */
export async function toFetchResponse(response: UniversalServerResponse): Promise<Response> {
  const parts: Uint8Array[] = [];
  for await (const part of response.body ?? chunks([])) parts.push(part);
  const body = withoutInternalDetail(response, parts.length === 1 ? parts[0]! : concatBytes(parts));
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
  return concatBytes([body.subarray(0, trailer.offset), grpcWebTrailer(Number(status), INTERNAL_DETAIL)]);
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

/** A refusal with invalid_argument: a Connect error body, or a gRPC-Web trailer. */
function invalidArgument(grpcWeb: boolean, message: string, headers?: Headers): Response {
  const response = grpcWeb
    ? new Response(grpcWebTrailer(3, message), {
        status: 200,
        headers: { "Content-Type": "application/grpc-web+proto" },
      })
    : new Response(JSON.stringify({ code: "invalid_argument", message }), {
        status: 400,
        headers: { "Content-Type": "application/json" },
      });
  // What the gate set (the RateLimit headers) still holds for the refused call.
  for (const [name, value] of headers ?? []) if (/^ratelimit/i.test(name)) response.headers.set(name, value);
  return response;
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
