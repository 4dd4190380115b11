import { describe, expect, it } from "vitest";
import {
  generateSampleData,
  PANEL_HEADER,
  SAMPLE_PANEL_COMPANIES,
  samplePanelCompanies,
  samplePanelFiles,
} from "../../scripts/sample-data/generate";
import { MAX_UPLOAD_BYTES } from "../../src/service/requests";

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The sample panel's CSV as generated before the generator took a scale: what 1× must stay. */
const SAMPLE_PANEL_SHA256 = "63cf05cda886e07d15e5e243cc30416853450f201032c296357970f362a92c25";

const ROWS_PER_COMPANY = 11 * 7;
const INVALID_ROWS_PER_SCALE = 21;

describe("the scale benchmark's sample panel", () => {
  it("is today's sample panel at 1×, byte for byte, in one upload", async () => {
    const panelCsv = generateSampleData().panelCsv;
    expect(await sha256(panelCsv)).toBe(SAMPLE_PANEL_SHA256);
    expect([...samplePanelFiles(1, MAX_UPLOAD_BYTES)]).toEqual([panelCsv]);
  });

  it.each([
    [1, 2_400],
    [10, 24_000],
    [100, 240_000],
  ])("has %i× 2,400 companies: %i, each key once", { timeout: 60_000 }, (scale, expected) => {
    const companies = samplePanelCompanies(scale);
    expect(SAMPLE_PANEL_COMPANIES * scale).toBe(expected);
    expect(companies).toHaveLength(expected);
    expect(new Set(companies.map((c) => c.key)).size).toBe(expected);
  });

  it("opens each larger panel with the smaller one's companies", { timeout: 60_000 }, () => {
    const [one, ten] = [samplePanelCompanies(1), samplePanelCompanies(10)];
    expect(ten.slice(0, one.length)).toEqual(one);
  });

  it("cuts 10× into uploads under the upload limit, with every company's rows", { timeout: 60_000 }, () => {
    const rowsOf = new Map<string, number>();
    let lines = 0;
    let files = 0;
    for (const file of samplePanelFiles(10, MAX_UPLOAD_BYTES)) {
      files++;
      expect(file.length).toBeLessThanOrEqual(MAX_UPLOAD_BYTES);
      const rows = file.split("\n");
      expect(rows[0]).toBe(PANEL_HEADER);
      expect(rows.at(-1)).toBe("");
      for (const row of rows.slice(1, -1)) {
        lines++;
        const key = row.slice(0, row.indexOf(","));
        rowsOf.set(key, (rowsOf.get(key) ?? 0) + 1);
      }
    }
    expect(files).toBe(2);
    // Each company's 77 rows, and the planted invalid rows: some under a company's key, some
    // under keys of their own or none.
    const companies = samplePanelCompanies(10).map((c) => c.key);
    expect(companies.every((key) => rowsOf.get(key)! >= ROWS_PER_COMPANY)).toBe(true);
    expect(lines).toBe(24_000 * ROWS_PER_COMPANY + 10 * INVALID_ROWS_PER_SCALE);
  });
});
