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
