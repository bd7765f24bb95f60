"""The attack registry: name -> attack class, filled where each attack is defined (robin-bench's, the toolkits'
by ``torchattacks.NAME`` / ``art.NAME``, and plugins' through :func:`register_attack`).

Every registered class is constructed as ``cls(model, *, norm=..., eps=..., **kwargs)``; attacks that
need more context take it as keyword arguments (``hierarchy=``, ``surrogate=``).
"""

from __future__ import annotations

from collections.abc import Callable

from robin_bench.registry import Registry

ATTACKS: Registry[type] = Registry("attack")


def register_attack(name: str) -> Callable[[type], type]:
    r"""Decorator registering an attack class as ``name`` (``rb.register_attack``), for suites
    (``attacks: [{attack: name, kwargs: {...}}]``).

    The class is constructed as ``cls(model, *, norm, eps, **kwargs)``: the suite supplies ``norm`` and ``eps``
    (and ``hierarchy``, ``seed`` where the signature takes them), the entry's ``kwargs`` are checked against the
    signature; an instance is called as ``x_adv = attack(x, y)`` (a torchattacks ``Attack``, or a subclass of
    ``rb.attacks.Attack`` to honour the evaluation's criterion inside the attack). A name already taken is a
    ``RobinBenchError``.

    Example::

        >>> @rb.register_attack("noise")
        ... class Noise(rb.attacks.Attack):
        ...     def __init__(self, model, *, norm="Linf", eps=0.1, seed=0, criterion=None):
        ...         super().__init__("Noise", model, norm=norm, eps=eps, seed=seed, criterion=criterion)
        ...     def perturb(self, x, y):
        ...         return self.threat.random_start(x, self.generator(x))
    """
    return ATTACKS.register(name)
