"""Tests of vegan_lib.recipes: the phase API of every recipe (WAE-MMD, WAE-GAN, SWAE, WAE-Sinkhorn,
AAE, VAE, WGAN clip and gp), the one loss-dictionary schema, each objective against hand
computations with fixed noise, the optimizer groups each training step updates, OptimizerSpec,
the latent-penalty registry, and errors for bad arguments and inputs."""
import math

import numpy as np
import pytest
import torch

from vegan_lib import costs, networks, penalties, recipes, train

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

NAMES = ["WAE-MMD", "WAE-GAN", "SWAE", "WAE-Sinkhorn", "AAE", "VAE", "WGAN-clip", "WGAN-GP"]
N_CRITIC = {"WGAN-clip": 3, "WGAN-GP": 2}

# (name, optimizer group, repeats, new_batch, has a post-step hook) per phase, in order.
PHASES = {
    "WAE-MMD": [("ae", "ae", 1, True, False)],
    "WAE-GAN": [("ae", "ae", 1, True, False), ("adv", "adv", 1, False, False)],
    "SWAE": [("ae", "ae", 1, True, False)],
    "WAE-Sinkhorn": [("ae", "ae", 1, True, False)],
    "AAE": [("ae", "ae", 1, True, False), ("adv", "adv", 1, False, False), ("gen", "gen", 1, False, False)],
    "VAE": [("ae", "ae", 1, True, False)],
    "WGAN-clip": [("critic", "critic", 3, True, True), ("gen", "gen", 1, False, False)],
    "WGAN-GP": [("critic", "critic", 2, True, False), ("gen", "gen", 1, False, False)],
}
# The unweighted terms of each phase's loss dictionary (besides "loss").
TERMS = {
    "WAE-MMD": {"ae": {"recon", "mmd"}},
    "WAE-GAN": {"ae": {"recon", "gan"}, "adv": {"disc"}},
    "SWAE": {"ae": {"recon", "sw"}},
    "WAE-Sinkhorn": {"ae": {"recon", "sinkhorn"}},
    "AAE": {"ae": {"recon"}, "adv": {"disc"}, "gen": {"gan"}},
    "VAE": {"ae": {"nll", "kl"}},
    "WGAN-clip": {"critic": {"w1"}, "gen": set()},
    "WGAN-GP": {"critic": {"w1", "gp"}, "gen": set()},
}


def _columns(name):
    return {f"{phase}_loss" for phase in TERMS[name]} | set().union(*TERMS[name].values())


def _make(name, seed=0, **kwargs):
    """Every recipe on 2-D toy data with small MLPs (z_dim 2)."""
    torch.manual_seed(seed)

    def enc(kind="deterministic"):
        return networks.MLPEncoder(2, 2, hidden=(8,), kind=kind)

    def dec(kind="deterministic"):
        return networks.MLPDecoder(2, 2, hidden=(8,), kind=kind)

    def adv():
        return networks.latent_adversary(2, width=8, depth=1)

    if name in ("WAE-MMD", "SWAE", "WAE-Sinkhorn"):
        penalty = {"WAE-MMD": "mmd", "SWAE": "sw", "WAE-Sinkhorn": "sinkhorn"}[name]
        return recipes.WAE(enc(), dec(), penalty=penalty, **kwargs)
    if name == "WAE-GAN":
        return recipes.WAE(enc(), dec(), penalty="gan", adversary=adv(), **kwargs)
    if name == "AAE":
        return recipes.AAE(enc(), dec(), adv(), **kwargs)
    if name == "VAE":
        return recipes.VAE(enc("gaussian"), dec("gaussian"), **kwargs)
    mode = name.split("-")[1].lower()
    return recipes.WGAN(dec(), networks.mlp(2, 1, (8,)), mode=mode, n_critic=N_CRITIC[name], **kwargs)


def _noise(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {"z_prior": torch.randn(n, 2, generator=g), "eps": torch.randn(n, 2, generator=g),
            "z": torch.randn(n, 2, generator=g), "gp_eps": torch.rand(n, generator=g)}


def _data(rows, seed=2):
    return torch.randn(rows, 2, generator=torch.Generator().manual_seed(seed))


def _params(recipe):
    return {name: p.detach().clone() for name, p in recipe.named_parameters()}


def _group_names(recipe, group):
    ids = {id(p) for p in recipe.optimizer_specs()[group].params}
    return {name for name, p in recipe.named_parameters() if id(p) in ids}


# ----------------------------------------------------------------------------- a linear set-up for hand computations

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


WE, BE = np.array([[1.0, 0.5], [0.0, 2.0]]), np.array([0.1, -0.2])
WD, BD = np.array([[0.5, -1.0], [1.5, 0.3]]), np.array([0.0, 0.4])
WA, BA = np.array([[0.7, -0.4]]), np.array([0.2])
X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.7]])
ZP = np.array([[0.5, -0.5], [-1.2, 0.1], [0.0, 1.0]])
Z_CODES = X @ WE.T + BE
RECON_SQ = ((X - (Z_CODES @ WD.T + BD)) ** 2).sum(1).mean()


def _linear_pair(kind_enc="deterministic", kind_dec="deterministic", sigma2=1.0):
    enc = networks.MLPEncoder(2, 2, hidden=(), kind=kind_enc).double()
    dec = networks.MLPDecoder(2, 2, hidden=(), kind=kind_dec, sigma2=sigma2).double()
    if kind_enc == "gaussian":
        _set_linear(enc.net[0], np.vstack([WE, 0.1 * WE]), np.concatenate([BE, [-1.0, 0.5]]))
    else:
        _set_linear(enc.net[0], WE, BE)
    _set_linear(dec.net[0], WD, BD)
    return enc, dec


def _linear_adversary():
    adv = networks.mlp(2, 1).double()
    _set_linear(adv[0], WA, BA)
    return adv


def _t(a):
    return torch.tensor(a, dtype=torch.float64)


# ----------------------------------------------------------------------------- the phase API

@pytest.mark.parametrize("name", NAMES)
def test_phases_are_as_documented(name):
    recipe = _make(name)
    phases = recipe.phases()
    assert all(isinstance(p, recipes.Phase) for p in phases)
    assert [(p.name, p.optimizer, p.repeats, p.new_batch, p.post_step is not None) for p in phases] == PHASES[name]
    assert {p.optimizer for p in phases} == set(recipe.optimizer_specs())
    assert recipe.batches_per_step == N_CRITIC.get(name, 1)
    # every parameter belongs to an optimizer group, and the groups only hold the recipe's parameters
    grouped = set().union(*(_group_names(recipe, g) for g in recipe.optimizer_specs()))
    assert grouped == {n for n, _ in recipe.named_parameters()}
    assert all(len(spec.params) == len(_group_names(recipe, g)) for g, spec in recipe.optimizer_specs().items())


def test_wgan_clip_post_step_is_the_weight_clipping():
    wgan = _make("WGAN-clip", clip=0.05)
    hook = wgan.phases()[0].post_step
    assert hook == wgan.clip_critic
    assert max(p.abs().max().item() for p in wgan.critic.parameters()) > 0.05
    generator_before = _params(wgan.generator)
    hook()
    assert all(p.abs().max() <= 0.05 for p in wgan.critic.parameters())  # float32 comparison
    assert all(torch.equal(generator_before[n], p) for n, p in wgan.generator.named_parameters())


@pytest.mark.parametrize("name", NAMES)
def test_phase_losses_follow_the_schema_and_never_step(name):
    recipe = _make(name)
    before = _params(recipe)
    x, ctx = _data(8), {}
    for phase in recipe.phases():
        out = recipe(phase.name, x, ctx)
        assert "loss" in out and set(out) - {"loss"} == TERMS[name][phase.name]
        assert all(isinstance(v, torch.Tensor) and v.ndim == 0 and v.is_floating_point() and torch.isfinite(v)
                   for v in out.values())
        assert out["loss"].requires_grad  # a graph was built, for the trainer's backward
        assert phase.loss(x, {})["loss"].requires_grad  # the Phase's own loss function, called directly
    after = _params(recipe)
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert all(p.grad is None for p in recipe.parameters())  # no backward was called
    with pytest.raises(ValueError, match="phase must be one of"):
        recipe("nonexistent", x)


@pytest.mark.parametrize("name", NAMES)
def test_loss_keys_equal_the_train_step_columns(name):
    recipe = _make(name)
    bps = recipe.batches_per_step
    x = _data(8 * bps)
    before = _params(recipe)
    keys = set(recipe.loss(x[:8], **_noise(8)))
    assert all(torch.equal(before[n], p) for n, p in recipe.named_parameters())  # loss() does not step
    assert all(p.grad is None for p in recipe.parameters())
    out = train.train_step(recipe, x, recipe.make_optimizers(), batch_size=8)
    assert keys == set(out) == _columns(name)
    assert all(v.ndim == 0 and not v.requires_grad and v.dtype == torch.float32 and torch.isfinite(v)
               for v in out.values())


@pytest.mark.parametrize("name", NAMES)
def test_totals_are_weighted_sums_of_the_unweighted_terms(name):
    options = {"WAE-MMD": {"lam": 3.0}, "WAE-GAN": {"lam": 3.0}, "SWAE": {"lam": 3.0}, "WAE-Sinkhorn": {"lam": 3.0},
               "VAE": {"beta": 0.5}, "WGAN-GP": {"gp_weight": 7.0}}.get(name, {})
    recipe = _make(name, **options)
    torch.manual_seed(3)  # the sliced Wasserstein directions
    out = recipe.loss(_data(8), **_noise(8))
    close = lambda a, b: torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)  # noqa: E731
    if name.startswith("WAE") or name == "SWAE":
        pen = {"WAE-MMD": "mmd", "WAE-GAN": "gan", "SWAE": "sw", "WAE-Sinkhorn": "sinkhorn"}[name]
        close(out["ae_loss"], out["recon"] + 3.0 * out[pen])
        if name == "WAE-GAN":
            close(out["adv_loss"], 3.0 * out["disc"])  # unweighted disc: no dividing by λ by hand
    elif name == "AAE":
        close(out["ae_loss"], out["recon"])
        close(out["adv_loss"], out["disc"])
        close(out["gen_loss"], out["gan"])
    elif name == "VAE":
        close(out["ae_loss"], out["nll"] + 0.5 * out["kl"])
    else:
        gp = 7.0 * out["gp"] if name == "WGAN-GP" else 0.0
        close(out["critic_loss"], -out["w1"] + gp)


@pytest.mark.parametrize("name", NAMES)
def test_loss_with_fixed_noise_is_deterministic(name):
    recipe = _make(name)
    x, noise = _data(8), _noise(8)
    torch.manual_seed(0)
    a = recipe.loss(x, **noise)
    torch.manual_seed(0)
    b = recipe.loss(x, **noise)
    assert all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- objectives by hand

def test_reconstruction_costs_by_hand():
    """The per-sample costs of the reconstruction term (was vegan_lib.models.transport_cost)."""
    x, y = _t([[1.0, 2.0], [0.0, 0.0]]), _t([[0.0, 0.0], [3.0, -4.0]])
    torch.testing.assert_close(costs.paired_cost(x, y, "sqeuclidean"), _t([5.0, 25.0]))
    torch.testing.assert_close(costs.paired_cost(x, y, "euclidean"), _t([math.sqrt(5.0), 5.0]))
    torch.testing.assert_close(costs.paired_cost(x, y, "l1"), _t([3.0, 7.0]))
    torch.testing.assert_close(costs.paired_cost(x, y, "cityblock"), _t([3.0, 7.0]))
    images = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(costs.paired_cost(images, 0 * images), (images ** 2).flatten(1).sum(1))
    z = torch.zeros(2, 2, requires_grad=True)
    costs.paired_cost(z, torch.zeros(2, 2), "euclidean").sum().backward()
    assert torch.isfinite(z.grad).all()
    with pytest.raises(ValueError, match="cost"):
        costs.paired_cost(x, y, "cosine")
    with pytest.raises(TypeError, match="cost"):
        costs.paired_cost(x, y, None)
    with pytest.raises(ValueError, match="same shape"):
        costs.paired_cost(x, y[:1], "l1")


@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean", "l1"])
def test_wae_mmd_objective_by_hand(cost):
    enc, dec = _linear_pair()
    wae = recipes.WAE(enc, dec, penalty="mmd", cost=cost, lam=10.0, cost_scale=0.05)
    out = wae.loss(_t(X), z_prior=_t(ZP))
    diff = X - (Z_CODES @ WD.T + BD)
    per = {"sqeuclidean": (diff ** 2).sum(1), "euclidean": np.sqrt((diff ** 2).sum(1)), "l1": np.abs(diff).sum(1)}[cost]
    recon = 0.05 * per.mean()
    mmd = _np_imq_mmd(Z_CODES, ZP, 2 * 2 * 1.0)
    assert set(out) == {"ae_loss", "recon", "mmd"}
    assert out["recon"].item() == pytest.approx(recon, rel=1e-12)
    assert out["mmd"].item() == pytest.approx(mmd, rel=1e-12)
    assert out["ae_loss"].item() == pytest.approx(recon + 10.0 * mmd, rel=1e-12)


def test_wae_mmd_kernel_options_and_sigma_z():
    enc, dec = _linear_pair()
    out = recipes.WAE(enc, dec, sigma_z=2.0, scale=0.7).loss(_t(X), z_prior=_t(ZP))
    assert out["mmd"].item() == pytest.approx(_np_imq_mmd(Z_CODES, ZP, 0.7), rel=1e-12)
    out = recipes.WAE(enc, dec, sigma_z=2.0).loss(_t(X), z_prior=_t(ZP))  # C = 2·d_z·σ_z² = 16
    assert out["mmd"].item() == pytest.approx(_np_imq_mmd(Z_CODES, ZP, 16.0), rel=1e-12)
    out = recipes.WAE(enc, dec, multiscale=True, kernel="rbf").loss(_t(X), z_prior=_t(ZP))
    expected = penalties.mmd(_t(Z_CODES), _t(ZP), kernel="rbf", multiscale=True)
    assert out["mmd"].item() == pytest.approx(expected.item(), rel=1e-12)
    out = recipes.WAE(enc, dec, kernel="rbf", scale=0.5).loss(_t(X), z_prior=_t(ZP))
    assert out["mmd"].item() == pytest.approx(penalties.mmd(_t(Z_CODES), _t(ZP), "rbf", 0.5).item(), rel=1e-12)


def test_wae_gan_objective_by_hand():
    enc, dec = _linear_pair()
    wae = recipes.WAE(enc, dec, penalty="gan", lam=2.0, adversary=_linear_adversary())
    out = wae.loss(_t(X), z_prior=_t(ZP))
    dq, dp = _sig(Z_CODES @ WA.T + BA).ravel(), _sig(ZP @ WA.T + BA).ravel()
    gan = -np.log(dq).mean()
    disc = -np.log(dp).mean() - np.log(1 - dq).mean()
    assert set(out) == {"ae_loss", "recon", "gan", "adv_loss", "disc"}
    assert out["recon"].item() == pytest.approx(RECON_SQ, rel=1e-12)
    assert out["gan"].item() == pytest.approx(gan, rel=1e-12)
    assert out["ae_loss"].item() == pytest.approx(RECON_SQ + 2.0 * gan, rel=1e-12)
    assert out["disc"].item() == pytest.approx(disc, rel=1e-12)
    assert out["adv_loss"].item() == pytest.approx(2.0 * disc, rel=1e-12)


def test_wae_gan_adversary_phase_uses_detached_codes_of_the_ae_phase():
    wae = _make("WAE-GAN")
    x, ctx = _data(8), {"z_prior": _noise(8)["z_prior"]}
    wae("ae", x, ctx)
    assert torch.equal(ctx["codes"], wae.encoder(x)[0]) and not ctx["codes"].requires_grad
    wae("adv", x, ctx)["loss"].backward()
    assert all(p.grad is None for p in wae.encoder.parameters())  # the adversary's loss does not reach Q
    assert all(p.grad is not None for p in wae.adversary.parameters())


def test_swae_objective_is_the_sliced_wasserstein_penalty():
    enc, dec = _linear_pair()
    wae = recipes.WAE(enc, dec, penalty="sw", lam=4.0)
    assert wae.name == "SWAE"
    torch.manual_seed(5)  # the random projections
    out = wae.loss(_t(X), z_prior=_t(ZP))
    torch.manual_seed(5)
    sw = penalties.sliced_wasserstein_penalty(_t(Z_CODES), _t(ZP))
    assert set(out) == {"ae_loss", "recon", "sw"}
    assert out["recon"].item() == pytest.approx(RECON_SQ, rel=1e-12)
    assert out["sw"].item() == pytest.approx(sw.item(), rel=1e-10) and sw.item() > 0
    assert out["ae_loss"].item() == pytest.approx(RECON_SQ + 4.0 * sw.item(), rel=1e-10)
    # penalty_options reach the penalty
    wae7 = recipes.WAE(enc, dec, penalty="sw", penalty_options={"n_projections": 7})
    torch.manual_seed(5)
    out7 = wae7.loss(_t(X), z_prior=_t(ZP))
    torch.manual_seed(5)
    assert out7["sw"].item() == pytest.approx(
        penalties.sliced_wasserstein_penalty(_t(Z_CODES), _t(ZP), n_projections=7).item(), rel=1e-10)
    assert out7["sw"].item() != pytest.approx(sw.item(), rel=1e-6)


def test_wae_sinkhorn_objective_is_the_sinkhorn_penalty():
    enc, dec = _linear_pair()
    wae = recipes.WAE(enc, dec, penalty="sinkhorn", lam=4.0)
    assert wae.name == "WAE-Sinkhorn"
    out = wae.loss(_t(X), z_prior=_t(ZP))
    s = penalties.sinkhorn_penalty(_t(Z_CODES), _t(ZP))
    assert set(out) == {"ae_loss", "recon", "sinkhorn"}
    assert out["recon"].item() == pytest.approx(RECON_SQ, rel=1e-12)
    assert out["sinkhorn"].item() == pytest.approx(s.item(), rel=1e-9) and s.item() > 0
    assert out["ae_loss"].item() == pytest.approx(RECON_SQ + 4.0 * s.item(), rel=1e-9)
    out = recipes.WAE(enc, dec, penalty="sinkhorn", penalty_options={"reg": 0.5}).loss(_t(X), z_prior=_t(ZP))
    assert out["sinkhorn"].item() == pytest.approx(
        penalties.sinkhorn_penalty(_t(Z_CODES), _t(ZP), reg=0.5).item(), rel=1e-9)


def test_wae_sinkhorn_default_reg_follows_the_prior_scale():
    enc, dec = _linear_pair()
    zp = 2.0 * _t(ZP)
    out = recipes.WAE(enc, dec, penalty="sinkhorn", sigma_z=2.0).loss(_t(X), z_prior=zp)
    expected = penalties.sinkhorn_penalty(_t(Z_CODES), zp, sigma_z=2.0)
    assert out["sinkhorn"].item() == pytest.approx(expected.item(), rel=1e-9)


def test_wae_nll_cost_with_gaussian_decoder_is_scaled_squared_cost():
    """Chapter 4's relation: Gaussian NLL = ‖x − G(z)‖²/(2σ²) + (D/2) log(2πσ²)."""
    enc, dec = _linear_pair(kind_dec="gaussian", sigma2=0.25)
    out = recipes.WAE(enc, dec, cost="nll").loss(_t(X), z_prior=_t(ZP))
    assert out["recon"].item() == pytest.approx(RECON_SQ / 0.5 + math.log(2 * math.pi * 0.25), rel=1e-12)


def test_wae_gaussian_encoder_uses_eps():
    enc, dec = _linear_pair(kind_enc="gaussian")
    eps = np.array([[0.3, -1.0], [1.1, 0.2], [-0.4, 0.0]])
    out = recipes.WAE(enc, dec).loss(_t(X), z_prior=_t(ZP), eps=_t(eps))
    logvar = X @ (0.1 * WE).T + np.array([-1.0, 0.5])
    z = Z_CODES + np.exp(0.5 * logvar) * eps
    assert out["recon"].item() == pytest.approx(((X - (z @ WD.T + BD)) ** 2).sum(1).mean(), rel=1e-12)
    assert out["mmd"].item() == pytest.approx(_np_imq_mmd(z, ZP, 4.0), rel=1e-12)


@pytest.mark.parametrize("beta", [1.0, 0.25])
def test_vae_objective_by_hand(beta):
    enc, dec = _linear_pair("gaussian", "gaussian", sigma2=0.5)
    eps = np.array([[0.3, -1.0], [1.1, 0.2], [-0.4, 0.0]])
    out = recipes.VAE(enc, dec, beta=beta).loss(_t(X), eps=_t(eps))
    mu = Z_CODES
    logvar = X @ (0.1 * WE).T + np.array([-1.0, 0.5])
    z = mu + np.exp(0.5 * logvar) * eps
    nll = (((X - (z @ WD.T + BD)) ** 2).sum(1) / (2 * 0.5) + math.log(2 * math.pi * 0.5)).mean()
    kl = (0.5 * (np.exp(logvar) + mu ** 2 - 1 - logvar).sum(1)).mean()
    assert set(out) == {"ae_loss", "nll", "kl"}
    assert out["nll"].item() == pytest.approx(nll, rel=1e-12)
    assert out["kl"].item() == pytest.approx(kl, rel=1e-12)
    assert out["ae_loss"].item() == pytest.approx(nll + beta * kl, rel=1e-12)


def test_vae_kl_uses_sigma_z():
    enc, dec = _linear_pair("gaussian", "gaussian", sigma2=0.5)
    eps = _t(np.zeros((3, 2)))
    out = recipes.VAE(enc, dec, sigma_z=2.0).loss(_t(X), eps=eps)
    mu, logvar = enc(_t(X))
    torch.testing.assert_close(out["kl"], penalties.kl_gaussian(mu, logvar, 2.0).mean())


def test_aae_objective_by_hand():
    enc, dec = _linear_pair()
    out = recipes.AAE(enc, dec, _linear_adversary()).loss(_t(X), z_prior=_t(ZP))
    dq, dp = _sig(Z_CODES @ WA.T + BA).ravel(), _sig(ZP @ WA.T + BA).ravel()
    assert set(out) == {"ae_loss", "recon", "adv_loss", "disc", "gen_loss", "gan"}
    assert out["recon"].item() == pytest.approx(RECON_SQ, rel=1e-12)
    assert out["ae_loss"].item() == pytest.approx(RECON_SQ, rel=1e-12)
    disc = -np.log(dp).mean() - np.log(1 - dq).mean()
    assert out["disc"].item() == pytest.approx(disc, rel=1e-12)
    assert out["adv_loss"].item() == pytest.approx(disc, rel=1e-12)
    assert out["gan"].item() == pytest.approx(-np.log(dq).mean(), rel=1e-12)
    assert out["gen_loss"].item() == pytest.approx(-np.log(dq).mean(), rel=1e-12)


@pytest.mark.parametrize("mode", ["clip", "gp"])
def test_wgan_objective_by_hand(mode):
    gen = networks.MLPDecoder(2, 2, hidden=()).double()
    _set_linear(gen.net[0], WD, BD)
    critic = networks.mlp(2, 1).double()
    _set_linear(critic[0], WA, BA)  # linear critic: ‖∇f‖ = ‖w‖ everywhere
    wgan = recipes.WGAN(gen, critic, mode=mode)
    out = wgan.loss(_t(X), z=_t(ZP))
    fake = ZP @ WD.T + BD
    f = lambda a: (a @ WA.T + BA).ravel()  # noqa: E731
    w1 = f(X).mean() - f(fake).mean()
    gp = (np.linalg.norm(WA) - 1) ** 2
    assert set(out) == ({"critic_loss", "w1", "gen_loss"} | ({"gp"} if mode == "gp" else set()))
    assert out["w1"].item() == pytest.approx(w1, rel=1e-12)
    assert out["gen_loss"].item() == pytest.approx(-f(fake).mean(), rel=1e-12)
    expected = -w1 + (10.0 * gp if mode == "gp" else 0.0)
    assert out["critic_loss"].item() == pytest.approx(expected, rel=1e-10)
    if mode == "gp":
        assert out["gp"].item() == pytest.approx(gp, rel=1e-10)
    d = wgan.critic_loss(_t(X), {"z": _t(ZP)})
    assert d["w1"].item() == pytest.approx(w1, rel=1e-12) and d["loss"].item() == pytest.approx(expected, rel=1e-10)


def test_wgan_gradient_penalty_uses_gp_eps_by_hand():
    """A tanh critic f(x) = v·tanh(Wx + b) + c: ∇f(x) = Wᵀ(v ⊙ (1 − tanh²(Wx + b)))."""
    gen = networks.MLPDecoder(2, 2, hidden=()).double()
    _set_linear(gen.net[0], WD, BD)
    critic = networks.mlp(2, 1, (3,), activation=torch.nn.Tanh).double()
    W, b = np.array([[1.0, -0.5], [0.3, 0.8], [-1.2, 0.4]]), np.array([0.1, -0.3, 0.2])
    v, c = np.array([[0.9, -1.5, 0.6]]), np.array([0.05])
    _set_linear(critic[0], W, b)
    _set_linear(critic[2], v, c)
    gp_eps = np.array([0.2, 0.9, 0.5])
    out = recipes.WGAN(gen, critic, mode="gp", gp_weight=3.0).loss(_t(X), z=_t(ZP), gp_eps=_t(gp_eps))
    fake = ZP @ WD.T + BD
    x_hat = gp_eps[:, None] * X + (1 - gp_eps[:, None]) * fake
    grad = (v * (1 - np.tanh(x_hat @ W.T + b) ** 2)) @ W
    gp = ((np.linalg.norm(grad, axis=1) - 1) ** 2).mean()
    f = lambda a: (np.tanh(a @ W.T + b) @ v.T + c).ravel()  # noqa: E731
    w1 = f(X).mean() - f(fake).mean()
    assert out["gp"].item() == pytest.approx(gp, rel=1e-10)
    assert out["critic_loss"].item() == pytest.approx(-w1 + 3.0 * gp, rel=1e-10)
    other = recipes.WGAN(gen, critic, mode="gp").loss(_t(X), z=_t(ZP), gp_eps=_t([0.0, 0.0, 1.0]))
    assert other["gp"].item() != pytest.approx(gp, rel=1e-6)  # gp_eps is really used


# ----------------------------------------------------------------------------- training steps

class _Watch:
    """Wraps an optimizer: at each step(), records its group name, the recipe parameters with a nonzero
    gradient, and the recipe parameters the step changed."""

    def __init__(self, name, opt, recipe, log):
        self.name, self.opt, self.recipe, self.log = name, opt, recipe, log

    @property
    def param_groups(self):
        return self.opt.param_groups

    def zero_grad(self, set_to_none=True):
        self.opt.zero_grad(set_to_none=set_to_none)

    def step(self):
        before = _params(self.recipe)
        graded = {n for n, p in self.recipe.named_parameters() if p.grad is not None and bool(p.grad.any())}
        self.opt.step()
        changed = {n for n, p in self.recipe.named_parameters() if not torch.equal(before[n], p)}
        self.log.append((self.name, graded, changed))


@pytest.mark.parametrize("name", NAMES)
def test_train_step_updates_exactly_the_phase_groups_in_order(name):
    recipe = _make(name)
    log = []
    opts = {k: _Watch(k, o, recipe, log) for k, o in recipe.make_optimizers().items()}
    out = train.train_step(recipe, _data(8 * recipe.batches_per_step), opts, batch_size=8)
    expected_order = [g for _, g, repeats, _, _ in PHASES[name] for _ in range(repeats)]
    assert [g for g, _, _ in log] == expected_order
    for group, graded, changed in log:
        mine = _group_names(recipe, group)
        assert changed <= mine, group  # nothing outside the step's optimizer group...
        assert changed == graded & mine, group  # ...and all of it that has a gradient
        assert len(changed) >= len(mine) - 1, group  # (WGAN: the critic's output bias cancels out of w1)
    if name in ("WAE-GAN", "AAE"):
        # the encoder's step (WAE-GAN "ae", AAE "gen") back-propagates into the adversary, which it must not move
        _, graded, changed = log[0 if name == "WAE-GAN" else 2]
        assert {n for n in graded - changed if n.startswith("adversary.")}
    assert set(out) == _columns(name)


def test_aae_optimizer_groups():
    aae = _make("AAE")
    specs = aae.optimizer_specs()
    assert {id(p) for p in specs["gen"].params} == {id(p) for p in aae.encoder.parameters()}
    assert {id(p) for p in specs["ae"].params} == {id(p) for p in [*aae.encoder.parameters(),
                                                                    *aae.decoder.parameters()]}
    assert {id(p) for p in specs["adv"].params} == {id(p) for p in aae.adversary.parameters()}
    assert (specs["ae"].lr, specs["adv"].lr, specs["gen"].lr) == (1e-3, 5e-4, 5e-4)


def test_wae_gan_optimizer_groups():
    wae = _make("WAE-GAN")
    specs = wae.optimizer_specs()
    assert {id(p) for p in specs["adv"].params} == {id(p) for p in wae.adversary.parameters()}
    assert specs["ae"].lr == 1e-3 and specs["adv"].lr == 5e-4 and specs["ae"].betas == (0.5, 0.999)
    assert all(s.algorithm == "adam" for s in specs.values())


def test_wgan_step_uses_n_critic_batches_and_clips():
    wgan = _make("WGAN-clip")
    assert wgan.batches_per_step == 3
    opts = wgan.make_optimizers()
    seen = []
    hook = wgan.critic.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    x = _data(12) * 5
    out = train.train_step(wgan, x, opts, batch_size=4)
    hook.remove()
    assert [t.shape[0] for t in seen] == [4, 4] * 3 + [4]  # real and fake per critic step, then the generator's
    for k in range(3):  # each critic step sees its own real minibatch, in order
        assert torch.equal(seen[2 * k], x[4 * k:4 * (k + 1)])
    assert all(p.abs().max() <= 0.01 for p in wgan.critic.parameters())
    assert isinstance(opts["critic"], torch.optim.RMSprop) and opts["critic"].defaults["lr"] == 5e-5
    assert set(out) == {"critic_loss", "w1", "gen_loss"}
    with pytest.raises(ValueError, match="batches_per_step = 3"):
        train.train_step(wgan, _data(10), opts)
    gp = _make("WGAN-GP")
    o = gp.make_optimizers()["critic"]
    assert isinstance(o, torch.optim.Adam) and o.defaults["betas"] == (0.5, 0.9) and o.defaults["lr"] == 1e-4


def test_wgan_critic_loss_is_averaged_over_the_critic_steps():
    wgan = _make("WGAN-GP")
    opts = {k: torch.optim.SGD(spec.params, lr=0.0) for k, spec in wgan.optimizer_specs().items()}  # no update
    x, noise = _data(16), _noise(8)
    ctx_a, ctx_b = {"z": noise["z"], "gp_eps": noise["gp_eps"]}, {"z": noise["z"], "gp_eps": noise["gp_eps"]}
    a, b = wgan.critic_loss(x[:8], ctx_a), wgan.critic_loss(x[8:], ctx_b)

    class _Fixed(torch.nn.Module):  # calls the recipe with the fixed noise
        def forward(self, phase, xb, ctx):
            ctx.update(z=noise["z"], gp_eps=noise["gp_eps"])
            return wgan(phase, xb, ctx)

    out = train.train_step(wgan, x, opts, batch_size=8, model=_Fixed())
    torch.testing.assert_close(out["w1"], (a["w1"] + b["w1"]).detach() / 2)
    torch.testing.assert_close(out["critic_loss"], (a["loss"] + b["loss"]).detach() / 2)


def test_train_step_rejects_a_ragged_stack_of_minibatches():
    wgan = _make("WGAN-clip")
    with pytest.raises(ValueError):
        train.train_step(wgan, _data(10), wgan.make_optimizers(), batch_size=4)


@pytest.mark.parametrize("name", ["SWAE", "WAE-Sinkhorn"])
def test_trainer_step_for_the_new_wae_penalties(name):
    recipe = _make(name)
    trainer = train.Trainer(recipe, _data(64), batch_size=32, steps=2, progress=False, seed=0, log_every=1)
    assert trainer.fit() is trainer
    pen = {"SWAE": "sw", "WAE-Sinkhorn": "sinkhorn"}[name]
    h = trainer.history
    assert h["step"] == [1, 2] and {"ae_loss", "recon", pen} <= set(h)
    assert all(math.isfinite(v) for k in ("ae_loss", "recon", pen) for v in h[k])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", NAMES)
def test_train_step_on_device(name, device):
    recipe = _make(name).to(device)
    x = _data(8 * recipe.batches_per_step).to(device)
    out = train.train_step(recipe, x, recipe.make_optimizers(), batch_size=8)
    assert set(out) == _columns(name)
    assert all(v.device.type == device and torch.isfinite(v) for v in out.values())
    assert recipe.sample(3).device.type == device


# ----------------------------------------------------------------------------- optimizers

def test_optimizer_spec_build_settings():
    p = [torch.nn.Parameter(torch.zeros(3))]
    spec = recipes.OptimizerSpec(p, "adam", 1e-3, (0.5, 0.999))
    opt = spec.build(eps=1e-12)
    assert type(opt) is torch.optim.Adam
    assert opt.defaults["eps"] == 1e-12 and opt.defaults["lr"] == 1e-3 and opt.defaults["betas"] == (0.5, 0.999)
    assert opt.param_groups[0]["params"][0] is p[0]
    opt = spec.build(algorithm="sgd", lr=0.1, momentum=0.9)
    assert type(opt) is torch.optim.SGD and opt.defaults["lr"] == 0.1 and opt.defaults["momentum"] == 0.9
    opt = recipes.OptimizerSpec(p, "rmsprop", 5e-5, eps=1e-6, momentum=0.5).build()
    assert type(opt) is torch.optim.RMSprop
    assert (opt.defaults["lr"], opt.defaults["eps"], opt.defaults["momentum"]) == (5e-5, 1e-6, 0.5)
    opt = spec.build(betas=(0.9, 0.99), lr=2e-4)
    assert opt.defaults["betas"] == (0.9, 0.99) and opt.defaults["lr"] == 2e-4
    assert spec.lr == 1e-3 and spec.eps == 1e-8  # overrides leave the spec alone


@pytest.mark.parametrize("overrides, exc, match", [
    ({"weight_decay": 0.1}, ValueError, "unknown optimizer settings"),
    ({"algorithm": "lbfgs"}, ValueError, "algorithm"),
    ({"algorithm": 1}, TypeError, "algorithm"),
    ({"lr": 0.0}, ValueError, "lr"),
    ({"lr": "0.1"}, TypeError, "lr"),
    ({"eps": -1e-8}, ValueError, "eps"),
    ({"eps": None}, TypeError, "eps"),
    ({"momentum": -0.1}, ValueError, "momentum"),
    ({"betas": (0.5,)}, ValueError, "betas"),
    ({"betas": (0.5, 1.0)}, ValueError, "betas"),
    ({"betas": ("a", 0.9)}, TypeError, "betas"),
])
def test_optimizer_spec_build_errors(overrides, exc, match):
    spec = recipes.OptimizerSpec([torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(exc, match=match):
        spec.build(**overrides)


def test_make_optimizers_overrides_and_errors():
    wae = _make("WAE-MMD")
    opt = wae.make_optimizers({"ae": {"lr": 1e-4}})["ae"]
    assert opt.defaults["lr"] == 1e-4 and opt.defaults["betas"] == (0.5, 0.999)
    assert wae.make_optimizers({"ae": {"eps": 1e-12}})["ae"].defaults["eps"] == 1e-12
    sgd = wae.make_optimizers({"ae": {"algorithm": "sgd", "lr": 0.1}})["ae"]
    assert type(sgd) is torch.optim.SGD and sgd.defaults["lr"] == 0.1
    aae = _make("AAE")
    opts = aae.make_optimizers({g: {"eps": 1e-12} for g in aae.optimizer_specs()})
    assert set(opts) == {"ae", "adv", "gen"} and all(o.defaults["eps"] == 1e-12 for o in opts.values())
    specs = aae.optimizer_specs()
    opts = aae.make_optimizers({g: {"algorithm": "sgd", "lr": s.lr * 0.5} for g, s in specs.items()})
    assert all(type(o) is torch.optim.SGD and o.defaults["lr"] == specs[g].lr * 0.5 for g, o in opts.items())
    with pytest.raises(ValueError, match="unknown optimizer group"):
        wae.make_optimizers({"adv": {"lr": 1.0}})
    with pytest.raises(ValueError, match="unknown optimizer settings"):
        wae.make_optimizers({"ae": {"weight_decay": 0.9}})


def test_compile_targets():
    assert _make("WGAN-GP").compile_targets() == ("generator",)  # no double backward under torch.compile
    assert set(_make("WGAN-clip").compile_targets()) == {"generator", "critic"}
    assert set(_make("WAE-MMD").compile_targets()) == {"encoder", "decoder"}
    assert set(_make("WAE-GAN").compile_targets()) == {"encoder", "decoder", "adversary"}
    assert set(_make("AAE").compile_targets()) == {"encoder", "decoder", "adversary"}
    assert set(_make("VAE").compile_targets()) == {"encoder", "decoder"}


# ----------------------------------------------------------------------------- prior, encode, decode

def test_prior_sample_uses_sigma_z_and_generator():
    wae = _make("WAE-MMD", sigma_z=2.0)
    a = wae.prior_sample(20000, torch.Generator().manual_seed(0))
    b = wae.prior_sample(20000, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (20000, 2)
    assert abs(a.std().item() - 2.0) < 0.05 and abs(a.mean().item()) < 0.05
    torch.testing.assert_close(wae.sample(4, torch.Generator().manual_seed(1)),
                               wae.decode(wae.prior_sample(4, torch.Generator().manual_seed(1))))


def test_prior_draws_in_the_losses_use_sigma_z():
    wae = _make("WAE-MMD", sigma_z=3.0)
    x = _data(8)
    torch.manual_seed(0)
    drawn = wae.loss(x)["mmd"]
    torch.manual_seed(0)
    zp = torch.randn(8, 2) * 3.0
    torch.testing.assert_close(drawn, wae.loss(x, z_prior=zp)["mmd"])


def test_encode_decode_reconstruct():
    vae = _make("VAE")
    x = _data(5)
    mu = vae.encoder(x)[0]
    torch.testing.assert_close(vae.encode(x), mu)
    torch.manual_seed(0)
    sampled = vae.encode(x, sample=True)
    assert sampled.shape == (5, 2) and not torch.equal(sampled, mu)
    torch.testing.assert_close(vae.reconstruct(x), vae.decoder(mu))
    wgan = _make("WGAN-GP")
    assert wgan.x_shape == (2,) and wgan.sample(3).shape == (3, 2)
    with pytest.raises(NotImplementedError, match="no encoder"):
        wgan.encode(x)
    with pytest.raises(NotImplementedError, match="no encoder"):
        wgan.reconstruct(x)


# ----------------------------------------------------------------------------- the penalty registry

def test_wae_penalties_are_the_registry():
    assert set(recipes.WAE.PENALTIES) == set(penalties.LATENT_PENALTIES) | {"gan"}
    assert {p: recipes.WAE(*_linear_pair(), penalty=p).name for p in ("mmd", "sw", "sinkhorn")} == {
        "mmd": "WAE-MMD", "sw": "SWAE", "sinkhorn": "WAE-Sinkhorn"}


@pytest.mark.parametrize("penalty, options", [("sw", {"reg": 1.0}), ("sinkhorn", {"n_projections": 3}),
                                              ("mmd", {"bandwidth": 1.0}), ("gan", {"n_projections": 3})])
def test_wae_penalty_options_unknown_key_is_a_value_error(penalty, options):
    with pytest.raises(ValueError, match="penalty"):
        recipes.WAE(*_linear_pair(), penalty=penalty, penalty_options=options)


@pytest.mark.parametrize("options", [5, "abc", [("n_projections", 5)]])
def test_wae_penalty_options_not_a_dict_is_a_type_error(options):
    with pytest.raises(TypeError, match="penalty_options"):
        recipes.WAE(*_linear_pair(), penalty="sw", penalty_options=options)


def test_mmd_options_belong_to_the_mmd_penalty():
    with pytest.raises(ValueError, match="options of penalty='mmd'"):
        recipes.WAE(*_linear_pair(), penalty="sw", kernel="rbf")
    with pytest.raises(ValueError, match="as WAE arguments"):
        recipes.WAE(*_linear_pair(), penalty="mmd", penalty_options={"kernel": "rbf"})
    with pytest.raises(ValueError, match="kernel"):
        recipes.WAE(*_linear_pair(), penalty="sw", kernel="abc")


def test_wae_penalty_options_are_kept():
    wae = recipes.WAE(*_linear_pair(), penalty="sw", penalty_options={"n_projections": 9})
    assert wae.penalty_options == {"n_projections": 9}
    assert recipes.WAE(*_linear_pair(), penalty="sinkhorn").penalty_options == {"sigma_z": 1.0}


# ----------------------------------------------------------------------------- errors

def _enc():
    return networks.MLPEncoder(2, 2, hidden=())


def _dec(kind="deterministic"):
    return networks.MLPDecoder(2, 2, hidden=(), kind=kind)


@pytest.mark.parametrize("make, exc, match", [
    # wrong types
    (lambda: recipes.WAE(object(), _dec()), TypeError, "encoder"),
    (lambda: recipes.WAE(torch.nn.Linear(2, 2), _dec()), TypeError, "encoder"),
    (lambda: recipes.WAE(_enc(), torch.nn.Linear(2, 2)), TypeError, "decoder"),
    (lambda: recipes.WAE(_enc(), _dec(), lam="1"), TypeError, "lam"),
    (lambda: recipes.WAE(_enc(), _dec(), kernel=3), TypeError, "kernel"),
    (lambda: recipes.WAE(_enc(), _dec(), penalty=1), TypeError, "penalty"),
    (lambda: recipes.WAE(_enc(), _dec(), cost=None), TypeError, "cost"),
    (lambda: recipes.WAE(_enc(), _dec(), scale="1"), TypeError, "scale"),
    (lambda: recipes.WAE(_enc(), _dec(), multiscale=1), TypeError, "multiscale"),
    (lambda: recipes.WAE(_enc(), _dec(), sigma_z="1"), TypeError, "sigma_z"),
    (lambda: recipes.WAE(_enc(), _dec(), lr=None), TypeError, "lr"),
    (lambda: recipes.WAE(_enc(), _dec(), penalty="gan", adversary=object()), TypeError, "adversary"),
    (lambda: recipes.AAE(_enc(), _dec(), "adversary"), TypeError, "adversary"),
    (lambda: recipes.AAE(_enc(), _dec(), gen_lr="1"), TypeError, "gen_lr"),
    (lambda: recipes.VAE(object(), _dec("gaussian")), TypeError, "encoder"),
    (lambda: recipes.VAE(networks.MLPEncoder(2, 2, kind="gaussian"), _dec("gaussian"), beta="1"), TypeError, "beta"),
    (lambda: recipes.WGAN(object(), networks.mlp(2, 1)), TypeError, "generator"),
    (lambda: recipes.WGAN(_dec(), object()), TypeError, "critic"),
    (lambda: recipes.WGAN(_dec(), networks.mlp(2, 1), n_critic=2.0), TypeError, "n_critic"),
    (lambda: recipes.WGAN(_dec(), networks.mlp(2, 1), mode=None), TypeError, "mode"),
    (lambda: recipes.WGAN(_dec(), networks.mlp(2, 1), clip="0.01"), TypeError, "clip"),
    # wrong values
    (lambda: recipes.WAE(_enc(), _dec(), lam=-1), ValueError, "lam"),
    (lambda: recipes.WAE(_enc(), _dec(), kernel="abc"), ValueError, "kernel"),
    (lambda: recipes.WAE(_enc(), _dec(), penalty="kl"), ValueError, "penalty"),
    (lambda: recipes.WAE(_enc(), _dec(), cost="hamming"), ValueError, "cost"),
    (lambda: recipes.WAE(_enc(), _dec(), cost="nll"), ValueError, "nll"),
    (lambda: recipes.WAE(_enc(), _dec(), scale=0.0), ValueError, "scale"),
    (lambda: recipes.WAE(_enc(), _dec(), sigma_z=0.0), ValueError, "sigma_z"),
    (lambda: recipes.WAE(_enc(), _dec(), cost_scale=-0.05), ValueError, "cost_scale"),
    (lambda: recipes.WAE(_enc(), _dec(), lam=math.nan), ValueError, "lam"),
    (lambda: recipes.WAE(_enc(), _dec(), adversary=networks.mlp(2, 1)), ValueError, "adversary"),
    (lambda: recipes.WAE(networks.MLPEncoder(2, 3), _dec()), ValueError, "latent sizes differ"),
    (lambda: recipes.WAE(networks.MLPEncoder(3, 2), _dec()), ValueError, "data shapes differ"),
    (lambda: recipes.VAE(_enc(), _dec("gaussian")), ValueError, "VAE needs an encoder"),
    (lambda: recipes.VAE(networks.MLPEncoder(2, 2, kind="gaussian"), _dec()), ValueError, "VAE needs a decoder"),
    (lambda: recipes.VAE(networks.MLPEncoder(2, 2, kind="gaussian"), _dec("gaussian"), beta=-1), ValueError,
     "beta"),
    (lambda: recipes.AAE(_enc(), _dec(), cost="cosine"), ValueError, "cost"),
    (lambda: recipes.AAE(_enc(), _dec(), adv_lr=0), ValueError, "adv_lr"),
    (lambda: recipes.WGAN(_dec("gaussian"), networks.mlp(2, 1)), ValueError, "deterministic generator"),
    (lambda: recipes.WGAN(_dec(), networks.mlp(2, 1), mode="spectral"), ValueError, "mode"),
    (lambda: recipes.WGAN(_dec(), networks.mlp(2, 1), n_critic=0), ValueError, "n_critic"),
    (lambda: recipes.WGAN(_dec(), networks.mlp(2, 1), clip=-0.01), ValueError, "clip"),
    (lambda: recipes.WGAN(_dec(), networks.mlp(2, 1), gp_weight=-1.0), ValueError, "gp_weight"),
    (lambda: recipes.WGAN(_dec(), networks.mlp(2, 1), lr=0.0), ValueError, "lr"),
    (lambda: recipes.WGAN(networks.Decoder(networks.mlp(2, 2), 2), networks.mlp(2, 1)), ValueError, "z_dim"),
])
def test_recipe_constructor_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_loss_input_errors():
    wae = recipes.WAE(*_linear_pair())
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        wae.loss(torch.zeros(3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        wae.loss(torch.zeros(3, 1, 2, dtype=torch.float64))
    with pytest.raises(TypeError, match="floating dtype"):
        wae.loss(torch.zeros(3, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch tensor"):
        wae.loss(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="eps must have shape"):
        recipes.VAE(*_linear_pair("gaussian", "gaussian")).loss(_t(X), eps=_t(np.zeros((3, 3))))
    with pytest.raises(ValueError, match="same latent dimension"):
        wae.loss(_t(X), z_prior=_t(np.zeros((3, 3))))
    with pytest.raises(ValueError, match="eps must have shape"):
        _make("WGAN-GP").loss(_data(8), gp_eps=torch.rand(3))


@pytest.mark.parametrize("x, exc", [(torch.zeros(4, 3), ValueError), (torch.zeros(4, 2, dtype=torch.int64), TypeError)])
def test_train_step_input_errors(x, exc):
    wae = _make("WAE-MMD")
    with pytest.raises(exc, match="x"):
        train.train_step(wae, x, wae.make_optimizers())


def test_deprecated_recipe_train_step_forwards_to_the_trainers_step():
    a, b = _make("WAE-MMD"), _make("WAE-MMD")
    x = _data(8)
    torch.manual_seed(0)
    with pytest.warns(DeprecationWarning, match="vegan_lib.train.train_step"):
        old = a.train_step(x, a.make_optimizers())
    torch.manual_seed(0)
    new = train.train_step(b, x, b.make_optimizers())
    assert old.keys() == new.keys() and all(torch.equal(old[k], new[k]) for k in old)


def test_wgan_critic_only_against_fixed_codes():
    gen = networks.MLPDecoder(2, (2,), hidden=())
    critic = networks.mlp(2, 1, (8,))
    codes = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
    wgan = recipes.WGAN(gen, critic, mode="clip", n_critic=1, train_generator=False, codes=codes)
    assert [p.name for p in wgan.phases()] == ["critic"] and set(wgan.optimizer_specs()) == {"critic"}
    before = [p.detach().clone() for p in gen.parameters()]
    torch.manual_seed(1)
    out = train.train_step(wgan, _data(8), wgan.make_optimizers())
    assert set(out) == {"critic_loss", "w1"}
    assert all(torch.equal(a, b) for a, b in zip(before, gen.parameters()))  # the generator is frozen
    z = wgan._z(50, {})
    assert all(any(torch.equal(row, c) for c in codes) for row in z)  # draws of the fixed codes
    assert torch.equal(wgan.state_dict()["codes"], codes)
    with pytest.raises(ValueError, match=r"codes must have shape \(m, 2\)"):
        recipes.WGAN(gen, critic, codes=torch.randn(4, 3))
    with pytest.raises(TypeError, match="train_generator must be a bool"):
        recipes.WGAN(gen, critic, train_generator=0)
