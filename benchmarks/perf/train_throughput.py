"""Training throughput of robin_bench.train against a bare PyTorch loop of the same model, same run.

Measures images per second of standard and PGD-AT training of ``cnn2`` on ``mnist5k``, for one flat
model (10 outputs, cross-entropy) and for ROBIN's 10 arms (one output each, binary cross-entropy),
and prints each as a ratio ours / bare. The bare loop is what one would write by hand: shuffle, cut
into batches, (for PGD-AT: eval mode, uniform random start, ``steps`` sign-gradient steps with
projection, train mode), forward, loss, backward, SGD step. Ours is ``train_flat`` / ``train_robin``
with the same batch size, steps, eps and step size (its extras: a clean eval-mode forward per batch
for the statistics, per-epoch bookkeeping and, for arms, class-balanced sampling). Bare and ours
alternate ``--repeats`` times, which one runs first alternating too, and the median of the per-pair
ratios is reported, which damps the noise of a shared machine.

Usage::

    python benchmarks/perf/train_throughput.py --quick
    python benchmarks/perf/train_throughput.py --n-images 1024 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.train import TrainConfig, train_flat, train_robin


def bare_train(
    models: list[nn.Module],
    x: Tensor,
    y: Tensor,
    *,
    batch_size: int,
    adversarial: bool,
    eps: float,
    steps: int,
    alpha: float,
    seed: int,
) -> int:
    """A hand-written SGD loop (optionally Linf PGD-AT) over each model in turn; returns images trained on."""
    images = 0
    for i, model in enumerate(models):
        binary = len(models) > 1
        labels = (y == i).float()[:, None] if binary else y

        def loss_fn(out: Tensor, t: Tensor, binary: bool = binary) -> Tensor:
            return F.binary_cross_entropy_with_logits(out, t) if binary else F.cross_entropy(out, t)

        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        gen = torch.Generator().manual_seed(seed + i)
        perm = torch.randperm(x.shape[0], generator=gen)
        for idx in perm[: x.shape[0] // batch_size * batch_size].split(batch_size):
            xb, tb = x[idx], labels[idx]
            if adversarial:
                model.eval()
                xa = (xb + (2 * torch.rand(xb.shape, generator=gen) - 1) * eps).clamp(0, 1)
                for _ in range(steps):
                    xa.requires_grad_(True)
                    (g,) = torch.autograd.grad(loss_fn(model(xa), tb), xa)
                    xa = torch.minimum(torch.maximum(xa.detach() + alpha * g.sign(), xb - eps), xb + eps).clamp(0, 1)
                xb = xa.detach()
            model.train()
            loss = loss_fn(model(xb), tb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            images += xb.shape[0]
    return images


def ours_train(models: list[nn.Module], x: Tensor, y: Tensor, cfg: TrainConfig) -> int:
    """robin_bench.train on one flat model or on ROBIN arms; returns images trained on."""
    if len(models) == 1:
        return sum(train_flat(models[0], x, y, cfg).images)
    return sum(sum(report.images) for report in train_robin(models, x, y, cfg)[1])


def timed(fn: Callable[[], int]) -> float:
    """Images per second of ``fn`` (which returns the number of images it trained on)."""
    start = time.perf_counter()
    images = fn()
    return images / (time.perf_counter() - start)


def cnn2(n_outputs: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return rb.archs.build("cnn2", in_shape=(1, 28, 28), n_outputs=n_outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 images, 1 repeat: a smoke run of a few minutes")
    parser.add_argument("--n-images", type=int, default=1024, help="training images (default 1024)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="PGD steps of PGD-AT (default 10)")
    parser.add_argument("--eps", type=float, default=0.3, help="Linf budget of PGD-AT (default 0.3)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating bare/ours pairs per cell (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    args = parser.parse_args()
    if args.quick:
        args.n_images, args.repeats = 256, 1
    torch.set_num_threads(args.threads)
    x, y = rb.datasets.load("mnist5k", split="train", n_examples=args.n_images)
    alpha = 2.5 * args.eps / args.steps
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} threads={args.threads}, "
        f"torch {torch.__version__}, robin_bench {rb.__version__}, python {platform.python_version()}"
    )
    print(
        f"cnn2 on mnist5k: {x.shape[0]} images, batch {args.batch_size}, PGD-AT Linf eps={args.eps} "
        f"steps={args.steps} alpha={alpha:g}, repeats={args.repeats}"
    )
    train_flat(cnn2(10, 0), x[: args.batch_size], y[: args.batch_size], TrainConfig(epochs=1, progress=False))
    print(f"{'model':<12}{'objective':<10}{'bare img/s':>12}{'ours img/s':>12}{'ratio':>8}")
    for setting, n_models in (("flat", 1), ("robin x10", 10)):
        for objective in ("standard", "pgd_at"):
            adversarial = objective == "pgd_at"
            cfg = TrainConfig(
                epochs=1,
                batch_size=args.batch_size,
                lr=0.01,
                schedule="constant",
                objective=objective,
                eps=args.eps,
                steps=args.steps,
                alpha=alpha,
                progress=False,
            )
            bares, ours = [], []
            for r in range(args.repeats):
                bare_models = [cnn2(10 if n_models == 1 else 1, r + i) for i in range(n_models)]
                our_models = [cnn2(10 if n_models == 1 else 1, r + i) for i in range(n_models)]
                run_bare = partial(
                    bare_train,
                    bare_models,
                    x,
                    y,
                    batch_size=args.batch_size,
                    adversarial=adversarial,
                    eps=args.eps,
                    steps=args.steps,
                    alpha=alpha,
                    seed=r,
                )
                run_ours = partial(ours_train, our_models, x, y, cfg)
                if r % 2 == 0:  # alternate which loop runs first, so a warm-up or load drift favours neither
                    bares.append(timed(run_bare))
                    ours.append(timed(run_ours))
                else:
                    ours.append(timed(run_ours))
                    bares.append(timed(run_bare))
            ratio = statistics.median(o / b for o, b in zip(ours, bares, strict=True))
            print(
                f"{setting:<12}{objective:<10}{statistics.median(bares):>12.1f}{statistics.median(ours):>12.1f}"
                f"{ratio:>8.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
