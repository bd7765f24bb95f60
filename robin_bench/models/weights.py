"""Your weights: a model of any kind assembled from the state_dict files your own code saved.

A file holds the ``state_dict`` of the module an architecture factory returns (``rb.register_arch``), as
``torch.save(module.state_dict(), "arm0.pt")`` or safetensors wrote it: without robin-bench's normalization
wrapper. ``.pt``/``.pth`` files are read with ``torch.load(..., weights_only=True)`` (a pickle that needs code
to load is refused); ``.safetensors`` with safetensors. Loading is strict: every key present, none extra, every
shape equal.

Which file fills which component follows the kind's :attr:`~robin_bench.models.kinds.ModelKind.parts`:

- one file: a kind with one component (flat);
- a list: one file per component in the kind's order (ROBIN: one per arm, in class order);
- a mapping: component names to files, a list under a name filling ``name0, name1, ...`` (HAR:
  ``{coarse: FILE, fine: [FILE, ...]}``, one fine file per coarse class).

Example::

    >>> model = load_weights("robin", arch="tiny_cnn", in_shape=(1, 8, 8), n_classes=10,
    ...                      weights=[f"arms/arm{i}.pt" for i in range(10)])
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models.kinds import KINDS

SUFFIXES = (".pt", ".pth", ".safetensors")
"""File types a ``weights:`` file may have."""

WeightsLayout = str | os.PathLike[str] | Sequence[Any] | Mapping[str, Any]


def weight_files(kind: str, parts: Sequence[str], weights: WeightsLayout) -> dict[str, Path]:
    """Component name -> file, for a model of ``kind`` whose components are ``parts``, from a ``weights`` layout
    (see the module docstring); a layout that does not cover ``parts`` exactly is a ``RobinBenchError``."""
    if isinstance(weights, str | os.PathLike):
        given: dict[str, Any] = {parts[0]: weights} if len(parts) == 1 else {}
        if not given:
            raise RobinBenchError(
                f"a {kind} model has {len(parts)} components ({_some(parts)}); give 'weights' as a "
                "list of files in that order, or a mapping of component names to files"
            )
    elif isinstance(weights, Mapping):
        given = {}
        for name, value in weights.items():
            if isinstance(value, str | os.PathLike):
                given[str(name)] = value
            else:
                given.update({f"{name}{i}": v for i, v in enumerate(value)})
    else:
        files = list(weights)
        if len(files) != len(parts):
            raise RobinBenchError(
                f"'weights' lists {len(files)} files for a {kind} model of {len(parts)} components "
                f"({_some(parts)}); give one file per component, in that order"
            )
        given = dict(zip(parts, files, strict=True))
    missing, extra = [p for p in parts if p not in given], [g for g in given if g not in parts]
    if missing or extra:
        problem = f"lacks {_some(missing)}" if missing else f"names {_some(extra)}, which it does not have"
        raise RobinBenchError(f"'weights' for a {kind} model {problem}; its components are {_some(parts)}")
    return {p: Path(os.path.expanduser(os.fspath(given[p]))) for p in parts}


def layout_paths(weights: WeightsLayout) -> list[Path]:
    """Every file a ``weights`` layout names, in its order: the one file, the list, or the mapping's values with its
    lists expanded (what a cache key of the loaded model hashes)."""
    if isinstance(weights, str | os.PathLike):
        given: list[Any] = [weights]
    elif isinstance(weights, Mapping):
        given = [p for v in weights.values() for p in ([v] if isinstance(v, str | os.PathLike) else v)]
    else:
        given = list(weights)
    return [Path(os.path.expanduser(os.fspath(p))) for p in given]


def _some(names: Sequence[str], k: int = 4) -> str:
    shown = ", ".join(repr(n) for n in names[:k])
    return shown + (f", ... ({len(names)} in all)" if len(names) > k else "")


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """The state_dict in ``path`` (``.pt``/``.pth`` through ``torch.load(weights_only=True)``, or ``.safetensors``),
    on the CPU; a missing file, another suffix, a pickle that needs code, or anything but a mapping of names to
    tensors is a ``RobinBenchError`` naming the file."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise RobinBenchError(
            f"weights file {str(path)!r} has suffix {path.suffix!r}; give a state_dict saved as {', '.join(SUFFIXES)}"
        )
    if not path.is_file():
        raise RobinBenchError(f"weights file {str(path)!r} not found")
    try:
        if path.suffix == ".safetensors":
            state: Any = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "safe_globals" in str(e):  # torch names the globals (code) the pickle asks for
            raise RobinBenchError(
                f"weights file {str(path)!r} is a pickle that needs code to load, refused (it could "
                "run anything); save the module's state_dict (torch.save(model.state_dict(), "
                "path)), not the module"
            ) from None
        raise RobinBenchError(
            f"weights file {str(path)!r} cannot be read (not a torch.save file: {str(e).splitlines()[0][:80]})"
        ) from None
    except (SafetensorError, RuntimeError, EOFError, OSError, ValueError) as e:
        raise RobinBenchError(
            f"weights file {str(path)!r} cannot be read ({e.__class__.__name__}: "
            f"{str(e).splitlines()[0][:120] if str(e) else 'empty'})"
        ) from None
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()
    ):
        raise RobinBenchError(
            f"weights file {str(path)!r} holds {type(state).__name__}, not a state_dict (a mapping "
            "of parameter names to tensors); save module.state_dict()"
        )
    return dict(state)


def load_strict(module: nn.Module, state: Mapping[str, Tensor], path: str | os.PathLike[str]) -> None:
    """Load ``state`` into ``module`` with every key present, none extra and every shape equal; else a
    ``RobinBenchError`` naming ``path`` and the first keys in question."""
    want = module.state_dict()
    missing = [k for k in want if k not in state]
    extra = [k for k in state if k not in want]
    shaped = [
        f"{k} {tuple(state[k].shape)} vs {tuple(want[k].shape)}"
        for k in want
        if k in state and state[k].shape != want[k].shape
    ]
    problems = [
        f"missing keys {_some(missing, 3)}" if missing else "",
        f"unexpected keys {_some(extra, 3)}" if extra else "",
        f"mis-shaped {'; '.join(shaped[:3])}" if shaped else "",
    ]
    if any(problems):
        raise RobinBenchError(
            f"weights file {str(path)!r} does not fit the architecture: "
            f"{', '.join(p for p in problems if p)}; save the state_dict of the module the "
            "architecture builds"
        )
    module.load_state_dict(state, strict=True)


def load_weights(
    kind: str,
    *,
    arch: str,
    in_shape: Sequence[int],
    n_classes: int,
    weights: WeightsLayout,
    hierarchy: Hierarchy | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Module:
    r"""A ``kind`` model whose components are architecture ``arch``, filled from your state_dict files.

    Each component is ``archs.build(arch, ...)``: your module behind a normalization that is the identity unless
    ``mean``/``std`` are given; the file fills your module (``component.net``), so the module sees inputs in
    [0, 1] exactly as in your code. Returns the model in eval mode on the CPU.

    Arguments:
        kind (str): a registered model kind.
        arch (str): a registered architecture (``rb.register_arch``).
        in_shape (Sequence[int]): (C, H, W) of one input.
        n_classes (int): number of (fine) classes.
        weights: one file, a list or a mapping (module docstring).
        hierarchy (Hierarchy | None): for kinds built from a hierarchy (HAR).
        mean, std (Sequence[float] | None): normalization put in front of each component. (Default: none)

    Raises:
        RobinBenchError: a layout, file or state_dict that does not fit.
    """
    from robin_bench.models.factory import build_model

    with torch.random.fork_rng(devices=[]):  # the init is overwritten: leave the caller's RNG as it was
        model = build_model(
            kind, arch=arch, in_shape=in_shape, n_classes=n_classes, hierarchy=hierarchy, mean=mean, std=std
        )
    entry = KINDS.get(kind)
    for part, path in weight_files(kind, entry.parts(model), weights).items():
        component = entry.part(model, part)
        load_strict(getattr(component, "net", component), read_state_dict(path), path)
    return model.eval()
