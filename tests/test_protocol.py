"""Tests of the experiment protocol (vegan_lib.protocol), the reference runs (vegan_lib.reference)
and the mean-image baseline (vegan_lib.baselines)."""
import json
import threading

import pytest
import torch

import vegan_lib as vl
from vegan_lib import baselines, cookbook, protocol, reference


@pytest.mark.parametrize("profile", protocol.PROFILES)
@pytest.mark.parametrize("name", protocol.RECIPES)
def test_every_recipe_has_settings_and_builds(name, profile):
    s = protocol.settings(name, profile)
    assert s.recipe == name and s.profile == profile and s.z_dim == 8 and s.batch_size == 100
    assert name in {e.name for e in cookbook.COOKBOOK}  # every protocol recipe is a cookbook row
    r = protocol.build(name, profile, seed=0) if profile != "gpu" else None
    if r is not None:
        assert r.name == name and r.x_shape == (1, 28, 28)
        assert protocol.train_options(name, profile) == {"batch_size": 100, "steps": s.steps}


def test_one_configuration_per_recipe_shared_by_the_wae_family():
    opts = {n: protocol.settings(n).options for n in protocol.RECIPES}
    for n in ("AAE", "WAE-MMD", "WAE-GAN", "SWAE", "WAE-Sinkhorn"):
        assert opts[n]["cost"] == "sqeuclidean" and opts[n]["cost_scale"] == protocol.COST_SCALE
    assert opts["WAE-MMD"]["lam"] == 10.0 and opts["WAE-GAN"]["lam"] == 1.0
    assert protocol.settings("WAE-GAN").adversary == protocol.settings("AAE").adversary
    wae = protocol.build("WAE-GAN", "cpu")
    assert wae.lam == 1.0 and wae.cost_scale == 0.05 and wae.adv_lr == 1e-4
    assert protocol.settings("WGAN-GP", "cpu").steps < protocol.settings("VAE", "cpu").steps  # generator steps
    assert protocol.settings("VAE", "gpu").networks == "conv" and protocol.settings("VAE", "gpu").data == "full"
    rows = protocol.differences()
    assert rows and all(set(r) == {"setting", "WAE paper / code", "book (cpu profile)", "why"} for r in rows)


def test_build_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    a, b, c = (protocol.build("WAE-MMD", "quick", seed=s) for s in (1, 1, 2))
    assert torch.equal(state, torch.get_rng_state())
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa) and not all(torch.equal(sa[k], sc[k]) for k in sa)
    zero = protocol.build("WAE-MMD", "quick", seed=1, lam=0.0)  # the λ = 0 baseline: same weights
    assert zero.lam == 0.0 and all(torch.equal(sa[k], zero.state_dict()[k]) for k in sa)


def test_protocol_errors():
    with pytest.raises(ValueError, match="recipe must be one of"):
        protocol.settings("GAN")
    with pytest.raises(ValueError, match="profile must be one of"):
        protocol.settings("VAE", "tpu")
    with pytest.raises(TypeError, match="profile must be a string"):
        protocol.settings("VAE", 1)


def test_mean_image_baseline_is_a_trivial_model():
    train = vl.data.load_mnist("embedded", "train")
    test = vl.data.load_mnist("embedded", "test").subset(300, seed=0)
    m = baselines.MeanImage(train.images)
    assert not list(m.parameters()) and m.x_shape == (1, 28, 28)
    with vl.eval_mode(m):
        s = m.sample(5)
        assert torch.allclose(s, train.images.mean(0, keepdim=True).expand(5, 1, 28, 28))
        assert torch.equal(m.encode(test.images), torch.zeros(300, 8))
    # its errors are what every trained model is compared with
    recon = vl.metrics.reconstruction_error(m, test.images)
    per_image = ((test.images - m.mean) ** 2).flatten(1).sum(1).double().mean()
    assert recon == pytest.approx(float(per_image), rel=1e-6)
    assert float(vl.metrics.sharpness(s, "mean")) < 0.05 * float(vl.metrics.sharpness(test.images, "mean"))


def test_reference_run_trains_once_and_reloads(tmp_path):
    data = vl.data.load_mnist("embedded", "train").subset(400, seed=0)
    kw = dict(data=data, device="cpu", cache_dir=tmp_path)
    first = reference.reference_run("WAE-MMD", 0, "quick", progress=False, **kw)
    assert first.step == protocol.settings("WAE-MMD", "quick").steps and not first.resumed
    info = json.loads((reference.run_folder("WAE-MMD", 0, "quick", **kw) / "run.json").read_text())
    assert info["recipe"] == "WAE-MMD" and info["seconds"] > 0 and first.info == info
    again = reference.reference_run("WAE-MMD", 0, "quick", progress=False, **kw)
    assert again.resumed and again.history == first.history
    a, b = first.recipe.state_dict(), again.recipe.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = reference.run_folder("WAE-MMD", 0, "quick", **kw, lam=0.0)
    assert other != reference.run_folder("WAE-MMD", 0, "quick", **kw)  # a variant is another run
    assert reference.run_folder("WAE-MMD", 1, "quick", **kw) != reference.run_folder("WAE-MMD", 0, "quick", **kw)


def test_two_callers_of_one_run_train_it_once(tmp_path):
    data = vl.data.load_mnist("embedded", "train").subset(300, seed=1)
    results = []

    def ask():
        results.append(reference.reference_run("VAE", 3, "quick", data=data, device="cpu", cache_dir=tmp_path,
                                               progress=False))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.resumed for r in results) == [False, True]  # the second waited for the lock, then reloaded
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1


def test_library_hash_is_stable_and_errors():
    assert reference.library_hash() == reference.library_hash() and len(reference.library_hash()) == 12
    with pytest.raises(TypeError, match="ImageSet"):
        reference.reference_run("VAE", 0, "quick", data=torch.zeros(4, 1, 28, 28))
    with pytest.raises(ValueError, match="recipe must be one of"):
        reference.reference_run("GAN", 0, "quick", data=vl.data.load_mnist("embedded", "test"))
