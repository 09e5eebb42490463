"""Chapter 2: OT between data and a latent-variable model, written over encoders (Theorem 1)."""
from __future__ import annotations

import numpy as np
import torch

from .. import _validation as _v
from ..costs import check_cost, cost_matrix
from ._common import renamed
from ._exact import exact_ot
from ._results import OTResult, PlanEncoder, Pushforward


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
            out = _v.to_numpy64(out, "G(z)", ndim=(1, 2))
        except TypeError:
            raise TypeError(f"G must return a NumPy array or a torch tensor, got {type(out).__name__}") from None
        if out.ndim == 1:
            out = out[:, None]
        if out.shape[0] != m:
            raise ValueError(f"G must map the {m} latent atoms to {m} points (an ({m}, d_x) array), "
                             f"got shape {out.shape}")
        return out
    gz = _v.points(gz, "gz")
    if gz.shape[0] != m:
        raise ValueError(f"gz must hold one decoded point per latent atom ({m}), got shape {gz.shape}")
    return gz


def _latent(z, b):
    """Validated latent atoms (m, d_z) and weights, and what the decoder G is called on: the tensor
    itself (its dtype and device, 2-D) when z is a tensor, else the float64 NumPy array."""
    z_np = _v.points(z, "z")
    m = z_np.shape[0]
    b = _v.weights(b, m, "b")
    z_call = z.detach().reshape(m, -1) if isinstance(z, torch.Tensor) else z_np
    return z_np, z_call, b


@renamed(p_z="b")
def pushforward(z, b=None, *, G=None, gz=None) -> Pushforward:
    """The model law P_G = G#P_Z of a deterministic decoder, with merged atoms (Chapter 2, eq. (2.1)).

    P_Z = sum_j b[j] δ_{z_j} on latent atoms ``z`` (m, d_z) (``b=None``: uniform); the decoder
    is ``G``, a callable mapping the (m, d_z) atoms (a NumPy float64 array, or the tensor ``z``
    itself, under ``torch.no_grad()``, when ``z`` is a tensor: a torch decoder runs in its own
    dtype and device) to an (m, d_x) array or tensor, or the decoded atoms ``gz`` (m, d_x)
    given directly. Latent atoms with identical images are merged exactly (identical float64
    rows), so a non-injective G gives fewer atoms: G#P_Z = sum_k (sum_{j: G(z_j) = y_k} b[j])
    δ_{y_k}. Returns ``Pushforward(atoms, weights, index)`` with ``atoms[index[j]] == G(z_j)``.
    """
    z_np, z_call, b = _latent(z, b)
    gz = _decode(z_call, G, gz, z_np.shape[0])
    return Pushforward(*_merge(gz, b))


@renamed(p_z="b", metric="cost")
def encoder_ot(x, z, a=None, b=None, *, G=None, gz=None, cost: str = "sqeuclidean") -> OTResult:
    """OT between data and a deterministic latent-variable model in encoder form (Chapter 2,
    Result A / Theorem 1, eq. (2.2)).

    Solves inf over couplings P of (P_X, P_Z) of E_P c(X, G(Z)): the exact LP over (n, m)
    plans with marginals ``a`` (data weights, ``None``: uniform) and ``b`` (prior weights,
    ``None``: uniform) and cost M_ij = c(x_i, G(z_j)), ``cost`` a name of
    :mod:`vegan_lib.costs`. ``x`` is (n, d_x); ``z`` (m, d_z); the decoder is ``G``
    (callable) or the decoded atoms ``gz`` (m, d_x), as in :func:`pushforward`. By Theorem 1
    the cost equals W_c(P_X, G#P_Z) for any G, injective or not; the plan, row-normalized by
    :func:`encoder_from_plan`, is an optimal encoder Q(Z|X) with Q_Z = P_Z. The decoded atoms
    are returned in ``info["gz"]``.
    """
    cost = check_cost(cost)
    x = _v.points(x, "x")
    a = _v.weights(a, x.shape[0], "a")
    z_np, z_call, b = _latent(z, b)
    _v.same_mass(a, b)
    gz = _decode(z_call, G, gz, z_np.shape[0])
    if gz.shape[1] != x.shape[1]:
        raise ValueError(f"the decoded atoms G(z) have dimension {gz.shape[1]} but x has dimension {x.shape[1]}")
    res = exact_ot(a, b, cost_matrix(x, gz, cost))
    res.info["gz"] = gz
    return res


def _mixture(y_atoms, y_weights, b):
    y = _v.to_numpy64(y_atoms, "y_atoms", ndim=3)
    m, k, _ = y.shape
    if m == 0 or k == 0:
        raise ValueError(f"y_atoms must have shape (m, K, d_x) with m, K >= 1, got {y.shape}")
    if y_weights is None:
        w = np.full((m, k), 1.0 / k)
    else:
        w = _v.to_numpy64(y_weights, "y_weights", ndim=(1, 2))
        if w.ndim == 1:
            w = np.broadcast_to(w, (m, w.shape[0]))
        if w.shape != (m, k):
            raise ValueError(f"y_weights must have shape ({m}, {k}) or ({k},) to match y_atoms {y.shape}, "
                             f"got {w.shape}")
        if np.any(w < 0):
            raise ValueError(f"y_weights must be non-negative, got min {w.min():.3g}")
        err = np.abs(w.sum(1) - 1.0).max()
        if err > 1e-9:
            raise ValueError(f"y_weights must sum to 1 for every latent atom (P_G(Y|Z=z_j) is a probability); "
                             f"the worst row is off by {err:.3g}")
    b = _v.weights(b, m, "b")
    return y, np.ascontiguousarray(w), b


@renamed(p_z="b")
def mixture_law(y_atoms, y_weights=None, b=None) -> Pushforward:
    """The model law P_G of a random decoder given as a finite mixture per latent atom (Chapter 2,
    Result B, eq. (2.4)).

    P_G(Y | Z = z_j) = sum_k y_weights[j, k] δ_{y_atoms[j, k]}, with ``y_atoms`` (m, K, d_x)
    and ``y_weights`` (m, K), or (K,) shared by all atoms, or ``None`` (uniform); each row sums
    to one. Returns P_G = sum_j b[j] P_G(Y|Z=z_j) (``b``: the prior weights, ``None``:
    uniform) with identical atoms merged exactly, as ``Pushforward(atoms, weights, index)``
    where ``index`` is (m, K).
    """
    y, w, b = _mixture(y_atoms, y_weights, b)
    m, k, d = y.shape
    atoms, weights, inverse = _merge(y.reshape(m * k, d), (b[:, None] * w).reshape(-1))
    return Pushforward(atoms, weights, inverse.reshape(m, k))


@renamed(p_z="b", metric="cost")
def random_decoder_ot(x, y_atoms, a=None, b=None, *, y_weights=None, cost: str = "sqeuclidean") -> OTResult:
    """The random-decoder cost W_c† in encoder form (Chapter 2, Result B, eq. (2.5)).

    W_c†(P_X, P_G) = inf over couplings P of (P_X, P_Z) of E_P E_{Y ~ P_G(Y|Z)} c(X, Y):
    the exact LP over (n, m) plans with marginals ``a`` (data) and ``b`` (prior) and the
    expected cost M_ij = sum_k y_weights[j, k] c(x_i, y_atoms[j, k]). The decoder is a finite
    mixture per latent atom, as in :func:`mixture_law`. W_c ≤ W_c† always, with equality for
    Dirac decoders (K = 1: then this is :func:`encoder_ot`); for the squared cost and
    zero-mean noise of total variance sum_i σ_i², W_c† = sum_i σ_i² + W_2²(P_X, G#P_Z)
    (Result C, eq. (2.6)). The plan is over (X, Z), so :func:`encoder_from_plan` gives the
    optimal encoder.
    """
    cost = check_cost(cost)
    x = _v.points(x, "x")
    a = _v.weights(a, x.shape[0], "a")
    y, w, b = _mixture(y_atoms, y_weights, b)
    _v.same_mass(a, b)
    m, k, d = y.shape
    if d != x.shape[1]:
        raise ValueError(f"y_atoms have dimension {d} but x has dimension {x.shape[1]}")
    C = cost_matrix(x, y.reshape(m * k, d), cost).reshape(x.shape[0], m, k)
    res = exact_ot(a, b, np.einsum("ijk,jk->ij", C, w))
    res.info.update(y_atoms=y, y_weights=w)
    return res


def encoder_from_plan(plan, a=None, tol: float = 1e-9) -> PlanEncoder:
    """The encoder Q(Z|X) of a coupling of (P_X, P_Z), and its aggregated posterior (Chapter 2,
    Result A, eq. (2.3)).

    A coupling P factorizes as P(x_i, z_j) = a_i Q(z_j | x_i): row i of ``Q`` is row i of
    ``plan`` divided by its mass. Rows of zero mass (a_i = 0: x_i is never drawn) carry no
    information; their ``Q(·|x_i)`` is set to the plan's normalized column marginal (the prior
    P_Z), which keeps Q row-stochastic and leaves Q_Z unchanged. ``a`` (default: the plan's
    row sums) must match the row sums to ``tol`` (relative to the total mass). Returns
    ``PlanEncoder(Q, q_z)`` with q_z = a @ Q, equal to P_Z exactly when the plan's column
    marginal is P_Z: the constraint Q_Z = P_Z of Theorem 1.
    """
    P = _v.to_numpy64(plan, "plan", ndim=2)
    tol = _v.positive(tol, "tol")
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
        a = _v.weights(a, P.shape[0], "a")
        err = np.abs(rows - a).max()
        if err > tol * max(1.0, total):
            raise ValueError(f"the plan's row sums must equal a (the data weights), off by {err:.3g}")
    Q = np.empty_like(P)
    live = rows > 0
    Q[live] = P[live] / rows[live, None]
    Q[~live] = P.sum(0) / total
    return PlanEncoder(Q, a @ Q)
