export interface CsvRecord {
  /** 1-based line number where the record starts, counting the header as line 1. */
  line: number;
  fields: Record<string, string>;
}

/**
 * RFC 4180 reader: quoted fields may hold commas, doubled quotes and newlines. Yields records
 * keyed by the header row, so column order in the file does not matter.
 */
export function* readCsv(text: string): Generator<CsvRecord> {
  let header: string[] | null = null;
  for (const { line, cells } of readRows(text)) {
    if (!header) {
      header = cells.map((h) => h.trim());
      continue;
    }
    if (cells.length === 1 && cells[0] === "") continue;
    const fields: Record<string, string> = {};
    header.forEach((name, i) => {
      fields[name] = cells[i] ?? "";
    });
    yield { line, fields };
  }
}

function* readRows(text: string): Generator<{ line: number; cells: string[] }> {
  let line = 1;
  let rowLine = 1;
  let cells: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        if (ch === "\n") line++;
        cell += ch;
      }
    } else if (ch === '"' && cell === "") {
      quoted = true;
    } else if (ch === ",") {
      cells.push(cell);
      cell = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      cells.push(cell);
      yield { line: rowLine, cells };
      cells = [];
      cell = "";
      line++;
      rowLine = line;
    } else {
      cell += ch;
    }
  }
  if (cell !== "" || cells.length > 0) {
    cells.push(cell);
    yield { line: rowLine, cells };
  }
}
