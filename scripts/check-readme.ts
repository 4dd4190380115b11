/**
 * Runs every curl example in README.md against a running service and compares its output with
 * the block that follows it: ```json blocks must be contained in the response (objects by key,
 * arrays by position, so abridged responses still check every value they show), ```text blocks
 * must match exactly.
 *
 *   BASE_URL=http://127.0.0.1:8787 tsx scripts/check-readme.ts
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";

interface Example {
  command: string;
  language: "json" | "text";
  expected: string;
}

function readExamples(markdown: string): Example[] {
  const blocks = [...markdown.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({
    language: m[1],
    body: m[2]!,
  }));
  const examples: Example[] = [];
  blocks.forEach((block, i) => {
    const next = blocks[i + 1];
    if (block.language !== "sh" || !block.body.includes("curl ") || !next) return;
    if (next.language !== "json" && next.language !== "text") return;
    examples.push({ command: block.body, language: next.language, expected: next.body });
  });
  return examples;
}

/** The path of the first difference, or null when `expected` is contained in `actual`. */
function firstMismatch(expected: unknown, actual: unknown, path = "$"): string | null {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected an array`;
    for (const [i, item] of expected.entries()) {
      const mismatch = firstMismatch(item, actual[i], `${path}[${i}]`);
      if (mismatch) return mismatch;
    }
    return null;
  }
  if (expected !== null && typeof expected === "object") {
    if (actual === null || typeof actual !== "object") return `${path}: expected an object`;
    for (const [key, value] of Object.entries(expected)) {
      const mismatch = firstMismatch(value, (actual as Record<string, unknown>)[key], `${path}.${key}`);
      if (mismatch) return mismatch;
    }
    return null;
  }
  return isDeepStrictEqual(expected, actual)
    ? null
    : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

const baseUrl = (process.env.BASE_URL ?? "http://127.0.0.1:8787").replace(/\/$/, "");
const examples = readExamples(readFileSync(new URL("../README.md", import.meta.url), "utf8"));
let failed = 0;
for (const example of examples) {
  const command = example.command.replaceAll("http://localhost:8787", baseUrl);
  const title = example.command.split("\n")[0]!.slice(0, 100);
  let problem: string | null;
  try {
    const output = execFileSync("bash", ["-c", `set -euo pipefail\n${command}`], {
      encoding: "utf8",
      timeout: 30_000,
    });
    problem =
      example.language === "json"
        ? firstMismatch(JSON.parse(example.expected), JSON.parse(output))
        : output.trim() === example.expected.trim()
          ? null
          : `expected ${JSON.stringify(example.expected.trim())}, got ${JSON.stringify(output.trim())}`;
  } catch (error) {
    problem = String(error);
  }
  if (problem) failed++;
  console.log(`${problem ? "✗" : "✓"} ${title}${problem ? `\n    ${problem}` : ""}`);
}
console.log(`README examples: ${examples.length - failed} passed, ${failed} failed`);
process.exit(failed > 0 || examples.length === 0 ? 1 : 0);
