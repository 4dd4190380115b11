import { createContextKey, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { z } from "zod";
import { PEER_GROUP_BOUNDS } from "../domain/catalogue";
import type { BenchmarkService } from "../gen/benchmark/v1/benchmark_pb";
import { getBenchmarks } from "../service/benchmarks";
import { getCatalogue } from "../service/catalogue";
import type { ServiceContext } from "../service/context";
import { rankValue } from "../service/ranking";
import {
  benchmarksRequest,
  invalidRequest,
  rankingRequest,
  scorecardRequest,
  timeSeriesRequest,
} from "../service/requests";
import { scorecard } from "../service/scorecard";
import { listSources } from "../service/sources";
import { getTimeSeries } from "../service/timeseries";
import {
  benchmarkResponse,
  benchmarksRequestFromProto,
  metricOut,
  rankingRequestFromProto,
  rankingResponse,
  revenueRangeOut,
  scorecardRequestFromProto,
  scorecardResponse,
  sourceOut,
  timeSeriesRequestFromProto,
  timeSeriesResponse,
} from "./converters";

/** The per-request service context, handed over by the HTTP adapter. */
export const serviceContextKey = createContextKey<ServiceContext | undefined>(undefined, {
  description: "service context",
});

/** Validates with the same schema REST uses, so both enforce the same limits. */
function validate<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input);
  if (!result.success) throw invalidRequest(result.error, "request");
  return result.data;
}

function serviceContext(context: HandlerContext): ServiceContext {
  return context.values.get(serviceContextKey)!;
}

export const benchmarkService: ServiceImpl<typeof BenchmarkService> = {
  async getBenchmarkData(request, context) {
    const query = validate(benchmarksRequest, benchmarksRequestFromProto(request));
    return benchmarkResponse(await getBenchmarks(serviceContext(context), query));
  },
  async getTimeSeriesData(request, context) {
    const query = validate(timeSeriesRequest, timeSeriesRequestFromProto(request));
    return timeSeriesResponse(await getTimeSeries(serviceContext(context), query));
  },
  async calculateRanking(request, context) {
    const query = validate(rankingRequest, rankingRequestFromProto(request));
    return rankingResponse(await rankValue(serviceContext(context), query));
  },
  async getScorecard(request, context) {
    const query = validate(scorecardRequest, scorecardRequestFromProto(request));
    const entries = await scorecard(serviceContext(context), query);
    return scorecardResponse(query.arr, entries, new URL(context.url).pathname);
  },
  async listMetrics(_request, context) {
    return { metrics: (await getCatalogue(serviceContext(context))).metrics.map(metricOut) };
  },
  async listRevenueRanges(_request, context) {
    return {
      revenueRanges: (await getCatalogue(serviceContext(context))).revenueRanges.map(revenueRangeOut),
      peerGroupBounds: [...PEER_GROUP_BOUNDS],
    };
  },
  async listSources(_request, context) {
    return { sources: (await listSources(serviceContext(context))).map(sourceOut) };
  },
};
