import { beforeAll, describe, expect, it } from "vitest";
import { TEST_SOURCES, TEST_SUMMARIES } from "../helpers/sample-cells";
import { call, seed } from "../helpers/seed";

const JSON_SOURCE = {
  id: "json-survey",
  name: "JSON Survey",
  kind: "survey" as const,
  format: "json" as const,
};

beforeAll(() => seed({ sources: [...TEST_SOURCES, JSON_SOURCE], summaries: TEST_SUMMARIES }));

const GET_PATHS = [
  "/health",
  "/api/v1/metrics",
  "/api/v1/revenue-ranges",
  "/api/v1/sources",
  "/api/v1/sources/gamma/rejections",
  "/api/v1/benchmarks",
  "/api/v1/benchmarks/timeseries",
  "/api/v1/ingestion/runs",
  "/api/v1/ingestion/runs/no-such-run",
];

/** Admin routes: read here, written with every malformed body below. */
const ADMIN_GET_PATHS = ["/api/v1/sources/alpha", "/api/v1/metrics/ndr/rules"];
const ADMIN_WRITES: [string, string][] = [
  ["POST", "/api/v1/sources"],
  ["PATCH", "/api/v1/sources/alpha"],
  ["PUT", "/api/v1/metrics/ndr/rules"],
  ["POST", "/api/v1/sources/json-survey/uploads"],
];

/** Uploads to CSV sources: a survey and a panel, both with the empty mapping of scripted sources. */
const CSV_UPLOADS = ["/api/v1/sources/alpha/uploads", "/api/v1/sources/gamma/uploads"];
const CSV_BODIES: BodyInit[] = [
  "",
  "\n\n\n",
  '"unterminated',
  "metric,band,period,n,p25,p50,p75\n",
  "metric,band,period,n,p25,p50,p75\narr_growth,1M-5M,2024,50,1,2,3,4,5,6\n",
  "metric,band,period,n,p25,p50,p75\narr_growth,1M-5M,2024,1e309,NaN,Infinity,-0\n",
  "company_key,metric,period,arr,value\nco_1234,ndr,2024,1e309,1e309\nco_1234,ndr,2024,1,1\n",
  "__proto__,constructor\n1,2\n",
  "\uFEFFmetric,\u0000\n\u0000,\u0000\n",
  new Uint8Array([0xff, 0xfe, 0x00, 0x7b]),
];

const QUERIES = [
  "",
  "?",
  "?%zz",
  "?metric=%E0%A4%A",
  "?metric=arr_growth&metric=ndr&revenueRange=1M-5M",
  "?metric[]=arr_growth&revenueRange=1M-5M",
  "?metric=arr_growth&arr=1e309",
  "?metric=arr_growth&arr=-0",
  "?metric=arr_growth&arr=0x10",
  "?metric=arr_growth&arr=%00",
  "?metric=%00&revenueRange=%00",
  `?metric=${"a".repeat(5000)}&revenueRange=1M-5M`,
  "?metric=arr_growth&revenueRange=1M-5M&period=2024-Q3-extra",
  "?metric=arr_growth&revenueRange=1M-5M&period=99999",
  "?metric=arr_growth&revenueRange=1M-5M&period=0000",
  "?metric=arr_growth&revenueRange=1M-5M&sources=,,,",
  `?metric=arr_growth&revenueRange=1M-5M&sources=${Array.from({ length: 50 }, (_, i) => `s${i}`).join(",")}`,
  "?metric=arr_growth&revenueRange=1M-5M&includeStatistics=",
  "?metric=🙂&revenueRange=💸",
  "?limit=-1",
  "?limit=1e9",
  "?limit=abc",
  "?__proto__=x&constructor=y",
  "?metric=arr_growth&arrMin=1e309",
  "?metric=arr_growth&arrMin=5&arrMax=NaN&industry=%00",
  "?metric=arr_growth&revenueRange=1M-5M&granularity=week",
  "?metric=arr_growth&revenueRange=1M-5M&from=2025&to=2019",
  "?metric=arr_growth&revenueRange=1M-5M&from=2024-Q9",
];

const BODIES: [string, BodyInit | null][] = [
  ["application/json", ""],
  ["application/json", "{"],
  ["application/json", "null"],
  ["application/json", "true"],
  ["application/json", '"string"'],
  ["application/json", "[]"],
  ["application/json", '{"metric":"arr_growth","value":1e309,"revenueRange":"1M-5M"}'],
  ["application/json", '{"metric":"arr_growth","value":-1e309,"arr":1}'],
  ["application/json", '{"metric":"arr_growth","value":55,"arr":1e309}'],
  ["application/json", '{"metric":{"$ne":1},"value":55,"revenueRange":"1M-5M"}'],
  ["application/json", '{"metric":"arr_growth","value":[55],"revenueRange":"1M-5M"}'],
  ["application/json", '{"metric":"arr_growth","value":55,"revenueRange":"1M-5M","sources":"alpha"}'],
  ["application/json", '{"metric":"arr_growth","value":55,"revenueRange":"1M-5M","sources":[null]}'],
  [
    "application/json",
    '{"__proto__":{"admin":true},"metric":"arr_growth","value":55,"revenueRange":"1M-5M"}',
  ],
  ["application/json", `${"[".repeat(30_000)}${"]".repeat(30_000)}`],
  ["application/json", "[".repeat(60_000)],
  ["application/json", new Uint8Array([0xff, 0xfe, 0x00, 0x7b])],
  ["application/json", "\uFEFF{}"],
  ["application/json; charset=latin1", '{"metric":"arr_growth"}'],
  ["application/x-www-form-urlencoded", "metric=arr_growth&value=5"],
  ["multipart/form-data; boundary=x", "--x--"],
  ["", '{"metric":"arr_growth","value":55,"revenueRange":"1M-5M"}'],
  ["application/json", null],
  ["application/json", '{"arr":1,"values":{"arr_growth":1e309}}'],
  ["application/json", '{"arr":1,"values":{"__proto__":5,"constructor":1}}'],
  ["application/json", '{"arr":1,"values":{"arr_growth":{"nested":true}}}'],
  ["application/json", '{"metric":"ndr","value":1,"peers":{"arrMin":1e309}}'],
  ["application/json", '{"metric":"ndr","value":1,"peers":null}'],
  ["application/json", '{"id":"x-y","name":"N","kind":"panel","mapping":{"columns":{"__proto__":"x"}}}'],
  ["application/json", '{"id":"x-y","name":"N","kind":"survey","mapping":{"columns":[],"metricNames":[]}}'],
  ["application/json", '{"name":"","url":"http://","refreshIntervalMinutes":1e309,"active":"yes"}'],
  ["application/json", '{"mapping":{"columns":{"metric":"m"},"metricNames":{"":"ndr","x":null}}}'],
  ["application/json", '{"kind":"bond","format":"xml","url":"https://%zz"}'],
  ["application/json", '{"minValue":"1","maxValue":1e309,"allowedBands":[null],"minN":-1}'],
  ["application/json", '{"minValue":null,"allowedBands":"0-1M","minN":1e20}'],
];

async function expectNoServerError(response: Response, what: string) {
  expect(response.status, what).toBeLessThan(500);
  if (response.status >= 400) {
    expect(response.headers.get("Content-Type"), what).toBe("application/problem+json");
    const body = (await response.json()) as { status: number; detail: string };
    expect(body.status, what).toBe(response.status);
    expect(body.detail, what).toBeTruthy();
  } else {
    await response.arrayBuffer();
  }
}

describe("malformed input never causes a 500", () => {
  it("on every GET endpoint", async () => {
    for (const path of [...GET_PATHS, ...ADMIN_GET_PATHS]) {
      for (const query of QUERIES) {
        await expectNoServerError(await call(`${path}${query}`), `GET ${path}${query}`);
        await expectNoServerError(
          await call(`${path}${query}`, { headers: { "If-None-Match": '"zz", W/, , ,,' } }),
          `GET ${path}${query} with a junk If-None-Match`,
        );
      }
    }
  }, 30_000); // a few hundred requests: slow when the machine is busy, not wrong

  it.each(["/api/v1/benchmarks/ranking", "/api/v1/benchmarks/scorecard"])("on POST %s", async (path) => {
    for (const [contentType, body] of BODIES) {
      const headers = contentType ? { "Content-Type": contentType } : undefined;
      const response = await call(path, { method: "POST", headers, body });
      await expectNoServerError(response, `POST ${path} ${contentType} ${String(body).slice(0, 60)}`);
    }
  });

  it.each(ADMIN_WRITES)("on %s %s", async (method, path) => {
    for (const [contentType, body] of BODIES) {
      const headers = contentType ? { "Content-Type": contentType } : undefined;
      const response = await call(path, { method, headers, body });
      await expectNoServerError(response, `${method} ${path} ${contentType} ${String(body).slice(0, 60)}`);
    }
  });

  it.each(CSV_UPLOADS)("on POST %s", async (path) => {
    for (const body of CSV_BODIES) {
      const response = await call(path, { method: "POST", headers: { "Content-Type": "text/csv" }, body });
      await expectNoServerError(response, `POST ${path} ${String(body).slice(0, 60)}`);
    }
  });

  it("with methods a route does not serve", async () => {
    for (const path of [...GET_PATHS, "/api/v1/benchmarks/ranking", "/api/v1/benchmarks/scorecard"]) {
      for (const method of ["PUT", "PATCH", "DELETE", "OPTIONS"]) {
        await expectNoServerError(await call(path, { method }), `${method} ${path}`);
      }
    }
  });
});
