"""Success criteria: fine, coarse (any model given a hierarchy) and targeted."""

from __future__ import annotations

import pytest
import torch

from robin_bench.attacks.criteria import Coarse, Fine, Targeted, get_criterion
from robin_bench.errors import RobinBenchError
from robin_bench.hierarchy import Hierarchy

H = Hierarchy.from_groups([[0, 1], [2, 3]])
OUT = torch.tensor([[5.0, 1, 0, 0], [0, 5, 1, 0], [0, 0, 5, 1], [0, 0, 1, 5]])  # predictions 0, 1, 2, 3
Y = torch.tensor([0, 0, 0, 2])


def test_fine():
    crit = get_criterion("fine")
    assert isinstance(crit, Fine)
    assert crit.correct(OUT, Y).tolist() == [True, False, False, False]
    assert crit.success(OUT, Y).tolist() == [False, True, True, True]


def test_coarse_judges_the_coarse_class_of_the_fine_argmax():
    crit = get_criterion("coarse", H)
    assert isinstance(crit, Coarse)
    assert crit.correct(OUT, Y).tolist() == [True, True, False, True]
    assert crit.success(OUT, Y).tolist() == [False, False, True, False]


def test_coarse_on_log_probs_equals_on_logits():
    crit = get_criterion("coarse", H)
    assert torch.equal(crit.success(OUT.log_softmax(1), Y), crit.success(OUT, Y))


def test_targeted():
    crit = get_criterion("targeted")
    assert isinstance(crit, Targeted)
    t = torch.tensor([1, 1, 3, 3])
    assert crit.correct(OUT, Y, t).tolist() == [True, False, False, False]
    assert crit.success(OUT, Y, t).tolist() == [False, True, False, True]
    with pytest.raises(RobinBenchError, match="targets"):
        crit.success(OUT, Y)


def test_unknown_criterion_names_close_matches():
    with pytest.raises(RobinBenchError, match="did you mean 'coarse'"):
        get_criterion("corse", H)


def test_coarse_needs_a_matching_hierarchy():
    with pytest.raises(RobinBenchError, match="needs a hierarchy"):
        get_criterion("coarse")
    with pytest.raises(RobinBenchError, match="Hierarchy"):
        get_criterion("coarse", {"a": [0, 1]})  # type: ignore[arg-type]
    with pytest.raises(RobinBenchError, match=r"\(N, 4\)"):
        get_criterion("coarse", H).success(torch.zeros(2, 5), torch.tensor([0, 1]))


def test_attack_side_reached_uses_the_aim():
    aim = torch.tensor([0, 0, 0, 2])
    assert Fine().reached(OUT, aim).tolist() == [False, True, True, True]
    assert Coarse(H).reached(OUT, aim).tolist() == [False, False, True, False]
    assert Targeted().reached(OUT, torch.tensor([0, 2, 2, 3])).tolist() == [True, False, True, True]


def test_coarse_objectives_point_to_coarse_success():
    g = torch.Generator().manual_seed(0)
    out = torch.randn(200, 4, generator=g)
    y = torch.randint(0, 4, (200,), generator=g)
    crit = Coarse(H)
    left = crit.reached(out, y)
    margin = crit.objective("margin")(out, y)
    assert torch.equal(margin > 0, left), "the coarse margin is positive exactly on coarse success"
    ce = crit.objective("ce")(out, y)
    expected = -H.coarse_log_probs_from_fine(out).gather(1, H.coarse_of(y)[:, None])[:, 0]
    torch.testing.assert_close(ce, expected)
    with pytest.raises(RobinBenchError, match="dlr"):
        crit.objective("dlr")


def test_coarse_max_view_misclassification_is_coarse_misclassification():
    from robin_bench.attacks.criteria import coarse_max

    g = torch.Generator().manual_seed(1)
    out = torch.randn(100, 4, generator=g)
    y = torch.randint(0, 4, (100,), generator=g)
    view = coarse_max(out, H)
    assert view.shape == (100, 2)
    assert torch.equal(view.argmax(1) != H.coarse_of(y), Coarse(H).success(out, y))


def test_targeted_criterion_and_targeted_modes_are_one_thing():
    from robin_bench.attacks import PGD

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 4))
    pgd = PGD(model, eps=0.1, criterion=Targeted())
    assert pgd.attack_mode == "targeted(label)" and pgd.criterion == Targeted()
    pgd.set_criterion(Fine())
    assert pgd.attack_mode == "default" and not pgd.targeted
    pgd.set_mode_targeted_random(quiet=True)
    assert pgd.criterion == Targeted(), "a torchattacks targeted mode makes the criterion targeted"
    coarse = PGD(model, eps=0.1, criterion=Coarse(H))
    with pytest.raises(RobinBenchError, match="coarse criterion"):
        coarse.set_mode_targeted_by_label(quiet=True)
    with pytest.raises(RobinBenchError, match="criterion object"):
        PGD(model, eps=0.1, criterion="coarse")  # type: ignore[arg-type]
