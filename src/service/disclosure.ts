import { isAdmin } from "../auth/roles";
import type { SourceKind } from "../domain/catalogue";
import { ServiceError } from "../domain/errors";
import {
  EVERY_INDUSTRY,
  type PeerGroupRow,
  type PeerUnit,
  peerUnitKey,
  type UnitRow,
  unitKey,
} from "../domain/peer-units";
import type { ServiceContext } from "./context";

/*
 * k-anonymity: what the caller may see. No figure that reaches anyone but an admin is computed
 * from fewer than k (MIN_PEER_GROUP) companies. A band's sources and pools pass `mayShow`; a
 * custom peer group shows only `releasedUnits` that `summarizedUnits` finds settled.
 * docs/security.md, "Privacy", says what that withholds, and why overlapping requests cannot undo it.
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

/**
 * Whether a row of a peer group lies in a unit that stands as recompute last counted it. Between
 * a load and the recompute of its cells, a unit's live rows differ from what the band's summary
 * and the released units were computed from: a peer group covering the unit, differenced against
 * them, would give the new or changed companies away. So until the unit's rows match its count
 * again (the same companies kept and flagged, the same sum) the unit is withheld; admins see it
 * live. `rows` must hold every row of each unit of its kind (`industry`: units of one industry,
 * else whole steps) that it has rows of, as a grid-aligned group does.
 */
export function summarizedUnits(
  disclosure: Disclosure,
  rows: readonly PeerGroupRow[],
  units: readonly PeerUnit[],
  industry: boolean,
): (row: PeerGroupRow) => boolean {
  if (disclosure.exempt) return () => true;
  const countOf = new Map(units.map((unit) => [peerUnitKey(unit), unit]));
  const matching = new Set<string>();
  for (const [key, unitRows] of Map.groupBy(rows, (row) => unitKey(row, industry))) {
    const count = countOf.get(key);
    const kept = unitRows.filter((row) => !row.isOutlier).map((row) => row.value);
    if (
      count &&
      count.kept === kept.length &&
      count.outliers === unitRows.length - kept.length &&
      sameSum(kept, count.keptSum)
    ) {
      matching.add(key);
    }
  }
  return (row) => matching.has(unitKey(row, industry));
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
 * units no request can split (domain/peer-units.ts), and only units of at least k companies are
 * ever shown:
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
 * Decided from the units' kept counts, which must cover every unit of each band the caller will
 * show from. Answers whether a row may be shown in a group of all industries (`step`) and in a
 * group of its own industry (`industry`).
 */
export function releasedUnits(
  disclosure: Disclosure,
  units: readonly PeerUnit[],
): { step: (row: UnitRow) => boolean; industry: (row: UnitRow) => boolean } {
  if (disclosure.exempt) return { step: () => true, industry: () => true };
  const k = disclosure.minCompanies;
  const shown = new Set<string>();
  const bandOf = (unit: PeerUnit) => `${unit.sourceId}\u0000${unit.bandKey}`;
  const stepOf = (unit: PeerUnit) => `${bandOf(unit)}\u0000${unit.step}`;
  const [steps, industries] = partition(units, (unit) => unit.industry === EVERY_INDUSTRY);
  const industriesOf = Map.groupBy(industries, stepOf);
  // A band bound off the grid splits a step in two units, one per band: each is still whole to every request.
  for (const bandSteps of Map.groupBy(steps, bandOf).values()) {
    for (const step of releasedParts(bandSteps, k)) {
      shown.add(peerUnitKey(step));
      // Companies without an industry are in the step but in no industry's unit.
      for (const part of releasedParts(industriesOf.get(stepOf(step)) ?? [], k, step.kept)) {
        shown.add(peerUnitKey(part));
      }
    }
  }
  return {
    step: (row) => shown.has(unitKey(row, false)),
    industry: (row) => row.industry !== null && shown.has(unitKey(row, true)),
  };
}

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}

/**
 * The parts of a whole that may be shown: each of at least k kept companies, and together
 * leaving either none or at least k of the whole (`total`, by default the sum of the parts)
 * unshown. If they would leave 1 to k − 1, the smallest shown part is withheld as well (ties:
 * the first key).
 */
function releasedParts(parts: readonly PeerUnit[], k: number, total?: number): PeerUnit[] {
  const shown = parts.filter((part) => part.kept >= k);
  const whole = total ?? parts.reduce((sum, part) => sum + part.kept, 0);
  const left = whole - shown.reduce((sum, part) => sum + part.kept, 0);
  if (left > 0 && left < k && shown.length > 0) {
    const smallest = shown.reduce((min, part) =>
      part.kept < min.kept || (part.kept === min.kept && peerUnitKey(part) < peerUnitKey(min)) ? part : min,
    );
    shown.splice(shown.indexOf(smallest), 1);
  }
  return shown;
}
