import { createApp } from "./app";
import type { Env } from "./env";
import { handleQueue, handleScheduled } from "./jobs/handlers";

export { MetricsAggregator } from "./observability/prometheus/aggregator";
export { RateLimiter } from "./ratelimit/rate-limiter";

const app = createApp();

export default {
  fetch: app.fetch,
  queue: handleQueue,
  scheduled: handleScheduled,
} satisfies ExportedHandler<Env>;
