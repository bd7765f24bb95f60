"""Suite validation: every user mistake is one line on stderr, exit code 2, no traceback, before any compute."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from robin_bench.bench.config import (
    AttackSpec,
    DatasetSpec,
    ModelSpec,
    Suite,
    ThreatSpec,
    demo_suite_path,
    load_suite,
    parse_eps,
)
from robin_bench.bench.schema import TrainSpec
from robin_bench.cli import main
from robin_bench.errors import RobinBenchError

REPO = Path(__file__).resolve().parents[2]

BASE: dict[str, Any] = {
    "name": "tiny",
    "dataset": {"name": "digits", "n_examples": 10, "n_train": 100, "classes": [0, 1, 2, 3]},
    "hierarchy": {"low": [0, 1], "high": [2, 3]},
    "threat_models": [{"norm": "Linf", "eps": ["8/255", 0.1]}],
    "models": [{"name": "mc", "kind": "flat", "arch": "mlp", "train": {"epochs": 1, "progress": False}}],
    "attacks": [{"attack": "pgd", "kwargs": {"steps": 2}}],
}


def write(tmp_path: Path, suite: dict[str, Any] | str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(suite if isinstance(suite, str) else yaml.safe_dump(suite, sort_keys=False))
    return path


def edited(**changes: Any) -> dict[str, Any]:
    """BASE with dotted-path changes: edited(**{"dataset.name": "x"})."""
    suite = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node: Any = suite
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[int(last) if last.isdigit() else last] = value
    return suite


def run_error(tmp_path: Path, suite: dict[str, Any] | str, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    """Run the CLI on ``suite``; assert exit 2 with one error line and no traceback; return the line."""
    path = write(tmp_path, suite)
    code = main(["run", str(path), "--output", str(tmp_path / "out"), *extra])
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert not (tmp_path / "out" / "results.csv").exists()
    return lines[0]


def test_valid_suite_loads(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, BASE))
    assert suite.threat_models[0].eps == [8 / 255, 0.1]
    assert suite.get_hierarchy() is not None and suite.get_hierarchy().n_fine == 4


@pytest.mark.parametrize("path", sorted((REPO / "benchmarks" / "suites").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_suite_validates(path: Path) -> None:
    suite = load_suite(path)
    assert suite.models and suite.attacks and suite.threat_models


@pytest.mark.parametrize("model", [Suite, DatasetSpec, ThreatSpec, ModelSpec, AttackSpec], ids=lambda m: m.__name__)
def test_every_schema_key_is_documented(model: type) -> None:
    text = (REPO / "benchmarks" / "README.md").read_text()
    assert [k for k in model.model_fields if f"| `{k}`" not in text] == []


def test_packaged_demo_equals_benchmarks_demo() -> None:
    assert demo_suite_path().read_text() == (REPO / "benchmarks" / "suites" / "demo.yaml").read_text()


@pytest.mark.parametrize(
    ("text", "value"), [("8/255", 8 / 255), (" 0.5 ", 0.5), ("2", 2.0), (0.25, 0.25), ("1e-2", 0.01), ("1/2.5", 0.4)]
)
def test_parse_eps_accepts_numbers_and_fractions(text: object, value: float) -> None:
    assert parse_eps(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["__import__('os').getcwd()", "8*255", "1/0", "nan", "inf", True, "8/", "eight"])
def test_parse_eps_rejects_anything_else(text: object) -> None:
    with pytest.raises(ValueError):
        parse_eps(text)


def test_malformed_yaml_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "name: tiny\ndataset:\n  name: digits\n  split: [test\nmodels: []\n"
    line = run_error(tmp_path, text, capsys)
    assert "malformed YAML" in line and "suite.yaml:5" in line


def test_unknown_top_level_key_suggests_closest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = copy.deepcopy(BASE)
    suite["attaks"] = suite.pop("attacks")
    line = run_error(tmp_path, suite, capsys)
    assert "unknown key 'attaks'" in line and "'attacks'" in line


@pytest.mark.parametrize(
    ("section", "entry", "expected"),
    [
        (
            "attacks",
            "pgd",
            "attacks[0]: expected a mapping with keys ['attack', 'set', 'name', 'kwargs', 'kinds', "
            "'models'], got 'pgd'; write {attack: pgd}",
        ),
        ("models", "flat", "models[0]: expected a mapping with keys ['name', "),
    ],
)
def test_a_bare_name_where_a_mapping_belongs_says_what_to_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, entry: str, expected: str
) -> None:
    suite = copy.deepcopy(BASE)
    suite[section] = [entry]
    assert expected in run_error(tmp_path, suite, capsys)


def test_unknown_nested_key_gives_path_line_and_closest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = copy.deepcopy(BASE)
    suite["models"][0]["archh"] = "mlp"
    line = run_error(tmp_path, suite, capsys)
    assert "models[0].archh" in line and "'arch'" in line
    text = write(tmp_path, suite).read_text().splitlines()
    lineno = int(re.search(r"suite\.yaml:(\d+):", line).group(1))
    assert "archh" in text[lineno - 1]


def test_unknown_train_key_suggests_closest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(**{"models.0.train": {"epoch": 1}}), capsys)
    assert "models[0].train" in line and "'epoch'" in line and "'epochs'" in line


def test_wrong_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(**{"dataset.n_examples": "many"}), capsys)
    assert "dataset.n_examples" in line and "integer" in line and "'many'" in line


def test_linf_eps_above_one_suggests_255(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(**{"threat_models.0.eps": [8]}), capsys)
    assert "threat_models[0]" in line and "did you mean 8/255?" in line


def test_l2_eps_above_one_is_fine(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, edited(**{"threat_models.0": {"norm": "L2", "eps": [2.0]}})))
    assert suite.threat_models[0].eps == [2.0]


def test_negative_eps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(**{"threat_models.0.eps": [-0.1]}), capsys)
    assert "negative" in line and ">= 0" in line


def test_eps_string_is_never_evaluated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(**{"threat_models.0.eps": ["__import__('os').getcwd()"]}), capsys)
    assert "not a number" in line and "8/255" in line


def test_unknown_norm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(**{"threat_models.0.norm": "Linfinity"}), capsys)
    assert "'Linfinity'" in line and "Linf" in line and "L2" in line


@pytest.mark.parametrize(
    ("dotted", "bad", "good"),
    [
        ("dataset.name", "digit", "digits"),
        ("models.0.arch", "mpl", "mlp"),
        ("attacks.0.attack", "pgdd", "pgd"),
    ],
)
def test_unknown_names_get_close_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dotted: str, bad: str, good: str
) -> None:
    line = run_error(tmp_path, edited(**{dotted: bad}), capsys)
    assert repr(bad) in line and repr(good) in line


def test_unknown_attack_kwarg_is_checked_against_signature(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(**{"attacks.0.kwargs": {"step": 3}}), capsys)
    assert "attacks[0].kwargs.step" in line and "'steps'" in line


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"steps": "ten"}, "expects int, got 'ten'"),
        ({"steps": 2.5}, "expects int, got 2.5"),
        ({"random_start": 1}, "expects bool, got 1"),
        ({"alpha": "big"}, "expects float or null, got 'big'"),
    ],
)
def test_attack_kwarg_of_the_wrong_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kwargs: dict[str, object], expected: str
) -> None:
    line = run_error(tmp_path, edited(**{"attacks.0.kwargs": kwargs}), capsys)
    assert f"attacks[0].kwargs.{next(iter(kwargs))}" in line and expected in line


def test_attack_kwarg_out_of_range_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = run_error(tmp_path, edited(**{"attacks.0.kwargs": {"steps": -3}}), capsys)  # one line: nothing trained
    assert "suite.yaml:" in line and "attacks[0].kwargs" in line and "steps >= 1" in line
    assert not (tmp_path / "out").exists()


def test_base_attack_kwargs_are_type_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = edited(**{"attacks.0": {"attack": "robin", "kwargs": {"base": "cw", "c": "big"}}})
    line = run_error(tmp_path, suite, capsys)
    assert "attacks[0].kwargs.c" in line and "expects float" in line


def test_robin_attack_accepts_its_base_kwargs(tmp_path: Path) -> None:
    suite = edited(**{"attacks.0": {"attack": "robin", "kwargs": {"strategy": "top2", "base": "cw", "c": 0.5}}})
    assert load_suite(write(tmp_path, suite)).attacks[0].kwargs["c"] == 0.5


def test_attack_kwarg_set_by_the_suite_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(**{"attacks.0.kwargs": {"eps": 0.3}}), capsys)
    assert "'eps'" in line and "threat_models" in line


def test_missing_data_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = edited(**{"dataset": {"name": "cifar10", "root": str(tmp_path / "nowhere")}, "hierarchy": "cifar10"})
    line = run_error(tmp_path, suite, capsys)
    assert "missing file" in line and "nowhere" in line


def test_files_dataset_without_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(**{"dataset": {"name": "cifar10"}, "hierarchy": "cifar10"}), capsys)
    assert "root" in line


def _npz(tmp_path: Path, n_classes: int) -> Path:
    path = tmp_path / "data.npz"
    y = np.arange(40) % n_classes
    np.savez(path, x=np.random.default_rng(0).integers(0, 256, (40, 1, 4, 4), dtype=np.uint8), y=y)
    return path


def test_npz_root_that_is_not_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = edited(**{"dataset": {"name": "npz", "root": str(tmp_path)}})
    line = run_error(tmp_path, suite, capsys)
    assert "dataset.root" in line and "is not a file" in line and str(tmp_path) in line


def test_npz_classes_come_from_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _npz(tmp_path, 3)
    suite = edited(**{"dataset": {"name": "npz", "root": str(path)}, "hierarchy": {"a": [0, 1], "b": [2]}})
    assert load_suite(write(tmp_path, suite)).dataset.root == str(path)
    line = run_error(tmp_path, edited(**{"dataset": {"name": "npz", "root": str(path)}}), capsys)
    assert "hierarchy covers classes 0..3" in line and "3 classes" in line
    line = run_error(tmp_path, edited(**{"dataset": {"name": "npz", "root": str(path), "classes": [0, 3]}}), capsys)
    assert "class 3 out of range" in line and "0..2" in line


def test_hierarchy_not_covering_the_classes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(hierarchy={"low": [0, 1], "high": [2]}), capsys)
    assert "hierarchy covers classes 0..2" in line and "0..3" in line


@pytest.mark.parametrize("classes", [[], [2], [0, 1, 1, 2]])
def test_classes_must_be_at_least_two_distinct(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], classes: list[int]
) -> None:
    line = run_error(tmp_path, edited(hierarchy=None, **{"dataset.classes": classes}), capsys)
    assert "dataset.classes" in line and "at least 2 distinct" in line


def test_hierarchy_naming_a_class_the_dataset_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(hierarchy={"low": [0, 1], "high": [2, 5]}), capsys)
    assert "hierarchy" in line and "the dataset has 4 classes: 0..3" in line


def test_hierarchy_with_a_class_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(hierarchy=[[0, 1], [1, 2, 3]]), capsys)
    assert "fine class 1" in line


def test_unknown_builtin_hierarchy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(hierarchy="cifar1O"), capsys)
    assert "'cifar10'" in line


def test_n_examples_larger_than_the_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(**{"dataset.n_examples": 100000}), capsys)
    assert "n_examples=100000 exceeds" in line


def test_unwritable_output_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    path = write(tmp_path, BASE)
    assert main(["run", str(path), "--output", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert "not writable" in err and "--output" in err and len(err.strip().splitlines()) == 1


def test_checkpoint_failing_verification(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "tampered.safetensors"
    fake.write_bytes(b"\x80\x04not a checkpoint")
    line = run_error(tmp_path, edited(**{"models.0": {"name": "mc", "kind": "flat", "checkpoint": str(fake)}}), capsys)
    assert "tampered.safetensors" in line


def test_missing_checkpoint_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = edited(**{"models.0": {"name": "mc", "kind": "flat", "checkpoint": str(tmp_path / "none.safetensors")}})
    line = run_error(tmp_path, suite, capsys)
    assert "not found" in line and "models[0].checkpoint" in line


def test_model_needs_exactly_one_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(**{"models.0": {"name": "mc", "kind": "flat", "arch": "mlp"}}), capsys)
    assert "'train'" in line and "'checkpoint'" in line


def test_har_without_hierarchy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = edited(hierarchy=None, **{"models.0.kind": "har"})
    line = run_error(tmp_path, suite, capsys)
    assert "hierarchy" in line and "models[0].kind" in line


def test_unknown_model_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(**{"attacks.0.models": ["mcc"]}), capsys)
    assert "'mcc'" in line and "'mc'" in line


def test_missing_suite_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_load_suite_raises_robinbencherror(tmp_path: Path) -> None:
    with pytest.raises(RobinBenchError, match="did you mean 'models'"):
        load_suite(write(tmp_path, {**{k: v for k, v in BASE.items() if k != "models"}, "modles": BASE["models"]}))


@pytest.mark.parametrize(
    ("dataset_default", "spec", "expected"),
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"augment": False}, False),
        (False, {"augment": True}, True),
    ],
)
def test_training_augmentation_defaults_to_the_dataset_and_the_spec_overrides_it(
    dataset_default: bool, spec: dict[str, Any], expected: bool
) -> None:
    model = ModelSpec(name="m", kind="flat", arch="mlp", train={"epochs": 1, **spec})
    assert model.train is not None and model.train.resolve(augment=dataset_default).augment is expected


def test_datasets_that_need_augmentation_are_the_cifars() -> None:
    import robin_bench as rb

    assert {n for n in rb.datasets.names() if rb.datasets.info(n).augment} == {"cifar10", "cifar100"}


def test_train_is_a_typed_spec_validated_once_by_train_config() -> None:
    """``train:`` parses into a :class:`TrainSpec` holding a TrainConfig (budgets as fractions parsed, progress
    off); its mistakes are TrainConfig's own messages, with no second validator."""
    spec = ModelSpec(name="m", kind="flat", arch="mlp", train={"epochs": 3, "eps": "8/255", "alpha": "2/255"})
    assert isinstance(spec.train, TrainSpec)
    cfg = spec.train.resolve(augment=False, seed=7)
    assert (cfg.epochs, cfg.eps, cfg.alpha, cfg.seed, cfg.progress) == (3, 8 / 255, 2 / 255, 7, False)
    assert spec.train.resolve(augment=False).seed == 0
    with pytest.raises(ValidationError, match=r"TrainConfig.epochs=0; expected an integer >= 1"):
        ModelSpec(name="m", kind="flat", arch="mlp", train={"epochs": 0})
    with pytest.raises(ValidationError, match="expected a mapping of training options"):
        ModelSpec(name="m", kind="flat", arch="mlp", train=[1, 2])
    with pytest.raises(ValidationError, match="val_eps: eps .1/0. divides by zero"):
        ModelSpec(name="m", kind="flat", arch="mlp", train={"val_eps": "1/0"})


def test_a_wrong_train_value_is_one_line_at_its_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_error(tmp_path, edited(**{"models.0.train": {"epochs": 1, "momentum": 1.5}}), capsys)
    assert "models[0].train" in line and "momentum=1.5" in line and "[0, 1)" in line
