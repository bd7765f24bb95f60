"""Wall time of ``robin-bench --help``, ``robin-bench SUBCOMMAND --help``, ``run --dry-run`` of the demo and
``run`` of a suite with a typo (a misspelt key: exit 2, reported before torch loads).

Each command runs ``--repeats`` times in a fresh interpreter (``python -m robin_bench.cli``, this
checkout first on the path) and the median wall time is printed with the fastest and slowest run,
next to a bare ``python -c pass`` (the interpreter's own start-up). The 1-minute load average
(``os.getloadavg``) before each command is printed with it: on a shared machine the scheduler, not
robin-bench, sets most of the figure. The targets of issue 11: help under 0.5 s, dry run under 3 s.

Usage::

    python benchmarks/perf/cli_latency.py
    python benchmarks/perf/cli_latency.py --repeats 9 --no-dry-run
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "benchmarks" / "suites" / "demo.yaml"


def wall_times(argv: list[str], repeats: int, env: dict[str, str], status: int = 0) -> list[float]:
    """Seconds of each of ``repeats`` runs of ``python argv`` (output discarded; another exit status than
    ``status`` raises)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, *argv], env=env, cwd=ROOT, capture_output=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != status:
            raise SystemExit(f"{argv}: exit {proc.returncode}, expected {status}: {proc.stderr.decode()}")
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="runs per command; the median is reported (5)")
    ap.add_argument("--no-dry-run", dest="dry_run", action="store_false", help="skip `run --dry-run` of the demo")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cli = ["-m", "robin_bench.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "python -c pass": ["-c", "pass"],
            "robin-bench --help": [*cli, "--help"],
            **{f"robin-bench {c} --help": [*cli, c, "--help"] for c in ("run", "leaderboard", "check", "analyze")},
        }
        if args.dry_run:
            commands["robin-bench run --dry-run (demo)"] = [*cli, "run", "--dry-run", "-o", str(Path(tmp) / "demo")]
        typo = Path(tmp) / "typo.yaml"
        typo.write_text(DEMO.read_text().replace("dataset:", "datset:", 1))
        commands["robin-bench run typo.yaml"] = [*cli, "run", str(typo), "-o", str(Path(tmp) / "typo")]
        print(
            f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores available, "
            f"Python {platform.python_version()}; median of {args.repeats} runs"
        )
        print(f"{'command':<34} {'median s':>8} {'min s':>6} {'max s':>6} {'load':>5}")
        for name, argv in commands.items():
            load = os.getloadavg()[0]
            times = wall_times(argv, args.repeats, env, status=2 if "typo" in name else 0)
            print(
                f"{name:<34} {statistics.median(times):>8.3f} {min(times):>6.3f} {max(times):>6.3f} {load:>5.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
