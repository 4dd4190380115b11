import { expect } from "vitest";
import type { Role } from "../../src/auth/roles";
import { bearer, rest, rpcClient } from "../auth/helpers";
import { tokenFor } from "../helpers/auth";
import type { Harness } from "../helpers/jobs";

/*
 * The hostile probe's scenario, built the way an operator would build it: sources registered
 * and files uploaded through the API, recompute delivered by the harness.
 */

/** The panel of finding 1: three companies, one cell (ltv_cac, 0-1M, 1995). */
export const SMALL_PANEL = "qk-panel";
/** A panel with six companies in the same cell: enough to be shown. */
export const LARGE_PANEL = "qk-panel-b";
/** The survey of finding 1: n = 50 in the same cell. */
export const SURVEY = "qk-survey";

export const PANEL_HEADER = "company_key,metric,period,arr,value,industry";
export const SMALL_PANEL_VALUES = [3.1, 4.2, 2.5];
export const smallPanelCsv = (values = SMALL_PANEL_VALUES) =>
  [
    PANEL_HEADER,
    ...values.map((value, i) => `qk-${i + 1},ltv_cac,1995,${500_000 + i * 100_000},${value},x`),
  ].join("\n");
export const LARGE_PANEL_CSV = [
  PANEL_HEADER,
  ...[5.5, 6.1, 4.8, 7.2, 5.9, 6.6].map(
    (value, i) => `qb-${i + 1},ltv_cac,1995,${500_000 + i * 50_000},${value},x`,
  ),
].join("\n");
export const SURVEY_CSV = "metric,band,period,n,p25,p50,p75\nltv_cac,0-1M,1995,50,2,3,4.5";

const PANEL_MAPPING = {
  columns: {
    companyKey: "company_key",
    metric: "metric",
    period: "period",
    arr: "arr",
    value: "value",
    industry: "industry",
  },
};
const SURVEY_MAPPING = {
  columns: { metric: "metric", band: "band", period: "period", n: "n", p25: "p25", p50: "p50", p75: "p75" },
};

/** A request as `role`, through the harness's Worker (its recording queues and variables). */
export async function as(role: Role | "anonymous", harness: Harness, path: string, init: RequestInit = {}) {
  const authorization = role === "anonymous" ? undefined : bearer(await tokenFor(role));
  return rest(path, { authorization }, init, harness.env);
}

/** A Connect JSON client calling as `role`. */
export async function rpcAs(role: Role, harness: Harness) {
  return rpcClient({ authorization: bearer(await tokenFor(role)) }, harness.env);
}

export const jsonBody = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body),
});

export async function registerSource(
  harness: Harness,
  id: string,
  kind: "panel" | "survey",
  extra: Record<string, unknown> = {},
): Promise<void> {
  const response = await as(
    "admin",
    harness,
    "/api/v1/sources",
    jsonBody({ id, name: id, kind, mapping: kind === "panel" ? PANEL_MAPPING : SURVEY_MAPPING, ...extra }),
  );
  expect(response.status, await response.clone().text()).toBe(201);
}

/** Uploads a CSV file to a source and delivers the recompute it queued. */
export async function upload(harness: Harness, id: string, csv: string): Promise<Response> {
  const response = await as("admin", harness, `/api/v1/sources/${id}/uploads`, {
    method: "POST",
    headers: { "Content-Type": "text/csv" },
    body: csv,
  });
  await harness.drainRecompute();
  return response;
}

/** Finding 1's cell: the small panel and the survey, registered and loaded. */
export async function loadSmallPanelCell(harness: Harness, values = SMALL_PANEL_VALUES): Promise<void> {
  await registerSource(harness, SMALL_PANEL, "panel");
  await registerSource(harness, SURVEY, "survey");
  expect((await upload(harness, SMALL_PANEL, smallPanelCsv(values))).status).toBe(201);
  expect((await upload(harness, SURVEY, SURVEY_CSV)).status).toBe(201);
}
