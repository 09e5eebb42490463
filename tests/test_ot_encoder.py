"""Unit tests of the Chapter 2 layer of vegan_lib.ot: the pushforward G#P_Z, the encoder form of
OT (Theorem 1), the random-decoder cost W_c†, the encoder recovered from a plan, the deprecated keywords
(p_z=, metric=), and every error case (TypeError for a type, ValueError for a value)."""
import numpy as np
import pytest
import torch

from vegan_lib import ot as vot


def _instance(rng, n, m, d_z=2):
    x = rng.normal(size=(n, 2))
    a = rng.random(n) + 0.1
    z = rng.normal(size=(m, d_z))
    b = rng.random(m) + 0.1
    return x, a / a.sum(), z, b / b.sum()


# ---------------------------------------------------------------- hand-solved instance
# P_X = 1/2 δ_0 + 1/2 δ_2 on the line, P_Z = 1/4 δ_{-1} + 1/4 δ_0 + 1/2 δ_1, G(z) = |z|.
# G#P_Z = 1/4 δ_0 + 3/4 δ_1. Monotone matching: x=0 sends 1/4 to y=0 (cost 0) and 1/4 to y=1
# (cost 1); x=2 sends 1/2 to y=1 (cost 1). W = 1/4 + 1/2 = 3/4 for |x-y| and for (x-y)^2.
X_HAND = np.array([[0.0], [2.0]])
A_HAND = np.array([0.5, 0.5])
Z_HAND = np.array([[-1.0], [0.0], [1.0]])
P_HAND = np.array([0.25, 0.25, 0.5])


def test_pushforward_merges_a_non_injective_decoder():
    pf = vot.pushforward(Z_HAND, P_HAND, G=np.abs)
    np.testing.assert_array_equal(pf.atoms, [[0.0], [1.0]])
    np.testing.assert_allclose(pf.weights, [0.25, 0.75], atol=1e-15)
    np.testing.assert_array_equal(pf.index, [1, 0, 1])
    # -0.0 and 0.0 are the same point
    pf0 = vot.pushforward(np.array([[1.0], [-1.0]]), None, gz=np.array([[0.0], [-0.0]]))
    assert pf0.atoms.shape == (1, 1) and pf0.weights[0] == pytest.approx(1.0)
    # uniform prior by default, decoded atoms given directly
    pf2 = vot.pushforward(np.zeros((4, 3)), gz=np.array([[0, 1], [0, 1], [2, 2], [0, 1.0]]))
    np.testing.assert_allclose(pf2.weights, [0.75, 0.25])


@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean"])
def test_encoder_ot_hand_solved(cost):
    res = vot.encoder_ot(X_HAND, Z_HAND, A_HAND, P_HAND, G=np.abs, cost=cost)
    assert res.cost == pytest.approx(0.75, abs=1e-12)
    np.testing.assert_allclose(res.plan.sum(1), A_HAND, atol=1e-15)
    np.testing.assert_allclose(res.plan.sum(0), P_HAND, atol=1e-15)
    # x=0 keeps its 1/4 at z=0 (the only code decoded to 0)
    assert res.plan[0, 1] == pytest.approx(0.25)
    pf = vot.pushforward(Z_HAND, P_HAND, G=np.abs)
    direct = vot.exact_ot(A_HAND, pf.weights, vot.cost_matrix(X_HAND, pf.atoms, cost))
    assert direct.cost == pytest.approx(res.cost, abs=1e-12)
    enc = vot.encoder_from_plan(res.plan, A_HAND)
    assert isinstance(enc, vot.PlanEncoder)
    np.testing.assert_allclose(enc.Q.sum(1), 1.0, atol=1e-15)
    np.testing.assert_allclose(enc.q_z, P_HAND, atol=1e-15)
    np.testing.assert_array_equal(res.info["gz"], [[1.0], [0.0], [1.0]])


def test_random_decoder_hand_solved_strict_gap():
    # P_Z = δ_0, decoder Y = ±1 with probability 1/2, P_X := P_G = 1/2 δ_{-1} + 1/2 δ_1.
    # W_c = 0, but W_c† = E (X - Y)^2 with X, Y independent = 2 = σ² + W_2²(P_X, δ_0) = 1 + 1.
    y = np.array([[[-1.0], [1.0]]])
    law = vot.mixture_law(y, [0.5, 0.5], [1.0])
    np.testing.assert_array_equal(law.atoms, [[-1.0], [1.0]])
    np.testing.assert_array_equal(law.index, [[0, 1]])
    w = vot.exact_ot(law.weights, law.weights, vot.cost_matrix(law.atoms, law.atoms)).cost
    wd = vot.random_decoder_ot(law.atoms, y, law.weights, [1.0], y_weights=[0.5, 0.5])
    assert w == pytest.approx(0.0, abs=1e-15)
    assert wd.cost == pytest.approx(2.0, abs=1e-12)
    assert wd.plan.shape == (2, 1)
    # Euclidean cost: E|X - Y| = 1/2 * 0 + 1/2 * 2 = 1
    assert vot.random_decoder_ot(law.atoms, y, cost="euclidean").cost == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean"])
def test_theorem_1_random_non_injective(seed, cost):
    rng = np.random.default_rng(seed)
    x, a, z, b = _instance(rng, 12 + seed, 9)
    centers = rng.normal(size=(3, 2)) * 2

    def G(codes):  # piecewise constant: 9 latent atoms -> at most 3 points
        return centers[np.argmin(vot.cost_matrix(codes, centers[:, :2]), axis=1)]

    pf = vot.pushforward(z, b, G=G)
    assert pf.atoms.shape[0] <= 3
    lhs = vot.exact_ot(a, pf.weights, vot.cost_matrix(x, pf.atoms, cost)).cost
    res = vot.encoder_ot(x, z, a, b, G=G, cost=cost)
    assert abs(lhs - res.cost) < 1e-10
    enc = vot.encoder_from_plan(res.plan, a)
    assert np.abs(enc.q_z - b).max() < 1e-12


def test_result_c_and_dirac_decoder():
    rng = np.random.default_rng(7)
    x, a, z, b = _instance(rng, 15, 10)
    W = rng.normal(size=(2, 2))
    gz = np.tanh(z) @ W
    noise = rng.normal(size=(5, 2))
    nw = rng.random(5)
    nw /= nw.sum()
    noise -= nw @ noise  # zero mean
    total_var = float(nw @ (noise ** 2).sum(1))
    y = gz[:, None, :] + noise[None, :, :]
    wd = vot.random_decoder_ot(x, y, a, b, y_weights=nw).cost
    det = vot.encoder_ot(x, z, a, b, gz=gz).cost
    assert wd - total_var == pytest.approx(det, abs=1e-10)
    law = vot.mixture_law(y, nw, b)
    w = vot.exact_ot(a, law.weights, vot.cost_matrix(x, law.atoms)).cost
    assert w <= wd + 1e-12
    # K = 1 (a Dirac decoder): W_c† is the encoder form of Theorem 1
    dirac = vot.random_decoder_ot(x, gz[:, None, :], a, b, cost="euclidean").cost
    assert dirac == pytest.approx(vot.encoder_ot(x, z, a, b, gz=gz, cost="euclidean").cost, abs=1e-12)


def test_torch_inputs_and_torch_decoder():
    rng = np.random.default_rng(3)
    x, a, z, b = _instance(rng, 8, 6)
    lin = torch.nn.Linear(2, 2).double()
    seen = []

    def G(codes):
        seen.append(type(codes))
        return lin(codes)  # requires grad: detached by the library

    res_t = vot.encoder_ot(torch.tensor(x), torch.tensor(z), torch.tensor(a), torch.tensor(b), G=G)
    assert seen == [torch.Tensor]
    with torch.no_grad():
        gz = lin(torch.tensor(z)).numpy()
    res_n = vot.encoder_ot(x, z, a, b, gz=gz)
    assert res_t.cost == pytest.approx(res_n.cost, abs=1e-12)
    # a float32 network gets the float32 tensor itself; the result is float64
    net = torch.nn.Linear(2, 2)
    res32 = vot.encoder_ot(x, torch.tensor(z, dtype=torch.float32), a, b, G=net)
    assert res32.plan.dtype == np.float64 and res32.info["gz"].dtype == np.float64
    # 1-D outputs are read as points on the line
    assert vot.pushforward(z, b, G=lambda c: c[:, 0]).atoms.shape[1] == 1


def test_encoder_from_plan_zero_rows_and_defaults():
    plan = np.array([[0.2, 0.3], [0.0, 0.0], [0.1, 0.4]])
    enc = vot.encoder_from_plan(plan, [0.5, 0.0, 0.5])
    np.testing.assert_allclose(enc.Q, [[0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])
    np.testing.assert_allclose(enc.q_z, [0.3, 0.7])
    enc2 = vot.encoder_from_plan(torch.tensor(plan))
    np.testing.assert_allclose(enc2.Q, enc.Q)
    np.testing.assert_allclose(enc2.q_z, plan.sum(0))


# ---------------------------------------------------------------- bad inputs
X2 = np.zeros((2, 2))
Z3 = np.zeros((3, 1))
GZ3 = np.ones((3, 2))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(G=None, gz=None), ValueError, "exactly one of G"),
        (dict(G=np.abs, gz=GZ3), ValueError, "exactly one of G"),
        (dict(G="decoder"), TypeError, "G must be a callable"),
        (dict(G=lambda z: np.ones((2, 2))), ValueError, "G must map the 3 latent atoms"),
        (dict(G=lambda z: np.ones((3, 2, 2))), ValueError, "G\\(z\\) must have"),
        (dict(G=lambda z: np.full((3, 2), np.nan)), ValueError, "G\\(z\\) contains NaN"),
        (dict(G=lambda z: "points"), TypeError, "G must return"),
        (dict(G=lambda z: np.ones((3, 3))), ValueError, "dimension 3 but x has dimension 2"),
        (dict(gz=np.ones((4, 2))), ValueError, "gz must hold one decoded point per latent atom"),
        (dict(gz=np.ones((3, 2)), cost="cosine"), ValueError, "cost must be one of"),
        (dict(gz=np.ones((3, 2)), cost=2), TypeError, "cost must be a string"),
        (dict(gz=GZ3, a=[0.5, -0.5]), ValueError, "a must be non-negative"),
        (dict(gz=GZ3, b=[0.5, 0.5]), ValueError, "b must have length 3"),
        (dict(gz=GZ3, b=[0.5, 0.5, 0.5]), ValueError, "a and b must have the same total mass"),
        (dict(gz=GZ3, b=[0.5, np.nan, 0.5]), ValueError, "b contains NaN"),
        (dict(gz=GZ3, b="weights"), TypeError, "b must be"),
        (dict(gz="points"), TypeError, "gz must be"),
        (dict(gz=GZ3, x=np.full((2, 2), np.inf)), ValueError, "x contains NaN"),
        (dict(gz=GZ3, z=np.zeros((3, 1, 1))), ValueError, "z must have"),
        (dict(gz=GZ3, z="codes"), TypeError, "z must be"),
    ],
)
def test_encoder_ot_errors(kwargs, exc, match):
    args = dict(x=X2, z=Z3, a=None, b=None, G=None, gz=None)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        vot.encoder_ot(**args)


def test_pushforward_errors():
    with pytest.raises(ValueError, match="b must be non-negative"):
        vot.pushforward(Z3, [0.5, 0.7, -0.2], gz=GZ3)
    with pytest.raises(ValueError, match="G must map"):
        vot.pushforward(Z3, None, G=lambda z: z[:2])


Y = np.zeros((3, 2, 2))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(y_atoms=np.zeros((3, 2))), "y_atoms must have 3 dimension"),
        (dict(y_atoms=np.zeros((3, 0, 2))), "m, K >= 1"),
        (dict(y_weights=[0.5, 0.6]), "sum to 1 for every latent atom"),
        (dict(y_weights=[[0.5, 0.5], [0.5, 0.5], [1.0, 0.5]]), "sum to 1 for every latent atom"),
        (dict(y_weights=[1.5, -0.5]), "y_weights must be non-negative"),
        (dict(y_weights=[1.0, 0.0, 0.0]), "y_weights must have shape"),
        (dict(y_weights=np.ones((2, 2)) / 2), "y_weights must have shape"),
        (dict(y_atoms=np.zeros((3, 2, 3))), "y_atoms have dimension 3 but x has dimension 2"),
        (dict(b=[1.0, 0.0]), "b must have length 3"),
        (dict(a=[0.2, 0.2]), "a and b must have the same total mass"),
        (dict(y_atoms=np.full((3, 2, 2), np.nan)), "y_atoms contains NaN"),
    ],
)
def test_random_decoder_errors(kwargs, match):
    args = dict(x=X2, y_atoms=Y, a=None, b=None, y_weights=None)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        vot.random_decoder_ot(**args)


def test_mixture_law_errors():
    with pytest.raises(ValueError, match="sum to 1"):
        vot.mixture_law(Y, [0.2, 0.2])
    with pytest.raises(TypeError, match="y_atoms"):
        vot.mixture_law("atoms")


@pytest.mark.parametrize(
    "plan, a, match",
    [
        ([[0.5, -0.1], [0.3, 0.3]], None, "plan must be non-negative"),
        ([[0.5, 0.5]], [1.0, 0.0], "a must have length 1"),
        ([[0.25, 0.25], [0.25, 0.25]], [0.7, 0.3], "row sums must equal a"),
        ([[0.0, 0.0]], None, "positive total mass"),
        ([0.5, 0.5], None, "plan must have 2 dimension"),
        (np.zeros((0, 2)), None, "non-empty"),
        ([[np.nan, 0.5]], None, "plan contains NaN"),
    ],
)
def test_encoder_from_plan_errors(plan, a, match):
    with pytest.raises(ValueError, match=match):
        vot.encoder_from_plan(plan, a)


@pytest.mark.parametrize("call, match", [
    (lambda: vot.random_decoder_ot(X2, "atoms"), "y_atoms must be"),
    (lambda: vot.random_decoder_ot(X2, Y, y_weights="uniform"), "y_weights must be"),
    (lambda: vot.random_decoder_ot(X2, Y, cost=None), "cost must be a string"),
    (lambda: vot.mixture_law(Y, None, "prior"), "b must be"),
    (lambda: vot.pushforward("codes", gz=GZ3), "z must be"),
    (lambda: vot.encoder_from_plan("plan"), "plan must be"),
    (lambda: vot.encoder_from_plan([[0.5, 0.5]], tol="1e-9"), "tol must be a number"),
])
def test_type_errors(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_encoder_from_plan_bad_tol():
    with pytest.raises(ValueError, match="tol must be a positive"):
        vot.encoder_from_plan([[0.5, 0.5]], tol=0.0)


# ---------------------------------------------------------------- deprecated keywords (one release)
def test_deprecated_keywords_warn_and_give_the_same_result():
    new = vot.encoder_ot(X_HAND, Z_HAND, A_HAND, P_HAND, G=np.abs, cost="euclidean")
    with pytest.warns(DeprecationWarning, match="encoder_ot\\(\\): the keyword 'p_z' is deprecated.*use 'b'"):
        with pytest.warns(DeprecationWarning, match="the keyword 'metric' is deprecated.*use 'cost'"):
            old = vot.encoder_ot(X_HAND, Z_HAND, A_HAND, p_z=P_HAND, G=np.abs, metric="euclidean")
    np.testing.assert_array_equal(old.plan, new.plan)
    assert old.cost == new.cost

    with pytest.warns(DeprecationWarning, match="pushforward\\(\\): the keyword 'p_z'"):
        pf = vot.pushforward(Z_HAND, p_z=P_HAND, G=np.abs)
    np.testing.assert_array_equal(pf.weights, vot.pushforward(Z_HAND, P_HAND, G=np.abs).weights)

    y = np.array([[[-1.0], [1.0]]])
    with pytest.warns(DeprecationWarning, match="mixture_law\\(\\): the keyword 'p_z'"):
        law = vot.mixture_law(y, [0.5, 0.5], p_z=[1.0])
    np.testing.assert_array_equal(law.weights, vot.mixture_law(y, [0.5, 0.5], [1.0]).weights)

    with pytest.warns(DeprecationWarning, match="random_decoder_ot\\(\\): the keyword"):
        wd = vot.random_decoder_ot(law.atoms, y, p_z=[1.0], y_weights=[0.5, 0.5], metric="euclidean")
    assert wd.cost == vot.random_decoder_ot(law.atoms, y, None, [1.0], y_weights=[0.5, 0.5], cost="euclidean").cost


def test_old_and_new_keyword_together_is_a_type_error():
    with pytest.raises(TypeError, match="got both 'p_z' \\(deprecated\\) and 'b'"):
        vot.pushforward(Z_HAND, b=P_HAND, p_z=P_HAND, G=np.abs)
    with pytest.raises(TypeError, match="got both 'metric' \\(deprecated\\) and 'cost'"):
        vot.encoder_ot(X_HAND, Z_HAND, G=np.abs, cost="euclidean", metric="euclidean")


def test_decoder_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        vot.encoder_ot(X_HAND, Z_HAND, None, None, np.abs)  # G must be named
    with pytest.raises(TypeError):
        vot.pushforward(Z_HAND, None, np.abs)
