import { Hono } from "hono";
import { logEvent } from "../../src/observability/log";

/**
 * Baseline for `npm run bench`: the same framework and runtime as the service, but no
 * bindings and no work, so it measures the floor cost of a request through workerd + Hono.
 *
 * It also replays an answer the bench gives it (POST /bare/answer: the service's cache hit, its
 * body and headers), with and without one log line like the service's: what answering those
 * bytes and writing that line cost by themselves, apart from the service's own work.
 */
const app = new Hono();

interface ReplayedAnswer {
  body: string;
  headers: Record<string, string>;
}

/** Held by the isolate; locally there is one. */
let replayed: ReplayedAnswer | undefined;

const replay = (): Response =>
  replayed
    ? new Response(replayed.body, { headers: replayed.headers })
    : new Response("POST /bare/answer first", { status: 409 });

app.get("/bare", (c) => c.json({ status: "ok", value: 42 }));
app.post("/bare/answer", async (c) => {
  replayed = await c.req.json<ReplayedAnswer>();
  return c.body(null, 204);
});
app.get("/bare/answer", replay);
app.get("/bare/answer-logged", () => {
  const started = performance.now();
  const answer = replay();
  // The fields the service's request line carries (observability/http.ts), values of their size.
  logEvent("info", "GET /api/v1/benchmarks 200", {
    "event.duration": Math.round((performance.now() - started) * 1e6),
    "http.request.id": crypto.randomUUID(),
    "http.request.method": "GET",
    "http.response.status_code": answer.status,
    "url.path": "/api/v1/benchmarks",
    "trace.id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span.id": "00f067aa0ba902b7",
    "cache.result": "memory",
    "user.hash": "9f86d081884c7d65",
  });
  return answer;
});

export default app;
