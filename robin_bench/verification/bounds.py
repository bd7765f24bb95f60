"""Sound bounds on a :class:`~robin_bench.verification.network.Chain` over a perturbation set, by bound propagation.

Two methods, both sound (every input of the set satisfies them):

- **interval** (IBP; Gowal et al., 2018): each layer's box from the previous one's;
- **linear** (CROWN; Zhang et al., 2018): each bound is a linear function of the input, obtained by
  propagating the query backwards through the layers with the ReLU replaced by linear bounds (the
  triangle's upper chord, and an adaptive lower line of slope 0 or 1), then minimized over the set.
  Intermediate bounds are computed the same way, layer by layer, and intersected with the interval ones.

Linear bounds of several chains that read the same input are added before they are minimized over the set
(:meth:`InputSet.minimum` of the sum), which is what makes a ROBIN margin ``arm_y - arm_j`` tight.

Example::

    >>> s = InputSet.around(x0, "Linf", 0.05)
    >>> pre = layer_bounds(chain, s, "linear")
    >>> a, c = linear_lower(chain, pre, np.eye(chain.n_out))   # out >= a @ x + c on the set
    >>> s.minimum(a, c)                                       # (n_out,) proven lower bounds
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from robin_bench.verification.network import Chain

Method = Literal["interval", "linear"]
Bounds = list[tuple[np.ndarray, np.ndarray]]
"""Per ReLU layer, the (lower, upper) bounds of its pre-activations."""


@dataclass(frozen=True)
class InputSet:
    """The inputs an attacker may choose: the box ``[lower, upper]`` (ball of Linf, or the box ``[0, 1]`` around the
    ball of L2, clipped to [0, 1]), and for L2 also ``||x - center||_2 <= eps``.

    Attributes:
        center (np.ndarray): (d,) the clean input, flattened.
        lower (np.ndarray): (d,) lower box bound.
        upper (np.ndarray): (d,) upper box bound.
        norm (str): ``"Linf"`` or ``"L2"``.
        eps (float): radius.
    """

    center: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    norm: str
    eps: float

    @classmethod
    def around(cls, x0: np.ndarray, norm: str, eps: float) -> InputSet:
        """The ball of ``norm`` and radius ``eps`` around ``x0`` (flattened), intersected with [0, 1]."""
        x0 = np.asarray(x0, dtype=np.float64).reshape(-1)
        return cls(x0, np.clip(x0 - eps, 0.0, 1.0), np.clip(x0 + eps, 0.0, 1.0), norm, float(eps))

    def minimum(self, a: np.ndarray, c: np.ndarray) -> np.ndarray:
        """(m,) lower bounds of ``a @ x + c`` over the set, for ``a`` (m, d) and ``c`` (m,).

        Exact over the box; for L2, the larger of the box's and the ball's minimum (each is a lower bound of the
        minimum over their intersection).
        """
        box = c + np.maximum(a, 0.0) @ self.lower + np.minimum(a, 0.0) @ self.upper
        if self.norm != "L2":
            return box
        ball = c + a @ self.center - self.eps * np.linalg.norm(a, axis=1)
        return np.maximum(box, ball)

    def minimizer(self, a: np.ndarray) -> np.ndarray:
        """(d,) a point of the set where ``a @ x`` (one row, (d,)) is small: the box corner (Linf), the ball's
        minimizer clipped to the box (L2). A candidate counterexample, not a bound."""
        if self.norm != "L2":
            return np.where(a > 0, self.lower, self.upper)
        n = float(np.linalg.norm(a))
        step = -self.eps * a / n if n > 0 else np.zeros_like(a)
        return np.clip(self.center + step, self.lower, self.upper)


def _relaxation(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear bounds ``alpha z <= relu(z) <= s z + t`` on ``[lower, upper]``: (alpha, s, t)."""
    active = lower >= 0
    unstable = (lower < 0) & (upper > 0)
    width = np.where(unstable, upper - lower, 1.0)
    s = np.where(active, 1.0, np.where(unstable, upper / width, 0.0))
    t = np.where(unstable, -s * lower, 0.0)
    alpha = np.where(active, 1.0, np.where(unstable, (upper >= -lower).astype(np.float64), 0.0))
    return alpha, s, t


def linear_lower(
    chain: Chain, pre: Bounds, spec: np.ndarray, layer: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(a, c)`` with ``spec @ z >= a @ x + c`` for every input ``x`` whose pre-activations lie in ``pre``.

    Arguments:
        chain (Chain): the network.
        pre (Bounds): bounds of the pre-activations of the ReLU layers before ``layer``.
        spec (np.ndarray): (m, n_layer) rows of the linear query on ``z``.
        layer (int | None): which affine map's output ``z`` is (0-based); None is the output. (Default: None)

    Returns:
        tuple[np.ndarray, np.ndarray]: ``a`` (m, n_in) and ``c`` (m,).
    """
    k = len(chain.weights) - 1 if layer is None else layer
    lam = spec @ chain.weights[k]
    const = spec @ chain.biases[k]
    for j in range(k - 1, -1, -1):
        alpha, s, t = _relaxation(*pre[j])
        pos, neg = np.maximum(lam, 0.0), np.minimum(lam, 0.0)
        const = const + neg @ t
        lam = pos * alpha + neg * s
        const = const + lam @ chain.biases[j]
        lam = lam @ chain.weights[j]
    return lam, const


def layer_bounds(chain: Chain, inputs: InputSet, method: Method) -> Bounds:
    """Bounds of the pre-activations of every ReLU layer of ``chain`` over ``inputs``, by ``method``.

    ``"linear"`` bounds are intersected with the interval ones, so they are never looser.
    """
    out: Bounds = []
    lo, hi = inputs.lower, inputs.upper
    for k, (w, b) in enumerate(zip(chain.weights[:-1], chain.biases[:-1], strict=True)):
        wp, wn = np.maximum(w, 0.0), np.minimum(w, 0.0)
        lo_k, hi_k = wp @ lo + wn @ hi + b, wp @ hi + wn @ lo + b
        if k == 0:
            lo_k = np.maximum(lo_k, inputs.minimum(w, b))
            hi_k = np.minimum(hi_k, -inputs.minimum(-w, -b))
        elif method == "linear":
            eye = np.eye(w.shape[0])
            lo_k = np.maximum(lo_k, inputs.minimum(*linear_lower(chain, out, eye, k)))
            hi_k = np.minimum(hi_k, -inputs.minimum(*linear_lower(chain, out, -eye, k)))
        out.append((lo_k, hi_k))
        lo, hi = np.maximum(lo_k, 0.0), np.maximum(hi_k, 0.0)
    return out


def interval_output(chain: Chain, pre: Bounds, inputs: InputSet) -> tuple[np.ndarray, np.ndarray]:
    """Interval bounds (lower, upper) of the chain's outputs from the last layer's pre-activation bounds."""
    w, b = chain.weights[-1], chain.biases[-1]
    lo, hi = (np.maximum(pre[-1][0], 0.0), np.maximum(pre[-1][1], 0.0)) if pre else (inputs.lower, inputs.upper)
    wp, wn = np.maximum(w, 0.0), np.minimum(w, 0.0)
    return wp @ lo + wn @ hi + b, wp @ hi + wn @ lo + b
