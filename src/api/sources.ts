import { Hono } from "hono";
import { z } from "zod";
import { SOURCE_MEDIA_TYPES } from "../domain/catalogue";
import type { AppEnv } from "../pipeline/app-env";
import { findUploadTarget, uploadToSource } from "../service/ingestion";
import { requestRefresh } from "../service/refresh";
import { createSourceRequest, MAX_UPLOAD_BYTES, updateSourceRequest } from "../service/requests";
import {
  changeSource,
  createSource,
  getSource,
  listRejections,
  listSources,
  removeSource,
} from "../service/sources";
import { bodyStream, integerParam, parseJsonBody, parseQuery } from "./validation";

const rejectionsQuery = z.strictObject({
  limit: integerParam("limit", 1, 1000).default(100),
});

// Freshness changes with the clock, not only with the data, so these are computed per request.
export const sourceRoutes = new Hono<AppEnv>()
  .get("/", async (c) => c.json({ sources: await listSources(c.get("serviceContext")) }))
  .post("/", async (c) => {
    const source = await createSource(c.get("serviceContext"), await parseJsonBody(c, createSourceRequest));
    return c.json(source, 201, { Location: `/api/v1/sources/${source.id}` });
  })
  .get("/:id", async (c) => c.json(await getSource(c.get("serviceContext"), c.req.param("id"))))
  .patch("/:id", async (c) => {
    const changes = await parseJsonBody(c, updateSourceRequest);
    return c.json(await changeSource(c.get("serviceContext"), c.req.param("id"), changes));
  })
  .delete("/:id", async (c) => {
    await removeSource(c.get("serviceContext"), c.req.param("id"));
    return c.body(null, 204);
  })
  .get("/:id/rejections", async (c) => {
    const { limit } = parseQuery(c, rejectionsQuery);
    return c.json(await listRejections(c.get("serviceContext"), c.req.param("id"), limit));
  })
  .post("/:id/uploads", async (c) => {
    const source = await findUploadTarget(c.get("serviceContext"), c.req.param("id"));
    const body = bodyStream(c, SOURCE_MEDIA_TYPES[source.format], MAX_UPLOAD_BYTES);
    const run = await uploadToSource(c.get("serviceContext"), source, body);
    return c.json(run, 201, { Location: `/api/v1/ingestion/runs/${run.id}` });
  })
  // Queues a fetch of the source's url; the run it answers with shows how the fetch went.
  .post("/:id/refresh", async (c) => {
    const run = await requestRefresh(c.get("serviceContext"), c.req.param("id"));
    return c.json(run, 202, { Location: `/api/v1/ingestion/runs/${run.id}` });
  });
