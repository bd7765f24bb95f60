"""Your weights: state_dict files of your own modules fill flat, ROBIN and HAR models strictly; pickles are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import robin_bench as rb
from robin_bench.models import archs
from robin_bench.models.weights import load_weights, read_state_dict, weight_files

H = rb.Hierarchy.from_groups([[0, 1], [2, 3]])
SHAPE = (1, 8, 8)


def bare(n_outputs: int, arch: str = "mlp") -> nn.Module:
    """What the user's own factory returns (no robin-bench normalization wrapper)."""
    return archs.ARCHS.get(arch)(SHAPE, n_outputs)


def saved(tmp_path: Path, net: nn.Module, name: str) -> Path:
    path = tmp_path / name
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    else:
        torch.save(net.state_dict(), path)
    return path


def test_a_flat_model_is_exactly_the_users_module(tmp_path: Path) -> None:
    net = bare(4).eval()
    model = load_weights("flat", arch="mlp", in_shape=SHAPE, n_classes=4, weights=saved(tmp_path, net, "m.pt"))
    x = torch.rand(5, *SHAPE)
    assert torch.equal(model(x), net(x))


def test_normalize_is_added_only_when_asked(tmp_path: Path) -> None:
    net = bare(4).eval()
    path = saved(tmp_path, net, "m.safetensors")
    model = load_weights("flat", arch="mlp", in_shape=SHAPE, n_classes=4, weights=path, mean=[0.5], std=[0.25])
    x = torch.rand(5, *SHAPE)
    assert torch.allclose(model(x), net((x - 0.5) / 0.25))


def test_robin_takes_one_file_per_arm_in_class_order(tmp_path: Path) -> None:
    arms = [bare(1).eval() for _ in range(4)]
    files = [saved(tmp_path, a, f"arm{i}.pt") for i, a in enumerate(arms)]
    model = load_weights("robin", arch="mlp", in_shape=SHAPE, n_classes=4, weights=[str(f) for f in files])
    x = torch.rand(3, *SHAPE)
    assert torch.equal(model(x), torch.cat([a(x) for a in arms], dim=1))


def test_har_takes_a_coarse_file_and_one_fine_file_per_group(tmp_path: Path) -> None:
    coarse, fine = bare(2).eval(), [bare(2).eval(), bare(2).eval()]
    weights = {
        "coarse": str(saved(tmp_path, coarse, "c.pt")),
        "fine": [str(saved(tmp_path, f, f"f{z}.pt")) for z, f in enumerate(fine)],
    }
    model = load_weights("har", arch="mlp", in_shape=SHAPE, n_classes=4, weights=weights, hierarchy=H)
    x = torch.rand(3, *SHAPE)
    expected = rb.HARClassifier(coarse, fine, H)(x)
    assert torch.allclose(model(x), expected)


def test_loading_leaves_the_global_rng_alone(tmp_path: Path) -> None:
    path = saved(tmp_path, bare(4), "m.pt")
    state = torch.random.get_rng_state()
    load_weights("flat", arch="mlp", in_shape=SHAPE, n_classes=4, weights=path)
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        (["a.pt"] * 3, "lists 3 files for a robin model of 4 components"),
        ("a.pt", "has 4 components"),
        ({"arm": ["a.pt"] * 3}, "lacks 'arm3'"),
        ({"arm": ["a.pt"] * 4, "extra": "b.pt"}, "names 'extra', which it does not have"),
    ],
)
def test_a_layout_that_does_not_cover_the_components_is_one_line(weights: object, expected: str) -> None:
    with pytest.raises(rb.RobinBenchError, match=expected):
        weight_files("robin", ["arm0", "arm1", "arm2", "arm3"], weights)  # type: ignore[arg-type]


def test_a_state_dict_of_another_architecture_names_the_file_and_keys(tmp_path: Path) -> None:
    path = saved(tmp_path, bare(4, "cnn2"), "other.pt")
    with pytest.raises(rb.RobinBenchError, match=r"other.pt' does not fit the architecture: missing keys '1.weight'"):
        load_weights("flat", arch="mlp", in_shape=SHAPE, n_classes=4, weights=path)
    path = saved(tmp_path, bare(3), "three.pt")
    with pytest.raises(rb.RobinBenchError, match=r"mis-shaped .*\(3, 256\) vs \(4, 256\)"):
        load_weights("flat", arch="mlp", in_shape=SHAPE, n_classes=4, weights=path)


def test_a_pickle_that_needs_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "module.pt"
    torch.save(bare(4), path)
    with pytest.raises(rb.RobinBenchError, match="pickle that needs code to load, refused"):
        read_state_dict(path)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("w.pt", b"not a pickle at all", "cannot be read"),
        ("w.npz", b"", "has suffix '.npz'"),
        ("w.safetensors", b"\x00\x01", "cannot be read"),
    ],
)
def test_unreadable_files_are_one_line(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(rb.RobinBenchError, match=expected):
        read_state_dict(tmp_path / name)
    with pytest.raises(rb.RobinBenchError, match="not found"):
        read_state_dict(tmp_path / "missing.pt")


def test_a_file_holding_something_else_is_not_a_state_dict(tmp_path: Path) -> None:
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    with pytest.raises(rb.RobinBenchError, match="holds list, not a state_dict"):
        read_state_dict(tmp_path / "list.pt")


def test_in_a_suite_a_wrong_file_stops_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from robin_bench.cli import main

    saved(tmp_path, bare(3, "cnn2"), "other.pt")
    suite = {
        "name": "w",
        "dataset": {"name": "digits", "n_examples": 6, "classes": [0, 1, 2]},
        "threat_models": [{"norm": "Linf", "eps": [0.1]}],
        "models": [{"name": "m", "kind": "flat", "arch": "mlp", "weights": str(tmp_path / "other.pt")}],
        "attacks": [{"attack": "fgsm"}],
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(suite))
    assert main(["run", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "models[0].weights" in err[0] and "does not fit the architecture" in err[0]
    assert not (tmp_path / "out").exists()


def test_layout_paths_names_every_file_in_order() -> None:
    from robin_bench.models.weights import layout_paths

    assert layout_paths("a.pt") == [Path("a.pt")]
    assert layout_paths(["a.pt", "b.pt"]) == [Path("a.pt"), Path("b.pt")]
    assert layout_paths({"coarse": "c.pt", "fine": ["f0.pt", "f1.pt"]}) == [Path("c.pt"), Path("f0.pt"), Path("f1.pt")]
