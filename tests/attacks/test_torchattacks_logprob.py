"""torchattacks on HAR's log-probability output: each attack that applies works, or evaluate flags it as a no-op.

Findings are in the README ("torchattacks on HAR's log-probabilities"). The one silent failure is
``torchattacks.CW``: it masks classes by multiplying the outputs by a one-hot, so with all outputs
negative (log P) both the true-class and the best-other-class scores read 0, the loss never moves and it
returns its inputs unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torchattacks
from sklearn.datasets import load_digits
from torch import Tensor, nn

import robin_bench as rb
from robin_bench.models import HARClassifier

H = rb.Hierarchy.from_groups([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
EPS = 0.1

WORKS: dict[str, Callable[[nn.Module], torchattacks.Attack]] = {
    "PGD": lambda m: torchattacks.PGD(m, eps=EPS, alpha=EPS / 4, steps=10),
    "FGSM": lambda m: torchattacks.FGSM(m, eps=EPS),
    "BIM": lambda m: torchattacks.BIM(m, eps=EPS, alpha=EPS / 4, steps=10),
    "MIFGSM": lambda m: torchattacks.MIFGSM(m, eps=EPS, alpha=EPS / 4, steps=10),
    "TPGD": lambda m: torchattacks.TPGD(m, eps=EPS, alpha=EPS / 4, steps=10),
    "EOTPGD": lambda m: torchattacks.EOTPGD(m, eps=EPS, alpha=EPS / 4, steps=10, eot_iter=1),
    "RFGSM": lambda m: torchattacks.RFGSM(m, eps=EPS, alpha=EPS / 2, steps=5),
    "Jitter": lambda m: torchattacks.Jitter(m, eps=EPS, alpha=EPS / 4, steps=10),
    "APGD-CE": lambda m: torchattacks.APGD(m, eps=EPS, steps=10, seed=0),
    "APGD-DLR": lambda m: torchattacks.APGD(m, eps=EPS, steps=10, loss="dlr", seed=0),
    "APGDT": lambda m: torchattacks.APGDT(m, eps=EPS, steps=10, n_classes=10, seed=0),
    "FAB": lambda m: torchattacks.FAB(m, eps=EPS, steps=10, n_classes=10, seed=0),
    "Square": lambda m: torchattacks.Square(m, eps=EPS, n_queries=200, seed=0),
    "SPSA": lambda m: torchattacks.SPSA(m, eps=EPS, nb_iter=10, nb_sample=32),
}


@pytest.fixture(scope="module")
def har() -> tuple[HARClassifier, Tensor, Tensor]:
    """A HAR model (coarse 0-4 vs 5-9, one fine MLP per group) fit on 1200 digits; 30 held-out digits."""
    digits = load_digits()
    x = torch.tensor(digits.images / 16, dtype=torch.float32)[:, None]
    y = torch.tensor(digits.target)
    torch.manual_seed(0)

    def net(k: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, k))

    model = HARClassifier(net(2), [net(5), net(5)], H)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.nll_loss(model(x[:1200]), y[:1200]).backward()
        opt.step()
    model.eval()
    return model, x[1200:1230], y[1200:1230]


@pytest.mark.parametrize("name", list(WORKS))
def test_attack_works_on_log_probabilities(har: tuple[HARClassifier, Tensor, Tensor], name: str) -> None:
    model, x, y = har
    torch.manual_seed(0)
    res = rb.evaluate(model, x, y, {name: WORKS[name](model)}, norm="Linf", eps=EPS)
    assert res.clean_acc > 0.9
    assert res.flags == []
    assert res.robust_acc < res.clean_acc - 0.1, f"{name} barely breaks an undefended model"


def test_torchattacks_cw_is_a_silent_noop_on_log_probabilities_and_is_flagged(
    har: tuple[HARClassifier, Tensor, Tensor],
) -> None:
    model, x, y = har
    with torch.no_grad():
        assert bool((model(x) <= 0).all()), "HAR returns log-probabilities"
    res = rb.evaluate(model, x, y, {"ta_cw": torchattacks.CW(model, c=1, steps=50, lr=0.05)}, norm="L2", eps=3.0)
    assert res.robust_acc == res.clean_acc, "torchattacks.CW does nothing on log-probabilities"
    [(code, reason)] = res.flags
    assert code == "noop_attack"
    assert "'ta_cw'" in reason and "log-probability" in reason and "rb.attacks.CW" in reason
    ours = rb.evaluate(model, x, y, [rb.attacks.CW(model, norm="L2", eps=3.0, steps=50)])
    assert ours.flags == [] and ours.robust_acc < res.clean_acc - 0.5, "rb.attacks.CW works where torchattacks' fails"
