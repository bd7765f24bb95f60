"""Each comparison of a committed paper leaderboard with the smallest difference its design could detect.

For every ROBIN/HAR row of ``leaderboards/NAME.csv`` compared with its flat baseline, recomputed from the
per-seed results and flags committed under ``leaderboards/NAME/results/`` (``robin-bench leaderboard
--with-results``): the mean paired difference with its t interval over seeds and the pooled McNemar p,
then the design's minimum detectable difference (MDD, alpha 0.05, power 0.8) at the spread and the
discordant rate *observed* in that comparison (:mod:`robin_bench.bench.power`):

* ``mdd_t``: :func:`paired_t_mdd` with k seeds and the observed standard deviation of the per-seed
  differences (the question "do the recipes differ across training randomness?");
* ``mdd_mcnemar``: :func:`mcnemar_mdd` with n samples, k seeds and the observed share of (sample, seed)
  pairs robust under exactly one of the two models (the question "do these trained models differ on these
  samples?").

Usage::

    python benchmarks/paper_power.py paper_digits [--metric robust_acc|coarse_robust_acc] [--query "eps == 0.1"]
    python benchmarks/paper_power.py paper_digits_verified --metric verified_acc  (the proofs, issue 18)

Prints one markdown table; REPRODUCTION.md quotes it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from robin_bench.bench import leaderboard
from robin_bench.bench.leaderboard import Replicates
from robin_bench.bench.leaderboard.columns import mcnemar_column
from robin_bench.bench.power import mcnemar_mdd, paired_t_mdd

ROOT = Path(__file__).resolve().parents[1]
METRICS = ["robust_acc", "coarse_robust_acc", "verified_acc", "coarse_verified_acc"]
"""The attacked figures (paired on the worst-case flags) and the verified ones (paired on the proofs)."""


def comparisons(name: str, metric: str = "robust_acc") -> pd.DataFrame:
    """One row per compared (ROBIN/HAR vs flat) leaderboard row of ``leaderboards/name``, with MDDs."""
    prefix = ROOT / "leaderboards" / name
    rows = leaderboard.load(sorted((prefix / leaderboard.RESULTS_DIRNAME).glob("*/results.csv")))
    board = leaderboard.table(rows)
    _, reps = leaderboard.aggregate(rows)
    criterion = "coarse" if metric.startswith("coarse_") else None
    proofs = metric.endswith("verified_acc")
    out = []
    for _, r in board[board["baseline"] != ""].iterrows():
        if pd.isna(r.get(metric)):
            continue
        base = board[
            (board["model"] == r["baseline"])
            & (board["suite"] == r["suite"])
            & (board["norm"] == r["norm"])
            & (board["eps"] == r["eps"])
            & (board["criterion"] == r["criterion"])
        ].iloc[0]
        a, b = reps[tuple(r[c] for c in leaderboard.IDENTITY)], reps[tuple(base[c] for c in leaderboard.IDENTITY)]
        seeds = sorted(set(a.seeds) & set(b.seeds))
        diff = np.array([a.by_seed(s)[metric] - b.by_seed(s)[metric] for s in seeds], dtype=np.float64)
        on = criterion or r["criterion"]
        flags_of = Replicates.verified_flags if proofs else Replicates.robust_flags
        pairs = [(flags_of(a, s, on), flags_of(b, s, on)) for s in seeds]
        discordant = sum(int((fa != fb).sum()) for fa, fb in pairs)
        n = int(r["n"])
        psi = discordant / (n * len(seeds))
        sd = float(diff.std(ddof=1)) if len(seeds) > 1 else float("nan")
        out.append(
            {
                "model": r["model"],
                "baseline": r["baseline"],
                "norm": r["norm"],
                "eps": r["eps"],
                "criterion": r["criterion"],
                "k": len(seeds),
                "n": n,
                "diff": r[f"{metric}_diff"],
                "ci_low": r[f"{metric}_diff_ci_low"],
                "ci_high": r[f"{metric}_diff_ci_high"],
                "p": r[mcnemar_column(metric)],
                "sd_diff": sd,
                "mdd_t": paired_t_mdd(len(seeds), sd) if len(seeds) > 1 and sd > 0 else float("nan"),
                "psi": psi,
                "mdd_mcnemar": mcnemar_mdd(n, len(seeds), psi) if psi > 0 else float("nan"),
            }
        )
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="leaderboard name under leaderboards/, e.g. paper_digits")
    parser.add_argument("--metric", default="robust_acc", choices=METRICS)
    parser.add_argument("--query", default=None, help="pandas query on the output rows, e.g. 'eps == 0.1'")
    args = parser.parse_args()
    frame = comparisons(args.name, args.metric)
    if args.query:
        frame = frame.query(args.query)
    cells = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in frame.itertuples(index=False)]
    print(leaderboard.markdown_table(list(frame.columns), cells))


if __name__ == "__main__":
    main()
