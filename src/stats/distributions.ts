/**
 * Distribution functions with close to full double precision (≲1e-14 relative for the sizes we
 * use), so p-values and interval ends match scipy far inside the tests' 1e-9. simple-statistics'
 * errorFunction is only good to ~1e-7, hence these.
 */

const INVERSE_SQRT_TWO_PI = 0.3989422804014327;
const HALF_LOG_TWO_PI = 0.9189385332046728;

/** c[0] + c[1]·x + c[2]·x² + … by Horner's rule. */
function polynomial(coefficients: readonly number[], x: number): number {
  let value = 0;
  for (let i = coefficients.length - 1; i >= 0; i--) value = value * x + coefficients[i]!;
  return value;
}

// W. J. Cody (1969), rational Chebyshev approximations for the normal integral (SPECFUN's ANORM).
// Coefficients here and below are the published ones as their nearest doubles, constant term first.
const CODY_CENTRAL_NUMERATOR = [
  18154.98125334356, 1067.6894854603709, 161.02823106855587, 2.2352520354606837, 0.06568233791820745,
];
const CODY_CENTRAL_DENOMINATOR = [
  45507.78933502673, 10260.932208618979, 976.0985517377767, 47.202581904688245, 1,
];
const CODY_MIDDLE_NUMERATOR = [
  9842.714838383978, 11602.65143764735, 6848.190450536283, 2494.5375852903726, 597.2702763948002,
  93.50665613217785, 8.883149794388377, 0.39894151208813466, 1.0765576773720192e-8,
];
const CODY_MIDDLE_DENOMINATOR = [
  19685.429676859992, 38912.00328609327, 34900.95272114598, 18615.571640885097, 6485.558298266761,
  1519.3775994075547, 235.387901782625, 22.266688044328117, 1,
];
const CODY_TAIL_NUMERATOR = [
  0.000029112874951168793, 0.0014216191932278934, 0.022235277870649807, 0.12740116116024736,
  0.215898534057957, 0.023073441764940174,
];
const CODY_TAIL_DENOMINATOR = [
  0.00007297515550839662, 0.0037823963320275824, 0.06598813786892856, 0.4682382124808651, 1.284260096144911,
  1,
];

/**
 * exp(−y²/2)·ratio. y² is split as s² + (y−s)(y+s) with s = y truncated to 1/16, so the large
 * part of the exponent is exact and far tails keep full relative precision.
 */
function timesGaussian(y: number, ratio: number): number {
  const coarse = Math.trunc(y * 16) / 16;
  const rest = (y - coarse) * (y + coarse);
  return Math.exp(-coarse * coarse * 0.5) * Math.exp(-rest * 0.5) * ratio;
}

/** Φ(−|x|): computed directly rather than as 1 − Φ(|x|), so small tails are not lost to rounding. */
function normalSmallerTail(x: number): number {
  const y = Math.abs(x);
  if (y <= 0.67448975) {
    const square = y * y;
    return (
      0.5 - (y * polynomial(CODY_CENTRAL_NUMERATOR, square)) / polynomial(CODY_CENTRAL_DENOMINATOR, square)
    );
  }
  if (y <= Math.sqrt(32)) {
    return timesGaussian(y, polynomial(CODY_MIDDLE_NUMERATOR, y) / polynomial(CODY_MIDDLE_DENOMINATOR, y));
  }
  const inverseSquare = 1 / (y * y);
  const correction =
    (inverseSquare * polynomial(CODY_TAIL_NUMERATOR, inverseSquare)) /
    polynomial(CODY_TAIL_DENOMINATOR, inverseSquare);
  return timesGaussian(y, (INVERSE_SQRT_TWO_PI - correction) / y);
}

/** Standard normal CDF Φ(x). */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) throw new RangeError("normalCdf needs a number");
  if (!Number.isFinite(x)) return x < 0 ? 0 : 1;
  const tail = normalSmallerTail(x);
  return x <= 0 ? tail : 1 - tail;
}

// M. J. Wichura (1988), Algorithm AS 241 (PPND16), constant term first.
const AS241_CENTRAL_NUMERATOR = [
  3.3871328727963665, 133.14166789178438, 1971.5909503065513, 13731.69376550946, 45921.95393154987,
  67265.7709270087, 33430.57558358813, 2509.0809287301227,
];
const AS241_CENTRAL_DENOMINATOR = [
  1, 42.31333070160091, 687.1870074920579, 5394.196021424751, 21213.794301586597, 39307.89580009271,
  28729.085735721943, 5226.495278852854,
];
const AS241_NEAR_NUMERATOR = [
  1.4234371107496835, 4.630337846156546, 5.769497221460691, 3.6478483247632045, 1.2704582524523684,
  0.2417807251774506, 0.022723844989269184, 0.0007745450142783414,
];
const AS241_NEAR_DENOMINATOR = [
  1, 2.053191626637759, 1.6763848301838038, 0.6897673349851, 0.14810397642748008, 0.015198666563616457,
  0.0005475938084995345, 1.0507500716444169e-9,
];
const AS241_FAR_NUMERATOR = [
  6.657904643501103, 5.463784911164114, 1.7848265399172913, 0.29656057182850487, 0.026532189526576124,
  0.0012426609473880784, 0.000027115555687434876, 2.0103343992922881e-7,
];
const AS241_FAR_DENOMINATOR = [
  1, 0.599832206555888, 0.1369298809227358, 0.014875361290850615, 0.0007868691311456133,
  0.000018463183175100548, 1.421511758316446e-7, 2.0442631033899397e-15,
];

/** Standard normal quantile Φ⁻¹(p), relative accuracy about 1e-16 (AS 241). */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError("probability must lie in [0, 1]");
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (q * polynomial(AS241_CENTRAL_NUMERATOR, r)) / polynomial(AS241_CENTRAL_DENOMINATOR, r);
  }
  const r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
  const magnitude =
    r <= 5
      ? polynomial(AS241_NEAR_NUMERATOR, r - 1.6) / polynomial(AS241_NEAR_DENOMINATOR, r - 1.6)
      : polynomial(AS241_FAR_NUMERATOR, r - 5) / polynomial(AS241_FAR_DENOMINATOR, r - 5);
  return q < 0 ? -magnitude : magnitude;
}

/** Arguments at or above this use the Stirling series directly; its truncation error is < 1e-16 there. */
const STIRLING_THRESHOLD = 10;

/** δ(x) = lnΓ(x) − [(x − ½)·ln x − x + ½·ln 2π], the Stirling series remainder, for x ≥ 10. */
function stirlingRemainder(x: number): number {
  const inverseSquare = 1 / (x * x);
  const series = polynomial(
    [1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156],
    inverseSquare,
  );
  return series / x;
}

/** ln Γ(x) for x > 0. */
function logGamma(x: number): number {
  if (!(x > 0 && Number.isFinite(x))) throw new RangeError("logGamma needs a finite x > 0");
  // Shift small arguments up with Γ(x) = Γ(x + k) / (x·(x+1)·…·(x+k−1)).
  let shifted = x;
  let product = 1;
  while (shifted < STIRLING_THRESHOLD) {
    product *= shifted;
    shifted += 1;
  }
  const stirling =
    (shifted - 0.5) * Math.log(shifted) - shifted + HALF_LOG_TWO_PI + stirlingRemainder(shifted);
  return stirling - Math.log(product);
}

/** ln Γ(a + h) − ln Γ(a), without the cancellation of two large log-gammas when a is large. */
function logGammaIncrement(a: number, h: number): number {
  if (a < STIRLING_THRESHOLD) return logGamma(a + h) - logGamma(a);
  return (
    (a - 0.5) * Math.log1p(h / a) + h * Math.log(a + h) - h + stirlingRemainder(a + h) - stirlingRemainder(a)
  );
}

/**
 * ln[x^a·y^b / B(a, b)] with y = 1 − x passed in exactly. Large a and b are combined through their
 * Stirling terms before exponentiating (as in Temme / Boost's ibeta_power_terms): summing log-gammas
 * would lose ~1e-16·a·ln a absolutely, i.e. 1e-12 relative already at a ≈ 500.
 */
function logBetaPowerTerms(x: number, y: number, a: number, b: number): number {
  if (Math.min(a, b) >= STIRLING_THRESHOLD) {
    const offset = x * b - y * a; // = x(a+b) − a, exactly zero at the mode
    return (
      a * Math.log1p(offset / a) +
      b * Math.log1p(-offset / b) +
      0.5 * Math.log((a * b) / (a + b)) -
      HALF_LOG_TWO_PI +
      stirlingRemainder(a + b) -
      stirlingRemainder(a) -
      stirlingRemainder(b)
    );
  }
  // Take each logarithm from whichever of x, y is small, where it carries full relative precision.
  const logX = x > 0.5 ? Math.log1p(-y) : Math.log(x);
  const logY = y > 0.5 ? Math.log1p(-x) : Math.log(y);
  const [larger, smaller] = a >= b ? [a, b] : [b, a];
  return a * logX + b * logY + logGammaIncrement(larger, smaller) - logGamma(smaller);
}

const CONTINUED_FRACTION_MAX_TERMS = 100_000;
const TINY = 1e-300;

/** The continued fraction for I_x(a, b) (Numerical Recipes' betacf), by the modified Lentz method. */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const guard = (value: number) => (Math.abs(value) < TINY ? TINY : value);
  let c = 1;
  let d = 1 / guard(1 - ((a + b) * x) / (a + 1));
  let result = d;
  for (let m = 1; m <= CONTINUED_FRACTION_MAX_TERMS; m++) {
    const even = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
    d = 1 / guard(1 + even * d);
    c = guard(1 + even / c);
    result *= d * c;
    const odd = (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 / guard(1 + odd * d);
    c = guard(1 + odd / c);
    const step = d * c;
    result *= step;
    if (Math.abs(step - 1) <= Number.EPSILON) return result;
  }
  throw new RangeError(`incomplete beta did not converge for a=${a}, b=${b}`);
}

/** I_x(a, b) with y = 1 − x supplied by the caller, who can often form it without cancellation. */
function incompleteBeta(x: number, y: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  // The fraction converges fast only below the mean; above it use I_x(a,b) = 1 − I_y(b,a).
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(y, x, b, a);
  return (Math.exp(logBetaPowerTerms(x, y, a, b)) * betaContinuedFraction(x, a, b)) / a;
}

/** CDF of Student's t with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  if (Number.isNaN(t)) throw new RangeError("studentTCdf needs a number");
  if (!(df > 0 && Number.isFinite(df))) throw new RangeError("degrees of freedom must be finite and > 0");
  if (t === 0) return 0.5;
  if (!Number.isFinite(t)) return t < 0 ? 0 : 1;
  // P(T < −|t|) = ½·I_x(df/2, ½) with x = df/(df + t²); 1 − x is formed directly, not by subtraction.
  const square = t * t;
  const tail = 0.5 * incompleteBeta(df / (df + square), square / (df + square), df / 2, 0.5);
  return t < 0 ? tail : 1 - tail;
}

/** Up to here every C(n, i)·(n − i) stays below 2^53, so fair-coin tails can be summed exactly. */
const MAX_EXACT_FAIR_COIN_N = 50;

/** Σ_{i ≤ k} C(n, i) / 2^n, exact: the sum is an integer below 2^53 and 2^−n only shifts the exponent. */
function exactFairCoinCdf(k: number, n: number): number {
  let coefficient = 1;
  let sum = 1;
  for (let i = 0; i < k; i++) {
    coefficient = (coefficient * (n - i)) / (i + 1);
    sum += coefficient;
  }
  return sum * 2 ** -n;
}

/**
 * P(X ≤ k) for X ~ Binomial(n, p), via P(X ≤ k) = I_{1−p}(n − k, k + 1). For p = ½ and small n it is
 * summed exactly instead, so the dyadic tails (1/64 at n = 6) and coverages like 0.96875 come out
 * exact and compare exactly against confidence levels.
 */
export function binomialCdf(k: number, n: number, p: number): number {
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError("n must be a non-negative integer");
  if (!(p >= 0 && p <= 1)) throw new RangeError("p must lie in [0, 1]");
  if (Number.isNaN(k)) throw new RangeError("binomialCdf needs a number");
  const successes = Math.floor(k);
  if (successes < 0) return 0;
  if (successes >= n) return 1;
  if (p === 0.5 && n <= MAX_EXACT_FAIR_COIN_N) return exactFairCoinCdf(successes, n);
  return incompleteBeta(1 - p, p, n - successes, successes + 1);
}
