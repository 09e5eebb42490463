"""Chapter 6: the Kantorovich–Rubinstein dual as a linear program over 1-Lipschitz potentials,
and optimal critics whose gradients are defined at the model's atoms."""
from __future__ import annotations

import numpy as np
from scipy import sparse

from .. import _validation as _v
from ..costs import check_cost, cost_matrix
from ._common import TIGHT, highs, pair, probe, renamed
from ._exact import exact_ot
from ._results import KRCritic, LipschitzDual

#: The costs that are distances (the KR dual needs the triangle inequality).
DISTANCES = ("euclidean", "l1")


def _distance(cost) -> str:
    cost = check_cost(cost)
    if cost not in DISTANCES:
        raise ValueError(f"cost must be a distance, one of {DISTANCES} ('cityblock' = 'l1'), got {cost!r} "
                         f"(‖x−y‖² violates the triangle inequality: the KR dual needs a distance)")
    return cost


@renamed(metric="cost")
def kr_dual_lp(x, y, a=None, b=None, cost: str = "euclidean", check_tol: float = 1e-9) -> LipschitzDual:
    """W1 as a linear program over 1-Lipschitz potentials (Chapter 6, eq. (6.2), Kantorovich–Rubinstein).

    On discrete laws μ = sum_i a_i δ_{x_i} and ν = sum_j b_j δ_{y_j} (``None``: uniform; equal
    total mass), with the distance d given by ``cost`` (``"euclidean"``, or ``"l1"``/
    ``"cityblock"``; the squared Euclidean cost is not a distance and is refused), solves

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
    cost = _distance(cost)
    x, y = pair(x, y)
    n, m = x.shape[0], y.shape[0]
    a = _v.weights(a, n, "a")
    b = _v.weights(b, m, "b")
    _v.same_mass(a, b)
    check_tol = _v.positive(check_tol, "check_tol")
    u = np.vstack([x, y])
    k = n + m
    D = cost_matrix(u, u, cost)
    rows, cols = np.nonzero(~np.eye(k, dtype=bool))          # every ordered pair (r, c), r ≠ c
    r = np.arange(rows.size)
    A_ub = sparse.csr_matrix((np.concatenate([np.ones(r.size), -np.ones(r.size)]),
                              (np.concatenate([r, r]), np.concatenate([rows, cols]))), shape=(r.size, k))
    c = np.concatenate([-a, b])                                # minimise −(<a, f_x> − <b, f_y>)
    bounds = [(0.0, 0.0)] + [(None, None)] * (k - 1)
    f = highs(c, "Lipschitz dual", A_ub=A_ub, b_ub=D[rows, cols], bounds=bounds, options=TIGHT).x
    scale = max(1.0, float(D.max()))
    violation = float(np.max(f[rows] - f[cols] - D[rows, cols])) if k > 1 else 0.0
    if violation > check_tol * scale:
        raise RuntimeError(f"the Lipschitz dual solution violates f(u) − f(v) ≤ d(u, v) by {violation:.3g} "
                           f"(> {check_tol:g})")
    fu = f.copy()

    def potential(z) -> np.ndarray:
        return np.min(fu[None, :] + cost_matrix(probe(z, u.shape[1]), u, cost), axis=1)

    return LipschitzDual(float(a @ f[:n] - b @ f[n:]), f[:n].copy(), f[n:].copy(), potential, violation)


def _max_margin_duals(M: np.ndarray, support: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The optimal dual (u, v) with the largest smallest slack t off the plan's support (HiGHS)."""
    n, m = M.shape

    def rows_of(ii, jj, t_coef):  # one row u_i + v_j (+ t) per pair (i, j); variables (u, v, t)
        r = np.arange(ii.size)
        data = np.concatenate([np.ones(r.size), np.ones(r.size), np.full(r.size, t_coef)])
        cc = np.concatenate([ii, n + jj, np.full(r.size, n + m)])
        return sparse.csr_matrix((data, (np.concatenate([r, r, r]), cc)), shape=(r.size, n + m + 1))

    i, j = np.nonzero(support)
    io, jo = np.nonzero(~support)
    A_ub, b_ub = (rows_of(io, jo, 1.0), M[io, jo]) if io.size else (None, None)
    c = np.zeros(n + m + 1)
    c[-1] = -1.0                                              # maximise t
    bounds = [(0.0, 0.0)] + [(None, None)] * (n + m - 1) + [(0.0, max(1.0, float(M.max())))]
    sol = highs(c, "max-margin critic", A_ub=A_ub, b_ub=b_ub, A_eq=rows_of(i, j, 0.0), b_eq=M[i, j],
                bounds=bounds, options=TIGHT).x
    return sol[:n].copy(), sol[n:n + m].copy()


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
    x, y = pair(x, y)
    max_margin = _v.boolean(max_margin, "max_margin")
    support_tol = _v.positive(support_tol, "support_tol")
    M = cost_matrix(x, y, "euclidean")
    res = exact_ot(a, b, M)
    support = res.plan > support_tol * res.plan.sum()
    u, v = _max_margin_duals(M, support) if max_margin else (res.u.copy(), res.v.copy())
    dual = float(res.info["a"] @ u + res.info["b"] @ v)
    if abs(dual - res.cost) > 1e-9 * max(1.0, abs(res.cost)):
        raise RuntimeError(f"the critic's dual value {dual:.12g} misses W1 = {res.cost:.12g}")
    slack = M - u[:, None] - v[None, :]
    margin = float(slack[~support].min()) if (~support).any() else float("inf")
    xs = x.copy()

    def _scores(z):
        z = probe(z, xs.shape[1])
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
