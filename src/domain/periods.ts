/** A reporting period: a year ("2024") or a quarter ("2024-Q3"). */
interface Period {
  key: string;
  year: number;
  quarter: 1 | 2 | 3 | 4 | null;
  /** Sort key: year·10 + quarter, with 5 for a whole year so it sorts after its quarters. */
  order: number;
  /** The period's start in years: 2024 → 2024.0, 2024-Q3 → 2024.5. */
  startYears: number;
  /** Where the next period starts: 2024 → 2025.0, 2024-Q3 → 2024.75. */
  endYears: number;
}

const PERIOD_PATTERN = /^(\d{4})(?:-Q([1-4]))?$/;
const MIN_YEAR = 1990;
const MAX_YEAR = 2100;

export function parsePeriod(text: string): Period | null {
  const match = PERIOD_PATTERN.exec(text);
  if (!match) return null;
  const year = Number(match[1]);
  if (year < MIN_YEAR || year > MAX_YEAR) return null;
  const quarter = match[2] ? (Number(match[2]) as 1 | 2 | 3 | 4) : null;
  const startYears = year + (quarter ? (quarter - 1) / 4 : 0);
  return {
    key: text,
    year,
    quarter,
    order: year * 10 + (quarter ?? 5),
    startYears,
    endYears: startYears + (quarter ? 0.25 : 1),
  };
}
