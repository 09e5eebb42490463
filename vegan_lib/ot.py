"""Optimal transport: a thin, validated layer over POT.

POT does every solve; this module checks inputs (shapes, NaN, negative or
unbalanced weights), works in float64, accepts NumPy arrays or torch tensors,
and checks what comes back (solver warnings, plan marginals), so that a chapter
never reports a silently wrong number.

Chapter 1 introduces cost matrices, exact OT, Sinkhorn, 1-D OT, the Gaussian
closed form and the Kantorovich-Rubinstein potential.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import ot as pot
from scipy.spatial.distance import cdist

from . import _checks

__all__ = [
    "OTResult",
    "cost_matrix",
    "exact_ot",
    "sinkhorn",
    "wasserstein",
    "wasserstein_1d",
    "gaussian_w2",
    "kr_potential",
]

_METRICS = {"sqeuclidean": "sqeuclidean", "euclidean": "euclidean", "cityblock": "cityblock", "l1": "cityblock"}


@dataclass
class OTResult:
    """What an OT solve returns (Chapter 1, eq. (Kantorovich)).

    ``cost`` is the transport cost <plan, M>; ``plan`` the (n, m) coupling in
    float64; ``u``, ``v`` the dual potentials when the solver gives them
    (u_i + v_j <= M_ij, with equality on the plan's support); ``marginal_error``
    the largest deviation of the plan's marginals from the weights.
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


def cost_matrix(x, y, metric: str = "sqeuclidean") -> np.ndarray:
    """Ground cost matrix M_ij = c(x_i, y_j) in float64 (Chapter 1, eq. (cost)).

    ``metric`` is ``"sqeuclidean"`` (‖x−y‖², the W2 cost), ``"euclidean"``
    (‖x−y‖, the W1 cost) or ``"cityblock"``/``"l1"``. Points are (n, d) arrays or
    tensors; a 1-D input is read as n points on the line.
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}, got {metric!r}")
    x = _checks.points(x, "x")
    y = _checks.points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got x {x.shape} and y {y.shape}")
    if metric == "sqeuclidean" and x.shape[1] > 16:
        # high dimension (images): the BLAS expansion |x|^2 + |y|^2 - 2<x, y> is ~30x faster
        # than cdist; its float64 error is ~1e-16 * |x|^2, clamped at 0.
        return np.maximum(pot.dist(x, y, metric="sqeuclidean"), 0.0)
    # scipy's cdist works on coordinate differences: exact zeros on the diagonal, unlike
    # the expansion (whose square root, for the Euclidean cost, errs by ~1e-8 * |x|).
    return cdist(x, y, metric=_METRICS[metric])


def _marginal_error(plan: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float(max(np.abs(plan.sum(1) - a).max(), np.abs(plan.sum(0) - b).max()))


def exact_ot(a, b, M, num_iter_max: int = 1_000_000, check_tol: float = 1e-9) -> OTResult:
    """Exact discrete OT, min over couplings P of <P, M> (Chapter 1, eq. (Kantorovich)).

    Solved by POT's network simplex (``ot.emd``) in float64. ``a`` (n,) and ``b``
    (m,) are non-negative weights of equal total mass (``None`` means uniform);
    ``M`` is the (n, m) non-negative cost. Raises ``RuntimeError`` if POT warns
    (e.g. iteration limit) or if the plan's marginals miss ``a``, ``b`` by more
    than ``check_tol``.
    """
    M = _checks.to_numpy64(M, "M", ndim=2)
    n, m = M.shape
    a = _checks.weights(a, n, "a")
    b = _checks.weights(b, m, "b")
    _checks.same_mass(a, b)
    M = _checks.cost(M, n, m)
    plan, log = pot.emd(a, b, M, numItermax=num_iter_max, log=True)
    if log.get("warning"):
        raise RuntimeError(f"ot.emd did not solve the problem exactly: {log['warning']}")
    err = _marginal_error(plan, a, b)
    if err > check_tol * max(1.0, a.sum()):
        raise RuntimeError(f"exact OT plan misses its marginals by {err:.3g} (> {check_tol:g})")
    cost = float(np.sum(plan * M))
    return OTResult(cost, plan, log["u"], log["v"], err, None, {"a": a, "b": b, "M": M})


def sinkhorn(a, b, M, reg: float, method: str = "sinkhorn_log", num_iter_max: int = 10_000,
             stop_thr: float = 1e-10, marginal_tol: float = 1e-6) -> OTResult:
    """Entropic OT by Sinkhorn iterations (Chapter 1, eq. (entropic OT)).

    Solves min_P <P, M> − reg·H(P) over couplings with ``ot.sinkhorn``; the
    returned ``cost`` is the transport part <P, M> only, which tends to the exact
    OT cost as ``reg`` → 0. The default log-domain method is stable for small
    ``reg``. Raises ``RuntimeError`` if the plan is not finite or has lost its
    mass; warns if the marginals are off by more than ``marginal_tol`` (not
    converged: raise ``num_iter_max`` or ``reg``).
    """
    reg = _checks.positive(reg, "reg")
    M = _checks.to_numpy64(M, "M", ndim=2)
    n, m = M.shape
    a = _checks.weights(a, n, "a")
    b = _checks.weights(b, m, "b")
    _checks.same_mass(a, b)
    M = _checks.cost(M, n, m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is checked below, on the marginals
        plan, log = pot.sinkhorn(a, b, M, reg, method=method, numItermax=num_iter_max,
                                 stopThr=stop_thr, log=True, warn=False)
    plan = np.asarray(plan, dtype=np.float64)
    if not np.all(np.isfinite(plan)) or plan.sum() < 0.5 * a.sum():
        raise RuntimeError(f"Sinkhorn failed (method={method!r}, reg={reg:g}): the plan is not finite or "
                           f"lost its mass (total {plan.sum():.3g}); increase reg or use method='sinkhorn_log'")
    err = _marginal_error(plan, a, b)
    if err > marginal_tol:
        warnings.warn(f"Sinkhorn (reg={reg:g}) stopped with marginal error {err:.2e}; raise num_iter_max", RuntimeWarning)
    n_iter = log.get("niter")
    return OTResult(float(np.sum(plan * M)), plan, None, None, err, n_iter, {"a": a, "b": b, "M": M, "reg": reg})


def wasserstein(x, y, a=None, b=None, p: float = 2) -> float:
    """W_p between two weighted point clouds, (min_P <P, ‖x−y‖^p>)^{1/p} (Chapter 1, eq. (W_p)).

    Exact, via :func:`exact_ot`; the empirical measures are uniform unless
    weights are given. This is also the "exact W2 between sample sets" metric.
    """
    p = _checks.positive(p, "p")
    if p < 1:
        raise ValueError(f"p must be >= 1 for W_p to be a distance, got {p}")
    M = cost_matrix(x, y, "euclidean") ** p
    return exact_ot(a, b, M).cost ** (1.0 / p)


def wasserstein_1d(x, y, a=None, b=None, p: float = 2) -> float:
    """W_p on the real line by quantile functions (Chapter 1, eq. (1-D OT)).

    W_p^p = ∫_0^1 |F^{-1}(t) − G^{-1}(t)|^p dt, computed by ``ot.wasserstein_1d``
    (sorting, O(n log n)). Returns W_p, not its p-th power.
    """
    p = _checks.positive(p, "p")
    x = _checks.to_numpy64(x, "x", ndim=1)
    y = _checks.to_numpy64(y, "y", ndim=1)
    a = _checks.weights(a, x.shape[0], "a")
    b = _checks.weights(b, y.shape[0], "b")
    _checks.same_mass(a, b)
    val = pot.wasserstein_1d(x, y, a / a.sum(), b / b.sum(), p=p)
    return float(val) ** (1.0 / p)


def gaussian_w2(m1, C1, m2, C2) -> float:
    """W2 between N(m1, C1) and N(m2, C2) in closed form (Chapter 1, eq. (Bures)).

    W2² = ‖m1 − m2‖² + tr(C1 + C2 − 2 (C1^{1/2} C2 C1^{1/2})^{1/2}), computed by
    ``ot.gaussian.bures_wasserstein_distance``. Covariances must be symmetric
    positive semi-definite.
    """
    m1 = _checks.to_numpy64(m1, "m1", ndim=1)
    m2 = _checks.to_numpy64(m2, "m2", ndim=1)
    d = m1.shape[0]
    if m2.shape[0] != d:
        raise ValueError(f"m1 and m2 must have the same dimension, got {d} and {m2.shape[0]}")
    for name, C in (("C1", C1), ("C2", C2)):
        C = _checks.to_numpy64(C, name, ndim=2)
        if C.shape != (d, d):
            raise ValueError(f"{name} must have shape ({d}, {d}), got {C.shape}")
        if not np.allclose(C, C.T, atol=1e-10):
            raise ValueError(f"{name} must be symmetric")
        if np.linalg.eigvalsh(C).min() < -1e-10:
            raise ValueError(f"{name} must be positive semi-definite")
    C1 = _checks.to_numpy64(C1, "C1", ndim=2)
    C2 = _checks.to_numpy64(C2, "C2", ndim=2)
    return float(pot.gaussian.bures_wasserstein_distance(m1, m2, C1, C2))


def kr_potential(x, y, a=None, b=None) -> tuple[Callable[[np.ndarray], np.ndarray], OTResult]:
    """A 1-Lipschitz Kantorovich–Rubinstein potential from the exact dual (Chapter 1, eq. (KR)).

    Solves exact OT with the Euclidean cost d, takes POT's dual potential ``v``
    and returns its c-transform f(z) = min_j [d(z, y_j) − v_j], a minimum of
    1-Lipschitz functions, hence 1-Lipschitz on the whole space, together with
    the OT result. By dual feasibility E_a f(X) − E_b f(Y) ≥ <a,u> + <b,v> = W1,
    and by weak duality ≤ W1: the potential attains W1.
    """
    x = _checks.points(x, "x")
    y = _checks.points(y, "y")
    res = exact_ot(a, b, cost_matrix(x, y, "euclidean"))
    v = res.v.copy()

    def f(z) -> np.ndarray:
        z = _checks.points(z, "z")
        if z.shape[1] != y.shape[1]:
            raise ValueError(f"z must have dimension {y.shape[1]}, got {z.shape[1]}")
        return np.min(cost_matrix(z, y, "euclidean") - v[None, :], axis=1)

    return f, res
