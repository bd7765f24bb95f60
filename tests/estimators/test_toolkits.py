"""What the toolkits do on HAR's log-probability output, and pyautoattack called directly on robin-bench models.

torchattacks' ``CW`` picks the true and best other score by multiplying with a one-hot mask, so the
masked zeros win over all-negative log-probabilities and its objective is constant: a silent no-op.
ART's Carlini masks by adding ``min - 1`` and works; so do rb.attacks.CW and PGD with margin or DLR loss.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torchattacks
from art.attacks.evasion import CarliniL2Method
from pyautoattack import AutoAttack

import robin_bench as rb
from robin_bench.estimators import to_art
from tests.estimators.tiny import EPS, KINDS, build, inputs

ROOT = Path(__file__).resolve().parents[2]


def har_batch() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    model = build("har").eval()
    x, y = inputs(model)
    return model, torch.from_numpy(x), torch.from_numpy(y)


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def test_torchattacks_cw_is_a_no_op_on_har_log_probabilities() -> None:
    model, x, y = har_batch()
    with torch.no_grad():
        assert bool((model(x) < 0).all())
    assert torch.equal(torchattacks.CW(model, c=1.0, steps=20, lr=0.1)(x, y), x)
    assert accuracy(model, rb.attacks.CW(model, norm="L2", eps=2.0, steps=20, binary_search_steps=1)(x, y), y) < 1.0
    flat = build("flat").eval()
    x_flat, y_flat = (torch.from_numpy(a) for a in inputs(flat))
    assert accuracy(flat, torchattacks.CW(flat, c=1.0, steps=20, lr=0.1)(x_flat, y_flat), y_flat) < 1.0


@pytest.mark.parametrize(
    "make",
    [
        lambda m: rb.attacks.CW(m, norm="L2", eps=2.0, steps=50, binary_search_steps=3),
        lambda m: rb.attacks.PGD(m, eps=EPS, steps=10, loss="margin"),
        lambda m: rb.attacks.PGD(m, eps=EPS, steps=10, loss="dlr"),
    ],
    ids=["rb.attacks.CW", "PGD margin", "PGD dlr"],
)
def test_robin_bench_cw_and_margin_or_dlr_pgd_break_har(make: object) -> None:
    model, x, y = har_batch()
    x_adv = make(model)(x, y)  # type: ignore[operator]
    assert accuracy(model, x_adv, y) <= 0.25


def test_art_carlini_masks_additively_and_breaks_har() -> None:
    model, x, y = har_batch()
    clf = to_art(model, input_shape=(1, 8, 8))
    attack = CarliniL2Method(
        clf, max_iter=10, binary_search_steps=3, learning_rate=0.1, initial_const=1.0, batch_size=8, verbose=False
    )
    x_adv = attack.generate(x.numpy(), np.eye(4, dtype=np.float32)[y.numpy()])
    assert accuracy(model, torch.from_numpy(x_adv), y) <= 0.25


@pytest.mark.parametrize("kind", KINDS)
def test_pyautoattack_direct_call_on_robin_har_and_flat(kind: str) -> None:
    model = build(kind).eval()
    x_np, y_np = inputs(model)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    adversary = AutoAttack(model, norm="Linf", eps=EPS, version="custom", attacks=["apgd-ce", "apgd-t"], seed=0)
    adversary.apgd.n_iter = adversary.apgd_targeted.n_iter = 10
    x_adv, y_adv = adversary.run_standard_evaluation(x, y, batch_size=8)
    assert (x_adv - x).abs().max() <= EPS + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
    with torch.no_grad():
        assert torch.equal(y_adv, model(x_adv).argmax(1))
    assert float((y_adv == y).float().mean()) < 1.0


def doc_snippet() -> str:
    """The ```py block on pyautoattack of the README's ART section."""
    for block in re.findall(r"```py\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S):
        if "pyautoattack" in block:
            return block
    raise AssertionError("no ```py block calling pyautoattack in README.md")


def run_snippet(code: str) -> tuple[dict[str, object], str]:
    namespace: dict[str, object] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "pyautoattack snippet", "exec"), namespace)
    return namespace, out.getvalue()


def check_snippet_result(namespace: dict[str, object], printed: str) -> None:
    x, y, x_adv, y_adv = (namespace[k] for k in ("x", "y", "x_adv", "y_adv"))
    model = namespace["model"]
    assert isinstance(x, torch.Tensor) and isinstance(x_adv, torch.Tensor) and isinstance(y_adv, torch.Tensor)
    assert x_adv.shape == x.shape and (x_adv - x).abs().max() <= 0.1 + 1e-6
    with torch.no_grad():
        assert torch.equal(y_adv, model(x_adv).argmax(1))  # type: ignore[operator]
    clean, robust = (float(v) for v in re.findall(r"\d\.\d\d", printed))
    assert robust == pytest.approx(float((y_adv == y).float().mean()), abs=0.005) and robust <= clean


def test_readme_pyautoattack_snippet_runs_with_one_attack() -> None:
    """The snippet as written, with AutoAttack's four-attack standard set cut to APGD-CE for speed."""
    code = doc_snippet()
    cheap = code.replace('version="standard"', 'version="custom", attacks=["apgd-ce"]')
    assert cheap != code
    check_snippet_result(*run_snippet(cheap))


@pytest.mark.slow
def test_readme_pyautoattack_snippet_runs_as_written() -> None:
    check_snippet_result(*run_snippet(doc_snippet()))
