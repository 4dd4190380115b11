#!/usr/bin/python3
"""Generate reference values for the statistics unit tests.

Run from the repository root with Debian's python3 (needs python3-numpy and
python3-scipy from apt):

    /usr/bin/python3 scripts/make-stats-fixtures.py > test/fixtures/stats-reference.json

The script only writes to stdout. Output is deterministic: random cases use
numpy.random.default_rng(20261129). Floats are written with full precision
(Python's json uses repr). NaN/Infinity are refused (allow_nan=False).

Sections and how the reference values are computed:
  quantiles       numpy.quantile(values, probs, method="linear") (Hyndman-Fan type 7)
  percentileRank  scipy.stats.percentileofscore(values, score, kind="mean")
  modifiedZ       M_i = 0.6745*(x_i - median)/MAD, MAD = median(|x - median|)
                  (scipy.stats.median_abs_deviation(x, scale=1.0)); if MAD == 0,
                  M_i = (x_i - median)/(1.253314*MeanAD) with MeanAD = mean(|x - median|);
                  if MeanAD == 0 too, all scores are 0. Flagged when |M_i| > threshold.
  tukey           q1, q3 = numpy.quantile(x, [0.25, 0.75], method="linear");
                  lower = q1 - k*iqr, upper = q3 + k*iqr; flagged when x < lower or x > upper
  descriptive     numpy.mean, numpy.std(ddof=1), numpy.median, iqr (linear),
                  scipy.stats.skew(x, bias=False)
  pooling         each source's CDF is piecewise linear through its quantile points
                  (p10->0.10, p25->0.25, p50->0.50, p75->0.75, p90->0.90; p10/p90 optional),
                  with the first/last segment extended linearly down to 0 / up to 1.
                  Pooled CDF = n-weighted mean of the source CDFs. Pooled quantiles are
                  roots of F(x) = p found with scipy.optimize.brentq.
  ols             scipy.stats.linregress(x, y): slope, intercept, r2 = rvalue**2, pvalue
  theilSen        scipy.stats.theilslopes(y, x, alpha=0.95) (method="separate"):
                  slope, intercept, low = low_slope, high = high_slope
  mannKendall     pymannkendall.original_test, written out (the package is not in Debian):
                  S = sum sign(y_j - y_i) for i < j, tie-corrected
                  Var(S) = [n(n-1)(2n+5) - sum t(t-1)(2t+5)]/18, z = (S - sign(S))/sqrt(Var),
                  p = 2*norm.sf(|z|) (= pymannkendall's 2*(1 - norm.cdf(|z|)) without its
                  cancellation), tau = S/(n(n-1)/2); S and Var(S) are cross-checked against
                  scipy.stats.kendalltau(arange(n), y, method="asymptotic")
  wilson          Wilson score interval (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2))/(1 + z^2/n),
                  z = norm.ppf((1 + confidence)/2), clamped to [0, 1] (exactly 0 / 1 at
                  p = 0 / 1); for integer counts
                  cross-checked with scipy.stats.binomtest(k, n).proportion_ci(method="wilson")
  medianInterval  order-statistic CI for the median: l = the largest rank >= 1 with
                  binom.cdf(l - 1, n, 0.5) <= (1 - confidence)/2, u = n + 1 - l,
                  [x_(l), x_(u)] of the sorted values, coverage = 1 - 2*binom.cdf(l - 1, n, 0.5);
                  null when no rank qualifies

The sections from ols on draw their random data from a second generator,
numpy.random.default_rng(20261130), so the earlier sections stay byte-identical.
"""

import json
import sys

import numpy as np
import scipy
import scipy.optimize
import scipy.stats

RNG = np.random.default_rng(20261129)

STD_PROBS = [0.1, 0.25, 0.5, 0.75, 0.9]
EXTRA_PROBS = [0.0, 0.1, 0.25, 0.33, 0.5, 0.75, 0.9, 1.0]


def f(x):
    """Plain Python float (json repr gives full precision)."""
    return float(x)


def floats(xs):
    return [float(v) for v in xs]


# ---------------------------------------------------------------------------
# Sample data
# ---------------------------------------------------------------------------

def random_samples():
    """Random samples, rounded to 4 decimals so that ties can occur."""
    return {
        "random normal n=7": np.round(RNG.normal(10.0, 3.0, 7), 4),
        "random lognormal n=50": np.round(RNG.lognormal(0.0, 1.0, 50), 4),
        "random normal n=501": np.round(RNG.normal(-2.0, 5.0, 501), 4),
        "random lognormal n=501 (coarse, many ties)": np.round(RNG.lognormal(1.0, 0.75, 501), 1),
    }


RANDOM = random_samples()


# ---------------------------------------------------------------------------
# quantiles
# ---------------------------------------------------------------------------

def quantile_cases():
    hand = [
        ("n=1", [42.0], EXTRA_PROBS),
        ("n=2", [1.0, 3.0], EXTRA_PROBS),
        ("n=3 odd unsorted", [9.0, 1.0, 5.0], EXTRA_PROBS),
        ("n=4 even", [1.0, 2.0, 3.0, 4.0], EXTRA_PROBS),
        ("n=5 odd", [10.0, 20.0, 30.0, 40.0, 50.0], STD_PROBS),
        ("n=6 even unsorted", [7.5, -1.0, 3.25, 12.0, 0.0, 4.0], STD_PROBS),
        ("ties", [1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 10.0], EXTRA_PROBS),
        ("all equal", [5.0, 5.0, 5.0, 5.0], EXTRA_PROBS),
        ("negatives", [-20.0, -5.5, -3.0, 0.0, 4.0, 18.25, 60.0], EXTRA_PROBS),
        ("all negative", [-0.3, -12.0, -7.7, -1.1, -4.4], STD_PROBS),
        ("repeated values unsorted", [3.0, 1.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0], EXTRA_PROBS),
        ("fractional", [0.1, 0.2, 0.30000000000000004, 0.7, 1e-3], STD_PROBS),
    ]
    out = []
    for name, values, probs in hand:
        out.append((name, np.asarray(values, dtype=float), probs))
    for name, values in RANDOM.items():
        out.append((name, values, EXTRA_PROBS))
    res = []
    for name, values, probs in out:
        expected = np.quantile(values, probs, method="linear")
        res.append({
            "name": name,
            "values": floats(values),
            "probs": floats(probs),
            "expected": floats(expected),
        })
    return res


# ---------------------------------------------------------------------------
# percentileRank
# ---------------------------------------------------------------------------

def percentile_rank_cases():
    base = [1.0, 2.0, 2.0, 3.0, 5.0, 8.0, 8.0, 8.0, 13.0]
    cases = [
        ("n=1 below", [7.0], 6.0),
        ("n=1 equal", [7.0], 7.0),
        ("n=1 above", [7.0], 8.0),
        ("n=2 between", [1.0, 3.0], 2.0),
        ("below min", base, 0.5),
        ("equal to min", base, 1.0),
        ("equal to tied value (2 ties)", base, 2.0),
        ("equal to tied value (3 ties)", base, 8.0),
        ("between values", base, 4.0),
        ("between values 2", base, 10.0),
        ("equal to max", base, 13.0),
        ("above max", base, 100.0),
        ("unsorted negatives between", [0.0, -10.0, 5.0, -2.5, 20.0, -2.5], -1.0),
        ("unsorted negatives tied", [0.0, -10.0, 5.0, -2.5, 20.0, -2.5], -2.5),
        ("all equal, score equal", [4.0, 4.0, 4.0, 4.0], 4.0),
        ("all equal, score below", [4.0, 4.0, 4.0, 4.0], 3.0),
    ]
    # random samples: score at a sampled value, at the median, between values
    for name, values in RANDOM.items():
        s = np.sort(values)
        mid = len(s) // 2
        cases.append((name + " score=median", values, float(np.median(values))))
        cases.append((name + " score=sample value", values, float(s[mid // 2])))
        cases.append((name + " score between", values, float((s[mid] + s[mid + 1]) / 2 + 1e-5)))
    res = []
    for name, values, score in cases:
        values = np.asarray(values, dtype=float)
        expected = scipy.stats.percentileofscore(values, score, kind="mean")
        res.append({
            "name": name,
            "values": floats(values),
            "score": f(score),
            "expected": f(expected),
        })
    return res


# ---------------------------------------------------------------------------
# modifiedZ
# ---------------------------------------------------------------------------

def modified_z(values, threshold):
    x = np.asarray(values, dtype=float)
    med = np.median(x)
    mad = scipy.stats.median_abs_deviation(x, scale=1.0)
    # cross-check scipy's MAD against the plain definition
    assert mad == np.median(np.abs(x - med))
    if mad != 0:
        scores = 0.6745 * (x - med) / mad
    else:
        mean_ad = np.mean(np.abs(x - med))
        if mean_ad != 0:
            scores = (x - med) / (1.253314 * mean_ad)
        else:
            scores = np.zeros_like(x)
    mask = np.abs(scores) > threshold
    return scores, mask


def modified_z_cases():
    hand = [
        ("n=1", [3.0]),
        ("n=2", [1.0, 5.0]),
        ("small with outlier", [1.0, 2.0, 3.0, 4.0, 100.0]),
        ("even n with low outlier", [-50.0, 10.0, 11.0, 12.0, 13.0, 14.0]),
        ("MAD zero, MeanAD > 0", [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 9.0]),
        ("MAD zero, MeanAD > 0, two sided", [1.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 30.0]),
        ("all equal", [2.5, 2.5, 2.5, 2.5]),
        ("ties with outliers", [10.0, 10.0, 11.0, 11.0, 12.0, 12.0, 13.0, 40.0, -20.0]),
        ("negative metric", [-20.0, -15.0, -12.0, -10.0, -9.0, -8.5, 35.0, -60.0]),
        ("boundary-ish", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 25.0]),
    ]
    cases = [(n, np.asarray(v, dtype=float)) for n, v in hand]
    for name, values in RANDOM.items():
        cases.append((name, values))
    # random normal with a couple of planted outliers
    planted = np.round(np.concatenate([RNG.normal(0.0, 1.0, 48), [8.0, -9.5]]), 4)
    cases.append(("random normal n=50 planted outliers", planted))
    res = []
    for name, values in cases:
        threshold = 3.5
        scores, mask = modified_z(values, threshold)
        res.append({
            "name": name,
            "values": floats(values),
            "threshold": threshold,
            "expectedScores": floats(scores),
            "expectedMask": [bool(b) for b in mask],
        })
    return res


# ---------------------------------------------------------------------------
# tukey
# ---------------------------------------------------------------------------

def tukey_cases():
    hand = [
        ("n=1", [3.0], 1.5),
        ("n=2", [1.0, 5.0], 1.5),
        ("small with outlier", [1.0, 2.0, 3.0, 4.0, 100.0], 1.5),
        ("even n with low outlier", [-50.0, 10.0, 11.0, 12.0, 13.0, 14.0], 1.5),
        ("all equal", [2.5, 2.5, 2.5, 2.5], 1.5),
        ("iqr zero with outliers", [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 9.0], 1.5),
        ("ties", [10.0, 10.0, 11.0, 11.0, 12.0, 12.0, 13.0, 40.0, -20.0], 1.5),
        ("negative metric", [-20.0, -15.0, -12.0, -10.0, -9.0, -8.5, 35.0, -60.0], 1.5),
        # q1 = 1, q3 = 3, iqr = 2 -> fences -2 and 6 exactly; boundary values are not flagged
        ("exactly on fences", [-2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 6.0], 1.5),
        ("k=3 far out", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 30.0, -25.0], 3.0),
    ]
    cases = [(n, np.asarray(v, dtype=float), k) for n, v, k in hand]
    for name, values in RANDOM.items():
        cases.append((name, values, 1.5))
    res = []
    for name, values, k in cases:
        q1, q3 = np.quantile(values, [0.25, 0.75], method="linear")
        iqr = q3 - q1
        lower = q1 - k * iqr
        upper = q3 + k * iqr
        mask = (values < lower) | (values > upper)
        on_fence = int(np.sum((values == lower) | (values == upper)))
        if on_fence and "on fences" not in name:
            # flag float-exact fence hits so a failing test is easy to understand
            name = f"{name} ({on_fence} value(s) exactly on a fence, not flagged)"
        res.append({
            "name": name,
            "values": floats(values),
            "k": f(k),
            "expectedLower": f(lower),
            "expectedUpper": f(upper),
            "expectedMask": [bool(b) for b in mask],
        })
    return res


# ---------------------------------------------------------------------------
# descriptive
# ---------------------------------------------------------------------------

def descriptive_cases():
    hand = [
        ("n=3", [1.0, 2.0, 6.0]),
        ("n=4 even", [4.0, 1.0, 3.0, 2.0]),
        ("symmetric", [-2.0, -1.0, 0.0, 1.0, 2.0]),
        ("right skewed with ties", [1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 10.0]),
        ("left skewed negatives", [-60.0, -5.0, -3.0, -2.0, -2.0, -1.0, 0.0, 0.5]),
        ("large offset", [1e6 + 1.0, 1e6 + 2.0, 1e6 + 4.0, 1e6 + 8.0]),
    ]
    cases = [(n, np.asarray(v, dtype=float)) for n, v in hand]
    for name, values in RANDOM.items():
        cases.append((name, values))
    res = []
    for name, x in cases:
        assert len(x) >= 3
        q25, q75 = np.quantile(x, [0.25, 0.75], method="linear")
        res.append({
            "name": name,
            "values": floats(x),
            "expected": {
                "n": int(len(x)),
                "mean": f(np.mean(x)),
                "sd": f(np.std(x, ddof=1)),
                "median": f(np.median(x)),
                "iqr": f(q75 - q25),
                "skewness": f(scipy.stats.skew(x, bias=False)),
            },
        })
    return res


# ---------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------

KEY_PROB = [("p10", 0.10), ("p25", 0.25), ("p50", 0.50), ("p75", 0.75), ("p90", 0.90)]


def source_knots(q):
    """Return (xs, ps) of the extended piecewise-linear CDF for one source."""
    xs, ps = [], []
    for key, p in KEY_PROB:
        if key in q:
            xs.append(float(q[key]))
            ps.append(p)
    assert len(xs) >= 2
    assert all(b > a for a, b in zip(xs, xs[1:])), "quantiles must be strictly increasing"
    slope_first = (ps[1] - ps[0]) / (xs[1] - xs[0])
    slope_last = (ps[-1] - ps[-2]) / (xs[-1] - xs[-2])
    x0 = xs[0] - ps[0] / slope_first
    x_end = xs[-1] + (1.0 - ps[-1]) / slope_last
    return np.array([x0] + xs + [x_end]), np.array([0.0] + ps + [1.0])


def pooled_cdf_factory(sources):
    knots = [source_knots(s["quantiles"]) for s in sources]
    weights = np.array([s["n"] for s in sources], dtype=float)
    total = weights.sum()

    def cdf(x):
        # np.interp clamps to 0 / 1 outside [x0, x_end] because the end values are 0 and 1
        vals = np.array([np.interp(x, kx, kp) for kx, kp in knots])
        return float(np.dot(weights, vals) / total)

    lo = min(k[0][0] for k in knots)
    hi = max(k[0][-1] for k in knots)
    return cdf, knots, lo, hi


def pooled_quantile(cdf, lo, hi, p):
    return scipy.optimize.brentq(lambda x: cdf(x) - p, lo, hi,
                                 xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=10000)


def cdf_probe_points(knots, lo, hi):
    pts = set()
    span = hi - lo
    pts.add(lo - 0.5 * span - 1.0)  # below every tail end
    pts.add(hi + 0.5 * span + 1.0)  # above every tail end
    pts.add(lo)
    pts.add(hi)
    for kx, _ in knots:
        for i, x in enumerate(kx):
            pts.add(float(x))  # at knots (incl. tail ends)
            if i + 1 < len(kx):
                a, b = kx[i], kx[i + 1]
                pts.add(float(a + (b - a) / 3.0))  # between knots / in extended tails
        # just inside the extended tails
        pts.add(float(kx[0] + 0.5 * (kx[1] - kx[0])))
        pts.add(float(kx[-1] - 0.5 * (kx[-1] - kx[-2])))
    return sorted(pts)


def pooling_cases():
    cases = [
        ("single source, all five quantiles",
         [{"n": 120, "quantiles": {"p10": 5.0, "p25": 12.0, "p50": 20.0, "p75": 35.0, "p90": 60.0}}]),
        ("single source, p25/p50/p75 only",
         [{"n": 80, "quantiles": {"p25": 10.0, "p50": 15.0, "p75": 25.0}}]),
        ("two sources, equal n",
         [{"n": 100, "quantiles": {"p10": 1.0, "p25": 2.0, "p50": 4.0, "p75": 7.0, "p90": 11.0}},
          {"n": 100, "quantiles": {"p10": 3.0, "p25": 5.0, "p50": 6.0, "p75": 9.0, "p90": 15.0}}]),
        ("three sources, very different n, shifted medians",
         [{"n": 30, "quantiles": {"p10": 40.0, "p25": 55.0, "p50": 70.0, "p75": 95.0, "p90": 130.0}},
          {"n": 400, "quantiles": {"p10": 10.0, "p25": 20.0, "p50": 35.0, "p75": 55.0, "p90": 80.0}},
          {"n": 2000, "quantiles": {"p10": 5.0, "p25": 12.0, "p50": 22.0, "p75": 38.0, "p90": 60.0}}]),
        ("one source without p10/p90 mixed with one having them",
         [{"n": 250, "quantiles": {"p25": 18.0, "p50": 30.0, "p75": 48.0}},
          {"n": 150, "quantiles": {"p10": 8.0, "p25": 15.0, "p50": 27.0, "p75": 45.0, "p90": 70.0}}]),
        ("negative-valued metric (rule of 40)",
         [{"n": 200, "quantiles": {"p10": -20.0, "p25": -2.0, "p50": 15.0, "p75": 32.0, "p90": 60.0}},
          {"n": 90, "quantiles": {"p10": -35.0, "p25": -12.0, "p50": 5.0, "p75": 22.0, "p90": 41.0}},
          {"n": 60, "quantiles": {"p25": -8.0, "p50": 10.0, "p75": 28.0}}]),
        ("ARR growth percent mixture",
         [{"n": 1200, "quantiles": {"p10": 8.0, "p25": 18.0, "p50": 32.0, "p75": 55.0, "p90": 90.0}},
          {"n": 350, "quantiles": {"p10": 15.0, "p25": 30.0, "p50": 60.0, "p75": 110.0, "p90": 200.0}},
          {"n": 75, "quantiles": {"p25": 40.0, "p50": 85.0, "p75": 160.0}},
          {"n": 500, "quantiles": {"p10": 2.0, "p25": 10.0, "p50": 22.0, "p75": 40.0, "p90": 65.0}}]),
    ]
    res = []
    for name, sources in cases:
        cdf, knots, lo, hi = pooled_cdf_factory(sources)
        probe = cdf_probe_points(knots, lo, hi)
        assert cdf(probe[0]) == 0.0 and cdf(probe[-1]) == 1.0
        expected_q = {}
        for key, p in KEY_PROB:
            root = pooled_quantile(cdf, lo, hi, p)
            assert abs(cdf(root) - p) < 1e-12, (name, key, cdf(root) - p)
            expected_q[key] = f(root)
        if len(sources) == 1:
            for key, val in sources[0]["quantiles"].items():
                assert abs(expected_q[key] - val) <= 1e-12 * max(1.0, abs(val)), (name, key)
        res.append({
            "name": name,
            "sources": [{"n": int(s["n"]), "quantiles": {k: f(v) for k, v in s["quantiles"].items()}}
                        for s in sources],
            "cdf": [{"x": f(x), "expected": cdf(x)} for x in probe],
            "expectedQuantiles": expected_q,
        })
    return res


# ---------------------------------------------------------------------------
# trends: ols, theilSen, mannKendall
# ---------------------------------------------------------------------------

TREND_RNG = np.random.default_rng(20261130)


def years(start, n, step=1.0):
    return [start + step * i for i in range(n)]


def trend_series():
    """(name, x, y): realistic yearly/quarterly medians plus random series."""
    hand = [
        ("n=3 increasing", years(2022, 3), [10.0, 12.0, 15.0]),
        ("n=3 two tied", years(2022, 3), [10.0, 10.0, 12.0]),
        ("n=3 decreasing, irregular x", [2019.0, 2020.5, 2024.0], [9.5, 7.25, 3.0]),
        ("ARR growth % 2019-2025", years(2019, 7), [45.0, 38.5, 52.0, 41.0, 30.5, 28.0, 31.5]),
        ("net revenue retention % 2016-2025", years(2016, 10),
         [98.0, 101.5, 103.0, 104.5, 108.0, 112.0, 110.5, 104.0, 102.0, 101.0]),
        ("burn multiple decreasing 2018-2025", years(2018, 8), [3.1, 2.8, 2.9, 2.2, 2.4, 1.9, 1.6, 1.5]),
        ("gross margin % with ties 2014-2025", years(2014, 12),
         [70.0, 72.0, 72.0, 71.0, 74.0, 74.0, 74.0, 75.0, 73.0, 76.0, 76.0, 78.0]),
        ("quarterly CAC payback months 2022-2024", years(2022, 12, 0.25),
         [14.0, 15.5, 15.0, 17.0, 18.5, 18.0, 19.5, 21.0, 20.5, 20.0, 22.5, 23.0]),
        ("quarterly with ties 2023Q1-2024Q4", years(2023, 8, 0.25),
         [5.0, 5.0, 6.0, 5.0, 6.0, 6.0, 7.0, 7.0]),
        ("irregular years with a gap", [2015.0, 2017.0, 2018.0, 2021.0, 2024.0], [12.0, 15.0, 14.0, 20.0, 26.0]),
        ("half-year starts", [2019.0, 2020.0, 2021.5, 2024.0, 2024.5], [1.0, 0.4, 0.9, -0.2, 0.3]),
        ("negative metric (rule of 40)", years(2018, 6), [-12.0, -5.0, 3.5, -1.0, 8.0, 14.0]),
        ("flat (constant y)", years(2020, 5), [42.5] * 5),
        ("flat 0.1, irregular x", [2019.0, 2020.5, 2024.0], [0.1] * 3),
        ("all tied but one", years(2020, 5), [5.0, 5.0, 5.0, 5.0, 6.0]),
        ("perfect line", years(2019, 6), [10.0 + 2.5 * i for i in range(6)]),
        ("perfect decreasing line, quarterly", years(2021, 9, 0.25), [80.0 - 4.0 * i for i in range(9)]),
        ("zigzag, no trend", years(2016, 8), [1.0, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 3.0]),
    ]
    cases = [(name, np.asarray(x, dtype=float), np.asarray(y, dtype=float)) for name, x, y in hand]
    for n in (4, 10, 20, 30):
        x = np.asarray(years(1996 + 30 - n, n), dtype=float)
        y = np.round(50.0 + 0.8 * (x - x[0]) + TREND_RNG.normal(0.0, 6.0, n), 1)
        cases.append((f"noisy random n={n}", x, y))
    x = np.asarray(years(2018, 28, 0.25), dtype=float)
    y = np.round(20.0 + 3.0 * (x - x[0]) + TREND_RNG.normal(0.0, 1.0, 28), 2)
    cases.append(("strong quarterly trend n=28 (tiny p)", x, y))
    x = np.asarray(years(1995, 30), dtype=float)
    y = np.round(TREND_RNG.normal(0.0, 1.0, 30), 0)
    cases.append(("random integers n=30 (many ties)", x, y))
    for name, x, y in cases:
        assert 3 <= len(x) <= 30 and np.all(np.diff(x) > 0), name
    return cases


TRENDS = trend_series()


def ols_cases():
    res = []
    for name, x, y in TRENDS:
        fit = scipy.stats.linregress(x, y)
        res.append({
            "name": name,
            "x": floats(x),
            "y": floats(y),
            "expected": {
                "slope": f(fit.slope),
                "intercept": f(fit.intercept),
                "r2": f(fit.rvalue ** 2),
                "pValue": f(fit.pvalue),
            },
        })
    return res


def theil_sen_cases():
    res = []
    for name, x, y in TRENDS:
        fit = scipy.stats.theilslopes(y, x, alpha=0.95)
        # The interval ends are slopes picked by np.round; a rank that sits on .5 up to
        # rounding could flip between implementations, so make sure none does.
        n = len(y)
        nt = n * (n - 1) // 2
        _, counts = np.unique(y, return_counts=True)
        var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in counts)) / 18.0
        z = scipy.stats.norm.ppf(0.025)
        for v in ((nt - z * np.sqrt(var)) / 2, (nt + z * np.sqrt(var)) / 2):
            assert var == 0 or abs(v - np.floor(v) - 0.5) > 1e-6, (name, v)
        res.append({
            "name": name,
            "x": floats(x),
            "y": floats(y),
            "expected": {
                "slope": f(fit.slope),
                "intercept": f(fit.intercept),
                "low": f(fit.low_slope),
                "high": f(fit.high_slope),
            },
        })
    return res


def mann_kendall(y):
    n = len(y)
    s = int(sum(np.sign(y[j] - y[i]) for i in range(n) for j in range(i + 1, n)))
    _, counts = np.unique(y, return_counts=True)
    var_s = (n * (n - 1) * (2 * n + 5) - sum(int(t) * (t - 1) * (2 * t + 5) for t in counts)) / 18.0
    if s > 0:
        z = (s - 1) / np.sqrt(var_s)
    elif s < 0:
        z = (s + 1) / np.sqrt(var_s)
    else:
        z = 0.0
    p = 2 * scipy.stats.norm.sf(abs(z))
    return s, var_s, z, p, s / (n * (n - 1) / 2)


def mann_kendall_cases():
    res = []
    for name, _, y in TRENDS:
        s, var_s, z, p, tau = mann_kendall(y)
        n = len(y)
        if var_s > 0:
            # kendalltau against the time index: with no ties in x its S and Var(S) are the
            # Mann-Kendall ones, and its p-value is the one without continuity correction.
            kt = scipy.stats.kendalltau(np.arange(n), y, method="asymptotic")
            _, counts = np.unique(y, return_counts=True)
            pairs = n * (n - 1) / 2
            tied_pairs = sum(t * (t - 1) / 2 for t in counts)
            assert round(kt.statistic * np.sqrt(pairs * (pairs - tied_pairs))) == s, name
            p_uncorrected = 2 * scipy.stats.norm.sf(abs(s) / np.sqrt(var_s))
            assert abs(kt.pvalue - p_uncorrected) <= 1e-12 * max(kt.pvalue, 1e-300) + 1e-300, name
        else:
            assert s == 0 and z == 0.0 and p == 1.0, name
        res.append({
            "name": name,
            "y": floats(y),
            "expected": {"s": s, "varS": f(var_s), "z": f(z), "pValue": f(p), "tau": f(tau)},
        })
    return res


# ---------------------------------------------------------------------------
# wilson
# ---------------------------------------------------------------------------

def wilson(p, n, confidence):
    z = scipy.stats.norm.ppf((1 + confidence) / 2)
    center = p + z * z / (2 * n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    # at p = 0 / 1 the ends are 0 / 1 exactly (as in scipy), which the formula meets only up to rounding
    low = 0.0 if p == 0 else max(0.0, (center - half) / scale)
    high = 1.0 if p == 1 else min(1.0, (center + half) / scale)
    return low, high


def wilson_cases():
    counts = [
        (0, 10, 0.95), (10, 10, 0.95), (1, 1, 0.95), (0, 1, 0.95), (5, 10, 0.95), (3, 7, 0.95),
        (1, 20, 0.95), (19, 20, 0.95), (250, 1000, 0.95), (999, 1000, 0.95), (17, 40, 0.9),
        (17, 40, 0.99), (2, 9, 0.8), (60, 61, 0.5), (12345, 50000, 0.95),
    ]
    # half-integer counts, as from a percentile rank with ties (kind="mean")
    half_counts = [(2.5, 7, 0.95), (0.5, 6, 0.95), (5.5, 6, 0.95), (40.5, 81, 0.9), (99.5, 350, 0.99)]
    res = []
    for k, n, confidence in counts + half_counts:
        proportion = k / n
        low, high = wilson(proportion, n, confidence)
        if float(k).is_integer():
            ci = scipy.stats.binomtest(int(k), n).proportion_ci(confidence_level=confidence, method="wilson")
            assert abs(ci.low - low) <= 1e-13 and abs(ci.high - high) <= 1e-13, (k, n, confidence)
        res.append({
            "name": f"{k}/{n} at {confidence:g}",
            "proportion": f(proportion),
            "n": int(n),
            "confidence": f(confidence),
            "expected": {"low": f(low), "high": f(high)},
        })
    return res


# ---------------------------------------------------------------------------
# medianInterval
# ---------------------------------------------------------------------------

def median_interval(values, confidence):
    x = np.sort(values)
    n = len(x)
    budget = (1 - confidence) / 2
    lower = 0
    for rank in range(1, n + 1):
        tail = scipy.stats.binom.cdf(rank - 1, n, 0.5)
        # a tail probability this close to the budget could be decided either way by rounding
        assert abs(tail - budget) > 1e-9 * budget, (n, confidence, rank)
        if tail <= budget:
            lower = rank
        else:
            break
    if lower == 0:
        return None
    upper = n + 1 - lower
    assert lower <= upper
    return {
        "lowerRank": lower,
        "upperRank": upper,
        "low": f(x[lower - 1]),
        "high": f(x[upper - 1]),
        "coverage": f(1 - 2 * scipy.stats.binom.cdf(lower - 1, n, 0.5)),
    }


def median_interval_cases():
    hand = [
        ("n=1", [3.0], 0.95),
        ("n=5 at 95% (too small)", [4.0, 1.0, 5.0, 2.0, 3.0], 0.95),
        ("n=5 at 90%", [4.0, 1.0, 5.0, 2.0, 3.0], 0.9),
        ("n=6 at 95% (smallest)", [6.0, 1.0, 5.0, 2.0, 4.0, 3.0], 0.95),
        ("n=6 at 99% (too small)", [6.0, 1.0, 5.0, 2.0, 4.0, 3.0], 0.99),
        ("n=9 with ties", [2.0, 2.0, 3.0, 1.0, 3.0, 3.0, 8.0, 2.0, 5.0], 0.95),
        ("n=10 negatives", [-20.0, -5.5, -3.0, 0.0, 4.0, 18.25, 60.0, -1.0, 2.5, 7.0], 0.95),
        ("all equal", [7.0] * 12, 0.95),
        ("n=25 at 50%", [float(v) for v in range(25, 0, -1)], 0.5),
        ("n=25 at 99%", [float(v) for v in range(25, 0, -1)], 0.99),
    ]
    cases = [(name, np.asarray(v, dtype=float), c) for name, v, c in hand]
    cases.append(("random lognormal n=40", np.round(TREND_RNG.lognormal(3.0, 0.8, 40), 2), 0.95))
    cases.append(("random normal n=101 at 90%", np.round(TREND_RNG.normal(30.0, 12.0, 101), 1), 0.9))
    cases.append(("random lognormal n=1000 (coarse, ties)", np.round(TREND_RNG.lognormal(1.0, 0.75, 1000), 1), 0.95))
    cases.append(("random normal n=2001 at 99%", np.round(TREND_RNG.normal(0.0, 1.0, 2001), 4), 0.99))
    res = []
    for name, values, confidence in cases:
        res.append({
            "name": name,
            "values": floats(values),
            "confidence": f(confidence),
            "expected": median_interval(values, confidence),
        })
    return res


# ---------------------------------------------------------------------------

def main():
    out = {
        "generatedBy": "scripts/make-stats-fixtures.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "quantiles": quantile_cases(),
        "percentileRank": percentile_rank_cases(),
        "modifiedZ": modified_z_cases(),
        "tukey": tukey_cases(),
        "descriptive": descriptive_cases(),
        "pooling": pooling_cases(),
        "ols": ols_cases(),
        "theilSen": theil_sen_cases(),
        "mannKendall": mann_kendall_cases(),
        "wilson": wilson_cases(),
        "medianInterval": median_interval_cases(),
    }
    json.dump(out, sys.stdout, indent=1, allow_nan=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
