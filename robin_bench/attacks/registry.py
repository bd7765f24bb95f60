"""The attack registry: name -> attack class, filled where each attack is defined.

Every registered class is constructed as ``cls(model, *, norm=..., eps=..., **kwargs)``; attacks that
need more context take it as keyword arguments (``hierarchy=``, ``surrogate=``).
"""

from __future__ import annotations

from robin_bench.registry import Registry

ATTACKS: Registry[type] = Registry("attack")
