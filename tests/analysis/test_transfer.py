"""Transferability (ROBIN Appendix B.2): transfer from the victim itself is the white-box attack."""

from __future__ import annotations

import pytest
import torch

from robin_bench.analysis.io import write_analysis
from robin_bench.analysis.transfer import plot_transfer, transferability
from robin_bench.attacks.robin import best_other_arm
from robin_bench.attacks.transfer import TransferAttack
from robin_bench.models.robin import RobinClassifier

from .analysis_models import images, random_linear


def test_transfer_from_the_victim_itself_equals_white_box_softmax(tmp_path) -> None:
    robin = RobinClassifier([random_linear(1, seed=s, scale=3.0) for s in range(3)])
    x = images(30, seed=1)
    y = robin(x).argmax(1).detach()
    df = transferability(robin, robin, x, y, norm="L2", eps=[0.0, 0.3, 1.0], steps=5, white_box=("softmax",))
    wide = df.pivot(index="eps", columns="attack", values="robust_acc")
    assert set(wide.columns) == {"transfer_untargeted", "transfer_targeted", "white_box"}
    assert (wide.loc[0.0] == 1.0).all()
    assert torch.allclose(
        torch.tensor(wide["transfer_untargeted"].to_numpy()), torch.tensor(wide["white_box"].to_numpy())
    )
    assert wide.loc[1.0, "white_box"] < 1.0
    csv, png = write_analysis(df, tmp_path, "transfer", plot_transfer, title="t")
    assert csv.exists() and png.stat().st_size > 0


def test_a_surrogate_unrelated_to_the_victim_transfers_worse_than_white_box() -> None:
    robin = RobinClassifier([random_linear(1, seed=s, scale=3.0) for s in range(3)])
    x = images(40, seed=2)
    y = robin(x).argmax(1).detach()
    df = transferability(robin, random_linear(3, seed=11, scale=3.0), x, y, norm="Linf", eps=[0.1], steps=5)
    acc = df.set_index("attack")["robust_acc"]
    assert acc["transfer_untargeted"] >= acc["white_box"] and acc["transfer_targeted"] >= acc["white_box"]


def test_targeted_transfer_aims_at_the_victims_second_arm_also_inside_the_analysis() -> None:
    robin = RobinClassifier([random_linear(1, seed=s, scale=3.0) for s in range(5)])
    surrogate = random_linear(5, seed=7, scale=3.0)
    x = images(60, seed=3)
    y = robin(x).argmax(1).detach()
    df = transferability(robin, surrogate, x, y, norm="L2", eps=[2.0], steps=10, white_box=("softmax",))
    acc = df.set_index("attack")["robust_acc"]
    attack = TransferAttack(surrogate, robin, targeted=True, norm="L2", eps=2.0, steps=10)
    assert attack.targeted
    with torch.no_grad():
        second = best_other_arm(robin(x), y)
    adv = attack(x, y)
    with torch.no_grad():
        on_target = surrogate(adv).argmax(1) == second
        expected = float((robin(adv).argmax(1) == y).float().mean())
    assert on_target.float().mean() > 0.5, "the crafted examples reach the victim's second arm on the surrogate"
    assert acc["transfer_targeted"] == pytest.approx(expected)
    assert acc["transfer_targeted"] != acc["transfer_untargeted"], "targeted transfer is not the untargeted one"
