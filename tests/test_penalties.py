"""Tests of vegan_lib.penalties: MMD (hand values, unbiasedness), GAN losses, KL, gradient penalty."""
import math

import numpy as np
import pytest
import torch

from vegan_lib import penalties


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
    with pytest.raises(ValueError, match="qz must be a 2-D"):
        penalties.mmd(torch.randn(5), z)
    with pytest.raises(TypeError, match="pz must have a floating dtype"):
        penalties.mmd(z, torch.ones(5, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match="qz must be a torch tensor"):
        penalties.mmd(np.zeros((5, 3)), z)
    with pytest.raises(ValueError, match="at least 2"):
        penalties.mmd(z[:1], z)
    with pytest.raises(ValueError, match="scale"):
        penalties.mmd(z, z, scale=-1.0)


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
