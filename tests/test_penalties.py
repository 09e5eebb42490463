"""Tests of vegan_lib.penalties: MMD (hand values, unbiasedness), sliced Wasserstein and Sinkhorn
penalties, the registry of latent penalties, GAN losses, KL, gradient penalty."""
import math

import numpy as np
import pytest
import torch

from vegan_lib import ot, penalties

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _np_mmd(q, p, kernel, scale):
    q, p = np.asarray(q, np.float64), np.asarray(p, np.float64)

    def k(a, b):
        d2 = float(((a - b) ** 2).sum())
        return scale / (scale + d2) if kernel == "imq" else math.exp(-d2 / scale)

    n, m = len(q), len(p)
    qq = sum(k(q[i], q[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    pp = sum(k(p[i], p[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    qp = sum(k(q[i], p[j]) for i in range(n) for j in range(m)) / (n * m)
    return qq + pp - 2 * qp


def test_imq_scale_is_expected_squared_distance():
    assert penalties.imq_scale(8) == 16.0
    assert penalties.imq_scale(8, sigma_z=2.0) == 64.0
    z = torch.randn(200_000, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2.0
    mc = ((z[::2] - z[1::2]) ** 2).sum(1).mean().item()
    assert abs(mc - 64.0) < 0.01 * 64.0
    with pytest.raises(ValueError, match="d_z"):
        penalties.imq_scale(0)


def test_squared_distances_match_direct_differences():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    direct = ((x[:, None] - y[None]) ** 2).sum(-1)
    torch.testing.assert_close(penalties.squared_distances(x, y), direct)
    assert (penalties.squared_distances(x, x).diagonal() >= 0).all()


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_mmd_matches_hand_computation(kernel):
    q = torch.tensor([[0.0, 0.0], [1.0, 0.5], [-0.5, 2.0]], dtype=torch.float64)
    p = torch.tensor([[0.3, -1.0], [1.0, 1.0], [0.0, 0.2], [2.0, -0.5]], dtype=torch.float64)
    expected = _np_mmd(q, p, kernel, 2 * 2 * 1.0)  # C = 2·d_z·σ_z² with d_z = 2
    assert penalties.mmd(q, p, kernel=kernel).item() == pytest.approx(expected, rel=1e-12)
    assert penalties.mmd(q, p, kernel=kernel, scale=0.7).item() == pytest.approx(_np_mmd(q, p, kernel, 0.7), rel=1e-12)
    multi = sum(_np_mmd(q, p, kernel, 4.0 * s) for s in penalties.MULTISCALE)
    assert penalties.mmd(q, p, kernel=kernel, multiscale=True).item() == pytest.approx(multi, rel=1e-12)


def test_mmd_sigma_z_sets_default_scale():
    g = torch.Generator().manual_seed(2)
    q, p = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    assert penalties.mmd(q, p, sigma_z=2.0).item() == pytest.approx(_np_mmd(q, p, "imq", 2 * 3 * 4.0), rel=1e-12)


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_mmd_is_unbiased_for_equal_distributions(kernel):
    g = torch.Generator().manual_seed(3)
    batches, n, d = 3000, 16, 2
    q = torch.randn(batches, n, d, generator=g, dtype=torch.float64)
    p = torch.randn(batches, n, d, generator=g, dtype=torch.float64)
    vals = torch.stack([penalties.mmd(q[i], p[i], kernel=kernel) for i in range(batches)])
    se = vals.std() / math.sqrt(batches)
    assert abs(vals.mean()) < 3 * se
    # The biased V-statistic (diagonals included) fails the same check: the test has power.
    scales = [2.0 * d]

    def v_stat(a, b):
        k = lambda u, v: penalties.kernel_matrix(penalties.squared_distances(u, v), kernel, scales)  # noqa: E731
        return k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()

    biased = torch.stack([v_stat(q[i], p[i]) for i in range(batches)])
    assert biased.mean() > 10 * biased.std() / math.sqrt(batches)


def test_mmd_detects_a_mean_shift():
    g = torch.Generator().manual_seed(4)
    vals = [penalties.mmd(torch.randn(50, 8, generator=g) + 0.5, torch.randn(50, 8, generator=g)).item()
            for _ in range(200)]
    assert np.mean(vals) > 5 * np.std(vals) / math.sqrt(len(vals))


def test_mmd_has_gradients_for_codes_and_keeps_dtype():
    q = torch.randn(10, 4, requires_grad=True)
    out = penalties.mmd(q, torch.randn(10, 4))
    assert out.dtype == torch.float32 and out.ndim == 0
    out.backward()
    assert torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0


def test_mmd_is_computed_in_float32_for_low_precision_codes():
    g = torch.Generator().manual_seed(6)
    q, p = torch.randn(30, 8, generator=g), torch.randn(30, 8, generator=g) + 0.3
    ref = penalties.mmd(q.bfloat16().float(), p.bfloat16().float())
    low = penalties.mmd(q.bfloat16(), p.bfloat16())
    assert low.dtype == torch.float32 and low.item() == pytest.approx(ref.item(), rel=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = penalties.mmd(q, p)
    assert auto.item() == pytest.approx(penalties.mmd(q, p).item(), rel=1e-5)


def test_mmd_bad_inputs():
    z = torch.randn(5, 3)
    with pytest.raises(ValueError, match="kernel"):
        penalties.mmd(z, z, kernel="laplace")
    with pytest.raises(ValueError, match="same latent dimension"):
        penalties.mmd(z, torch.randn(5, 2))
    with pytest.raises(ValueError, match="qz must have 2 dimension"):
        penalties.mmd(torch.randn(5), z)
    with pytest.raises(TypeError, match="pz must have a floating dtype"):
        penalties.mmd(z, torch.ones(5, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match="qz must be a torch tensor"):
        penalties.mmd(np.zeros((5, 3)), z)
    with pytest.raises(ValueError, match="at least 2"):
        penalties.mmd(z[:1], z)
    with pytest.raises(ValueError, match="scale"):
        penalties.mmd(z, z, scale=-1.0)
    with pytest.raises(ValueError, match="scale"):
        penalties.mmd(z, z, scale=math.inf)
    # wrong types are TypeError (vegan_lib._validation's rule)
    with pytest.raises(TypeError, match="scale"):
        penalties.mmd(z, z, scale="1")
    with pytest.raises(TypeError, match="kernel"):
        penalties.mmd(z, z, kernel=3)
    with pytest.raises(TypeError, match="multiscale"):
        penalties.mmd(z, z, multiscale=1)
    with pytest.raises(TypeError, match="sigma_z"):
        penalties.mmd(z, z, sigma_z="1")
    with pytest.raises(ValueError, match="sigma_z"):
        penalties.mmd(z, z, sigma_z=0.0)


def test_gan_losses_match_hand_values():
    lp = torch.tensor([0.0, 2.0])
    lq = torch.tensor([[1.0], [-1.0]])
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    d_expected = (-(math.log(sig(0.0)) + math.log(sig(2.0))) / 2
                  - (math.log(1 - sig(1.0)) + math.log(1 - sig(-1.0))) / 2)
    assert penalties.gan_discriminator_loss(lp, lq).item() == pytest.approx(d_expected, rel=1e-6)
    e_expected = -(math.log(sig(1.0)) + math.log(sig(-1.0))) / 2
    assert penalties.gan_encoder_loss(lq).item() == pytest.approx(e_expected, rel=1e-6)
    # non-saturating: a confident discriminator (D(z̃) -> 0) still gives the encoder a large gradient
    lq = torch.tensor([-10.0], requires_grad=True)
    penalties.gan_encoder_loss(lq).backward()
    assert lq.grad.abs().item() > 0.99
    with pytest.raises(ValueError, match="logits"):
        penalties.gan_encoder_loss(torch.zeros(3, 2))
    with pytest.raises(TypeError, match="floating"):
        penalties.gan_discriminator_loss(torch.zeros(3, dtype=torch.long), torch.zeros(3))


@pytest.mark.parametrize("sigma_z", [1.0, 2.0])
def test_kl_gaussian_matches_closed_form(sigma_z):
    g = torch.Generator().manual_seed(5)
    mu = torch.randn(7, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(7, 3, generator=g, dtype=torch.float64)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.full_like(mu, sigma_z))
    expected = torch.distributions.kl_divergence(q, p).sum(1)
    torch.testing.assert_close(penalties.kl_gaussian(mu, logvar, sigma_z), expected)
    zero = penalties.kl_gaussian(torch.zeros(2, 3), torch.full((2, 3), 2 * math.log(sigma_z)), sigma_z)
    torch.testing.assert_close(zero, torch.zeros(2), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="same shape"):
        penalties.kl_gaussian(mu, logvar[:, :2])


def test_gradient_penalty_on_a_linear_critic():
    w = torch.tensor([[3.0, 4.0]])  # ‖w‖ = 5: penalty (5 − 1)² = 16 wherever it is evaluated
    critic = torch.nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(w)
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    gp = penalties.gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx(16.0, rel=1e-6)
    gp.backward()  # d/dw (‖w‖ − 1)² = 2(‖w‖ − 1)·w/‖w‖
    torch.testing.assert_close(critic.weight.grad, 2 * 4 * w / 5)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.6, 0.8]]))  # unit norm: no penalty
    assert penalties.gradient_penalty(critic, real, fake, eps=torch.rand(6)).item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_on_images_and_bad_inputs():
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        critic[1].weight.fill_(1.0)  # ‖∇f‖ = 2
    x = torch.rand(3, 1, 2, 2)
    assert penalties.gradient_penalty(critic, x, torch.rand(3, 1, 2, 2)).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        penalties.gradient_penalty(critic, x, torch.rand(2, 1, 2, 2))
    with pytest.raises(ValueError, match="eps"):
        penalties.gradient_penalty(critic, x, x, eps=torch.rand(2))


def test_imq_scale_and_kl_argument_types():
    with pytest.raises(TypeError, match="d_z"):
        penalties.imq_scale(2.0)
    with pytest.raises(TypeError, match="sigma_z"):
        penalties.imq_scale(2, sigma_z=None)
    with pytest.raises(TypeError, match="sigma_z"):
        penalties.kl_gaussian(torch.zeros(2, 3), torch.zeros(2, 3), sigma_z="1")
    with pytest.raises(ValueError, match="sigma_z"):
        penalties.kl_gaussian(torch.zeros(2, 3), torch.zeros(2, 3), sigma_z=-1.0)
    with pytest.raises(TypeError, match="mu"):
        penalties.kl_gaussian(np.zeros((2, 3)), torch.zeros(2, 3))


# ----------------------------------------------------------------------------- sliced Wasserstein (SWAE)

def test_sliced_wasserstein_is_zero_for_identical_samples():
    g = torch.Generator().manual_seed(10)
    q = torch.randn(40, 4, generator=g)
    torch.manual_seed(0)
    assert penalties.sliced_wasserstein_penalty(q, q).item() == pytest.approx(0.0, abs=1e-10)
    torch.manual_seed(0)
    assert penalties.sliced_wasserstein_penalty(q, q[torch.randperm(40)]).item() == pytest.approx(0.0, abs=1e-10)


def test_sliced_wasserstein_in_one_dimension_is_w2_squared():
    g = torch.Generator().manual_seed(11)
    q, p = torch.randn(30, 1, generator=g, dtype=torch.float64), torch.randn(30, 1, generator=g, dtype=torch.float64)
    w2 = ((q.flatten().sort().values - p.flatten().sort().values) ** 2).mean()
    torch.manual_seed(0)
    assert penalties.sliced_wasserstein_penalty(q, p, n_projections=3).item() == pytest.approx(w2.item(), rel=1e-10)


def test_sliced_wasserstein_of_a_shift_is_its_mean_projected_square():
    """For p = q + c every projection θ gives W2² = (θ·c)², whose mean over the sphere in R^d is ‖c‖²/d."""
    g = torch.Generator().manual_seed(12)
    q = torch.randn(50, 2, generator=g, dtype=torch.float64)
    c = torch.tensor([1.0, -2.0], dtype=torch.float64)
    torch.manual_seed(0)
    sw = penalties.sliced_wasserstein_penalty(q, q + c, n_projections=2000).item()
    assert sw == pytest.approx(5.0 / 2, rel=0.05)
    torch.manual_seed(0)
    far = penalties.sliced_wasserstein_penalty(q, q + 2 * c, n_projections=2000).item()
    assert far == pytest.approx(4 * sw, rel=1e-9)  # same directions: exactly four times


def test_sliced_wasserstein_detects_a_mean_shift():
    g = torch.Generator().manual_seed(13)
    torch.manual_seed(0)
    same = [penalties.sliced_wasserstein_penalty(torch.randn(64, 4, generator=g), torch.randn(64, 4, generator=g))
            .item() for _ in range(10)]
    shifted = [penalties.sliced_wasserstein_penalty(torch.randn(64, 4, generator=g) + 1.0,  # SW₂² ≈ ‖c‖²/d = 1
                                                    torch.randn(64, 4, generator=g)).item() for _ in range(10)]
    assert min(same) >= 0 and min(shifted) > max(same)


def test_sliced_wasserstein_uses_torch_global_rng_and_n_projections():
    g = torch.Generator().manual_seed(14)
    q, p = torch.randn(20, 3, generator=g), torch.randn(20, 3, generator=g)
    torch.manual_seed(1)
    a = penalties.sliced_wasserstein_penalty(q, p)
    torch.manual_seed(1)
    b = penalties.sliced_wasserstein_penalty(q, p)
    c = penalties.sliced_wasserstein_penalty(q, p)
    assert torch.equal(a, b) and not torch.equal(b, c)
    torch.manual_seed(1)
    torch.testing.assert_close(a, ot.sliced_wasserstein(q, p, n_projections=50, p=2))


@pytest.mark.parametrize("device", DEVICES)
def test_sliced_wasserstein_gradients_flow(device):
    g = torch.Generator().manual_seed(15)
    q = (torch.randn(16, 3, generator=g) + 1.0).to(device).requires_grad_(True)
    p = torch.randn(16, 3, generator=g).to(device)
    torch.manual_seed(0)
    out = penalties.sliced_wasserstein_penalty(q, p)
    assert out.ndim == 0 and out.dtype == torch.float32 and out.device.type == device
    out.backward()
    assert torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0
    step = q.detach() - 0.5 * q.grad * 16  # a gradient step towards p lowers the penalty
    torch.manual_seed(0)
    assert penalties.sliced_wasserstein_penalty(step, p).item() < out.item()
    same = p.clone().requires_grad_(True)
    penalties.sliced_wasserstein_penalty(same, p).backward()  # finite at q = p (the squared distance)
    assert torch.isfinite(same.grad).all()


def test_sliced_wasserstein_under_bf16_autocast_returns_float32():
    g = torch.Generator().manual_seed(16)
    q, p = torch.randn(32, 4, generator=g), torch.randn(32, 4, generator=g) + 0.3
    torch.manual_seed(0)
    ref = penalties.sliced_wasserstein_penalty(q, p)
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = penalties.sliced_wasserstein_penalty(q, p)
    assert auto.dtype == torch.float32 and auto.item() == pytest.approx(ref.item(), rel=1e-5)
    torch.manual_seed(0)
    low = penalties.sliced_wasserstein_penalty(q.bfloat16(), p.bfloat16())
    torch.manual_seed(0)
    rounded = penalties.sliced_wasserstein_penalty(q.bfloat16().float(), p.bfloat16().float())
    assert low.dtype == torch.float32 and low.item() == pytest.approx(rounded.item(), rel=1e-5)


def test_sliced_wasserstein_bad_inputs():
    z = torch.randn(5, 3)
    with pytest.raises(TypeError, match="n_projections"):
        penalties.sliced_wasserstein_penalty(z, z, n_projections=5.0)
    with pytest.raises(ValueError, match="n_projections"):
        penalties.sliced_wasserstein_penalty(z, z, n_projections=0)
    with pytest.raises(ValueError, match="same latent dimension"):
        penalties.sliced_wasserstein_penalty(z, torch.randn(5, 2))
    with pytest.raises(TypeError, match="qz must be a torch tensor"):
        penalties.sliced_wasserstein_penalty(np.zeros((5, 3)), z)
    with pytest.raises(ValueError, match="pz must have 2 dimension"):
        penalties.sliced_wasserstein_penalty(z, torch.randn(5))


# ----------------------------------------------------------------------------- Sinkhorn divergence (WAE-Sinkhorn)

def test_sinkhorn_is_zero_for_identical_samples_and_nonnegative():
    g = torch.Generator().manual_seed(20)
    q = torch.randn(30, 2, generator=g, dtype=torch.float64)
    assert penalties.sinkhorn_penalty(q, q).item() == pytest.approx(0.0, abs=1e-8)
    assert penalties.sinkhorn_penalty(q, q[torch.randperm(30, generator=g)]).item() == pytest.approx(0.0, abs=1e-8)
    vals = [penalties.sinkhorn_penalty(torch.randn(20, 2, generator=g), torch.randn(20, 2, generator=g)).item()
            for _ in range(5)]
    assert min(vals) >= -1e-6


def test_sinkhorn_detects_a_shift():
    g = torch.Generator().manual_seed(21)
    q, p = torch.randn(40, 2, generator=g), torch.randn(40, 2, generator=g)
    base = penalties.sinkhorn_penalty(q, p).item()
    shifted = penalties.sinkhorn_penalty(q + torch.tensor([2.0, 0.0]), p).item()
    assert shifted > base + 2.0  # about ‖c‖² = 4 for a shift c of a cloud (debiased, small ε)
    assert penalties.sinkhorn_penalty(q, q + torch.tensor([2.0, 0.0]), reg=0.05).item() == pytest.approx(4.0, rel=0.05)


def test_sinkhorn_default_reg_and_options():
    g = torch.Generator().manual_seed(22)
    q, p = torch.randn(20, 3, generator=g, dtype=torch.float64), torch.randn(20, 3, generator=g, dtype=torch.float64)
    # ε defaults to 0.1·E‖Z − Z'‖² = 0.1·2·d_z·σ_z²
    torch.testing.assert_close(penalties.sinkhorn_penalty(q, p), ot.sinkhorn_loss(q, p, reg=0.6))
    torch.testing.assert_close(penalties.sinkhorn_penalty(q, p, sigma_z=2.0), ot.sinkhorn_loss(q, p, reg=2.4))
    torch.testing.assert_close(penalties.sinkhorn_penalty(q, p, reg=0.3, debiased=False),
                               ot.sinkhorn_loss(q, p, reg=0.3, debiased=False))
    assert penalties.sinkhorn_penalty(q, p, debiased=False) > penalties.sinkhorn_penalty(q, p)


@pytest.mark.parametrize("device", DEVICES)
def test_sinkhorn_gradients_flow(device):
    g = torch.Generator().manual_seed(23)
    q = (torch.randn(16, 2, generator=g) + 1.0).to(device).requires_grad_(True)
    p = torch.randn(16, 2, generator=g).to(device)
    out = penalties.sinkhorn_penalty(q, p)
    assert out.ndim == 0 and out.dtype == torch.float32 and out.device.type == device
    out.backward()
    assert torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0
    step = q.detach() - 0.5 * q.grad * 16
    assert penalties.sinkhorn_penalty(step, p).item() < out.item()


def test_sinkhorn_under_bf16_autocast_returns_float32():
    g = torch.Generator().manual_seed(24)
    q, p = torch.randn(24, 2, generator=g), torch.randn(24, 2, generator=g) + 0.5
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = penalties.sinkhorn_penalty(q, p)
    assert auto.dtype == torch.float32 and auto.item() == pytest.approx(penalties.sinkhorn_penalty(q, p).item(), rel=1e-5)
    low = penalties.sinkhorn_penalty(q.bfloat16(), p.bfloat16())
    assert low.dtype == torch.float32


def test_sinkhorn_bad_inputs():
    z = torch.randn(5, 3)
    with pytest.raises(ValueError, match="reg"):
        penalties.sinkhorn_penalty(z, z, reg=0.0)
    with pytest.raises(TypeError, match="reg"):
        penalties.sinkhorn_penalty(z, z, reg="0.1")
    with pytest.raises(TypeError, match="debiased"):
        penalties.sinkhorn_penalty(z, z, debiased=1)
    with pytest.raises(ValueError, match="sigma_z"):
        penalties.sinkhorn_penalty(z, z, sigma_z=-1.0)
    with pytest.raises(ValueError, match="same latent dimension"):
        penalties.sinkhorn_penalty(z, torch.randn(5, 2))
    with pytest.raises(TypeError, match="floating dtype"):
        penalties.sinkhorn_penalty(z, torch.ones(5, 3, dtype=torch.int64))


# ----------------------------------------------------------------------------- the registry

def test_latent_penalties_registry():
    assert penalties.LATENT_PENALTIES == {"mmd": penalties.mmd, "sw": penalties.sliced_wasserstein_penalty,
                                          "sinkhorn": penalties.sinkhorn_penalty}
    g = torch.Generator().manual_seed(30)
    q, p = torch.randn(10, 2, generator=g), torch.randn(10, 2, generator=g)
    for fn in penalties.LATENT_PENALTIES.values():
        out = fn(q, p)
        assert out.ndim == 0 and torch.isfinite(out)


def test_check_penalty_options():
    options = {"n_projections": 7}
    checked = penalties.check_penalty_options("sw", options)
    assert checked == options and checked is not options
    assert penalties.check_penalty_options("sinkhorn", {"reg": 0.1, "sigma_z": 2.0, "debiased": False})
    assert penalties.check_penalty_options("mmd", {"kernel": "rbf", "scale": 1.0, "multiscale": True,
                                                   "sigma_z": 1.0}) == {"kernel": "rbf", "scale": 1.0,
                                                                        "multiscale": True, "sigma_z": 1.0}
    assert penalties.check_penalty_options("gan", {}) == {}
    with pytest.raises(ValueError, match="unknown options \\['reg'\\] for penalty 'sw'"):
        penalties.check_penalty_options("sw", {"reg": 0.1})
    with pytest.raises(ValueError, match="qz"):  # the samples are not options
        penalties.check_penalty_options("mmd", {"qz": 1})
    with pytest.raises(ValueError, match="takes no penalty_options"):
        penalties.check_penalty_options("gan", {"width": 3})
    with pytest.raises(ValueError, match="penalty"):
        penalties.check_penalty_options("kl", {})
    with pytest.raises(TypeError, match="penalty"):
        penalties.check_penalty_options(3, {})
    with pytest.raises(TypeError, match="penalty_options must be a dict"):
        penalties.check_penalty_options("sw", [("n_projections", 3)])
