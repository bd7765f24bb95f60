"""Cross-checks of a parsed suite: registry names, references between entries, the hierarchy against the
dataset, training configs, and every attack built once, as the runner will build it, on a stand-in model.

Example::

    >>> check_suite(suite, lines)   # raises RobinBenchError: file:line: key.path: problem; what is valid
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from robin_bench.bench.attack_factory import build_entry, check_kwargs, needs_hierarchy, stand_in
from robin_bench.bench.schema import BUILTIN_HIERARCHIES, ModelSpec, Suite
from robin_bench.bench.suite_yaml import LineMap
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models.kinds import KINDS
from robin_bench.registry import did_you_mean

Fail = Callable[[Sequence[str | int], str], RobinBenchError]


def check_suite(suite: Suite, lines: LineMap) -> Suite:
    """Registry names, cross references, the hierarchy, train configs, weights files and attacks (built on a
    stand-in model). Returns the suite with a hierarchy that names classes by name (a ``folder`` dataset's folder
    names) translated to class indices."""
    import robin_bench.data as datasets  # the registries load only after the schema passed
    from robin_bench.models.archs import ARCHS

    def fail(loc: Sequence[str | int], problem: str) -> RobinBenchError:
        return RobinBenchError(f"{lines.where(suite.source, loc)}: {problem}")

    names = datasets.names()
    if suite.dataset.name not in names:
        hint = did_you_mean(suite.dataset.name, names)
        raise fail(("dataset", "name"), f"unknown dataset {suite.dataset.name!r}; {hint}")
    info = datasets.info(suite.dataset.name)
    if info.needs_root and suite.dataset.root is None:
        raise fail(("dataset",), f"dataset {suite.dataset.name!r} is read from files; add 'root: <data directory>'")
    if info.n_classes is None and suite.dataset.root is not None:
        root = Path(suite.dataset.root)
        if not (root.is_file() or root.is_dir()):
            raise fail(
                ("dataset", "root"),
                f"dataset {suite.dataset.name!r} reads its classes from its files, but "
                f"{suite.dataset.root} is not a file or folder; give the path of the data",
            )
        try:
            info = datasets.info(suite.dataset.name, root=suite.dataset.root)
        except RobinBenchError as e:
            raise fail(("dataset", "root"), str(e)) from None
    if info.n_classes is None:
        raise fail(
            ("dataset",),
            f"the number of classes of dataset {suite.dataset.name!r} is unknown; give 'root: <data file>'",
        )
    total = info.n_classes
    n_classes = len(suite.dataset.classes) if suite.dataset.classes is not None else total
    for i, c in enumerate(suite.dataset.classes or []):
        if not 0 <= c < total:
            raise fail(
                ("dataset", "classes", i), f"class {c} out of range; {suite.dataset.name} has classes 0..{total - 1}"
            )
    suite = _named_hierarchy(suite, info.class_names, fail)
    hierarchy = _check_hierarchy(suite, n_classes, fail)
    seen: set[str] = set()
    for i, m in enumerate(suite.models):
        if m.name in seen:
            raise fail(("models", i, "name"), f"model name {m.name!r} used twice; model names are unique")
        seen.add(m.name)
        if KINDS.get(m.kind).needs_hierarchy and hierarchy is None:
            raise fail(
                ("models", i, "kind"), f"a {m.kind!r} model needs a suite 'hierarchy' (cifar10, cifar100 or groups)"
            )
        if m.arch is not None and m.arch not in ARCHS:
            raise fail(("models", i, "arch"), f"unknown architecture {m.arch!r}; {did_you_mean(m.arch, ARCHS.names())}")
        if m.arch is not None and ARCHS.origin(m.arch) is not None and info.in_shape is not None:
            _check_plugin_arch(
                m, info.in_shape, n_classes, hierarchy, fail=partial(_fail_at, fail, ("models", i, "arch"))
            )
        if m.checkpoint is not None and not Path(os.path.expanduser(m.checkpoint)).is_file():
            raise fail(
                ("models", i, "checkpoint"), f"checkpoint file {m.checkpoint} not found; give a saved .safetensors"
            )
        if m.weights is not None:
            _check_weights(
                m, info.in_shape, n_classes, hierarchy, fail=partial(_fail_at, fail, ("models", i, "weights"))
            )
        if m.normalize is not None and info.in_shape is not None and len(m.normalize.mean) != info.in_shape[0]:
            raise fail(
                ("models", i, "normalize"),
                f"normalize has {len(m.normalize.mean)} values per statistic for "
                f"{info.in_shape[0]}-channel images; give one mean and one std per channel",
            )
    if suite.verify is not None and info.in_shape is not None:
        _check_verifiable(suite, info.in_shape, n_classes, hierarchy, fail)
    for i, t in enumerate(suite.threat_models):
        _check_refs(t.models, seen, ("threat_models", i, "models"), fail)
    _check_attacks(suite, hierarchy, n_classes, fail)
    return suite


def _fail_at(fail: Fail, loc: Sequence[str | int], problem: str) -> RobinBenchError:
    """``fail`` at key path ``loc`` (bound with ``functools.partial`` per model entry)."""
    return fail(loc, problem)


def _check_plugin_arch(
    m: ModelSpec,
    in_shape: tuple[int, int, int],
    n_classes: int,
    hierarchy: Hierarchy | None,
    fail: Callable[[str], RobinBenchError],
) -> None:
    """A plugin's architecture builds every component of ``m``'s kind with the right output shape (checked by
    :func:`robin_bench.models.archs.build`), before any compute."""
    import torch  # only suites with a plugin architecture pay for torch here

    from robin_bench.models import archs

    try:
        with torch.random.fork_rng(devices=[]):
            KINDS.get(m.kind).build(
                lambda n: archs.build(str(m.arch), in_shape=in_shape, n_outputs=n), n_classes, hierarchy
            )
    except RobinBenchError as e:
        raise fail(str(e)) from None


def _check_verifiable(
    suite: Suite, in_shape: tuple[int, int, int], n_classes: int, hierarchy: Hierarchy | None, fail: Fail
) -> None:
    """Under ``verify:``, every model's kind has a verification encoding and its layers encode: each model is built
    with stand-in weights (a checkpoint is loaded) and handed to its kind's ``verify_encoding``, before any compute."""
    import torch  # only suites with 'verify' pay for torch here

    from robin_bench.models.checkpoint import load_checkpoint

    for i, m in enumerate(suite.models):
        kind = KINDS.get(m.kind)
        if kind.verify_encoding is None:
            raise fail(
                ("models", i, "kind"),
                f"'verify' needs a verification encoding, and model kind {m.kind!r} has "
                "none; drop 'verify' or give the kind's ModelKind a verify_encoding",
            )
        where: tuple[str | int, ...] = ("models", i, "checkpoint" if m.arch is None else "arch")
        try:
            with torch.random.fork_rng(devices=[]):
                model = (
                    load_checkpoint(os.path.expanduser(m.checkpoint))
                    if m.arch is None and m.checkpoint
                    else kind.build(partial(_stand_in_component, str(m.arch), in_shape), n_classes, hierarchy)
                )
            kind.verify_encoding(model, in_shape)
        except RobinBenchError as e:
            what = f"architecture {m.arch!r}" if m.arch is not None else f"checkpoint {m.checkpoint}"
            raise fail(
                where,
                f"'verify' cannot encode {what} of model {m.name!r} ({e}); drop 'verify' or use "
                "an architecture of those layers, e.g. 'mlp'",
            ) from None


def _stand_in_component(arch: str, in_shape: tuple[int, int, int], n_outputs: int) -> Any:
    """Architecture ``arch`` with ``n_outputs`` outputs and its initial weights (a model's component, weights aside)."""
    from robin_bench.models import archs

    return archs.build(arch, in_shape=in_shape, n_outputs=n_outputs)


def _check_weights(
    m: ModelSpec,
    in_shape: tuple[int, int, int] | None,
    n_classes: int,
    hierarchy: Hierarchy | None,
    fail: Callable[[str], RobinBenchError],
) -> None:
    """The files of ``m.weights`` cover the components of its kind (built from stand-ins), exist, and fill the
    architecture strictly (loaded once here, so a wrong file stops the run before anything is written)."""
    from torch import nn  # only suites with weights pay for torch here

    from robin_bench.models.weights import SUFFIXES, load_weights, weight_files

    if m.weights is None:  # the caller checks it; this tells the type checker
        return
    kind = KINDS.get(m.kind)
    try:
        probe = kind.build(lambda n: nn.Linear(1, n), n_classes, hierarchy)
        files = weight_files(m.kind, kind.parts(probe), m.weights)
    except RobinBenchError as e:
        raise fail(str(e)) from None
    for path in files.values():
        if path.suffix not in SUFFIXES:
            raise fail(
                f"weights file {str(path)!r} has suffix {path.suffix!r}; give a state_dict saved as "
                f"{', '.join(SUFFIXES)}"
            )
        if not path.is_file():
            raise fail(f"weights file {str(path)!r} not found (paths are relative to the working directory)")
    if in_shape is not None:
        norm = m.normalize
        try:
            load_weights(
                m.kind,
                arch=str(m.arch),
                in_shape=in_shape,
                n_classes=n_classes,
                weights=m.weights,
                hierarchy=hierarchy if kind.needs_hierarchy else None,
                mean=None if norm is None else norm.mean,
                std=None if norm is None else norm.std,
            )
        except RobinBenchError as e:
            raise fail(str(e)) from None


def _named_hierarchy(suite: Suite, class_names: tuple[str, ...] | None, fail: Fail) -> Suite:
    """``suite`` with class names in its hierarchy groups replaced by their indices in ``class_names``."""
    groups = suite.hierarchy
    members = groups.values() if isinstance(groups, dict) else groups if isinstance(groups, list) else []
    if not any(isinstance(c, str) for g in members for c in g):
        return suite
    if class_names is None:
        raise fail(
            ("hierarchy",),
            f"the hierarchy names classes, but dataset {suite.dataset.name!r} has no class names; give class indices",
        )
    index = {name: i for i, name in enumerate(class_names)}

    def translate(group: list[Any]) -> list[Any]:
        for c in group:
            if isinstance(c, str) and c not in index:
                raise fail(("hierarchy",), f"unknown class {c!r}; {did_you_mean(c, list(class_names))}")
        return [index[c] if isinstance(c, str) else c for c in group]

    translated: Any = (
        {k: translate(g) for k, g in groups.items()} if isinstance(groups, dict) else [translate(g) for g in groups]
    )
    return suite.model_copy(update={"hierarchy": translated})


def _check_attacks(suite: Suite, hierarchy: Hierarchy | None, n_classes: int, fail: Fail) -> None:
    """Names and kwargs of every entry, then every entry built at every (norm, eps) on a stand-in model, as the
    runner builds it (so an attack that cannot run under the suite's criterion is found here)."""
    probe = stand_in(n_classes)
    labels: dict[str, int] = {}
    for i, a in enumerate(suite.attacks):
        _check_refs(a.models, set(suite.model_names()), ("attacks", i, "models"), fail)
        for loc, problem in check_kwargs(a, suite.model_names()):
            raise fail(("attacks", i, *loc), problem)
        if needs_hierarchy(a) and hierarchy is None:
            raise fail(
                ("attacks", i, "attack"), f"attack {a.attack!r} needs a suite 'hierarchy' (cifar10, cifar100 or groups)"
            )
        for t in suite.threat_models:
            for eps in t.eps:
                try:
                    built = build_entry(
                        a,
                        probe,
                        norm=t.norm,
                        eps=eps,
                        criterion=suite.criterion,
                        hierarchy=hierarchy,
                        seed=suite.seed,
                        model_of=lambda _name: probe,
                    )
                except RobinBenchError as e:
                    raise fail(("attacks", i, "kwargs" if a.kwargs else "attack"), str(e)) from None
        for name in built:
            if name in labels and labels[name] != i:
                raise fail(("attacks", i), f"attack name {name!r} used twice; give each a distinct 'name'")
            labels[name] = i


def _check_hierarchy(suite: Suite, n_classes: int, fail: Fail) -> Hierarchy | None:
    if isinstance(suite.hierarchy, str) and suite.hierarchy not in BUILTIN_HIERARCHIES:
        raise fail(
            ("hierarchy",),
            f"unknown hierarchy {suite.hierarchy!r}; "
            f"{did_you_mean(suite.hierarchy, list(BUILTIN_HIERARCHIES))} or a mapping of groups",
        )
    try:
        hierarchy = suite.get_hierarchy()
    except RobinBenchError as e:
        raise fail(("hierarchy",), f"{e} (the dataset has {n_classes} classes: 0..{n_classes - 1})") from None
    if hierarchy is not None and hierarchy.n_fine != n_classes:
        raise fail(
            ("hierarchy",),
            f"hierarchy covers classes 0..{hierarchy.n_fine - 1} but the dataset has "
            f"{n_classes} classes; groups must cover exactly 0..{n_classes - 1}",
        )
    if suite.criterion == "coarse" and hierarchy is None:
        raise fail(("criterion",), "criterion 'coarse' needs a suite 'hierarchy'")
    return hierarchy


def _check_refs(refs: list[str] | None, known: set[str], loc: tuple[str | int, ...], fail: Fail) -> None:
    for j, r in enumerate(refs or []):
        if r not in known:
            raise fail((*loc, j), f"no model {r!r} in this suite; {did_you_mean(r, sorted(known))}")
