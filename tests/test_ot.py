"""Unit tests of vegan_lib.ot: values against hand-solved cases and closed forms, and every error case."""
import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from vegan_lib import ot as vot


def test_cost_matrix_metrics_and_types():
    x = np.array([[0.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.0, 1.0]], dtype=torch.float32)
    np.testing.assert_allclose(vot.cost_matrix(x, y), [[1.0], [1.0]])
    np.testing.assert_allclose(vot.cost_matrix(x, y, "euclidean"), [[1.0], [1.0]])
    np.testing.assert_allclose(vot.cost_matrix(x, x, "l1"), [[0, 2], [2, 0]])
    # exact zeros on the diagonal, even for large coordinates
    z = np.random.default_rng(0).normal(size=(50, 3)) * 1e3
    assert np.all(np.diag(vot.cost_matrix(z, z, "euclidean")) == 0)
    assert vot.cost_matrix(x, y).dtype == np.float64


def test_exact_ot_hand_solved():
    # two points to two points on a line: crossing costs more, so the plan is the identity
    a = [0.5, 0.5]
    M = np.array([[0.0, 4.0], [4.0, 1.0]])
    res = vot.exact_ot(a, a, M)
    np.testing.assert_allclose(res.plan, np.diag([0.5, 0.5]))
    assert res.cost == pytest.approx(0.5)
    assert res.dual_value == pytest.approx(0.5, abs=1e-12)
    # unequal weights: 0.7 at x=0 must go 0.5 to y=0 and 0.2 to y=3
    res = vot.exact_ot([0.7, 0.3], [0.5, 0.5], vot.cost_matrix([0.0, 3.0], [0.0, 3.0], "euclidean"))
    np.testing.assert_allclose(res.plan, [[0.5, 0.2], [0.0, 0.3]], atol=1e-12)
    assert res.cost == pytest.approx(0.6)


def test_exact_ot_accepts_torch_and_rejects_float32_mass_drift():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(40, 2))
    a = torch.rand(30, dtype=torch.float64)
    a = a / a.sum()
    b = torch.full((40,), 1 / 40, dtype=torch.float64)
    res = vot.exact_ot(a, b, torch.as_tensor(vot.cost_matrix(x, y)))
    assert res.marginal_error < 1e-12 and np.isclose(res.plan.sum(), 1.0)
    # float32 weights lose ~1e-7 of mass: a clear error instead of POT's silent all-zero plan
    a32 = (torch.rand(30) + 0.1).float()
    a32 = a32 / a32.sum()
    if abs(a32.double().sum().item() - 1.0) > 1e-9:
        with pytest.raises(ValueError, match="same total mass"):
            vot.exact_ot(a32, b, vot.cost_matrix(x, y))


@pytest.mark.parametrize(
    "a, b, M, match",
    [
        ([0.5, 0.5], [0.5, 0.5], [[0.0, 1.0]], "a must have length 1"),
        ([-0.5, 1.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]], "non-negative"),
        ([0.5, 0.5], [0.4, 0.4], [[0.0, 1.0], [1.0, 0.0]], "same total mass"),
        ([0.5, np.nan], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]], "NaN"),
        ([0.5, 0.5], [0.5, 0.5], [[0.0, np.nan], [1.0, 0.0]], "NaN"),
        ([0.5, 0.5], [0.5, 0.5], [[0.0, -1.0], [1.0, 0.0]], "non-negative cost"),
        ([0.5, 0.5, 0.0], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]], "length 2"),
        ([[0.5, 0.5]], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]], "dimension"),
        ([0.0, 0.0], [0.0, 0.0], [[0.0, 1.0], [1.0, 0.0]], "positive total mass"),
    ],
)
def test_exact_ot_errors(a, b, M, match):
    with pytest.raises(ValueError, match=match):
        vot.exact_ot(a, b, M)


def test_type_errors():
    with pytest.raises(TypeError, match="M"):
        vot.exact_ot(None, None, "cost")
    with pytest.raises(ValueError, match="metric"):
        vot.cost_matrix([0.0], [1.0], "cosine")
    with pytest.raises(ValueError, match="same dimension"):
        vot.cost_matrix(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="at least one point"):
        vot.cost_matrix(np.zeros((0, 2)), np.zeros((2, 2)))


def test_exact_ot_iteration_limit_raises():
    rng = np.random.default_rng(0)
    M = vot.cost_matrix(rng.normal(size=(60, 2)), rng.normal(size=(60, 2)))
    with pytest.raises(RuntimeError, match="ot.emd"):
        vot.exact_ot(None, None, M, num_iter_max=5)


def test_sinkhorn_approaches_exact_and_checks():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + 1
    M = vot.cost_matrix(x, y)
    exact = vot.exact_ot(None, None, M).cost
    gaps = [vot.sinkhorn(None, None, M, reg, marginal_tol=1e-4).cost - exact for reg in (1.0, 0.1, 0.01)]
    assert all(g >= -1e-9 for g in gaps)
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-2 * exact
    with pytest.raises(ValueError, match="reg"):
        vot.sinkhorn(None, None, M, 0.0)
    with pytest.raises(ValueError, match="reg"):
        vot.sinkhorn(None, None, M, float("nan"))


def test_sinkhorn_not_converged_warns():
    rng = np.random.default_rng(3)
    M = vot.cost_matrix(rng.normal(size=(30, 2)), rng.normal(size=(30, 2)))
    with pytest.warns(RuntimeWarning, match="marginal error"):
        vot.sinkhorn(None, None, M, 0.001, num_iter_max=2)


def test_sinkhorn_failure_raises():
    M = np.full((2, 2), 1e6)  # exp(-M/reg) underflows to 0: the classic Sinkhorn breakdown
    with pytest.raises(RuntimeError, match="Sinkhorn failed"):
        vot.sinkhorn(None, None, M, 1e-3, method="sinkhorn")


def test_wasserstein_1d_matches_scipy_and_emd():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=200), rng.exponential(size=150)
    assert vot.wasserstein_1d(x, y, p=1) == pytest.approx(wasserstein_distance(x, y), abs=1e-10)
    assert vot.wasserstein_1d(x, y, p=2) == pytest.approx(vot.wasserstein(x, y, p=2), abs=1e-8)
    with pytest.raises(ValueError, match="dimension"):
        vot.wasserstein_1d(np.zeros((3, 2)), y)
    with pytest.raises(ValueError, match="p must be >= 1"):
        vot.wasserstein(x, y, p=0.5)


def test_gaussian_w2_closed_form():
    # 1-D: W2^2 = (m1 - m2)^2 + (s1 - s2)^2
    w = vot.gaussian_w2([1.0], [[4.0]], [0.0], [[1.0]])
    assert w == pytest.approx(np.sqrt(1.0 + 1.0))
    # commuting diagonal covariances
    w = vot.gaussian_w2([0, 0], np.diag([1.0, 9.0]), [3, 4], np.diag([4.0, 1.0]))
    assert w ** 2 == pytest.approx(25 + 1 + 4)
    with pytest.raises(ValueError, match="symmetric"):
        vot.gaussian_w2([0, 0], [[1, 1], [0, 1]], [0, 0], np.eye(2))
    with pytest.raises(ValueError, match="positive semi-definite"):
        vot.gaussian_w2([0, 0], [[1, 0], [0, -1]], [0, 0], np.eye(2))
    with pytest.raises(ValueError, match="shape"):
        vot.gaussian_w2([0, 0], np.eye(3), [0, 0], np.eye(2))
    with pytest.raises(ValueError, match="same dimension"):
        vot.gaussian_w2([0, 0], np.eye(2), [0], np.eye(1))


def test_kr_potential_is_lipschitz_and_attains_w1():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(25, 2)), rng.normal(size=(30, 2)) + [2, 0]
    f, res = vot.kr_potential(x, y)
    z = np.vstack([x, y, rng.normal(size=(100, 2)) * 3])
    fz = f(z)
    D = vot.cost_matrix(z, z, "euclidean")
    assert np.all(fz[:, None] - fz[None, :] <= D + 1e-10)
    assert f(x).mean() - f(y).mean() == pytest.approx(res.cost, abs=1e-9)
    assert res.dual_value == pytest.approx(res.cost, abs=1e-9)
    with pytest.raises(ValueError, match="dimension 2"):
        f(np.zeros((3, 3)))


def test_cost_matrix_high_dimension_matches_cdist():
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(6)
    x, y = rng.random((40, 784)), rng.random((30, 784))
    M = vot.cost_matrix(x, y)
    np.testing.assert_allclose(M, cdist(x, y, "sqeuclidean"), rtol=1e-12, atol=1e-10)
    assert np.all(vot.cost_matrix(x, x) >= 0) and np.abs(np.diag(vot.cost_matrix(x, x))).max() < 1e-10
