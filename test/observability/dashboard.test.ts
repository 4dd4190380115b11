import { describe, expect, it } from "vitest";
import dashboard from "../../dashboards/benchmark-service.json";
import { COUNTERS, GAUGES, HISTOGRAMS } from "../../src/observability/prometheus/families";

/** Every series name the scrape can contain, with the labels each carries. */
const EXPORTED = new Map<string, readonly string[]>([
  ...Object.entries(COUNTERS).map(([name, family]) => [name, family.labels] as const),
  ...Object.entries(GAUGES).map(([name, family]) => [name, family.labels] as const),
  ...Object.entries(HISTOGRAMS).flatMap(([name, family]) => [
    [`${name}_bucket`, [...family.labels, "le"]] as const,
    [`${name}_sum`, family.labels] as const,
    [`${name}_count`, family.labels] as const,
  ]),
]);

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
]);

interface Selector {
  metric: string;
  labels: string[];
}

/**
 * The series a PromQL expression reads and the labels it names: label matchers and range
 * durations are read off and removed, then any identifier not called as a function and not a
 * keyword is a series name. Grouping labels (by/without) must exist on every series read.
 */
function analyse(expr: string): { selectors: Selector[]; grouping: string[] } {
  const grouping = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]!.split(",").map((label) => label.trim()),
  );
  const selectors: Selector[] = [];
  const withoutGrouping = expr
    .replace(/\b(?:by|without)\s*\([^)]*\)/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/"[^"]*"/g, '""');
  for (const match of withoutGrouping.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?/g)) {
    const [, name, matchers, call] = match;
    if (call || KEYWORDS.has(name!) || /^\$/.test(name!)) continue;
    const labels = [...(matchers ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map(
      (m) => m[1]!,
    );
    selectors.push({ metric: name!, labels });
  }
  return { selectors, grouping };
}

const targets = dashboard.panels.flatMap((panel) =>
  (("targets" in panel ? panel.targets : []) as { expr: string }[]).map((target) => ({
    panel: panel.title,
    expr: target.expr,
  })),
);

describe("dashboards/benchmark-service.json", () => {
  it("has queries", () => {
    expect(targets.length).toBeGreaterThanOrEqual(12);
  });

  it.each(targets)(
    "$panel: $expr reads only series the service exports, by labels they carry",
    ({ expr }) => {
      const { selectors, grouping } = analyse(expr);
      expect(selectors.length).toBeGreaterThan(0);
      for (const { metric, labels } of selectors) {
        expect([...EXPORTED.keys()], `${metric} is exported`).toContain(metric);
        for (const label of [...labels, ...grouping]) {
          expect(EXPORTED.get(metric), `${metric} has the label ${label}`).toContain(label);
        }
      }
    },
  );

  it("covers what operators look at", () => {
    const read = new Set(targets.flatMap(({ expr }) => analyse(expr).selectors.map((s) => s.metric)));
    for (const series of [
      "http_requests_total",
      "http_request_duration_seconds_bucket",
      "rpc_requests_total",
      "cache_requests_total",
      "rate_limited_total",
      "ingestion_rows_total",
      "ingestion_runs_total",
      "source_circuit_state",
      "data_age_seconds",
      "recompute_duration_seconds_bucket",
    ]) {
      expect(read).toContain(series);
    }
  });

  it("names its data source as an import input", () => {
    expect(dashboard.__inputs).toEqual([
      expect.objectContaining({ name: "DS_PROMETHEUS", pluginId: "prometheus" }),
    ]);
    const sources = dashboard.panels.flatMap((panel) => (panel.datasource ? [panel.datasource.uid] : []));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's import placeholder, not a template.
    expect(new Set(sources)).toEqual(new Set(["${DS_PROMETHEUS}"]));
  });

  it("catches a query on a series the service does not export", () => {
    const { selectors } = analyse('sum by (route) (rate(http_requests_count{status="200"}[5m]))');
    expect(selectors).toEqual([{ metric: "http_requests_count", labels: ["status"] }]);
    expect([...EXPORTED.keys()]).not.toContain("http_requests_count");
  });
});
