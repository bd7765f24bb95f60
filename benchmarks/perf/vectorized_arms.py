"""Vectorized ROBIN arms: forward+backward throughput of the per-arm loop vs one vmap-ed module.

For each architecture, builds a ROBIN of ``--arms`` untrained one-vs-all arms (eval mode), and times
a forward pass plus a backward pass to the input (one attack step) with the per-arm loop
(``RobinClassifier``) and with ``VectorizedRobin`` (``torch.func.vmap`` over the stacked weights),
on the same inputs. Prints samples/s for both and the speed-up (loop seconds / vmap seconds; > 1
means vmap is faster). Runs on CUDA when available, else CPU with ``--threads`` threads. Target on a
GPU: speed-up >= 3 for 10 cnn2 arms.

Usage::

    python benchmarks/perf/vectorized_arms.py                       # cnn2 and resnet18, default batches
    python benchmarks/perf/vectorized_arms.py --arch cnn2 --batch 256 --repeats 20
"""

from __future__ import annotations

import argparse
import os
import platform

import torch

from robin_bench.models import RobinClassifier, archs
from robin_bench.models.vectorized import VectorizedRobin, time_forward_backward

IN_SHAPES = {
    "mlp": (1, 28, 28),
    "cnn2": (1, 28, 28),
    "myrtle": (3, 32, 32),
    "resnet10": (3, 32, 32),
    "resnet18": (3, 32, 32),
    "resnet50": (3, 32, 32),
}
DEFAULT_BATCH = {"cpu": {"cnn2": 32, "resnet18": 4}, "cuda": {"cnn2": 256, "resnet18": 128}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["cnn2", "resnet18"], choices=sorted(IN_SHAPES))
    parser.add_argument("--arms", type=int, default=10)
    parser.add_argument("--batch", type=int, default=None, help="batch size; default per device and arch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (ignored on CUDA)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    else:
        where = f"{platform.machine()} CPU, {os.cpu_count()} cores, {args.threads} thread(s)"
    print(
        f"torch {torch.__version__}, python {platform.python_version()}, {where}; {args.arms} arms, eval mode, "
        f"forward + backward to the input, median of {args.repeats} after {args.warmup} warm-up passes"
    )
    print("| arch | input | batch | loop samples/s | vmap samples/s | speed-up (loop s / vmap s) |")
    print("|---|---|---|---|---|---|")
    for arch in args.arch:
        shape = IN_SHAPES[arch]
        batch = args.batch or DEFAULT_BATCH[device.type].get(arch, 32)
        torch.manual_seed(0)
        robin = RobinClassifier([archs.build(arch, in_shape=shape, n_outputs=1) for _ in range(args.arms)])
        robin = robin.to(device).eval()
        fused = VectorizedRobin.from_robin(robin)
        x = torch.rand(batch, *shape, device=device)
        loop_s = time_forward_backward(robin, x, repeats=args.repeats, warmup=args.warmup)
        vmap_s = time_forward_backward(fused, x, repeats=args.repeats, warmup=args.warmup)
        print(
            f"| {arch} | {'x'.join(map(str, shape))} | {batch} | {batch / loop_s:.1f} | {batch / vmap_s:.1f} "
            f"| {loop_s / vmap_s:.2f} |"
        )


if __name__ == "__main__":
    main()
