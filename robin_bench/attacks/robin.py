"""The six ROBIN attack strategies (ROBIN Section 4.2 and Appendix B.1), each an objective over arm logits."""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robin_bench.attacks.base import Attack
from robin_bench.attacks.criteria import Criterion
from robin_bench.attacks.cw import CW
from robin_bench.attacks.losses import Objective, Success, ce, ce_targeted
from robin_bench.attacks.pgd import PGD
from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.threat import Norm
from robin_bench.errors import RobinBenchError

STRATEGIES: tuple[str, ...] = ("softmax", "top2", "best_arm", "highest_arm", "avg_grad", "softmax_top2")
"""ROBIN's attack strategies: SOFTMAX, TOP 2, BEST ARM (Section 4.2); HIGHEST SCORE ARM, AVERAGE GRADIENT,
SOFTMAX TOP 2 (Appendix B.1)."""

BASES: dict[str, type[PGD] | type[CW]] = {"pgd": PGD, "cw": CW}
"""Base attack name -> the attack whose optimizer (:meth:`Attack.optimize`) runs the strategy's objective."""

_ENGINE_ARGS = frozenset({"self", "model", "norm", "eps", "steps", "criterion"})


def base_kwarg_names(base: str) -> list[str]:
    """Keyword arguments an attack passes on to its base attack ``base`` (e.g. ``alpha``, ``c``)."""
    return [p for p in inspect.signature(BASES[base].__init__).parameters if p not in _ENGINE_ARGS]


def check_base(owner: str, base: str, base_kwargs: dict[str, Any], *, reserved: tuple[str, ...] = ()) -> None:
    """Raise ``RobinBenchError`` for an unknown ``base`` or a keyword argument it does not take (or ``reserved``)."""
    if base not in BASES:
        raise RobinBenchError(f"unknown base attack {base!r} for {owner}; valid: {', '.join(BASES)}")
    valid = [p for p in base_kwarg_names(base) if p not in reserved]
    unknown = sorted(set(base_kwargs) - set(valid))
    if unknown:
        raise RobinBenchError(
            f"unknown argument(s) {', '.join(unknown)} for {owner} with base={base!r}; valid: {', '.join(valid)}"
        )


def _one_hot(arm: Tensor, k: int) -> Tensor:
    return F.one_hot(arm, k).float()


def best_other_arm(out: Tensor, arm: Tensor) -> Tensor:
    """(N,) index of the highest-scoring column other than ``arm``."""
    return out.scatter(1, arm[:, None], float("-inf")).argmax(1)


def arm_signs(k: int, aim: Tensor, targeted: bool) -> Tensor:
    r"""(N, k) direction in which the attack pushes each arm: +1 to increase its logit, -1 to decrease it.

    Untargeted (``aim`` = true labels): decrease the true arm, increase every other arm.
    Targeted (``aim`` = targets): increase the target arm, decrease every other arm.
    """
    hot = _one_hot(aim, k)
    return 1 - 2 * hot if not targeted else 2 * hot - 1


def _linear(coef: Tensor) -> Objective:
    """Objective ``sum_i coef[n, i] * out[n, i]``; the aux tensor holds each sample's row index in ``coef``."""

    def objective(out: Tensor, idx: Tensor) -> Tensor:
        return (coef[idx] * out).sum(1)

    return objective


def _on_rows(loss: Objective, labels: Tensor) -> Objective:
    """Objective ``loss(out, labels[idx])``; the aux tensor holds each sample's row index in ``labels``."""

    def objective(out: Tensor, idx: Tensor) -> Tensor:
        return loss(out, labels[idx])

    return objective


@ATTACKS.register("robin")
class RobinAttack(Attack):
    r"""The ROBIN attacks of 'Robustness from Simple Classifiers' (ROBIN Section 4.2 and Appendix B.1),
    over a base attack (PGD or CW), Linf or L2.

    The model is any module returning (N, k) scores, one column per arm (``RobinClassifier``) or
    per class (a flat baseline, attacked the same way). ``s_i`` below is +1 for an arm the attack
    pushes up and -1 for one it pushes down: untargeted, the true arm ``y`` goes down and every
    other arm up; targeted, the target arm ``t`` goes up and every other arm down. "Highest" and
    "second highest" are fixed once, at the clean input: ``a`` is the arm pushed down (``y``, which
    is the highest arm of a correctly classified input; targeted: the highest arm other than ``t``)
    and ``b`` the arm pushed up (the highest arm other than ``y``; targeted: ``t``). Re-choosing
    them every step would turn TOP 2 into the Carlini-Wagner margin loss, which ``PGD(loss="margin")``
    already is. "Average of the gradients" is the gradient of the mean of the signed arm logits
    ``s_i z_i``; the paper averages the arms' gradients as they are, so they are not normalized
    first (PGD's sign or L2-normalized step is applied to the average).

    - ``softmax``: cross-entropy over the arm logits (SOFTMAX); with ``base="cw"``, CW's logit
      margin, which a softmax layer leaves unchanged.
    - ``top2``: ``(z_b - z_a) / 2`` (TOP 2).
    - ``best_arm``: one attack per arm ``i`` on ``s_i z_i`` (BEST ARM); a sample is broken if any
      of them makes the aggregate misclassify. Arms are tried per sample in the order ``a`` first,
      then by decreasing clean score; each later arm runs only on samples not yet broken.
    - ``highest_arm``: the whole budget on ``s_h z_h`` for the arm ``h`` with the highest clean
      score (HIGHEST SCORE ARM); at most as strong as ``best_arm``.
    - ``avg_grad``: ``mean_i s_i z_i`` over all arms (AVERAGE GRADIENT).
    - ``softmax_top2``: cross-entropy over the pair ``(z_a, z_b)`` (SOFTMAX TOP 2); with
      ``base="cw"``, the pair's margin ``z_b - z_a``. Under PGD its step direction equals that of
      ``top2`` (the pair's softmax only rescales the gradient per sample); it differs under CW.

    Success, for every strategy, is judged on the aggregate by ``criterion``: ``argmax != y`` (fine),
    the coarse class changes (coarse; ``softmax`` then ascends the criterion's coarse objective),
    ``argmax == t`` (targeted modes); each sample stops at its first success. The base attack runs
    through its :meth:`~robin_bench.attacks.base.Attack.optimize`.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, k) arm logits, k >= 2.
        strategy (str): one of :data:`STRATEGIES`. (Default: ``"softmax"``)
        base (str): ``"pgd"`` or ``"cw"``. (Default: ``"pgd"``)
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): maximum perturbation in input units. (Default: 8/255)
        steps (int): steps of the base attack (per restart or binary-search round). (Default: 10)
        **base_kwargs: passed to the base attack: PGD's ``alpha``, ``random_start``, ``restarts``,
            ``seed``; CW's ``c``, ``kappa``, ``lr``, ``binary_search_steps``, ``seed``.
        criterion (Criterion | None): success criterion; None means ``criteria.Fine()``. (Default: None)

    Attributes:
        grad_evals (int): per-sample gradient evaluations spent, over every arm's attack.

    Shape:
        - images: (N, C, H, W) in [0, 1].
        - labels: (N,) class labels.
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``.

    Examples::

        >>> attack = rb.attacks.RobinAttack(robin, strategy="best_arm", norm="L2", eps=0.5, steps=20)
        >>> adv_images = attack(images, labels)
        >>> attack.grad_evals
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        strategy: str = "softmax",
        base: str = "pgd",
        norm: Norm = "Linf",
        eps: float = 8 / 255,
        steps: int = 10,
        criterion: Criterion | None = None,
        **base_kwargs: Any,
    ) -> None:
        if strategy not in STRATEGIES:
            raise RobinBenchError(f"unknown ROBIN strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
        check_base("RobinAttack", base, base_kwargs, reserved=("loss",))
        engine = BASES[base](model, norm=norm, eps=eps, steps=steps, **base_kwargs)
        super().__init__(f"ROBIN-{strategy}", model, norm=norm, eps=eps, seed=engine.seed, criterion=criterion)
        self.strategy = strategy
        self.base = base
        self.steps = steps
        self.engine = engine
        self._apply_criterion()

    def _run(self, x: Tensor, idx: Tensor, objective: Objective, success: Success) -> Tensor:
        """The base attack's optimizer on ``x`` (rows ``idx`` of the batch); charges its gradient evaluations."""
        before = self.engine.grad_evals
        xa = self.engine.optimize(x, idx, objective, success)
        self.grad_evals += self.engine.grad_evals - before
        return xa

    def budget(self, n_classes: int) -> int:
        """The base attack's budget; ``best_arm`` runs it once per arm tried (up to ``n_classes``)."""
        return self.engine.budget(n_classes) * (n_classes if self.strategy == "best_arm" else 1)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        x, aim, crit = self.aim(images, labels)
        with torch.no_grad():
            clean = self.get_logits(x)
        if clean.dim() != 2 or clean.shape[1] < 2:
            raise RobinBenchError(
                f"RobinAttack needs a model returning (N, k) arm logits with k >= 2, got shape {tuple(clean.shape)}"
            )
        k = clean.shape[1]
        targeted = crit.targeted

        def success(out: Tensor, idx: Tensor) -> Tensor:
            return crit.reached(out, aim[idx])

        signs = arm_signs(k, aim, targeted)
        idx = torch.arange(x.shape[0], device=x.device)
        if self.strategy == "best_arm":
            return self._best_arm(x, clean, aim, signs, crit, success)
        if self.strategy == "softmax":
            return self._run(x, idx, _on_rows(crit.objective(self.engine.loss), aim), success)
        if self.strategy == "avg_grad":
            return self._run(x, idx, _linear(signs / k), success)
        if self.strategy == "highest_arm":
            h = clean.argmax(1)
            return self._run(x, idx, _linear(_one_hot(h, k) * signs.gather(1, h[:, None])), success)
        down, up = (best_other_arm(clean, aim), aim) if targeted else (aim, best_other_arm(clean, aim))
        if self.strategy == "top2":
            return self._run(x, idx, _linear((_one_hot(up, k) - _one_hot(down, k)) / 2), success)
        pair = torch.stack([down, up], dim=1)
        pair_label = torch.full_like(down, 1 if targeted else 0)

        def pair_softmax(out: Tensor, i: Tensor) -> Tensor:
            logits = out.gather(1, pair[i])
            return ce_targeted(logits, pair_label[i]) if targeted else ce(logits, pair_label[i])

        def pair_margin(out: Tensor, i: Tensor) -> Tensor:
            logits = out.gather(1, pair[i])
            return logits[:, 1] - logits[:, 0]

        return self._run(x, idx, pair_margin if self.engine.loss == "margin" else pair_softmax, success)

    def _best_arm(
        self, x: Tensor, clean: Tensor, aim: Tensor, signs: Tensor, crit: Criterion, success: Success
    ) -> Tensor:
        """BEST ARM: one attack per arm, later arms only on samples still robust; keeps a breaking candidate."""
        n, k = clean.shape
        order = clean.scatter(1, aim[:, None], float("inf")).argsort(1, descending=True)
        aggregate_margin = crit.objective("margin")
        best = x.clone()
        best_margin = x.new_full((n,), float("-inf"))
        broken = torch.zeros(n, dtype=torch.bool, device=x.device)
        for r in range(k):
            active = (~broken).nonzero()[:, 0]
            if active.numel() == 0:
                break
            arm = order[:, r]
            obj = _linear(_one_hot(arm, k) * signs.gather(1, arm[:, None]))
            xa = self._run(x[active], active, obj, success)
            with torch.no_grad():
                out = self.get_logits(xa)
            ok = success(out, active)
            m = aggregate_margin(out, aim[active])
            better = ok | (m > best_margin[active])
            best[active[better]] = xa[better]
            best_margin[active[better]] = m[better]
            broken[active[ok]] = True
        return best
