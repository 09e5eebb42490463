"""The result family of :mod:`vegan_lib.ot`: one dataclass per solver, fields by name.

Every solver returns a subclass of :class:`Result`. Results print readably (arrays by shape
and dtype, numbers by value). Some results used to be named tuples that chapters unpacked;
unpacking still works for one release and warns (``DeprecationWarning``): use the fields.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from typing import Callable

import numpy as np
import torch

__all__ = ["Result", "OTResult", "Pushforward", "PlanEncoder", "KRPotential", "POTResult",
           "LipschitzDual", "KRCritic"]


def _show(value) -> str:
    if isinstance(value, (np.ndarray, torch.Tensor)):
        kind = "array" if isinstance(value, np.ndarray) else "tensor"
        dtype = str(value.dtype).replace("torch.", "")
        return f"{kind}(shape={tuple(value.shape)}, dtype={dtype})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if callable(value) and not isinstance(value, Result):
        return f"<function {getattr(value, '__name__', type(value).__name__)}>"
    return repr(value)


@dataclass(repr=False, eq=False)
class Result:
    """Base class of every result of :mod:`vegan_lib.ot` (fields by name, readable repr)."""

    def __repr__(self) -> str:
        body = ", ".join(f"{f.name}={_show(getattr(self, f.name))}" for f in fields(self))
        return f"{type(self).__name__}({body})"

    def __iter__(self):
        warnings.warn(f"unpacking a {type(self).__name__} is deprecated and will be removed in the next "
                      f"release; use its fields ({', '.join(f.name for f in fields(self))})",
                      DeprecationWarning, stacklevel=2)
        return iter([getattr(self, f.name) for f in fields(self)])


@dataclass(repr=False, eq=False)
class OTResult(Result):
    """What an OT solve returns (Chapter 1, eq. (Kantorovich)).

    ``cost`` is the transport cost <plan, M>; ``plan`` the (n, m) coupling in float64; ``u``,
    ``v`` the dual potentials when the solver gives them (u_i + v_j <= M_ij, with equality on
    the plan's support); ``marginal_error`` the largest deviation of the plan's marginals from
    the weights; ``n_iter`` the iterations of an iterative solver; ``info`` the validated
    problem (``a``, ``b``, ``M``) and solver extras.
    """

    cost: float
    plan: np.ndarray
    u: np.ndarray | None = None
    v: np.ndarray | None = None
    marginal_error: float = 0.0
    n_iter: int | None = None
    info: dict = field(default_factory=dict)

    @property
    def dual_value(self) -> float:
        """sum_i a_i u_i + sum_j b_j v_j (equal to ``cost`` at an exact optimum)."""
        if self.u is None or self.v is None:
            raise ValueError("this solver returned no dual potentials")
        return float(self.info["a"] @ self.u + self.info["b"] @ self.v)


@dataclass(repr=False, eq=False)
class Pushforward(Result):
    """A discrete law with merged atoms (Chapter 2, eq. (2.1) and (2.4)): ``atoms`` (k, d),
    ``weights`` (k,), and ``index``, which sends each input atom (latent atom, or (latent
    atom, noise atom) pair) to the row of ``atoms`` it landed on."""

    atoms: np.ndarray
    weights: np.ndarray
    index: np.ndarray


@dataclass(repr=False, eq=False)
class PlanEncoder(Result):
    """An encoder recovered from a plan (Chapter 2, eq. (2.3)): ``Q`` (n, m) with rows
    Q(Z = z_j | X = x_i) summing to one, and its aggregated posterior ``q_z`` = a @ Q, the law
    Q_Z. (Formerly ``vl.ot.Encoder``, a name that clashed with the networks' encoders.)"""

    Q: np.ndarray
    q_z: np.ndarray


@dataclass(repr=False, eq=False)
class KRPotential(Result):
    """What :func:`kr_potential` returns (Chapter 1, eq. (KR)): ``f``, a 1-Lipschitz callable
    z ↦ f(z) on (k, d) points attaining W1, and ``ot``, the exact OT result it comes from."""

    f: Callable[[np.ndarray], np.ndarray]
    ot: OTResult


@dataclass(repr=False, eq=False)
class POTResult(Result):
    """What :func:`penalized_ot` returns (Chapter 3, eq. (3.2)).

    ``value`` is the optimum <plan, M> + lam·D(q_z, b); ``plan`` the (n, m) optimal coupling of
    the data with the latent atoms (rows sum to ``a``, columns to ``q_z``, which need not be
    ``b``); ``q_z`` the aggregated posterior Q_Z of the optimal encoder; ``transport`` the
    reconstruction term <plan, M>; ``mismatch`` the penalty D(q_z, b) without the weight
    (‖q_z − b‖₁ for ``"l1"``, half of it for ``"tv"``); ``lam`` and ``penalty`` as given.
    """

    value: float
    plan: np.ndarray
    q_z: np.ndarray
    transport: float
    mismatch: float
    lam: float
    penalty: str
    info: dict = field(default_factory=dict)


@dataclass(repr=False, eq=False)
class LipschitzDual(Result):
    """What :func:`kr_dual_lp` returns (Chapter 6, eq. (6.2)).

    ``value`` = sum_i a_i f(x_i) − sum_j b_j f(y_j) at the optimum; ``f_x`` (n,) and ``f_y``
    (m,) the potential on the two supports; ``potential`` a callable z ↦ f(z) defined on the
    whole space (the 1-Lipschitz McShane extension min_k [f(u_k) + d(z, u_k)] over the support
    points u_k, equal to ``f_x``, ``f_y`` there); ``max_violation`` the largest
    f(u) − f(v) − d(u, v) over pairs of support points (≤ 0 up to round-off).
    """

    value: float
    f_x: np.ndarray
    f_y: np.ndarray
    potential: Callable[[np.ndarray], np.ndarray]
    max_violation: float


@dataclass(repr=False, eq=False)
class KRCritic(Result):
    """An optimal Kantorovich–Rubinstein critic, as returned by :func:`kr_critic` (Chapter 6, eq. (6.6)).

    ``f`` (callable, z ↦ max_i [u_i − ‖z − x_i‖]) is 1-Lipschitz with E_a f(X) − E_b f(Y) = W1;
    ``gradient`` (callable, z ↦ (grad, gap)) returns ∇f(z) = (x_i* − z)/‖x_i* − z‖, the unit
    vector towards the active data atom i* = argmax_i [u_i − ‖z − x_i‖], and the gap between
    the best and second-best i (f is differentiable at z when gap > 0 and z ≠ x_i*).
    ``u`` (n,), ``v`` (m,): the dual potentials (u_i + v_j ≤ ‖x_i − y_j‖, with equality on
    the plan's support); ``margin``: the smallest slack ‖x_i − y_j‖ − u_i − v_j off the
    support (``inf`` if every pair is in the support); ``ot``: the exact OT result (plan, W1).
    """

    f: Callable[[np.ndarray], np.ndarray]
    gradient: Callable[[np.ndarray], tuple]
    u: np.ndarray
    v: np.ndarray
    margin: float
    ot: OTResult


@dataclass(repr=False, eq=False)
class PenalizedDual(Result):
    """What :func:`penalized_dual_lp` returns (Chapter 6, eq. (6.10)).

    ``value`` = Σ_i a_i s_i − Σ_l b_l h_l at the optimum, equal to penalized OT with a latent W1
    penalty; ``h`` (m,) the λ-Lipschitz critic on the latent atoms; ``s`` (n,) its transform
    s_i = min_k (M_ik + h_k) on the data atoms; ``max_violation`` the largest h_k − h_l − λ d(z_k, z_l)
    (≤ 0 up to round-off); ``lam`` the Lipschitz constant λ.
    """

    value: float
    h: np.ndarray
    s: np.ndarray
    max_violation: float
    lam: float
