import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { call, clearMemoryCache, seed } from "../helpers/seed";

beforeAll(() => seed({}));
beforeEach(() => clearMemoryCache());

const ALL_BANDS = ["0-1M", "1M-5M", "5M-20M", "20M-50M", "50M+"];

function putRules(key: string, body: unknown): Promise<Response> {
  return call(`/api/v1/metrics/${key}/rules`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function getRules(key: string): Promise<unknown> {
  return (await call(`/api/v1/metrics/${key}/rules`)).json();
}

async function expectInvalid(response: Response, errors: { field: string; message: string }[]) {
  expect(response.status).toBe(400);
  expect(response.headers.get("Content-Type")).toBe("application/problem+json");
  expect(await response.json()).toMatchObject({ type: "/problems/validation-failed", status: 400, errors });
}

describe("GET /api/v1/metrics/:key/rules", () => {
  it("defaults to the catalogue's range, every band and a minimum n of 10", async () => {
    expect(await getRules("cac_payback")).toEqual({
      metric: "cac_payback",
      minValue: 0,
      maxValue: 120,
      allowedBands: ALL_BANDS,
      minN: 10,
    });
  });

  it("answers 404 for an unknown metric", async () => {
    const response = await call("/api/v1/metrics/net_burn/rules");
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      type: "/problems/no-such-metric",
      title: "Not found",
      status: 404,
      detail: 'No metric with key "net_burn".',
      instance: "/api/v1/metrics/net_burn/rules",
    });
  });
});

describe("PUT /api/v1/metrics/:key/rules", () => {
  it("stores the rules and answers them merged with the defaults", async () => {
    const response = await putRules("cac_payback", { maxValue: 60, allowedBands: ["1M-5M", "5M-20M"] });
    expect(response.status).toBe(200);
    const expected = {
      metric: "cac_payback",
      minValue: 0,
      maxValue: 60,
      allowedBands: ["1M-5M", "5M-20M"],
      minN: 10,
    };
    expect(await response.json()).toEqual(expected);
    expect(await getRules("cac_payback")).toEqual(expected);
  });

  it("replaces the rules as a whole: what is left out reverts to its default", async () => {
    const response = await putRules("cac_payback", { minValue: 1, minN: 25 });
    expect(await response.json()).toEqual({
      metric: "cac_payback",
      minValue: 1,
      maxValue: 120,
      allowedBands: ALL_BANDS,
      minN: 25,
    });
    expect(await getRules("ndr")).toMatchObject({ minN: 10 });
  });

  it("moves the data version, so cached responses refresh", async () => {
    const first = await call("/api/v1/metrics");
    expect(first.headers.get("X-Cache")).toBe("miss");
    expect((await call("/api/v1/metrics")).headers.get("X-Cache")).toBe("memory");
    await putRules("ndr", { minN: 5 });
    expect((await call("/api/v1/metrics")).headers.get("X-Cache")).toBe("miss");
  });

  it("keeps minValue and maxValue within the catalogue's valid range", async () => {
    await expectInvalid(await putRules("cac_payback", { minValue: -1, maxValue: 121 }), [
      { field: "minValue", message: "minValue must lie within cac_payback's valid range [0, 120]" },
      { field: "maxValue", message: "maxValue must lie within cac_payback's valid range [0, 120]" },
    ]);
  });

  it("wants minValue below maxValue, also against a default", async () => {
    await expectInvalid(await putRules("cac_payback", { minValue: 50, maxValue: 50 }), [
      { field: "minValue", message: "minValue must be less than maxValue" },
    ]);
    await expectInvalid(await putRules("cac_payback", { minValue: 120 }), [
      { field: "minValue", message: "minValue must be less than maxValue" },
    ]);
  });

  it("accepts only known bands, and at least one", async () => {
    await expectInvalid(await putRules("cac_payback", { allowedBands: ["1M-5M", "5M-10M"] }), [
      { field: "allowedBands.1", message: `unknown band "5M-10M"; use one of ${ALL_BANDS.join(", ")}` },
    ]);
    await expectInvalid(await putRules("cac_payback", { allowedBands: [] }), [
      { field: "allowedBands", message: "allowedBands must not be empty" },
    ]);
  });

  it("wants minN a whole number of at least 1", async () => {
    await expectInvalid(await putRules("cac_payback", { minN: 0 }), [
      { field: "minN", message: "minN must be at least 1" },
    ]);
    await expectInvalid(await putRules("cac_payback", { minN: 2.5 }), [
      { field: "minN", message: "minN must be a whole number" },
    ]);
    await expectInvalid(await putRules("cac_payback", { minN: "10" }), [
      { field: "minN", message: "minN must be a number" },
    ]);
  });

  it("refuses unknown fields, and leaves stored rules alone when it refuses", async () => {
    await expectInvalid(await putRules("cac_payback", { minN: 10, maxN: 100 }), [
      { field: "body", message: 'Unrecognized key: "maxN"' },
    ]);
    expect(await getRules("cac_payback")).toMatchObject({ minValue: 1, minN: 25 });
  });

  it("answers 404 for an unknown metric", async () => {
    expect((await putRules("net_burn", { minN: 10 })).status).toBe(404);
  });
});
