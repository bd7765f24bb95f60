"""Synthetic ``EvalResult``s and a synthetic run directory (results.csv + flags) for the bench tests, and honest
changes to it (copies with their flags, drops written to flags and rows alike)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from robin_bench.attacks.evaluate import EvalResult
from robin_bench.bench import results, store


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
        names=list(breaks),
        criterion=criterion,
        clean_correct=torch.from_numpy(clean),
        robust=torch.from_numpy(remaining),
        success=success,
        ran=ran,
        grad_evals={a: 10 * int(ran[a].sum()) for a in breaks},
        seconds={a: 0.5 for a in breaks},
    )


MODELS = {"mc": ("flat", 0.9, 0.6), "robin": ("robin", 0.85, 0.35), "har": ("har", 0.88, 0.5)}
"""name -> (kind, clean accuracy, attack break rate at eps=0.1) of the synthetic models."""


def write_run(
    out_dir: Path,
    *,
    suite: str = "demo",
    n: int = 60,
    eps: Sequence[float] = (0.0, 0.1, 0.2),
    attacks: Sequence[str] = ("pgd", "cw"),
    seed: int = 0,
    drop: float = 0.0,
    clean_rate: float | None = None,
) -> Path:
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
            coarse = early_exit_result(
                clean, {a: draws[a] < rate / (2 * (i + 1)) for i, a in enumerate(attacks)}, "coarse"
            )
            meta = {
                "suite": suite,
                "dataset": "digits",
                "model": model,
                "kind": kind,
                "arch": "mlp",
                "train_objective": "pgd_at",
                "norm": "Linf",
                "eps_train": 0.1,
                "eps": e,
                "criterion": "fine",
                "seed": seed,
                "attack_set": "custom",
                "device": "cpu",
                "config_hash": f"hash-{model}",
                "timestamp": "2025-01-01T00:00:00",
            }
            results.append_rows(csv, results.rows_for_cell(meta, fine, coarse))
            fdir = store.flags_dir_for(csv)
            store.save_flags(fdir, store.CellId(suite, model, "Linf", e, "fine").key, fine)
            store.save_flags(fdir, store.CellId(suite, model, "Linf", e, "coarse").key, coarse)
    return csv


def _result_of(flags: results.Flags, criterion: str, rows: pd.DataFrame) -> EvalResult:
    """The ``EvalResult`` behind stored ``flags``, with the seconds and gradient counts of the cell's ``rows``."""
    by_attack = rows.set_index("attack")
    return EvalResult(
        names=list(flags.names),
        criterion=criterion,
        clean_correct=torch.from_numpy(flags.clean_correct),
        robust=torch.from_numpy(flags.robust),
        success={a: torch.from_numpy(s) for a, s in flags.success.items()},
        ran={a: torch.from_numpy(r) for a, r in flags.ran.items()},
        grad_evals={
            a: None if pd.isna(by_attack.loc[a, "grad_evals"]) else int(by_attack.loc[a, "grad_evals"])
            for a in flags.names
        },
        seconds={a: float(by_attack.loc[a, "seconds"]) for a in flags.names},
    )


def copy_run(csv: Path, out: Path, models: Mapping[str, str] | None = None) -> Path:
    """The rows of ``csv`` and the flags they summarise, copied to results file ``out``: only the models of
    ``models`` (old name -> new name; default: all, unchanged). Returns ``out``."""
    df = results.read(csv)
    rename = dict(models) if models is not None else {m: m for m in df["model"]}
    cells = store.cell_ids(df)
    keep = df["model"].isin(list(rename))
    for cell in dict.fromkeys(c for c, k in zip(cells, keep, strict=True) if k):
        for criterion in (cell.criterion, "coarse"):
            src = store.flags_path(store.flags_dir_for(csv), cell.under(criterion).key)
            if src.is_file():
                dest = replace(cell, model=rename[cell.model]).under(criterion).key
                store.flags_path(store.flags_dir_for(out), dest).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, store.flags_path(store.flags_dir_for(out), dest))
    rows = df[keep].assign(model=df[keep]["model"].map(rename))
    results.write(out, rows.to_dict("records"))
    return out


def set_robust(csv: Path, model: str, eps: float, k: int, criterion: str = "fine") -> None:
    """Leave ``k`` samples robust in cell (``model``, ``eps``) of ``csv`` under ``criterion`` (``"coarse"``: its
    coarse flags): the others are broken by the cell's last attack, in its flags and its rows alike (a real drop,
    as a rerun would write it, not an edit)."""
    df = results.read(csv)
    cells = store.cell_ids(df)
    mine = [i for i, c in enumerate(cells) if c.model == model and c.eps == eps]
    cell = cells[mine[0]]
    rows = df.iloc[mine]
    fdir = store.flags_dir_for(csv)
    flags = {
        c: store.load_flags(fdir, cell.under(c).key)
        for c in (cell.criterion, "coarse")
        if store.flags_path(fdir, cell.under(c).key).is_file()
    }
    f = flags[criterion]
    robust = np.flatnonzero(f.robust & f.clean_correct)
    last = f.names[-1]
    for i in robust[k:]:
        f.robust[i], f.success[last][i], f.ran[last][i] = False, True, True
    evals = {c: _result_of(fl, c, rows) for c, fl in flags.items()}
    worst = rows[rows["attack"] == results.WORST_CASE].iloc[0].to_dict()
    meta = {
        **{c: worst[c] for c in results.META_REQUIRED},
        "eps_train": None if pd.isna(worst["eps_train"]) else worst["eps_train"],
        "timestamp": worst["timestamp"],
        "unreliable": worst["unreliable"] or None,
    }
    store.save_flags(fdir, cell.under(criterion).key, evals[criterion])
    results.append_rows(csv, results.rows_for_cell(meta, evals[cell.criterion], evals.get("coarse")))
