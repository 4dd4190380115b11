import { loadCatalogue } from "../db/queries";
import {
  bandForArr,
  type Catalogue,
  findMetric,
  type Metric,
  type RevenueRange,
  type Source,
} from "../domain/catalogue";
import { invalidArgument } from "../domain/errors";
import type { ServiceContext } from "./context";

export async function getCatalogue(ctx: ServiceContext): Promise<Catalogue> {
  return (await ctx.cache.getOrCompute("catalogue", () => loadCatalogue(ctx.db))).value;
}

export function resolveMetric(catalogue: Catalogue, key: string): Metric {
  const metric = findMetric(catalogue, key);
  if (!metric) {
    throw invalidArgument([
      { field: "metric", message: `Unknown metric "${key}". GET /api/v1/metrics lists the metrics.` },
    ]);
  }
  return metric;
}

/** A cell is addressed by a band key or by an ARR figure that falls in exactly one band. */
export function resolveRevenueRange(
  catalogue: Catalogue,
  selector: { revenueRange?: string | undefined; arr?: number | undefined },
): RevenueRange {
  if (selector.revenueRange !== undefined) {
    const band = catalogue.revenueRanges.find((r) => r.key === selector.revenueRange);
    if (!band) {
      const keys = catalogue.revenueRanges.map((r) => r.key).join(", ");
      throw invalidArgument([
        {
          field: "revenueRange",
          message: `Unknown revenue range "${selector.revenueRange}"; use one of ${keys}.`,
        },
      ]);
    }
    return band;
  }
  const band = selector.arr === undefined ? undefined : bandForArr(catalogue.revenueRanges, selector.arr);
  if (!band) throw invalidArgument([{ field: "arr", message: "ARR must be a number ≥ 0." }]);
  return band;
}

/** Active sources, optionally narrowed to the ids asked for; an unknown id is an error. */
export function resolveSources(catalogue: Catalogue, ids: readonly string[] | undefined): Source[] {
  const active = catalogue.sources.filter((s) => s.active);
  if (!ids) return active;
  const unknown = ids.filter((id) => !active.some((s) => s.id === id));
  if (unknown.length > 0) {
    throw invalidArgument([
      {
        field: "sources",
        message: `Unknown or inactive source(s): ${unknown.join(", ")}. GET /api/v1/sources lists them.`,
      },
    ]);
  }
  return active.filter((s) => ids.includes(s.id));
}
