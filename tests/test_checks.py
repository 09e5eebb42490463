"""The chapters' training checks fail for trivial models (the mean-image predictor, constant images)."""
import pytest
import torch

import vegan_lib as vl
from vegan_lib import baselines, checks


@pytest.fixture(scope="module")
def sets():
    train = vl.data.load_mnist("embedded", "train")
    test = vl.data.load_mnist("embedded", "test")
    clf, _ = vl.classifier.mnist_classifier()

    def metrics(samples):
        return {"FD": vl.metrics.frechet_distance(samples, test.images, clf),
                "sharpness": float(vl.metrics.sharpness(samples, "mean"))}

    mean = baselines.MeanImage(train.images)
    with vl.eval_mode(mean):
        mean_metrics = metrics(mean.sample(1000))
    real = metrics(train.subset(1000, seed=0).images)
    return metrics, mean_metrics, real


def test_real_digits_pass_the_story_and_trivial_models_fail_it(sets):
    metrics, mean_metrics, real = sets
    story = {"VAE": {"FD": 100.0, "sharpness": 0.06}, "WAE-MMD": {"FD": 60.0, "sharpness": 0.1},
             "WAE-GAN": {"FD": 40.0, "sharpness": 0.1}}
    assert all(c.passed for c in checks.generative_story(story, mean_metrics))
    assert all(c.passed for c in checks.generative_story({"real": real}, mean_metrics))
    # the mean-image predictor in place of every recipe fails
    trivial = {name: mean_metrics for name in ("VAE", "WAE-MMD", "WAE-GAN")}
    failed = [c for c in checks.generative_story(trivial, mean_metrics) if not c.passed]
    assert len(failed) == 7  # three baseline claims, two FD orderings, two sharpness orderings
    # constant grey images and uniform noise fail the baseline claim too
    grey = metrics(torch.full((1000, 1, 28, 28), 0.13))
    noise = metrics(torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    for bad in (grey, noise):
        assert not checks.generative_story({"model": bad}, mean_metrics)[0].passed
    with pytest.raises(AssertionError, match="FAIL FD\\(VAE\\)"):
        checks.require(checks.generative_story(trivial, mean_metrics))


def test_a_vae_as_good_as_the_waes_fails_the_ordering(sets):
    _, mean_metrics, _ = sets
    same = {n: {"FD": 50.0, "sharpness": 0.1} for n in ("VAE", "WAE-MMD", "WAE-GAN")}
    failed = {c.text for c in checks.generative_story(same, mean_metrics) if not c.passed}
    assert failed == {"FD(WAE-MMD) < 0.9 × FD(VAE)", "FD(WAE-GAN) < 0.9 × FD(VAE)",
                      "sharpness(VAE) < sharpness(WAE-MMD)", "sharpness(VAE) < sharpness(WAE-GAN)"}
    with pytest.raises(ValueError, match="'FD'"):
        checks.generative_story({"VAE": {"sharpness": 1.0}}, mean_metrics)
    with pytest.raises(TypeError, match="fd_margin"):
        checks.generative_story(same, mean_metrics, fd_margin="0.8")


def test_beats_mean_image_and_latent_penalty_fail_for_trivial_models(sets):
    metrics, mean_metrics, real = sets
    mean_metrics = {**mean_metrics, "recon": 52.0, "MMD": 0.6}
    good = {"WAE-MMD": {"FD": 60.0, "recon": 10.0}}
    assert all(c.passed for c in checks.beats_mean_image(good, mean_metrics, keys=("FD", "recon")))
    assert not any(c.passed for c in checks.beats_mean_image({"mean": mean_metrics}, mean_metrics,
                                                             keys=("FD", "recon")))
    with pytest.raises(ValueError, match="factor must be below 1"):
        checks.beats_mean_image(good, mean_metrics, factor=1.0)
    wae, lam0 = {"MMD": 0.005, "FD": 60.0}, {"MMD": 0.4, "FD": 500.0}
    assert all(c.passed for c in checks.latent_penalty_matches_prior(wae, lam0))
    # the λ = 0 model in place of the WAE, or the mean image (all codes at 0), fails
    assert not any(c.passed for c in checks.latent_penalty_matches_prior(lam0, lam0))
    assert not all(c.passed for c in checks.latent_penalty_matches_prior(mean_metrics, lam0))
    # the measured mean image (codes at one point: MMD² 0.163 against 0.42 for λ = 0, FD 860 against 800)
    measured_mean, measured_lam0 = {"MMD": 0.163, "FD": 860.0}, {"MMD": 0.42, "FD": 800.0}
    assert not checks.latent_penalty_matches_prior(measured_mean, measured_lam0)[0].passed
