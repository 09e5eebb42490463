"""Chapter 1: exact OT, Sinkhorn, W_p, 1-D OT, the Gaussian closed form and the KR potential."""
from __future__ import annotations

import warnings

import numpy as np
import ot as pot

from .. import _validation as _v
from ..costs import cost_matrix
from ._common import pair, probe
from ._results import KRPotential, OTResult

#: The methods of ``ot.sinkhorn`` (POT 0.9).
SINKHORN_METHODS = ("sinkhorn_log", "sinkhorn", "sinkhorn_stabilized", "sinkhorn_epsilon_scaling", "greenkhorn")


def _marginal_error(plan: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float(max(np.abs(plan.sum(1) - a).max(), np.abs(plan.sum(0) - b).max()))


def problem(a, b, M, names=("a", "b", "M")) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated float64 (a, b, M) of a discrete OT problem (weights None → uniform)."""
    M = _v.to_numpy64(M, names[2], ndim=2)
    n, m = M.shape
    if n == 0 or m == 0:
        raise ValueError(f"{names[2]} must be a non-empty (n, m) cost matrix, got shape {M.shape}")
    a = _v.weights(a, n, names[0])
    b = _v.weights(b, m, names[1])
    _v.same_mass(a, b, names=names[:2])
    return a, b, _v.cost(M, n, m, names[2])


def exact_ot(a, b, M, num_iter_max: int = 1_000_000, check_tol: float = 1e-9) -> OTResult:
    """Exact discrete OT, min over couplings P of <P, M> (Chapter 1, eq. (Kantorovich)).

    Solved by POT's network simplex (``ot.emd``) in float64. ``a`` (n,) and ``b``
    (m,) are non-negative weights of equal total mass (``None`` means uniform);
    ``M`` is the (n, m) non-negative cost. Raises ``RuntimeError`` if POT warns
    (e.g. iteration limit) or if the plan's marginals miss ``a``, ``b`` by more
    than ``check_tol``.
    """
    a, b, M = problem(a, b, M)
    num_iter_max = _v.integer(num_iter_max, "num_iter_max")
    check_tol = _v.positive(check_tol, "check_tol")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # POT's warning is raised below, as an error
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
    converged: raise ``num_iter_max`` or ``reg``). For a differentiable torch
    version, see :func:`sinkhorn_loss`.
    """
    reg = _v.positive(reg, "reg")
    a, b, M = problem(a, b, M)
    method = _v.choice(method, "method", SINKHORN_METHODS)
    num_iter_max = _v.integer(num_iter_max, "num_iter_max")
    stop_thr = _v.positive(stop_thr, "stop_thr")
    marginal_tol = _v.positive(marginal_tol, "marginal_tol")
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
        warnings.warn(f"Sinkhorn (reg={reg:g}) stopped with marginal error {err:.2e}; raise num_iter_max",
                      RuntimeWarning, stacklevel=2)
    n_iter = log.get("niter")
    return OTResult(float(np.sum(plan * M)), plan, None, None, err, n_iter, {"a": a, "b": b, "M": M, "reg": reg})


def _order(p) -> float:
    return _v.number(p, "p", minimum=1)  # W_p is a distance for p >= 1 only


def wasserstein(x, y, a=None, b=None, p: float = 2) -> float:
    """W_p between two weighted point clouds, (min_P <P, ‖x−y‖^p>)^{1/p} (Chapter 1, eq. (W_p)).

    Exact, via :func:`exact_ot`; ``x`` (n, d) and ``y`` (m, d) (a 1-D input is n points on
    the line); the empirical measures are uniform unless the weights ``a``, ``b`` are given.
    This is also the "exact W2 between sample sets" metric. ``p`` ≥ 1.
    """
    p = _order(p)
    x, y = pair(x, y)
    M = cost_matrix(x, y, "euclidean") ** p
    return exact_ot(a, b, M).cost ** (1.0 / p)


def wasserstein_1d(x, y, a=None, b=None, p: float = 2) -> float:
    """W_p on the real line by quantile functions (Chapter 1, eq. (1-D OT)).

    ``W_p^p = ∫_0^1 |F^{-1}(t) − G^{-1}(t)|^p dt``, computed by ``ot.wasserstein_1d``
    (sorting, O(n log n)). ``x`` (n,), ``y`` (m,); weights as in :func:`wasserstein`.
    Returns W_p, not its p-th power.
    """
    p = _order(p)
    x = _v.to_numpy64(x, "x", ndim=1)
    y = _v.to_numpy64(y, "y", ndim=1)
    a = _v.weights(a, x.shape[0], "a")
    b = _v.weights(b, y.shape[0], "b")
    _v.same_mass(a, b)
    val = pot.wasserstein_1d(x, y, a / a.sum(), b / b.sum(), p=p)
    return float(val) ** (1.0 / p)


def _covariance(C, name: str, d: int) -> np.ndarray:
    C = _v.to_numpy64(C, name, ndim=2)
    if C.shape != (d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}), got {C.shape}")
    scale = max(float(np.abs(C).max(initial=0.0)), np.finfo(np.float64).tiny)
    if np.abs(C - C.T).max(initial=0.0) > 1e-10 * scale:
        raise ValueError(f"{name} must be symmetric")
    C = 0.5 * (C + C.T)
    if d and np.linalg.eigvalsh(C).min() < -1e-9 * scale:
        raise ValueError(f"{name} must be positive semi-definite")
    return C


def _sqrt_eigs(lam: np.ndarray) -> np.ndarray:
    """Square roots of a PSD matrix's computed eigenvalues, with round-off ones (below d·eps·λ_max) at 0."""
    floor = lam.size * np.finfo(np.float64).eps * max(float(lam.max(initial=0.0)), 0.0)
    return np.sqrt(np.where(lam > floor, lam, 0.0))


def _psd_sqrt(C: np.ndarray) -> np.ndarray:
    lam, V = np.linalg.eigh(C)
    return (V * _sqrt_eigs(lam)) @ V.T


def gaussian_w2(m1, C1, m2, C2, squared: bool = False) -> float:
    """W2 between N(m1, C1) and N(m2, C2) in closed form (Chapter 1, eq. (Bures)).

    W2² = ‖m1 − m2‖² + tr C1 + tr C2 − 2 tr (C1^{1/2} C2 C1^{1/2})^{1/2}; returns W2, or W2²
    with ``squared=True`` (the Fréchet distance of :mod:`vegan_lib.metrics`). This is the
    library's only implementation. Covariances must be symmetric positive semi-definite
    (to 1e-10, resp. 1e-9, of their largest entry: ValueError otherwise), and may be singular.

    Computed in float64: C1^{1/2} and C2^{1/2} by symmetric eigendecompositions with round-off
    eigenvalues (negative, or below d·eps·λ_max) set to 0, then tr (C1^{1/2} C2 C1^{1/2})^{1/2} as
    the sum of the singular values of C2^{1/2} C1^{1/2} (accurate to eps·σ_max, where square
    roots of the eigenvalues of the product would lose half the digits of the small ones). POT's
    ``ot.gaussian.bures_wasserstein_distance`` (with which this agrees to ~1e-12 on
    well-conditioned covariances) is not called: its ``sqrtm`` takes ``np.sqrt`` of the
    eigenvalues unclipped, so singular covariances (e.g. feature covariances with dead ReLU
    units) give NaN.
    """
    m1 = _v.to_numpy64(m1, "m1", ndim=1)
    m2 = _v.to_numpy64(m2, "m2", ndim=1)
    d = m1.shape[0]
    if m2.shape[0] != d:
        raise ValueError(f"m1 and m2 must have the same dimension, got {d} and {m2.shape[0]}")
    C1 = _covariance(C1, "C1", d)
    C2 = _covariance(C2, "C2", d)
    squared = _v.boolean(squared, "squared")
    # tr (C1^{1/2} C2 C1^{1/2})^{1/2} is the nuclear norm of C2^{1/2} C1^{1/2}: its singular values are
    # accurate to eps·σ_max, where the square roots of the eigenvalues of the product lose half the digits
    # of those near 0 (singular covariances, e.g. a rank-one model N(b, A Aᵀ) in Chapter 2)
    tr_sqrt = float(np.linalg.svd(_psd_sqrt(C2) @ _psd_sqrt(C1), compute_uv=False).sum())
    w2sq = max(float(np.sum((m1 - m2) ** 2) + np.trace(C1) + np.trace(C2) - 2.0 * tr_sqrt), 0.0)
    return w2sq if squared else float(np.sqrt(w2sq))


def kr_potential(x, y, a=None, b=None) -> KRPotential:
    """A 1-Lipschitz Kantorovich–Rubinstein potential from the exact dual (Chapter 1, eq. (KR)).

    Solves exact OT with the Euclidean cost d, takes POT's dual potential ``v`` and returns
    ``KRPotential(f, ot)``: its c-transform f(z) = min_j [d(z, y_j) − v_j], a minimum of
    1-Lipschitz functions, hence 1-Lipschitz on the whole space, and the OT result. By dual
    feasibility E_a f(X) − E_b f(Y) ≥ <a,u> + <b,v> = W1, and by weak duality ≤ W1: the
    potential attains W1.
    """
    x, y = pair(x, y)
    res = exact_ot(a, b, cost_matrix(x, y, "euclidean"))
    v = res.v.copy()

    def f(z) -> np.ndarray:
        return np.min(cost_matrix(probe(z, y.shape[1]), y, "euclidean") - v[None, :], axis=1)

    return KRPotential(f, res)
