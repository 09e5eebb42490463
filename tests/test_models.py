"""Tests of vegan_lib.models: network shapes, costs, each objective against hand computations,
the order of optimizer steps in each recipe, the cookbook, and errors for bad inputs."""
import math

import numpy as np
import pytest
import torch

from vegan_lib import models


def _np_imq_mmd(q, p, scale):
    q, p = np.asarray(q, np.float64), np.asarray(p, np.float64)
    k = lambda a, b: scale / (scale + ((a - b) ** 2).sum())  # noqa: E731
    n, m = len(q), len(p)
    qq = sum(k(q[i], q[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    pp = sum(k(p[i], p[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    return qq + pp - 2 * sum(k(a, b) for a in q for b in p) / (n * m)


def _sig(t):
    return 1.0 / (1.0 + np.exp(-t))


def _set_linear(linear, weight, bias):
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(weight, dtype=linear.weight.dtype))
        linear.bias.copy_(torch.as_tensor(bias, dtype=linear.bias.dtype))


# A tiny linear set-up whose objectives are computed by hand with NumPy.
WE, BE = np.array([[1.0, 0.5], [0.0, 2.0]]), np.array([0.1, -0.2])
WD, BD = np.array([[0.5, -1.0], [1.5, 0.3]]), np.array([0.0, 0.4])
WA, BA = np.array([[0.7, -0.4]]), np.array([0.2])
X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.7]])
ZP = np.array([[0.5, -0.5], [-1.2, 0.1], [0.0, 1.0]])


def _linear_pair(kind_enc="deterministic", kind_dec="deterministic", sigma2=1.0):
    enc = models.MLPEncoder(2, 2, hidden=(), kind=kind_enc).double()
    dec = models.MLPDecoder(2, 2, hidden=(), kind=kind_dec, sigma2=sigma2).double()
    if kind_enc == "gaussian":
        _set_linear(enc.net[0], np.vstack([WE, 0.1 * WE]), np.concatenate([BE, [-1.0, 0.5]]))
    else:
        _set_linear(enc.net[0], WE, BE)
    _set_linear(dec.net[0], WD, BD)
    return enc, dec


def _t(a):
    return torch.tensor(a, dtype=torch.float64)


# ----------------------------------------------------------------------------- networks

def test_conv_encoder_and_decoder_shapes_follow_the_paper():
    enc = models.ConvEncoder(z_dim=8, base_channels=128)
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [128, 256, 512, 1024]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert enc.net[1].in_features == 1024 * 2 * 2  # 28 -> 14 -> 7 -> 4 -> 2 ('SAME')
    dec = models.ConvDecoder(z_dim=8, base_channels=128)
    assert dec.net[0].out_features == 7 * 7 * 1024
    assert [m.out_channels for m in dec.modules() if isinstance(m, torch.nn.ConvTranspose2d)] == [512, 256]
    small_enc, small_dec = models.ConvEncoder(8, base_channels=4), models.ConvDecoder(8, base_channels=4)
    x = torch.rand(5, 1, 28, 28)
    z, logvar = small_enc(x)
    assert z.shape == (5, 8) and logvar is None
    y = small_dec(z)
    assert y.shape == (5, 1, 28, 28) and (y >= 0).all() and (y <= 1).all()
    g_enc = models.ConvEncoder(8, kind="gaussian", base_channels=4)
    mu, logvar = g_enc(x)
    assert mu.shape == logvar.shape == (5, 8)
    assert g_enc.sample(x).shape == (5, 8)
    b_dec = models.ConvDecoder(8, kind="bernoulli", base_channels=4)
    assert b_dec.logits(z).shape == (5, 1, 28, 28)
    torch.testing.assert_close(b_dec(z), torch.sigmoid(b_dec.logits(z)))
    assert models.ConvCritic(4)(x).shape == (5, 1)
    assert models.latent_adversary(8, width=16)(z).shape == (5, 1)
    assert len([m for m in models.latent_adversary(8).modules() if isinstance(m, torch.nn.Linear)]) == 5


def test_init_std_reproduces_the_wae_code_initialisation():
    enc = models.ConvEncoder(8, base_channels=8, init_std=0.01)
    w = torch.cat([m.weight.flatten() for m in enc.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(w.std().item() - 0.01) < 1e-3
    assert all((m.bias == 0).all() for m in enc.modules() if isinstance(m, torch.nn.Conv2d))


def test_mlp_networks_shapes():
    enc = models.MLPEncoder((1, 4, 4), 3, hidden=(8,), kind="gaussian")
    mu, logvar = enc(torch.rand(6, 1, 4, 4))
    assert mu.shape == logvar.shape == (6, 3)
    dec = models.MLPDecoder(3, (1, 4, 4), hidden=(8,), output="sigmoid")
    assert dec(mu).shape == (6, 1, 4, 4)
    assert models.mlp(2, 1, (4, 4))(torch.zeros(3, 2)).shape == (3, 1)


def test_transport_costs_by_hand():
    x, y = _t([[1.0, 2.0], [0.0, 0.0]]), _t([[0.0, 0.0], [3.0, -4.0]])
    torch.testing.assert_close(models.transport_cost(x, y, "sqeuclidean"), _t([5.0, 25.0]))
    torch.testing.assert_close(models.transport_cost(x, y, "euclidean"), _t([math.sqrt(5.0), 5.0]))
    torch.testing.assert_close(models.transport_cost(x, y, "l1"), _t([3.0, 7.0]))
    z = torch.zeros(2, 2, requires_grad=True)
    models.transport_cost(z, torch.zeros(2, 2), "euclidean").sum().backward()
    assert torch.isfinite(z.grad).all()
    with pytest.raises(ValueError, match="cost"):
        models.transport_cost(x, y, "cosine")
    with pytest.raises(ValueError, match="same shape"):
        models.transport_cost(x, y[:1], "l1")


def test_decoder_likelihoods():
    _, dec = _linear_pair(kind_dec="gaussian", sigma2=0.5)
    z, x = _t(ZP), _t(X)
    mean = ZP @ WD.T + BD
    expected = torch.distributions.Normal(_t(mean), math.sqrt(0.5)).log_prob(x).sum(1)
    torch.testing.assert_close(dec.nll(x, z), -expected)
    _, bdec = _linear_pair(kind_dec="bernoulli")
    xb = _t([[0.0, 1.0], [0.2, 0.9], [1.0, 0.5]])
    p = _sig(mean)
    torch.testing.assert_close(bdec.nll(xb, z), _t(-(xb.numpy() * np.log(p) + (1 - xb.numpy()) * np.log(1 - p)).sum(1)))
    _, ddec = _linear_pair()
    with pytest.raises(ValueError, match="no likelihood"):
        ddec.nll(x, z)


# ----------------------------------------------------------------------------- objectives by hand

@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean", "l1"])
def test_wae_mmd_objective_by_hand(cost):
    enc, dec = _linear_pair()
    wae = models.WAE(enc, dec, penalty="mmd", cost=cost, lam=10.0, cost_scale=0.05)
    out = wae.loss(_t(X), z_prior=_t(ZP))
    z = X @ WE.T + BE
    diff = X - (z @ WD.T + BD)
    per = {"sqeuclidean": (diff ** 2).sum(1), "euclidean": np.sqrt((diff ** 2).sum(1)), "l1": np.abs(diff).sum(1)}[cost]
    recon = 0.05 * per.mean()
    mmd = _np_imq_mmd(z, ZP, 2 * 2 * 1.0)
    assert out["recon"].item() == pytest.approx(recon, rel=1e-12)
    assert out["mmd"].item() == pytest.approx(mmd, rel=1e-12)
    assert out["loss"].item() == pytest.approx(recon + 10.0 * mmd, rel=1e-12)


def test_wae_gan_objective_by_hand():
    enc, dec = _linear_pair()
    adv = models.mlp(2, 1).double()
    _set_linear(adv[0], WA, BA)
    wae = models.WAE(enc, dec, penalty="gan", lam=2.0, adversary=adv)
    out = wae.loss(_t(X), z_prior=_t(ZP))
    z = X @ WE.T + BE
    recon = ((X - (z @ WD.T + BD)) ** 2).sum(1).mean()
    dq, dp = _sig(z @ WA.T + BA).ravel(), _sig(ZP @ WA.T + BA).ravel()
    enc_gan = -np.log(dq).mean()
    adv_loss = 2.0 * (-np.log(dp).mean() - np.log(1 - dq).mean())
    assert out["recon"].item() == pytest.approx(recon, rel=1e-12)
    assert out["enc_gan"].item() == pytest.approx(enc_gan, rel=1e-12)
    assert out["loss"].item() == pytest.approx(recon + 2.0 * enc_gan, rel=1e-12)
    assert out["adv_loss"].item() == pytest.approx(adv_loss, rel=1e-12)


def test_wae_nll_cost_with_gaussian_decoder_is_scaled_squared_cost():
    """Chapter 4's relation: Gaussian NLL = ‖x − G(z)‖²/(2σ²) + (D/2) log(2πσ²)."""
    enc, dec = _linear_pair(kind_dec="gaussian", sigma2=0.25)
    out = models.WAE(enc, dec, cost="nll").loss(_t(X), z_prior=_t(ZP))
    enc2, dec2 = _linear_pair()
    sq = models.WAE(enc2, dec2).loss(_t(X), z_prior=_t(ZP))
    assert out["recon"].item() == pytest.approx(sq["recon"].item() / 0.5 + math.log(2 * math.pi * 0.25), rel=1e-12)


def test_vae_objective_by_hand():
    enc, dec = _linear_pair("gaussian", "gaussian", sigma2=0.5)
    eps = np.array([[0.3, -1.0], [1.1, 0.2], [-0.4, 0.0]])
    out = models.VAE(enc, dec).loss(_t(X), eps=_t(eps))
    mu = X @ WE.T + BE
    logvar = X @ (0.1 * WE).T + np.array([-1.0, 0.5])
    z = mu + np.exp(0.5 * logvar) * eps
    nll = (((X - (z @ WD.T + BD)) ** 2).sum(1) / (2 * 0.5) + math.log(2 * math.pi * 0.5)).mean()
    kl = (0.5 * (np.exp(logvar) + mu ** 2 - 1 - logvar).sum(1)).mean()
    assert out["nll"].item() == pytest.approx(nll, rel=1e-12)
    assert out["kl"].item() == pytest.approx(kl, rel=1e-12)
    assert out["loss"].item() == pytest.approx(nll + kl, rel=1e-12)


def test_aae_objective_by_hand():
    enc, dec = _linear_pair()
    adv = models.mlp(2, 1).double()
    _set_linear(adv[0], WA, BA)
    out = models.AAE(enc, dec, adv).loss(_t(X), z_prior=_t(ZP))
    z = X @ WE.T + BE
    dq, dp = _sig(z @ WA.T + BA).ravel(), _sig(ZP @ WA.T + BA).ravel()
    assert out["recon"].item() == pytest.approx(((X - (z @ WD.T + BD)) ** 2).sum(1).mean(), rel=1e-12)
    assert out["disc_loss"].item() == pytest.approx(-np.log(dp).mean() - np.log(1 - dq).mean(), rel=1e-12)
    assert out["gen_loss"].item() == pytest.approx(-np.log(dq).mean(), rel=1e-12)


@pytest.mark.parametrize("mode", ["clip", "gp"])
def test_wgan_objective_by_hand(mode):
    gen = models.MLPDecoder(2, 2, hidden=()).double()
    _set_linear(gen.net[0], WD, BD)
    critic = models.mlp(2, 1).double()
    _set_linear(critic[0], WA, BA)  # linear critic: ‖∇f‖ = ‖w‖ everywhere
    out = models.WGAN(gen, critic, mode=mode).loss(_t(X), z=_t(ZP))
    fake = ZP @ WD.T + BD
    f = lambda a: (a @ WA.T + BA).ravel()  # noqa: E731
    w1 = f(X).mean() - f(fake).mean()
    gp = (np.linalg.norm(WA) - 1) ** 2
    assert out["w1_estimate"].item() == pytest.approx(w1, rel=1e-12)
    assert out["gen_loss"].item() == pytest.approx(-f(fake).mean(), rel=1e-12)
    expected = -w1 + (10.0 * gp if mode == "gp" else 0.0)
    assert out["critic_loss"].item() == pytest.approx(expected, rel=1e-10)
    if mode == "gp":
        assert out["gp"].item() == pytest.approx(gp, rel=1e-10)


# ----------------------------------------------------------------------------- training steps

class _Recorder:
    """Wraps an optimizer and records the order of step() calls."""

    def __init__(self, name, opt, log):
        self.name, self.opt, self.log = name, opt, log

    def zero_grad(self, set_to_none=True):
        self.opt.zero_grad(set_to_none=set_to_none)

    def step(self):
        self.log.append(self.name)
        self.opt.step()


def _recorded(recipe):
    log = []
    return {k: _Recorder(k, o, log) for k, o in recipe.make_optimizers().items()}, log


def _snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(module, before):
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_wae_gan_step_order_and_groups():
    torch.manual_seed(0)
    wae = models.build_recipe("WAE-GAN", x_shape=(2,), z_dim=2, width=8, adversary_width=8)
    opts, log = _recorded(wae)
    out = wae.train_step(torch.randn(16, 2), opts)
    assert log == ["ae", "adv"]
    assert set(out) == {"loss", "recon", "enc_gan", "adv_loss"}
    assert all(v.ndim == 0 and not v.requires_grad for v in out.values())
    specs = wae.optimizer_specs()
    assert {id(p) for p in specs["adv"].params} == {id(p) for p in wae.adversary.parameters()}
    assert specs["ae"].lr == 1e-3 and specs["adv"].lr == 5e-4 and specs["ae"].betas == (0.5, 0.999)


def test_aae_runs_the_published_phases():
    torch.manual_seed(0)
    aae = models.build_recipe("AAE", x_shape=(2,), z_dim=2, width=8, adversary_width=8)
    specs = aae.optimizer_specs()
    assert {id(p) for p in specs["gen"].params} == {id(p) for p in aae.encoder.parameters()}
    assert {id(p) for p in specs["ae"].params} == {id(p) for p in [*aae.encoder.parameters(),
                                                                    *aae.decoder.parameters()]}
    opts, log = _recorded(aae)
    adv_before, dec_before = _snapshot(aae.adversary), _snapshot(aae.decoder)
    out = aae.train_step(torch.randn(16, 2), opts)
    assert log == ["ae", "adv", "gen"]  # reconstruction phase, then discriminator, then encoder as generator
    assert set(out) == {"recon", "disc_loss", "gen_loss"}
    assert _changed(aae.adversary, adv_before) and _changed(aae.decoder, dec_before)


def test_wgan_step_uses_n_critic_batches_and_clips():
    torch.manual_seed(0)
    wgan = models.build_recipe("WGAN-clip", x_shape=(2,), z_dim=2, width=8, n_critic=3)
    assert wgan.batches_per_step == 3
    opts, log = _recorded(wgan)
    seen = []
    hook = wgan.critic.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[0]))
    out = wgan.train_step(torch.randn(12, 2) * 5, opts)
    hook.remove()
    assert log == ["critic"] * 3 + ["gen"]
    assert seen == [4, 4] * 3 + [4]  # real and fake per critic step, then the generator's batch
    assert all(p.abs().max() <= 0.01 for p in wgan.critic.parameters())
    assert isinstance(opts["critic"].opt, torch.optim.RMSprop) and opts["critic"].opt.defaults["lr"] == 5e-5
    assert set(out) == {"critic_loss", "w1_estimate", "gen_loss"}
    with pytest.raises(ValueError, match="n_critic"):
        wgan.train_step(torch.randn(10, 2), opts)
    gp = models.build_recipe("WGAN-GP", x_shape=(2,), z_dim=2, width=8)
    o = gp.make_optimizers()["critic"]
    assert isinstance(o, torch.optim.Adam) and o.defaults["betas"] == (0.5, 0.9) and o.defaults["lr"] == 1e-4


@pytest.mark.parametrize("name", [e.name for e in models.COOKBOOK])
@pytest.mark.parametrize("x_shape", [(2,), (1, 28, 28)])
def test_every_cookbook_recipe_builds_and_steps(name, x_shape):
    torch.manual_seed(0)
    recipe = models.build_recipe(name, x_shape=x_shape, z_dim=4, width=4, adversary_width=8)
    assert isinstance(recipe, models.Recipe) and recipe.x_shape == x_shape
    x = torch.rand(8 * recipe.batches_per_step, *x_shape)
    out = recipe.train_step(x, recipe.make_optimizers())
    assert out and all(torch.isfinite(v) and v.ndim == 0 and not v.requires_grad for v in out.values())
    assert recipe.sample(3).shape == (3, *x_shape)
    if not isinstance(recipe, models.WGAN):
        assert recipe.reconstruct(x[:3]).shape == (3, *x_shape)
        assert recipe.encode(x[:3]).shape == (3, 4)
    else:
        with pytest.raises(NotImplementedError, match="no encoder"):
            recipe.encode(x)


def test_prior_sample_uses_sigma_z_and_generator():
    wae = models.build_recipe("WAE-MMD", x_shape=(2,), z_dim=3, width=4, sigma_z=2.0)
    a = wae.prior_sample(20000, torch.Generator().manual_seed(0))
    b = wae.prior_sample(20000, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (20000, 3)
    assert abs(a.std().item() - 2.0) < 0.05


def test_make_optimizers_overrides_and_errors():
    wae = models.build_recipe("WAE-MMD", x_shape=(2,), z_dim=2, width=4)
    opt = wae.make_optimizers({"ae": {"lr": 1e-4}})["ae"]
    assert opt.defaults["lr"] == 1e-4 and opt.defaults["betas"] == (0.5, 0.999)
    with pytest.raises(ValueError, match="unknown optimizer group"):
        wae.make_optimizers({"adv": {"lr": 1.0}})
    with pytest.raises(ValueError, match="unknown optimizer settings"):
        wae.make_optimizers({"ae": {"momentum": 0.9}})


# ----------------------------------------------------------------------------- cookbook

def test_cookbook_table_and_lookup():
    rows = models.cookbook_table()
    assert [r["recipe"] for r in rows] == ["WAE-MMD", "WAE-GAN", "AAE", "VAE", "WGAN-clip", "WGAN-GP"]
    assert all(isinstance(v, str) and v for r in rows for v in r.values())
    assert len({tuple(r) for r in rows}) == 1  # same columns in every row
    names = lambda rows: [e.name for e in rows]  # noqa: E731
    assert names(models.cookbook_lookup("sqeuclidean", "gan")) == ["WAE-GAN", "AAE"]  # Chapter 4's equivalence
    assert names(models.cookbook_lookup("l1", "mmd", "gaussian")) == ["WAE-MMD"]
    assert names(models.cookbook_lookup("nll", "kl", "gaussian", "bernoulli")) == ["VAE"]
    assert names(models.cookbook_lookup("euclidean", "none", "none")) == ["WGAN-clip", "WGAN-GP"]
    with pytest.raises(ValueError, match="no recipe"):
        models.cookbook_lookup("l1", "gan", "deterministic", "bernoulli")
    with pytest.raises(ValueError, match="divergence"):
        models.cookbook_lookup("l1", "wasserstein")


# ----------------------------------------------------------------------------- errors

def test_recipe_constructor_errors():
    enc, dec = _linear_pair()
    with pytest.raises(ValueError, match="penalty"):
        models.WAE(enc, dec, penalty="kl")
    with pytest.raises(ValueError, match="cost"):
        models.WAE(enc, dec, cost="hamming")
    with pytest.raises(ValueError, match="kernel"):
        models.WAE(enc, dec, kernel="laplace")
    with pytest.raises(ValueError, match="nll"):
        models.WAE(enc, dec, cost="nll")
    with pytest.raises(ValueError, match="lam"):
        models.WAE(enc, dec, lam=-1.0)
    with pytest.raises(TypeError, match="encoder"):
        models.WAE(torch.nn.Linear(2, 2), dec)
    with pytest.raises(ValueError, match="VAE needs an encoder"):
        models.VAE(enc, models.MLPDecoder(2, 2, kind="gaussian"))
    with pytest.raises(ValueError, match="latent sizes differ"):
        models.WAE(models.MLPEncoder(2, 3), dec)
    with pytest.raises(ValueError, match="deterministic generator"):
        models.WGAN(models.MLPDecoder(2, 2, kind="gaussian"), models.mlp(2, 1))
    with pytest.raises(ValueError, match="mode"):
        models.WGAN(models.MLPDecoder(2, 2), models.mlp(2, 1), mode="spectral")
    with pytest.raises(ValueError, match="encoder kind"):
        models.MLPEncoder(2, 2, kind="flow")
    with pytest.raises(ValueError, match="decoder kind"):
        models.MLPDecoder(2, 2, kind="poisson")
    with pytest.raises(ValueError, match="Bernoulli decoder needs output='sigmoid'"):
        models.MLPDecoder(2, 2, kind="bernoulli", output="identity")
    with pytest.raises(ValueError, match="name must be one of"):
        models.build_recipe("beta-VAE")
    with pytest.raises(ValueError, match="z_dim"):
        models.ConvEncoder(z_dim=0)


def test_loss_input_errors():
    enc, dec = _linear_pair()
    wae = models.WAE(enc, dec)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        wae.loss(torch.zeros(3, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="floating dtype"):
        wae.loss(torch.zeros(3, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch tensor"):
        wae.loss(np.zeros((3, 2)))
    conv = models.build_recipe("WAE-MMD", width=4)
    with pytest.raises(ValueError, match=r"shape \(n, 1, 28, 28\)"):
        conv.train_step(torch.zeros(4, 28, 28), conv.make_optimizers())
