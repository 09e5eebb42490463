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


def test_protocol_table_has_one_row_per_recipe():
    rows = protocol.table("cpu")
    assert [r["recipe"] for r in rows] == list(protocol.RECIPES)
    by = {r["recipe"]: r for r in rows}
    assert by["WAE-MMD"]["latent penalty"] == "mmd, λ = 10" and by["WAE-GAN"]["adversary"] == "4 × 256"
    assert by["WAE-GAN"]["cost"] == "0.05·‖x − y‖²" and by["VAE"]["steps"] == 3000
    assert protocol.LAMBDA_ZERO in protocol.REFERENCE_RUNS
    assert {r for r, _ in protocol.REFERENCE_RUNS} <= set(protocol.RECIPES)


@pytest.fixture(scope="module")
def judged():
    test = vl.data.load_mnist("embedded", "test").subset(300, seed=0)
    clf, _ = vl.classifier.mnist_classifier()
    return vl.data.load_mnist("embedded", "train"), test.images, clf


def test_evaluate_is_the_one_protocol_and_baselines_use_it(judged):
    train, held_out, clf = judged
    m = protocol.build("WAE-MMD", "quick", seed=0)
    state = torch.get_rng_state()
    a = vl.metrics.evaluate(m, held_out, clf, seed=0, n_w2=100)
    assert torch.equal(state, torch.get_rng_state())
    assert a == vl.metrics.evaluate(m, held_out, clf, seed=0, n_w2=100)  # fixed prior draws
    assert set(a) == {"FD", "W2", "sharpness", "recon", "MMD"} and all(v == v for v in a.values())
    w = vl.metrics.evaluate(protocol.build("WGAN-GP", "quick"), held_out, clf, n_w2=100)
    assert w["recon"] != w["recon"] and w["MMD"] != w["MMD"]  # NaN: a WGAN has no encoder
    base = baselines.baseline_metrics(train, held_out, clf, n_w2=100)
    real, mean = base["real data"], base["mean image"]
    assert real["FD"] < 0.05 * mean["FD"] and real["sharpness"] > 10 * mean["sharpness"] and real["recon"] == 0.0
    assert mean["recon"] == pytest.approx(vl.metrics.reconstruction_error(baselines.MeanImage(train.images), held_out))
    with pytest.raises(TypeError, match="train must be"):
        baselines.baseline_metrics(held_out, held_out)
    with pytest.raises(TypeError, match="recipe must be"):
        vl.metrics.evaluate(torch.nn.Linear(2, 2), held_out)


def test_evaluate_run_is_cached_next_to_the_run(tmp_path, judged):
    train, held_out, clf = judged
    t = reference.reference_run("VAE", 0, "quick", data=train.subset(300, seed=2), device="cpu", cache_dir=tmp_path,
                                progress=False)
    first = reference.evaluate_run(t, held_out, clf, n_w2=50)
    assert (t.folder / "evaluation.json").exists() and first["seconds"] == t.info["seconds"]
    assert reference.evaluate_run(t, held_out, clf, n_w2=50) == first
    assert len(json.loads((t.folder / "evaluation.json").read_text())) == 1
    reference.evaluate_run(t, held_out[:200], clf, n_w2=50)  # other held-out images: another entry
    assert len(json.loads((t.folder / "evaluation.json").read_text())) == 2
    with pytest.raises(TypeError, match="reference_run"):
        reference.evaluate_run(vl.train.Trainer(protocol.build("VAE", "quick"), train, steps=1), held_out)


def test_train_all_trains_every_run_once_in_worker_processes(tmp_path):
    runs = [("WAE-MMD", 0, {}), ("WAE-MMD", 0, {"lam": 0.0})]
    out = reference.train_all("quick", jobs_list=runs, device="cpu", cache_dir=tmp_path, jobs=2)
    assert [(r["recipe"], r["seed"], r["overrides"]) for r in out] == runs and not any(r["cached"] for r in out)
    assert reference.train_all("quick", jobs_list=runs[::-1], device="cpu", cache_dir=tmp_path, jobs=2) == [
        {**r, "cached": True} for r in out[::-1]]  # finished runs are only read, in the order asked
    again = reference.train_all("quick", jobs_list=runs[:1], device="cpu", cache_dir=tmp_path, jobs=1)
    assert again[0]["cached"] and again[0]["folder"] == out[0]["folder"]
    with pytest.raises(TypeError, match="triples"):
        reference.train_all("quick", jobs_list=[("VAE", 0.0)], cache_dir=tmp_path)
    jobs = protocol.reference_jobs("cpu")
    assert len(jobs) == 3 * len(protocol.REFERENCE_RUNS) + len(protocol.FIRST_SEED_RUNS)
    assert ("WAE-MMD", 0, {"z_dim": 64}) in jobs and ("WAE-MMD", 1, {"z_dim": 64}) not in jobs
