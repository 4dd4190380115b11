import { CsvReader, type CsvRecord } from "../../src/ingest/csv";

/** Reads a whole CSV text at once, through the streaming reader uploads use. */
export function readCsv(text: string): CsvRecord[] {
  const reader = new CsvReader();
  return [...reader.push(text), ...reader.end()];
}
