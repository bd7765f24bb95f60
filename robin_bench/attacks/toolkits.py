"""The toolkits' attacks by name: every torchattacks attack with a budget as ``torchattacks.NAME`` and every ART
evasion attack that applies to an image classifier as ``art.NAME``, for suites (``attack: torchattacks.PGD``).

Each is constructed like robin-bench's own, ``cls(model, *, norm, eps, **kwargs)``: the suite supplies ``norm`` and
``eps``, ``kwargs`` are checked against the toolkit's own signature (the wrapper exposes it), rows label the attack
with its registered name.

- ``torchattacks.NAME``: the torchattacks class itself, built with ``eps`` (and ``norm`` where it takes one; an
  attack without a ``norm`` argument is Linf, or L2 when its name ends in ``L2``, and refuses the other norm).
  Square and SPSA are gradient-free (``family``), which the cell's masking comparison uses.
- ``art.NAME``: the ART attack on ``rb.estimators.to_art(model)`` (on ``softmax(model)`` for the attacks that need
  probabilities: NewtonFool, SimBA, VirtualAdversarialMethod), with ``eps`` and ``norm`` where it takes them. A
  minimum-norm or decision-based attack without a budget (HopSkipJump, BoundaryAttack, SignOPT, DeepFool,
  Carlini-Wagner, ElasticNet, ZOO, ...) is run as ART runs it and its output is projected onto the threat model's
  ball, so the evaluation re-checks whether the projected point still succeeds. Their success is ART's fine
  misclassification, whatever the evaluation's criterion; the evaluation re-checks every output under its own.

Example::

    >>> pgd = ATTACKS.get("torchattacks.PGD")(model, norm="Linf", eps=0.1, steps=10)
    >>> hsj = ATTACKS.get("art.HopSkipJump")(model, norm="L2", eps=0.5, max_iter=10, max_eval=100)
    >>> x_adv = hsj(x, y)
"""

from __future__ import annotations

import inspect
from typing import Any, cast

import numpy as np
import torch
import torchattacks
from torch import Tensor, nn
from torchattacks.attack import Attack

from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.threat import Norm, ThreatModel
from robin_bench.errors import RobinBenchError

TORCHATTACKS_SKIPPED: dict[str, str] = {
    "MultiAttack": "combines other attacks (list them in the suite instead)",
    "LGV": "trains surrogate models from a data loader",
    "PIFGSM": "takes max_epsilon in its own units, not the suite's eps",
    "PIFGSMPP": "takes max_epsilon in its own units, not the suite's eps",
}
"""torchattacks attacks with an ``eps`` that are not registered, and why (those without a budget are not either:
CW, DeepFool, OnePixel, JSMA, EAD, SparseFool, Pixle, GN, VANILA)."""

GRADIENT_FREE = (
    "Square",
    "SPSA",
    "SquareAttack",
    "HopSkipJump",
    "BoundaryAttack",
    "SignOPTAttack",
    "ZooAttack",
    "SimBA",
)
"""Toolkit attacks that query scores or decisions only."""

ART_ATTACKS: dict[str, bool] = {
    "FastGradientMethod": False,
    "ProjectedGradientDescent": False,
    "BasicIterativeMethod": False,
    "MomentumIterativeMethod": False,
    "AutoProjectedGradientDescent": False,
    "AutoConjugateGradient": False,
    "RescalingAutoConjugateGradient": False,
    "AutoAttack": False,
    "CarliniL2Method": False,
    "CarliniLInfMethod": False,
    "DeepFool": False,
    "ElasticNet": False,
    "UniversalPerturbation": False,
    "SquareAttack": False,
    "HopSkipJump": False,
    "ZooAttack": False,
    "BoundaryAttack": False,
    "SignOPTAttack": False,
    "Wasserstein": False,
    "NewtonFool": True,
    "SimBA": True,
    "VirtualAdversarialMethod": True,
}
"""ART evasion attacks registered as ``art.NAME`` -> whether they need a softmax head (README's table)."""

_ART_BUDGET = (
    "FastGradientMethod",
    "ProjectedGradientDescent",
    "BasicIterativeMethod",
    "MomentumIterativeMethod",
    "AutoProjectedGradientDescent",
    "AutoConjugateGradient",
    "RescalingAutoConjugateGradient",
    "AutoAttack",
    "UniversalPerturbation",
    "SquareAttack",
)
"""ART attacks whose ``eps`` is the threat model's radius (the others' ``eps``/``epsilon`` mean something else)."""


def _check_norm(name: str, norm: Norm, supported: tuple[str, ...]) -> None:
    ThreatModel(norm, 0.0)
    if norm not in supported:
        other = "an L2 variant (e.g. torchattacks.PGDL2)" if norm == "L2" else "its Linf variant"
        raise RobinBenchError(f"{name} is an {'/'.join(supported)} attack, not {norm}; use {other} or another attack")


def _signature(params: list[inspect.Parameter]) -> inspect.Signature:
    """``(model, *, norm, eps, <the toolkit's other arguments>)``, all keyword-only after ``model``."""
    head = [
        inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("norm", inspect.Parameter.KEYWORD_ONLY, default="Linf"),
        inspect.Parameter("eps", inspect.Parameter.KEYWORD_ONLY, default=8 / 255),
    ]
    rest = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in params
        if p.name not in ("model", "norm", "eps", "estimator", "classifier", "targeted")
        and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return inspect.Signature(head + rest)


def _torchattacks_class(name: str, base: type) -> type:
    params = list(inspect.signature(base).parameters.values())
    takes_norm = any(p.name == "norm" for p in params)
    supported = ("Linf", "L2") if takes_norm else (("L2",) if name.endswith("L2") else ("Linf",))
    label = f"torchattacks.{name}"

    def __init__(self: Any, model: nn.Module, *, norm: Norm = "Linf", eps: float = 8 / 255, **kwargs: Any) -> None:
        _check_norm(label, norm, supported)
        cast(Any, base).__init__(self, model, eps=eps, **({"norm": norm} if takes_norm else {}), **kwargs)
        self.threat = ThreatModel(norm, eps)

    cls = type(
        name,
        (base,),
        {
            "__init__": __init__,
            "__signature__": _signature(params),
            "__module__": __name__,
            "__doc__": f"``{label}`` with the suite's norm and eps ({'/'.join(supported)}); see torchattacks.{name}.",
            "family": "gradient_free" if name in GRADIENT_FREE else "gradient",
        },
    )
    return cls


class ArtAttack(Attack):
    r"""An ART evasion attack used as ``x_adv = attack(x, y)`` on a robin-bench model (see the module docstring).

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits or log-probabilities.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): radius of the threat model's ball, in input units. (Default: 8/255)
        **kwargs: the ART attack's own arguments (``max_iter``, ``batch_size``, ...).

    Shape:
        - images: (N, C, H, W) in [0, 1].
        - labels: (N,) class labels.
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``.
    """

    art_name: str = ""
    softmax_head: bool = False

    def __init__(self, model: nn.Module, *, norm: Norm = "Linf", eps: float = 8 / 255, **kwargs: Any) -> None:
        super().__init__(f"art.{self.art_name}", model)
        self.threat = ThreatModel(norm, eps)
        self.kwargs = kwargs
        self.supported_mode = ["default", "targeted"]
        self.family = "gradient_free" if self.art_name in GRADIENT_FREE else "gradient"
        params = inspect.signature(self._art_class()).parameters
        if "norm" not in params and norm != "Linf" and self.art_name in _ART_BUDGET:
            raise RobinBenchError(f"art.{self.art_name} is an Linf attack, not {norm}; use another attack for {norm}")
        unknown = [k for k in kwargs if k not in params or k in ("norm", "eps", "targeted")]
        if unknown:
            raise RobinBenchError(f"art.{self.art_name} takes no argument {unknown[0]!r} from a suite")

    def _art_class(self) -> type:
        import art.attacks.evasion as evasion

        return getattr(evasion, self.art_name)

    def _art_attack(self, model: nn.Module, shape: tuple[int, ...]) -> Any:
        from robin_bench.estimators.art import to_art

        cls = self._art_class()
        params = inspect.signature(cls).parameters
        kw = dict(self.kwargs)
        if "norm" in params:
            kw["norm"] = np.inf if self.threat.norm == "Linf" else 2
        if "eps" in params and self.art_name in _ART_BUDGET:
            kw["eps"] = self.threat.eps
        if "targeted" in params:
            kw["targeted"] = self.targeted
        if "verbose" in params:
            kw.setdefault("verbose", False)
        head = nn.Sequential(model, nn.Softmax(dim=1)) if self.softmax_head else model
        c, h, w = shape
        estimator = to_art(head, input_shape=(c, h, w), device_type="gpu" if self.device.type == "cuda" else "cpu")
        return cls(estimator, **kw)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        x = images.detach()
        attack = self._art_attack(self.model, tuple(x.shape[1:]))
        aim = self.get_target_label(x, labels) if self.targeted else labels
        with torch.no_grad():
            k = int(self.get_logits(x[:1]).shape[1])
        y = np.eye(k, dtype=np.float32)[aim.cpu().numpy()]
        adv = attack.generate(x.cpu().numpy().astype(np.float32), y=y)
        return self.threat.project(torch.from_numpy(np.asarray(adv, dtype=np.float32)).to(x.device), x)


def _art_class(name: str, softmax_head: bool) -> type:
    import art.attacks.evasion as evasion

    params = list(inspect.signature(getattr(evasion, name)).parameters.values())
    return type(
        name,
        (ArtAttack,),
        {
            "art_name": name,
            "softmax_head": softmax_head,
            "__signature__": _signature(params),
            "__module__": __name__,
            "__doc__": f"``art.{name}`` through ``rb.estimators.to_art`` (see :class:`ArtAttack`).",
        },
    )


def _register() -> None:
    for name in torchattacks.__all__:
        base = getattr(torchattacks, name, None)
        if (
            inspect.isclass(base)
            and issubclass(base, Attack)
            and name not in TORCHATTACKS_SKIPPED
            and "eps" in inspect.signature(base).parameters
        ):
            ATTACKS.register(f"torchattacks.{name}")(_torchattacks_class(name, base))
    for name, softmax_head in ART_ATTACKS.items():
        ATTACKS.register(f"art.{name}")(_art_class(name, softmax_head))


_register()
