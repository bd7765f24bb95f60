"""Leaderboards: seeds aggregated as replicates, ranked tables (csv, md, html), JSON records, RobustBench cards.

``build([run/results.csv, ...], "leaderboards/NAME")`` writes::

    NAME.csv                             one row per (suite, dataset, norm, eps, criterion, model), over its seeds
    NAME.md                              one ranked table per (dataset, norm, eps, criterion), percentages
    NAME.html                            the same, one sortable table per group, readable at 1400 px wide
    NAME/records/<suite>/<model>.json    one record per model (:data:`RECORD_KEYS`, :data:`EVALUATION_KEYS`)
    NAME/results/<suite>/results.csv     with ``with_results=True``: the per-seed rows, and ``flags/`` beside
                                         them, from which the leaderboard is recomputed (:func:`copy_results`)

and, with ``robustbench=True`` (``robin-bench leaderboard --format robustbench``), RobustBench model
cards under ``NAME/robustbench/<dataset>/<norm>/`` (:func:`write_robustbench`).
Suite and model names in file names are escaped by :func:`escape_name`, so two different (suite, model)
pairs never share a file.

**Seeds are replicates.** A model name trained with several seeds has one results row per seed (column
``seed``; a results file without it is one replicate per model). A leaderboard row aggregates the
``worst_case`` rows of its seeds: mean clean and robust accuracy, per-seed min and max, ``n_seeds`` and
a 95% interval of the mean robust accuracy: the t interval over the per-seed accuracies with two or
more seeds (``ci_method = "t-seeds"``: it covers training randomness), Wilson's interval on the ``n``
samples with one seed (``ci_method = "wilson-1-seed"``: it covers test-sample noise only).

**Comparisons** (:func:`compare_replicates`): each ROBIN/HAR row is compared with a flat baseline of the
same suite, dataset, norm, eps and criterion (the one sharing most of arch, train_objective, eps_train
and attack set, then the first by name), paired by seed and by sample:

* ``robust_acc_diff``: mean over the seeds both have of (model - baseline), with the t interval over
  those per-seed differences (``diff_ci_method = "paired-t-seeds"``); with one shared seed,
  Newcombe's paired interval on the per-sample flags (``"newcombe-paired"``);
* ``mcnemar_p``: the exact McNemar test pooled over the shared seeds on the per-sample worst-case
  flags (:func:`robin_bench.bench.stats.mcnemar_pooled`, whose docstring says why this test);
* the ``coarse_`` columns: the same for coarse robust accuracy and the coarse flags.

Flags are read from ``flags/`` next to each results.csv (:class:`robin_bench.bench.store.CellId`), and every
row is checked against them when read (:func:`robin_bench.bench.store.verify_results`).

**Ranking**: within (dataset, norm, eps, criterion) by mean robust accuracy (ties share a rank). Each
row is compared with the next-ranked one the same way (paired when both are in one suite, else a
Welch interval over seeds or Newcombe's interval for independent samples); ``distinct_from_next`` is
``"no"`` when that difference's interval contains 0: the two ranks are not statistically
distinguishable, and the md/html pages say so for the top ranks.

**Verification** (suites with ``verify:``): a row whose seeds were all verified carries ``verified_acc`` (mean over
seeds of the share of samples proven robust, a lower bound of ``robust_acc``) and ``unresolved`` (samples neither
proven nor broken, total over seeds), and their coarse versions; the md and html tables of a group with such rows
show the interval [verified, attacked] and the unresolved count beside the robust accuracy. A verified ROBIN/HAR
row whose baseline was verified too carries ``verified_acc_diff`` (and ``coarse_verified_acc_diff``): the
comparison above on the per-sample proofs instead of the attacked flags, with its interval and McNemar p-value
(``verified_mcnemar_p``). Rows without verification render as before.

**Modules.** :mod:`.columns` declares every column once; :mod:`.table` loads, aggregates, compares and ranks;
:mod:`.render` writes the md and html pages (formatting happens there and nowhere else; :mod:`summary` uses its
``format_*`` helpers); :mod:`.records` the JSON records; :mod:`.robustbench` the RobustBench cards; :mod:`.paths`
names the files; :mod:`.files` reads ``NAME.csv`` back and builds the whole leaderboard.
"""

from robin_bench.bench.leaderboard.columns import (
    COLUMNS,
    EVALUATION_KEYS,
    GROUP,
    IDENTITY,
    RECORD_KEYS,
)
from robin_bench.bench.leaderboard.files import build, read
from robin_bench.bench.leaderboard.paths import (
    RESULTS_DIRNAME,
    ROBUSTBENCH_DIRNAME,
    escape_name,
    record_path,
    results_path,
)
from robin_bench.bench.leaderboard.records import records
from robin_bench.bench.leaderboard.render import (
    PROOF_EXPLANATION,
    format_diff,
    format_eps,
    format_interval,
    format_p,
    format_pct,
    has_proofs,
    indistinguishable_top,
    markdown_table,
    proof_cells,
    to_html,
    to_markdown,
)
from robin_bench.bench.leaderboard.robustbench import (
    ROBUSTBENCH_EXTRA_KEY,
    ROBUSTBENCH_KEYS,
    write_robustbench,
)
from robin_bench.bench.leaderboard.table import (
    CI_T,
    CI_WILSON,
    DIFF_NEWCOMBE_PAIRED,
    DIFF_PAIRED_T,
    Replicates,
    _welch,
    aggregate,
    baseline_comparisons,
    compare_replicates,
    load,
    table,
)

__all__ = [
    "CI_T",
    "CI_WILSON",
    "COLUMNS",
    "DIFF_NEWCOMBE_PAIRED",
    "DIFF_PAIRED_T",
    "EVALUATION_KEYS",
    "GROUP",
    "IDENTITY",
    "PROOF_EXPLANATION",
    "RECORD_KEYS",
    "RESULTS_DIRNAME",
    "ROBUSTBENCH_DIRNAME",
    "ROBUSTBENCH_EXTRA_KEY",
    "ROBUSTBENCH_KEYS",
    "Replicates",
    "_welch",
    "aggregate",
    "baseline_comparisons",
    "build",
    "compare_replicates",
    "escape_name",
    "format_diff",
    "format_eps",
    "format_interval",
    "format_p",
    "format_pct",
    "has_proofs",
    "indistinguishable_top",
    "load",
    "markdown_table",
    "proof_cells",
    "read",
    "record_path",
    "records",
    "results_path",
    "table",
    "to_html",
    "to_markdown",
    "write_robustbench",
]
