"""Tests of vegan_lib.metrics and vegan_lib.classifier: sharpness, reconstruction error, MMD to
the prior, exact W2, the Fréchet distance and the cached MNIST classifier."""
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vegan_lib import classifier as vclf
from vegan_lib import data, metrics, networks, recipes
from vegan_lib import ot as vot


@pytest.fixture(scope="session")
def classifier(tmp_path_factory):
    # one cache folder per test session, shared by the pytest-xdist workers (writes are atomic)
    root = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        root = root.parent
    cache = root / "vegan_classifier_cache"
    model, acc = vclf.mnist_classifier(cache_dir=cache)
    return model, acc, cache


def test_sharpness_matches_a_hand_computed_laplacian():
    img = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    img[0, 0, 2, 2] = 1.0
    # VALID response (3x3): -4 at the centre, 1 at its four neighbours, 0 at the corners
    resp = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
    assert metrics.sharpness(img).item() == pytest.approx(resp.var(), rel=1e-12)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 9, 7, generator=g, dtype=torch.float64)
    lap = np.array(metrics.LAPLACIAN)
    for i in range(4):
        a = x[i, 0].numpy()
        r = np.array([[(a[u:u + 3, v:v + 3] * lap).sum() for v in range(5)] for u in range(7)])
        assert metrics.sharpness(x)[i].item() == pytest.approx(r.var(), rel=1e-10)
    s = metrics.sharpness(x)
    assert s.shape == (4,) and s.dtype == torch.float64
    assert metrics.sharpness(x, "mean").item() == pytest.approx(s.mean().item())
    assert metrics.sharpness(x, "min").item() == s.min().item()


def test_sharpness_orders_blurred_below_sharp_and_handles_rgb():
    x = data.load_mnist("embedded", "test").images[:50]
    blur = F.avg_pool2d(x, 3, stride=1, padding=1)
    assert metrics.sharpness(blur, "mean") < 0.5 * metrics.sharpness(x, "mean")
    grey = torch.rand(3, 1, 6, 6)
    rgb = grey.repeat(1, 3, 1, 1)  # equal channels: greyscale = the channel (weights sum to 1)
    torch.testing.assert_close(metrics.sharpness(rgb), metrics.sharpness(grey))
    with pytest.raises(ValueError, match=r"images must be images \(n, 1 or 3"):
        metrics.sharpness(torch.rand(3, 28, 28))
    with pytest.raises(TypeError, match="floating"):
        metrics.sharpness(torch.zeros(2, 1, 5, 5, dtype=torch.uint8))
    with pytest.raises(ValueError, match="reduction"):
        metrics.sharpness(grey, "max")


def _identity_wae(scale=1.0):
    enc = networks.MLPEncoder(2, 2, hidden=())
    dec = networks.MLPDecoder(2, 2, hidden=())
    with torch.no_grad():
        enc.net[0].weight.copy_(torch.eye(2))
        enc.net[0].bias.zero_()
        dec.net[0].weight.copy_(scale * torch.eye(2))
        dec.net[0].bias.zero_()
    return recipes.WAE(enc, dec)


def test_reconstruction_error_by_hand():
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.0, 0.5]])
    assert metrics.reconstruction_error(_identity_wae(), x) == pytest.approx(0.0, abs=1e-12)
    wae = _identity_wae(2.0)  # G(Q(x)) = 2x: error ‖x‖² (squared) or ‖x‖₁
    wae.train()
    assert metrics.reconstruction_error(wae, x, batch_size=2) == pytest.approx((x ** 2).sum(1).mean().item())
    assert metrics.reconstruction_error(wae, x, cost="l1") == pytest.approx(x.abs().sum(1).mean().item())
    assert wae.training  # the mode is restored
    with pytest.raises(ValueError, match="cost"):
        metrics.reconstruction_error(wae, x, cost="cosine")
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        metrics.reconstruction_error(wae, torch.zeros(3, 3))
    with pytest.raises(TypeError, match="Recipe"):
        metrics.reconstruction_error(torch.nn.Identity(), x)
    with pytest.raises(TypeError, match="cost must be a string"):
        metrics.reconstruction_error(wae, x, cost=2)
    with pytest.raises(TypeError, match="floating dtype"):
        metrics.reconstruction_error(wae, x.long())


def test_deprecated_classifier_names_in_metrics_warn():
    with pytest.warns(DeprecationWarning, match="vegan_lib.classifier.mnist_classifier"):
        assert metrics.mnist_classifier is vclf.mnist_classifier


def test_mmd_to_prior_separates_matched_and_shifted_codes():
    g = torch.Generator().manual_seed(0)
    prior_like = torch.randn(500, 8, generator=g)
    shifted = prior_like + 1.0
    matched = metrics.mmd_to_prior(prior_like)
    assert abs(matched) < 0.01 < metrics.mmd_to_prior(shifted)
    assert metrics.mmd_to_prior(prior_like * 2, sigma_z=2.0) == pytest.approx(
        metrics.mmd_to_prior(prior_like), rel=1e-6)  # scale invariance with C = 2·d_z·σ_z²
    with pytest.raises(ValueError, match="codes must have 2 dimension"):
        metrics.mmd_to_prior(torch.randn(5))
    with pytest.raises(TypeError, match="codes must be a torch tensor"):
        metrics.mmd_to_prior([[0.0, 1.0]])
    with pytest.raises(TypeError, match="n_prior must be an int"):
        metrics.mmd_to_prior(prior_like, n_prior=2.5)


def test_w2_is_exact_ot_on_flattened_samples():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(20, 1, 2, 3, generator=g, dtype=torch.float64)
    shift = torch.tensor([0.5, -1.0, 0.0, 2.0, 0.0, 1.0], dtype=torch.float64).view(1, 1, 2, 3)
    assert metrics.w2(x, x + shift) == pytest.approx(float(shift.norm()), rel=1e-9)
    y = torch.rand(15, 1, 2, 3, generator=g)
    assert metrics.w2(x, y) == vot.wasserstein(x.reshape(20, -1).numpy(), y.reshape(15, -1).double().numpy())
    with pytest.raises(ValueError, match="same sample dimension"):
        metrics.w2(x, torch.rand(5, 4))


def test_frechet_gaussian_closed_form():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([1.0, -1.0])
    c1, c2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    # diagonal: ‖Δμ‖² + Σ (σ1 − σ2)²
    expected = 1 + 4 + (1 - 3) ** 2 + (2 - 1) ** 2
    assert metrics.frechet_gaussian(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-10)
    assert metrics.frechet_gaussian(mu1, c1, mu1, c1) == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError, match="dimension"):
        metrics.frechet_gaussian(mu1, c1, np.zeros(3), c2)
    # one Gaussian W2 in the library: the Fréchet distance is vl.ot.gaussian_w2 squared
    assert metrics.frechet_gaussian(mu1, c1, mu2, c2) == vot.gaussian_w2(mu1, c1, mu2, c2, squared=True)
    # singular covariances (dead features) stay finite and exact: N(0, diag(1, 0)) vs N(0, diag(4, 0))
    sing1, sing2 = np.diag([1.0, 0.0]), np.diag([4.0, 0.0])
    assert metrics.frechet_gaussian(np.zeros(2), sing1, np.zeros(2), sing2) == pytest.approx(1.0, rel=1e-12)


def test_mnist_classifier_is_accurate_cached_and_deterministic(classifier):
    model, acc, cache = classifier
    assert acc >= 0.95 and model.test_accuracy == acc
    files = os.listdir(cache / "classifier")
    digest = vclf._config_hash(vclf.CLASSIFIER_CONFIG)
    assert files == [f"mnist_cnn-{digest}.pt"]
    again, acc2 = vclf.mnist_classifier(cache_dir=cache)  # loaded from the cache
    assert acc2 == acc
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert vclf._config_hash({**vclf.CLASSIFIER_CONFIG, "epochs": 6}) != digest
    assert not model.training


def test_frechet_distance_in_classifier_features(classifier):
    model, _, _ = classifier
    test = data.load_mnist("embedded", "test").images
    a, b = test[0::2], test[1::2]  # the split is ordered by class: interleave
    same = metrics.frechet_distance(a, b, model)
    blurred = metrics.frechet_distance(a, F.avg_pool2d(b, 3, stride=1, padding=1), model)
    noise = metrics.frechet_distance(a, torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(0)), model)
    assert metrics.frechet_distance(a, a, model) == pytest.approx(0.0, abs=1e-6)
    assert same < blurred < noise
    digits_0_4, digits_5_9 = test[:500], test[500:]
    assert same < metrics.frechet_distance(digits_0_4, digits_5_9, model)
    feats = vclf.classifier_features(a[:10], model)
    assert feats.shape == (10, 128) and feats.dtype == torch.float64
    with pytest.raises(ValueError, match=r"\(n, 1, 28, 28\)"):
        metrics.frechet_distance(torch.rand(5, 1, 14, 14), torch.rand(5, 1, 14, 14), model)
    assert math.isfinite(same)
