import type { z } from "zod";
import { listRejectedRows, rejectedRowCounts } from "../db/queries";
import {
  countRejectedRows,
  deleteSource,
  findSource,
  insertSource,
  listAllSources,
  updateSource,
} from "../db/sources";
import {
  type Catalogue,
  dataAgeSeconds,
  type Source,
  type SourceField,
  type SourceKind,
  type SourceMapping,
} from "../domain/catalogue";
import { type FieldViolation, invalidArgument, ServiceError } from "../domain/errors";
import { type CircuitPolicy, trialAfter } from "../ingest/circuit";
import { loadCredentialKeys, sealCredential } from "../ingest/credentials";
import { type SourceUrlPolicy, sourceUrlProblem } from "../ingest/source-url";
import { getCatalogue } from "./catalogue";
import type { ServiceContext } from "./context";
import type { createSourceRequest, updateSourceRequest } from "./requests";

export const circuitPolicy = (ctx: ServiceContext): CircuitPolicy => ({
  failureThreshold: ctx.config.circuitFailureThreshold,
  cooldownMs: ctx.config.circuitCooldownMs,
});

export interface SourceWithFreshness extends Source {
  /** Seconds since the source last loaded rows; null when it never has. */
  ageSeconds: number | null;
  /** Rows of this source that its latest completed load rejected. */
  rejectedRows: number;
  /** When an open circuit lets the next trial refresh through; null while it is closed. */
  nextTrialAt: string | null;
}

function withFreshness(
  ctx: ServiceContext,
  source: Source,
  rejectedRows: number,
  now: number,
): SourceWithFreshness {
  return {
    ...source,
    ageSeconds: dataAgeSeconds(source.lastUpdated, now),
    rejectedRows,
    nextTrialAt: trialAfter(source, circuitPolicy(ctx)),
  };
}

/**
 * Every source with its health. Read from D1 rather than the cache: refresh state changes with
 * every fetch, and moving the data version for each would throw away every cached benchmark.
 */
export async function listSources(ctx: ServiceContext, now = Date.now()): Promise<SourceWithFreshness[]> {
  const [rows, rejected] = await Promise.all([listAllSources(ctx.db), rejectedRowCounts(ctx.db)]);
  return rows.map((source) => withFreshness(ctx, source, rejected.get(source.id) ?? 0, now));
}

export const noSuchSource = (id: string) =>
  new ServiceError("not_found", "no-such-source", `No source with id "${id}".`);

/** One source read from D1 rather than the cache, so an admin sees their own change at once. */
export async function getSource(
  ctx: ServiceContext,
  id: string,
  now = Date.now(),
): Promise<SourceWithFreshness> {
  const [source, rejected] = await Promise.all([findSource(ctx.db, id), countRejectedRows(ctx.db, id)]);
  if (!source) throw noSuchSource(id);
  return withFreshness(ctx, source, rejected, now);
}

/** Why a source's rows were rejected on load, by line; rows never stored are still accounted for. */
export async function listRejections(ctx: ServiceContext, sourceId: string, limit: number) {
  const source = (await listSources(ctx)).find((s) => s.id === sourceId);
  if (!source) throw noSuchSource(sourceId);
  const rejections = await listRejectedRows(ctx.db, sourceId, limit);
  return { sourceId, total: source.rejectedRows, rejections };
}

/** Columns each kind cannot be loaded without; a survey also needs exactly one of band and arr. */
const REQUIRED_COLUMNS: Record<SourceKind, SourceField[]> = {
  survey: ["metric", "period", "n", "p25", "p50", "p75"],
  panel: ["metric", "period", "companyKey", "value", "arr"],
};

/** What the request's shape cannot tell: columns the kind needs, and metric names the catalogue lacks. */
function mappingViolations(catalogue: Catalogue, kind: SourceKind, mapping: SourceMapping): FieldViolation[] {
  const columns = mapping.columns ?? {};
  const violations: FieldViolation[] = REQUIRED_COLUMNS[kind]
    .filter((field) => columns[field] === undefined)
    .map((field) => ({ field: `mapping.columns.${field}`, message: `a ${kind} must map ${field}` }));
  if (kind === "survey" && (columns.band === undefined) === (columns.arr === undefined)) {
    violations.push({ field: "mapping.columns.band", message: "a survey maps exactly one of band and arr" });
  }
  for (const [theirName, metricKey] of Object.entries(mapping.metricNames ?? {})) {
    if (!catalogue.metrics.some((m) => m.key === metricKey)) {
      violations.push({
        field: `mapping.metricNames.${theirName}`,
        message: `unknown metric "${metricKey}"; GET /api/v1/metrics lists the metrics`,
      });
    }
  }
  return violations;
}

async function checkMapping(ctx: ServiceContext, kind: SourceKind, mapping: SourceMapping): Promise<void> {
  const violations = mappingViolations(await getCatalogue(ctx), kind, mapping);
  if (violations.length > 0) throw invalidArgument(violations);
}

/** Which urls this deployment may fetch: see ingest/source-url.ts. */
export const sourceUrlPolicy = (ctx: ServiceContext): SourceUrlPolicy => ({
  allowedOrigins: ctx.config.sourceUrlAllow,
  // Parsed only here: most requests never register a url.
  serviceHost: ctx.requestUrl === undefined ? undefined : new URL(ctx.requestUrl).hostname,
});

/** Refuses, when it is registered, a url the refresh would refuse to fetch. */
function checkUrl(ctx: ServiceContext, url: string | null | undefined): void {
  const problem = url ? sourceUrlProblem(url, sourceUrlPolicy(ctx)) : null;
  if (problem) throw invalidArgument([{ field: "url", message: problem }]);
}

// Every change below moves the data version: the cached catalogue lists sources, and pausing or
// deleting one changes what benchmarks pool.

export async function createSource(
  ctx: ServiceContext,
  request: z.output<typeof createSourceRequest>,
): Promise<SourceWithFreshness> {
  checkUrl(ctx, request.url);
  await checkMapping(ctx, request.kind, request.mapping);
  const { credential, ...fields } = request;
  const sealedCredential = credential === undefined ? null : await seal(ctx, request.id, credential);
  const created = await insertSource(ctx.db, { ...fields, sealedCredential });
  if (!created) {
    throw new ServiceError("conflict", "source-exists", `A source with id "${request.id}" already exists.`, [
      { field: "id", message: "already taken" },
    ]);
  }
  await ctx.cache.bumpDataVersion();
  return withFreshness(ctx, created, 0, Date.now());
}

export async function changeSource(
  ctx: ServiceContext,
  id: string,
  { kind, credential, ...changes }: z.output<typeof updateSourceRequest>,
): Promise<SourceWithFreshness> {
  const existing = await findSource(ctx.db, id);
  if (!existing) throw noSuchSource(id);
  if (kind !== undefined && kind !== existing.kind) {
    throw invalidArgument([
      { field: "kind", message: `kind cannot change; the source is a ${existing.kind}` },
    ]);
  }
  checkUrl(ctx, changes.url);
  if (changes.mapping) await checkMapping(ctx, existing.kind, changes.mapping);
  // A new url or interval is due at once; a new url also deserves a fresh circuit.
  const schedule =
    changes.url !== undefined || changes.refreshIntervalMinutes !== undefined ? { nextRefreshAt: null } : {};
  const circuit =
    changes.url !== undefined && changes.url !== existing.url
      ? { circuitState: "closed" as const, consecutiveFailures: 0, circuitOpenedAt: null }
      : {};
  const sealed =
    credential === undefined
      ? {}
      : { sealedCredential: credential === null ? null : await seal(ctx, id, credential) };
  if (!(await updateSource(ctx.db, id, { ...changes, ...schedule, ...circuit, ...sealed }))) {
    throw noSuchSource(id);
  }
  await ctx.cache.bumpDataVersion();
  return getSource(ctx, id);
}

async function seal(ctx: ServiceContext, sourceId: string, credential: string): Promise<string> {
  return sealCredential(await loadCredentialKeys(ctx.secrets), sourceId, credential);
}

export async function removeSource(ctx: ServiceContext, id: string): Promise<void> {
  if (!(await deleteSource(ctx.db, id))) throw noSuchSource(id);
  await ctx.cache.bumpDataVersion();
}
