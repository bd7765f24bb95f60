"""AutoAttack (Croce and Hein 2020) through pyautoattack, as a robin-bench attack."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor, nn

from robin_bench.attacks.base import Attack
from robin_bench.attacks.criteria import Coarse, Criterion, coarse_max
from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.threat import Norm
from robin_bench.errors import RobinBenchError

if TYPE_CHECKING:
    from pyautoattack.autopgd_base import APGDAttack

Version = Literal["standard", "plus", "rand", "custom"]
VERSIONS: tuple[str, ...] = ("standard", "plus", "rand", "custom")
AA_ATTACKS: tuple[str, ...] = ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")

MIN_CLASSES: dict[str, int] = {"apgd-dlr": 3, "apgd-t": 4, "fab-t": 2}
"""Fewest classes each attack can run with: DLR divides by ``z_pi1 - z_pi3`` (3 classes), targeted DLR by
``z_pi1 - (z_pi3 + z_pi4) / 2`` (4 classes); a targeted attack needs one class besides the true one."""


class _Counted(nn.Module):
    """The attacked model, counting per-sample forward passes and per-sample backward passes through its output.

    Under the coarse criterion it returns the coarse view :func:`~robin_bench.attacks.criteria.coarse_max`
    (column ``z``: the max fine output of coarse class ``z``), whose misclassification is coarse misclassification.
    """

    def __init__(self, model: nn.Module, owner: AutoAttack) -> None:
        super().__init__()
        self.model = model
        self.owner = owner

    def forward(self, x: Tensor) -> Tensor:
        owner, n = self.owner, x.shape[0]
        out = self.model(x)
        crit = owner.criterion
        if isinstance(crit, Coarse):
            out = coarse_max(out, crit.hierarchy)
        owner.queries += n

        def count(grad: Tensor) -> None:
            owner.grad_evals += n

        if out.requires_grad:
            out.register_hook(count)
        return out


class _Collect(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


@ATTACKS.register("autoattack")
class AutoAttack(Attack):
    r"""AutoAttack in the paper 'Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks' [https://arxiv.org/abs/2003.01690], run by ``pyautoattack``, Linf or L2.

    The ensemble (APGD-CE, APGD-T, FAB-T, Square for ``"standard"``) runs with AutoAttack's own worst
    case and early exit; the result is projected once more onto this attack's threat model, so it
    never leaves the ball or the box, and ``eps=0`` returns the input. Works on ROBIN (arm logits),
    HAR (log-probabilities: AutoAttack's probability check does not fire on them, and DLR is shift
    invariant, so DLR on log P(y|x) equals DLR on the joint logits) and flat models.

    Few classes: APGD-DLR needs K >= 3 and APGD-T K >= 4 (``MIN_CLASSES``); the ``"standard"``,
    ``"plus"`` and ``"rand"`` versions drop what cannot run on the model (``dropped`` lists it),
    ``"custom"`` raises ``RobinBenchError`` when asked for it. The number of target classes of APGD-T
    and FAB-T is capped at K - 1 (pyautoattack would index past the last class).

    Criterion: AutoAttack only knows fine misclassification. Under ``Coarse(hierarchy)`` it runs on
    a coarse view of the model whose column ``z`` is the max of the fine outputs of coarse class
    ``z``, with coarse labels: misclassification of the view is exactly coarse misclassification
    (``coarse_of(argmax) != coarse_of(y)``), and the class counts below are coarse classes. The
    targeted criterion is refused (AutoAttack picks its own targets).

    Randomness: pyautoattack seeds torch's generator with ``seed`` before each component, so a call
    does not depend on the global RNG state; its result for a sample can depend on the other samples
    of the call (the batch): APGD's random starts and Square's squares are drawn for the whole batch, in
    an order set by which samples are still running (``batch_invariant`` is False). In a worst case
    over attacks this is where robin-bench's per-sample guarantee stops: a sample that only an
    AutoAttack component (Square, on a masked model) breaks may be broken in one batch and not in
    another. The label-only :class:`~robin_bench.attacks.rays.RayS` of the standard set is the
    gradient-free component with per-sample randomness.

    Costs: ``grad_evals`` counts per-sample backward passes through the model output (an APGD step
    on N samples costs N, with EOT ``eot_iter * N``; FAB's untargeted Jacobian costs K * N; Square costs 0),
    ``queries`` counts per-sample forward passes, including AutoAttack's own checks (7 per sample).
    Warnings of AutoAttack's checks (probability outputs, randomness, dynamic defenses, Square
    beating APGD) are kept in ``warnings``.

    pyautoattack reseeds torch's global generator; this attack restores it afterwards.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, K) logits or log-probabilities.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): maximum perturbation in input units. (Default: 8/255)
        version (str): ``"standard"``, ``"plus"``, ``"rand"`` (EOT for randomized models) or ``"custom"``.
            (Default: ``"standard"``)
        attacks_to_run (Sequence[str] | None): with ``"custom"``, a non-empty subset of
            ``apgd-ce, apgd-dlr, fab, square, apgd-t, fab-t`` in run order. (Default: None)
        n_classes (int | None): K; None reads it from the first forward pass. (Default: None)
        n_iter (int | None): iterations of APGD and FAB; None keeps AutoAttack's 100. (Default: None)
        n_queries (int | None): Square's query budget; None keeps AutoAttack's 5000. (Default: None)
        restarts (int | None): restarts of APGD-CE, APGD-DLR and FAB; None keeps pyautoattack's (1 in
            the ``"standard"`` version, 5 otherwise). (Default: None)
        seed (int): seed of every random start. (Default: 0)
        verbose (bool): AutoAttack's progress messages (logger ``"auto-attack"``). (Default: False)
        criterion (Criterion | None): ``criteria.Fine()`` or ``Coarse(hierarchy)``; None means ``Fine()``.
            (Default: None)
        drop_unrunnable (bool | None): drop components that cannot run on the model's class count
            instead of raising; None means True except for ``"custom"``. (Default: None)

    Attributes:
        family (str): ``"gradient_free"`` when Square is the only component, else ``"gradient"``.
        batch_invariant (bool): False: a sample's result can depend on its batch (see Randomness).
        returns_clean_on_failure (bool): True: AutoAttack returns the clean input where it fails.

    Shape:
        - images: (N, C, H, W) in [0, 1].
        - labels: (N,) class labels.
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``.

    Examples::

        >>> attack = rb.attacks.AutoAttack(model, norm="Linf", eps=8 / 255)
        >>> adv_images = attack(images, labels)
        >>> quick = rb.attacks.AutoAttack(model, eps=0.1, version="custom", attacks_to_run=["apgd-ce"], n_iter=20)
    """

    returns_clean_on_failure = True
    batch_invariant = False

    def __init__(
        self,
        model: nn.Module,
        *,
        norm: Norm = "Linf",
        eps: float = 8 / 255,
        version: Version = "standard",
        attacks_to_run: Sequence[str] | None = None,
        n_classes: int | None = None,
        n_iter: int | None = None,
        n_queries: int | None = None,
        restarts: int | None = None,
        seed: int = 0,
        verbose: bool = False,
        criterion: Criterion | None = None,
        drop_unrunnable: bool | None = None,
    ) -> None:
        super().__init__("AutoAttack", model, norm=norm, eps=eps, seed=seed, criterion=criterion)
        self.supported_mode = ["default"]
        if version not in VERSIONS:
            raise RobinBenchError(f"unknown AutoAttack version {version!r}; valid: {', '.join(VERSIONS)}")
        if (version == "custom") != (attacks_to_run is not None):
            raise RobinBenchError(
                f"AutoAttack attacks_to_run={attacks_to_run!r} with version={version!r}; "
                "give attacks_to_run exactly when version='custom'"
            )
        if attacks_to_run is not None:
            unknown = [a for a in attacks_to_run if a not in AA_ATTACKS]
            if not attacks_to_run or unknown:
                raise RobinBenchError(
                    f"AutoAttack attacks_to_run {list(attacks_to_run)!r} is empty or has unknown names {unknown}; "
                    f"valid: {', '.join(AA_ATTACKS)}"
                )
        for name, value in (
            ("n_classes", n_classes),
            ("n_iter", n_iter),
            ("n_queries", n_queries),
            ("restarts", restarts),
        ):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise RobinBenchError(f"AutoAttack {name} must be a positive int or None, got {value!r}")
        if n_classes is not None and n_classes < 2:
            raise RobinBenchError(f"AutoAttack n_classes must be >= 2, got {n_classes}")
        self.version = version
        self.n_classes = n_classes
        self.verbose = verbose
        self.queries = 0
        self.warnings: list[str] = []
        self.dropped: list[str] = []
        device = self.device if self.device is not None else torch.device("cpu")
        import pyautoattack  # about 0.8 s: imported when an AutoAttack is built, not by every CLI call

        self._aa = pyautoattack.AutoAttack(
            _Counted(model, self),
            norm=norm,
            eps=float(eps),
            seed=seed,
            version=version,
            attacks=list(attacks_to_run) if attacks_to_run is not None else None,
            device=device,
        )
        self._aa.verbose = verbose
        if n_iter is not None:
            self._aa.apgd = _apgd_with_iters(self._aa.apgd, n_iter)
            self._aa.apgd_targeted = _apgd_with_iters(self._aa.apgd_targeted, n_iter)
            self._aa.fab.n_iter = n_iter
        if n_queries is not None:
            self._aa.square.n_queries = n_queries
        if restarts is not None:
            self._aa.apgd.n_restarts = restarts
            self._aa.fab.n_restarts = restarts
        self.attacks_to_run: list[str] = list(self._aa.attacks_to_run)
        self._n_target_classes = (self._aa.apgd_targeted.n_target_classes, self._aa.fab.n_target_classes)
        self.drop_unrunnable = version != "custom" if drop_unrunnable is None else drop_unrunnable
        self.family = "gradient_free" if self.attacks_to_run == ["square"] else "gradient"
        self._apply_criterion()

    def check_criterion(self, criterion: Criterion) -> None:
        if criterion.targeted:
            raise RobinBenchError(
                "AutoAttack picks its own targets (APGD-T, FAB-T), so it cannot run under criterion 'targeted'; "
                "use criterion 'fine' or 'coarse', or a robin-bench attack (PGD, CW) for given targets"
            )

    def _runnable(self, k: int) -> list[str]:
        too_few = [a for a in self.attacks_to_run if k < MIN_CLASSES.get(a, 2)]
        if too_few and not self.drop_unrunnable:
            raise RobinBenchError(
                f"AutoAttack attacks {too_few} need at least "
                f"{[MIN_CLASSES[a] for a in too_few]} classes, the model (or coarse view) has {k}; "
                "remove them from attacks_to_run"
            )
        self.dropped = too_few
        return [a for a in self.attacks_to_run if a not in too_few]

    @contextmanager
    def _collect_warnings(self) -> Iterator[None]:
        handler = _Collect(self.warnings)
        self._aa.logger.addHandler(handler)
        try:
            yield
        finally:
            self._aa.logger.removeHandler(handler)

    def budget(self, n_classes: int) -> int:
        """Iterations x restarts (x target classes, at most ``n_classes - 1``) of each component, Square's queries."""
        aa, targets = self._aa, max(1, n_classes - 1)
        per = {
            "apgd-ce": aa.apgd.n_iter * aa.apgd.n_restarts,
            "apgd-dlr": aa.apgd.n_iter * aa.apgd.n_restarts,
            "apgd-t": aa.apgd_targeted.n_iter * aa.apgd_targeted.n_restarts * min(self._n_target_classes[0], targets),
            "fab": aa.fab.n_iter * aa.fab.n_restarts,
            "fab-t": aa.fab.n_iter * aa.fab.n_restarts * min(self._n_target_classes[1], targets),
            "square": aa.square.n_queries * aa.square.n_restarts,
        }
        return sum(per.get(name, 0) for name in self.attacks_to_run)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        x = images.clone().detach().to(self.device)
        y = labels.clone().detach().to(self.device).long()
        if self.eps == 0 or x.shape[0] == 0:
            return x
        with torch.no_grad():
            k = int(self.get_logits(x[:1]).shape[1])
        if self.n_classes is not None and self.n_classes != k:
            raise RobinBenchError(f"AutoAttack n_classes={self.n_classes} but the model returns {k} classes")
        crit = self.criterion
        if isinstance(crit, Coarse):
            if k != crit.hierarchy.n_fine:
                raise RobinBenchError(
                    f"AutoAttack under the coarse criterion: the model returns {k} classes, the hierarchy has "
                    f"{crit.hierarchy.n_fine} fine classes"
                )
            k, y = crit.hierarchy.n_coarse, crit.hierarchy.coarse_of(y)
        self._aa.attacks_to_run = self._runnable(k)
        if not self._aa.attacks_to_run:
            return x
        self._aa.apgd_targeted.n_target_classes = min(self._n_target_classes[0], k - 1)
        self._aa.fab.n_target_classes = min(self._n_target_classes[1], k - 1)
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), self._collect_warnings():
            x_adv, _ = self._aa.run_standard_evaluation(x, y, batch_size=x.shape[0])
        return self.threat.project(x_adv.detach(), x)


def _apgd_with_iters(old: APGDAttack, n_iter: int) -> APGDAttack:
    """A copy of pyautoattack's APGD (plain or targeted) with ``n_iter`` iterations.

    APGD derives its step-size checkpoints from ``n_iter`` in its constructor, so the iterations are
    changed by constructing a new one with the old one's settings rather than by setting ``n_iter``.
    """
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted

    common = {
        "n_iter": n_iter,
        "norm": old.norm,
        "n_restarts": old.n_restarts,
        "eps": old.eps,
        "seed": old.seed,
        "eot_iter": old.eot_iter,
        "rho": old.thr_decr,
        "topk": old.topk,
        "verbose": old.verbose,
        "device": old.device,
        "use_largereps": old.use_largereps,
        "logger": old.logger,
    }
    if isinstance(old, APGDAttack_targeted):
        return APGDAttack_targeted(old.model, n_target_classes=old.n_target_classes, **common)
    return APGDAttack(old.model, loss=old.loss, **common)
