"""The run context: what every job of a run reads (suite, plan, run folder, device, data, trained models).

The suite is worked out once into a :class:`~robin_bench.bench.planner.Plan` by the run; jobs carry that plan, and
a job in a worker process builds its context from it (:meth:`RunContext.of_plan`: no planning again, no state kept
between jobs), while jobs in the run's own process are handed the run's context. Data and models are loaded at
most once per context, on first use. Models are only *loaded* here (the user's checkpoint or weights, or the run
folder's cache); training is a job (:mod:`robin_bench.bench.jobs`).

Example::

    >>> ctx = RunContext.of_plan(plan)
    >>> x, y = ctx.eval_data()
    >>> net = ctx.model("robin")
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import torch
from torch import Tensor, nn

from robin_bench.bench.planner import ModelPlan, Plan
from robin_bench.bench.schema import Suite
from robin_bench.bench.store import RunFolder
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models.kinds import KINDS, kind_of


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; anything else as given (checked to exist)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RobinBenchError(f"device {name!r} requested but CUDA is not available; use device: cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RobinBenchError("device 'mps' requested but MPS is not available; use device: cpu or auto")
    return torch.device(name)


class RunContext:
    """Suite, plan, run folder and device of one run; its data and models, each loaded at most once.

    Arguments:
        suite (Suite): the validated suite.
        plan (Plan): its plan against ``folder``.
        folder (RunFolder): the output directory.
        device (torch.device): where models run.
        log (TextIO | None): where progress lines go. (Default: ``sys.stderr``)
        memory (Mapping[str, nn.Module] | None): in-memory models by suite model name (the plan marks them).
    """

    def __init__(
        self,
        suite: Suite,
        plan: Plan,
        folder: RunFolder,
        device: torch.device,
        *,
        log: TextIO | None = None,
        memory: Mapping[str, nn.Module] | None = None,
    ) -> None:
        self.suite, self.plan, self.folder, self.device = suite, plan, folder, device
        self.memory: Mapping[str, nn.Module] = memory or {}
        self.log: TextIO = log if log is not None else sys.stderr
        self.hierarchy: Hierarchy | None = suite.get_hierarchy()
        self._models: dict[str, nn.Module] = {}
        self._eval: tuple[Tensor, Tensor] | None = None
        self._train: tuple[Tensor, Tensor] | None = None

    @classmethod
    def of_plan(cls, plan: Plan, *, log: TextIO | None = None) -> RunContext:
        """The context of a run's ``plan`` in a worker process: the suite's plugins imported (a worker starts without
        them), its output folder, its device; nothing planned again, nothing written."""
        from robin_bench.plugins import load_plugins

        load_plugins(plan.suite.plugins)
        return cls(plan.suite, plan, RunFolder(plan.suite.output_dir), resolve_device(plan.suite.device), log=log)

    def _load(self, split: str, n: int | None) -> tuple[Tensor, Tensor]:
        import robin_bench.data as datasets

        d = self.suite.dataset
        x, y = datasets.load(d.name, split=split, root=d.root, n_examples=n, classes=d.classes, seed=d.seed)[:2]
        return x, y

    def eval_data(self) -> tuple[Tensor, Tensor]:
        """The attacked samples (``dataset.split``, ``n_examples``), on CPU."""
        if self._eval is None:
            self._eval = self._load(self.suite.dataset.split, self.suite.dataset.n_examples)
        return self._eval

    def train_data(self) -> tuple[Tensor, Tensor]:
        """The training samples (``dataset.train_split``, ``n_train``), on CPU."""
        if self._train is None:
            self._train = self._load(self.suite.dataset.train_split, self.suite.dataset.n_train)
        return self._train

    def build_kwargs(self, mp: ModelPlan) -> dict[str, Any]:
        """The :func:`robin_bench.models.factory.build_model` arguments (besides the kind) of model ``mp``."""
        import robin_bench.data as datasets

        d = self.suite.dataset
        info = datasets.info(d.name, root=d.root)
        x, y = self.eval_data()
        n_classes = len(d.classes) if d.classes is not None else int(info.n_classes or int(y.max()) + 1)
        norm = mp.spec.normalize
        mean, std = (
            (info.mean, info.std)
            if mp.spec.weights is None
            else ((None, None) if norm is None else (tuple(norm.mean), tuple(norm.std)))
        )
        return {
            "arch": mp.spec.arch,
            "in_shape": tuple(x.shape[1:]),
            "n_classes": n_classes,
            "hierarchy": self.hierarchy if KINDS.get(mp.spec.kind).needs_hierarchy else None,
            "mean": mean,
            "std": std,
        }

    def expected_spec(self, mp: ModelPlan) -> dict[str, Any]:
        """The checkpoint spec model ``mp`` must have (:func:`robin_bench.models.factory.model_spec`)."""
        from robin_bench.models.factory import model_spec

        return model_spec(mp.spec.kind, **self.build_kwargs(mp))

    def spec_mismatch(self, mp: ModelPlan, sidecar: dict[str, Any]) -> str | None:
        """What differs between checkpoint ``sidecar`` and model ``mp`` (kind, arch, input shape, classes,
        hierarchy; for a cached model also the training recipe), or None when it fits."""
        got, want = sidecar.get("spec") or {}, self.expected_spec(mp)
        keys = ["kind", "in_shape", "n_classes", "hierarchy"] + (["arch"] if mp.spec.arch is not None else [])
        for k in keys:
            if got.get(k) != want.get(k):
                return f"its {k} is {got.get(k)!r}, the suite's model has {want.get(k)!r}"
        if mp.train is not None and sidecar.get("train_config") != json.loads(json.dumps(mp.train.to_dict())):
            return "it was trained with another recipe"
        return None

    def check_checkpoint(self, mp: ModelPlan) -> None:
        """A user checkpoint that does not fit model ``mp`` is a ``RobinBenchError`` (exit 2) naming the file."""
        from robin_bench.models.checkpoint import read_sidecar

        if mp.spec.checkpoint is None or mp.checkpoint is None:
            return
        problem = self.spec_mismatch(mp, read_sidecar(mp.checkpoint))
        if problem is not None:
            raise RobinBenchError(
                f"checkpoint {mp.spec.checkpoint} does not fit model {mp.spec.name!r} "
                f"(kind {mp.spec.kind}, dataset {self.suite.dataset.name}): {problem}"
            )

    def cache_fits(self, mp: ModelPlan) -> str | None:
        """Why the cached checkpoint of ``mp`` cannot be used (None when it fits or there is none)."""
        from robin_bench.models.checkpoint import read_sidecar

        path = self.folder.checkpoint_path(mp.spec.name, mp.key)
        if mp.spec.loaded or path is None:
            return None
        try:
            return self.spec_mismatch(mp, read_sidecar(path))
        except RobinBenchError as e:
            return str(e)

    def untrained(self, mp: ModelPlan) -> tuple[nn.Module, Any]:
        """Model ``mp`` initialized from its training seed on the run's device, and its train config."""
        from robin_bench.models.factory import build_model

        cfg = mp.train.__class__.from_dict({**mp.train.to_dict(), "progress": True})  # bar on a terminal, else lines
        torch.manual_seed(cfg.seed)
        return build_model(mp.spec.kind, **self.build_kwargs(mp)).to(self.device), cfg

    def model(self, model_id: str) -> nn.Module:
        """Model ``model_id`` (a plan id) in eval mode on the device: the user's weights or checkpoint, or the
        cached one.

        Raises:
            RobinBenchError: it is not trained yet (train it with :func:`robin_bench.bench.jobs.train_models`),
                or its checkpoint or weights fail verification.
        """
        if model_id not in self._models:
            mp = self.plan.models[model_id]
            model = (
                self.memory[mp.spec.name]
                if mp.memory
                else self._weights(mp)
                if mp.spec.weights is not None
                else self._checkpoint(mp)
            )
            self._models[model_id] = arm_execution(
                model.to(self.device).eval(), self.suite.arm_execution, self.eval_data()[0][:64].to(self.device)
            )
        return self._models[model_id]

    def _checkpoint(self, mp: ModelPlan) -> nn.Module:
        from robin_bench.models.checkpoint import load_checkpoint

        path = mp.checkpoint if mp.spec.checkpoint is not None else self.folder.checkpoint_path(mp.spec.name, mp.key)
        if path is None:
            raise RobinBenchError(f"model {mp.id!r} is not trained yet in {self.folder.path}")
        self.check_checkpoint(mp)
        return load_checkpoint(path)

    def _weights(self, mp: ModelPlan) -> nn.Module:
        """Model ``mp`` from the user's state_dict files; its clean accuracy on the attacked split goes to the log,
        so that a wrong file is noticed at once."""
        from robin_bench.models.weights import load_weights

        model = load_weights(mp.spec.kind, weights=mp.spec.weights, **self.build_kwargs(mp))  # type: ignore[arg-type]
        x, y = self.eval_data()
        with torch.no_grad():
            correct = sum(int((model(x[i : i + 256]).argmax(1) == y[i : i + 256]).sum()) for i in range(0, len(x), 256))
        print(
            f"loaded {mp.id} ({mp.spec.kind} {mp.spec.arch}) from your weights: clean accuracy "
            f"{correct / max(len(x), 1):.3f} on the {len(x)} attacked {self.suite.dataset.split} samples",
            file=self.log,
            flush=True,
        )
        return model


def arm_execution(model: nn.Module, how: str, example: Tensor) -> nn.Module:
    """``model`` run as ``how`` (the suite's ``arm_execution``) says, through its kind's ``fast``: a ROBIN's arms
    as one vmapped module when ``how`` is ``"vmap"``, or is ``"auto"`` and a timing of both on ``example`` favours
    it (``choose_arm_execution``); other kinds as their kind decides (unchanged by default)."""
    return kind_of(model).fast(model, how, example)
