"""Tests of vegan_lib.networks: shapes of the MLP and DCGAN-style networks, the WAE code's
initialisation, decoder likelihoods by hand, the reparametrisation trick, and argument errors."""
import math

import numpy as np
import pytest
import torch

from vegan_lib import networks

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# A linear decoder whose likelihoods are computed by hand with NumPy.
WD, BD = np.array([[0.5, -1.0], [1.5, 0.3]]), np.array([0.0, 0.4])
X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.7]])
ZP = np.array([[0.5, -0.5], [-1.2, 0.1], [0.0, 1.0]])


def _t(a):
    return torch.tensor(a, dtype=torch.float64)


def _sig(t):
    return 1.0 / (1.0 + np.exp(-t))


def _linear_decoder(kind="deterministic", sigma2=1.0):
    dec = networks.MLPDecoder(2, 2, hidden=(), kind=kind, sigma2=sigma2).double()
    with torch.no_grad():
        dec.net[0].weight.copy_(_t(WD))
        dec.net[0].bias.copy_(_t(BD))
    return dec


# ----------------------------------------------------------------------------- shapes

def test_conv_encoder_and_decoder_shapes_follow_the_paper():
    with torch.device("meta"):  # the paper's width, without allocating or initialising ~10M weights
        enc = networks.ConvEncoder(z_dim=8, base_channels=128)
        dec = networks.ConvDecoder(z_dim=8, base_channels=128)
        adversary = networks.latent_adversary(8)
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [128, 256, 512, 1024]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert enc.net[1].in_features == 1024 * 2 * 2  # 28 -> 14 -> 7 -> 4 -> 2 ('SAME')
    assert dec.net[0].out_features == 7 * 7 * 1024
    assert [m.out_channels for m in dec.modules() if isinstance(m, torch.nn.ConvTranspose2d)] == [512, 256]
    torch.manual_seed(0)
    small_enc, small_dec = networks.ConvEncoder(8, base_channels=4), networks.ConvDecoder(8, base_channels=4)
    x = torch.rand(5, 1, 28, 28)
    z, logvar = small_enc(x)
    assert z.shape == (5, 8) and logvar is None
    y = small_dec(z)
    assert y.shape == (5, 1, 28, 28) and (y >= 0).all() and (y <= 1).all()
    g_enc = networks.ConvEncoder(8, kind="gaussian", base_channels=4)
    mu, logvar = g_enc(x)
    assert mu.shape == logvar.shape == (5, 8)
    assert g_enc.sample(x).shape == (5, 8)
    b_dec = networks.ConvDecoder(8, kind="bernoulli", base_channels=4)
    assert b_dec.logits(z).shape == (5, 1, 28, 28)
    torch.testing.assert_close(b_dec(z), torch.sigmoid(b_dec.logits(z)))
    assert networks.ConvCritic(4)(x).shape == (5, 1)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in networks.ConvCritic(4).modules())  # GP forbids BN
    assert networks.latent_adversary(8, width=16)(z).shape == (5, 1)
    assert [m.out_features for m in adversary.modules() if isinstance(m, torch.nn.Linear)] == [512, 512, 512, 512, 1]


def test_conv_networks_other_sizes_and_channels():
    torch.manual_seed(0)
    enc = networks.ConvEncoder(4, base_channels=4, in_channels=3, image_size=32)
    dec = networks.ConvDecoder(4, base_channels=4, out_channels=3, image_size=32)
    x = torch.rand(2, 3, 32, 32)
    assert enc.x_shape == dec.x_shape == (3, 32, 32)
    assert enc(x)[0].shape == (2, 4) and dec(enc(x)[0]).shape == (2, 3, 32, 32)
    assert networks.ConvCritic(4, in_channels=3, image_size=32)(x).shape == (2, 1)
    odd = networks.ConvEncoder(4, base_channels=4, image_size=30)  # 30 -> 15 -> 8 -> 4 -> 2, asymmetric 'SAME'
    assert odd(torch.rand(2, 1, 30, 30))[0].shape == (2, 4)


def test_init_std_reproduces_the_wae_code_initialisation():
    torch.manual_seed(0)
    enc = networks.ConvEncoder(8, base_channels=8, init_std=0.01)
    w = torch.cat([m.weight.flatten() for m in enc.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(w.std().item() - 0.01) < 1e-3
    assert all((m.bias == 0).all() for m in enc.modules() if isinstance(m, torch.nn.Conv2d))
    dec = networks.ConvDecoder(8, base_channels=8, init_std=0.01)
    layers = [m for m in dec.modules() if isinstance(m, (torch.nn.Linear, torch.nn.ConvTranspose2d, torch.nn.Conv2d))]
    assert len(layers) == 4
    w = torch.cat([m.weight.flatten() for m in layers])
    assert abs(w.std().item() - 0.01) < 1e-3 and all((m.bias == 0).all() for m in layers)
    bn = [m for m in dec.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bn and all((m.weight == 1).all() and (m.bias == 0).all() for m in bn)  # BN left untouched
    default = networks.ConvEncoder(8, base_channels=8)  # PyTorch's init: not N(0, 0.01²)
    w = torch.cat([m.weight.flatten() for m in default.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(w.std().item() - 0.01) > 5e-3


def test_mlp_networks_shapes():
    torch.manual_seed(0)
    enc = networks.MLPEncoder((1, 4, 4), 3, hidden=(8,), kind="gaussian")
    mu, logvar = enc(torch.rand(6, 1, 4, 4))
    assert mu.shape == logvar.shape == (6, 3) and enc.x_shape == (1, 4, 4)
    dec = networks.MLPDecoder(3, (1, 4, 4), hidden=(8,), output="sigmoid")
    assert dec(mu).shape == (6, 1, 4, 4) and dec.z_dim == 3
    assert networks.mlp(2, 1, (4, 4))(torch.zeros(3, 2)).shape == (3, 1)
    net = networks.mlp(16, 2, (5,), flatten=True)
    assert isinstance(net[0], torch.nn.Flatten) and net(torch.zeros(3, 1, 4, 4)).shape == (3, 2)
    assert [m.out_features for m in net if isinstance(m, torch.nn.Linear)] == [5, 2]
    assert len(networks.mlp(2, 1)) == 1  # no hidden layer: one linear map
    assert networks.MLPEncoder(2, 3)(torch.zeros(4, 2))[1] is None


@pytest.mark.parametrize("device", DEVICES)
def test_networks_run_on_device(device):
    torch.manual_seed(0)
    enc = networks.ConvEncoder(4, kind="gaussian", base_channels=4).to(device)
    dec = networks.ConvDecoder(4, kind="bernoulli", base_channels=4).to(device)
    x = torch.rand(3, 1, 28, 28, device=device)
    z = enc.sample(x)
    assert z.device.type == device and dec(z).device.type == device
    assert dec.nll(x, z).shape == (3,) and torch.isfinite(dec.nll(x, z)).all()


# ----------------------------------------------------------------------------- likelihoods

def test_decoder_likelihoods():
    dec = _linear_decoder("gaussian", sigma2=0.5)
    z, x = _t(ZP), _t(X)
    mean = ZP @ WD.T + BD
    expected = torch.distributions.Normal(_t(mean), math.sqrt(0.5)).log_prob(x).sum(1)
    torch.testing.assert_close(dec.nll(x, z), -expected)
    bdec = _linear_decoder("bernoulli")
    assert bdec.output == "sigmoid"
    xb = _t([[0.0, 1.0], [0.2, 0.9], [1.0, 0.5]])
    p = _sig(mean)
    torch.testing.assert_close(bdec.nll(xb, z), _t(-(xb.numpy() * np.log(p) + (1 - xb.numpy()) * np.log(1 - p)).sum(1)))
    torch.testing.assert_close(bdec(z), _t(p))
    ddec = _linear_decoder()
    with pytest.raises(ValueError, match="no likelihood"):
        ddec.nll(x, z)


def test_gaussian_nll_sums_over_pixels():
    torch.manual_seed(0)
    dec = networks.ConvDecoder(2, kind="gaussian", base_channels=2, sigma2=0.25)
    z, x = torch.randn(3, 2), torch.rand(3, 1, 28, 28)
    expected = ((x - dec(z)) ** 2).flatten(1).sum(1) / 0.5 + 0.5 * 784 * math.log(2 * math.pi * 0.25)
    torch.testing.assert_close(dec.nll(x, z), expected)


# ----------------------------------------------------------------------------- reparametrisation

def test_reparametrize_by_hand_and_gradients():
    mu = _t([[0.5, -1.0], [2.0, 0.0]]).requires_grad_(True)
    logvar = _t([[0.0, math.log(4.0)], [-2.0, 1.0]]).requires_grad_(True)
    eps = _t([[1.0, -0.5], [0.3, 2.0]])
    z = networks.Encoder.reparametrize(mu, logvar, eps)
    expected = mu.detach().numpy() + np.exp(0.5 * logvar.detach().numpy()) * eps.numpy()
    torch.testing.assert_close(z, _t(expected))
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)
    with pytest.raises(ValueError, match="eps must have shape"):
        networks.Encoder.reparametrize(mu, logvar, eps[:1])
    with pytest.raises(TypeError, match="eps must be a torch tensor"):
        networks.Encoder.reparametrize(mu, logvar, eps.numpy())


def test_encoder_sample_uses_eps_and_the_mean():
    torch.manual_seed(0)
    enc = networks.MLPEncoder(2, 3, hidden=(4,), kind="gaussian")
    x, eps = torch.randn(5, 2), torch.randn(5, 3)
    mu, logvar = enc(x)
    torch.testing.assert_close(enc.sample(x, eps), mu + torch.exp(0.5 * logvar) * eps)
    torch.testing.assert_close(enc.sample(x, torch.zeros(5, 3)), mu)
    torch.manual_seed(1)
    a = enc.sample(x)
    torch.manual_seed(1)
    assert torch.equal(a, enc.sample(x)) and not torch.equal(a, mu)
    det = networks.MLPEncoder(2, 3, hidden=(4,))
    assert torch.equal(det.sample(x), det(x)[0])


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("make, exc, match", [
    (lambda: networks.MLPEncoder(2, "8"), TypeError, "z_dim"),
    (lambda: networks.MLPEncoder(2, 0), ValueError, "z_dim"),
    (lambda: networks.MLPEncoder(2, 2, kind="flow"), ValueError, "encoder kind"),
    (lambda: networks.MLPEncoder(2, 2, kind=1), TypeError, "encoder kind"),
    (lambda: networks.MLPEncoder((2, 0), 2), ValueError, "x_shape"),
    (lambda: networks.MLPEncoder(2.0, 2), TypeError, "x_shape"),
    (lambda: networks.MLPEncoder(2, 2, hidden=(4, "4")), TypeError, "hidden width"),
    (lambda: networks.MLPDecoder(2, 2, kind="poisson"), ValueError, "decoder kind"),
    (lambda: networks.MLPDecoder(2, 2, kind="bernoulli", output="identity"), ValueError,
     "Bernoulli decoder needs output='sigmoid'"),
    (lambda: networks.MLPDecoder(2, 2, output="tanh"), ValueError, "output"),
    (lambda: networks.MLPDecoder(2, 2, kind="gaussian", sigma2=0.0), ValueError, "sigma2"),
    (lambda: networks.MLPDecoder(2, 2, kind="gaussian", sigma2="1"), TypeError, "sigma2"),
    (lambda: networks.ConvEncoder(z_dim=0), ValueError, "z_dim"),
    (lambda: networks.ConvEncoder(z_dim=8.0), TypeError, "z_dim"),
    (lambda: networks.ConvEncoder(8, base_channels=True), TypeError, "base_channels"),
    (lambda: networks.ConvEncoder(8, image_size=2), ValueError, "image_size"),
    (lambda: networks.ConvDecoder(8, image_size=30), ValueError, "divisible by 4"),
    (lambda: networks.ConvDecoder(8, base_channels="4"), TypeError, "base_channels"),
    (lambda: networks.ConvCritic(0), ValueError, "base_channels"),
    (lambda: networks.mlp("2", 1), TypeError, "in_dim"),
    (lambda: networks.mlp(2, 0), ValueError, "out_dim"),
    (lambda: networks.latent_adversary(8, depth=-1), ValueError, "depth"),
])
def test_network_argument_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("x_shape", ["12", b"12", (2.5,), ("2",), (True, 2), 2.0, None])
def test_x_shape_of_wrong_type_is_a_type_error(x_shape):
    # not read as (1, 2), (2,)...: a string, floats and bools are not shapes
    with pytest.raises(TypeError, match="x_shape"):
        networks.MLPEncoder(x_shape, 2)
    with pytest.raises(TypeError, match="x_shape"):
        networks.MLPDecoder(2, x_shape)
