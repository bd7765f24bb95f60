"""Cold vs warm run of a suite (default: the packaged demo): the demo's wall time and the warm/cold ratio.

Cold: a fresh output directory (every model trained, every cell attacked). Warm: the same command
again on the finished directory (models and cells reused). Each is timed twice: the runner alone
(``runner.run`` in this process) and the whole command (``robin-bench run`` in a fresh Python
process, imports included). Targets: demo under 120 s cold; warm under 5% of cold.

With ``--readme`` (the demo only) it also rewrites README.md's generated block ``demo-time``
(:mod:`benchmarks.docblocks`), the one place the documents give the demo's time.

Usage::

    python benchmarks/perf/suite_speed.py [SUITE] [--threads 1] [--keep DIR]
    python benchmarks/perf/suite_speed.py --readme
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def command_seconds(suite: str | None, out: Path, threads: int) -> float:
    """Wall time of ``robin-bench run`` in a fresh process."""
    code = (
        "import sys, torch; torch.set_num_threads(int(sys.argv[1])); from robin_bench.cli import main; "
        "sys.exit(main(sys.argv[2:]))"
    )
    args = [sys.executable, "-c", code, str(threads), "run", *([suite] if suite else []), "--output", str(out)]
    t0 = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("suite", nargs="?", default=None, help="suite file (default: the packaged demo)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--keep", default=None, help="keep the output here instead of a temp folder")
    p.add_argument("--readme", action="store_true", help="rewrite README.md's block demo-time (the demo only)")
    args = p.parse_args()
    if args.readme and args.suite:
        p.error("--readme times the packaged demo; give no SUITE")
    load = os.getloadavg()[0]
    torch.set_num_threads(args.threads)

    import robin_bench
    from robin_bench.bench import runner
    from robin_bench.bench.config import demo_suite_path, load_suite

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="suite_speed."))
    suite_path = args.suite or str(demo_suite_path())
    results = {}
    for mode in ("runner", "command"):
        out = root / mode
        shutil.rmtree(out, ignore_errors=True)
        if mode == "runner":
            suite = load_suite(suite_path).with_output(out)
            with open(os.devnull, "w") as quiet:
                cold = runner.run(suite, log=quiet, progress=False).seconds
                warm = runner.run(suite, log=quiet, progress=False).seconds
        else:
            cold = command_seconds(args.suite, out, args.threads)
            warm = command_seconds(args.suite, out, args.threads)
        results[mode] = (cold, warm)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)

    print(
        f"suite {Path(suite_path).name}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {args.threads} torch thread(s); Python {platform.python_version()}, "
        f"torch {torch.__version__}, robin-bench {robin_bench.__version__}"
    )
    print("| measured | cold (s) | warm (s) | warm / cold |")
    print("|---|---|---|---|")
    for mode, (cold, warm) in results.items():
        what = "runner.run (in process)" if mode == "runner" else "`robin-bench run` (fresh process)"
        print(f"| {what} | {cold:.1f} | {warm:.2f} | {warm / cold:.3f} |")
    if args.readme:
        from benchmarks.docblocks import cpu, replace_block

        (runner_cold, _), (cold, warm) = results["runner"], results["command"]
        replace_block(
            "README.md",
            "demo-time",
            "benchmarks/perf/suite_speed.py",
            (
                f"The demo's time where this line was written (`python benchmarks/perf/suite_speed.py --readme`): "
                f"`robin-bench run` {cold:.0f} s in a fresh process, imports included (the runner alone "
                f"{runner_cold:.0f} s); a rerun {warm:.1f} s. {cpu()}, {len(os.sched_getaffinity(0))} cores, load "
                f"{load:.1f} before the run, {args.threads} torch thread; Python {platform.python_version()}, "
                f"torch {torch.__version__}, robin-bench {robin_bench.__version__}."
            ),
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
