"""Safe checkpoints: safetensors weights plus a JSON sidecar that rebuilds the model without pickle.

``save_checkpoint(model, "m.safetensors", spec=...)`` writes ``m.safetensors`` and then the sidecar
``m.safetensors.json`` (model spec, training config, config hash, metrics, versions, sha256 of the
weights), each atomically (temp file + ``os.replace``); the sidecar is written last, so a sidecar
always describes complete weights. Loading verifies both hashes, refuses pickles, and rebuilds the flat
model, :class:`RobinClassifier` or :class:`HARClassifier` from the sidecar alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import safetensors
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from robin_bench.errors import RobinBenchError
from robin_bench.fileio import atomic_write_bytes
from robin_bench.models.factory import build_from_spec

FORMAT = "robin-bench-checkpoint"
FORMAT_VERSION = 1


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """The JSON sidecar of weights file ``path``: the same name with ``.json`` appended."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of ``config`` (sorted keys, no whitespace)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _versions() -> dict[str, str]:
    from robin_bench import __version__

    return {
        "robin_bench": __version__,
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
        "python": platform.python_version(),
    }


def save_checkpoint(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    spec: Mapping[str, Any],
    train_config: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> None:
    r"""Save ``model``'s weights as safetensors at ``path`` and its JSON sidecar at ``path + ".json"``.

    The spec is checked first: the model it builds must have exactly ``model``'s parameter names and
    shapes, so every saved checkpoint can be loaded (the check leaves torch's global RNG untouched).

    Arguments:
        model (nn.Module): the model (flat, RobinClassifier or HARClassifier).
        path (str | PathLike): weights file (conventionally ``*.safetensors``); its folder must exist.
        spec (Mapping): :func:`robin_bench.models.factory.model_spec` of the model.
        train_config (Mapping | None): ``TrainConfig.to_dict()`` of its training, or None.
        metrics (Mapping | None): JSON-serialisable figures (accuracies, reports), or None.

    Example::

        >>> spec = model_spec("robin", arch="mlp", in_shape=(1, 8, 8), n_classes=10)
        >>> save_checkpoint(model, "robin.safetensors", spec=spec, train_config=cfg.to_dict())
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise RobinBenchError(f"checkpoint folder {str(path.parent)!r} does not exist; create it first")
    state = {k: v.detach().to("cpu").clone().contiguous() for k, v in model.state_dict().items()}
    with torch.random.fork_rng(devices=[]):
        reference = build_from_spec(spec, source=f"spec for checkpoint {str(path)!r}").state_dict()
    expected = {k: tuple(v.shape) for k, v in reference.items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        diff = sorted(set(expected.items()) ^ set(got.items()))
        raise RobinBenchError(
            f"spec for checkpoint {str(path)!r} does not describe the model (first difference: {diff[0]!r}); "
            "pass the spec the model was built from"
        )
    data = save_safetensors(state)
    atomic_write_bytes(path, data)
    config = {"spec": dict(spec), "train_config": None if train_config is None else dict(train_config)}
    sidecar = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **config,
        "config_hash": config_hash(config),
        "metrics": None if metrics is None else dict(metrics),
        "versions": _versions(),
        "weights": {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)},
    }
    atomic_write_bytes(sidecar_path(path), (json.dumps(sidecar, indent=2, sort_keys=True) + "\n").encode())


def read_sidecar(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed sidecar of weights file ``path``; a missing or malformed sidecar raises ``RobinBenchError``."""
    side = sidecar_path(path)
    if not side.is_file():
        raise RobinBenchError(
            f"checkpoint sidecar {str(side)!r} not found; a robin-bench checkpoint {str(path)!r} needs it "
            "(written by save_checkpoint next to the weights)"
        )
    try:
        meta = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RobinBenchError(f"checkpoint sidecar {str(side)!r} is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RobinBenchError(f"{str(side)!r} is not a robin-bench checkpoint sidecar (no format {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise RobinBenchError(
            f"checkpoint sidecar {str(side)!r} has format_version {meta.get('format_version')!r}; "
            f"this robin-bench reads version {FORMAT_VERSION}"
        )
    return meta


def _check_safetensors(data: bytes, path: Path) -> None:
    if data[:2] == b"PK" or data[:1] == b"\x80":
        raise RobinBenchError(
            f"{str(path)!r} is a pickled (torch.save) file; robin-bench loads only safetensors weights, "
            "because unpickling can run arbitrary code"
        )
    if len(data) < 8:
        raise RobinBenchError(f"{str(path)!r} is not a safetensors file ({len(data)} bytes)")
    (header,) = struct.unpack("<Q", data[:8])
    if header > len(data) - 8 or data[8:9] != b"{":
        raise RobinBenchError(f"{str(path)!r} is not a safetensors file (bad header)")


def load_checkpoint(path: str | os.PathLike[str]) -> nn.Module:
    r"""Load a checkpoint written by :func:`save_checkpoint`; returns the model in eval mode.

    The model is rebuilt from the sidecar's spec alone (flat, RobinClassifier or HARClassifier) and
    filled with the weights, after checking that the weights file is safetensors (pickles are
    refused), that its sha256 matches the sidecar (tampered or truncated files are refused) and that
    the sidecar's spec and training config still match its ``config_hash`` (edited sidecars are refused).

    Arguments:
        path (str | PathLike): the weights file; its sidecar is ``path + ".json"``.

    Example::

        >>> model = load_checkpoint("robin.safetensors")
        >>> model(x).argmax(1)
    """
    path = Path(path)
    if not path.is_file():
        raise RobinBenchError(f"checkpoint weights {str(path)!r} not found")
    data = path.read_bytes()
    _check_safetensors(data, path)
    meta = read_sidecar(path)
    want = meta.get("weights", {}).get("sha256")
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        raise RobinBenchError(
            f"checkpoint weights {str(path)!r} have sha256 {got[:16]}..., the sidecar records {str(want)[:16]}...; "
            "the file was modified or corrupted, refusing to load it"
        )
    recorded = config_hash({"spec": meta.get("spec"), "train_config": meta.get("train_config")})
    if recorded != meta.get("config_hash"):
        raise RobinBenchError(
            f"checkpoint sidecar {str(sidecar_path(path))!r}: its spec and train_config do not match its config_hash; "
            "the sidecar was edited or corrupted, refusing to load it"
        )
    model = build_from_spec(meta.get("spec"), source=f"sidecar {str(sidecar_path(path))!r} spec")
    try:
        model.load_state_dict(load_safetensors(data), strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise RobinBenchError(
            f"checkpoint weights {str(path)!r} do not fit the sidecar's model spec: {first}"
        ) from None
    return model.eval()
