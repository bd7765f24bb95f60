"""RobustBench model cards: RobustBench's field names, types and value formats, one card per model and threat.

The schema checked here is RobustBench's own (``robustbench/leaderboard/template.py`` documents it and
every ``model_info/<dataset>/<threat_model>/<Name>.json`` follows it), e.g.::

    {"link": "https://arxiv.org/abs/2003.09461", "name": "...", "authors": "...", "additional_data": true,
     "number_forward_passes": 1, "dataset": "cifar10", "venue": "ECCV 2020", "architecture": "ResNet-50",
     "eps": "0.5", "clean_acc": "91.08", "reported": "73.27", "autoattack_acc": "72.91"}

with optional ``footnote`` (str) and ``unreliable`` (bool).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from robin_bench.bench import leaderboard

from .synthetic_results import write_run

STRING_FIELDS = [
    "link",
    "name",
    "authors",
    "dataset",
    "venue",
    "architecture",
    "eps",
    "clean_acc",
    "reported",
    "autoattack_acc",
    "footnote",
]
PERCENT = re.compile(r"^\d{1,3}\.\d{2}$")
EPS = re.compile(r"^(\d+/255|\d+(\.\d+)?(e-?\d+)?)$")


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    root = tmp_path_factory.mktemp("rb")
    csv = write_run(root / "run", eps=(0.0, 0.1, 8 / 255))
    out = root / "lb" / "demo" / leaderboard.ROBUSTBENCH_DIRNAME
    written = leaderboard.build([csv], root / "lb" / "demo", robustbench=True)
    return [p for p in written if p.is_relative_to(out)], out


def test_one_card_per_model_and_threat_in_robustbench_layout(cards: tuple[list[Path], Path]) -> None:
    paths, out = cards
    assert len(paths) == 3 * 3  # 3 models x 3 eps, Linf
    assert {p.parent.relative_to(out).as_posix() for p in paths} == {"digits/Linf"}
    assert "demo_robin_8%2F255.json" in {p.name for p in paths}


def test_cards_follow_robustbench_schema(cards: tuple[list[Path], Path]) -> None:
    board = leaderboard.read(cards[1].parents[1] / "demo.csv")
    for p in cards[0]:
        card = json.loads(p.read_text())
        assert list(card) == [*leaderboard.ROBUSTBENCH_KEYS, leaderboard.ROBUSTBENCH_EXTRA_KEY]
        for k in STRING_FIELDS:
            assert isinstance(card[k], str), k
        assert isinstance(card["additional_data"], bool) and isinstance(card["unreliable"], bool)
        assert isinstance(card["number_forward_passes"], int) and not isinstance(card["number_forward_passes"], bool)
        assert PERCENT.match(card["clean_acc"]) and PERCENT.match(card["autoattack_acc"]), card
        assert EPS.match(card["eps"]), card["eps"]
        extra = card[leaderboard.ROBUSTBENCH_EXTRA_KEY]
        row = board[
            (board["model"] == extra["model"])
            & (board["criterion"] == "fine")
            & (board["eps"].map(leaderboard.format_eps) == card["eps"])
        ].iloc[0]
        assert card["autoattack_acc"] == f"{100 * row['robust_acc']:.2f}"
        assert card["clean_acc"] == f"{100 * row['clean_acc']:.2f}"
        assert extra["attack_set"] == row["attack_set"] and extra["criterion"] == "fine"
        assert extra["seeds"] == [0] and extra["n"] == row["n"]
        assert set(extra["criteria"]) == {"fine"}
        assert row["attack_set"] in card["footnote"]


def test_card_file_names_never_collide(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", suite="a__b", eps=(0.1,))
    b = write_run(tmp_path / "b", suite="a", eps=(0.1,))
    board = leaderboard.table(leaderboard.load([a, b]))
    board.loc[(board["suite"] == "a__b") & (board["model"] == "mc"), "model"] = "c"
    board.loc[(board["suite"] == "a") & (board["model"] == "mc"), "model"] = "b__c"
    paths = leaderboard.write_robustbench(board, tmp_path / "cards")
    assert len(paths) == len(set(paths)) == len(board) == 6
    names = {p.name for p in paths}
    assert {"a%5F%5Fb_c_0.1.json", "a_b%5F%5Fc_0.1.json"} <= names
