#!/usr/bin/python3
"""numpy side of the stats kernel benchmark; scripts/bench/stats-kernel.ts runs it each round.

    /usr/bin/python3 scripts/bench/stats_kernel.py VALUES_FILE SCORE --warmups 3 --runs 15

VALUES_FILE holds the float64 values the TypeScript side generated, in native byte order (both
sides run on this machine). Times numpy.quantile(x, [.1, .25, .5, .75, .9]) (method "linear",
Hyndman-Fan type 7) and the mean-kind percentile rank of SCORE, then prints one JSON object:
what numpy computed, so the TypeScript side can check both computed the same, and every timed
run in milliseconds. Exits with status 3 when this interpreter has no numpy.
"""

import argparse
import json
import sys
import time

try:
    import numpy as np
except ImportError:
    print("numpy is not installed for this interpreter", file=sys.stderr)
    sys.exit(3)

PROBABILITIES = [0.1, 0.25, 0.5, 0.75, 0.9]


def quantiles(x):
    return np.quantile(x, PROBABILITIES)


def percentile_rank(x, score):
    """scipy.stats.percentileofscore(kind="mean"): 100*(#{x<v} + #{x=v}/2)/n."""
    return (np.count_nonzero(x < score) + 0.5 * np.count_nonzero(x == score)) / x.size * 100


def time_runs(operation, warmups, runs):
    for _ in range(warmups):
        operation()
    times_ms = []
    for _ in range(runs):
        start = time.perf_counter()
        operation()
        times_ms.append((time.perf_counter() - start) * 1000)
    return times_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("values_file")
    parser.add_argument("score", type=float)
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    x = np.fromfile(args.values_file, dtype=np.float64)
    print(
        json.dumps(
            {
                "numpy": np.__version__,
                "python": sys.version.split()[0],
                "n": int(x.size),
                "quantiles": [float(q) for q in quantiles(x)],
                "percentileRank": float(percentile_rank(x, args.score)),
                "quantilesMs": time_runs(lambda: quantiles(x), args.warmups, args.runs),
                "rankMs": time_runs(lambda: percentile_rank(x, args.score), args.warmups, args.runs),
            }
        )
    )


if __name__ == "__main__":
    main()
