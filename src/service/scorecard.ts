import { bandForArr } from "../domain/catalogue";
import { ServiceError } from "../domain/errors";
import { getCatalogue } from "./catalogue";
import type { ServiceContext } from "./context";
import { type RankingResult, rankIn } from "./ranking";

export const MAX_SCORECARD_METRICS = 20;

interface ScorecardQuery {
  arr: number;
  /** With an industry the peers are the panel companies of that industry in the ARR band. */
  industry?: string | undefined;
  period?: string | undefined;
  values: Record<string, unknown>;
}

export type ScorecardEntry =
  | { metric: string; ranking: RankingResult }
  | { metric: string; error: ServiceError };

/**
 * One ranking per metric. Each is validated and answered on its own, so a bad metric costs only
 * its own entry.
 */
export async function scorecard(ctx: ServiceContext, query: ScorecardQuery): Promise<ScorecardEntry[]> {
  const catalogue = await getCatalogue(ctx);
  const band = bandForArr(catalogue.revenueRanges, query.arr)!;
  const peerGroup = query.industry
    ? { arrMin: band.minArr, arrMax: band.maxArr, industry: query.industry }
    : undefined;
  return Promise.all(
    Object.entries(query.values).map(async ([metric, value]): Promise<ScorecardEntry> => {
      try {
        if (typeof value !== "number" || !Number.isFinite(value)) {
          throw new ServiceError(
            "invalid_argument",
            "validation-failed",
            `values.${metric}: must be a finite number`,
            [{ field: `values.${metric}`, message: "must be a finite number" }],
          );
        }
        const ranking = await rankIn(ctx, catalogue, {
          metric,
          value,
          ...(peerGroup ? { peerGroup } : { arr: query.arr }),
          period: query.period,
        });
        return { metric, ranking };
      } catch (error) {
        if (error instanceof ServiceError) return { metric, error };
        throw error;
      }
    }),
  );
}
