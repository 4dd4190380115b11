import { Hono } from "hono";

/**
 * Baseline for `npm run bench`: the same framework and runtime as the service, but no
 * bindings and no work, so it measures the floor cost of a request through workerd + Hono.
 */
const app = new Hono();

app.get("/bare", (c) => c.json({ status: "ok", value: 42 }));

export default app;
