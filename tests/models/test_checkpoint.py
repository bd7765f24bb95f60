"""Checkpoints: bit-exact round trips, sidecar contents, and refusal of tampered, pickled or orphaned files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import robin_bench as rb
from robin_bench.errors import RobinBenchError
from robin_bench.models.checkpoint import config_hash, sidecar_path
from robin_bench.train import TrainConfig

H = rb.Hierarchy.from_groups({"low": [0, 1, 2], "high": [3, 4]})


def spec(kind: str) -> dict:
    return rb.model_spec(
        kind,
        arch="cnn2",
        in_shape=(1, 12, 12),
        n_classes=5,  # type: ignore[arg-type]
        hierarchy=H if kind == "har" else None,
        mean=(0.2,),
        std=(0.3,),
    )


def saved(tmp_path: Path, kind: str) -> tuple[torch.nn.Module, Path]:
    s = spec(kind)
    model = rb.models.factory.build_from_spec(s)
    path = tmp_path / f"{kind}.safetensors"
    rb.save_checkpoint(model, path, spec=s, train_config=TrainConfig(epochs=2).to_dict(), metrics={"clean": 0.5})
    return model, path


@pytest.mark.parametrize("kind", ["flat", "robin", "har"])
def test_round_trip_is_bit_exact(tmp_path: Path, kind: str) -> None:
    model, path = saved(tmp_path, kind)
    loaded = rb.load_checkpoint(path)
    assert type(loaded) is type(model) and not loaded.training
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.rand(4, 1, 12, 12)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    if kind == "har":
        assert loaded.hierarchy == H


def test_sidecar_records_provenance(tmp_path: Path) -> None:
    _, path = saved(tmp_path, "robin")
    meta = json.loads(sidecar_path(path).read_text())
    assert meta["spec"]["kind"] == "robin" and meta["train_config"]["epochs"] == 2
    assert meta["config_hash"] == config_hash({"spec": meta["spec"], "train_config": meta["train_config"]})
    assert meta["metrics"] == {"clean": 0.5}
    assert set(meta["versions"]) >= {"robin_bench", "torch"}
    import hashlib

    assert meta["weights"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["robin.safetensors", "robin.safetensors.json"]


def test_flipped_byte_is_rejected(tmp_path: Path) -> None:
    _, path = saved(tmp_path, "flat")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(RobinBenchError, match="sha256.*modified or corrupted"):
        rb.load_checkpoint(path)


@pytest.mark.parametrize("edit", ["spec", "train_config"])
def test_edited_sidecar_is_rejected(tmp_path: Path, edit: str) -> None:
    _, path = saved(tmp_path, "flat")
    side = sidecar_path(path)
    meta = json.loads(side.read_text())
    if edit == "spec":
        meta["spec"]["arch"] = "mlp"
    else:
        meta["train_config"]["eps"] = 0.5
    side.write_text(json.dumps(meta))
    with pytest.raises(RobinBenchError, match="do not match its config_hash; the sidecar was edited"):
        rb.load_checkpoint(path)


def test_pickle_is_refused(tmp_path: Path) -> None:
    model, path = saved(tmp_path, "flat")
    torch.save(model.state_dict(), path)
    with pytest.raises(RobinBenchError, match="pickled"):
        rb.load_checkpoint(path)


def test_missing_sidecar_names_the_path(tmp_path: Path) -> None:
    _, path = saved(tmp_path, "flat")
    sidecar_path(path).unlink()
    with pytest.raises(RobinBenchError, match=r"flat\.safetensors\.json"):
        rb.load_checkpoint(path)


def test_wrong_spec_is_refused_before_writing(tmp_path: Path) -> None:
    model = rb.models.factory.build_from_spec(spec("flat"))
    with pytest.raises(RobinBenchError, match="does not describe the model"):
        rb.save_checkpoint(model, tmp_path / "m.safetensors", spec=spec("robin"))
    assert list(tmp_path.iterdir()) == []


def test_save_leaves_global_rng_untouched(tmp_path: Path) -> None:
    model = rb.models.factory.build_from_spec(spec("flat"))
    torch.manual_seed(7)
    rb.save_checkpoint(model, tmp_path / "m.safetensors", spec=spec("flat"))
    after = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(after, torch.rand(3))
