"""Unit tests of vegan_lib.ot (Chapter 1 layer, the result family, the deprecations): values against
hand-solved cases and closed forms, and every error case (TypeError for a type, ValueError for a value)."""
import warnings

import numpy as np
import ot as pot
import pytest
import torch
from scipy.stats import wasserstein_distance

import vegan_lib as vl
from vegan_lib import costs
from vegan_lib import ot as vot


def test_cost_matrix_is_the_costs_module_function():
    assert vot.cost_matrix is costs.cost_matrix
    x = np.array([[0.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.0, 1.0]], dtype=torch.float32)
    np.testing.assert_allclose(vot.cost_matrix(x, y), [[1.0], [1.0]])
    np.testing.assert_allclose(vot.cost_matrix(x, y, "euclidean"), [[1.0], [1.0]])
    np.testing.assert_allclose(vot.cost_matrix(x, x, cost="l1"), [[0, 2], [2, 0]])
    np.testing.assert_allclose(vot.cost_matrix(x, x, "cityblock"), [[0, 2], [2, 0]])
    # exact zeros on the diagonal, even for large coordinates
    z = np.random.default_rng(0).normal(size=(50, 3)) * 1e3
    assert np.all(np.diag(vot.cost_matrix(z, z, "euclidean")) == 0)
    assert vot.cost_matrix(x, y).dtype == np.float64


def test_cost_matrix_high_dimension_matches_cdist():
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(6)
    x, y = rng.random((40, 784)), rng.random((30, 784))
    M = vot.cost_matrix(x, y)
    np.testing.assert_allclose(M, cdist(x, y, "sqeuclidean"), rtol=1e-12, atol=1e-10)
    assert np.all(vot.cost_matrix(x, x) >= 0) and np.abs(np.diag(vot.cost_matrix(x, x))).max() < 1e-10


def test_exact_ot_hand_solved():
    # two points to two points on a line: crossing costs more, so the plan is the identity
    a = [0.5, 0.5]
    M = np.array([[0.0, 4.0], [4.0, 1.0]])
    res = vot.exact_ot(a, a, M)
    assert isinstance(res, vot.OTResult) and isinstance(res, vot.Result)
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
    gen = torch.Generator().manual_seed(1)
    a = torch.rand(30, dtype=torch.float64, generator=gen)
    a = a / a.sum()
    b = torch.full((40,), 1 / 40, dtype=torch.float64)
    res = vot.exact_ot(a, b, torch.as_tensor(vot.cost_matrix(x, y)))
    assert res.marginal_error < 1e-12 and np.isclose(res.plan.sum(), 1.0)
    # float32 weights lose ~1e-7 of mass: a clear error instead of POT's silent all-zero plan
    a32 = (torch.rand(30, generator=gen) + 0.1).float()
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
        (None, None, np.zeros((0, 2)), "non-empty"),
    ],
)
def test_exact_ot_errors(a, b, M, match):
    with pytest.raises(ValueError, match=match):
        vot.exact_ot(a, b, M)


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
    a = rng.random(200)
    b = rng.random(150)
    a, b = a / a.sum(), b / b.sum()
    assert vot.wasserstein_1d(x, y, a, b, p=1) == pytest.approx(wasserstein_distance(x, y, a, b), abs=1e-10)
    assert vot.wasserstein_1d(x, y, a, b) == pytest.approx(vot.wasserstein(x, y, a, b), abs=1e-8)


# ----------------------------------------------------------------------------- Gaussian W2

def _random_spd(rng, d, rank=None):
    A = rng.normal(size=(d, rank or d))
    return A @ A.T + (0 if rank else 0.5 * np.eye(d))


def test_gaussian_w2_closed_form():
    # 1-D: W2^2 = (m1 - m2)^2 + (s1 - s2)^2
    w = vot.gaussian_w2([1.0], [[4.0]], [0.0], [[1.0]])
    assert w == pytest.approx(np.sqrt(1.0 + 1.0))
    assert vot.gaussian_w2([1.0], [[4.0]], [0.0], [[1.0]], squared=True) == pytest.approx(2.0)
    # commuting diagonal covariances
    w = vot.gaussian_w2([0, 0], np.diag([1.0, 9.0]), [3, 4], np.diag([4.0, 1.0]))
    assert w ** 2 == pytest.approx(25 + 1 + 4)


@pytest.mark.parametrize("seed", range(4))
def test_gaussian_w2_agrees_with_pot_when_well_conditioned(seed):
    rng = np.random.default_rng(seed)
    d = 2 + seed
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    C1, C2 = _random_spd(rng, d), _random_spd(rng, d)
    ref = float(pot.gaussian.bures_wasserstein_distance(m1, m2, C1, C2))
    assert abs(vot.gaussian_w2(m1, C1, m2, C2) - ref) < 1e-10
    assert abs(vot.gaussian_w2(m1, C1, m2, C2, squared=True) - ref ** 2) < 1e-10 * max(1.0, ref ** 2)


def test_gaussian_w2_singular_covariances_stay_finite_and_correct():
    # Dead features: C1 = diag(s1, 0), C2 = diag(s2, 0) plus a rank-one covariance in 5-D.
    # For commuting PSD matrices tr (C1^½ C2 C1^½)^½ = Σ sqrt(λ1 λ2): W2² = Σ (sqrt λ1 − sqrt λ2)².
    C1, C2 = np.diag([4.0, 0.0, 1.0]), np.diag([1.0, 0.0, 0.0])
    m1, m2 = np.array([1.0, 2.0, 0.0]), np.zeros(3)
    expected = 1 + 4 + (2 - 1) ** 2 + 0 + 1
    assert vot.gaussian_w2(m1, C1, m2, C2, squared=True) == pytest.approx(expected, abs=1e-12)
    # a rotated rank-deficient pair (round-off-negative eigenvalues): POT's sqrtm gives NaN here
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    lam1, lam2 = np.array([3.0, 1.0, 0.0, 0.0, 0.0]), np.array([2.0, 0.0, 0.5, 0.0, 0.0])
    C1, C2 = (Q * lam1) @ Q.T, (Q * lam2) @ Q.T
    m = np.zeros(5)
    w2sq = vot.gaussian_w2(m, C1, m, C2, squared=True)
    assert np.isfinite(w2sq)
    assert w2sq == pytest.approx(np.sum((np.sqrt(lam1) - np.sqrt(lam2)) ** 2), abs=1e-10)
    assert vot.gaussian_w2(m, C1, m, C1) == pytest.approx(0.0, abs=1e-6)
    # a singular sample covariance (dead ReLU units: constant columns) against itself plus a shift
    feats = np.maximum(rng.normal(size=(50, 8)), 0.0)
    feats[:, :3] = 0.0
    C = np.cov(feats, rowvar=False)
    assert vot.gaussian_w2(feats.mean(0), C, feats.mean(0) + 1.0, C, squared=True) == pytest.approx(8.0, abs=1e-9)


@pytest.mark.parametrize("args, exc, match", [
    (([0, 0], [[1, 1], [0, 1]], [0, 0], np.eye(2)), ValueError, "symmetric"),
    (([0, 0], [[1, 0], [0, -1]], [0, 0], np.eye(2)), ValueError, "positive semi-definite"),
    (([0, 0], np.eye(3), [0, 0], np.eye(2)), ValueError, "shape"),
    (([0, 0], np.eye(2), [0], np.eye(1)), ValueError, "same dimension"),
    (([0, 0], np.eye(2), [0, np.nan], np.eye(2)), ValueError, "NaN"),
    (([0, 0], "eye", [0, 0], np.eye(2)), TypeError, "C1"),
    (([0, 0], 1e6 * np.eye(2) + [[0, 1e-3], [0, 0]], [0, 0], np.eye(2)), ValueError, "symmetric"),
])
def test_gaussian_w2_errors(args, exc, match):
    with pytest.raises(exc, match=match):
        vot.gaussian_w2(*args)


def test_gaussian_w2_tolerance_is_relative_to_scale():
    C = 1e6 * np.eye(2)
    C[0, 1] += 1e-6  # asymmetry 1e-12 of the scale: round-off, accepted
    assert vot.gaussian_w2([0, 0], C, [0, 0], 1e6 * np.eye(2), squared=True) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(TypeError, match="squared"):
        vot.gaussian_w2([0], [[1.0]], [0], [[1.0]], squared=1)


# ----------------------------------------------------------------------------- KR potential

def test_kr_potential_is_lipschitz_and_attains_w1():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(25, 2)), rng.normal(size=(30, 2)) + [2, 0]
    kr = vot.kr_potential(x, y)
    assert isinstance(kr, vot.KRPotential)
    z = np.vstack([x, y, rng.normal(size=(100, 2)) * 3])
    fz = kr.f(z)
    D = vot.cost_matrix(z, z, "euclidean")
    assert np.all(fz[:, None] - fz[None, :] <= D + 1e-10)
    assert kr.f(x).mean() - kr.f(y).mean() == pytest.approx(kr.ot.cost, abs=1e-9)
    assert kr.ot.dual_value == pytest.approx(kr.ot.cost, abs=1e-9)
    with pytest.raises(ValueError, match="dimension 2"):
        kr.f(np.zeros((3, 3)))


# ----------------------------------------------------------------------------- bad inputs, one rule

M22 = np.array([[0.0, 1.0], [1.0, 0.0]])
X3, Y3 = np.zeros((3, 2)), np.ones((3, 2))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: vot.exact_ot(None, None, "cost"), TypeError, "M"),
    (lambda: vot.exact_ot("a", None, M22), TypeError, "a"),
    (lambda: vot.exact_ot(None, None, M22, num_iter_max=1.5), TypeError, "num_iter_max"),
    (lambda: vot.exact_ot(None, None, M22, num_iter_max=0), ValueError, "num_iter_max"),
    (lambda: vot.exact_ot(None, None, M22, check_tol=0.0), ValueError, "check_tol"),
    (lambda: vot.sinkhorn(None, None, M22, 0.0), ValueError, "reg"),
    (lambda: vot.sinkhorn(None, None, M22, float("nan")), ValueError, "reg"),
    (lambda: vot.sinkhorn(None, None, M22, "0.1"), TypeError, "reg"),
    (lambda: vot.sinkhorn(None, None, M22, 0.1, method="knopp"), ValueError, "method"),
    (lambda: vot.sinkhorn(None, None, M22, 0.1, method=1), TypeError, "method"),
    (lambda: vot.sinkhorn(None, None, M22, 0.1, stop_thr=-1.0), ValueError, "stop_thr"),
    (lambda: vot.wasserstein(X3, Y3, p=0.5), ValueError, "p must be >= 1"),
    (lambda: vot.wasserstein(X3, Y3, p="2"), TypeError, "p must be a number"),
    (lambda: vot.wasserstein(X3, np.zeros((3, 3))), ValueError, "same dimension"),
    (lambda: vot.wasserstein("x", Y3), TypeError, "x must be"),
    (lambda: vot.wasserstein(X3, Y3, a=[1.0, 0.0]), ValueError, "a must have length 3"),
    (lambda: vot.wasserstein_1d(np.zeros((3, 2)), np.zeros(3)), ValueError, "dimension"),
    (lambda: vot.wasserstein_1d(np.zeros(3), np.zeros(3), p=0.5), ValueError, "p must be >= 1"),
    (lambda: vot.wasserstein_1d(np.zeros(3), {"y": 1}), TypeError, "y must be"),
    (lambda: vot.wasserstein_1d(np.zeros(3), np.zeros(2), [1, 1, 1], [1, 1]), ValueError, "same total mass"),
    (lambda: vot.kr_potential(X3, np.zeros((2, 3))), ValueError, "same dimension"),
    (lambda: vot.kr_potential(X3, Y3, b=[0.5, 0.5, -0.1]), ValueError, "b must be non-negative"),
    (lambda: vot.kr_potential(None, Y3), TypeError, "x must be"),
    (lambda: vot.cost_matrix([0.0], [1.0], "cosine"), ValueError, "cost"),
    (lambda: vot.cost_matrix([0.0], [1.0], 2), TypeError, "cost"),
    (lambda: vot.cost_matrix(np.zeros((2, 2)), np.zeros((2, 3))), ValueError, "same dimension"),
    (lambda: vot.cost_matrix(np.zeros((0, 2)), np.zeros((2, 2))), ValueError, "at least one point"),
])
def test_bad_inputs_raise_the_right_type(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ----------------------------------------------------------------------------- results and deprecations

def test_result_repr_is_readable():
    res = vot.exact_ot([0.5, 0.5], [0.5, 0.5], M22)
    text = repr(res)
    assert text.startswith("OTResult(cost=0.0, plan=array(shape=(2, 2), dtype=float64)")
    assert "'M': array(shape=(2, 2), dtype=float64)" in text and "\n" not in text
    kr = repr(vot.kr_potential(X3, Y3))
    assert kr.startswith("KRPotential(f=<function f>, ot=OTResult(cost=1.41421356")


def test_result_unpacking_is_deprecated_but_works():
    kr = vot.kr_potential(X3, Y3)
    with pytest.warns(DeprecationWarning, match="unpacking a KRPotential is deprecated"):
        f, res = kr
    assert f is kr.f and res is kr.ot
    pf = vot.pushforward(np.zeros((2, 1)), gz=np.ones((2, 2)))
    with pytest.warns(DeprecationWarning, match="fields \\(atoms, weights, index\\)"):
        atoms, weights, index = pf
    assert atoms is pf.atoms and weights is pf.weights and index is pf.index


def test_encoder_name_is_a_deprecated_alias():
    with pytest.warns(DeprecationWarning, match="vegan_lib.ot.Encoder is deprecated.*PlanEncoder"):
        alias = vl.ot.Encoder
    assert alias is vot.PlanEncoder
    with pytest.raises(AttributeError, match="no attribute 'Encoderr'"):
        vl.ot.Encoderr  # noqa: B018


def test_public_names_are_exported_and_documented():
    for name in vot.__all__:
        obj = getattr(vot, name)
        if callable(obj) and not isinstance(obj, type):
            assert "Chapter" in (obj.__doc__ or ""), name
    assert "Encoder" not in vot.__all__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [getattr(vot, name) for name in vot.__all__]  # no deprecated name in __all__
