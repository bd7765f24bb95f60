"""The convergence analysis: curves from training reports, the plateau rule, and ``analyze convergence SUITE``."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from robin_bench.analysis.convergence import summarize_convergence, training_curves
from robin_bench.analysis.run import ANALYSES, run
from robin_bench.errors import RobinBenchError
from tests.bench.tiny_suite import HIERARCHY, MODELS, write_suite

EPOCHS = 6  # > the plateau window (5), so the check runs
VAL = {"epochs": EPOCHS, "val_fraction": 0.25, "val_steps": 1, "objective": "pgd_at", "eps": 0.1, "steps": 1}
TINY = {
    "name": "tiny_convergence",
    "dataset": {"name": "digits", "n_examples": 8, "n_train": 80, "classes": [0, 1, 2, 3]},
    "hierarchy": HIERARCHY,
    "threat_models": [{"norm": "Linf", "eps": [0.1]}],
    "models": [{**m, "train": {**m["train"], **VAL}} for m in MODELS],
    "attacks": [{"attack": "pgd", "kwargs": {"steps": 2}}],
}


def report(name: str, clean: list[float], robust: list[float], n: int) -> dict:
    """A training report dict (``TrainReport.to_dict()``) with the given validation curves."""
    e = len(clean)
    zeros = [0.0] * e
    return {
        "name": name,
        "loss": zeros,
        "clean_loss": zeros,
        "clean_acc": zeros,
        "adv_loss": zeros,
        "adv_acc": zeros,
        "adv_share": [1.0] * e,
        "lr": [0.1] * e,
        "seconds": zeros,
        "images": [0] * e,
        "val_clean_acc": clean,
        "val_robust_acc": robust,
        "val_size": n,
    }


def test_plateau_rule_against_one_standard_error() -> None:
    flat_curve = [0.5, 0.7, 0.80, 0.81, 0.80, 0.81, 0.80]  # last 2 gain 0.81 - 0.81 = 0
    rising = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.70]  # last 2 gain 0.7 - 0.5 = 0.2 > se(0.7, 100) = 0.046
    small = [0.5, 0.6, 0.70, 0.70, 0.70, 0.72, 0.74]  # gain 0.04 <= se(0.74, 100) = 0.0439
    frame = training_curves(
        {
            "flat": [report("flat", flat_curve, flat_curve, 100)],
            "robin": [report("arm 0", flat_curve, flat_curve, 100), report("arm 1", flat_curve, rising, 100)],
            "small": [report("flat", small, small, 100)],
        }
    )
    assert len(frame) == 4 * 7 and list(frame["epoch"][:7]) == list(range(1, 8))
    s = summarize_convergence(frame, window=2).set_index("model")
    assert bool(s.loc["flat", "plateaued"])
    assert not s.loc["robin", "plateaued"]  # one arm still rising: the model has not plateaued
    assert s.loc["robin", "robust_gain"] == pytest.approx(0.2) and s.loc["robin", "clean_gain"] == pytest.approx(0.0)
    assert s.loc["robin", "robust_tolerance"] == pytest.approx(math.sqrt(0.7 * 0.3 / 100))
    assert s.loc["robin", "clean_tolerance"] == pytest.approx(math.sqrt(0.8 * 0.2 / 100))  # 0 - 0.04 on both arms
    assert s.loc["robin", "val_robust_acc"] == pytest.approx((0.80 + 0.70) / 2)
    assert bool(s.loc["small", "plateaued"]) and s.loc["small", "robust_gain"] == pytest.approx(0.04)
    assert summarize_convergence(frame, window=7)["plateaued"].isna().all()  # nothing earlier to compare with
    with pytest.raises(RobinBenchError, match="plateau window=0"):
        summarize_convergence(frame, window=0)


def test_analyze_convergence_on_a_tiny_suite(tmp_path: Path) -> None:
    assert "convergence" in ANALYSES
    suite = write_suite(tmp_path, TINY)
    written = run("convergence", suite)
    assert [p.name for p in written] == [
        "convergence.csv",
        "convergence.png",
        "convergence_summary.csv",
        "convergence.md",
        "summary.md",
    ]
    frame = pd.read_csv(written[0])
    parts = frame.groupby("model")["component"].unique().to_dict()
    assert (
        sorted(parts["robin"]) == [f"arm {i}" for i in range(4)]
        and sorted(parts["har"]) == ["coarse", "fine 0", "fine 1"]
        and list(parts["mc"]) == ["flat"]
    )
    epochs = frame.groupby(["model", "component"])["epoch"].apply(list)
    assert len(epochs) == 1 + 4 + 3 and all(e == list(range(1, EPOCHS + 1)) for e in epochs)
    assert frame[["val_clean_acc", "val_robust_acc"]].notna().all().all()
    assert (frame["val_robust_acc"] <= frame["val_clean_acc"] + 1e-9).all()
    assert set(frame[frame["model"] == "mc"]["val_size"]) == {20}  # a quarter of 80, stratified over 4 classes
    summary = pd.read_csv(written[2])
    assert list(summary["model"]) == ["mc", "robin", "har"] and summary["plateaued"].notna().all()
    assert "## Analysis: Validation accuracy per epoch" in written[-1].read_text()


def test_suite_without_validation_is_refused_before_any_compute(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, {**TINY, "models": MODELS[:1]})
    with pytest.raises(RobinBenchError, match="set train.val_fraction"):
        run("convergence", suite)
    assert not (suite.output_dir / "results.csv").exists(), "refused before any training"
