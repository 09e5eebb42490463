"""Chapter 3: penalized optimal transport (POT) on discrete problems."""
from __future__ import annotations

import numpy as np

from .. import _validation as _v
from ._common import highs, renamed
from ._exact import problem
from ._results import POTResult

#: Latent penalties of :func:`penalized_ot`: ``"l1"`` is ‖q − b‖₁, ``"tv"`` the total-variation
#: distance ½‖q − b‖₁.
POT_PENALTIES = ("l1", "tv")


@renamed(p="b", C="M")
def penalized_ot(a, b, M, lam: float, penalty: str = "l1", check_tol: float = 1e-9) -> POTResult:
    """Penalized OT, the constraint Q_Z = P_Z of Theorem 1 relaxed by a penalty (Chapter 3, eq. (3.2)).

    On discrete laws P_X = sum_i a_i δ_{x_i} and P_Z = sum_j b_j δ_{z_j}, with the cost
    M_ij = c(x_i, G(z_j)) of the encoder form (Chapter 2, eq. (2.2); C in the chapter), solves

        D_POT(λ) = min over π ≥ 0 with rows π 1 = a of  <π, M> + λ · D(π^T 1, b),

    where q = π^T 1 is the aggregated posterior Q_Z of the encoder Q(z_j | x_i) = π_ij / a_i
    and D is ``"l1"``: ‖q − b‖₁, or ``"tv"``: ½‖q − b‖₁. With auxiliary variables
    ``t_j ≥ |q_j − b_j|`` this is the linear program min <π, M> + w·λ·Σ_j t_j (w = 1 or ½), solved by
    ``scipy.optimize.linprog(method="highs")``. Properties (verified in Chapter 3):
    D_POT(λ) ≤ W_c (any coupling of (a, b) has q = b), non-decreasing in λ, equal to
    Σ_i a_i min_j M_ij at λ = 0, and equal to W_c once λ·w ≥ (max M − min M)/2.

    ``a`` (n,) and ``b`` (m,): non-negative weights of equal total mass (``None``: uniform);
    ``M`` (n, m): finite non-negative cost; ``lam`` ≥ 0. Raises ``RuntimeError`` if HiGHS
    does not report an optimum or if the plan misses the row marginals by more than
    ``check_tol``.
    """
    from scipy import sparse

    a, b, M = problem(a, b, M)
    n, m = M.shape
    lam = _v.number(lam, "lam", nonnegative=True)
    penalty = _v.choice(penalty, "penalty", POT_PENALTIES)
    check_tol = _v.positive(check_tol, "check_tol")
    w = 1.0 if penalty == "l1" else 0.5

    # variables: pi (n*m, row-major), then t (m)
    nv = n * m
    rows_eq = sparse.kron(sparse.eye(n), np.ones((1, m)), format="csr")          # sum_j pi_ij = a_i
    A_eq = sparse.hstack([rows_eq, sparse.csr_matrix((n, m))], format="csr")
    cols = sparse.kron(np.ones((1, n)), sparse.eye(m), format="csr")             # q_j = sum_i pi_ij
    neg_t = -sparse.eye(m, format="csr")
    A_ub = sparse.vstack([sparse.hstack([cols, neg_t]), sparse.hstack([-cols, neg_t])], format="csr")
    b_ub = np.concatenate([b, -b])                                               # ±(q − b) ≤ t
    c = np.concatenate([M.ravel(), np.full(m, w * lam)])
    res = highs(c, "penalized OT", A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=a, bounds=(0, None))
    plan = np.clip(res.x[:nv].reshape(n, m), 0.0, None)
    err = float(np.abs(plan.sum(1) - a).max())
    if err > check_tol * max(1.0, a.sum()):
        raise RuntimeError(f"penalized OT plan misses its row marginals by {err:.3g} (> {check_tol:g})")
    q = plan.sum(0)
    transport = float(np.sum(plan * M))
    mismatch = w * float(np.abs(q - b).sum())
    return POTResult(transport + lam * mismatch, plan, q, transport, mismatch, lam, penalty,
                     {"a": a, "b": b, "M": M, "lp_value": float(res.fun), "row_error": err})
