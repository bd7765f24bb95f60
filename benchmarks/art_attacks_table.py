"""The README's table of ART's evasion attacks on ROBIN, HAR and flat models, with the platform it ran on.

Runs every case of ``tests/estimators/test_art_attacks.py`` (the same tiny seeded models, budgets and
seeds) and writes the accuracies after each attack into README.md's generated block ``art-attacks``
(:mod:`benchmarks.docblocks`). VirtualAdversarialMethod maximizes the KL divergence to the clean
prediction, so its row also gives how much further it moves the predictions than a random direction of
the same length (the median over samples of the ratio of the two KL divergences), which is what the test
asserts. The accuracies of attacks whose outcome rests on a few samples near the decision boundary can
differ on another CPU or BLAS, hence the platform line.

Usage::

    python benchmarks/art_attacks_table.py            # rewrite README.md's block
    python benchmarks/art_attacks_table.py --print    # print the block only
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = "benchmarks/art_attacks_table.py"
BLOCK = "art-attacks"


def table() -> str:
    """The block: the platform line, then one row per attack with the accuracy after it on each model kind."""
    import art
    import numpy as np
    import torch

    from benchmarks.docblocks import cpu
    from tests.estimators.test_art_attacks import CASES, run_case
    from tests.estimators.tiny import KINDS

    torch.set_num_threads(1)
    start = time.perf_counter()
    rows = ["| attack | n | ROBIN | HAR | flat |", "|---|---|---|---|---|"]
    for name, case in CASES.items():
        cells = []
        for kind in KINDS:
            out = run_case(name, kind)
            cell = f"{out.accuracy:.2f}"
            if case.divergence:
                ratio = np.median(out.kl_to_clean(out.x_adv) / out.kl_to_clean(out.random_direction()))
                cell += f" (KL {ratio:.0f}x random)"
            cells.append(cell)
        rows.append(f"| {name} | {case.n} | " + " | ".join(cells) + " |")
    seconds = time.perf_counter() - start
    head = (
        f"Accuracy after each attack (clean accuracy 1). Written by `python {SCRIPT}` on {cpu()}, "
        f"{seconds:.0f} s on one thread; Python {platform.python_version()}, torch {torch.__version__}, "
        f"ART {art.__version__}, NumPy {np.__version__}."
    )
    return head + "\n\n" + "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--print", action="store_true", help="print the block instead of rewriting README.md")
    args = ap.parse_args()
    from benchmarks.docblocks import replace_block

    body = table()
    if args.print:
        print(body)
    else:
        replace_block("README.md", BLOCK, SCRIPT, body)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
