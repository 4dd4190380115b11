import { tokenFor } from "./auth";
import type { Harness } from "./jobs";

/** Samples of a Prometheus text exposition, keyed by name and labels as they are written. */
export type Samples = Map<string, number>;

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/;

export function parseExposition(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    samples.set(`${match[1]}${match[2] ?? ""}`, Number(match[3]));
  }
  return samples;
}

/** `name{a="x",b="y"}` as the exposition writes it, labels in the order given. */
export const series = (name: string, labels: Record<string, string> = {}) => {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  return pairs.length === 0 ? name : `${name}{${pairs.join(",")}}`;
};

/** GET /metrics as an admin, parsed. */
export async function scrape(harness: Harness): Promise<Samples> {
  const response = await harness.fetchAnonymously("/metrics", {
    headers: { Authorization: `Bearer ${await tokenFor("admin")}` },
  });
  if (response.status !== 200)
    throw new Error(`GET /metrics answered ${response.status}: ${await response.text()}`);
  return parseExposition(await response.text());
}

/** How much each of `names` grew while `work` ran, by one scrape before and one after. */
export async function growth(
  harness: Harness,
  names: string[],
  work: () => Promise<unknown>,
): Promise<Record<string, number>> {
  const before = await scrape(harness);
  await work();
  const after = await scrape(harness);
  return Object.fromEntries(names.map((name) => [name, (after.get(name) ?? 0) - (before.get(name) ?? 0)]));
}
