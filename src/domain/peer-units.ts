import { peerGroupStep } from "./catalogue";

/*
 * The units custom peer groups are made of (service/disclosure.ts says why): one grid step of one
 * panel inside one band, every industry; and that step in one industry. Recompute counts them when
 * it flags a band's outliers, so that a peer group decides what it may show from these counts,
 * read with its own rows, rather than from every company of every band it reaches into.
 */

/** A custom peer group: companies whose ARR lies in [arrMin, arrMax), in one industry or any. */
export interface PeerGroupFilter {
  arrMin: number;
  arrMax: number | null;
  industry: string | null;
}

/** The industry of a unit that is a whole step: every company of the step, those without an industry too. */
export const EVERY_INDUSTRY = "";

export interface PeerUnit {
  sourceId: string;
  bandKey: string;
  /** Index into PEER_GROUP_BOUNDS. */
  step: number;
  /** One industry, or EVERY_INDUSTRY. */
  industry: string;
  /** As recompute left them: the companies kept, the outliers and the sum of the kept values. */
  kept: number;
  outliers: number;
  keptSum: number;
}

/** A panel observation as custom peer groups read it and units count it. */
export interface PeerGroupRow {
  sourceId: string;
  bandKey: string;
  arr: number;
  industry: string | null;
  value: number;
  isOutlier: boolean;
}

/** What places a row in its units. */
export type UnitRow = Pick<PeerGroupRow, "sourceId" | "bandKey" | "arr" | "industry">;

/** The key of the unit a row belongs to: its whole step, or its step in its own industry. */
export function unitKey(member: UnitRow, industry: boolean): string {
  return keyOf(
    member.sourceId,
    member.bandKey,
    peerGroupStep(member.arr),
    industry ? (member.industry ?? EVERY_INDUSTRY) : EVERY_INDUSTRY,
  );
}

export const peerUnitKey = (unit: PeerUnit) => keyOf(unit.sourceId, unit.bandKey, unit.step, unit.industry);

const keyOf = (sourceId: string, bandKey: string, step: number, industry: string) =>
  `${sourceId}\u0000${bandKey}\u0000${step}\u0000${industry}`;

/** Counts members into their units: every step they fall in, and each industry of it. */
export function countPeerUnits(members: Iterable<PeerGroupRow>): PeerUnit[] {
  const units = new Map<string, PeerUnit>();
  const add = (member: PeerGroupRow, industry: string) => {
    const step = peerGroupStep(member.arr);
    const key = keyOf(member.sourceId, member.bandKey, step, industry);
    let unit = units.get(key);
    if (!unit) {
      unit = {
        sourceId: member.sourceId,
        bandKey: member.bandKey,
        step,
        industry,
        kept: 0,
        outliers: 0,
        keptSum: 0,
      };
      units.set(key, unit);
    }
    if (member.isOutlier) unit.outliers++;
    else {
      unit.kept++;
      unit.keptSum += member.value;
    }
  };
  for (const member of members) {
    add(member, EVERY_INDUSTRY);
    if (member.industry !== null) add(member, member.industry);
  }
  return [...units.values()];
}
