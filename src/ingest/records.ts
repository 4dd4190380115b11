import { JSONParser } from "@streamparser/json";
import type { SourceFormat } from "../domain/catalogue";
import { invalidArgument, payloadTooLarge } from "../domain/errors";
import { FORBIDDEN_KEYS } from "../domain/inputs";
import { CsvReader, type CsvRecord, emptyFields } from "./csv";

/** Turns text chunks into records; `end` flushes what the last chunk left open. */
interface RecordReader {
  push(chunk: string): CsvRecord[];
  end(): CsvRecord[];
}

/**
 * JSON files are an array of flat objects; each object's position (1-based) stands in for its
 * line. Objects are emitted as soon as they close, so the array is never held whole.
 */
class JsonArrayReader implements RecordReader {
  private readonly parser = new JSONParser({ paths: ["$.*"], keepStack: false });
  private pending: CsvRecord[] = [];
  private position = 0;
  private started = false;

  constructor() {
    this.parser.onValue = ({ value }) => {
      this.position++;
      this.pending.push({ line: this.position, ...toFields(value) });
    };
  }

  push(chunk: string): CsvRecord[] {
    if (!this.started) {
      const first = chunk.trimStart()[0];
      if (first === undefined) return [];
      if (first !== "[") throw notJson("must be an array of objects");
      this.started = true;
    }
    this.write(() => this.parser.write(chunk));
    return this.take();
  }

  end(): CsvRecord[] {
    if (!this.started) throw notJson("must be an array of objects");
    // The parser ends itself when the top-level array closes.
    if (!this.parser.isEnded) this.write(() => this.parser.end());
    return this.take();
  }

  private write(step: () => void) {
    try {
      step();
    } catch (error) {
      throw notJson(describeJsonError(error));
    }
  }

  private take(): CsvRecord[] {
    const records = this.pending;
    this.pending = [];
    return records;
  }
}

const notJson = (message: string) => invalidArgument([{ field: "body", message }]);

/**
 * The parser's messages quote the text at fault and name its internal states: what the file
 * said is never repeated back (it may come from a fetched url), only where it went wrong.
 */
function describeJsonError(error: unknown): string {
  const message = error instanceof Error ? error.message : "";
  if (message.includes("in state ENDED")) return "not valid JSON: text follows the end of the array";
  if (message.startsWith("Parser ended in mid-parsing"))
    return "not valid JSON: the file ends inside the array";
  const position = /absolute position "(\d+)"/.exec(message)?.[1];
  return position === undefined ? "not valid JSON" : `not valid JSON at character ${Number(position) + 1}`;
}

/** Only scalars can be a cell; anything else reads as blank and fails validation. */
function toFields(item: unknown): Pick<CsvRecord, "fields" | "problem"> {
  const fields = emptyFields();
  if (item === null || typeof item !== "object" || Array.isArray(item)) {
    return { fields, problem: "the item is not an object" };
  }
  for (const [name, value] of Object.entries(item)) {
    if (FORBIDDEN_KEYS.has(name)) return { fields, problem: `the key ${name} is not allowed` };
    fields[name] = typeof value === "string" || typeof value === "number" ? String(value) : "";
  }
  return { fields };
}

/** The first two bytes of every gzip stream (RFC 1952). */
const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * Reads a CSV or JSON file as it streams in, yielding its records a network chunk at a time so
 * memory stays flat however large the file. Stops with 413 past `limitBytes` and with 400 on
 * text that is not UTF-8 or JSON that does not parse.
 */
export async function* readRecords(
  body: ReadableStream<Uint8Array>,
  format: SourceFormat,
  limitBytes: number,
): AsyncGenerator<CsvRecord[]> {
  const reader: RecordReader = format === "json" ? new JsonArrayReader() : new CsvReader();
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  const decode = (bytes?: Uint8Array) => {
    try {
      return bytes ? decoder.decode(bytes, { stream: true }) : decoder.decode();
    } catch {
      throw invalidArgument([{ field: "body", message: "not valid UTF-8" }]);
    }
  };
  const stream = body.getReader();
  let size = 0;
  // The file's first bytes, until there are two to tell gzip by: a chunk may hold one.
  const head: number[] = [];
  try {
    for (;;) {
      const { done, value } = await stream.read();
      if (done) break;
      if (head.length < GZIP_MAGIC.length) {
        head.push(...value.subarray(0, GZIP_MAGIC.length - head.length));
        if (head.length === GZIP_MAGIC.length && head.every((byte, i) => byte === GZIP_MAGIC[i])) {
          throw invalidArgument([
            {
              field: "body",
              message: "the file is gzip-compressed, and its Content-Encoding does not say so",
            },
          ]);
        }
      }
      size += value.byteLength;
      if (size > limitBytes) throw payloadTooLarge(limitBytes);
      const records = reader.push(decode(value));
      if (records.length > 0) yield records;
    }
    const records = [...reader.push(decode()), ...reader.end()];
    if (records.length > 0) yield records;
  } finally {
    // Stops the transfer when reading ends early, on an error or a too-large file.
    await stream.cancel().catch(() => {});
  }
}
