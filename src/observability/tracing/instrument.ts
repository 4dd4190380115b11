import type { D1Client } from "../../db/client";
import { type Attributes, SpanKind, traced } from "./span";

/**
 * Wrappers that give each D1 query and each KV operation a client span, for invocations being
 * traced. A span names the statement's operation and table and carries its SQL text, which has
 * placeholders where the values go: bound values, keys and cached bodies never enter a span.
 */

const SQL_OPERATION = /^\s*(select|insert|update|delete|with|create|drop|alter|pragma|replace)\b/i;
const SQL_TABLE = /\b(?:from|into|update|join)\s+["`]?([A-Za-z_][A-Za-z0-9_]*)/i;
const MAX_QUERY_TEXT = 2000;

const queryText = (query: string) =>
  query.length > MAX_QUERY_TEXT ? `${query.slice(0, MAX_QUERY_TEXT)}…` : query;

function statementAttributes(query: string): { name: string; attributes: Attributes } {
  const operation = SQL_OPERATION.exec(query)?.[1]?.toUpperCase() ?? "QUERY";
  const table = SQL_TABLE.exec(query)?.[1];
  return {
    name: table ? `${operation} ${table}` : operation,
    attributes: {
      "db.system.name": "cloudflare_d1",
      "db.operation.name": operation,
      ...(table ? { "db.collection.name": table } : {}),
      "db.query.text": queryText(query),
    },
  };
}

/** What D1 says it did, when the result carries its meta. */
function recordMeta(
  span: { set(name: string, value: number | undefined): void } | undefined,
  result: unknown,
) {
  const meta = (result as { meta?: { rows_read?: number; rows_written?: number } } | null)?.meta;
  span?.set("cloudflare.d1.rows_read", meta?.rows_read);
  span?.set("cloudflare.d1.rows_written", meta?.rows_written);
}

class TracedStatement {
  constructor(
    readonly inner: D1PreparedStatement,
    readonly query: string,
  ) {}

  bind(...values: unknown[]): TracedStatement {
    return new TracedStatement(this.inner.bind(...values), this.query);
  }

  private execute<T>(method: string, call: () => Promise<T>): Promise<T> {
    const { name, attributes } = statementAttributes(this.query);
    return traced(
      name,
      { ...attributes, "cloudflare.d1.method": method },
      async (span) => {
        const result = await call();
        recordMeta(span, result);
        return result;
      },
      SpanKind.client,
    );
  }

  first(column?: string) {
    return this.execute("first", () =>
      column === undefined ? this.inner.first() : this.inner.first(column),
    );
  }
  run() {
    return this.execute("run", () => this.inner.run());
  }
  all() {
    return this.execute("all", () => this.inner.all());
  }
  raw(options?: { columnNames?: boolean }) {
    return this.execute("raw", () =>
      options?.columnNames ? this.inner.raw({ columnNames: true }) : this.inner.raw(),
    );
  }
}

const unwrap = (statement: D1PreparedStatement): D1PreparedStatement =>
  statement instanceof TracedStatement ? statement.inner : statement;

class TracedD1 {
  constructor(private readonly inner: D1Client) {}

  prepare(query: string): TracedStatement {
    return new TracedStatement(this.inner.prepare(query), query);
  }

  batch(statements: D1PreparedStatement[]) {
    const texts = statements.flatMap((s) => (s instanceof TracedStatement ? [s.query] : []));
    return traced(
      "D1 batch",
      {
        "db.system.name": "cloudflare_d1",
        "db.operation.name": "BATCH",
        "db.operation.batch.size": statements.length,
        // As OTel asks of a batch: its statements, separated by semicolons.
        ...(texts.length > 0 ? { "db.query.text": queryText(texts.join("; ")) } : {}),
      },
      () => this.inner.batch(statements.map(unwrap)),
      SpanKind.client,
    );
  }
}

/** A D1 session whose queries are spans of the current trace. */
export const tracedD1 = (d1: D1Client): D1Client => new TracedD1(d1) as unknown as D1Client;

const kvSpan = <T>(operation: string, work: () => Promise<T>, describe?: (result: T) => Attributes) =>
  traced(
    `KV ${operation}`,
    { "db.system.name": "cloudflare_kv", "db.operation.name": operation },
    async (span) => {
      const result = await work();
      if (span && describe)
        for (const [name, value] of Object.entries(describe(result))) span.set(name, value);
      return result;
    },
    SpanKind.client,
  );

/** A KV binding whose operations are spans of the current trace. */
export function tracedKv(kv: KVNamespace): KVNamespace {
  const traced: Pick<KVNamespace, "get" | "getWithMetadata" | "put" | "delete" | "list"> = {
    get: ((...args: Parameters<KVNamespace["get"]>) =>
      kvSpan(
        "get",
        () => (kv.get as (...a: unknown[]) => Promise<unknown>)(...args),
        (value) => ({ "cloudflare.kv.hit": value !== null }),
      )) as KVNamespace["get"],
    getWithMetadata: ((...args: Parameters<KVNamespace["getWithMetadata"]>) =>
      kvSpan("getWithMetadata", () =>
        (kv.getWithMetadata as (...a: unknown[]) => Promise<unknown>)(...args),
      )) as KVNamespace["getWithMetadata"],
    put: (...args) => kvSpan("put", () => kv.put(...args)),
    delete: (...args) => kvSpan("delete", () => kv.delete(...args)),
    list: ((...args: Parameters<KVNamespace["list"]>) =>
      kvSpan("list", () => kv.list(...args))) as KVNamespace["list"],
  };
  return traced as KVNamespace;
}
