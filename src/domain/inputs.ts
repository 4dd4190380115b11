/*
 * What the service accepts as a number, a name or an id, wherever it comes from: a query string,
 * a JSON body, a CSV cell or a protobuf message. One set of rules, so no path is laxer than another.
 */

/**
 * A plain decimal: digits with an optional sign, fraction and exponent. Hex (0x10), binary
 * (0b1), octal (0o7), digit separators (1_000), Infinity and NaN are not numbers here, although
 * JavaScript's Number() reads most of them.
 */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A finite plain decimal, or null; surrounding whitespace is allowed, as CSV files often have it. */
export function parseDecimal(text: string | undefined): number | null {
  const trimmed = text?.trim() ?? "";
  if (!DECIMAL.test(trimmed)) return null;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : null;
}

/** A whole number written with digits only, or null. */
export function parseWholeNumber(text: string | undefined): number | null {
  const trimmed = text?.trim() ?? "";
  return /^\d{1,15}$/.test(trimmed) ? Number(trimmed) : null;
}

/** The largest n a survey may claim for one cell: pooled sums stay exact and fit the proto's int32. */
export const MAX_SURVEY_N = 10_000_000;

/** The largest ARR accepted, in USD: a trillion, far above any company and far below 2^53. */
export const MAX_ARR = 1e12;

/**
 * Characters no name may hold: controls (C0, C1, DEL), format characters (bidi overrides and
 * isolates, zero-width joiners, the BOM), line and paragraph separators, surrogates and
 * private-use code points. They can hide or reorder text in a log line or an operator's screen.
 */
const UNSAFE_CHARACTERS = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]/u;

export const hasUnsafeCharacters = (text: string): boolean => UNSAFE_CHARACTERS.test(text);

/** A source id: lower-case letters, digits and hyphens, starting with a letter or a digit, 2–63 long. */
export const SOURCE_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;

/**
 * Keys no JSON body may use: assigned to a plain object they reach its prototype, and a schema
 * that drops unknown keys would drop them without a word.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);
