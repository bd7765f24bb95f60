"""The attack base class: torchattacks' ``Attack`` plus a threat model, a success criterion, per-sample
random starts, gradient counting and PGD ascent."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torchattacks.attack import Attack as TorchattacksAttack

from robin_bench.attacks.criteria import Coarse, Criterion, Fine, Targeted, as_criterion
from robin_bench.attacks.losses import Objective, Success
from robin_bench.attacks.threat import Norm, ThreatModel
from robin_bench.errors import RobinBenchError

Family = Literal["gradient", "gradient_free", "transfer"]
FAMILIES: tuple[str, ...] = ("gradient", "gradient_free", "transfer")


def sample_seeds(x: Tensor, *keys: int | str | Tensor) -> list[int]:
    """One 63-bit seed per sample of ``x``: a hash of ``keys`` and the sample's bytes (as float32 on the CPU).

    The seed of a sample depends on nothing else (not on its batch, its position or the global RNG),
    which is what makes random starts per-sample reproducible.

    Arguments:
        x (Tensor): (N, ...) inputs.
        *keys: ints or strings shared by all samples, or (N,) tensors with one entry per sample.

    Returns:
        list[int]: N seeds for ``torch.Generator.manual_seed``.
    """
    rows = x.detach().to("cpu", torch.float32).contiguous().flatten(1).numpy()
    shared = [k for k in keys if not isinstance(k, Tensor)]
    per = [k.tolist() for k in keys if isinstance(k, Tensor)]
    seeds = []
    for i, row in enumerate(rows):
        h = hashlib.blake2b(digest_size=8)
        h.update(repr((shared, [p[i] for p in per])).encode())
        h.update(row.tobytes())
        seeds.append(int.from_bytes(h.digest(), "little") >> 1)
    return seeds


def record_best(
    best: Tensor, best_score: Tensor, broken: Tensor, active: Tensor, candidate: Tensor, score: Tensor, ok: Tensor
) -> Tensor:
    """Record one iterate of the active samples in place; return which of them keep going.

    The step shared by :meth:`Attack.ascend` and CW's optimizer: a sample keeps its first successful
    iterate, else its highest-score one; successful samples are marked broken and drop out.

    Arguments:
        best (Tensor): (N, ...) best iterate per sample, updated in place.
        best_score (Tensor): (N,) objective of ``best``, updated in place.
        broken (Tensor): (N,) bool, set True in place where ``ok``.
        active (Tensor): (A,) indices into N of the samples still attacked.
        candidate (Tensor): (A, ...) the current iterate of the active samples.
        score (Tensor): (A,) its objective.
        ok (Tensor): (A,) bool, its success.

    Returns:
        Tensor: (A,) bool ``~ok``, the active samples that keep going.
    """
    better = ok | (score > best_score[active])
    best[active[better]] = candidate[better]
    best_score[active[better]] = score[better]
    broken[active[ok]] = True
    return ~ok


class Attack(TorchattacksAttack):
    r"""Base class of robin-bench attacks.

    A subclass of torchattacks' ``Attack`` (so ``x_adv = attack(x, y)`` works and
    ``torchattacks.MultiAttack`` takes it) that owns a :class:`ThreatModel`: subclasses write only
    their objective; :meth:`ascend` does the projected steps, random start, restarts and
    early exit, so no attack can leave the ball or the [0, 1] box.

    Success is a criterion object (:mod:`robin_bench.attacks.criteria`): each sample stops on the
    criterion's success and the attack ascends the criterion's objective. ``criterion=Targeted()``
    puts the attack in torchattacks' ``targeted(label)`` mode (labels are targets); any torchattacks
    targeted mode makes the effective criterion :class:`Targeted`. Combinations that cannot work
    (a targeted mode under the coarse criterion, an attack that picks its own targets under the
    targeted criterion) raise ``RobinBenchError`` when set.

    Random starts are drawn per sample from a generator seeded by :func:`sample_seeds` (the attack's
    seed, the restart and the sample's bytes), so a sample's result does not depend on its batch,
    on early exit or on the global RNG.

    Attributes:
        threat (ThreatModel): norm and eps.
        criterion (Criterion): the success criterion in force (:class:`Targeted` in a targeted mode).
        family (str): ``"gradient"`` (uses the attacked model's input gradients), ``"gradient_free"``
            (queries outputs only) or ``"transfer"`` (gradients of another model only); masking
            checks compare the families per sample.
        loss (str): the objective's loss name (``"ce"``, ``"margin"``, ``"dlr"``) handed to
            ``criterion.objective``.
        returns_clean_on_failure (bool): True for attacks that return the clean input where they fail
            (AutoAttack); ``rb.evaluate`` does not flag them as no-ops when they break nothing.
        batch_invariant (bool): True where a sample's result depends only on the sample, the seed and the
            attack's settings, never on the other samples of its batch (every robin-bench attack); False for
            ``rb.attacks.AutoAttack``, where the guarantee stops (see ``rb.evaluate``'s reproducibility note).
        grad_evals (int): per-sample gradient evaluations spent so far (a batch of N costs N).
        seed (int): seed of the random starts; the same seed gives the same result.
    """

    family: Family = "gradient"
    loss: str = "ce"
    returns_clean_on_failure: bool = False
    batch_invariant: bool = True

    def __init__(
        self, name: str, model: nn.Module, *, norm: Norm, eps: float, seed: int = 0, criterion: Criterion | None = None
    ) -> None:
        super().__init__(name, model)
        self.threat = ThreatModel(norm, eps)
        self.seed = seed
        self.grad_evals = 0
        self.supported_mode = ["default", "targeted"]
        self._criterion: Criterion = Fine() if criterion is None else as_criterion(criterion, name)
        self._criterion_given = criterion

    def _apply_criterion(self) -> None:
        """Check and set the constructor's criterion, or :meth:`default_criterion`; subclasses call it last.

        Called after the subclass's own set-up because :meth:`default_criterion` and
        :meth:`check_criterion` may read its attributes (e.g. its hierarchy or loss).
        """
        given = self._criterion_given
        self.set_criterion(self.default_criterion() if given is None else given)

    def default_criterion(self) -> Criterion:
        """The criterion used when none is given: :class:`Fine`."""
        return Fine()

    @property
    def criterion(self) -> Criterion:
        """The criterion in force: :class:`Targeted` in a torchattacks targeted mode, else the one set."""
        return Targeted() if self.targeted else self._criterion

    def check_criterion(self, criterion: Criterion) -> None:
        """Raise ``RobinBenchError`` where this attack cannot work under ``criterion`` (subclasses refine)."""
        if criterion.targeted and "targeted" not in self.supported_mode:
            raise RobinBenchError(
                f"{self.attack} cannot run under criterion 'targeted' (it has no targeted mode); "
                "use criterion 'fine' or 'coarse'"
            )

    def set_criterion(self, criterion: Criterion) -> None:
        """Make ``criterion`` this attack's success criterion (``Targeted`` also sets ``targeted(label)`` mode)."""
        criterion = as_criterion(criterion, self.attack)
        self.check_criterion(criterion)
        if criterion.targeted:
            self._criterion = criterion
            if self.attack_mode != "targeted(label)":
                self.set_mode_targeted_by_label(quiet=True)
            return
        if self.targeted:
            self._set_mode_default()
        self._criterion = criterion

    @contextmanager
    def using_criterion(self, criterion: Criterion) -> Iterator[None]:
        """Run under ``criterion`` inside the ``with`` block; restore the criterion and modes afterwards.

        What ``rb.evaluate`` does with its own criterion, so an attack can never stop on a weaker
        notion of success than the evaluation counts.
        """
        saved = self._mode_state()
        try:
            self.set_criterion(criterion)
            yield
        finally:
            self._restore_mode_state(saved)

    def _mode_state(self) -> dict[str, Any]:
        keys = ("_criterion", "attack_mode", "targeted", "_target_map_function")
        state: dict[str, Any] = {k: self.__dict__.get(k) for k in keys}
        state["_subs"] = {n: a._mode_state() for n, a in self._attacks.items() if isinstance(a, Attack)}
        return state

    def _restore_mode_state(self, state: dict[str, Any]) -> None:
        subs = state["_subs"]
        for k, v in state.items():
            if k != "_subs":
                object.__setattr__(self, k, v)
        for n, sub_state in subs.items():
            self._attacks[n]._restore_mode_state(sub_state)

    def _set_mode_default(self) -> None:
        """torchattacks' default mode, quietly, on this attack and its sub-attacks."""
        self.attack_mode = "default"
        self.targeted = False
        for sub in self._attacks.values():
            if isinstance(sub, Attack):
                sub._set_mode_default()

    def _set_mode_targeted(self, mode: str, quiet: bool) -> None:
        if "targeted" not in self.supported_mode:
            raise RobinBenchError(f"{self.attack} has no targeted mode; it runs in the default mode only")
        if isinstance(self._criterion, Coarse):
            raise RobinBenchError(
                f"{self.attack}: a targeted mode makes the labels targets, which the coarse criterion cannot judge; "
                "use criterion 'targeted' or 'fine' with targeted modes"
            )
        self.targeted = True
        self.attack_mode = mode

    def aim(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Criterion]:
        """Inputs and labels moved to the attack's device (copies), the per-sample aim and the criterion.

        The aim is the label, or in a targeted mode the target (``get_target_label``).
        """
        x = images.clone().detach().to(self.device)
        y = labels.clone().detach().to(self.device)
        crit = self.criterion
        return x, (self.get_target_label(x, y) if crit.targeted else y), crit

    def optimize(self, x: Tensor, aux: Tensor, objective: Objective, success: Success) -> Tensor:
        r"""This attack's optimizer on any per-sample ``objective``, stopping each sample at ``success``.

        The one entry point through which attacks that change only the objective (ROBIN strategies,
        transfer) run any base attack. Base attacks (PGD, CW, FGSM) implement it.

        Arguments:
            x (Tensor): (N, ...) clean inputs in [0, 1].
            aux (Tensor): (N, ...) per-sample data passed to ``objective`` and ``success`` (labels,
                targets, row indices).
            objective (Objective): per-sample objective to maximize (margin-like, > 0 on success, for CW).
            success (Success): per-sample success test; each sample stops at its first success.

        Returns:
            Tensor: (N, ...) points inside the ball and the box.
        """
        raise RobinBenchError(f"{self.attack} is not a base attack: it has no optimizer for other objectives")

    def random_start_of(self, x: Tensor, *keys: int | str | Tensor) -> Tensor:
        """Per-sample random starts around ``x``, seeded by :func:`sample_seeds` from ``(seed, *keys, sample)``."""
        return self.threat.random_start(x, seeds=sample_seeds(x, self.seed, *keys))

    @property
    def eps(self) -> float:
        """Radius of the threat model."""
        return self.threat.eps

    @property
    def norm(self) -> Norm:
        """Norm of the threat model."""
        return self.threat.norm

    def budget(self, n_classes: int) -> int:
        """Model evaluations (gradients or queries) this attack may spend per attacked sample before early
        exit: ``steps x restarts x binary_search_steps`` of its recipe (1 for a single-step attack). An upper
        bound of its cost, for estimates such as ``robin-bench run --dry-run``.

        Arguments:
            n_classes (int): outputs of the attacked model (targeted searches try up to ``n_classes - 1``).
        """
        return (
            int(getattr(self, "steps", 1))
            * int(getattr(self, "restarts", 1))
            * int(getattr(self, "binary_search_steps", 1))
        )

    def generator(self, x: Tensor) -> torch.Generator:
        """A fresh generator on ``x``'s device seeded with ``self.seed``."""
        return torch.Generator(device=x.device).manual_seed(self.seed)

    def loss_and_grad(self, x: Tensor, aux: Tensor, objective: Objective) -> tuple[Tensor, Tensor, Tensor]:
        """Model output, per-sample objective and its input gradient at ``x`` (also under no_grad); counts N."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            out = self.get_logits(x)
            loss = objective(out, aux)
            (grad,) = torch.autograd.grad(loss.sum(), x)
        self.grad_evals += x.shape[0]
        return out.detach(), loss.detach(), grad.detach()

    def _first_iterate(
        self, x: Tensor, start: Tensor | None, random_start: bool, generator: torch.Generator | None, run: int
    ) -> Tensor:
        """``start`` projected around ``x``, else a random start (per sample without ``generator``) or ``x``."""
        if start is not None:
            return self.threat.project(start.detach().to(x.dtype), x)
        if not random_start:
            return x.clone()
        if generator is None:
            return self.random_start_of(x, "run", run)
        return self.threat.random_start(x, generator)

    def ascend(
        self,
        x: Tensor,
        aux: Tensor,
        objective: Objective,
        success: Success | None,
        *,
        steps: int,
        alpha: float,
        random_start: bool = True,
        restarts: int = 1,
        generator: torch.Generator | None = None,
        start: Tensor | None = None,
    ) -> Tensor:
        r"""Projected steepest ascent of ``objective`` inside the threat model.

        With a ``success`` test, each sample stops at its first successful iterate and later restarts
        run only on samples not yet broken; a sample never broken gets its highest-objective iterate.
        Without one (adversarial training), every sample takes all ``steps`` and gets its last iterate.

        Arguments:
            x (Tensor): (N, ...) clean inputs in [0, 1].
            aux (Tensor): (N,) labels or targets passed to ``objective`` and ``success``.
            objective (Objective): per-sample loss to maximize.
            success (Success | None): per-sample success test, or None for no early exit.
            steps (int): ascent steps per restart.
            alpha (float): step size in the threat model's norm.
            random_start (bool): start uniformly in the ball instead of at ``x``.
            restarts (int): number of runs; later ones only on samples not yet broken.
            generator (torch.Generator | None): draws the starts of the whole batch (adversarial
                training); None draws each sample's start from :meth:`random_start_of` with the run index
                as key, so the result of a sample does not depend on its batch. (Default: None)
            start (Tensor | None): (N, ...) first iterate of the first run, projected into the ball and
                the box (e.g. a random start drawn per sample by the caller); None starts as
                ``random_start`` says. Later restarts always start as ``random_start`` says. (Default: None)

        Returns:
            Tensor: (N, ...) adversarial inputs inside the ball and the box.
        """
        x = x.detach()
        if start is not None and start.shape != x.shape:
            raise RobinBenchError(
                f"ascend: start has shape {tuple(start.shape)} but x has {tuple(x.shape)}; pass one start per input"
            )
        if success is None:
            xa = self._first_iterate(x, start, random_start, generator, 0)
            for _ in range(steps):
                _, _, grad = self.loss_and_grad(xa, aux, objective)
                xa = self.threat.project(xa + alpha * self.threat.ascent_direction(grad), x)
            return xa
        best = x.clone()
        best_loss = x.new_full((x.shape[0],), float("-inf"))
        broken = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for run in range(restarts):
            active = (~broken).nonzero()[:, 0]
            if active.numel() == 0:
                break
            x0 = x[active]
            xa = self._first_iterate(
                x0, start[active] if run == 0 and start is not None else None, random_start, generator, run
            )
            for t in range(steps + 1):
                if t < steps:
                    out, loss, grad = self.loss_and_grad(xa, aux[active], objective)
                else:
                    with torch.no_grad():
                        out = self.get_logits(xa)
                        loss = objective(out, aux[active])
                ok = success(out, aux[active])
                keep = record_best(best, best_loss, broken, active, xa, loss, ok)
                if t == steps or not bool(keep.any()):
                    break
                x0, active, xa, grad = x0[keep], active[keep], xa[keep], grad[keep]
                xa = self.threat.project(xa + alpha * self.threat.ascent_direction(grad), x0)
        return best
