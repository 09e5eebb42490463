"""Unit tests of Chapter 3's penalized OT on discrete problems (vegan_lib.ot.penalized_ot):
hand-solved instances, the properties proved in the chapter on random instances, the deprecated keywords
(p=, C=), and every error case (TypeError for a type, ValueError for a value)."""
import numpy as np
import pytest
import torch

from vegan_lib import ot as vot


# ---------------------------------------------------------------- hand-solved instances
# One data point, two latent atoms decoded at cost 0 and 1, prior (1/2, 1/2). An encoder sends a
# fraction s to the costly atom: value s + λ·‖(1 − s, s) − (1/2, 1/2)‖₁ = s + λ·|1 − 2s|, minimized
# at s = 0 (value λ) when λ < 1/2 and at s = 1/2 (value 1/2 = W_c) when λ ≥ 1/2. The exactness
# threshold (c_max − c_min)/2 = 1/2 is attained: the bound of the chapter is tight.
@pytest.mark.parametrize("lam", [0.0, 0.1, 0.3, 0.49, 0.5, 0.7, 2.0])
def test_single_point_hand_solved(lam):
    res = vot.penalized_ot([1.0], [0.5, 0.5], np.array([[0.0, 1.0]]), lam)
    assert res.value == pytest.approx(min(lam, 0.5), abs=1e-12)
    if lam < 0.5:
        np.testing.assert_allclose(res.q_z, [1.0, 0.0], atol=1e-12)
        assert res.mismatch == pytest.approx(1.0) and res.transport == pytest.approx(0.0, abs=1e-12)
    elif lam > 0.5:
        np.testing.assert_allclose(res.q_z, [0.5, 0.5], atol=1e-12)
        assert res.mismatch == pytest.approx(0.0, abs=1e-12) and res.transport == pytest.approx(0.5)
    assert res.lam == lam and res.penalty == "l1"
    assert res.info["lp_value"] == pytest.approx(res.value, abs=1e-10)


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.99, 1.0, 1.01, 3.0])
def test_tv_penalty_is_half_the_l1_penalty(lam):
    # TV = ½‖q − p‖₁: the same instance with TV gives min(λ/2, 1/2), exact from λ = 1 = c_max − c_min.
    res = vot.penalized_ot([1.0], [0.5, 0.5], np.array([[0.0, 1.0]]), lam, penalty="tv")
    assert res.value == pytest.approx(min(lam / 2, 0.5), abs=1e-12)
    assert res.penalty == "tv"
    assert res.mismatch == pytest.approx(0.5 * np.abs(res.q_z - [0.5, 0.5]).sum(), abs=1e-15)


def test_two_points_hand_solved():
    # a = b = (1/2, 1/2), M = [[0, 2], [0, 3]]: both points prefer atom 0. W_c = 1 (x_0 takes atom 1
    # at cost 2 for half the mass). D_POT(λ) = min over s of 2s + λ·|1 − 2s| = min(λ, 1): exact from
    # λ = 1, below the bound (3 − 0)/2 = 1.5.
    M = np.array([[0.0, 2.0], [0.0, 3.0]])
    W = vot.exact_ot([0.5, 0.5], [0.5, 0.5], M).cost
    assert W == pytest.approx(1.0)
    for lam in (0.0, 0.4, 0.9, 1.2, 1.5, 4.0):
        res = vot.penalized_ot(None, None, M, lam)
        assert res.value == pytest.approx(min(lam, 1.0), abs=1e-12)
    res = vot.penalized_ot(None, None, M, 2.0)
    np.testing.assert_allclose(res.plan, [[0.0, 0.5], [0.5, 0.0]], atol=1e-12)
    res0 = vot.penalized_ot(None, None, M, 0.0)
    np.testing.assert_allclose(res0.plan, [[0.5, 0.0], [0.5, 0.0]], atol=1e-12)
    np.testing.assert_allclose(res0.q_z, [1.0, 0.0], atol=1e-12)


# ---------------------------------------------------------------- properties on random instances
def _instance(rng):
    n, m = rng.integers(2, 12, size=2)
    x = rng.normal(size=(n, 2))
    gz = rng.normal(size=(m, 2)) * 1.5
    a = rng.random(n) + 0.05
    b = rng.random(m) + 0.05
    return a / a.sum(), b / b.sum(), vot.cost_matrix(x, gz)


@pytest.mark.parametrize("seed", range(6))
def test_properties_on_random_instances(seed):
    rng = np.random.default_rng(seed)
    a, b, M = _instance(rng)
    W = vot.exact_ot(a, b, M).cost
    thr = (M.max() - M.min()) / 2
    lams = thr * np.array([0.0, 0.1, 0.3, 0.6, 1.0, 1.7])
    res = [vot.penalized_ot(a, b, M, lam) for lam in lams]
    vals = np.array([r.value for r in res])
    assert np.all(vals <= W + 1e-9)
    assert np.all(np.diff(vals) >= -1e-9)
    np.testing.assert_allclose(vals[lams >= thr], W, atol=1e-8)
    assert vals[0] == pytest.approx(float(a @ M.min(1)), abs=1e-10)
    # trade-off: the mismatch of the optimum never increases with λ, the transport never decreases
    mism = np.array([r.mismatch for r in res])
    trans = np.array([r.transport for r in res])
    assert np.all(np.diff(mism) <= 1e-7) and np.all(np.diff(trans) >= -1e-7)
    for r in res:
        np.testing.assert_allclose(r.plan.sum(1), a, atol=1e-9)
        np.testing.assert_allclose(r.q_z, r.plan.sum(0), atol=1e-15)
        assert r.plan.min() >= 0.0
        assert r.value == pytest.approx(r.transport + r.lam * r.mismatch, abs=1e-15)


def test_accepts_tensors_and_uniform_defaults():
    rng = np.random.default_rng(3)
    M = rng.random((4, 5))
    r1 = vot.penalized_ot(None, None, torch.tensor(M, dtype=torch.float32), 0.5)
    r2 = vot.penalized_ot(np.full(4, 0.25), np.full(5, 0.2), M.astype(np.float32).astype(np.float64), 0.5)
    assert r1.value == pytest.approx(r2.value, abs=1e-12)
    assert r1.plan.dtype == np.float64 and r1.plan.shape == (4, 5)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs, exc, match", [
    ({"M": np.array([[0.0, -1.0]])}, ValueError, "M must be a non-negative"),
    ({"M": np.array([[0.0, np.nan]])}, ValueError, "M contains NaN"),
    ({"M": np.array([0.0, 1.0])}, ValueError, "M must have 2 dimension"),
    ({"M": np.zeros((1, 0))}, ValueError, "non-empty"),
    ({"M": "cost"}, TypeError, "M must be"),
    ({"a": [0.5, 0.5]}, ValueError, "a must have length 1"),
    ({"a": "uniform"}, TypeError, "a must be"),
    ({"b": [0.5, 0.6]}, ValueError, "same total mass"),
    ({"b": [1.5, -0.5]}, ValueError, "b must be non-negative"),
    ({"lam": -0.1}, ValueError, "lam must be a non-negative finite number"),
    ({"lam": float("nan")}, ValueError, "lam must be a finite number"),
    ({"lam": float("inf")}, ValueError, "lam must be a finite number"),
    ({"lam": True}, TypeError, "lam must be a number"),
    ({"lam": "10"}, TypeError, "lam must be a number"),
    ({"penalty": "kl"}, ValueError, "penalty must be one of"),
    ({"penalty": "mmd"}, ValueError, "latent_kernel is required"),
    ({"penalty": "w1"}, ValueError, "latent_cost is required"),
    ({"penalty": "w1", "latent_cost": np.ones((3, 3))}, ValueError, "latent_cost must have shape"),
    ({"penalty": "w1", "latent_cost": np.ones((2, 2))}, ValueError, "distance matrix"),
    ({"penalty": "w1", "latent_cost": np.array([[0.0, 1.0], [2.0, 0.0]])}, ValueError, "symmetric"),
    ({"penalty": "mmd", "latent_kernel": np.array([[1.0, 2.0], [2.0, 1.0]])}, ValueError, "positive semi-definite"),
    ({"penalty": "mmd", "latent_cost": np.zeros((2, 2))}, ValueError, "takes latent_kernel"),
    ({"latent_kernel": np.eye(2)}, ValueError, "takes neither"),
    ({"penalty": 1}, TypeError, "penalty must be a string"),
    ({"check_tol": 0.0}, ValueError, "check_tol"),
])
def test_errors_name_the_argument(kwargs, exc, match):
    args = {"a": [1.0], "b": [0.5, 0.5], "M": np.array([[0.0, 1.0]]), "lam": 1.0}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        vot.penalized_ot(**args)


def test_deprecated_keywords_p_and_C():
    new = vot.penalized_ot([1.0], [0.5, 0.5], np.array([[0.0, 1.0]]), 0.3)
    with pytest.warns(DeprecationWarning, match="penalized_ot\\(\\): the keyword 'p' is deprecated.*use 'b'"):
        with pytest.warns(DeprecationWarning, match="the keyword 'C' is deprecated.*use 'M'"):
            old = vot.penalized_ot([1.0], p=[0.5, 0.5], C=np.array([[0.0, 1.0]]), lam=0.3)
    assert old.value == new.value
    np.testing.assert_array_equal(old.plan, new.plan)
    with pytest.raises(TypeError, match="got both 'C' \\(deprecated\\) and 'M'"):
        vot.penalized_ot([1.0], [0.5, 0.5], M=np.array([[0.0, 1.0]]), C=np.array([[0.0, 1.0]]), lam=0.3)


# ---------------------------------------------------------------- the MMD penalty (a convex QP)
# One data point, latent atoms at costs 0 and 1, prior (1/2, 1/2), K = I: moving a fraction s to the costly atom
# costs s + λ·2(1/2 − s)², minimised at s* = 1/2 − 1/(4λ) (λ > 1/2), value 1/2 − 1/(8λ) < W_c = 1/2 for every λ.
@pytest.mark.parametrize("lam", [0.2, 0.5, 1.0, 4.0, 100.0])
def test_mmd_penalty_hand_solved(lam):
    res = vot.penalized_ot([1.0], [0.5, 0.5], np.array([[0.0, 1.0]]), lam, penalty="mmd", latent_kernel=np.eye(2))
    s = max(0.0, 0.5 - 1.0 / (4.0 * lam))
    assert res.value == pytest.approx(s + 2 * lam * (0.5 - s) ** 2, abs=1e-10)
    np.testing.assert_allclose(res.q_z, [1 - s, s], atol=1e-8)
    assert res.value < 0.5 and res.info["gap"] < 1e-9 and res.penalty == "mmd"


def test_mmd_penalty_random_instances_below_wc_and_monotone():
    rng = np.random.default_rng(0)
    x, z = rng.normal(size=(5, 2)), rng.normal(size=(4, 1))
    M = vot.cost_matrix(x, z @ rng.normal(size=(1, 2)))
    K = 1.0 / (1.0 + vot.cost_matrix(z, z))
    a, b = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(4))
    wc = vot.exact_ot(a, b, M).cost
    values = [vot.penalized_ot(a, b, M, lam, penalty="mmd", latent_kernel=K).value for lam in (0.1, 1.0, 10.0, 100.0)]
    assert all(v2 >= v1 - 1e-10 for v1, v2 in zip(values, values[1:])) and values[-1] < wc


# ---------------------------------------------------------------- the latent W1 penalty and its dual (Chapter 6)
def _w1_instance(seed, n=6, m=5):
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=(n, 2)), rng.normal(size=(m, 1))
    gz = np.tanh(z * z) @ rng.normal(size=(1, 2))            # even: not injective on ±z
    return (rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m)), vot.cost_matrix(x, gz, "euclidean"),
            vot.cost_matrix(z, z, "euclidean"), x, z, gz)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_latent_w1_penalty_primal_equals_dual_and_reaches_w1_at_lip_g(seed):
    a, b, M, Dz, x, z, gz = _w1_instance(seed)
    values = []
    for lam in (0.0, 0.2, 1.0, 5.0):
        primal = vot.penalized_ot(a, b, M, lam, penalty="w1", latent_cost=Dz)
        dual = vot.penalized_dual_lp(a, b, M, Dz, lam)
        assert primal.value == pytest.approx(dual.value, abs=1e-9)
        assert dual.max_violation < 1e-9 and dual.lam == lam
        assert primal.mismatch == pytest.approx(vot.exact_ot(primal.q_z, b, Dz).cost, abs=1e-9)
        values.append(primal.value)
    assert all(v2 >= v1 - 1e-10 for v1, v2 in zip(values, values[1:]))
    off = ~np.eye(len(z), dtype=bool)
    lip = (vot.cost_matrix(gz, gz, "euclidean")[off] / Dz[off]).max()
    pf = vot.pushforward(z, b, gz=gz)
    w1 = vot.exact_ot(a, pf.weights, vot.cost_matrix(x, pf.atoms, "euclidean")).cost
    assert vot.penalized_ot(a, b, M, lip, penalty="w1", latent_cost=Dz).value == pytest.approx(w1, abs=1e-9)


def test_penalized_dual_errors_name_the_argument():
    a, b, M, Dz, *_ = _w1_instance(0)
    with pytest.raises(ValueError, match="latent_cost must have shape"):
        vot.penalized_dual_lp(a, b, M, Dz[:2, :2], 1.0)
    with pytest.raises(ValueError, match="lam must be a non-negative"):
        vot.penalized_dual_lp(a, b, M, Dz, -1.0)
    with pytest.raises(ValueError, match="latent_cost is required"):
        vot.penalized_dual_lp(a, b, M, None, 1.0)
