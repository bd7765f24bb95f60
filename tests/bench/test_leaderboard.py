"""Leaderboard: ranking, baseline comparisons with McNemar, md/html/json outputs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robin_bench.bench import leaderboard, results, store
from robin_bench.bench.stats import mcnemar_exact
from robin_bench.errors import RobinBenchError

from .synthetic_results import copy_run, write_run


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("lb")
    csv = write_run(root / "run")
    return csv, leaderboard.build([csv], root / "boards" / "demo")


def test_build_writes_every_file(built: tuple[Path, list[Path]]) -> None:
    csv, written = built
    names = [p.name for p in written]
    assert names[:3] == ["demo.csv", "demo.md", "demo.html"]
    assert sorted(written[3:]) == [
        leaderboard.record_path(csv.parents[1] / "boards" / "demo", "demo", m) for m in ("har", "mc", "robin")
    ]
    assert all(p.is_file() for p in written)


def test_csv_is_ranked_by_worst_case_robust_accuracy(built: tuple[Path, list[Path]]) -> None:
    csv, written = built
    board = leaderboard.read(written[0])
    assert list(board.columns) == leaderboard.COLUMNS
    src = results.read(csv)
    worst = src[src["attack"] == "worst_case"]
    assert len(board) == len(worst) == 9
    for _, g in board.groupby(leaderboard.GROUP):
        assert list(g["robust_acc"]) == sorted(g["robust_acc"], reverse=True)
        assert g["rank"].iloc[0] == 1
        for _, r in g.iterrows():  # ties share a rank: 1 + number of strictly better rows
            assert r["rank"] == 1 + (g["robust_acc"] > r["robust_acc"]).sum()
    assert board["robust_acc"].dtype == np.float64  # numbers, never percent strings
    assert ((board["robust_acc"] >= 0) & (board["robust_acc"] <= 1)).all()


def test_baseline_difference_and_mcnemar_from_flags(built: tuple[Path, list[Path]]) -> None:
    csv, written = built
    board = leaderboard.read(written[0])
    assert (board[board["kind"] == "flat"]["baseline"] == "").all()
    assert board[board["kind"] == "flat"]["mcnemar_p"].isna().all()
    row = board[(board["model"] == "robin") & (board["eps"] == 0.2)].iloc[0]
    base = board[(board["model"] == "mc") & (board["eps"] == 0.2)].iloc[0]
    assert row["baseline"] == "mc"
    assert row["robust_acc_diff"] == pytest.approx(row["robust_acc"] - base["robust_acc"])
    fdir = store.flags_dir_for(csv)
    a = store.load_flags(fdir, store.CellId("demo", "robin", "Linf", 0.2, "fine").key)
    b = store.load_flags(fdir, store.CellId("demo", "mc", "Linf", 0.2, "fine").key)
    assert row["mcnemar_p"] == pytest.approx(mcnemar_exact(a.robust, b.robust))
    assert row["mcnemar_p"] < 0.01  # synthetic ROBIN survives a strict superset of the baseline's samples
    ca = store.load_flags(fdir, store.CellId("demo", "robin", "Linf", 0.2, "coarse").key)
    cb = store.load_flags(fdir, store.CellId("demo", "mc", "Linf", 0.2, "coarse").key)
    assert row["coarse_mcnemar_p"] == pytest.approx(mcnemar_exact(ca.robust, cb.robust))
    assert row["coarse_robust_acc_diff"] == pytest.approx(row["coarse_robust_acc"] - base["coarse_robust_acc"])


def test_rows_without_their_flags_are_refused(tmp_path: Path) -> None:
    csv = write_run(tmp_path / "run")
    for p in store.flags_dir_for(csv).glob("demo__robin__*.npz"):
        p.unlink()
    with pytest.raises(RobinBenchError, match=r"results.csv:\d+: no per-sample flags .* robin Linf") as e:
        leaderboard.build([csv], tmp_path / "demo")
    assert "\n" not in str(e.value) and not (tmp_path / "demo.csv").exists()


def test_baseline_prefers_matching_flat_model(tmp_path: Path) -> None:
    csv = write_run(tmp_path / "run")
    other = copy_run(csv, tmp_path / "other" / "results.csv", {"mc": "aa_other"})
    results.write(other, results.read(other).assign(arch="cnn2").to_dict("records"))
    df = results.read(csv)
    results.write(csv, [*df.to_dict("records"), *results.read(other).to_dict("records")])
    shutil.copytree(store.flags_dir_for(other), store.flags_dir_for(csv), dirs_exist_ok=True)
    board = leaderboard.read(leaderboard.build([csv], tmp_path / "demo")[0])
    assert set(board[board["kind"] != "flat"]["baseline"]) == {"mc"}  # same arch wins over the first name


def test_markdown_is_percent_and_grouped(built: tuple[Path, list[Path]]) -> None:
    md = built[1][1].read_text()
    assert md.count("## digits · Linf · eps = ") == 3
    board = leaderboard.read(built[1][0])
    r = board.iloc[0]
    assert f"| {r['rank']} | {r['model']} | {r['kind']} |" in md
    assert leaderboard.format_pct(r["robust_acc"]) in md


def test_html_is_sortable_and_self_contained(built: tuple[Path, list[Path]]) -> None:
    page = built[1][2].read_text()
    assert "<script>" in page and "function sortBy" in page and page.count('onclick="sortBy(this)"') > 10
    assert not re.search(r"(src|href)\s*=", page) and "http" not in page  # no network resources
    assert page.count("<tr>") == 3 + 9  # a header row per (dataset, norm, eps, criterion) table
    r = leaderboard.read(built[1][0]).iloc[0]
    shown = f'title="{r["ci_method"]}" data-v="{r["robust_acc"]}">{leaderboard.format_pct(r["robust_acc"])}<'
    assert shown in page  # raw numbers to sort by, percent shown
    assert page.count("<h2>digits · Linf · eps = ") == 3


def test_json_records_have_fixed_schema_and_numbers(built: tuple[Path, list[Path]]) -> None:
    board = leaderboard.read(built[1][0])
    for p in built[1][3:]:
        rec = json.loads(p.read_text())
        assert list(rec) == leaderboard.RECORD_KEYS
        assert len(rec["evaluations"]) == 3
        for ev in rec["evaluations"]:
            assert list(ev) == leaderboard.EVALUATION_KEYS
            assert isinstance(ev["robust_acc"], float) and isinstance(ev["n"], int)
            assert ev["robust_acc_ci"][0] <= ev["robust_acc"] <= ev["robust_acc_ci"][1]
            assert set(ev["attacks"]) == {"pgd", "cw"}
            row = board[(board["model"] == rec["model"]) & (board["eps"] == ev["eps"])].iloc[0]
            assert ev["rank"] == row["rank"] and ev["robust_acc"] == pytest.approx(row["robust_acc"])
        if rec["kind"] == "flat":
            assert all(ev["baseline"] is None and ev["mcnemar_p"] is None for ev in rec["evaluations"])


def test_format_helpers() -> None:
    assert leaderboard.format_pct(0.53125) == "53.1" and leaderboard.format_pct(float("nan")) == "-"
    assert leaderboard.format_eps(8 / 255) == "8/255" and leaderboard.format_eps(0.2) == "0.2"
    assert leaderboard.format_eps(0.0) == "0" and leaderboard.format_diff(-0.05) == "-5.0"
    assert leaderboard.format_p(3e-6) == "<1e-4" and leaderboard.format_p(0.0625) == "0.0625"


def test_same_model_in_two_files_is_refused(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a")
    b = write_run(tmp_path / "b")
    with pytest.raises(RobinBenchError, match="several results files"):
        leaderboard.build([a, b], tmp_path / "x")


def test_two_suites_combine(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a")
    b = write_run(tmp_path / "b", suite="other", seed=1)
    board = pd.read_csv(leaderboard.build([a, b], tmp_path / "both")[0])
    assert set(board["suite"]) == {"demo", "other"} and len(board) == 18
    assert (board[board["kind"] != "flat"]["baseline"] == "mc").all()


@pytest.mark.parametrize("bad", ["inf", "nan", "-0.1"])
def test_bad_eps_in_results_is_one_line_error(tmp_path: Path, bad: str) -> None:
    csv = write_run(tmp_path / "run", eps=(0.1,))
    lines = csv.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("eps")] = bad
    csv.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    with pytest.raises(RobinBenchError, match=r"results.csv:2: column 'eps' holds") as err:
        leaderboard.build([csv], tmp_path / "out")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out.csv").exists()


def test_record_names_are_unambiguous(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", suite="a__b", eps=(0.1,))
    b = write_run(tmp_path / "b", suite="a", eps=(0.1,))
    a = copy_run(a, tmp_path / "a2" / "results.csv", {"mc": "c", "robin": "robin", "har": "har"})
    b = copy_run(b, tmp_path / "b2" / "results.csv", {"mc": "b__c", "robin": "robin", "har": "har"})
    written = leaderboard.build([a, b], tmp_path / "lb" / "x")
    recs = written[3:]
    assert len(recs) == len(set(recs)) == 6
    one = json.loads(leaderboard.record_path(tmp_path / "lb" / "x", "a__b", "c").read_text())
    two = json.loads(leaderboard.record_path(tmp_path / "lb" / "x", "a", "b__c").read_text())
    assert (one["suite"], one["model"], two["suite"], two["model"]) == ("a__b", "c", "a", "b__c")


def test_escape_name_is_injective_and_file_safe() -> None:
    names = ["a__b", "a_b", "a b", "a/b", "a%2Fb", ".hidden", "..", "", "é", "a.b-c"]
    escaped = [leaderboard.escape_name(n) for n in names]
    assert len(set(escaped)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9.%-]+", e) and not e.startswith(".") for e in escaped)
    assert leaderboard.escape_name("a.b-c") == "a.b-c"


def test_read_refuses_malformed_accuracies(built: tuple[Path, list[Path]], tmp_path: Path) -> None:
    raw = pd.read_csv(built[1][0], dtype=str, keep_default_na=False)
    for bad in ["", "nan", "-0.2", "abc", "1.5"]:
        path = tmp_path / "bad.csv"
        raw.assign(robust_acc=[bad, *raw["robust_acc"][1:]]).to_csv(path, index=False)
        with pytest.raises(RobinBenchError, match=r"bad.csv:2: column 'robust_acc' holds"):
            leaderboard.read(path)
