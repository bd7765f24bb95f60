"""Slowdown of a small demo-like workload when other processes compete for the cores, per thread setting.

The ``mini`` workload is a miniature of the demo suite's flat model: PGD-AT training of a digits MLP
(``--n-train`` images, Linf eps 0.1, 3 steps, batch 32, ``--epochs`` epochs) and a 10-step PGD
evaluation of ``--n-test`` test images. The ``demo`` workload is the packaged demo suite itself
(``bench.runner.run`` into a fresh folder: 3 models trained, 9 cells attacked). Each setting runs
in a fresh process (OpenMP reads its environment once, when torch loads), first on its own and
then next to ``--busy`` competing processes that each spin one core (``while True: pass``, bounded
in time and killed at the end). Each figure is the workload's own seconds (torch import and data
loading excluded); a contended run that exceeds ``--cap`` times its idle time is stopped and
reported as ``>cap``. The 1-minute load average (``os.getloadavg``) before each run is printed with
it, since other jobs on a shared machine move every figure.

Settings:
    torch      torch's defaults: as many threads as cores, OpenMP's spin-waiting threads; torch is imported
               before robin_bench and robin-bench's loop protection is switched off (what a user's script
               got before :func:`robin_bench.threads.own_loop`).
    library    a user's script that imports torch before robin_bench and chooses no threads: torch's
               defaults, with robin-bench's own loops (``rb.evaluate``, training) under
               :func:`robin_bench.threads.own_loop`.
    passive    as many threads as available cores, ``OMP_WAIT_POLICY=PASSIVE`` (threads sleep when idle).
    one        one thread.
    robin      what ``robin-bench run`` sets when the user sets nothing:
               :func:`robin_bench.threads.prepare_environment`, then ``default_threads()`` threads.

Usage::

    python benchmarks/perf/contention.py
    python benchmarks/perf/contention.py --settings torch robin --repeats 3
    python benchmarks/perf/contention.py --workload demo --settings robin
    python benchmarks/perf/contention.py --settings torch library --epochs 4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = ("torch", "library", "passive", "one", "robin")
_THREAD_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS", "GOMP_SPINCOUNT")


def workload(n_train: int, n_test: int, epochs: int) -> float:
    """Seconds of PGD-AT training plus a PGD evaluation of a digits MLP (seeded)."""
    import torch

    import robin_bench as rb

    torch.manual_seed(0)
    x, y = rb.datasets.load("digits", split="train", n_examples=n_train)
    xt, yt = rb.datasets.load("digits", split="test", n_examples=n_test)
    net = rb.archs.build("mlp", in_shape=(1, 8, 8), n_outputs=10)
    cfg = rb.train.TrainConfig(
        epochs=epochs, batch_size=32, lr=0.05, objective="pgd_at", eps=0.1, steps=3, progress=False
    )
    start = time.perf_counter()
    rb.train.train_flat(net, x, y, cfg)
    rb.evaluate(net.eval(), xt, yt, [rb.attacks.PGD(net, norm="Linf", eps=0.1, steps=10)])
    return time.perf_counter() - start


def demo() -> float:
    """Seconds of a full run of the packaged demo suite into a fresh temporary folder."""
    import tempfile

    from robin_bench.bench import runner
    from robin_bench.bench.config import demo_suite_path, load_suite

    with tempfile.TemporaryDirectory() as tmp:
        suite = load_suite(demo_suite_path()).with_output(tmp)
        start = time.perf_counter()
        runner.run(suite, progress=False)
        return time.perf_counter() - start


def _child(setting: str, args: argparse.Namespace) -> None:
    if setting in ("torch", "library"):
        import torch  # before robin_bench, which would set OMP_WAIT_POLICY; torch's own thread defaults
    from robin_bench import threads  # light: no torch

    if setting == "torch":
        threads.own_loop = contextlib.nullcontext  # type: ignore[assignment]
    elif setting == "robin":
        threads.prepare_environment()
        threads.set_threads(threads.default_threads())
    elif setting in ("passive", "one"):
        if setting == "passive":
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        threads.set_threads(threads.available_cores() if setting == "passive" else 1)
    import torch

    seconds = demo() if args.workload == "demo" else workload(args.n_train, args.n_test, args.epochs)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "threads": torch.get_num_threads(),
                "wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            }
        )
    )


def _busy(n: int, limit_s: float) -> list[subprocess.Popen[bytes]]:
    code = f"import time\nend = time.monotonic() + {limit_s}\nwhile time.monotonic() < end: pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


def measure(setting: str, args: argparse.Namespace, *, busy: int, timeout: float | None) -> dict[str, object]:
    """One run of ``setting`` in a fresh process next to ``busy`` spinning processes."""
    env = {k: v for k, v in os.environ.items() if k not in _THREAD_VARS}
    cmd = [
        sys.executable,
        __file__,
        "--child",
        setting,
        "--workload",
        args.workload,
        "--n-train",
        str(args.n_train),
        "--n-test",
        str(args.n_test),
        "--epochs",
        str(args.epochs),
    ]
    load = os.getloadavg()[0]
    competitors = _busy(busy, (timeout or 600) + 60) if busy else []
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=True)
        row: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        row = {"seconds": None}
    finally:
        for p in competitors:
            p.kill()
            p.wait()
    return {**row, "load": load}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    ap.add_argument("--busy", type=int, default=2, help="competing spinning processes; 0: idle runs only (2)")
    ap.add_argument("--repeats", type=int, default=1, help="idle/contended pairs per setting; medians are shown")
    ap.add_argument("--cap", type=float, default=15.0, help="stop a contended run beyond this times idle (15)")
    ap.add_argument("--workload", choices=("mini", "demo"), default="mini", help="see above (mini)")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--child", choices=SETTINGS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args)
        return

    import torch

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"({len(os.sched_getaffinity(0))} available), Python {platform.python_version()}, "
        f"torch {torch.__version__}; workload: "
        + (
            "the packaged demo suite"
            if args.workload == "demo"
            else f"PGD-AT {args.epochs} epochs on {args.n_train} digits + PGD-10 on {args.n_test}"
        )
        + f"; {args.busy} competing spinning processes"
    )
    print(f"{'setting':<8} {'threads':>7} {'idle s':>7} {'load':>5} {'contended s':>11} {'load':>5} {'ratio':>6}")
    for setting in args.settings:
        idle_s, busy_s, ratios = [], [], []
        for _ in range(args.repeats):
            idle = measure(setting, args, busy=0, timeout=None)
            cap_s = args.cap * float(idle["seconds"])  # type: ignore[arg-type]
            if args.busy == 0:
                print(
                    f"{setting:<8} {idle['threads']!s:>7} {float(idle['seconds']):>7.2f} {float(idle['load']):>5.2f}",
                    flush=True,
                )
                continue
            contended = measure(setting, args, busy=args.busy, timeout=cap_s)
            seconds = contended["seconds"]
            ratio = f">{args.cap:.0f}" if seconds is None else f"{float(seconds) / float(idle['seconds']):.2f}"
            print(
                f"{setting:<8} {idle['threads']!s:>7} {float(idle['seconds']):>7.2f} {float(idle['load']):>5.2f} "
                f"{'>' + format(cap_s, '.1f') if seconds is None else format(float(seconds), '.2f'):>11} "
                f"{float(contended['load']):>5.2f} {ratio:>6}",
                flush=True,
            )
            idle_s.append(float(idle["seconds"]))
            busy_s.append(cap_s if seconds is None else float(seconds))
            ratios.append(busy_s[-1] / idle_s[-1])
        if args.repeats > 1 and args.busy:
            print(
                f"{setting:<8} median: idle {statistics.median(idle_s):.2f} s, contended "
                f"{statistics.median(busy_s):.2f} s, ratio {statistics.median(ratios):.2f}",
                flush=True,
            )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
