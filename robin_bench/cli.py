"""The ``robin-bench`` command line: argument parsing only; the work happens in :mod:`robin_bench.bench`.

Commands::

    robin-bench run [SUITE] [--dry-run] [--output DIR]     run a suite (default: the packaged demo)
        [--jobs N | --executor ray [--address ADDR]]       independent jobs in N processes or on Ray
        [--threads N]                                      torch threads per job
    robin-bench leaderboard RESULTS... -o leaderboards/NAME  leaderboards from results.csv
        [--format robustbench] [--with-results]            RobustBench cards; a copy of the per-seed evidence
    robin-bench check SUITE --baseline CSV [--tolerance T]  run a suite and compare with a baseline
    robin-bench analyze NAME SUITE [--output DIR] [--repeats R]  run a suite, then analysis NAME of its models

Exit status: 0 success, 1 regression found by ``check``, 2 a user mistake or an environment failure
(disk full, permission denied: one line on stderr, no traceback), 130 interrupted, 141 (128 + SIGPIPE)
when the reader of stdout went away (``robin-bench run --dry-run | head -1``), quietly, as Unix tools do.

Nothing heavy is imported to parse arguments (``import robin_bench`` is lazy): ``--help`` answers
without loading torch, and :func:`robin_bench.threads.prepare_environment` (run by ``import robin_bench``)
reaches the environment before torch reads it.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from robin_bench import threads
from robin_bench.errors import RobinBenchError

if TYPE_CHECKING:
    from robin_bench.bench.config import Suite


def _parser() -> argparse.ArgumentParser:
    from robin_bench import __version__

    p = argparse.ArgumentParser(
        prog="robin-bench",
        description="Benchmark the adversarial robustness of ROBIN and HAR classifiers against flat baselines.",
    )
    p.add_argument("--version", action="version", version=f"robin-bench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite: train or reuse models, attack every cell, write results")
    run.add_argument(
        "suite", nargs="?", default=None, help="suite YAML file (default: the packaged demo suite on embedded digits)"
    )
    run.add_argument("--dry-run", action="store_true", help="print the expanded plan and exit without compute")
    run.add_argument("--output", "-o", default=None, help="output directory (overrides the suite's 'output')")
    run.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        help="local worker processes for independent jobs (model components, cells); default 1",
    )
    run.add_argument(
        "--executor",
        default="local",
        metavar="{local,ray}",
        help="where jobs run: 'local' (this machine, --jobs processes) or 'ray' (needs robin-bench[ray])",
    )
    run.add_argument("--address", default=None, help="Ray cluster address for --executor ray, e.g. 'auto'")
    _add_threads(run)
    _add_plugin(run)

    lb = sub.add_parser("leaderboard", help="build NAME.csv/.md/.html/.json from results files")
    lb.add_argument("results", nargs="+", help="results.csv files of finished runs")
    lb.add_argument("-o", "--output", required=True, help="output prefix, e.g. leaderboards/demo")
    lb.add_argument(
        "--format",
        choices=["robin-bench", "robustbench"],
        default="robin-bench",
        help="'robustbench' also writes RobustBench model cards under NAME/robustbench/",
    )
    lb.add_argument(
        "--with-results",
        action="store_true",
        help="also copy the per-seed results and per-sample flags under NAME/results/, "
        "so the leaderboard can be recomputed from the committed files",
    )

    check = sub.add_parser("check", help="run a suite and exit 1 when clean or robust accuracy fell below a baseline")
    check.add_argument("suite", help="suite YAML file")
    check.add_argument("--baseline", required=True, help="baseline results or leaderboard CSV")
    check.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="allowed drop in clean and robust accuracy (fraction); default: beyond the confidence interval",
    )
    check.add_argument("--output", "-o", default=None, help="output directory (overrides the suite's 'output')")
    _add_threads(check)
    _add_plugin(check)

    analyze = sub.add_parser("analyze", help="run a suite, then one analysis of its models (robin_bench.analysis)")
    analyze.add_argument("name", help="coherence, boundary, complexity, two_stage, transfer, attack_sweep, convergence")
    analyze.add_argument("suite", help="suite YAML file")
    analyze.add_argument("--output", "-o", default=None, help="output directory (overrides the suite's 'output')")
    analyze.add_argument(
        "--repeats",
        "-r",
        type=int,
        default=None,
        metavar="R",
        help="class orderings of 'complexity' (the paper: 20; default: robin_bench.analysis's, 5)",
    )
    _add_threads(analyze)
    _add_plugin(analyze)
    return p


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not an integer >= 1")
    return value


def _add_plugin(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--plugin",
        "-p",
        action="append",
        default=[],
        metavar="MODULE",
        help="import plugin MODULE (a dotted module name, installed or on PYTHONPATH) before reading "
        "the suite; repeatable. Installed plugins (entry-point group robin_bench.plugins) load "
        "anyway",
    )


def _add_threads(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        metavar="N",
        help="torch threads per job (default: $OMP_NUM_THREADS if set, else the cores this process "
        "may use, shared among --jobs workers)",
    )


def _set_threads(n: int | None) -> None:
    """This process's torch threads before an analysis (the runner sets its own per job)."""
    threads.set_threads(threads.default_threads() if n is None else n)


def _load(path: str | None, output: str | None, plugins: Sequence[str]) -> Suite:
    """The validated suite; a mistake in its keys, types or values is reported before torch loads."""
    from robin_bench.bench.config import demo_suite_path, load_suite

    return load_suite(path if path is not None else demo_suite_path(), plugins=plugins).with_output(output)


def _run(args: argparse.Namespace) -> int:
    suite = _load(args.suite, args.output, args.plugin)
    from robin_bench.bench import runner
    from robin_bench.bench.executors import make_executor

    if args.dry_run:
        print(runner.dry_run(suite))
        return 0
    executor = make_executor(args.executor, jobs=args.jobs, address=args.address, device=suite.device)
    try:
        report = runner.run(suite, executor=executor, threads=args.threads)
    finally:
        executor.close()
    print(
        f"{len(report.computed)} cells computed, {len(report.reused)} reused, "
        f"{len(report.trained)} models trained in {report.seconds:.1f}s; results in {report.results_csv}"
    )
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from robin_bench.bench import leaderboard

    written = leaderboard.build(
        args.results, args.output, robustbench=args.format == "robustbench", with_results=args.with_results
    )
    for path in written or []:
        print(path)
    return 0


def _check(args: argparse.Namespace) -> int:
    if args.tolerance is not None and not 0 <= args.tolerance <= 1:
        raise RobinBenchError(f"--tolerance {args.tolerance} is not a fraction in [0, 1]")
    suite = _load(args.suite, args.output, args.plugin)
    from robin_bench.bench import check, runner, store

    store.refuse_overlap([suite.output_dir], [args.baseline])
    baseline = check.snapshot_baseline(args.baseline)
    if suite.name not in set(baseline.rows["suite"]):
        raise RobinBenchError(
            f"baseline {args.baseline} has no rows for suite {suite.name!r}; "
            "compare a run with a baseline of the same suite"
        )
    report = runner.run(suite, threads=args.threads)
    outcome = check.report(report.results_csv, baseline, tolerance=args.tolerance)
    print(outcome.message())
    return 0 if outcome.passed else 1


def _analyze(args: argparse.Namespace) -> int:
    _load(args.suite, args.output, args.plugin)  # its mistakes before torch loads; analysis.run reads it again
    from robin_bench import analysis

    extra = {} if args.repeats is None else {"repeats": args.repeats}
    _set_threads(args.threads)
    from robin_bench.plugins import load_plugins

    load_plugins(args.plugin)
    for path in analysis.run(args.name, args.suite, args.output, **extra):
        print(path)
    return 0


# Failures of the environment rather than of robin-bench: one line on stderr, exit 2, like a user mistake.
_ENVIRONMENT_ERRNOS: dict[int | None, str] = {
    errno.ENOSPC: "free some space and rerun the same command to resume",
    errno.EDQUOT: "free some quota and rerun the same command to resume",
    errno.EFBIG: "write to a file system that allows larger files",
    errno.EACCES: "check the permissions or choose another --output",
    errno.EPERM: "check the permissions or choose another --output",
    errno.EROFS: "choose an --output on a writable file system",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "check the path",
    errno.EISDIR: "give a file, not a folder",
    errno.ENAMETOOLONG: "choose a shorter path",
}


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _describe(e: OSError) -> str:
    files = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
    where = f": {files}" if files else ""
    return f"{e.strerror or e}{where}; {_ENVIRONMENT_ERRNOS[e.errno]}"


def _stderr(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:  # stderr itself is gone: the exit status still tells
        pass


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that Python's flush at exit does not fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (e.g. captured by a test)
        pass


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit:  # --help, --version or a usage error: argparse has written its text
        sys.stdout.flush()
        raise
    commands = {"run": _run, "leaderboard": _leaderboard, "check": _check, "analyze": _analyze}
    try:
        status = commands[args.command](args)
    except RobinBenchError as e:
        _stderr(f"robin-bench: error: {_one_line(str(e))}")
        return 2
    except OSError as e:
        if isinstance(e, BrokenPipeError) or e.errno not in _ENVIRONMENT_ERRNOS:
            raise
        _stderr(f"robin-bench: error: {_one_line(_describe(e))}")
        return 2
    sys.stdout.flush()
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``robin-bench``; returns the exit status (0 ok, 1 regression, 2 user mistake, 130
    interrupted, 141 stdout closed by its reader)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        _stderr("robin-bench: interrupted; rerun the same command to resume")
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 141


if __name__ == "__main__":
    sys.exit(main())
