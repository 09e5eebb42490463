"""Chapter 6: the Kantorovich–Rubinstein dual as an LP over 1-Lipschitz potentials
(vl.ot.kr_dual_lp) and optimal critics with defined gradients (vl.ot.kr_critic); the deprecated
keyword metric=, and every error case (TypeError for a type, ValueError for a value)."""
import numpy as np
import pytest

import vegan_lib as vl


def _random_instance(rng, n, m, d=2):
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(m, d)) * 0.7 + 1.0
    return x, y, rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m))


# ----------------------------------------------------------------------------- kr_dual_lp

def test_hand_solved_line():
    # mass 1/2 at 0 and 2 both travel a distance 1 to the atom at 1
    res = vl.ot.kr_dual_lp([0.0, 2.0], [1.0])
    assert res.value == pytest.approx(1.0, abs=1e-12)
    assert res.f_x[0] == 0.0  # f is pinned to 0 at x_1
    assert res.f_x[0] - res.f_y[0] == pytest.approx(1.0, abs=1e-12)
    assert res.f_x[1] - res.f_y[0] == pytest.approx(1.0, abs=1e-12)


def test_hand_solved_weighted():
    # delta_0 against 1/4 delta_1 + 3/4 delta_3: W1 = 1/4 + 9/4, and the optimal f is unique on
    # the support: f(1) = -1, f(3) = -3 (slope 1 away from the source)
    res = vl.ot.kr_dual_lp([0.0], [1.0, 3.0], [1.0], [0.25, 0.75])
    assert res.value == pytest.approx(2.5, abs=1e-12)
    assert np.allclose(res.f_y, [-1.0, -3.0], atol=1e-12)
    # the extension is 1-Lipschitz and agrees with f on the support
    assert np.allclose(res.potential([0.0, 1.0, 3.0]), [0.0, -1.0, -3.0], atol=1e-12)
    assert res.potential([10.0])[0] == pytest.approx(-3.0 + 7.0)  # min_k f(u_k) + |10 - u_k|


def test_hand_solved_plane():
    res = vl.ot.kr_dual_lp(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]))
    assert res.value == pytest.approx(5.0, abs=1e-12)


@pytest.mark.parametrize("cost", ["euclidean", "l1", "cityblock"])
def test_equals_primal_on_random_instances(cost):
    rng = np.random.default_rng(0)
    for _ in range(15):
        n, m = rng.integers(1, 25, size=2)
        x, y, a, b = _random_instance(rng, n, m)
        primal = vl.ot.exact_ot(a, b, vl.ot.cost_matrix(x, y, cost)).cost
        res = vl.ot.kr_dual_lp(x, y, a, b, cost=cost)
        assert abs(res.value - primal) < 1e-8, (res.value, primal)
        assert res.max_violation < 1e-9
        # the extension is 1-Lipschitz on random probes and equal to f on the support
        probe = np.vstack([x, y, rng.normal(size=(50, 2)) * 3])
        fp = res.potential(probe)
        D = vl.ot.cost_matrix(probe, probe, cost)
        assert np.max(fp[:, None] - fp[None, :] - D) < 1e-9
        assert np.allclose(fp[:n], res.f_x, atol=1e-9) and np.allclose(fp[n:n + m], res.f_y, atol=1e-9)


def test_shared_points_and_unnormalized_mass():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 2))
    y = np.vstack([x[:3], rng.normal(size=(4, 2))])  # three atoms on both sides
    a, b = np.full(6, 2.0 / 6), np.full(7, 2.0 / 7)   # total mass 2 on both sides
    res = vl.ot.kr_dual_lp(x, y, a, b)
    primal = vl.ot.exact_ot(a, b, vl.ot.cost_matrix(x, y, "euclidean")).cost
    assert abs(res.value - primal) < 1e-8
    assert np.allclose(res.f_x[:3], res.f_y[:3], atol=1e-9)  # a shared point has one value


def test_torch_inputs():
    torch = pytest.importorskip("torch")
    x, y = torch.randn(5, 2, dtype=torch.float32), torch.randn(4, 2, dtype=torch.float32)
    res = vl.ot.kr_dual_lp(x, y)
    assert abs(res.value - vl.ot.wasserstein(x, y, p=1)) < 1e-8


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"cost": "sqeuclidean"}, ValueError, "distance"),
    ({"cost": "cosine"}, ValueError, "cost must be one of"),
    ({"cost": None}, TypeError, "cost must be a string"),
    ({"a": [0.5, 0.6, -0.1]}, ValueError, "a must be non-negative"),
    ({"a": [1.0, 1.0, 1.0]}, ValueError, "same total mass"),
    ({"a": "uniform"}, TypeError, "a must be"),
    ({"b": [0.5, 0.5]}, ValueError, "b must have length 3"),
    ({"check_tol": 0.0}, ValueError, "check_tol"),
    ({"check_tol": "tight"}, TypeError, "check_tol"),
])
def test_bad_inputs(kwargs, exc, match):
    x, y = np.zeros((3, 2)), np.ones((3, 2))
    with pytest.raises(exc, match=match):
        vl.ot.kr_dual_lp(x, y, **kwargs)


def test_deprecated_metric_keyword():
    x, y = np.array([[0.0, 0.0], [1.0, 2.0]]), np.array([[3.0, 4.0]])
    with pytest.warns(DeprecationWarning, match="kr_dual_lp\\(\\): the keyword 'metric' is deprecated.*'cost'"):
        old = vl.ot.kr_dual_lp(x, y, metric="cityblock")
    assert old.value == vl.ot.kr_dual_lp(x, y, cost="l1").value


def test_bad_points():
    with pytest.raises(ValueError, match="same dimension"):
        vl.ot.kr_dual_lp(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        vl.ot.kr_dual_lp(np.array([[np.nan, 0.0]]), np.zeros((1, 2)))
    with pytest.raises(TypeError, match="x must be"):
        vl.ot.kr_dual_lp("points", np.zeros((1, 2)))
    res = vl.ot.kr_dual_lp(np.zeros((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="z must have dimension 2"):
        res.potential(np.zeros((4, 3)))


# ----------------------------------------------------------------------------- kr_critic

def _permutation_instance(seed, n=30):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) * 0.5 + [1.5, 0.0]


@pytest.mark.parametrize("max_margin", [True, False])
def test_critic_is_optimal_and_lipschitz(max_margin):
    x, y = _permutation_instance(0)
    crit = vl.ot.kr_critic(x, y, max_margin=max_margin)
    w1 = vl.ot.wasserstein(x, y, p=1)
    assert abs(crit.f(x).mean() - crit.f(y).mean() - w1) < 1e-9
    probe = np.vstack([x, y, np.random.default_rng(1).uniform(-4, 4, size=(100, 2))])
    fp = crit.f(probe)
    assert np.max(fp[:, None] - fp[None, :] - vl.ot.cost_matrix(probe, probe, "euclidean")) < 1e-9
    slack = vl.ot.cost_matrix(x, y, "euclidean") - crit.u[:, None] - crit.v[None, :]
    assert slack.min() > -1e-9
    assert np.abs(slack[crit.ot.plan > 0]).max() < 1e-9


def test_max_margin_critic_has_unique_active_atom_at_partner():
    x, y = _permutation_instance(2)
    crit = vl.ot.kr_critic(x, y)
    assert crit.margin > 0
    grad, gap = crit.gradient(y)
    assert np.all(gap > 0) and np.allclose(np.linalg.norm(grad, axis=1), 1.0)
    partner = crit.ot.plan.argmax(axis=0)               # the data atom each model atom is sent to
    expected = x[partner] - y
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(grad, expected, atol=1e-12)


def test_gradient_matches_finite_differences():
    # W1(theta) with model atoms y_j = theta_1 z_j + theta_2 (theta_1, theta_2 in R^2)
    rng = np.random.default_rng(3)
    n = 25
    x = rng.normal(size=(n, 2))
    z = rng.normal(size=n)
    theta = np.array([0.7, 0.4, 0.5, -0.3])

    def atoms(t):
        return np.outer(z, t[:2]) + t[2:]

    def w1(t):
        return vl.ot.wasserstein(x, atoms(t), p=1)

    J = np.zeros((n, 2, 4))
    J[:, 0, 0] = J[:, 1, 1] = z
    J[:, 0, 2] = J[:, 1, 3] = 1.0
    crit = vl.ot.kr_critic(x, atoms(theta))
    grad, _ = crit.gradient(atoms(theta))
    dual = -np.einsum("jk,jkp->p", grad, J) / n
    h = 1e-6
    fd = np.array([(w1(theta + h * e) - w1(theta - h * e)) / (2 * h) for e in np.eye(4)])
    assert np.linalg.norm(fd - dual) < 1e-6 * np.linalg.norm(fd)


def test_tie_has_zero_margin():
    # data (+-1, 0); model atoms G(z) = (theta z, (3 - z)/2) for z = +-1. At theta = 0 both
    # matchings cost sqrt(2) + sqrt(5): the plan is not unique and no critic has a positive margin.
    x = np.array([[-1.0, 0.0], [1.0, 0.0]])

    def atoms(theta):
        z = np.array([1.0, -1.0])
        return np.stack([theta * z, (3 - z) / 2], axis=1)

    assert vl.ot.kr_critic(x, atoms(0.0)).margin < 1e-9
    assert vl.ot.kr_critic(x, atoms(0.3)).margin > 1e-3


def test_critic_bad_inputs():
    x, y = np.zeros((3, 2)), np.ones((3, 2))
    with pytest.raises(TypeError, match="max_margin"):
        vl.ot.kr_critic(x, y, max_margin="yes")
    with pytest.raises(ValueError, match="support_tol"):
        vl.ot.kr_critic(x, y, support_tol=-1.0)
    with pytest.raises(ValueError, match="same dimension"):
        vl.ot.kr_critic(x, np.ones((3, 1)))
    with pytest.raises(ValueError, match="same total mass"):
        vl.ot.kr_critic(x, y, a=[1.0, 1.0, 1.0])
    with pytest.raises(TypeError, match="y must be"):
        vl.ot.kr_critic(x, "model")
    with pytest.raises(TypeError, match="support_tol"):
        vl.ot.kr_critic(x, y, support_tol=None)
    crit = vl.ot.kr_critic(np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([[1.0, 0.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="z must have dimension 2"):
        crit.f(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="not differentiable"):
        crit.gradient(np.array([[0.0, 0.0]]))  # z on its active data atom
