"""Optimal transport: a thin, validated layer over POT.

POT does every solve; this module checks inputs (shapes, NaN, negative or
unbalanced weights), works in float64, accepts NumPy arrays or torch tensors,
and checks what comes back (solver warnings, plan marginals), so that a chapter
never reports a silently wrong number.

Chapter 1 introduces cost matrices, exact OT, Sinkhorn, 1-D OT, the Gaussian
closed form and the Kantorovich-Rubinstein potential. Chapter 2 adds OT between
data and a latent-variable model: the pushforward G#P_Z, the encoder form of
Theorem 1, the random-decoder cost W_c† and the encoder recovered from a plan.
Chapter 6 adds the Kantorovich-Rubinstein dual as a linear program over
1-Lipschitz potentials and optimal critics with well-defined gradients.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np
import ot as pot
import torch
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
    "Pushforward",
    "Encoder",
    "pushforward",
    "encoder_ot",
    "mixture_law",
    "random_decoder_ot",
    "encoder_from_plan",
    "POTResult",
    "POT_PENALTIES",
    "penalized_ot",
    "LipschitzDual",
    "kr_dual_lp",
    "KRCritic",
    "kr_critic",
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


def _problem(a, b, M):
    """Validated float64 (a, b, M) of a discrete OT problem (weights None → uniform)."""
    M = _checks.to_numpy64(M, "M", ndim=2)
    n, m = M.shape
    a = _checks.weights(a, n, "a")
    b = _checks.weights(b, m, "b")
    _checks.same_mass(a, b)
    return a, b, _checks.cost(M, n, m)


def exact_ot(a, b, M, num_iter_max: int = 1_000_000, check_tol: float = 1e-9) -> OTResult:
    """Exact discrete OT, min over couplings P of <P, M> (Chapter 1, eq. (Kantorovich)).

    Solved by POT's network simplex (``ot.emd``) in float64. ``a`` (n,) and ``b``
    (m,) are non-negative weights of equal total mass (``None`` means uniform);
    ``M`` is the (n, m) non-negative cost. Raises ``RuntimeError`` if POT warns
    (e.g. iteration limit) or if the plan's marginals miss ``a``, ``b`` by more
    than ``check_tol``.
    """
    a, b, M = _problem(a, b, M)
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
    a, b, M = _problem(a, b, M)
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


# ---------------------------------------------------------------------------------------------
# Chapter 2: OT between data and a latent-variable model, written over encoders (Theorem 1)
# ---------------------------------------------------------------------------------------------


class Pushforward(NamedTuple):
    """A discrete law with merged atoms (Chapter 2): ``atoms`` (k, d), ``weights`` (k,), and
    ``index``, which sends each input atom (latent atom, or (latent atom, noise atom) pair) to
    the row of ``atoms`` it landed on."""

    atoms: np.ndarray
    weights: np.ndarray
    index: np.ndarray


class Encoder(NamedTuple):
    """An encoder recovered from a plan (Chapter 2): ``Q`` (n, m) with rows Q(Z = z_j | X = x_i)
    summing to one, and its aggregated posterior ``q_z`` = a @ Q, the law Q_Z of eq. (2.3)."""

    Q: np.ndarray
    q_z: np.ndarray


def _merge(atoms: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Exact merge of identical rows (adding 0.0 turns -0.0 into 0.0 so that both merge).
    uniq, inverse = np.unique(atoms + 0.0, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    merged = np.bincount(inverse, weights=weights, minlength=uniq.shape[0])
    return uniq, merged, inverse


def _decode(z, G, gz, m: int) -> np.ndarray:
    """The decoded latent atoms G(z_j) as an (m, d_x) float64 array (G a callable, or gz given)."""
    if (G is None) == (gz is None):
        raise ValueError("give exactly one of G (a callable decoder) and gz (the decoded atoms G(z_j))")
    if G is not None:
        if not callable(G):
            raise TypeError(f"G must be a callable mapping an (m, d_z) array to (m, d_x), got {type(G).__name__}")
        if isinstance(z, torch.Tensor):
            with torch.no_grad():
                out = G(z)
        else:
            out = G(z)
        if isinstance(out, torch.Tensor):
            out = out.detach()
        try:
            out = _checks.to_numpy64(out, "G(z)", ndim=(1, 2))
        except TypeError:
            raise TypeError(f"G must return a NumPy array or a torch tensor, got {type(out).__name__}") from None
        if out.ndim == 1:
            out = out[:, None]
        if out.shape[0] != m:
            raise ValueError(f"G must map the {m} latent atoms to {m} points (an ({m}, d_x) array), "
                             f"got shape {out.shape}")
        return out
    gz = _checks.points(gz, "gz")
    if gz.shape[0] != m:
        raise ValueError(f"gz must hold one decoded point per latent atom ({m}), got shape {gz.shape}")
    return gz


def _latent(z, p_z):
    """Validated latent atoms (m, d_z) and weights, and what the decoder G is called on: the tensor
    itself (its dtype and device, 2-D) when z is a tensor, else the float64 NumPy array."""
    z_np = _checks.points(z, "z")
    m = z_np.shape[0]
    p_z = _checks.weights(p_z, m, "p_z")
    if isinstance(z, torch.Tensor):
        z_call = z.detach().reshape(m, -1)
    else:
        z_call = z_np
    return z_np, z_call, p_z


def pushforward(z, p_z=None, G=None, gz=None) -> Pushforward:
    """The model law P_G = G#P_Z of a deterministic decoder, with merged atoms (Chapter 2, eq. (2.1)).

    P_Z = sum_j p_z[j] δ_{z_j} on latent atoms ``z`` (m, d_z) (``p_z=None``: uniform);
    the decoder is ``G``, a callable mapping the (m, d_z) atoms (a NumPy float64 array, or
    the tensor ``z`` itself, under ``torch.no_grad()``, when ``z`` is a tensor: a torch
    decoder runs in its own dtype and device) to an (m, d_x) array or tensor, or the decoded
    atoms ``gz`` (m, d_x) given directly. Latent atoms with identical images are merged
    exactly (identical float64 rows), so a non-injective G gives fewer atoms:
    G#P_Z = sum_k (sum_{j: G(z_j) = y_k} p_z[j]) δ_{y_k}. Returns ``Pushforward(atoms,
    weights, index)`` with ``atoms[index[j]] == G(z_j)``.
    """
    z_np, z_call, p_z = _latent(z, p_z)
    gz = _decode(z_call, G, gz, z_np.shape[0])
    return Pushforward(*_merge(gz, p_z))


def encoder_ot(x, a, z, p_z, G=None, gz=None, metric: str = "sqeuclidean") -> OTResult:
    """OT between data and a deterministic latent-variable model in encoder form (Chapter 2,
    Result A / Theorem 1, eq. (2.2)).

    Solves inf over couplings P of (P_X, P_Z) of E_P c(X, G(Z)): the exact LP over (n, m)
    plans with marginals ``a`` (data weights, ``None``: uniform) and ``p_z`` (prior
    weights, ``None``: uniform) and cost M_ij = c(x_i, G(z_j)), ``metric`` as in
    :func:`cost_matrix`. ``x`` is (n, d_x); ``z`` (m, d_z); the decoder is ``G`` (callable)
    or the decoded atoms ``gz`` (m, d_x), as in :func:`pushforward`. By Theorem 1 the cost
    equals W_c(P_X, G#P_Z) for any G, injective or not; the plan, row-normalized by
    :func:`encoder_from_plan`, is an optimal encoder Q(Z|X) with Q_Z = P_Z. The decoded
    atoms are returned in ``info["gz"]``.
    """
    x = _checks.points(x, "x")
    a = _checks.weights(a, x.shape[0], "a")
    z_np, z_call, p_z = _latent(z, p_z)
    _checks.same_mass(a, p_z, names=("a", "p_z"))
    gz = _decode(z_call, G, gz, z_np.shape[0])
    if gz.shape[1] != x.shape[1]:
        raise ValueError(f"the decoded atoms G(z) have dimension {gz.shape[1]} but x has dimension {x.shape[1]}")
    res = exact_ot(a, p_z, cost_matrix(x, gz, metric))
    res.info["gz"] = gz
    return res


def _mixture(y_atoms, y_weights, p_z):
    y = _checks.to_numpy64(y_atoms, "y_atoms", ndim=3)
    m, k, _ = y.shape
    if m == 0 or k == 0:
        raise ValueError(f"y_atoms must have shape (m, K, d_x) with m, K >= 1, got {y.shape}")
    if y_weights is None:
        w = np.full((m, k), 1.0 / k)
    else:
        w = _checks.to_numpy64(y_weights, "y_weights", ndim=(1, 2))
        if w.ndim == 1:
            w = np.broadcast_to(w, (m, w.shape[0]))
        if w.shape != (m, k):
            raise ValueError(f"y_weights must have shape ({m}, {k}) or ({k},) to match y_atoms {y.shape}, got {w.shape}")
        if np.any(w < 0):
            raise ValueError(f"y_weights must be non-negative, got min {w.min():.3g}")
        err = np.abs(w.sum(1) - 1.0).max()
        if err > 1e-9:
            raise ValueError(f"y_weights must sum to 1 for every latent atom (P_G(Y|Z=z_j) is a probability); "
                             f"the worst row is off by {err:.3g}")
    p_z = _checks.weights(p_z, m, "p_z")
    return y, np.ascontiguousarray(w), p_z


def mixture_law(y_atoms, y_weights=None, p_z=None) -> Pushforward:
    """The model law P_G of a random decoder given as a finite mixture per latent atom (Chapter 2,
    Result B, eq. (2.4)).

    P_G(Y | Z = z_j) = sum_k y_weights[j, k] δ_{y_atoms[j, k]}, with ``y_atoms`` (m, K, d_x)
    and ``y_weights`` (m, K), or (K,) shared by all atoms, or ``None`` (uniform); each row sums
    to one. Returns P_G = sum_j p_z[j] P_G(Y|Z=z_j) with identical atoms merged exactly, as
    ``Pushforward(atoms, weights, index)`` where ``index`` is (m, K).
    """
    y, w, p_z = _mixture(y_atoms, y_weights, p_z)
    m, k, d = y.shape
    atoms, weights, inverse = _merge(y.reshape(m * k, d), (p_z[:, None] * w).reshape(-1))
    return Pushforward(atoms, weights, inverse.reshape(m, k))


def random_decoder_ot(x, a, y_atoms, y_weights=None, p_z=None, metric: str = "sqeuclidean") -> OTResult:
    """The random-decoder cost W_c† in encoder form (Chapter 2, Result B, eq. (2.5)).

    W_c†(P_X, P_G) = inf over couplings P of (P_X, P_Z) of E_P E_{Y ~ P_G(Y|Z)} c(X, Y):
    the exact LP over (n, m) plans with marginals ``a`` and ``p_z`` and the expected cost
    M_ij = sum_k y_weights[j, k] c(x_i, y_atoms[j, k]). The decoder is a finite mixture per
    latent atom, as in :func:`mixture_law`. W_c ≤ W_c† always, with equality for Dirac
    decoders (K = 1: then this is :func:`encoder_ot`); for the squared cost and zero-mean
    noise of total variance sum_i σ_i², W_c† = sum_i σ_i² + W_2²(P_X, G#P_Z) (Result C, eq. (2.6)).
    The plan is over (X, Z), so :func:`encoder_from_plan` gives the optimal encoder.
    """
    x = _checks.points(x, "x")
    a = _checks.weights(a, x.shape[0], "a")
    y, w, p_z = _mixture(y_atoms, y_weights, p_z)
    _checks.same_mass(a, p_z, names=("a", "p_z"))
    m, k, d = y.shape
    if d != x.shape[1]:
        raise ValueError(f"y_atoms have dimension {d} but x has dimension {x.shape[1]}")
    C = cost_matrix(x, y.reshape(m * k, d), metric).reshape(x.shape[0], m, k)
    M = np.einsum("ijk,jk->ij", C, w)
    res = exact_ot(a, p_z, M)
    res.info.update(y_atoms=y, y_weights=w)
    return res


def encoder_from_plan(plan, a=None, tol: float = 1e-9) -> Encoder:
    """The encoder Q(Z|X) of a coupling of (P_X, P_Z), and its aggregated posterior (Chapter 2,
    Result A, eq. (2.3)).

    A coupling P factorizes as P(x_i, z_j) = a_i Q(z_j | x_i): row i of ``Q`` is row i of
    ``plan`` divided by its mass. Rows of zero mass (a_i = 0: x_i is never drawn) carry no
    information; their Q(·|x_i) is set to the plan's normalized column marginal (the prior
    P_Z), which keeps Q row-stochastic and leaves Q_Z unchanged. ``a`` (default: the plan's
    row sums) must match the row sums to ``tol`` (relative to the total mass). Returns
    ``Encoder(Q, q_z)`` with q_z = a @ Q, equal to P_Z exactly when the plan's column
    marginal is P_Z: the constraint Q_Z = P_Z of Theorem 1.
    """
    P = _checks.to_numpy64(plan, "plan", ndim=2)
    if P.shape[0] == 0 or P.shape[1] == 0:
        raise ValueError(f"plan must be a non-empty (n, m) matrix, got shape {P.shape}")
    if np.any(P < 0):
        raise ValueError(f"plan must be non-negative, got min {P.min():.3g}")
    rows = P.sum(1)
    total = rows.sum()
    if total <= 0:
        raise ValueError("plan must have positive total mass")
    if a is None:
        a = rows
    else:
        a = _checks.weights(a, P.shape[0], "a")
        err = np.abs(rows - a).max()
        if err > tol * max(1.0, total):
            raise ValueError(f"the plan's row sums must equal a (the data weights), off by {err:.3g}")
    prior = P.sum(0) / total
    Q = np.empty_like(P)
    live = rows > 0
    Q[live] = P[live] / rows[live, None]
    Q[~live] = prior
    return Encoder(Q, a @ Q)


# ---------------------------------------------------------------------------------------------
# Chapter 3: penalized optimal transport (POT) on discrete problems
# ---------------------------------------------------------------------------------------------

#: Latent penalties of :func:`penalized_ot`: ``"l1"`` is ‖q − p‖₁, ``"tv"`` the total-variation
#: distance ½‖q − p‖₁.
POT_PENALTIES = ("l1", "tv")


@dataclass
class POTResult:
    """What :func:`penalized_ot` returns (Chapter 3, eq. (3.2)).

    ``value`` is the optimum <plan, C> + lam·D(q_z, p); ``plan`` the (n, m) optimal coupling
    of the data with the latent atoms (rows sum to ``a``, columns to ``q_z``, which need not
    be ``p``); ``q_z`` the aggregated posterior Q_Z of the optimal encoder; ``transport`` the
    reconstruction term <plan, C>; ``mismatch`` the penalty D(q_z, p) without the weight
    (‖q_z − p‖₁ for ``"l1"``, half of it for ``"tv"``); ``lam`` and ``penalty`` as given.
    """

    value: float
    plan: np.ndarray
    q_z: np.ndarray
    transport: float
    mismatch: float
    lam: float
    penalty: str
    info: dict = field(default_factory=dict)


def penalized_ot(a, p, C, lam: float, penalty: str = "l1", check_tol: float = 1e-9) -> POTResult:
    """Penalized OT, the constraint Q_Z = P_Z of Theorem 1 relaxed by a penalty (Chapter 3, eq. (3.2)).

    On discrete laws P_X = sum_i a_i δ_{x_i} and P_Z = sum_j p_j δ_{z_j}, with the cost
    C_ij = c(x_i, G(z_j)) of the encoder form (Chapter 2, eq. (2.2)), solves

        D_POT(λ) = min over π ≥ 0 with rows π 1 = a of  <π, C> + λ · D(π^T 1, p),

    where q = π^T 1 is the aggregated posterior Q_Z of the encoder Q(z_j | x_i) = π_ij / a_i
    and D is ``"l1"``: ‖q − p‖₁, or ``"tv"``: ½‖q − p‖₁. With auxiliary variables t_j ≥ |q_j − p_j|
    this is the linear program min <π, C> + w·λ·Σ_j t_j (w = 1 or ½), solved by
    ``scipy.optimize.linprog(method="highs")``. Properties (verified in Chapter 3):
    D_POT(λ) ≤ W_c (any coupling of (a, p) has q = p), non-decreasing in λ, equal to
    Σ_i a_i min_j C_ij at λ = 0, and equal to W_c once λ·w ≥ (max C − min C)/2.

    ``a`` (n,) and ``p`` (m,): non-negative weights of equal total mass (``None``: uniform);
    ``C`` (n, m): finite non-negative cost; ``lam`` ≥ 0. Raises ``RuntimeError`` if HiGHS
    does not report an optimum or if the plan misses the row marginals by more than
    ``check_tol``.
    """
    from scipy import sparse
    from scipy.optimize import linprog

    C = _checks.to_numpy64(C, "C", ndim=2)
    n, m = C.shape
    if n == 0 or m == 0:
        raise ValueError(f"C must be a non-empty (n, m) cost matrix, got shape {C.shape}")
    a = _checks.weights(a, n, "a")
    p = _checks.weights(p, m, "p")
    _checks.same_mass(a, p, names=("a", "p"))
    C = _checks.cost(C, n, m, "C")
    if isinstance(lam, bool) or not isinstance(lam, (int, float, np.integer, np.floating)):
        raise TypeError(f"lam must be a number, got {type(lam).__name__}")
    lam = float(lam)
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite number >= 0, got {lam}")
    if penalty not in POT_PENALTIES:
        raise ValueError(f"penalty must be one of {POT_PENALTIES}, got {penalty!r}")
    w = 1.0 if penalty == "l1" else 0.5

    # variables: pi (n*m, row-major), then t (m)
    nv = n * m
    rows_eq = sparse.kron(sparse.eye(n), np.ones((1, m)), format="csr")          # sum_j pi_ij = a_i
    A_eq = sparse.hstack([rows_eq, sparse.csr_matrix((n, m))], format="csr")
    cols = sparse.kron(np.ones((1, n)), sparse.eye(m), format="csr")             # q_j = sum_i pi_ij
    neg_t = -sparse.eye(m, format="csr")
    A_ub = sparse.vstack([sparse.hstack([cols, neg_t]), sparse.hstack([-cols, neg_t])], format="csr")
    b_ub = np.concatenate([p, -p])                                               # ±(q − p) ≤ t
    c = np.concatenate([C.ravel(), np.full(m, w * lam)])
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=a, bounds=(0, None), method="highs")
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"the penalized OT linear program was not solved (HiGHS status {res.status}: "
                           f"{res.message})")
    plan = np.clip(res.x[:nv].reshape(n, m), 0.0, None)
    err = float(np.abs(plan.sum(1) - a).max())
    if err > check_tol * max(1.0, a.sum()):
        raise RuntimeError(f"penalized OT plan misses its row marginals by {err:.3g} (> {check_tol:g})")
    q = plan.sum(0)
    transport = float(np.sum(plan * C))
    mismatch = w * float(np.abs(q - p).sum())
    value = transport + lam * mismatch
    return POTResult(value, plan, q, transport, mismatch, lam, penalty,
                     {"a": a, "p": p, "C": C, "lp_value": float(res.fun), "row_error": err})


# ---------------------------------------------------------------------------------------------
# Chapter 6: the Kantorovich–Rubinstein dual as a linear program over 1-Lipschitz potentials,
# and optimal critics whose gradients are defined at the model's atoms
# ---------------------------------------------------------------------------------------------

_DISTANCES = ("euclidean", "cityblock", "l1")


class LipschitzDual(NamedTuple):
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


def kr_dual_lp(x, y, a=None, b=None, metric: str = "euclidean", check_tol: float = 1e-9) -> LipschitzDual:
    """W1 as a linear program over 1-Lipschitz potentials (Chapter 6, eq. (6.2), Kantorovich–Rubinstein).

    On discrete laws μ = sum_i a_i δ_{x_i} and ν = sum_j b_j δ_{y_j} (``None``: uniform; equal
    total mass), with the distance d given by ``metric`` (``"euclidean"``, or ``"cityblock"``/
    ``"l1"``; the squared Euclidean cost is not a distance and is refused), solves

        max over f: U → R of  sum_i a_i f(x_i) − sum_j b_j f(y_j)
        subject to  f(u) − f(v) ≤ d(u, v)  for all u ≠ v in U = {x_1..x_n, y_1..y_m},

    one variable per support point and one constraint per ordered pair, with f fixed to 0 at
    x_1 (the objective ignores constants), by ``scipy.optimize.linprog(method="highs")``. A
    function that is 1-Lipschitz on U extends to a 1-Lipschitz function on the whole space
    (McShane), so by Kantorovich–Rubinstein the optimum is W1(μ, ν), the value of exact OT with
    cost d (verified in Chapter 6). No transport plan enters: this is the critic's side of the
    duality, solved independently of POT. Raises ``RuntimeError`` if HiGHS reports no optimum
    or if the solution violates a constraint by more than ``check_tol`` (relative to the
    largest distance).
    """
    from scipy import sparse
    from scipy.optimize import linprog

    if metric not in _DISTANCES:
        hint = " (‖x−y‖² violates the triangle inequality: the KR dual needs a distance)" \
            if metric == "sqeuclidean" else ""
        raise ValueError(f"metric must be a distance, one of {_DISTANCES}, got {metric!r}{hint}")
    x = _checks.points(x, "x")
    y = _checks.points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got x {x.shape} and y {y.shape}")
    n, m = x.shape[0], y.shape[0]
    a = _checks.weights(a, n, "a")
    b = _checks.weights(b, m, "b")
    _checks.same_mass(a, b)
    check_tol = _checks.positive(check_tol, "check_tol")
    u = np.vstack([x, y])
    k = n + m
    D = cost_matrix(u, u, metric)
    rows, cols = np.nonzero(~np.eye(k, dtype=bool))          # every ordered pair (r, c), r ≠ c
    r = np.arange(rows.size)
    A_ub = sparse.csr_matrix((np.concatenate([np.ones(r.size), -np.ones(r.size)]),
                              (np.concatenate([r, r]), np.concatenate([rows, cols]))), shape=(r.size, k))
    c = np.concatenate([-a, b])                                # minimise −(<a, f_x> − <b, f_y>)
    bounds = [(0.0, 0.0)] + [(None, None)] * (k - 1)
    res = linprog(c, A_ub=A_ub, b_ub=D[rows, cols], bounds=bounds, method="highs",
                  options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"the Lipschitz dual linear program was not solved (HiGHS status {res.status}: "
                           f"{res.message})")
    f = res.x
    scale = max(1.0, float(D.max()))
    violation = float(np.max(f[rows] - f[cols] - D[rows, cols])) if k > 1 else 0.0
    if violation > check_tol * scale:
        raise RuntimeError(f"the Lipschitz dual solution violates f(u) − f(v) ≤ d(u, v) by {violation:.3g} "
                           f"(> {check_tol:g})")
    fu = f.copy()

    def potential(z) -> np.ndarray:
        z = _checks.points(z, "z")
        if z.shape[1] != u.shape[1]:
            raise ValueError(f"z must have dimension {u.shape[1]}, got {z.shape[1]}")
        return np.min(fu[None, :] + cost_matrix(z, u, metric), axis=1)

    value = float(a @ f[:n] - b @ f[n:])
    return LipschitzDual(value, f[:n].copy(), f[n:].copy(), potential, violation)


class KRCritic(NamedTuple):
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


def kr_critic(x, y, a=None, b=None, max_margin: bool = True, support_tol: float = 1e-12) -> KRCritic:
    """An optimal 1-Lipschitz critic for W1 whose gradient is defined at the model's atoms
    (Chapter 6, eq. (6.6)-(6.7), the dual side of the generator gradient (6.5)).

    Solves exact OT between μ = sum_i a_i δ_{x_i} (data) and ν = sum_j b_j δ_{y_j} (model) with
    the Euclidean cost, then returns the critic f(z) = max_i [u_i − ‖z − x_i‖] (a c-transform:
    1-Lipschitz, optimal). ``max_margin=False`` uses POT's dual potentials (a vertex of the dual
    polytope, which often has ties: several active data atoms at a model atom, where f has a
    kink). ``max_margin=True`` (default) solves a second linear program (HiGHS) for the optimal
    dual with the largest smallest slack t off the plan's support S:

        max t  subject to  u_i + v_j = ‖x_i − y_j‖ on S,  u_i + v_j + t ≤ ‖x_i − y_j‖ off S.

    Every feasible (u, v) is optimal (complementary slackness with the plan). t > 0 exactly
    when the optimal plan is unique (Goldman–Tucker strict complementarity); then at a model
    atom y_j that the plan sends to a single data atom, the active atom of f is that partner
    and nothing else, so ∇f(y_j) is the unit vector towards it. ``support_tol`` (relative to
    the plan's total mass) decides which entries of the plan count as its support. Raises
    ``RuntimeError`` if the second program is not solved or if its dual value misses W1 by
    more than 1e-9 (relative).
    """
    x = _checks.points(x, "x")
    y = _checks.points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got x {x.shape} and y {y.shape}")
    if not isinstance(max_margin, (bool, np.bool_)):
        raise TypeError(f"max_margin must be a bool, got {type(max_margin).__name__}")
    support_tol = _checks.positive(support_tol, "support_tol")
    M = cost_matrix(x, y, "euclidean")
    res = exact_ot(a, b, M)
    n, m = M.shape
    support = res.plan > support_tol * res.plan.sum()
    if max_margin:
        from scipy import sparse
        from scipy.optimize import linprog

        def rows_of(ii, jj, t_coef):  # one row u_i + v_j (+ t) per pair (i, j); variables (u, v, t)
            r = np.arange(ii.size)
            data = np.concatenate([np.ones(r.size), np.ones(r.size), np.full(r.size, t_coef)])
            cc = np.concatenate([ii, n + jj, np.full(r.size, n + m)])
            return sparse.csr_matrix((data, (np.concatenate([r, r, r]), cc)), shape=(r.size, n + m + 1))

        i, j = np.nonzero(support)
        io, jo = np.nonzero(~support)
        A_eq, b_eq = rows_of(i, j, 0.0), M[i, j]
        A_ub, b_ub = (rows_of(io, jo, 1.0), M[io, jo]) if io.size else (None, None)
        c = np.zeros(n + m + 1)
        c[-1] = -1.0                                              # maximise t
        top = max(1.0, float(M.max()))
        bounds = [(0.0, 0.0)] + [(None, None)] * (n + m - 1) + [(0.0, top)]
        lp = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs",
                     options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
        if lp.status != 0 or lp.x is None:
            raise RuntimeError(f"the max-margin critic program was not solved (HiGHS status {lp.status}: "
                               f"{lp.message})")
        u, v = lp.x[:n].copy(), lp.x[n:n + m].copy()
    else:
        u, v = res.u.copy(), res.v.copy()
    a_w, b_w = res.info["a"], res.info["b"]
    dual = float(a_w @ u + b_w @ v)
    if abs(dual - res.cost) > 1e-9 * max(1.0, abs(res.cost)):
        raise RuntimeError(f"the critic's dual value {dual:.12g} misses W1 = {res.cost:.12g}")
    slack = M - u[:, None] - v[None, :]
    margin = float(slack[~support].min()) if (~support).any() else float("inf")
    xs = x.copy()

    def _scores(z):
        z = _checks.points(z, "z")
        if z.shape[1] != xs.shape[1]:
            raise ValueError(f"z must have dimension {xs.shape[1]}, got {z.shape[1]}")
        return z, u[None, :] - cost_matrix(z, xs, "euclidean")

    def f(z) -> np.ndarray:
        return _scores(z)[1].max(axis=1)

    def gradient(z) -> tuple:
        z, s = _scores(z)
        order = np.argsort(-s, axis=1, kind="stable")
        best = order[:, 0]
        rows = np.arange(z.shape[0])
        gap = s[rows, best] - s[rows, order[:, 1]] if s.shape[1] > 1 else np.full(z.shape[0], np.inf)
        diff = xs[best] - z
        norm = np.linalg.norm(diff, axis=1, keepdims=True)
        if np.any(norm == 0):
            raise ValueError("f is not differentiable at a point of z that coincides with its active data atom")
        return diff / norm, gap

    return KRCritic(f, gradient, u, v, margin, res)
