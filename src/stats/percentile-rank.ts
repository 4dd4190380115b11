/**
 * Percentile rank of `score` among raw values: 100·(#{x<v} + ½·#{x=v})/n.
 * This is scipy.stats.percentileofscore(kind="mean").
 */
export function percentileRank(values: readonly number[], score: number): number {
  if (values.length === 0) throw new RangeError("percentileRank needs at least one value");
  let below = 0;
  let equal = 0;
  for (const x of values) {
    if (x < score) below++;
    else if (x === score) equal++;
  }
  return (100 * (below + equal / 2)) / values.length;
}
