import { isAdmin } from "../auth/roles";
import type { BandSummary } from "../db/queries";
import { peerGroupStep, type SourceKind } from "../domain/catalogue";
import { ServiceError } from "../domain/errors";
import type { ServiceContext } from "./context";

/*
 * k-anonymity: what the caller may see. No figure that reaches anyone but an admin is computed
 * from fewer than k (MIN_PEER_GROUP) companies. A band's sources and pools pass `mayShow`; a
 * custom peer group shows only `releasedUnits` of bands that `summarizedBands` finds settled.
 * README "Privacy" says what that withholds, and why overlapping requests cannot undo it.
 */

export interface Disclosure {
  /** Admins see everything, to check the data; everyone else sees what passes `mayShow`. */
  exempt: boolean;
  /** k: the fewest companies any shown figure may come from. */
  minCompanies: number;
  /** Names the view in cache keys: the same request answers differently per view. */
  audience: string;
}

export function disclosureFor(ctx: ServiceContext): Disclosure {
  const exempt = isAdmin(ctx.principal);
  const minCompanies = ctx.config.minPeerGroup;
  // k is in the name: a view cached under one MIN_PEER_GROUP must not be served under another.
  return { exempt, minCompanies, audience: exempt ? "admin" : `k${minCompanies}` };
}

/**
 * The one rule. A survey publishes its own aggregates, so its figures may be shown whatever its
 * n (which is its own claim); a pooled distribution, a panel's figures and a peer group's are
 * shown only when they come from at least k companies.
 */
export function mayShow(disclosure: Disclosure, from: { kind: SourceKind | "pool"; n: number }): boolean {
  return disclosure.exempt || from.kind === "survey" || from.n >= disclosure.minCompanies;
}

/**
 * Refuses a distribution of `n` companies that may not be shown: 422 peer-group-too-small.
 * `subject` names it ("The peer group (…)"); `withheldCompanies` are those of the same cell
 * already left out, in panels too small to show.
 */
export function assertMayShowPool(
  disclosure: Disclosure,
  n: number,
  subject: string,
  withheldCompanies = 0,
): void {
  if (mayShow(disclosure, { kind: "pool", n })) return;
  const withheld = withheldCompanies > 0 ? `, and ${withheldCompanies} more in panels too small to show` : "";
  throw new ServiceError(
    "failed_precondition",
    "peer-group-too-small",
    `${subject} has ${n} companies${withheld}; at least ${disclosure.minCompanies} are needed before statistics are shown.`,
  );
}

/** What a withheld source is listed with: who it is and its n, and nothing else. */
export interface WithheldSource {
  id: string;
  name: string;
  kind: SourceKind;
  n: number;
  withheld: "k-anonymity";
}

/** Splits a cell's sources into those that may be shown and those withheld. */
export function discloseSources<T extends { kind: SourceKind; n: number }>(
  disclosure: Disclosure,
  sources: readonly T[],
): { shown: T[]; withheld: T[] } {
  const shown: T[] = [];
  const withheld: T[] = [];
  for (const source of sources) (mayShow(disclosure, source) ? shown : withheld).push(source);
  return { shown, withheld };
}

/** The companies of a cell's sources, added up. */
export const companies = (sources: readonly { n: number }[]) =>
  sources.reduce((n, source) => n + source.n, 0);

export const withheldSource = ({ id, name, kind, n }: Omit<WithheldSource, "withheld">): WithheldSource => ({
  id,
  name,
  kind,
  n,
  withheld: "k-anonymity",
});

/** A panel observation as custom peer groups read it: kept ones only (outliers are never shown). */
interface PeerObservation {
  sourceId: string;
  bandKey: string;
  arr: number;
  industry: string | null;
}

/**
 * Whether an observation's band is as recompute last summarized it. Between a load and the
 * recompute of its cells, the live rows differ from the band's summary: a peer group covering
 * the band, differenced against that summary, would give the new or changed companies away. So
 * until the summary matches (the same companies kept and flagged, the same mean) the band is
 * withheld from peer groups; admins see it live.
 */
export function summarizedBands<T extends PeerObservation & { value: number; isOutlier: boolean }>(
  disclosure: Disclosure,
  observations: readonly T[],
  bandSummaries: readonly BandSummary[],
): (observation: T) => boolean {
  if (disclosure.exempt) return () => true;
  const bandKey = (o: { sourceId: string; bandKey: string }) => `${o.sourceId}\u0000${o.bandKey}`;
  const summaryOf = new Map(bandSummaries.map((summary) => [bandKey(summary), summary]));
  const matching = new Set<string>();
  for (const [key, rows] of Map.groupBy(observations, bandKey)) {
    const summary = summaryOf.get(key);
    const kept = rows.filter((row) => !row.isOutlier).map((row) => row.value);
    if (
      summary &&
      summary.mean !== null &&
      summary.n === kept.length &&
      summary.outliersExcluded === rows.length - kept.length &&
      sameSum(kept, summary.mean * summary.n)
    ) {
      matching.add(key);
    }
  }
  return (o) => matching.has(bandKey(o));
}

/** Whether values add up to `total`, to the rounding of summing them in another order. */
function sameSum(values: readonly number[], total: number): boolean {
  let sum = 0;
  let magnitude = 0;
  for (const value of values) {
    sum += value;
    magnitude += Math.abs(value);
  }
  return Math.abs(sum - total) <= 1e-9 * Math.max(1, magnitude);
}

/**
 * Which of a panel's companies custom peer groups may show, for one metric and period.
 *
 * A peer group is an ARR range on the fixed grid of PEER_GROUP_BOUNDS, optionally one industry.
 * Two groups that overlap could be differenced: the mean of one minus that of another, times
 * their sizes, gives the values of the companies between them. So the companies are cut into
 * units no request can split, and only units of at least k companies are ever shown:
 *
 *   - a step of the grid inside a band (for groups of every industry), and
 *   - that step in one industry (for groups of one industry).
 *
 * A band's own summary covers every step of the band; if the steps withheld from it held fewer
 * than k companies together, the band minus the steps shown would give them away, so the
 * smallest shown step is withheld too. The same holds for a step's industries against the step.
 * Every figure a non-admin sees is then made of whole units of at least k companies, and any
 * sum or difference of such figures is too. Outliers (flagged per band on recompute) are left
 * out before counting, since they enter no figure.
 *
 * Answers whether an observation may be shown in a group of all industries (`step`) and in a
 * group of its own industry (`industry`). `observations` must hold every kept observation of
 * each band the caller will show from.
 */
export function releasedUnits<T extends PeerObservation>(
  disclosure: Disclosure,
  observations: readonly T[],
): { step: (observation: T) => boolean; industry: (observation: T) => boolean } {
  if (disclosure.exempt) return { step: () => true, industry: () => true };
  const k = disclosure.minCompanies;
  // A band bound off the grid splits a step in two units, one per band: each is still whole to every request.
  const stepKey = (o: T) => `${o.sourceId}\u0000${o.bandKey}\u0000${peerGroupStep(o.arr)}`;
  const industryKey = (o: T) => `${stepKey(o)}\u0000${o.industry}`;
  const shownSteps = new Set<string>();
  const shownIndustries = new Set<string>();

  for (const bandRows of Map.groupBy(observations, (o) => `${o.sourceId}\u0000${o.bandKey}`).values()) {
    const steps = Map.groupBy(bandRows, stepKey);
    for (const key of releasedParts(steps, k)) {
      shownSteps.add(key);
      const stepRows = steps.get(key)!;
      // Companies without an industry are in the step but in no industry's unit.
      const industries = Map.groupBy(
        stepRows.filter((o) => o.industry !== null),
        industryKey,
      );
      for (const part of releasedParts(industries, k, stepRows.length)) shownIndustries.add(part);
    }
  }
  return {
    step: (o) => shownSteps.has(stepKey(o)),
    industry: (o) => o.industry !== null && shownIndustries.has(industryKey(o)),
  };
}

/**
 * The parts of a whole that may be shown: each of at least k, and together leaving either none
 * or at least k of the whole (`total`, by default the sum of the parts) unshown. If they would
 * leave 1 to k − 1, the smallest shown part is withheld as well (ties: the first key).
 */
function releasedParts(parts: Map<string, unknown[]>, k: number, total?: number): string[] {
  const sized = [...parts].map(([key, rows]) => ({ key, size: rows.length }));
  const shown = sized.filter((part) => part.size >= k);
  const whole = total ?? sized.reduce((sum, part) => sum + part.size, 0);
  const left = whole - shown.reduce((sum, part) => sum + part.size, 0);
  if (left > 0 && left < k && shown.length > 0) {
    const smallest = shown.reduce((min, part) =>
      part.size < min.size || (part.size === min.size && part.key < min.key) ? part : min,
    );
    shown.splice(shown.indexOf(smallest), 1);
  }
  return shown.map((part) => part.key);
}
