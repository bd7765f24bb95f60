"""Hierarchical attacks (HAR): worst-case targeted PGD over fine or coarse targets, and coarse-marginal PGD."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robin_bench.attacks.base import Attack
from robin_bench.attacks.criteria import Coarse, Criterion
from robin_bench.attacks.losses import get_loss
from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.threat import Norm
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy
from robin_bench.models.kinds import kind_of


def _check_hierarchy(hierarchy: object, model: nn.Module, who: str) -> Hierarchy:
    if not isinstance(hierarchy, Hierarchy):
        raise RobinBenchError(f"{who} needs hierarchy=rb.Hierarchy(...), got {type(hierarchy).__name__}")
    own = kind_of(model).hierarchy_of(model)
    if own is not None and own != hierarchy:
        raise RobinBenchError(
            f"{who} got a hierarchy that differs from the model's own ({hierarchy!r} vs {own!r}); "
            "pass the model's own hierarchy"
        )
    return hierarchy


def _check_fine_output(out: Tensor, hierarchy: Hierarchy, who: str) -> None:
    if out.dim() != 2 or out.shape[1] != hierarchy.n_fine:
        raise RobinBenchError(
            f"{who}: the model returned shape {tuple(out.shape)}; the hierarchy has {hierarchy.n_fine} fine "
            f"classes, so the model must return (N, {hierarchy.n_fine})"
        )


def _check_count(value: int | None, name: str, who: str, *, optional: bool = False) -> None:
    """Refuse ``value`` unless it is an integer >= 1 (or None where ``optional``)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        need = f"{name} None or an integer >= 1" if optional else f"an integer {name} >= 1"
        raise RobinBenchError(f"{who} needs {need}, got {name}={value!r}")


class _Stepped(Attack):
    """An attack of ``steps`` steps of size ``alpha`` (None: ``threat.default_alpha(steps)``), default mode only.

    A hierarchical attack: its default criterion is ``Coarse(hierarchy)``; under the fine criterion
    it stops at the first fine miss; it picks its own targets, so the targeted criterion is refused.
    """

    steps: int
    alpha: float
    hierarchy: Hierarchy

    def default_criterion(self) -> Criterion:
        return Coarse(self.hierarchy)

    def check_criterion(self, criterion: Criterion) -> None:
        if criterion.targeted:
            raise RobinBenchError(
                f"{self.attack} picks its own targets (classes of other coarse classes), so it cannot run under "
                "criterion 'targeted'; use criterion 'coarse' or 'fine'"
            )
        if isinstance(criterion, Coarse) and criterion.hierarchy != self.hierarchy:
            raise RobinBenchError(
                f"{self.attack} got a coarse criterion over {criterion.hierarchy!r} but attacks with "
                f"{self.hierarchy!r}; use the same hierarchy"
            )

    def _setup_steps(self, steps: int, alpha: float | None) -> None:
        _check_count(steps, "steps", self.attack)
        self.steps = steps
        self.alpha = self.threat.default_alpha(steps) if alpha is None else alpha
        self.supported_mode = ["default"]


class _CoarseOutput(Attack):
    """An attack whose working output is ``[coarse log-probs (N, Z) | detached fine output (N, K)]``.

    The objective reads the first ``Z`` columns; the success test reads the model's own fine output
    (its coarse prediction is ``coarse_of(argmax)``), which costs no extra backward pass.
    """

    hierarchy: Hierarchy
    use_coarse_network: bool

    def get_logits(self, inputs: Tensor, labels: Tensor | None = None, *args: object, **kwargs: object) -> Tensor:
        view = kind_of(self.model).coarse_view(self.model) if self.use_coarse_network else None
        if view is not None:
            coarse = view(inputs)
            with torch.no_grad():
                fine = super().get_logits(inputs)
        else:
            fine = super().get_logits(inputs)
            _check_fine_output(fine, self.hierarchy, self.attack)
            coarse = self.hierarchy.coarse_log_probs_from_fine(fine)
        return torch.cat([coarse, fine.detach()], dim=1)

    def _reached(self, out: Tensor, y: Tensor) -> Tensor:
        """The criterion's success on the fine part of the working output (``y``: true fine labels)."""
        return self.criterion.reached(out[:, self.hierarchy.n_coarse :], y)


class _WorstCaseTargeted(_Stepped):
    """Batched worst case over per-sample target lists (HAR Algorithm 1's outer loop).

    For each sample, the eligible targets are tried in the order of the model's clean scores
    (highest first) with targeted PGD, stopping at the first success. Pairs (sample, target) are
    batched ``targets_per_pass`` ranks at a time; each pair is an independent run of
    :meth:`Attack.ascend` from its own start (the clean input, or a random start seeded by the
    attack's seed, the target and the sample's bytes: :meth:`Attack.random_start_of`), so the
    per-sample result equals the sequential loop and does not depend on the batch.
    Subclasses give the candidate scores, the objective and the success test; ``aux`` rows are
    ``(target, true fine label)``.
    """

    loss: str
    max_targets: int | None
    targets_per_pass: int
    random_start: bool

    def _setup_search(
        self,
        *,
        loss: str,
        steps: int,
        alpha: float | None,
        max_targets: int | None,
        targets_per_pass: int,
        random_start: bool,
    ) -> None:
        self.loss = loss
        self._targeted_loss = get_loss(loss, targeted=True)
        self._setup_steps(steps, alpha)
        if not isinstance(random_start, bool):
            raise RobinBenchError(f"{self.attack} needs random_start True or False, got {random_start!r}")
        _check_count(max_targets, "max_targets", self.attack, optional=True)
        _check_count(targets_per_pass, "targets_per_pass", self.attack)
        self.max_targets = max_targets
        self.targets_per_pass = targets_per_pass
        self.random_start = random_start

    def _candidates(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(N, T) clean scores of the targets and (N, T) bool eligibility."""
        raise NotImplementedError

    def _objective(self, out: Tensor, aux: Tensor) -> Tensor:
        raise NotImplementedError

    def _success(self, out: Tensor, aux: Tensor) -> Tensor:
        raise NotImplementedError

    def target_order(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """The targets to try per sample, best-scored first.

        Returns:
            tuple[Tensor, Tensor]: (N, T) target indices sorted by clean score (descending, ties by
            index) and (N,) number of leading entries to try (eligible targets, capped by ``max_targets``).
        """
        with torch.no_grad():
            scores, eligible = self._candidates(images, labels)
        masked = scores.masked_fill(~eligible, float("-inf"))
        order = masked.argsort(dim=1, descending=True, stable=True)
        limit = eligible.sum(1)
        if self.max_targets is not None:
            limit = limit.clamp_max(self.max_targets)
        return order, limit

    def pair_starts(self, images: Tensor, index: Tensor, target: Tensor) -> Tensor:
        """Random starts of the pairs ``(images[index[p]], target[p])``, each from its own generator.

        Pair ``p`` draws ``random_start_of(images[index[p]], "pair", target[p])``: seeded by the
        attack's seed, the target and the sample's bytes, so its start is the same in any batch.

        Returns:
            Tensor: (P, C, H, W) points of the ball and the box.
        """
        return self.random_start_of(images[index], "pair", target)

    def budget(self, n_classes: int) -> int:
        """``steps`` per target tried: up to ``max_targets``, else every other class."""
        targets = n_classes - 1 if self.max_targets is None else min(self.max_targets, n_classes - 1)
        return self.steps * max(1, targets)

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        return self.search(images, labels)[0]

    def search(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Run the worst-case search; also say which target broke each sample.

        Returns:
            tuple[Tensor, Tensor]: (N, C, H, W) adversarial inputs and (N,) the target whose attack
            succeeded first, -1 where none did.
        """
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        order, limit = self.target_order(images, labels)
        result = images.clone()
        hit_target = torch.full((images.shape[0],), -1, dtype=torch.long, device=images.device)
        broken = torch.zeros(images.shape[0], dtype=torch.bool, device=images.device)
        n_ranks = int(limit.max()) if limit.numel() else 0
        for r0 in range(0, n_ranks, self.targets_per_pass):
            ranks = torch.arange(r0, min(r0 + self.targets_per_pass, n_ranks), device=images.device)
            todo = (~broken)[:, None] & (ranks[None, :] < limit[:, None])
            pair_sample, pair_k = todo.nonzero(as_tuple=True)
            if pair_sample.numel() == 0:
                break
            pair_rank = ranks[pair_k]
            aux = torch.stack([order[pair_sample, pair_rank], labels[pair_sample]], dim=1)
            start = self.pair_starts(images, pair_sample, aux[:, 0]) if self.random_start else None
            xa = self.ascend(
                images[pair_sample],
                aux,
                self._objective,
                self._success,
                steps=self.steps,
                alpha=self.alpha,
                random_start=False,
                start=start,
            )
            with torch.no_grad():
                ok = self._success(self.get_logits(xa), aux)
            first_rank = pair_rank == 0
            result[pair_sample[first_rank]] = xa[first_rank]
            hit = ok.nonzero()[:, 0]
            if hit.numel():
                hit_sample = pair_sample[hit]
                first = torch.ones_like(hit_sample, dtype=torch.bool)
                first[1:] = hit_sample[1:] != hit_sample[:-1]
                result[hit_sample[first]] = xa[hit[first]]
                hit_target[hit_sample[first]] = aux[hit[first], 0]
                broken[hit_sample[first]] = True
        return result, hit_target


@ATTACKS.register("hierarchical_targeted")
class HierarchicalTargeted(_WorstCaseTargeted):
    r"""HAR's worst-case hierarchical attack in 'Improving Hierarchical Adversarial Robustness of Deep
    Neural Networks' (Algorithm 1) [https://arxiv.org/abs/2102.09012], Linf or L2.

    For each sample, every fine class outside the true coarse class is a target; targeted PGD on the
    model's output (log P(y|x) for HAR, logits for a flat model) is run towards each, in order of
    the model's clean scores (highest first), until one succeeds. Samples already broken stop;
    many (sample, target) pairs share a forward pass. As in the paper, each PGD run starts at a
    random point of the ball; the start of a (sample, target) pair comes from its own generator
    (seeded from ``seed``, the target and the sample's bytes), so the batched result equals the
    plain sequential loop of Algorithm 1 per sample, in any batch.

    Success is ``criterion``'s (default ``Coarse(hierarchy)``: the prediction leaves the true coarse
    class, which is what the worst case over foreign targets searches for; ``Fine()`` stops at any
    fine miss). The targeted criterion is refused: the attack picks its own targets.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, n_fine) logits or log-probabilities.
        hierarchy (Hierarchy): the fine -> coarse map.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): maximum perturbation in input units. (Default: 8/255)
        steps (int): PGD steps per target. (Default: 10)
        alpha (float | None): step size; None means ``2.5 * eps / steps``. (Default: None)
        loss (str): targeted objective, ``"ce"``, ``"margin"`` or ``"dlr"``. (Default: ``"ce"``)
        max_targets (int | None): try only the best-scored ``max_targets`` targets; None tries all
            (Algorithm 1). (Default: None)
        targets_per_pass (int): target ranks attacked together per sample in one batched run; more
            means fewer passes but gradient evaluations spent on targets after the first success.
            (Default: 1)
        random_start (bool): start each PGD run uniformly in the ball (HAR, after Madry et al.);
            False starts at the clean input. (Default: True)
        seed (int): seed of the random starts. (Default: 0)
        criterion (Criterion | None): success criterion, ``Coarse(hierarchy)`` or ``Fine()``; None means
            ``Coarse(hierarchy)``. (Default: None)

    Shape:
        - images: (N, C, H, W) in [0, 1].
        - labels: (N,) fine labels.
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``: the first successful
          iterate, else the last iterate towards the best-scored target.

    Examples::

        >>> h = rb.Hierarchy.from_groups([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
        >>> attack = rb.attacks.HierarchicalTargeted(model, hierarchy=h, norm="Linf", eps=8/255, steps=10)
        >>> adv_images = attack(images, labels)
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        hierarchy: Hierarchy,
        norm: Norm = "Linf",
        eps: float = 8 / 255,
        steps: int = 10,
        alpha: float | None = None,
        loss: str = "ce",
        max_targets: int | None = None,
        targets_per_pass: int = 1,
        random_start: bool = True,
        seed: int = 0,
        criterion: Criterion | None = None,
    ) -> None:
        super().__init__("HierarchicalTargeted", model, norm=norm, eps=eps, seed=seed, criterion=criterion)
        self.hierarchy = _check_hierarchy(hierarchy, model, "HierarchicalTargeted")
        self._setup_search(
            loss=loss,
            steps=steps,
            alpha=alpha,
            max_targets=max_targets,
            targets_per_pass=targets_per_pass,
            random_start=random_start,
        )
        self._apply_criterion()

    def _candidates(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        out = self.get_logits(x)
        _check_fine_output(out, self.hierarchy, self.attack)
        f2c = self.hierarchy.fine_to_coarse.to(x.device)
        return out, f2c[None, :] != self.hierarchy.coarse_of(y)[:, None]

    def _objective(self, out: Tensor, aux: Tensor) -> Tensor:
        return self._targeted_loss(out, aux[:, 0])

    def _success(self, out: Tensor, aux: Tensor) -> Tensor:
        return self.criterion.reached(out, aux[:, 1])


@ATTACKS.register("coarse_targeted")
class CoarseTargeted(_CoarseOutput, _WorstCaseTargeted):
    r"""HAR's targeted attack on the coarse network (Section 4.3) [https://arxiv.org/abs/2102.09012].

    Targeted PGD on the coarse log-probabilities alone, worst case over every other coarse class
    (tried in order of the clean coarse scores, highest first; stop at the first success). For a
    HAR model the coarse scores are ``HARClassifier.coarse_log_probs`` (the coarse network G); for
    a flat model, ``log sum_{y in z} P(y|x)``. Success: the full model's coarse prediction
    ``coarse_of(argmax model(x))`` leaves the true coarse class (``criterion``, default
    ``Coarse(hierarchy)``). Random starts per (sample, coarse target) pair as in
    :class:`HierarchicalTargeted`.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, n_fine) logits or log-probabilities.
        hierarchy (Hierarchy): the fine -> coarse map.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): maximum perturbation in input units. (Default: 8/255)
        steps (int): PGD steps per coarse target. (Default: 10)
        alpha (float | None): step size; None means ``2.5 * eps / steps``. (Default: None)
        loss (str): targeted objective, ``"ce"``, ``"margin"`` or ``"dlr"``. (Default: ``"ce"``)
        max_targets (int | None): try only the best-scored coarse targets; None tries all. (Default: None)
        targets_per_pass (int): coarse targets attacked together per sample per pass. (Default: 1)
        random_start (bool): start each PGD run uniformly in the ball; False starts at the clean
            input. (Default: True)
        seed (int): seed of the random starts. (Default: 0)
        criterion (Criterion | None): success criterion, ``Coarse(hierarchy)`` or ``Fine()``; None means
            ``Coarse(hierarchy)``. (Default: None)

    Shape:
        - images: (N, C, H, W) in [0, 1].
        - labels: (N,) fine labels.
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``.

    Examples::

        >>> attack = rb.attacks.CoarseTargeted(har, hierarchy=har.hierarchy, norm="Linf", eps=8/255, steps=20)
        >>> adv_images = attack(images, labels)
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        hierarchy: Hierarchy,
        norm: Norm = "Linf",
        eps: float = 8 / 255,
        steps: int = 10,
        alpha: float | None = None,
        loss: str = "ce",
        max_targets: int | None = None,
        targets_per_pass: int = 1,
        random_start: bool = True,
        seed: int = 0,
        criterion: Criterion | None = None,
    ) -> None:
        super().__init__("CoarseTargeted", model, norm=norm, eps=eps, seed=seed, criterion=criterion)
        self.hierarchy = _check_hierarchy(hierarchy, model, "CoarseTargeted")
        self.use_coarse_network = True
        self._setup_search(
            loss=loss,
            steps=steps,
            alpha=alpha,
            max_targets=max_targets,
            targets_per_pass=targets_per_pass,
            random_start=random_start,
        )
        self._apply_criterion()

    def _candidates(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        coarse = self.get_logits(x)[:, : self.hierarchy.n_coarse]
        z = torch.arange(self.hierarchy.n_coarse, device=x.device)
        return coarse, z[None, :] != self.hierarchy.coarse_of(y)[:, None]

    def _objective(self, out: Tensor, aux: Tensor) -> Tensor:
        return self._targeted_loss(out[:, : self.hierarchy.n_coarse], aux[:, 0])

    def _success(self, out: Tensor, aux: Tensor) -> Tensor:
        return self._reached(out, aux[:, 1])


@ATTACKS.register("coarse_marginal")
class CoarseMarginal(_CoarseOutput, _Stepped):
    r"""Coarse-marginal PGD (new, beyond the ROBIN and HAR papers), Linf or L2.

    Untargeted PGD on the coarse log-probability obtained by summing fine probabilities,
    ``log sum_{y in z} P(y|x)`` (``Hierarchy.coarse_log_probs_from_fine(model(x))``), so flat and
    HAR models are judged by the same hierarchical attack (for HAR it equals the coarse network's
    log P(z|x)). Success: ``criterion``'s (default ``Coarse(hierarchy)``: the coarse prediction
    ``coarse_of(argmax model(x))`` leaves the true coarse class); each sample stops at its first
    success, later restarts run only on the rest. Random starts per sample and restart.

    Arguments:
        model (nn.Module): (N, C, H, W) in [0, 1] -> (N, n_fine) logits or log-probabilities.
        hierarchy (Hierarchy): the fine -> coarse map.
        norm (str): ``"Linf"`` or ``"L2"``. (Default: ``"Linf"``)
        eps (float): maximum perturbation in input units. (Default: 8/255)
        steps (int): PGD steps per restart. (Default: 10)
        alpha (float | None): step size; None means ``2.5 * eps / steps``. (Default: None)
        loss (str): ``"ce"``, ``"margin"`` or ``"dlr"`` (needs >= 3 coarse classes) on the coarse
            log-probabilities. (Default: ``"ce"``)
        restarts (int): number of runs. (Default: 1)
        random_start (bool): start uniformly in the ball. (Default: True)
        seed (int): seed of the random starts. (Default: 0)
        criterion (Criterion | None): success criterion, ``Coarse(hierarchy)`` or ``Fine()``; None means
            ``Coarse(hierarchy)``. (Default: None)

    Shape:
        - images: (N, C, H, W) in [0, 1].
        - labels: (N,) fine labels.
        - output: (N, C, H, W) in [0, 1], within ``eps`` of ``images``.

    Examples::

        >>> attack = rb.attacks.CoarseMarginal(flat_model, hierarchy=h, norm="L2", eps=0.5, steps=20, restarts=3)
        >>> adv_images = attack(images, labels)
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        hierarchy: Hierarchy,
        norm: Norm = "Linf",
        eps: float = 8 / 255,
        steps: int = 10,
        alpha: float | None = None,
        loss: str = "ce",
        restarts: int = 1,
        random_start: bool = True,
        seed: int = 0,
        criterion: Criterion | None = None,
    ) -> None:
        super().__init__("CoarseMarginal", model, norm=norm, eps=eps, seed=seed, criterion=criterion)
        self.hierarchy = _check_hierarchy(hierarchy, model, "CoarseMarginal")
        self.use_coarse_network = False
        self._setup_steps(steps, alpha)
        _check_count(restarts, "restarts", "CoarseMarginal")
        if loss == "dlr" and hierarchy.n_coarse < 3:
            raise RobinBenchError(
                f"CoarseMarginal loss 'dlr' needs >= 3 coarse classes, the hierarchy has {hierarchy.n_coarse}; "
                "use loss='ce' or 'margin'"
            )
        self._loss = get_loss(loss, targeted=False)
        self.loss = loss
        self.restarts = restarts
        self.random_start = random_start
        self._apply_criterion()

    def _objective(self, out: Tensor, y: Tensor) -> Tensor:
        return self._loss(out[:, : self.hierarchy.n_coarse], self.hierarchy.coarse_of(y))

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        return self.ascend(
            images,
            labels,
            self._objective,
            self._reached,
            steps=self.steps,
            alpha=self.alpha,
            random_start=self.random_start,
            restarts=self.restarts,
        )
