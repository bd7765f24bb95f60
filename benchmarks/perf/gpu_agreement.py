"""CPU against another device (CUDA): the same training and attacks on small seeded models give the same answers.

- Training: ``rb.train.train_flat`` of a digits MLP (PGD-AT, Linf 0.1, seed 0) once on the CPU and once on the
  device; their clean accuracies on the test images may differ by at most ``--tol``.
- Attacks: one CPU-trained model of each kind (flat, ROBIN of 10 arms, HAR 0-4 / 5-9), a copy of it moved to
  the device; ``rb.evaluate`` with robin-bench's PGD (random starts drawn per sample, so the same on both
  devices) and with ``rb.attacks.AutoAttack`` (APGD-CE), fine criterion, Linf 0.1. The per-sample robust
  flags must agree on at least ``1 - tol`` of the samples (float rounding moves samples lying on a decision
  boundary, nothing else), and the robust accuracies may differ by at most ``--tol``.

Prints one markdown table and exits 1 when a comparison is out of tolerance.

Usage::

    python benchmarks/perf/gpu_agreement.py --device cuda
    python benchmarks/perf/gpu_agreement.py --device cpu --n-train 100 --n-test 20 --epochs 1   # a smoke run
"""

from __future__ import annotations

import argparse
import copy
import sys

import torch
from torch import nn

import robin_bench as rb


def build(kind: str) -> nn.Module:
    """An untrained digits MLP model of ``kind`` (seeded)."""
    torch.manual_seed(0)
    if kind == "har":
        return rb.build_model("har", arch="mlp", in_shape=(1, 8, 8), n_classes=10, hierarchy=HIERARCHY)
    return rb.build_model(kind, arch="mlp", in_shape=(1, 8, 8), n_classes=10)


HIERARCHY = rb.Hierarchy.from_groups({"low": [0, 1, 2, 3, 4], "high": [5, 6, 7, 8, 9]})


def train(kind: str, x: torch.Tensor, y: torch.Tensor, cfg: rb.train.TrainConfig, device: torch.device) -> nn.Module:
    """``kind`` trained on ``device`` (returned in eval mode, on that device)."""
    model = build(kind).to(device)
    xd, yd = x.to(device), y.to(device)
    if kind == "flat":
        rb.train.train_flat(model, xd, yd, cfg)
    elif kind == "robin":
        model, _ = rb.train.train_robin(list(model.arms), xd, yd, cfg)
    else:
        model, _ = rb.train.train_har(model.coarse, list(model.fine), HIERARCHY, xd, yd, cfg)
    return model.eval()


def flags(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: str, steps: int) -> torch.Tensor:
    """Per-sample robust flags (clean-correct and unbroken) of ``model`` under ``attack`` on its device."""
    device = next(model.parameters()).device
    if attack == "pgd":
        atk = rb.attacks.PGD(model, norm="Linf", eps=0.1, steps=steps)
    else:
        atk = rb.attacks.AutoAttack(
            model, norm="Linf", eps=0.1, version="custom", attacks_to_run=["apgd-ce"], n_iter=steps, n_classes=10
        )
    result = rb.evaluate(model, x.to(device), y.to(device), {attack: atk})
    return (result.robust & result.clean_correct).cpu()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--n-train", type=int, default=500)
    ap.add_argument("--n-test", type=int, default=364)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--tol", type=float, default=0.03, help="allowed disagreement, a fraction (0.03)")
    args = ap.parse_args()
    device = torch.device(args.device)
    cpu = torch.device("cpu")
    x, y = rb.datasets.load("digits", split="train", n_examples=args.n_train)
    xt, yt = rb.datasets.load("digits", split="test", n_examples=args.n_test)
    cfg = rb.train.TrainConfig(
        epochs=args.epochs, batch_size=32, lr=0.05, objective="pgd_at", eps=0.1, steps=3, progress=False
    )
    rows, failed = [], False

    def row(what: str, a: float, b: float, agree: float | None, ok: bool) -> None:
        nonlocal failed
        failed |= not ok
        agreement = "" if agree is None else f"{agree:.3f}"
        rows.append(f"| {what} | {a:.3f} | {b:.3f} | {agreement} | {'ok' if ok else 'FAIL'} |")

    def accuracy(model: nn.Module) -> float:
        dev = next(model.parameters()).device
        with torch.no_grad():
            return float((model(xt.to(dev)).argmax(1).cpu() == yt).float().mean())

    for kind in ("flat", "robin", "har"):
        on_cpu = train(kind, x, y, cfg, cpu)
        if kind == "flat":
            a, b = accuracy(on_cpu), accuracy(train(kind, x, y, cfg, device))
            row("train flat: clean accuracy", a, b, None, abs(a - b) <= args.tol)
        on_device = copy.deepcopy(on_cpu).to(device)
        for attack in ("pgd", "apgd-ce"):
            fa, fb = flags(on_cpu, xt, yt, attack, args.steps), flags(on_device, xt, yt, attack, args.steps)
            agree = float((fa == fb).float().mean())
            ra, rb_ = float(fa.float().mean()), float(fb.float().mean())
            ok = agree >= 1 - args.tol and abs(ra - rb_) <= args.tol
            row(f"{kind} {attack}: robust accuracy", ra, rb_, agree, ok)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    print(
        f"CPU against {name}; torch {torch.__version__}; digits MLP, {args.n_train} training / {args.n_test} test "
        f"images, PGD-AT {args.epochs} epochs, attacks Linf 0.1 with {args.steps} steps; tolerance {args.tol}"
    )
    print("| comparison | cpu | device | per-sample agreement | verdict |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
