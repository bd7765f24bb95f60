"""Holding a verification against an attacked evaluation of the same samples (DESIGN.md, contract 9)."""

from __future__ import annotations

from robin_bench.attacks.evaluate import EvalResult
from robin_bench.errors import RobinBenchError
from robin_bench.verification.api import VerifyResult


def cross_check(proof: VerifyResult, attacked: EvalResult) -> list[int]:
    r"""Compare per sample a verification with a worst-case attack evaluation of the same model and samples.

    - A sample proven robust that an attack broke (or that the evaluation calls clean-misjudged) is a bug
      in the verifier or in the attack's success check: ``RobinBenchError`` naming the sample and the attack.
    - A sample the verifier broke (a checked counterexample) while the evaluation calls it robust is an
      attack failure: its index is returned, to be reported as ``attack_missed_verified``.

    Arguments:
        proof (VerifyResult): from :func:`robin_bench.verification.verify`.
        attacked (EvalResult): from :func:`robin_bench.evaluate` under the same criterion, norm and eps.

    Returns:
        list[int]: the samples broken by proof yet called robust by the attacks (``attack_missed_verified``).

    Example::

        >>> missed = cross_check(rb.verify(model, x, y, eps=0.05), rb.evaluate(model, x, y, attacks))
        >>> flags = [("attack_missed_verified", f"sample {i}") for i in missed]
    """
    if proof.n != attacked.n:
        raise RobinBenchError(
            f"cross_check: the verification has {proof.n} samples, the evaluation {attacked.n}; give the same samples"
        )
    if proof.criterion != attacked.criterion:
        raise RobinBenchError(
            f"cross_check: the verification's criterion is {proof.criterion!r}, the evaluation's "
            f"{attacked.criterion!r}; compare the same criterion"
        )
    for i in proof.verified.nonzero().flatten().tolist():
        if not bool(attacked.clean_correct[i]):
            raise RobinBenchError(
                f"cross_check: sample {i} is proven robust but the evaluation calls it clean-misjudged; "
                "verifier and evaluation disagree on the clean input"
            )
        for name in attacked.names:
            if bool(attacked.success[name][i]):
                raise RobinBenchError(
                    f"cross_check: sample {i} is proven robust ({proof.norm} eps {proof.eps:g}) but attack {name!r} "
                    "broke it; a bug in the verifier or in the attack's success check"
                )
    return [i for i in proof.broken.nonzero().flatten().tolist() if bool(attacked.robust[i])]
