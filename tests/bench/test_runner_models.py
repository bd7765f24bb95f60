"""rb.bench.run(suite, models={...}): in-memory modules through the same plan, cache and rows as the command line."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

import robin_bench as rb
from robin_bench.bench.executors import make_executor
from robin_bench.models import archs


def suite_file(tmp_path: Path, weights: Path) -> Path:
    suite = {
        "name": "mem",
        "dataset": {"name": "digits", "n_examples": 24, "classes": [0, 1, 2]},
        "threat_models": [{"norm": "Linf", "eps": [0.1]}],
        "models": [{"name": "mine", "kind": "flat", "arch": "mlp", "weights": str(weights)}],
        "attacks": [{"attack": "pgd", "kwargs": {"steps": 3}}, {"attack": "fgsm"}],
        "sanity_check": False,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def test_the_same_weights_in_memory_give_the_same_rows(tmp_path: Path) -> None:
    net = archs.ARCHS.get("mlp")((1, 8, 8), 3)
    torch.save(net.state_dict(), tmp_path / "flat.pt")
    path = suite_file(tmp_path, tmp_path / "flat.pt")
    log = io.StringIO()
    files = rb.bench.run(rb.bench.load_suite(path).with_output(tmp_path / "a"), log=log)
    assert "loaded mine (flat mlp) from your weights: clean accuracy" in log.getvalue()
    module = archs.build("mlp", in_shape=(1, 8, 8), n_outputs=3)
    module.net.load_state_dict(net.state_dict())
    memory = rb.bench.run(
        rb.bench.load_suite(path).with_output(tmp_path / "b"), models={"mine": module.eval()}, log=io.StringIO()
    )
    extra = rb.bench.run(
        rb.bench.load_suite(path).with_output(tmp_path / "c"), models={"other": module}, log=io.StringIO()
    )
    a, b, c = (pd.read_csv(r.results_csv) for r in (files, memory, extra))
    cols = ["model", "attack", "clean_acc", "robust_acc"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert set(b["train_objective"]) == {"memory"} and set(a["train_objective"]) == {"weights"}
    assert set(c["model"]) == {"mine", "other"}
    again = rb.bench.run(
        rb.bench.load_suite(path).with_output(tmp_path / "b"), models={"mine": module}, log=io.StringIO()
    )
    assert again.computed == [] and len(again.reused) == 1


def test_a_module_of_another_kind_or_a_process_pool_is_one_line(tmp_path: Path) -> None:
    net = archs.ARCHS.get("mlp")((1, 8, 8), 3)
    torch.save(net.state_dict(), tmp_path / "flat.pt")
    suite = rb.bench.load_suite(suite_file(tmp_path, tmp_path / "flat.pt")).with_output(tmp_path / "out")
    robin = rb.build_model("robin", arch="mlp", in_shape=(1, 8, 8), n_classes=3)
    with pytest.raises(rb.RobinBenchError, match="is a robin model, the suite's 'mine' is flat"):
        rb.bench.run(suite, models={"mine": robin})
    executor = make_executor("local", jobs=2, address=None, device="cpu")
    try:
        with pytest.raises(rb.RobinBenchError, match="in-memory models run in this process"):
            rb.bench.run(suite, models={"mine": net}, executor=executor)
    finally:
        executor.close()
