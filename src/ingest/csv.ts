import { invalidArgument } from "../domain/errors";

export interface CsvRecord {
  /** 1-based line number where the record starts, counting the header as line 1. */
  line: number;
  /** By header; a null-prototype object, so that a header such as "__proto__" is a field like any other. */
  fields: Record<string, string>;
  /** Why the record cannot be read as a row (a ragged CSV row, a JSON item that is not an object). */
  problem?: string;
}

/** An empty record to fill: no prototype, so no key of a file can reach Object.prototype. */
export const emptyFields = (): Record<string, string> => Object.create(null);

/**
 * Incremental RFC 4180 reader: quoted fields may hold commas, doubled quotes and newlines, and a
 * record may be split across any number of pushed chunks. Records are keyed by the header row,
 * so column order in the file does not matter.
 */
export class CsvReader {
  private header: string[] | null = null;
  private cells: string[] = [];
  private cell = "";
  private quoted = false;
  /** Where the open quoted field began, to name it if the file ends inside it. */
  private quoteLine = 0;
  private line = 1;
  private rowLine = 1;
  /** A trailing '"' or '\r' whose meaning depends on the next chunk's first character. */
  private carry = "";

  /** Reads one chunk; returns the records it completed. */
  push(chunk: string): CsvRecord[] {
    return this.scan(this.carry + chunk, false);
  }

  /**
   * Ends the file; returns the last record when the file does not end in a newline. A quoted
   * field still open would have swallowed every row after it: that is a 400, not a short file.
   */
  end(): CsvRecord[] {
    const records = this.scan(this.carry, true);
    if (this.quoted) {
      throw invalidArgument([
        { field: "body", message: `the quoted field opened on line ${this.quoteLine} is never closed` },
      ]);
    }
    if (this.cell !== "" || this.cells.length > 0) this.finishRow(records);
    return records;
  }

  /** Unless `final`, a last '"' in a quoted cell or a last '\r' waits for the next chunk's first character. */
  private scan(text: string, final: boolean): CsvRecord[] {
    this.carry = "";
    const records: CsvRecord[] = [];
    const last = text.length - 1;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (this.quoted) {
        if (ch === '"' && i === last && !final) {
          this.carry = ch;
        } else if (ch === '"' && text[i + 1] === '"') {
          this.cell += '"';
          i++;
        } else if (ch === '"') {
          this.quoted = false;
        } else {
          if (ch === "\n") this.line++;
          this.cell += ch;
        }
      } else if (ch === '"' && this.cell === "") {
        this.quoted = true;
        this.quoteLine = this.line;
      } else if (ch === ",") {
        this.cells.push(this.cell);
        this.cell = "";
      } else if (ch === "\r" && i === last && !final) {
        this.carry = ch;
      } else if (ch === "\n" || ch === "\r") {
        if (ch === "\r" && text[i + 1] === "\n") i++;
        this.finishRow(records);
        this.line++;
        this.rowLine = this.line;
      } else {
        // Copy the run of plain characters in one slice rather than one at a time.
        let end = i + 1;
        while (end < text.length && !isSpecial(text.charCodeAt(end))) end++;
        this.cell += text.slice(i, end);
        i = end - 1;
      }
    }
    return records;
  }

  private finishRow(records: CsvRecord[]) {
    this.cells.push(this.cell);
    const cells = this.cells;
    this.cells = [];
    this.cell = "";
    if (!this.header) {
      this.header = cells.map((h) => h.trim());
      checkHeader(this.header);
      return;
    }
    if (cells.length === 1 && cells[0] === "") return;
    const fields = emptyFields();
    this.header.forEach((name, i) => {
      fields[name] = cells[i] ?? "";
    });
    const record: CsvRecord = { line: this.rowLine, fields };
    // RFC 4180: every row has as many fields as the header. A short or long row is mis-delimited.
    if (cells.length !== this.header.length) {
      record.problem = `the row has ${cells.length} fields; the header has ${this.header.length}`;
    }
    records.push(record);
  }
}

/** Far more than any mapping reads: a wider header is a mis-delimited file or a hostile one. */
const MAX_COLUMNS = 1000;

/**
 * Two columns of one header would leave one of them unread, whichever came last winning: the
 * file is refused, naming the columns by position (never by their text).
 */
function checkHeader(header: readonly string[]): void {
  if (header.length > MAX_COLUMNS) {
    throw invalidArgument([
      {
        field: "body",
        message: `line 1: the header has ${header.length} columns; at most ${MAX_COLUMNS} are read`,
      },
    ]);
  }
  const firstColumn = new Map<string, number>();
  header.forEach((name, i) => {
    const first = firstColumn.get(name);
    if (first !== undefined) {
      throw invalidArgument([
        { field: "body", message: `line 1: columns ${first + 1} and ${i + 1} have the same header` },
      ]);
    }
    firstColumn.set(name, i);
  });
}

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;
const isSpecial = (code: number) => code === QUOTE || code === COMMA || code === LF || code === CR;
