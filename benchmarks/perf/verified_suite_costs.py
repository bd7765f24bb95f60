"""What proving paper_digits_verified cost, per kind, eps and criterion, from its committed per-sample flags.

Reads ``leaderboards/paper_digits_verified/results/*/flags/*.npz`` (written by ``robin-bench leaderboard
--with-results``): each verified sample's status and solver statistics (``verify_stat_*``, stored by the runner
beside the status). Prints one markdown table: (sample, seed) pairs, the share resolved (proved robust or broken),
seconds per sample (mean, median, 95th percentile, max; wall clock of ``rb.verify`` inside the cell's job), MILPs
solved per sample, the share the bounds alone settled, and the counterexamples the attacks missed with the most
negative margin the verifier's counterexamples reached on them (how far past the boundary the attacks failed to
go: the margin of the criterion's verdict, in the model's output units).

Usage::

    python benchmarks/perf/verified_suite_costs.py [--board paper_digits_verified]

``benchmarks/RESULTS.md`` quotes it ("paper_digits_verified: what the proofs cost").
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from robin_bench.bench import leaderboard, results, store
from robin_bench.bench.leaderboard.table import stored_flags

ROOT = Path(__file__).resolve().parents[2]


def costs(board: str) -> list[dict[str, object]]:
    """One row per (model, eps, criterion) of ``leaderboards/board``, over its seeds."""
    groups: dict[tuple[str, float, str], list[results.Flags]] = defaultdict(list)
    prefix = ROOT / "leaderboards" / board / leaderboard.RESULTS_DIRNAME
    rows = leaderboard.load(sorted(prefix.glob(f"*/{results.RESULTS_NAME}")))
    for _, r in rows[rows["attack"] == results.WORST_CASE].iterrows():
        for criterion in dict.fromkeys((str(r["criterion"]), "coarse")):
            path = stored_flags(r, criterion)
            if path is None:
                continue
            flags = store.load_flags(path.parent, path.stem)
            if flags.verify_status is None or flags.verify_stats is None:
                raise SystemExit(f"{path}: no verification statistics; rebuild the board from a run that stores them")
            groups[(str(r["model"]), float(r["eps"]), criterion)].append(flags)
    out = []
    for (model, eps, criterion), seeds in sorted(groups.items()):
        status = np.concatenate([f.verify_status for f in seeds])
        stats = {k: np.concatenate([f.verify_stats[k] for f in seeds]) for k in seeds[0].verify_stats}
        robust = np.concatenate([f.robust for f in seeds])
        seconds = stats["seconds"]
        missed = (status == "broken") & robust
        out.append(
            {
                "model": model,
                "eps": eps,
                "criterion": criterion,
                "pairs": len(status),
                "resolved": float(np.mean(status != "unknown")),
                "mean_s": float(seconds.mean()),
                "median_s": float(np.median(seconds)),
                "p95_s": float(np.quantile(seconds, 0.95)),
                "max_s": float(seconds.max()),
                "milps_per_sample": float(stats["milps"].mean()),
                "bounds_only": float(np.mean(stats["milps"] == 0)),
                "attacks_missed": int(missed.sum()),
                "deepest_missed": float(stats["margin_upper"][missed].min()) if missed.any() else float("nan"),
            }
        )
    return out


def table(board: str) -> str:
    """The markdown table of :func:`costs` (three significant digits)."""
    rows = costs(board)
    cells = [[f"{v:.3g}" if isinstance(v, float) else str(v) for v in r.values()] for r in rows]
    return leaderboard.markdown_table(list(rows[0]), cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="paper_digits_verified")
    print(table(parser.parse_args().board))


if __name__ == "__main__":
    main()
