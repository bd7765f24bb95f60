"""Every ART evasion attack that applies to a PyTorch classifier, on ROBIN, HAR and flat models through to_art.

Each attack runs with a short budget on tiny seeded models (global generators seeded per case, since ART
draws its random starts from numpy's) and returns finite adversarials in [0, 1] (and in its ball where it
has one). What is asserted holds on any CPU and BLAS, never one sample at an edge: a misclassification
attack breaks at least one sample (its measured accuracies, in the README's table written by
``benchmarks/art_attacks_table.py``, leave a margin of several samples), and VirtualAdversarialMethod,
which maximizes the KL divergence to the clean prediction rather than a misclassification, moves every
prediction further than a random direction of the same L2 length. Every other evasion attack ART exports
is listed with the reason it does not apply.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import art.attacks.evasion as E
import numpy as np
import pytest
import torch
from art.attacks import EvasionAttack
from torch import nn

from robin_bench.estimators import RobinBenchClassifier, to_art
from tests.estimators.tiny import EPS, KINDS, SHAPE, K, build, inputs, seed_all


@dataclass(frozen=True)
class Case:
    """One ART attack: how to build it, its ball (norm, radius) if any, and how to call it.

    ``divergence``: the attack maximizes the KL divergence to the clean prediction, not a misclassification.
    """

    make: Callable[[RobinBenchClassifier], EvasionAttack]
    ball: tuple[float, float] | None
    targeted: bool = False
    softmax: bool = False
    n: int = 8
    divergence: bool = False


L2_EPS = 2.0
CASES: dict[str, Case] = {
    "FastGradientMethod Linf": Case(lambda c: E.FastGradientMethod(c, eps=EPS), (np.inf, EPS)),
    "FastGradientMethod L2": Case(lambda c: E.FastGradientMethod(c, norm=2, eps=L2_EPS), (2, L2_EPS)),
    "ProjectedGradientDescent Linf": Case(
        lambda c: E.ProjectedGradientDescent(c, eps=EPS, eps_step=0.05, max_iter=10, verbose=False), (np.inf, EPS)
    ),
    "ProjectedGradientDescent L2": Case(
        lambda c: E.ProjectedGradientDescent(c, norm=2, eps=L2_EPS, eps_step=0.4, max_iter=10, verbose=False),
        (2, L2_EPS),
    ),
    "BasicIterativeMethod": Case(
        lambda c: E.BasicIterativeMethod(c, eps=EPS, eps_step=0.05, max_iter=10, verbose=False), (np.inf, EPS)
    ),
    "MomentumIterativeMethod": Case(
        lambda c: E.MomentumIterativeMethod(c, eps=EPS, eps_step=0.05, max_iter=10, verbose=False), (np.inf, EPS)
    ),
    "AutoProjectedGradientDescent CE": Case(
        lambda c: E.AutoProjectedGradientDescent(
            c, eps=EPS, eps_step=0.1, max_iter=10, loss_type="cross_entropy", verbose=False
        ),
        (np.inf, EPS),
    ),
    "AutoProjectedGradientDescent DLR": Case(
        lambda c: E.AutoProjectedGradientDescent(
            c, eps=EPS, eps_step=0.1, max_iter=10, loss_type="difference_logits_ratio", verbose=False
        ),
        (np.inf, EPS),
    ),
    "AutoConjugateGradient": Case(
        lambda c: E.AutoConjugateGradient(
            c, eps=EPS, eps_step=0.1, max_iter=10, loss_type="difference_logits_ratio", verbose=False
        ),
        (np.inf, EPS),
    ),
    "RescalingAutoConjugateGradient": Case(
        lambda c: E.RescalingAutoConjugateGradient(
            c, eps=EPS, eps_step=0.1, max_iter=30, loss_type="cross_entropy", verbose=False
        ),
        (np.inf, EPS),
    ),
    "AutoAttack": Case(
        lambda c: E.AutoAttack(
            c,
            eps=EPS,
            eps_step=0.1,
            attacks=[
                E.AutoProjectedGradientDescent(c, eps=EPS, eps_step=0.1, max_iter=10, verbose=False),
                E.SquareAttack(c, eps=EPS, max_iter=50, verbose=False),
            ],
        ),
        (np.inf, EPS),
    ),
    "CarliniL2Method": Case(
        lambda c: E.CarliniL2Method(
            c, max_iter=10, binary_search_steps=3, learning_rate=0.1, initial_const=1.0, batch_size=8, verbose=False
        ),
        None,
    ),
    "CarliniLInfMethod": Case(
        lambda c: E.CarliniLInfMethod(c, max_iter=5, learning_rate=0.1, batch_size=8, verbose=False), None, n=2
    ),
    "CarliniL0Method": Case(
        lambda c: E.CarliniL0Method(
            c, max_iter=20, binary_search_steps=3, learning_rate=0.1, initial_const=10.0, batch_size=8, verbose=False
        ),
        None,
        n=2,
    ),
    "DeepFool": Case(lambda c: E.DeepFool(c, max_iter=20, batch_size=8, verbose=False), None),
    "ElasticNet": Case(
        lambda c: E.ElasticNet(
            c, max_iter=20, binary_search_steps=3, learning_rate=0.1, initial_const=10.0, batch_size=8, verbose=False
        ),
        None,
    ),
    "NewtonFool (softmax head)": Case(
        lambda c: E.NewtonFool(c, max_iter=50, eta=0.1, batch_size=8, verbose=False), None, softmax=True
    ),
    "SaliencyMapMethod (JSMA)": Case(
        lambda c: E.SaliencyMapMethod(c, theta=0.5, gamma=1.0, batch_size=8, verbose=False), None, targeted=True
    ),
    "Wasserstein": Case(
        lambda c: E.Wasserstein(
            c, regularization=100, eps=0.3, eps_step=0.1, max_iter=10, kernel_size=3, batch_size=8, verbose=False
        ),
        None,
        n=4,
    ),
    "SpatialTransformation": Case(
        lambda c: E.SpatialTransformation(
            c, max_translation=20.0, num_translations=3, max_rotation=20.0, num_rotations=3, verbose=False
        ),
        None,
    ),
    "UniversalPerturbation": Case(
        lambda c: E.UniversalPerturbation(
            c, attacker="fgsm", attacker_params={"eps": EPS}, eps=EPS, max_iter=3, norm=np.inf, verbose=False
        ),
        (np.inf, EPS),
    ),
    "TargetedUniversalPerturbation": Case(
        lambda c: E.TargetedUniversalPerturbation(
            c, attacker="fgsm", attacker_params={"eps": EPS, "targeted": True}, eps=EPS, max_iter=3, norm=np.inf
        ),
        (np.inf, EPS),
        targeted=True,
    ),
    # ART's default finite difference (1e-6) is below float32's resolution around these scores: its
    # direction is then rounding noise, which differs between CPUs; 1e-3 estimates the gradient.
    "VirtualAdversarialMethod (softmax head)": Case(
        lambda c: E.VirtualAdversarialMethod(c, eps=EPS, max_iter=5, finite_diff=1e-3, batch_size=8, verbose=False),
        (2, EPS),
        softmax=True,
        divergence=True,
    ),
    "SquareAttack": Case(
        lambda c: E.SquareAttack(c, eps=EPS, max_iter=100, nb_restarts=1, verbose=False), (np.inf, EPS)
    ),
    "HopSkipJump (float64 inputs)": Case(
        lambda c: E.HopSkipJump(c, max_iter=3, max_eval=100, init_eval=10, verbose=False), None, n=4
    ),
    "SimBA (softmax head)": Case(
        lambda c: E.SimBA(c, attack="px", max_iter=200, epsilon=0.2, verbose=False), None, softmax=True, n=4
    ),
    "ZooAttack": Case(
        lambda c: E.ZooAttack(
            c,
            max_iter=20,
            learning_rate=0.1,
            initial_const=10.0,
            binary_search_steps=1,
            nb_parallel=64,
            use_resize=False,
            use_importance=False,
            batch_size=1,
            verbose=False,
        ),
        None,
        n=2,
    ),
    "BoundaryAttack": Case(
        lambda c: E.BoundaryAttack(c, targeted=False, max_iter=20, num_trial=10, init_size=50, verbose=False),
        None,
        n=4,
    ),
    "SignOPTAttack": Case(
        lambda c: E.SignOPTAttack(c, targeted=False, max_iter=2, query_limit=100, num_trial=5, verbose=False),
        None,
        n=2,
    ),
    "ShadowAttack": Case(
        lambda c: E.ShadowAttack(
            c,
            sigma=0.05,
            nb_steps=100,
            learning_rate=0.5,
            lambda_tv=0.0,
            lambda_c=0.0,
            lambda_s=0.0,
            batch_size=8,
            targeted=True,
            verbose=False,
        ),
        None,
        targeted=True,
        n=1,
    ),
}

NOT_APPLICABLE: dict[str, str] = {
    "AdversarialPatch": "a physical patch (returns a patch to paste, not perturbed inputs); needs larger images",
    "AdversarialPatchNumpy": "as AdversarialPatch",
    "AdversarialPatchPyTorch": "as AdversarialPatch",
    "AdversarialPatchTensorFlowV2": "TensorFlow estimators only",
    "AdversarialTexturePyTorch": "video object trackers only",
    "CarliniWagnerASR": "speech recognition estimators only",
    "ImperceptibleASR": "speech recognition estimators only",
    "ImperceptibleASRPyTorch": "speech recognition estimators only",
    "BrendelBethgeAttack": "needs the optional numba package (ART exports it only where numba is installed)",
    "CompositeAdversarialAttackPyTorch": "needs the optional kornia package and RGB inputs (hue, saturation)",
    "PixelAttack": "needs the optional cma package",
    "ThresholdAttack": "needs the optional cma package",
    "DecisionTreeAttack": "scikit-learn decision trees only",
    "HighConfidenceLowUncertainty": "GPy Gaussian-process classifiers only",
    "DPatch": "object detectors only",
    "RobustDPatch": "object detectors only",
    "OverloadPyTorch": "YOLO object detectors only",
    "SNAL": "YOLO object detectors only",
    "FeatureAdversariesNumpy": "matches a guide image's features at a named layer, not a misclassification attack",
    "FeatureAdversariesPyTorch": "as FeatureAdversariesNumpy; ART cannot name a ROBIN aggregate's layers",
    "FeatureAdversariesTensorFlowV2": "TensorFlow estimators only",
    "FrameSaliencyAttack": "wraps another attack for video (sequence) inputs",
    "GeoDA": "broken in ART 1.20.1 with NumPy 2 (calls the removed np.mat)",
    "GRAPHITEBlackbox": "physical-world patches on larger images with a transform set; out of scope here",
    "GRAPHITEWhiteboxPyTorch": "physical-world patches on larger images with a transform set; out of scope here",
    "LaserAttack": "physical laser-beam images (RGB)",
    "LowProFool": "tabular data with feature importances",
    "MalwareGDTensorFlow": "TensorFlow malware classifiers only",
    "OverTheAirFlickeringPyTorch": "video classifiers only",
    "ProjectedGradientDescentNumpy": "the numpy engine of ProjectedGradientDescent (tested above)",
    "ProjectedGradientDescentPyTorch": "the PyTorch engine ProjectedGradientDescent picks (tested above)",
    "ProjectedGradientDescentTensorFlowV2": "TensorFlow estimators only",
}


def estimator(kind: str, case: Case) -> tuple[RobinBenchClassifier, np.ndarray, np.ndarray]:
    model = build(kind)
    clf_model = nn.Sequential(model, nn.Softmax(dim=1)) if case.softmax else model
    x, y = inputs(model, case.n)
    return to_art(clf_model, input_shape=SHAPE), x, y


@dataclass(frozen=True)
class Outcome:
    """One attack on one model kind: clean inputs and labels, adversarials, the estimator."""

    clf: RobinBenchClassifier
    x: np.ndarray
    y: np.ndarray
    x_adv: np.ndarray

    @property
    def accuracy(self) -> float:
        """Accuracy on the adversarials (clean accuracy is 1 by construction)."""
        return float((self.clf.predict(self.x_adv).argmax(1) == self.y).mean())

    def kl_to_clean(self, x_other: np.ndarray) -> np.ndarray:
        """Per-sample KL divergence from the clean prediction to the prediction on ``x_other`` (softmax heads)."""
        p, q = self.clf.predict(self.x), self.clf.predict(x_other)
        return np.sum(p * (np.log(p) - np.log(q)), axis=1)

    def random_direction(self) -> np.ndarray:
        """The clean inputs moved by a seeded random direction as long (L2) as each adversarial's, clipped."""
        delta = (self.x_adv - self.x).reshape(len(self.x), -1)
        d = np.random.default_rng(0).standard_normal(delta.shape).astype(np.float32)
        d *= (np.linalg.norm(delta, axis=1) / np.linalg.norm(d, axis=1))[:, None]
        return np.clip(self.x + d.reshape(self.x.shape), 0.0, 1.0)


def run_case(name: str, kind: str) -> Outcome:
    """Attack ``name`` of :data:`CASES` on the tiny ``kind`` model, every random draw seeded."""
    case = CASES[name]
    clf, x, y = estimator(kind, case)
    labels = np.eye(K, dtype=np.float32)[(y + 1) % K if case.targeted else y]
    x_in = x.astype(np.float64) if "float64" in name else x
    seed_all(0)
    return Outcome(clf, x, y, case.make(clf).generate(x=x_in, y=labels))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(CASES))
def test_art_attack_returns_finite_adversarials_in_the_box_and_reaches_its_goal(name: str, kind: str) -> None:
    case = CASES[name]
    out = run_case(name, kind)
    x, x_adv = out.x, out.x_adv
    assert x_adv.shape == x.shape and np.isfinite(x_adv).all()
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    if case.ball is not None:
        order, radius = case.ball
        dist = np.linalg.norm((x_adv - x).reshape(len(x), -1), ord=order, axis=1)
        assert dist.max() <= radius * (1 + 1e-5), f"{name}: perturbation {dist.max()} outside the ball {radius}"
    if case.divergence:
        attacked, random = out.kl_to_clean(x_adv), out.kl_to_clean(out.random_direction())
        assert (attacked > random).all(), f"{name} on {kind}: KL {attacked} not above a random direction's {random}"
    else:
        assert out.accuracy < 1.0, f"{name} on {kind}: accuracy stays 1.0 after the attack"


def test_every_art_evasion_attack_is_tested_or_listed_as_not_applicable() -> None:
    exported = {n for n, obj in vars(E).items() if inspect.isclass(obj) and issubclass(obj, EvasionAttack)}
    tested = {name.split(" ")[0] for name in CASES}
    assert tested <= exported and set(NOT_APPLICABLE) <= exported | {"BrendelBethgeAttack"}
    missing = exported - tested - set(NOT_APPLICABLE)
    assert not missing, f"ART evasion attacks neither tested nor listed as not applicable: {sorted(missing)}"


@pytest.mark.parametrize("kind", KINDS)
def test_newtonfool_on_raw_scores_is_a_silent_no_op(kind: str) -> None:
    """NewtonFool assumes probabilities (its step is ``score - 1/K``): on logits or log-probabilities
    below 1/K it steps the wrong way, so it needs the softmax head the table uses."""
    model = build(kind)
    clf = to_art(model, input_shape=SHAPE)
    x, y = inputs(model)
    x_adv = E.NewtonFool(clf, max_iter=50, eta=0.1, batch_size=8, verbose=False).generate(x)
    assert float((clf.predict(x_adv).argmax(1) == y).mean()) == 1.0


@pytest.mark.parametrize("attack", [E.SimBA, E.VirtualAdversarialMethod])
def test_probability_attacks_refuse_raw_scores(attack: type[EvasionAttack]) -> None:
    model = build("har")
    clf = to_art(model, input_shape=SHAPE)
    x, y = inputs(model, 2)
    with pytest.raises((ValueError, TypeError), match="probabilit"):
        attack(clf).generate(x, np.eye(K, dtype=np.float32)[y])


def test_softmax_head_gives_har_its_probabilities() -> None:
    model = build("har")
    x, _ = inputs(model)
    probs = to_art(nn.Sequential(model, nn.Softmax(dim=1)), input_shape=SHAPE).predict(x)
    with torch.no_grad():
        np.testing.assert_allclose(probs, model(torch.from_numpy(x)).exp().numpy(), rtol=1e-5, atol=1e-6)
