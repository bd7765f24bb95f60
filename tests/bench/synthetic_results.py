"""Synthetic ``EvalResult``s and a synthetic run directory (results.csv + flags) for the bench tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from robin_bench.attacks.evaluate import EvalResult
from robin_bench.bench import results


def early_exit_result(clean: np.ndarray, breaks: dict[str, np.ndarray], criterion: str = "fine") -> EvalResult:
    """AutoAttack protocol: each attack runs on the clean-correct samples no earlier attack broke."""
    remaining = clean.copy()
    success: dict[str, Tensor] = {}
    ran: dict[str, Tensor] = {}
    for name, broke in breaks.items():
        ran[name] = torch.from_numpy(remaining.copy())
        hit = remaining & broke
        success[name] = torch.from_numpy(hit)
        remaining = remaining & ~hit
    return EvalResult(
        names=list(breaks), criterion=criterion, clean_correct=torch.from_numpy(clean),
        robust=torch.from_numpy(remaining), success=success, ran=ran,
        grad_evals={a: 10 * int(ran[a].sum()) for a in breaks}, seconds={a: 0.5 for a in breaks},
    )


MODELS = {"mc": ("flat", 0.9, 0.6), "robin": ("robin", 0.85, 0.35), "har": ("har", 0.88, 0.5)}
"""name -> (kind, clean accuracy, attack break rate at eps=0.1) of the synthetic models."""


def write_run(out_dir: Path, *, suite: str = "demo", n: int = 60, eps: Sequence[float] = (0.0, 0.1, 0.2),
              attacks: Sequence[str] = ("pgd", "cw"), seed: int = 0, drop: float = 0.0,
              clean_rate: float | None = None) -> Path:
    """Write results.csv and flags for three synthetic models; ``drop`` lowers every break-free rate,
    ``clean_rate`` (a probability) replaces every model's clean accuracy.

    Returns the results.csv path.
    """
    rng = np.random.default_rng(seed)
    csv = out_dir / "results.csv"
    draws = {a: rng.random(n) for a in attacks}
    clean_draw = rng.random(n)
    for model, (kind, p_clean, p_break) in MODELS.items():
        clean = clean_draw < (p_clean if clean_rate is None else clean_rate)
        for e in eps:
            rate = min(1.0, p_break * e / 0.1 + drop)
            fine = early_exit_result(clean, {a: draws[a] < rate / (i + 1) for i, a in enumerate(attacks)})
            coarse = early_exit_result(clean, {a: draws[a] < rate / (2 * (i + 1)) for i, a in enumerate(attacks)},
                                       "coarse")
            meta = {"suite": suite, "dataset": "digits", "model": model, "kind": kind, "arch": "mlp",
                    "train_objective": "pgd_at", "norm": "Linf", "eps_train": 0.1, "eps": e, "criterion": "fine",
                    "seed": seed, "attack_set": "custom", "device": "cpu", "config_hash": f"hash-{model}",
                    "timestamp": "2025-01-01T00:00:00"}
            results.append_rows(csv, results.rows_for_cell(meta, fine, coarse))
            fdir = results.flags_dir_for(csv)
            results.save_flags(fdir, results.cell_key(suite, model, "Linf", e, "fine"), fine)
            results.save_flags(fdir, results.cell_key(suite, model, "Linf", e, "coarse"), coarse)
    return csv
