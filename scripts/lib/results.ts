/** bench/results.json: the figures of `npm run bench` and `npm run soak`, a section each. */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { REPO_ROOT } from "./local-server";

const RESULTS_FILE = path.join(REPO_ROOT, "bench/results.json");

/** Writes `sections` into the file; every other section stays exactly as it was. */
export async function writeResults(sections: Record<string, unknown>): Promise<void> {
  const previous = await readFile(RESULTS_FILE, "utf8").then(
    (text) => JSON.parse(text) as Record<string, unknown>,
    () => ({}),
  );
  await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify({ ...previous, ...sections }, null, 2)}\n`);
  console.log(`\nWrote ${Object.keys(sections).join(", ")} to ${path.relative(REPO_ROOT, RESULTS_FILE)}`);
}
