"""Chapter 3: penalized optimal transport (POT) on discrete problems; Chapter 6: its dual for a
latent W1 penalty."""
from __future__ import annotations

import numpy as np

from .. import _validation as _v
from ._common import highs, renamed
from ._exact import exact_ot, problem
from ._results import POTResult

#: Latent penalties of :func:`penalized_ot`: ``"l1"`` is ‖q − b‖₁, ``"tv"`` the total-variation
#: distance ½‖q − b‖₁ (Chapter 3), ``"mmd"`` the squared MMD (q − b)ᵀK(q − b) for a latent kernel
#: matrix K (Chapter 3), ``"w1"`` the Wasserstein-1 distance W1(q, b) for a latent distance matrix
#: (Chapter 6).
POT_PENALTIES = ("l1", "tv", "mmd", "w1")


def _latent_matrix(A, m: int, name: str) -> np.ndarray:
    if A is None:
        raise ValueError(f"{name} is required: an (m, m) = ({m}, {m}) matrix over the latent atoms")
    A = _v.to_numpy64(A, name, ndim=2)
    if A.shape != (m, m):
        raise ValueError(f"{name} must have shape (m, m) = ({m}, {m}) (one row and column per latent atom "
                         f"of M), got {A.shape}")
    if not np.isfinite(A).all():
        raise ValueError(f"{name} must be finite")
    scale = max(1.0, float(np.abs(A).max()))
    if np.abs(A - A.T).max() > 1e-12 * scale:
        raise ValueError(f"{name} must be symmetric")
    return A


def _latent_cost(Dz, m: int) -> np.ndarray:
    Dz = _latent_matrix(Dz, m, "latent_cost")
    if (Dz < 0).any() or np.abs(np.diag(Dz)).max() > 0:
        raise ValueError("latent_cost must be a distance matrix: non-negative with a zero diagonal")
    return Dz


def _latent_kernel(K, m: int) -> np.ndarray:
    K = _latent_matrix(K, m, "latent_kernel")
    eig = np.linalg.eigvalsh(K)
    if eig.min() < -1e-10 * max(1.0, eig.max()):
        raise ValueError(f"latent_kernel must be positive semi-definite (smallest eigenvalue {eig.min():.3g})")
    return K


def _lp_l1(a, b, M, lam, w):
    from scipy import sparse

    n, m = M.shape
    # variables: pi (n*m, row-major), then t (m) with t_j >= |q_j - b_j|
    rows_eq = sparse.kron(sparse.eye(n), np.ones((1, m)), format="csr")          # sum_j pi_ij = a_i
    A_eq = sparse.hstack([rows_eq, sparse.csr_matrix((n, m))], format="csr")
    cols = sparse.kron(np.ones((1, n)), sparse.eye(m), format="csr")             # q_j = sum_i pi_ij
    neg_t = -sparse.eye(m, format="csr")
    A_ub = sparse.vstack([sparse.hstack([cols, neg_t]), sparse.hstack([-cols, neg_t])], format="csr")
    b_ub = np.concatenate([b, -b])                                               # ±(q − b) ≤ t
    c = np.concatenate([M.ravel(), np.full(m, w * lam)])
    res = highs(c, "penalized OT", A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=a, bounds=(0, None))
    return res.x[:n * m].reshape(n, m), {"lp_value": float(res.fun)}


def _lp_w1(a, b, M, lam, Dz):
    from scipy import sparse

    n, m = M.shape
    # variables: pi (n*m) then gamma (m*m), both row-major
    rows_pi = sparse.kron(sparse.eye(n), np.ones((1, m)))                        # pi 1 = a
    cols_pi = sparse.kron(np.ones((1, n)), sparse.eye(m))                        # q = pi^T 1
    rows_g = sparse.kron(sparse.eye(m), np.ones((1, m)))                         # gamma 1 = q
    cols_g = sparse.kron(np.ones((1, m)), sparse.eye(m))                         # gamma^T 1 = b
    A_eq = sparse.vstack([sparse.hstack([rows_pi, sparse.csr_matrix((n, m * m))]),
                          sparse.hstack([cols_pi, -rows_g]),
                          sparse.hstack([sparse.csr_matrix((m, n * m)), cols_g])], format="csr")
    b_eq = np.concatenate([a, np.zeros(m), b])
    c = np.concatenate([M.ravel(), lam * Dz.ravel()])
    res = highs(c, "penalized OT (latent W1)", A_eq=A_eq, b_eq=b_eq, bounds=(0, None))
    gamma = np.clip(res.x[n * m:].reshape(m, m), 0.0, None)
    return res.x[:n * m].reshape(n, m), {"lp_value": float(res.fun), "latent_plan": gamma}


def _fw_gap(a, b, M, lam, K, pi) -> float:
    """Frank–Wolfe certificate of a convex F: F(π) − F* ≤ <∇F(π), π> − min_π' <∇F(π), π'>, where the
    minimum over the row-constrained set puts each row's mass on its smallest entry."""
    grad = M + 2.0 * lam * (K @ (pi.sum(0) - b))[None, :]
    return float(np.sum(pi * grad) - a @ grad.min(1))


def _polish(a, b, M, lam, K, pi, rounds: int = 3):
    """Refine an approximate QP solution: on the support of π, the KKT conditions
    M_ij + 2λ(K(q − b))_j = u_i and Σ_j π_ij = a_i are linear; solve them (least squares) and keep the
    result if it is feasible and certifies a smaller gap."""
    n, m = M.shape
    for _ in range(rounds):
        S = np.argwhere(pi > 1e-12 * max(1.0, a.max()))
        s = len(S)
        P = np.zeros((m, s))
        P[S[:, 1], np.arange(s)] = 1.0                          # q = P π_S
        rows = np.zeros((n, s))
        rows[S[:, 0], np.arange(s)] = 1.0                       # row sums
        KS = K[S[:, 1]]                                         # (s, m)
        A = np.block([[2.0 * lam * KS @ P, -rows.T], [rows, np.zeros((n, n))]])
        rhs = np.concatenate([2.0 * lam * KS @ b - M[S[:, 0], S[:, 1]], a])
        sol = np.linalg.lstsq(A, rhs, rcond=None)[0]
        if sol[:s].min() < 0:
            break
        cand = np.zeros_like(pi)
        cand[S[:, 0], S[:, 1]] = sol[:s]
        if _fw_gap(a, b, M, lam, K, cand) >= _fw_gap(a, b, M, lam, K, pi):
            break
        pi = cand
    return pi


def _qp_mmd(a, b, M, lam, K, check_tol):
    """min <π, M> + λ (q − b)ᵀK(q − b) over π ≥ 0, π1 = a: SLSQP, then a certified gap."""
    from scipy.optimize import minimize

    n, m = M.shape
    scale = max(1.0, float(np.abs(M).max()))

    def objective(v):
        pi = v.reshape(n, m)
        r = pi.sum(0) - b
        return float(np.sum(pi * M) + lam * r @ K @ r) / scale

    def gradient(v):
        pi = v.reshape(n, m)
        g = 2.0 * lam * K @ (pi.sum(0) - b)
        return (M + g[None, :]).ravel() / scale

    start = np.outer(a, b / b.sum()) if b.sum() > 0 else np.outer(a, np.full(m, 1.0 / m))
    A = np.kron(np.eye(n), np.ones((1, m)))
    constraints = [{"type": "eq", "fun": lambda v: A @ v - a, "jac": lambda v: A}]
    for ftol in (1e-10, 1e-15):      # a loose solve identifies the support; polishing makes it exact
        res = minimize(objective, start.ravel(), jac=gradient, method="SLSQP", bounds=[(0.0, None)] * (n * m),
                       constraints=constraints, options={"ftol": ftol, "maxiter": 10_000})
        pi = _polish(a, b, M, lam, K, np.clip(res.x.reshape(n, m), 0.0, None))
        gap = _fw_gap(a, b, M, lam, K, pi)
        if gap <= check_tol * scale:
            break
    if gap > check_tol * scale:
        raise RuntimeError(f"the MMD-penalized OT program was not solved to {check_tol:g} "
                           f"(certified gap {gap:.3g}; SLSQP: {res.message})")
    return pi, {"gap": gap, "solver": str(res.message)}


@renamed(p="b", C="M")
def penalized_ot(a, b, M, lam: float, penalty: str = "l1", latent_cost=None, latent_kernel=None,
                 check_tol: float = 1e-9) -> POTResult:
    """Penalized OT, the constraint Q_Z = P_Z of Theorem 1 relaxed by a penalty (Chapter 3, eq. (3.2)).

    On discrete laws P_X = sum_i a_i δ_{x_i} and P_Z = sum_j b_j δ_{z_j}, with the cost
    M_ij = c(x_i, G(z_j)) of the encoder form (Chapter 2, eq. (2.2); C in the chapter), solves

        D_POT(λ) = min over π ≥ 0 with rows π 1 = a of  <π, M> + λ · D(π^T 1, b),

    where q = π^T 1 is the aggregated posterior Q_Z of the encoder Q(z_j | x_i) = π_ij / a_i and
    the latent atoms z_j may carry b_j = 0 (places where Q_Z may put mass and P_Z does not). D is

    - ``"l1"``: ‖q − b‖₁, or ``"tv"``: ½‖q − b‖₁ (Chapter 3). With ``t_j ≥ |q_j − b_j|`` a linear
      program. D_POT(λ) ≤ W_c, non-decreasing in λ, Σ_i a_i min_j M_ij at λ = 0, and equal to W_c once
      λ·w ≥ max_i (max_j M_ij − min_j M_ij)/2 (w = 1 for ``"l1"``, ½ for ``"tv"``).
    - ``"mmd"``: the squared MMD (q − b)ᵀK(q − b) for the latent kernel matrix ``latent_kernel`` K_jk =
      k(z_j, z_k) (positive semi-definite), Chapter 3's smooth penalty: a convex quadratic program,
      solved by SciPy's SLSQP and certified by the Frank–Wolfe gap
      <∇F(π), π> − Σ_i a_i min_j ∇F(π)_ij ≥ F(π) − F* (``info["gap"]``; ``RuntimeError`` above
      ``check_tol`` × max(1, max M)).
    - ``"w1"``: W1(q, b) for the latent distance matrix ``latent_cost`` (Dz_jk = d(z_j, z_k)),
      Chapter 6's penalized problem, eq. (6.8): the linear program over π and a latent plan γ ≥ 0 with
      γ1 = q, γᵀ1 = b, min <π, M> + λ<γ, Dz> (``info["latent_plan"]`` is γ). Its dual is
      :func:`penalized_dual_lp`; D_POT(λ) = W1(P_X, G#P_Z) once λ ≥ Lip(G) (Chapter 6).

    ``a`` (n,) and ``b`` (m,): non-negative weights of equal total mass (``None``: uniform);
    ``M`` (n, m): finite non-negative cost; ``lam`` ≥ 0. ``mismatch`` in the result is D(q, b)
    without the weight λ. Raises ``RuntimeError`` if the solver does not report an optimum or if
    the plan misses the row marginals by more than ``check_tol``.
    """
    a, b, M = problem(a, b, M)
    n, m = M.shape
    lam = _v.number(lam, "lam", nonnegative=True)
    penalty = _v.choice(penalty, "penalty", POT_PENALTIES)
    check_tol = _v.positive(check_tol, "check_tol")
    if penalty in ("l1", "tv") and (latent_cost is not None or latent_kernel is not None):
        raise ValueError(f"penalty={penalty!r} takes neither latent_cost nor latent_kernel")
    if penalty == "w1" and latent_kernel is not None:
        raise ValueError("penalty='w1' takes latent_cost (a distance matrix), not latent_kernel")
    if penalty == "mmd" and latent_cost is not None:
        raise ValueError("penalty='mmd' takes latent_kernel (a kernel matrix), not latent_cost")

    if penalty in ("l1", "tv"):
        w = 1.0 if penalty == "l1" else 0.5
        plan, info = _lp_l1(a, b, M, lam, w)
    elif penalty == "w1":
        Dz = _latent_cost(latent_cost, m)
        plan, info = _lp_w1(a, b, M, lam, Dz)
    else:
        K = _latent_kernel(latent_kernel, m)
        plan, info = _qp_mmd(a, b, M, lam, K, check_tol)
    plan = np.clip(plan, 0.0, None)
    err = float(np.abs(plan.sum(1) - a).max())
    if err > check_tol * max(1.0, a.sum()):
        raise RuntimeError(f"penalized OT plan misses its row marginals by {err:.3g} (> {check_tol:g})")
    q = plan.sum(0)
    transport = float(np.sum(plan * M))
    if penalty in ("l1", "tv"):
        mismatch = w * float(np.abs(q - b).sum())
    elif penalty == "w1":
        # W1(q, b) by POT; for λ > 0 the LP's latent plan γ is an optimal coupling of (q, b), so its cost
        # must agree (for λ = 0 the LP leaves γ arbitrary)
        mismatch = exact_ot(q / q.sum() * b.sum(), b, Dz).cost if q.sum() > 0 else 0.0
        if lam > 0:
            gap = abs(float(np.sum(info["latent_plan"] * Dz)) - mismatch)
            if gap > 1e-7 * max(1.0, float(Dz.max())):
                raise RuntimeError(f"the latent plan's cost differs from W1(q, b) = {mismatch:.10g} by {gap:.3g}")
    else:
        r = q - b
        mismatch = float(r @ K @ r)
    info.update({"a": a, "b": b, "M": M, "row_error": err})
    return POTResult(transport + lam * mismatch, plan, q, transport, mismatch, lam, penalty, info)


def penalized_dual_lp(a, b, M, latent_cost, lam: float, check_tol: float = 1e-9):
    """The dual of penalized OT with a latent W1 penalty: a λ-Lipschitz critic on the latent space
    (Chapter 6, eq. (6.10), a derivation of the book).

    With M_ij = d(x_i, G(z_j)) over m latent atoms, Dz = ``latent_cost`` their distances and b the
    prior's weights on them, solves

        max over h: {z_1..z_m} → R  of  Σ_i a_i min_k (M_ik + h_k) − Σ_l b_l h_l
        subject to  h_k − h_l ≤ λ Dz_kl  for all k ≠ l,

    as a linear program in (h, s) with s_i ≤ M_ik + h_k (``scipy.optimize.linprog(method="highs")``,
    h_1 fixed to 0: the objective ignores constants). By LP duality its value equals
    :func:`penalized_ot` with ``penalty="w1"`` at the same λ (verified in Chapter 6). Returns a
    :class:`PenalizedDual`: ``value``, ``h`` (m,), ``s`` (n,) = min_k (M_ik + h_k), and
    ``max_violation`` = max over k ≠ l of h_k − h_l − λ Dz_kl (≤ 0 up to round-off).
    Raises ``RuntimeError`` if HiGHS reports no optimum or a constraint is violated by more than
    ``check_tol`` (relative to the largest cost).
    """
    from scipy import sparse

    from ._common import TIGHT
    from ._results import PenalizedDual

    a, b, M = problem(a, b, M)
    n, m = M.shape
    Dz = _latent_cost(latent_cost, m)
    lam = _v.number(lam, "lam", nonnegative=True)
    check_tol = _v.positive(check_tol, "check_tol")
    # variables: s (n), then h (m); minimise −(a·s − b·h)
    ii, kk = np.divmod(np.arange(n * m), m)
    r = np.arange(n * m)
    A1 = sparse.csr_matrix((np.concatenate([np.ones(n * m), -np.ones(n * m)]),
                            (np.concatenate([r, r]), np.concatenate([ii, n + kk]))), shape=(n * m, n + m))
    rows, cols = np.nonzero(~np.eye(m, dtype=bool))
    q = np.arange(rows.size)
    A2 = sparse.csr_matrix((np.concatenate([np.ones(q.size), -np.ones(q.size)]),
                            (np.concatenate([q, q]), np.concatenate([n + rows, n + cols]))), shape=(q.size, n + m))
    A_ub = sparse.vstack([A1, A2], format="csr")
    b_ub = np.concatenate([M.ravel(), lam * Dz[rows, cols]])
    c = np.concatenate([-a, b])
    bounds = [(None, None)] * n + [(0.0, 0.0)] + [(None, None)] * (m - 1)
    x = highs(c, "penalized dual", A_ub=A_ub, b_ub=b_ub, bounds=bounds, options=TIGHT).x
    h = x[n:].copy()
    s = np.min(M + h[None, :], axis=1)                     # the best s given h (≥ the LP's s)
    scale = max(1.0, float(M.max()), lam * float(Dz.max()))
    violation = float(np.max(h[rows] - h[cols] - lam * Dz[rows, cols])) if m > 1 else 0.0
    if violation > check_tol * scale:
        raise RuntimeError(f"the penalized dual solution violates h_k − h_l ≤ λ d(z_k, z_l) by {violation:.3g} "
                           f"(> {check_tol:g})")
    return PenalizedDual(float(a @ s - b @ h), h, s, violation, lam)
