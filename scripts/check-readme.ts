/**
 * Runs every curl example in README.md and docs/ against a running service and compares its
 * output with the block that follows it: ```json blocks must be contained in the response
 * (objects by key, arrays by position, so abridged responses still check every value they show),
 * ```text blocks must match exactly. It also checks every relative link in them: the file must
 * exist, and so must the heading an anchor names.
 *
 *   BASE_URL=http://127.0.0.1:8787 tsx scripts/check-readme.ts [--update]
 *
 * --update rewrites each ```json block with the values the service returns now, keeping the
 * block's abridged shape: for use after a deliberate change to the sample data.
 *
 * It serves scripts/feeds/files on port 8788 meanwhile, as `npm run feeds` does for a reader.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A ```sh block that only exports variables, such as TOKEN, for the examples after it. */
interface Setup {
  kind: "setup";
  command: string;
}

interface Example {
  /** A shell command (```sh with curl) or a TypeScript program (```ts), run from the repository root. */
  kind: "sh" | "ts";
  command: string;
  /** Offset of the expected block's body in the README. */
  at: number;
  language: "json" | "text";
  expected: string;
}

function readExamples(markdown: string): (Example | Setup)[] {
  const blocks = [...markdown.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({
    language: m[1],
    body: m[2]!,
    at: m.index + m[0].indexOf("\n") + 1,
  }));
  const examples: (Example | Setup)[] = [];
  blocks.forEach((block, i) => {
    const next = blocks[i + 1];
    if (block.language === "sh" && /^export \w+=/m.test(block.body) && !block.body.includes("curl ")) {
      examples.push({ kind: "setup", command: block.body });
      return;
    }
    if (!next || (next.language !== "json" && next.language !== "text")) return;
    const runnable = (block.language === "sh" && block.body.includes("curl ")) || block.language === "ts";
    if (!runnable) return;
    examples.push({
      kind: block.language as "sh" | "ts",
      command: block.body,
      at: next.at,
      language: next.language,
      expected: next.body,
    });
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

/** `expected`'s shape filled with `actual`'s values. */
function refresh(expected: unknown, actual: unknown): unknown {
  if (Array.isArray(expected) && Array.isArray(actual))
    return expected.map((item, i) => refresh(item, actual[i]));
  if (expected !== null && typeof expected === "object" && actual !== null && typeof actual === "object") {
    return Object.fromEntries(
      Object.keys(expected).map((key) => [
        key,
        refresh((expected as Record<string, unknown>)[key], (actual as Record<string, unknown>)[key]),
      ]),
    );
  }
  return actual;
}

/**
 * JSON laid out like the README's blocks: a value that fits on its line stays on one line.
 * `indent` is the nesting depth in spaces; `used` is how much of the line a key already takes.
 */
function layout(value: unknown, indent = 0, used = indent): string {
  const inline = JSON.stringify(value, null, 1)
    .replace(/\n\s*/g, " ")
    .replace(/\[ /g, "[")
    .replace(/ \]/g, "]");
  if (used + inline.length <= 110 || value === null || typeof value !== "object") return inline;
  const pad = " ".repeat(indent + 2);
  const entries = Array.isArray(value)
    ? value.map((item) => `${pad}${layout(item, indent + 2)}`)
    : Object.entries(value).map(([key, item]) => {
        const prefix = `${pad}${JSON.stringify(key)}: `;
        return `${prefix}${layout(item, indent + 2, prefix.length)}`;
      });
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  return `${open}\n${entries.join(",\n")}\n${" ".repeat(indent)}${close}`;
}

/** Variables the README's setup blocks exported, as a reader's shell would keep them. */
const exported: Record<string, string> = {};

/** Runs a setup block once and keeps what it exports. */
function runSetup(command: string) {
  const output = execFileSync("bash", ["-c", `set -euo pipefail\n${command}\nexport -p`], {
    encoding: "utf8",
    cwd: ROOT,
    env: { ...process.env, ...exported },
  });
  for (const name of command.matchAll(/^export (\w+)=/gm)) {
    const line = output.split("\n").find((l) => l.startsWith(`declare -x ${name[1]}=`));
    if (line) exported[name[1]!] = JSON.parse(line.slice(`declare -x ${name[1]}=`.length));
  }
}

/** A TypeScript example runs as a file in the repository root, so its imports resolve as written. */
function run(kind: "sh" | "ts", command: string): string {
  const options = {
    encoding: "utf8" as const,
    timeout: 60_000,
    cwd: ROOT,
    env: { ...process.env, ...exported },
  };
  if (kind === "sh") return execFileSync("bash", ["-c", `set -euo pipefail\n${command}`], options);
  const file = fileURLToPath(new URL("../.readme-example.ts", import.meta.url));
  writeFileSync(file, command);
  try {
    return execFileSync(fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url)), [file], options);
  } finally {
    rmSync(file, { force: true });
  }
}

// The refresh example fetches its file from the example feed server, as the README tells readers to run it.
// A child process, since the examples run synchronously and would block a server in this one.
const feeds = spawn(fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url)), [
  fileURLToPath(new URL("./feeds/serve.ts", import.meta.url)),
]);
await new Promise((resolve, reject) => {
  feeds.stdout.once("data", resolve);
  feeds.once("exit", (code) => reject(new Error(`the feed server exited (${code})`)));
});
/**
 * In the order they run: examples may use what an earlier one exported or stored (the admin
 * routes in ingestion.md register sources that later examples list).
 */
const DOCUMENTS = [
  "README.md",
  "docs/api.md",
  "docs/ingestion.md",
  "docs/security.md",
  "docs/rpc.md",
  "docs/operations.md",
  "docs/methodology.md",
  "docs/benchmarks.md",
  "docs/architecture.md",
];

/** A heading's anchor as GitHub makes it. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, "")
    .replace(/ /g, "-");

/** Headings outside code blocks. */
function anchorsIn(markdown: string): Set<string> {
  const prose = markdown.replace(/```[\s\S]*?```/g, "");
  return new Set([...prose.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1]!)));
}

/** Relative links whose file or heading does not exist. */
function brokenLinks(document: string, markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, "");
  const broken: string[] = [];
  for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(target!)) continue;
    const [file, anchor] = target!.split("#") as [string, string | undefined];
    const resolved = file === "" ? document : path.join(path.dirname(document), file);
    if (!existsSync(path.join(ROOT, resolved))) {
      broken.push(`${document}: ${target} (no such file)`);
    } else if (anchor !== undefined && resolved.endsWith(".md")) {
      if (!anchorsIn(readFileSync(path.join(ROOT, resolved), "utf8")).has(anchor)) {
        broken.push(`${document}: ${target} (no such heading)`);
      }
    }
  }
  return broken;
}

const unlisted = readdirSync(path.join(ROOT, "docs"))
  .filter((name) => name.endsWith(".md"))
  .map((name) => `docs/${name}`)
  .filter((name) => !DOCUMENTS.includes(name));
if (unlisted.length > 0) throw new Error(`add ${unlisted.join(", ")} to DOCUMENTS`);

const update = process.argv.includes("--update");
const baseUrl = (process.env.BASE_URL ?? "http://127.0.0.1:8787").replace(/\/$/, "");
let passed = 0;
let failed = 0;
for (const document of DOCUMENTS) {
  const documentPath = path.join(ROOT, document);
  const markdown = readFileSync(documentPath, "utf8");
  const replacements: { at: number; length: number; text: string }[] = [];
  for (const link of brokenLinks(document, markdown)) {
    failed++;
    console.log(`✗ broken link in ${link}`);
  }
  for (const example of readExamples(markdown)) {
    if (example.kind === "setup") {
      runSetup(example.command);
      continue;
    }
    const command = example.command.replaceAll("http://localhost:8787", baseUrl);
    const title = `${document}: ${example.command.split("\n")[0]!.slice(0, 100)}`;
    let problem: string | null;
    try {
      const output = run(example.kind, command);
      if (update && example.language === "json") {
        const text = `${layout(refresh(JSON.parse(example.expected), JSON.parse(output)))}\n`;
        replacements.push({ at: example.at, length: example.expected.length, text });
      }
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
    else passed++;
    console.log(`${problem ? "✗" : "✓"} ${title}${problem ? `\n    ${problem}` : ""}`);
  }
  if (update && replacements.length > 0) {
    let updated = markdown;
    for (const r of replacements.reverse())
      updated = updated.slice(0, r.at) + r.text + updated.slice(r.at + r.length);
    writeFileSync(documentPath, updated);
    console.log(`${document}: ${replacements.length} JSON blocks refreshed`);
  }
}
feeds.kill();
console.log(`Doc examples: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
