"""Cost of ``rb.attacks.standard_attacks`` against the demo suite's attack list, per model kind.

Trains the demo's three models (flat, ROBIN, HAR MLPs on 500 digits, PGD-AT Linf 0.1, 8 epochs), then
times ``rb.evaluate`` with early exit on 100 test digits at Linf 0.05 / 0.1 / 0.2 under the fine and
the coarse criterion, for (a) the demo suite's attacks, (b) the standard set with AutoAttack's own
budgets and (c) the standard set with ``n_iter``/``n_queries`` given on the command line. Prints one
line per (model, set): seconds summed over the six cells and robust accuracy per cell.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/perf/standard_attacks_cost.py [n_iter n_queries [kind ...]]``
(kinds: flat, robin, har; default all three). ``ROBIN_BENCH_SKIP_FULL=1`` skips set (b).
"""

from __future__ import annotations

import os
import sys
import time

import torch

import robin_bench as rb
from robin_bench.attacks import CW, PGD, CoarseMarginal, CoarseTargeted, HierarchicalTargeted, RobinAttack
from robin_bench.train import TrainConfig, train_flat, train_har, train_robin

H = rb.Hierarchy.from_groups({"low": [0, 1, 2, 3, 4], "high": [5, 6, 7, 8, 9]})
EPS = (0.05, 0.1, 0.2)


def train(kind: str, x: torch.Tensor, y: torch.Tensor) -> torch.nn.Module:
    """The demo's model of ``kind`` (flat, robin, har), PGD-trained as in benchmarks/suites/demo.yaml."""
    cfg = TrainConfig(objective="pgd_at", norm="Linf", eps=0.1, steps=3, epochs=8, batch_size=32, lr=0.05,
                      schedule="cosine", seed=0, progress=False)
    torch.manual_seed(0)
    if kind == "flat":
        flat = rb.archs.build("mlp", in_shape=(1, 8, 8), n_outputs=10)
        train_flat(flat, x, y, cfg)
        return flat.eval()
    if kind == "robin":
        arms = [rb.archs.build("mlp", in_shape=(1, 8, 8), n_outputs=1) for _ in range(10)]
        return train_robin(arms, x, y, cfg)[0].eval()
    coarse = rb.archs.build("mlp", in_shape=(1, 8, 8), n_outputs=2)
    fine = [rb.archs.build("mlp", in_shape=(1, 8, 8), n_outputs=5) for _ in range(2)]
    return train_har(coarse, fine, H, x, y, cfg)[0].eval()


def demo_attacks(model: torch.nn.Module, kind: str, eps: float) -> dict[str, rb.attacks.Attack]:
    common = {"norm": "Linf", "eps": eps, "seed": 0}
    attacks: dict[str, rb.attacks.Attack] = {"pgd": PGD(model, steps=10, **common)}
    if kind != "har":
        for s in rb.attacks.STRATEGIES:
            attacks[f"robin_{s}"] = RobinAttack(model, strategy=s, steps=10, **common)
    attacks["cw"] = CW(model, steps=20, binary_search_steps=2, **common)
    attacks["coarse_marginal"] = CoarseMarginal(model, hierarchy=H, steps=10, **common)
    attacks["coarse_targeted"] = CoarseTargeted(model, hierarchy=H, steps=10, **common)
    attacks["hierarchical_targeted"] = HierarchicalTargeted(model, hierarchy=H, steps=10, **common)
    return attacks


def main() -> None:
    torch.set_num_threads(1)
    budget = {"n_iter": int(sys.argv[1]), "n_queries": int(sys.argv[2])} if len(sys.argv) >= 3 else None
    kinds = sys.argv[3:] or ["flat", "robin", "har"]
    x, y = rb.datasets.load("digits", split="train", n_examples=500, seed=0)
    xt, yt = rb.datasets.load("digits", split="test", n_examples=100, seed=0)
    t0 = time.perf_counter()
    nets = {kind: train(kind, x, y) for kind in kinds}
    print(f"training: {time.perf_counter() - t0:.1f} s")
    sets: dict[str, dict[str, int] | None] = {"demo": None}
    if not os.environ.get("ROBIN_BENCH_SKIP_FULL"):
        sets["standard"] = {}
    if budget:
        sets["standard_budget"] = budget
    for kind, model in nets.items():
        for set_name, kw in sets.items():
            seconds, accs, per_attack = 0.0, [], {}
            for criterion in ("fine", "coarse"):
                for eps in EPS:
                    if kw is None:
                        attacks = demo_attacks(model, kind, eps)
                    else:
                        attacks = rb.standard_attacks(model, norm="Linf", eps=eps, hierarchy=H, criterion=criterion,
                                                      **kw)
                    t = time.perf_counter()
                    res = rb.evaluate(model, xt, yt, attacks, criterion=criterion, hierarchy=H)
                    seconds += time.perf_counter() - t
                    accs.append(f"{criterion[0]}{eps}:{res.robust_acc:.2f}")
                    for name, s in res.seconds.items():
                        per_attack[name] = per_attack.get(name, 0.0) + s
            top = sorted(per_attack.items(), key=lambda kv: -kv[1])[:4]
            print(f"{kind:5s} {set_name:15s} {seconds:6.1f} s  {' '.join(accs)}  slowest: "
                  + ", ".join(f"{n} {s:.1f}s" for n, s in top))


if __name__ == "__main__":
    main()
