"""Evaluation memory: peak RSS of ``rb.evaluate`` for 1k vs 5k samples, each in a fresh process.

``rb.evaluate`` streams batches, so its peak memory should depend on the batch size, not on the
number of evaluated samples N. For each N, a fresh Python process loads all 5,000 mnist5k images
(train + test splits, so the data in memory is the same for every N), builds a cnn2 network, and
runs ``rb.evaluate`` with one FGSM attack on the first N images. Labels are the model's own clean
predictions, so every sample is clean-correct and every sample is attacked. Each process reports
its peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) before and after the
evaluation; their difference is the evaluation's own peak, reported as the median (and range) over
``--repeats`` fresh processes, since the allocator adds tens of MiB of noise from run to run. With
``--contrast`` the same runs are repeated with ``batch_size = N`` (no streaming), whose peak does grow
with N.

Usage::

    python benchmarks/perf/eval_memory.py --n 1000 5000 --batch-size 250 --contrast
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

import robin_bench as rb
from robin_bench.attacks.fgsm import FGSM
from robin_bench.models import archs

_KIB = 1024


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / _KIB


def measure(n: int, batch_size: int, arch: str) -> dict[str, float]:
    """Run one evaluation of ``n`` samples in this process; peak RSS before and after, and seconds."""
    torch.set_num_threads(1)
    parts = [rb.datasets.load("mnist5k", split=s) for s in ("train", "test")]
    x_all = torch.cat([p[0] for p in parts])
    info = rb.datasets.info("mnist5k")
    torch.manual_seed(0)
    model = archs.build(arch, in_shape=(1, 28, 28), n_outputs=10, mean=info.mean, std=info.std).eval()
    x = x_all[:n]
    with torch.no_grad():
        y = torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, n, batch_size)])
    before = peak_rss_mib()
    t0 = time.perf_counter()
    res = rb.evaluate(model, x, y, [FGSM(model, eps=0.1)], batch_size=batch_size)
    seconds = time.perf_counter() - t0
    after = peak_rss_mib()
    if int(res.ran["FGSM"].sum()) != n:
        raise RuntimeError(f"FGSM ran on {int(res.ran['FGSM'].sum())} of {n} samples; expected all")
    return {
        "n": n,
        "batch_size": batch_size,
        "before_mib": before,
        "after_mib": after,
        "seconds": seconds,
        "robust_acc": res.robust_acc,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--arch", default="cnn2", choices=["cnn2", "mlp"])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per configuration")
    parser.add_argument("--contrast", action="store_true", help="also run with batch_size = N (no streaming)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.n[0], args.batch_size, args.arch)))
        return

    runs = [(n, args.batch_size) for n in args.n]
    if args.contrast:
        runs += [(n, n) for n in args.n]
    print(
        f"torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}, 1 thread; "
        f"mnist5k (5,000 images loaded in every process), {args.arch}, FGSM Linf eps=0.1 on every sample"
    )
    print(f"median over {args.repeats} fresh processes per row (range in brackets)")
    print(
        "| N | batch size | peak RSS before evaluate (MiB) | peak RSS after (MiB) | evaluate's own peak (MiB) "
        "| seconds |"
    )
    print("|---|---|---|---|---|---|")
    for n, batch in runs:
        cmd = [sys.executable, __file__, "--child", "--n", str(n), "--batch-size", str(batch), "--arch", args.arch]
        outs = [
            json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            for _ in range(args.repeats)
        ]
        med = {key: statistics.median(o[key] for o in outs) for key in ("before_mib", "after_mib", "seconds")}
        own = [o["after_mib"] - o["before_mib"] for o in outs]
        print(
            f"| {n} | {batch} | {med['before_mib']:.0f} | {med['after_mib']:.0f} "
            f"| {statistics.median(own):.0f} [{min(own):.0f}, {max(own):.0f}] | {med['seconds']:.1f} |"
        )


if __name__ == "__main__":
    main()
