"""Tests of vegan_lib.train: data order, history, callbacks (and evaluation at step 0), the
trainer-owned step (autocast scope, gradient clipping, post-step hooks), divergence stop,
checkpoints, resume (in process and after SIGKILL), bad inputs, and a WAE-MMD on MNIST."""
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from vegan_lib import cookbook, data, metrics, networks, recipes, train

ROOT = Path(__file__).resolve().parents[1]


class Probe(recipes.Recipe):
    """A minimal recipe: fits a mean w; logs the call count and a noise draw as terms."""

    name = "probe"

    def __init__(self, d=1, bad_step=None, bad_value=math.inf, batches_per_step=1):
        super().__init__(z_dim=1)
        self.w = nn.Parameter(torch.zeros(d))
        self.d, self.bad_step, self.bad_value, self.repeats = d, bad_step, bad_value, batches_per_step
        self.seen, self.calls = [], 0

    @property
    def x_shape(self):
        return (self.d,)

    def optimizer_specs(self):
        return {"main": recipes.OptimizerSpec([self.w], "adam", 0.1)}

    def phases(self):
        return [recipes.Phase("main", "main", self._loss, repeats=self.repeats)]

    def _loss(self, x, ctx):
        self.calls += 1
        self.seen.append(x.detach().clone())
        loss = ((x - self.w) ** 2).sum(1).mean()
        count = torch.tensor(float(self.calls))
        if self.calls == self.bad_step:
            count = torch.tensor(self.bad_value)
        return {"loss": loss, "count": count, "noise": torch.randn(())}


def _ids(n):
    return torch.arange(n, dtype=torch.float32)[:, None]


def test_minibatches_are_seeded_permutations_without_repeats():
    probe = Probe()
    tr = train.Trainer(probe, _ids(25), batch_size=4, epochs=3, seed=1, progress=False)
    assert tr.steps_per_epoch == 6 and tr.total_steps == 18
    tr.fit()
    assert tr.epoch == 3
    epochs = [torch.cat(probe.seen[i:i + 6]).ravel() for i in range(0, 18, 6)]
    for e in epochs:
        assert len(e) == 24 and len(set(e.tolist())) == 24  # drop_last, no repeats within an epoch
    assert not torch.equal(epochs[0], epochs[1])
    again = Probe()
    train.Trainer(again, _ids(25), batch_size=4, epochs=3, seed=1, progress=False).fit()
    assert all(torch.equal(a, b) for a, b in zip(probe.seen, again.seen))
    other = Probe()
    train.Trainer(other, _ids(25), batch_size=4, epochs=1, seed=2, progress=False).fit()
    assert not torch.equal(torch.cat(other.seen), torch.cat(probe.seen[:6]))


def test_batches_per_step_stacks_minibatches():
    probe = Probe(batches_per_step=3)
    tr = train.Trainer(probe, _ids(40), batch_size=4, epochs=2, progress=False)
    assert tr.steps_per_epoch == 3
    tr.fit()
    assert [x.shape[0] for x in probe.seen] == [4] * 18  # one minibatch per repetition of the phase
    assert len(set(torch.cat(probe.seen[:9]).ravel().tolist())) == 36  # an epoch: 3 steps of 3 minibatches
    with pytest.raises(ValueError, match="batches_per_step"):
        train.Trainer(Probe(batches_per_step=3), _ids(10), batch_size=4, steps=1)


def test_history_rows_are_window_means_at_log_steps():
    tr = train.Trainer(Probe(), _ids(8), batch_size=2, steps=10, log_every=4, progress=False)
    assert tr.fit() is tr
    h = tr.history
    assert h["step"] == [4, 8, 10]
    assert h["count"] == [2.5, 6.5, 9.5]  # means of steps 1-4, 5-8, 9-10
    assert h["epoch"] == [1.0, 2.0, 2.5]
    assert len({len(v) for v in h.values()}) == 1 and all(t >= 0 for t in h["time"])


def test_callbacks_run_in_eval_mode_without_touching_training_randomness():
    calls = []

    def cb(recipe):
        calls.append((recipe.training, torch.is_grad_enabled()))
        torch.randn(100)  # would shift the training noise if the RNG were not forked
        return {"metric": float(len(calls))}

    a, b = Probe(), Probe()
    ha = train.Trainer(a, _ids(8), batch_size=2, steps=7, log_every=100, eval_every=3, callbacks=[cb],
                       progress=False).fit().history
    hb = train.Trainer(b, _ids(8), batch_size=2, steps=7, log_every=100, progress=False).fit().history
    assert calls == [(False, False)] * 4 and a.training
    # at step 0 (before training), every 3 steps and at the end
    assert ha["step"] == [0, 3, 6, 7] and ha["metric"] == [1.0, 2.0, 3.0, 4.0]
    assert math.isnan(ha["count"][0]) and ha["epoch"][0] == 0.0 and ha["time"][0] == 0.0
    ha = {k: v[1:] for k, v in ha.items()}
    assert hb["step"] == [7]
    assert torch.equal(a.w, b.w)
    noise_a = [ha["noise"][i] * n for i, n in enumerate((3, 3, 1))]
    assert sum(noise_a) / 7 == pytest.approx(hb["noise"][0], rel=1e-6)  # same noise stream
    with pytest.raises(TypeError, match="dict of metrics"):
        train.Trainer(Probe(), _ids(8), batch_size=2, steps=2, eval_every=1, callbacks=[lambda r: 1.0],
                      progress=False).fit()
    with pytest.raises(ValueError, match="collides"):
        train.Trainer(Probe(), _ids(8), batch_size=2, steps=2, eval_every=1, callbacks=[lambda r: {"count": 1}],
                      progress=False).fit()


def test_eval_metrics_fill_other_rows_with_nan():
    tr = train.Trainer(Probe(), _ids(8), batch_size=2, steps=6, log_every=2, eval_every=3,
                       callbacks=[lambda r: {"m": 1.0}], progress=False)
    h = tr.fit().history
    assert h["step"] == [0, 2, 3, 4, 6]
    assert [math.isnan(v) for v in h["m"]] == [False, True, False, True, False]
    h = train.Trainer(Probe(), _ids(8), batch_size=2, steps=6, log_every=2, eval_every=3, eval_at_start=False,
                      callbacks=[lambda r: {"m": 1.0}], progress=False).fit().history
    assert h["step"] == [2, 3, 4, 6]


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_non_finite_loss_stops_with_step_name_and_kept_checkpoint(tmp_path, bad):
    tr = train.Trainer(Probe(bad_step=7, bad_value=bad), _ids(8), batch_size=2, steps=20, log_every=10,
                       checkpoint_dir=tmp_path, checkpoint_every=5, progress=False)
    with pytest.raises(train.DivergenceError) as info:
        tr.fit()
    err = info.value
    assert isinstance(err, RuntimeError) and isinstance(err, FloatingPointError)
    assert err.step == 7 and err.loss_name == "count"
    msg = str(err)
    assert "step 7" in msg and "'count'" in msg and str(tmp_path / "last.pt") in msg and "step 5" in msg
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["step"] == 5 and all(math.isfinite(v) for v in state["history"]["count"])
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]


def test_divergence_without_checkpoint_dir_says_so():
    with pytest.raises(train.DivergenceError, match="step 3.*no checkpoint was kept"):
        train.Trainer(Probe(bad_step=3), _ids(8), batch_size=2, steps=5, progress=False).fit()


def _toy_recipe(seed=0):
    torch.manual_seed(seed)
    enc = networks.MLPEncoder(2, 2, (16,), kind="gaussian")
    dec = networks.MLPDecoder(2, 2, (16,))
    return recipes.WAE(enc, dec, penalty="gan", adversary=networks.latent_adversary(2, 16, 2), lam=1.0)


def _assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_checkpoint_round_trip(tmp_path):
    x = data.toy_2d("ring", 200, seed=0)
    recipe = _toy_recipe(0)
    tr = train.Trainer(recipe, x, batch_size=32, steps=10, checkpoint_dir=tmp_path, progress=False)
    tr.fit()
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["step"] == 10 and set(state["optimizers"]) == {"ae", "adv"}
    assert state["torch_rng"].dtype == torch.uint8 and state["data_rng"].dtype == torch.uint8
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]  # the temporary file was renamed
    other = _toy_recipe(1)
    tr2 = train.Trainer(other, x, batch_size=32, steps=10, checkpoint_dir=tmp_path, resume=True, progress=False)
    _assert_same_state(recipe, other)
    assert tr2.step == 10 and tr2.history == tr.history and tr2.epoch == tr.epoch
    for k in tr.optimizers:
        s1, s2 = tr.optimizers[k].state_dict()["state"], tr2.optimizers[k].state_dict()["state"]
        assert all(torch.equal(s1[i]["exp_avg"], s2[i]["exp_avg"]) for i in s1)
    assert tr2.fit().history == tr.history  # already finished: nothing to do
    with pytest.raises(ValueError, match="batch_size was 32, now 16"):
        train.Trainer(_toy_recipe(), x, batch_size=16, steps=10, checkpoint_dir=tmp_path, resume=True)


def test_resume_in_process_equals_uninterrupted(tmp_path):
    x = data.toy_2d("moons", 200, seed=0)
    full = _toy_recipe(0)
    h_full = train.Trainer(full, x, batch_size=32, steps=25, seed=5, log_every=4, progress=False).fit().history
    part = _toy_recipe(0)
    train.Trainer(part, x, batch_size=32, steps=13, seed=5, log_every=4, checkpoint_dir=tmp_path,
                  progress=False).fit()  # stops mid-epoch (6 steps per epoch)
    resumed = _toy_recipe(7)
    tr = train.Trainer(resumed, x, batch_size=32, steps=25, seed=5, log_every=4, checkpoint_dir=tmp_path,
                       resume=True, progress=False)
    assert tr.step == 13 and tr.resumed
    h = tr.fit().history
    _assert_same_state(full, resumed)
    assert h["step"] != h_full["step"]  # the resumed run logged at 13 (its former end) too
    assert h["ae_loss"][-1] == h_full["ae_loss"][-1]


_KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from vegan_lib import data, networks, recipes, train
    mode, ckpt, out = sys.argv[1:4]
    torch.manual_seed(0)
    x = data.toy_2d("ring", 400, seed=0)
    enc = networks.MLPEncoder(2, 2, (16,), kind="gaussian")
    dec = networks.MLPDecoder(2, 2, (16,))
    recipe = recipes.WAE(enc, dec, penalty="gan", adversary=networks.latent_adversary(2, 16, 2), lam=1.0)

    def killer(r):
        if mode == "killed" and trainer.step == 35:  # five steps after the checkpoint of step 30
            os.kill(os.getpid(), signal.SIGKILL)
        return {"probe": 0.0}

    keep = mode != "full"
    trainer = train.Trainer(recipe, x, batch_size=32, steps=60, seed=3, log_every=5, eval_every=5,
                            callbacks=[killer], checkpoint_dir=ckpt if keep else None,
                            checkpoint_every=10 if keep else None, resume=mode == "resume", progress=False)
    trainer.fit()
    torch.save({"state": recipe.state_dict(), "history": trainer.history}, out)
""")


def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    ckpt = tmp_path / "ckpt"

    def start(mode):
        return subprocess.Popen([sys.executable, str(script), mode, str(ckpt), str(tmp_path / f"{mode}.pt")],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    full, killed = start("full"), start("killed")
    _, err = killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL, err
    assert not (tmp_path / "killed.pt").exists()
    assert torch.load(ckpt / "last.pt", weights_only=True)["step"] == 30
    resume = start("resume")
    for p in (full, resume):
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    a = torch.load(tmp_path / "full.pt", weights_only=True)
    b = torch.load(tmp_path / "resume.pt", weights_only=True)
    assert a["state"].keys() == b["state"].keys()
    for k in a["state"]:
        assert torch.equal(a["state"][k], b["state"][k]), k
    for k in a["history"]:
        if k != "time":  # NaN marks the losses of the step-0 evaluation row in both
            np.testing.assert_array_equal(a["history"][k], b["history"][k], err_msg=k)


def test_compile_is_cuda_only_and_bf16_runs_on_cpu():
    with pytest.warns(UserWarning, match="compile=True is only honoured on CUDA"):
        tr = train.Trainer(Probe(), _ids(8), batch_size=2, steps=2, compile=True, progress=False)
    assert tr.compile is False
    tr.fit()
    tr = train.Trainer(_toy_recipe(), data.toy_2d("ring", 64, seed=0), batch_size=16, steps=3, bf16=True,
                       progress=False).fit()
    assert tr.bf16 and all(math.isfinite(v) for v in tr.history["ae_loss"])


def test_trainer_bad_inputs(tmp_path):
    x = _ids(8)
    with pytest.raises(ValueError, match="batch_size = 9 exceeds the dataset size 8"):
        train.Trainer(Probe(), x, batch_size=9, steps=1)
    with pytest.raises(TypeError, match="floating dtype"):
        train.Trainer(Probe(), torch.arange(8)[:, None], batch_size=2, steps=1)
    with pytest.raises(ValueError, match=r"shape \(N, 1\)"):
        train.Trainer(Probe(), torch.zeros(8, 2), batch_size=2, steps=1)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="NaN or infinite"):
            train.Trainer(Probe(), torch.cat([x, torch.tensor([[bad]])]), batch_size=2, steps=1)
    with pytest.raises(ValueError, match="exactly one of steps and epochs"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, epochs=1)
    with pytest.raises(ValueError, match="exactly one of steps and epochs"):
        train.Trainer(Probe(), x, batch_size=2)
    with pytest.raises(ValueError, match="need a checkpoint_dir"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, resume=True)
    with pytest.raises(ValueError, match="optimizers must be a dict with keys"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, optimizers={"ae": None})
    with pytest.raises(TypeError, match="optimizers must be a dict"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, optimizers=[None])
    with pytest.raises(TypeError, match="batch_size must be an int"):
        train.Trainer(Probe(), x, batch_size=2.0, steps=1)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        train.Trainer(Probe(), x, batch_size=0, steps=1)
    with pytest.raises(TypeError, match="seed must be an int"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, seed="0")
    with pytest.raises(TypeError, match="grad_clip must be a number"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, grad_clip="1")
    with pytest.raises(ValueError, match="grad_clip must be a positive"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, grad_clip=-1.0)
    with pytest.raises(ValueError, match="unknown optimizer group"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, grad_clip={"ae": 1.0})
    with pytest.raises(TypeError, match="bf16 must be a bool"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, bf16=1)
    with pytest.raises(ValueError, match="torchrun"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, distributed=True)
    with pytest.raises(TypeError, match="recipe must be"):
        train.Trainer(nn.Linear(1, 1), x, batch_size=2, steps=1)
    with pytest.raises(TypeError, match="data must be a torch tensor"):
        train.Trainer(Probe(), [[0.0]] * 8, batch_size=2, steps=1)
    with pytest.raises(ValueError, match="log_every must be an int >= 1"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, log_every=0)
    with pytest.raises(ValueError, match="device"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, device="tpu")
    with pytest.raises(FileNotFoundError):
        train.Trainer(Probe(), x, batch_size=2, steps=1).load_checkpoint(tmp_path / "none.pt")


class _Leaky(Probe):
    def __init__(self, result):
        super().__init__()
        self.result = result

    def _loss(self, x, ctx):
        return self.result(((x - self.w) ** 2).mean())


@pytest.mark.parametrize("result, match", [
    (lambda loss: {"total": loss}, "with a 'loss' entry"),
    (lambda loss: loss, "with a 'loss' entry"),
    (lambda loss: {"loss": loss, "other": 1.0}, "0-d floating tensors"),  # a Python float
    (lambda loss: {"loss": loss, "other": loss.detach()[None]}, "0-d floating tensors"),
    (lambda loss: {"loss": loss, "step": loss.detach()}, "reserved"),
])
def test_phase_results_are_checked(result, match):
    with pytest.raises((TypeError, ValueError), match=match):
        train.Trainer(_Leaky(result), _ids(8), batch_size=2, steps=2, progress=False).fit()


class _Spy(Probe):
    """Records whether autocast is on in the forward pass, the backward pass, the optimizer step
    and the post-step hook."""

    def __init__(self):
        super().__init__()
        self.log = []
        self.w.register_hook(lambda g: self.log.append(("backward", torch.is_autocast_enabled("cpu"))))

    def phases(self):
        return [recipes.Phase("main", "main", self._loss, post_step=self._hook)]

    def _loss(self, x, ctx):
        self.log.append(("forward", torch.is_autocast_enabled("cpu")))
        return super()._loss(x, ctx)

    def _hook(self):
        self.log.append(("post_step", torch.is_autocast_enabled("cpu")))

    def make_optimizers(self, overrides=None):
        opts = super().make_optimizers(overrides)
        opts["main"].register_step_pre_hook(lambda *a: self.log.append(("step", torch.is_autocast_enabled("cpu"))))
        return opts


def test_autocast_covers_the_forward_pass_only():
    spy = _Spy()
    train.Trainer(spy, _ids(8), batch_size=2, steps=2, bf16=True, progress=False).fit()
    assert spy.log == [("forward", True), ("backward", False), ("step", False), ("post_step", False)] * 2
    spy = _Spy()
    train.Trainer(spy, _ids(8), batch_size=2, steps=1, progress=False).fit()
    assert spy.log == [("forward", False), ("backward", False), ("step", False), ("post_step", False)]


def test_gradient_clipping_bounds_the_step():
    class Steep(Probe):
        def optimizer_specs(self):
            return {"main": recipes.OptimizerSpec([self.w], "sgd", 1.0)}

        def _loss(self, x, ctx):
            return {"loss": 1000.0 * self.w.sum()}  # gradient 1000 per coordinate

    free, clipped = Steep(d=4), Steep(d=4)
    train.Trainer(free, _ids(8).repeat(1, 4), batch_size=2, steps=1, progress=False).fit()
    train.Trainer(clipped, _ids(8).repeat(1, 4), batch_size=2, steps=1, grad_clip=0.5, progress=False).fit()
    assert torch.allclose(free.w.detach(), torch.full((4,), -1000.0))
    assert float(clipped.w.detach().norm()) == pytest.approx(0.5, rel=1e-5)  # SGD lr 1: step = clipped grad
    per_group = Steep(d=4)
    train.Trainer(per_group, _ids(8).repeat(1, 4), batch_size=2, steps=1, grad_clip={"main": 2.0},
                  progress=False).fit()
    assert float(per_group.w.detach().norm()) == pytest.approx(2.0, rel=1e-5)


def test_train_step_function_is_the_trainers_step():
    x = data.toy_2d("ring", 64, seed=0)
    a, b = _toy_recipe(0), _toy_recipe(0)
    torch.manual_seed(1)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(1))  # the trainer's data order for seed 1
    out = train.train_step(a, x[perm], a.make_optimizers())
    assert set(out) == {"ae_loss", "recon", "gan", "adv_loss", "disc"} and not out["ae_loss"].requires_grad
    assert out["adv_loss"] == pytest.approx(a.lam * float(out["disc"]))
    assert set(out) == set(a.loss(x[:16]))  # one schema: the step's columns are the loss dictionary's
    tr = train.Trainer(b, x[:16], batch_size=16, steps=1, seed=1, progress=False).fit()
    _assert_same_state(a, b)
    assert tr.history["ae_loss"][0] == pytest.approx(float(out["ae_loss"]))


def test_wae_mmd_learns_on_embedded_mnist():
    """WAE-MMD (Chapter 3) on the embedded MNIST, small width: reconstructions improve and the
    codes' MMD to the prior falls."""
    torch.manual_seed(0)
    train_set, test_set = data.load_mnist("embedded", "train"), data.load_mnist("embedded", "test")
    x_test = test_set.images[:500]
    recipe = cookbook.build_recipe("WAE-MMD", z_dim=8, width=8)

    def evaluate(r):
        return {"test_recon": metrics.reconstruction_error(r, x_test),
                "test_mmd": metrics.mmd_to_prior(r.encode(x_test))}

    tr = train.Trainer(recipe, train_set, batch_size=100, epochs=2, log_every=20, eval_every=40,
                       callbacks=[evaluate], progress=False)
    h = tr.fit().history
    before = {k: h[k][0] for k in ("test_recon", "test_mmd")}  # step 0: evaluated before training
    after = {k: h[k][-1] for k in before}
    assert after["test_recon"] < 0.6 * before["test_recon"]
    assert after["test_mmd"] < 0.5 * before["test_mmd"]
    assert h["step"][0] == 0 and h["recon"][-1] < h["recon"][1]


def test_progress_default_follows_vegan_progress(monkeypatch):
    import vegan_lib as vl

    recipe = vl.recipes.WAE(vl.networks.MLPEncoder((2,), 2, (8,)), vl.networks.MLPDecoder(2, (2,), (8,)))
    data = torch.randn(20, 2)
    monkeypatch.setenv("VEGAN_PROGRESS", "0")
    assert vl.train.Trainer(recipe, data, batch_size=10, steps=1).progress is False
    monkeypatch.delenv("VEGAN_PROGRESS")
    assert vl.train.Trainer(recipe, data, batch_size=10, steps=1).progress is True
    monkeypatch.setenv("VEGAN_PROGRESS", "0")
    assert vl.train.Trainer(recipe, data, batch_size=10, steps=1, progress=True).progress is True


def test_time_column_excludes_evaluation():
    import time as _time

    def slow(recipe):
        _time.sleep(0.3)
        return {"m": 1.0}

    tr = train.Trainer(Probe(), _ids(8), batch_size=2, steps=4, log_every=2, eval_every=2, callbacks=[slow],
                       progress=False).fit()
    assert tr.history["step"] == [0, 2, 4] and tr.history["time"][-1] < 0.3  # three evaluations: 0.9 s
