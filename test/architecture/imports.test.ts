import { describe, expect, it } from "vitest";

/*
 * The import graph of src/, read from the sources' text: no module imports itself back through
 * others, and each folder imports only the folders docs/architecture.md allows it.
 */

const SOURCES = import.meta.glob<string>(["../../src/**/*.ts", "!../../src/**/*.d.ts"], {
  query: "?raw",
  import: "default",
  eager: true,
});
const SRC = "../../src/";

/** Every relative `import`/`export … from`, type-only ones too: a type cycle is still a cycle. */
const RELATIVE_IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+"(\.[^"]+)"/g;

function resolve(from: string, specifier: string): string | undefined {
  const parts = from.split("/").slice(0, -1);
  for (const part of specifier.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== ".") parts.push(part);
  }
  const base = parts.join("/");
  return [`${base}.ts`, `${base}/index.ts`].find((candidate) => candidate in SOURCES);
}

const graph = new Map<string, string[]>(
  Object.entries(SOURCES).map(([file, text]) => [
    file,
    [...text.matchAll(RELATIVE_IMPORT)].map((match) => {
      const target = resolve(file, match[1]!);
      if (target === undefined) throw new Error(`${file} imports ${match[1]}, which is no source file`);
      return target;
    }),
  ]),
);

/** A module's folder under src/, or its own name for a module at the top (app.ts, env.ts, index.ts). */
const folderOf = (file: string) => file.slice(SRC.length).split("/")[0]!.replace(/\.ts$/, "");

/**
 * Which folders each folder may import (besides itself). Lower layers first: stats and domain
 * are pure; db and observability serve everything above them; service holds the use
 * cases; api, rpc and pipeline are the adapters; app and index assemble them. env is the Worker's
 * bindings and settings, and names the types of the bindings it declares.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  domain: [],
  stats: ["domain"],
  db: ["domain"],
  gen: [],
  env: ["observability"],
  observability: ["db", "env"],
  cache: ["db", "observability"],
  auth: ["domain", "env", "observability"],
  ratelimit: ["auth", "domain", "env", "observability"],
  ingest: ["db", "domain", "observability", "stats"],
  jobs: ["domain", "env", "ingest", "observability", "service"],
  service: ["auth", "cache", "db", "domain", "env", "ingest", "observability", "stats"],
  pipeline: ["auth", "domain", "env", "gen", "observability", "ratelimit", "service"],
  api: ["auth", "cache", "domain", "observability", "pipeline", "service"],
  rpc: ["auth", "domain", "gen", "observability", "pipeline", "service"],
  app: ["api", "auth", "pipeline", "rpc", "service"],
  index: ["app", "env", "jobs", "observability", "ratelimit"],
};

describe("the import graph of src/", () => {
  it("reads every source file", () => {
    expect(graph.size).toBeGreaterThan(80);
    expect(graph.get(`${SRC}index.ts`)).toContain(`${SRC}app.ts`);
  });

  it("has no cycle", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const walk = (file: string, path: string[]) => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "open") {
        cycles.push([...path.slice(path.indexOf(file)), file].map((f) => f.slice(SRC.length)).join(" → "));
        return;
      }
      state.set(file, "open");
      for (const target of graph.get(file)!) walk(target, [...path, file]);
      state.set(file, "done");
    };
    for (const file of graph.keys()) walk(file, []);
    expect(cycles).toEqual([]);
  });

  it("has each folder import only what its layer allows", () => {
    const strays: string[] = [];
    for (const [file, targets] of graph) {
      const folder = folderOf(file);
      const allowed = MAY_IMPORT[folder];
      if (allowed === undefined) {
        strays.push(`${file.slice(SRC.length)}: its folder has no entry in MAY_IMPORT`);
        continue;
      }
      for (const target of targets) {
        const other = folderOf(target);
        if (other !== folder && !allowed.includes(other)) {
          strays.push(`${file.slice(SRC.length)} imports ${target.slice(SRC.length)}`);
        }
      }
    }
    expect(strays).toEqual([]);
  });

  it("keeps SQL in db/: no other folder imports drizzle or the schema, or prepares a statement", () => {
    const outside = [...graph.keys()].filter((file) => folderOf(file) !== "db");
    const strays = outside.filter((file) => {
      const text = SOURCES[file]!;
      // The tracing wrapper prepares statements only to hand them on, with a span around them.
      const prepares = /\.prepare\(/.test(text) && !file.endsWith("observability/tracing/instrument.ts");
      return /from "drizzle-orm/.test(text) || /db\/schema"/.test(text) || prepares;
    });
    expect(strays.map((file) => file.slice(SRC.length))).toEqual([]);
  });

  it("keeps Connect and Hono out of the domain, the statistics and the database", () => {
    const leaks = [...graph.keys()].filter(
      (file) =>
        ["domain", "stats", "db"].includes(folderOf(file)) && /from "(@connectrpc|hono)/.test(SOURCES[file]!),
    );
    expect(leaks).toEqual([]);
  });
});
