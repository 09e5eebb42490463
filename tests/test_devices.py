"""Right on every device by construction: recipes, the trainer, the latent penalties, the metrics and the
torch OT layer keep their outputs on the input's device and in its dtype (fixture ``device``: the CPU, and
CUDA where a GPU is visible). Also: seeding (``set_seed(deterministic=True)``) and resuming a checkpoint
on another device or number of processes (a warning and a documented re-seed, never a silent skip)."""
import warnings

import pytest
import torch

import vegan_lib as vl
from vegan_lib import penalties

NAMES = ["WAE-MMD", "WAE-GAN", "VAE", "AAE", "WGAN-GP", "SWAE", "WAE-Sinkhorn"]


def _recipe(name, device):
    return vl.cookbook.build_recipe(name, x_shape=(2,), z_dim=2, width=16,
                                    **({"adversary_width": 16} if name != "WGAN-GP" else {})).to(device)


@pytest.mark.parametrize("name", NAMES)
def test_recipe_losses_and_samples_stay_on_the_device(name, device):
    torch.manual_seed(0)
    recipe = _recipe(name, device)
    x = torch.randn(32, 2, device=device)
    for value in recipe.loss(x).values():
        assert value.device.type == device.type and value.dtype == torch.float32 and torch.isfinite(value)
    with vl.eval_mode(recipe):
        s = recipe.sample(5)
    assert s.device.type == device.type and s.dtype == torch.float32


@pytest.mark.parametrize("name", ["WAE-MMD", "WGAN-GP"])
def test_trainer_keeps_data_model_and_history_on_the_device(name, device, tmp_path):
    recipe = _recipe(name, "cpu")
    data = vl.data.toy_2d("ring", 256, seed=0)
    trainer = vl.train.fit(recipe, data, steps=4, batch_size=32, seed=0, device=device, progress=False,
                           checkpoint_dir=tmp_path)
    assert all(p.device.type == device.type for p in trainer.recipe.parameters())
    assert all(torch.isfinite(torch.tensor(v, dtype=torch.float64)).all() for k, v in trainer.history.items()
               if k not in ("step", "time") and v)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_penalties_keep_device_and_dtype(device, dtype):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(40, 3, generator=g, dtype=dtype).to(device)
    p = torch.randn(50, 3, generator=g, dtype=dtype).to(device)
    outs = [penalties.mmd(q, p), penalties.mmd(q, p, "rbf", multiscale=True),
            penalties.sliced_wasserstein_penalty(q, p), penalties.sinkhorn_penalty(q, p, reg=1.0),
            vl.ot.sliced_wasserstein(q, p), vl.ot.sinkhorn_loss(q, p, reg=1.0)]
    for out in outs:
        assert out.device.type == device.type and out.dtype == dtype and out.ndim == 0 and torch.isfinite(out)


def test_metrics_run_on_the_device_and_agree_with_the_cpu(device):
    g = torch.Generator().manual_seed(1)
    codes = torch.randn(300, 4, generator=g) * 1.2
    cpu = vl.metrics.mmd_to_prior(codes, seed=3)
    here = vl.metrics.mmd_to_prior(codes.to(device), seed=3, chunk=64)  # several blocks
    assert here == pytest.approx(cpu, abs=1e-12)
    ref = float(penalties.mmd(codes.double(), torch.randn(300, 4, generator=torch.Generator().manual_seed(3),
                                                          dtype=torch.float64)))
    assert cpu == pytest.approx(ref, abs=1e-12)  # the chunked sum is the estimate of penalties.mmd
    imgs = torch.rand(8, 1, 28, 28, generator=g).to(device)
    sharp = vl.metrics.sharpness(imgs)
    assert sharp.device.type == device.type and sharp.shape == (8,)
    recipe = vl.protocol.build("WAE-MMD", "quick", 0).to(device)
    err = vl.metrics.reconstruction_error(recipe, imgs, batch_size=3)
    assert isinstance(err, float) and err > 0


def test_mmd_to_prior_rejects_a_bad_chunk():
    with pytest.raises(ValueError, match="chunk"):
        vl.metrics.mmd_to_prior(torch.randn(10, 2), chunk=0)


def test_set_seed_deterministic_sets_and_restores_torch_flags(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        vl.set_seed(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert not torch.backends.cudnn.benchmark
        import os
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        vl.set_seed(0)
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic
    with pytest.raises(TypeError, match="deterministic"):
        vl.set_seed(0, deterministic="yes")


def test_set_seed_reproduces_draws():
    vl.set_seed(5)
    a = torch.randn(3)
    vl.set_seed(5)
    assert torch.equal(a, torch.randn(3))


def _trainer(tmp_path, steps):
    recipe = _recipe("WAE-MMD", "cpu")
    return vl.train.Trainer(recipe, vl.data.toy_2d("ring", 256, seed=0), steps=steps, batch_size=32, seed=0,
                            device="cpu", progress=False, checkpoint_dir=tmp_path, checkpoint_every=2)


def test_resume_where_written_restores_silently(tmp_path):
    _trainer(tmp_path, 2).fit()
    t = _trainer(tmp_path, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        t.load_checkpoint()
    assert t.step == 2


def test_resume_on_another_device_or_world_size_warns_and_reseeds(tmp_path):
    _trainer(tmp_path, 2).fit()
    path = tmp_path / "last.pt"
    state = torch.load(path, weights_only=True)
    state["device_type"], state["world_size"] = "cuda", 2  # as if written by two GPU processes
    state["cuda_rng"] = torch.get_rng_state()
    torch.save(state, path)
    t = _trainer(tmp_path, 4)
    with pytest.warns(RuntimeWarning, match=r"written by 2 process\(es\) on cuda and resumes on 1 process\(es\) on cpu"):
        t.load_checkpoint()
    assert t.step == 2 and t.fit().step == 4
