"""Hierarchy: validation messages, constructors, CIFAR built-ins, coarse maps and coarse log-probabilities."""

from __future__ import annotations

import pytest
import torch

from robin_bench import Hierarchy, RobinBenchError


@pytest.mark.parametrize(
    ("groups", "match"),
    [
        ({"a": [0, 1], "b": [1, 2]}, "fine class 1 is in two hierarchy groups, 'a' and 'b'"),
        ({"a": [0, 1], "b": [3]}, "fine class 2 is in no hierarchy group"),
        ({"a": [0, 1], "b": []}, "group 'b' is empty"),
        ({"a": [0, -1]}, "group 'a' holds -1"),
        ({"a": [0, 1.0]}, "group 'a' holds 1.0"),
        ({}, "no groups"),
    ],
)
def test_validation_names_class_or_group(groups: dict, match: str) -> None:
    with pytest.raises(RobinBenchError, match=match):
        Hierarchy(groups)


def test_from_groups_dict_and_list() -> None:
    named = Hierarchy.from_groups({"low": [0, 1, 2, 3, 4], "high": [5, 6, 7, 8, 9]})
    assert named.names == ["low", "high"] and named.n_fine == 10 and named.n_coarse == 2
    listed = Hierarchy.from_groups([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    assert listed.names == ["0", "1"]
    assert torch.equal(listed.fine_to_coarse, named.fine_to_coarse)
    assert listed.to_dict() == {"0": [0, 1, 2, 3, 4], "1": [5, 6, 7, 8, 9]}
    assert Hierarchy(named.to_dict()) == named and hash(Hierarchy(named.to_dict())) == hash(named)


def test_cifar10_builtin() -> None:
    h = Hierarchy.cifar10()
    assert (h.n_fine, h.n_coarse) == (10, 2)
    assert h.to_dict() == {"animals": [2, 3, 4, 5, 6, 7], "vehicles": [0, 1, 8, 9]}


def test_cifar100_builtin() -> None:
    h = Hierarchy.cifar100()
    assert (h.n_fine, h.n_coarse) == (100, 20)
    assert all(len(h.fine_classes(z)) == 5 for z in range(20))
    assert sorted(c for z in range(20) for c in h.fine_classes(z)) == list(range(100))
    # spot checks against the CIFAR-100 meta file: 0 apple -> fruit_and_vegetables, 4 beaver -> aquatic_mammals
    assert h.names[int(h.coarse_of(torch.tensor([0])))] == "fruit_and_vegetables"
    assert h.names[int(h.coarse_of(torch.tensor([4])))] == "aquatic_mammals"


def test_coarse_of_and_fine_classes() -> None:
    h = Hierarchy.from_groups({"a": [0, 3, 4], "b": [1, 2]})
    y = torch.tensor([[0, 1], [2, 3], [4, 4]])
    z = h.coarse_of(y)
    assert z.dtype == torch.long and z.shape == y.shape
    assert z.tolist() == [[0, 1], [1, 0], [0, 0]]
    assert h.fine_classes(0) == [0, 3, 4] and h.fine_classes(1) == [1, 2]
    with pytest.raises(RobinBenchError, match="coarse class 2 out of range"):
        h.fine_classes(2)
    with pytest.raises(RobinBenchError, match="fine label 5"):
        h.coarse_of(torch.tensor([0, 5]))


@pytest.mark.parametrize("as_logits", [False, True])
def test_coarse_log_probs_from_fine_is_log_of_summed_probabilities(as_logits: bool) -> None:
    h = Hierarchy.from_groups({"a": [0, 3, 4], "b": [1, 2]})
    logits = torch.randn(6, 5, dtype=torch.float64) * 3
    fine = logits if as_logits else torch.log_softmax(logits, dim=1)
    p = torch.softmax(logits, dim=1)
    expected = torch.stack([p[:, [0, 3, 4]].sum(1), p[:, [1, 2]].sum(1)], dim=1).log()
    torch.testing.assert_close(h.coarse_log_probs_from_fine(fine), expected)


def test_numpy_integer_classes_accepted_as_plain_ints() -> None:
    import json

    import numpy as np

    h = Hierarchy.from_groups([np.array([0, 2]), np.array([1])])
    assert h.to_dict() == {"0": [0, 2], "1": [1]}
    assert json.loads(json.dumps(h.to_dict())) == h.to_dict()


def test_from_fine_to_coarse() -> None:
    h = Hierarchy.from_fine_to_coarse([1, 0, 1], names=["x", "y"])
    assert h.to_dict() == {"x": [1], "y": [0, 2]}
    with pytest.raises(RobinBenchError, match="2 coarse names given for 1 coarse classes"):
        Hierarchy.from_fine_to_coarse([0, 0], names=["x", "y"])
    with pytest.raises(RobinBenchError, match="fine_to_coarse is empty"):
        Hierarchy.from_fine_to_coarse([])


@pytest.mark.parametrize("bad", [-1, 1.0, "1", True])
def test_from_fine_to_coarse_rejects_a_non_class_entry(bad: object) -> None:
    with pytest.raises(RobinBenchError, match=rf"fine_to_coarse\[1\] = {bad!r}; coarse classes are non-negative"):
        Hierarchy.from_fine_to_coarse([0, bad, 0])  # type: ignore[list-item]


@pytest.mark.parametrize("z", ["a", 1.0, True])
def test_fine_classes_rejects_a_non_integer(z: object) -> None:
    with pytest.raises(RobinBenchError, match=f"coarse class {z!r} out of range; valid: integers 0..1"):
        Hierarchy.from_groups([[0], [1]]).fine_classes(z)  # type: ignore[arg-type]
