import type {
  D1Database,
  D1DatabaseSession,
  D1PreparedStatement,
  D1Result,
  D1SessionConstraint,
} from "@cloudflare/workers-types";

/** One statement D1 ran, with the rows it says it read and wrote. */
export interface MeteredStatement {
  sql: string;
  rowsRead: number;
  rowsWritten: number;
}

/** What a metered binding saw: every statement, the calls that crossed into D1 and the time spent awaiting them. */
export class D1Meter {
  readonly statements: MeteredStatement[] = [];
  /** Queries and batches. */
  calls = 0;
  waitMs = 0;
  /** prepare() and bind(): synchronous, but a binding proxied from Node forwards each to workerd. */
  setupCalls = 0;
  setupMs = 0;

  get rowsRead(): number {
    return this.statements.reduce((sum, statement) => sum + statement.rowsRead, 0);
  }

  get rowsWritten(): number {
    return this.statements.reduce((sum, statement) => sum + statement.rowsWritten, 0);
  }

  record(sql: string, result: D1Result): void {
    this.statements.push({ sql, rowsRead: result.meta.rows_read, rowsWritten: result.meta.rows_written });
  }

  setup<T>(call: () => T): T {
    this.setupCalls++;
    const started = performance.now();
    try {
      return call();
    } finally {
      this.setupMs += performance.now() - started;
    }
  }

  async wait<T>(call: () => Promise<T>): Promise<T> {
    this.calls++;
    const started = performance.now();
    try {
      return await call();
    } finally {
      this.waitMs += performance.now() - started;
    }
  }
}

/**
 * Every read goes through all(), the one call whose result carries D1's meta: raw() and first()
 * drop it, and drizzle reads its mapped selects with raw(). Rows become arrays the way drizzle
 * turns the objects of a batch's results into arrays.
 */
class MeteredStatementHandle {
  constructor(
    readonly inner: D1PreparedStatement,
    readonly sql: string,
    private readonly meter: D1Meter,
  ) {}

  bind(...values: unknown[]): MeteredStatementHandle {
    return new MeteredStatementHandle(
      this.meter.setup(() => this.inner.bind(...values)),
      this.sql,
      this.meter,
    );
  }

  async all<T = Record<string, unknown>>(): Promise<D1Result<T>> {
    const result = await this.meter.wait(() => this.inner.all<T>());
    this.meter.record(this.sql, result);
    return result;
  }

  async run(): Promise<D1Result> {
    const result = await this.meter.wait(() => this.inner.run());
    this.meter.record(this.sql, result);
    return result;
  }

  async raw(): Promise<unknown[][]> {
    return (await this.all()).results.map((row) => Object.values(row));
  }

  async first(column?: string): Promise<unknown> {
    const [row] = (await this.all()).results;
    if (row === undefined) return null;
    return column === undefined ? row : row[column];
  }
}

/**
 * A D1 binding, or one of its sessions, that passes every call through unchanged while a D1Meter
 * records it. A class, not a plain object, so that drizzle cannot mistake it for a config object.
 */
class MeteredD1 {
  constructor(
    private readonly inner: D1Database | D1DatabaseSession,
    private readonly meter: D1Meter,
  ) {}

  prepare(sql: string): MeteredStatementHandle {
    return new MeteredStatementHandle(
      this.meter.setup(() => this.inner.prepare(sql)),
      sql,
      this.meter,
    );
  }

  async batch(statements: MeteredStatementHandle[]): Promise<D1Result[]> {
    const results = await this.meter.wait(() => this.inner.batch(statements.map((s) => s.inner)));
    results.forEach((result, i) => {
      this.meter.record(statements[i]!.sql, result);
    });
    return results;
  }

  withSession(constraint?: D1SessionConstraint | string): MeteredD1 {
    return new MeteredD1((this.inner as D1Database).withSession(constraint), this.meter);
  }

  getBookmark(): string | null {
    return (this.inner as D1DatabaseSession).getBookmark();
  }
}

/** `d1` metered by `meter`, typed as the binding it stands in for. */
export function meteredD1(d1: D1Database, meter: D1Meter): D1Database {
  return new MeteredD1(d1, meter) as unknown as D1Database;
}
