"""ART integration: to_art estimators for ROBIN, HAR and flat models, ART's trainers on them, ArtEvasion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from art.attacks.evasion import ProjectedGradientDescent
from art.defences.trainer import AdversarialTrainer, AdversarialTrainerMadryPGD
from torch import nn

import robin_bench as rb
from robin_bench.attacks import PGD, HierarchicalTargeted, RobinAttack
from robin_bench.errors import RobinBenchError
from robin_bench.estimators import ArtEvasion, RobinBenchClassifier, to_art
from robin_bench.models import HARClassifier, RobinClassifier
from robin_bench.train import TrainConfig
from tests.estimators.tiny import EPS, KINDS, SHAPE, K, build, inputs, learnable


@pytest.mark.parametrize("kind", KINDS)
def test_to_art_takes_classes_clip_values_and_predictions_from_the_model(kind: str) -> None:
    model = build(kind)
    clf = to_art(model, input_shape=SHAPE)
    x, _ = inputs(model)
    assert clf.nb_classes == K
    assert clf.clip_values is not None and tuple(np.asarray(clf.clip_values).tolist()) == (0.0, 1.0)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(clf.predict(x), expected, rtol=1e-5, atol=1e-6)


def test_to_art_nb_classes_from_a_forward_pass_restores_training_mode() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(SHAPE)), 7), nn.BatchNorm1d(7))
    model.train()
    assert to_art(model, input_shape=SHAPE).nb_classes == 7
    assert model.training


def test_har_loss_gradient_is_the_nll_gradient() -> None:
    model = build("har")
    clf = to_art(model, input_shape=SHAPE)
    x, y = inputs(model, 4)
    xt = torch.from_numpy(x).requires_grad_(True)
    torch.nn.functional.nll_loss(model(xt), torch.from_numpy(y)).backward()
    assert xt.grad is not None
    np.testing.assert_allclose(clf.loss_gradient(x, np.eye(K)[y]), xt.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("bad", "match"), [((4, 4), "input_shape"), ((1, 0, 4), "input_shape")])
def test_to_art_rejects_bad_input_shape(bad: tuple[int, ...], match: str) -> None:
    with pytest.raises(RobinBenchError, match=match):
        to_art(build("flat"), input_shape=bad)  # type: ignore[arg-type]


def trainable_art(model: nn.Module) -> RobinBenchClassifier:
    """``to_art`` with a constant learning rate of 0.1 and no progress bar."""
    return to_art(model, input_shape=SHAPE, train_config=TrainConfig(lr=0.1, schedule="constant", progress=False))


def one_vs_all_loss(model: RobinClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        out = model(x)
    target = torch.nn.functional.one_hot(y, model.n_classes).float()
    return float(torch.nn.functional.binary_cross_entropy_with_logits(out, target))


def test_art_adversarial_trainer_trains_robin_arms_one_vs_all() -> None:
    model = build("robin")
    assert isinstance(model, RobinClassifier)
    x, y = learnable(64, seed=2)
    before = [p.detach().clone() for p in model.parameters()]
    loss_before = one_vs_all_loss(model, x, y)
    clf = trainable_art(model)
    pgd = ProjectedGradientDescent(clf, eps=0.05, eps_step=0.02, max_iter=3, verbose=False)
    AdversarialTrainer(clf, pgd, ratio=0.5).fit(x.numpy(), y.numpy(), batch_size=32, nb_epochs=5)
    assert isinstance(clf.model, RobinClassifier) and clf.model is model
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert one_vs_all_loss(model, x, y) < loss_before
    for i in range(K):
        with torch.no_grad():
            arm = model.arm_logits(x, i)
        assert arm[y == i].mean() > arm[y != i].mean(), f"arm {i} does not separate class {i} from the rest"


def test_art_madry_trainer_trains_har_components_on_their_own_labels() -> None:
    model = build("har")
    assert isinstance(model, HARClassifier)
    x, y = learnable(64, seed=3)
    clf = trainable_art(model)
    trainer = AdversarialTrainerMadryPGD(clf, nb_epochs=10, batch_size=16, eps=0.02, eps_step=0.01, max_iter=2)
    trainer.fit(x.numpy(), np.eye(K, dtype=np.float32)[y.numpy()])
    h = model.hierarchy
    with torch.no_grad():
        coarse_pred = model.coarse_log_probs(x).argmax(1)
        fine_pred = [model.fine_log_probs(x, z).argmax(1) for z in range(h.n_coarse)]
    assert bool((coarse_pred == h.coarse_of(y)).all())
    for z in range(h.n_coarse):
        members = h.coarse_of(y) == z
        assert bool((fine_pred[z][members] == h.position_in_group[y[members]]).all()), f"fine network {z}"
    assert float((clf.predict(x.numpy()).argmax(1) == y.numpy()).mean()) == 1.0


def test_fit_trains_a_flat_model_and_refuses_a_scheduler_on_its_own_sgd() -> None:
    model = build("flat")
    x, y = learnable(32, seed=4)
    clf = trainable_art(model)
    clf.fit(x.numpy(), y.numpy(), batch_size=8, nb_epochs=10)
    assert float((clf.predict(x.numpy()).argmax(1) == y.numpy()).mean()) == 1.0
    with pytest.raises(RobinBenchError, match="scheduler"):
        clf.fit(x.numpy(), y.numpy(), scheduler=object())


def test_art_evasion_runs_our_pgd_on_robin_with_labels_one_hot_or_none() -> None:
    model = build("robin")
    clf = to_art(model, input_shape=SHAPE)
    x, y = inputs(model)
    attack = ArtEvasion(clf, attack=PGD(model, eps=EPS, steps=10), batch_size=3)
    adv_labels = attack.generate(x, y)
    adv_one_hot = attack.generate(x, np.eye(K, dtype=np.float32)[y])
    adv_none = attack.generate(x)
    np.testing.assert_array_equal(adv_labels, adv_one_hot)
    np.testing.assert_array_equal(adv_labels, adv_none)
    assert adv_labels.dtype == np.float32 and adv_labels.shape == x.shape
    assert np.abs(adv_labels - x).max() <= EPS + 1e-6 and adv_labels.min() >= 0 and adv_labels.max() <= 1
    assert float((clf.predict(adv_labels).argmax(1) == y).mean()) <= 0.5
    assert "attack" in attack.attack_params and attack.estimator is clf


@pytest.mark.parametrize("kind", ["robin", "har"])
def test_art_evasion_runs_our_custom_attacks_and_equals_calling_them(kind: str) -> None:
    model = build(kind)
    clf = to_art(model, input_shape=SHAPE)
    x, y = inputs(model)

    def make() -> RobinAttack | HierarchicalTargeted:
        if kind == "robin":
            return RobinAttack(model, strategy="best_arm", base="pgd", norm="Linf", eps=EPS, steps=10)
        hierarchy = rb.Hierarchy.from_groups([[0, 1], [2, 3]])  # the one build("har") uses
        return HierarchicalTargeted(model, hierarchy=hierarchy, norm="Linf", eps=EPS, steps=10)

    x_adv = ArtEvasion(clf, attack=make()).generate(x, y)
    direct = make()(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    np.testing.assert_array_equal(x_adv, direct)
    assert np.abs(x_adv - x).max() <= EPS + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert float((clf.predict(x_adv).argmax(1) == y).mean()) <= 0.5


def test_art_evasion_in_targeted_mode_takes_targets() -> None:
    model = build("flat")
    clf = to_art(model, input_shape=SHAPE)
    x, y = inputs(model)
    pgd = PGD(model, eps=1.0, steps=20)
    pgd.set_mode_targeted_by_label(quiet=True)
    attack = ArtEvasion(clf, attack=pgd)
    target = (y + 1) % K
    assert attack.targeted
    np.testing.assert_array_equal(clf.predict(attack.generate(x, target)).argmax(1), target)


def test_art_evasion_rejects_an_attack_on_another_model() -> None:
    clf = to_art(build("robin"), input_shape=SHAPE)
    with pytest.raises(RobinBenchError, match="different model"):
        ArtEvasion(clf, attack=PGD(build("robin"), eps=EPS))
