"""Attacks: threat model, base attacks, ROBIN strategies, hierarchical attacks and worst-case evaluation."""

from robin_bench.attacks import toolkits  # noqa: F401  (registers torchattacks.NAME and art.NAME)
from robin_bench.attacks.adaptive import BPDA
from robin_bench.attacks.autoattack import AutoAttack
from robin_bench.attacks.base import FAMILIES, Attack
from robin_bench.attacks.criteria import Coarse, Criterion, Fine, Targeted
from robin_bench.attacks.cw import CW
from robin_bench.attacks.evaluate import EvalResult, evaluate
from robin_bench.attacks.fgsm import FGSM
from robin_bench.attacks.hierarchical import CoarseMarginal, CoarseTargeted, HierarchicalTargeted
from robin_bench.attacks.pgd import PGD
from robin_bench.attacks.rays import RayS
from robin_bench.attacks.registry import ATTACKS
from robin_bench.attacks.robin import STRATEGIES, RobinAttack
from robin_bench.attacks.standard import standard_attacks
from robin_bench.attacks.threat import ThreatModel
from robin_bench.attacks.transfer import TransferAttack

__all__ = [
    "ATTACKS",
    "BPDA",
    "CW",
    "FAMILIES",
    "FGSM",
    "PGD",
    "RayS",
    "STRATEGIES",
    "Attack",
    "AutoAttack",
    "Coarse",
    "CoarseMarginal",
    "CoarseTargeted",
    "Criterion",
    "EvalResult",
    "Fine",
    "HierarchicalTargeted",
    "RobinAttack",
    "Targeted",
    "ThreatModel",
    "TransferAttack",
    "evaluate",
    "standard_attacks",
]
