"""Tests of vegan_lib.train: data order, history, callbacks, divergence stop, checkpoints,
resume (in process and after SIGKILL), CUDA-only flags, bad inputs, and a WAE-MMD on MNIST."""
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from vegan_lib import data, metrics, models, train

ROOT = Path(__file__).resolve().parents[1]


class Probe(models.Recipe):
    """A minimal recipe: fits a mean w; returns the step count and a noise draw as losses."""

    name = "probe"

    def __init__(self, d=1, bad_step=None, bad_value=math.inf, batches_per_step=1):
        super().__init__(z_dim=1)
        self.w = nn.Parameter(torch.zeros(d))
        self.d, self.bad_step, self.bad_value = d, bad_step, bad_value
        self.batches_per_step = batches_per_step
        self.seen, self.calls = [], 0

    @property
    def x_shape(self):
        return (self.d,)

    def optimizer_specs(self):
        return {"main": models.OptimizerSpec([self.w], "adam", 0.1)}

    def train_step(self, x, optimizers):
        self.calls += 1
        self.seen.append(x.detach().clone())
        loss = ((x - self.w) ** 2).sum(1).mean()
        self._step(optimizers["main"], loss)
        count = torch.tensor(float(self.calls))
        if self.calls == self.bad_step:
            count = torch.tensor(self.bad_value)
        return {"count": count, "noise": torch.randn(())}


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
    assert [x.shape[0] for x in probe.seen] == [12] * 6
    with pytest.raises(ValueError, match="batches_per_step"):
        train.Trainer(Probe(batches_per_step=3), _ids(10), batch_size=4, steps=1)


def test_history_rows_are_window_means_at_log_steps():
    tr = train.Trainer(Probe(), _ids(8), batch_size=2, steps=10, log_every=4, progress=False)
    h = tr.fit()
    assert h is tr.history
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
                       progress=False).fit()
    hb = train.Trainer(b, _ids(8), batch_size=2, steps=7, log_every=100, progress=False).fit()
    assert calls == [(False, False)] * 3 and a.training
    assert ha["step"] == [3, 6, 7] and ha["metric"] == [1.0, 2.0, 3.0]  # every 3 steps and at the end
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
    h = tr.fit()
    assert h["step"] == [2, 3, 4, 6]
    assert [math.isnan(v) for v in h["m"]] == [True, False, True, False]


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
    enc = models.MLPEncoder(2, 2, (16,), kind="gaussian")
    dec = models.MLPDecoder(2, 2, (16,))
    return models.WAE(enc, dec, penalty="gan", adversary=models.latent_adversary(2, 16, 2), lam=1.0)


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
    assert tr2.fit() == tr.history  # already finished: nothing to do
    with pytest.raises(ValueError, match="batch_size was 32, now 16"):
        train.Trainer(_toy_recipe(), x, batch_size=16, steps=10, checkpoint_dir=tmp_path, resume=True)


def test_resume_in_process_equals_uninterrupted(tmp_path):
    x = data.toy_2d("moons", 200, seed=0)
    full = _toy_recipe(0)
    h_full = train.Trainer(full, x, batch_size=32, steps=25, seed=5, log_every=4, progress=False).fit()
    part = _toy_recipe(0)
    train.Trainer(part, x, batch_size=32, steps=13, seed=5, log_every=4, checkpoint_dir=tmp_path,
                  progress=False).fit()  # stops mid-epoch (6 steps per epoch)
    resumed = _toy_recipe(7)
    tr = train.Trainer(resumed, x, batch_size=32, steps=25, seed=5, log_every=4, checkpoint_dir=tmp_path,
                       resume=True, progress=False)
    assert tr.step == 13 and tr.resumed
    h = tr.fit()
    _assert_same_state(full, resumed)
    assert h["step"] != h_full["step"]  # the resumed run logged at 13 (its former end) too
    assert h["loss"][-1] == h_full["loss"][-1]


_KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from vegan_lib import data, models, train
    mode, ckpt, out = sys.argv[1:4]
    torch.manual_seed(0)
    x = data.toy_2d("ring", 400, seed=0)
    enc = models.MLPEncoder(2, 2, (16,), kind="gaussian")
    dec = models.MLPDecoder(2, 2, (16,))
    recipe = models.WAE(enc, dec, penalty="gan", adversary=models.latent_adversary(2, 16, 2), lam=1.0)

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
        if k != "time":
            assert a["history"][k] == b["history"][k], k


def test_cuda_only_flags_are_ignored_with_a_warning_on_cpu():
    with pytest.warns(UserWarning, match="bf16=True is only honoured on CUDA"):
        tr = train.Trainer(Probe(), _ids(8), batch_size=2, steps=2, bf16=True, progress=False)
    assert tr.bf16 is False
    with pytest.warns(UserWarning, match="compile=True is only honoured on CUDA"):
        tr = train.Trainer(Probe(), _ids(8), batch_size=2, steps=2, compile=True, progress=False)
    assert tr.compile is False
    tr.fit()


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
    with pytest.raises(TypeError, match="recipe must be"):
        train.Trainer(nn.Linear(1, 1), x, batch_size=2, steps=1)
    with pytest.raises(TypeError, match="data must be a torch tensor"):
        train.Trainer(Probe(), [[0.0]] * 8, batch_size=2, steps=1)
    with pytest.raises(ValueError, match="log_every"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, log_every=0)
    with pytest.raises(ValueError, match="device"):
        train.Trainer(Probe(), x, batch_size=2, steps=1, device="tpu")
    with pytest.raises(FileNotFoundError):
        train.Trainer(Probe(), x, batch_size=2, steps=1).load_checkpoint(tmp_path / "none.pt")


class _Leaky(Probe):
    def __init__(self, result):
        super().__init__()
        self.result = result

    def train_step(self, x, optimizers):
        loss = ((x - self.w) ** 2).mean()
        return self.result(loss)


@pytest.mark.parametrize("result, match", [
    (lambda loss: {"loss": loss}, "detached 0-d floating tensors"),     # still attached to the graph
    (lambda loss: {"loss": 1.0}, "detached 0-d floating tensors"),  # a Python float
    (lambda loss: {"loss": loss.detach()[None]}, "detached 0-d floating tensors"),
    (lambda loss: loss.detach(), "must return a non-empty dict"),
    (lambda loss: {"step": loss.detach()}, "reserved"),
])
def test_train_step_results_are_checked(result, match):
    with pytest.raises((TypeError, ValueError), match=match):
        train.Trainer(_Leaky(result), _ids(8), batch_size=2, steps=2, progress=False).fit()


def test_wae_mmd_learns_on_embedded_mnist():
    """WAE-MMD (Chapter 3) on the embedded MNIST, small width: reconstructions improve and the
    codes' MMD to the prior falls."""
    torch.manual_seed(0)
    train_set, test_set = data.load_mnist("embedded", "train"), data.load_mnist("embedded", "test")
    x_test = test_set.images[:500]
    recipe = models.build_recipe("WAE-MMD", z_dim=8, width=8)

    def evaluate(r):
        return {"test_recon": metrics.reconstruction_error(r, x_test),
                "test_mmd": metrics.mmd_to_prior(r.encode(x_test))}

    before = evaluate(recipe)
    tr = train.Trainer(recipe, train_set, batch_size=100, epochs=2, log_every=20, eval_every=40,
                       callbacks=[evaluate], progress=False)
    h = tr.fit()
    after = {k: h[k][-1] for k in before}
    assert after["test_recon"] < 0.6 * before["test_recon"]
    assert after["test_mmd"] < 0.5 * before["test_mmd"]
    assert h["recon"][-1] < h["recon"][0]


def test_progress_default_follows_vegan_progress(monkeypatch):
    import vegan_lib as vl

    recipe = vl.models.WAE(vl.models.MLPEncoder((2,), 2, (8,)), vl.models.MLPDecoder(2, (2,), (8,)))
    data = torch.randn(20, 2)
    monkeypatch.setenv("VEGAN_PROGRESS", "0")
    assert vl.train.Trainer(recipe, data, batch_size=10, steps=1).progress is False
    monkeypatch.delenv("VEGAN_PROGRESS")
    assert vl.train.Trainer(recipe, data, batch_size=10, steps=1).progress is True
    monkeypatch.setenv("VEGAN_PROGRESS", "0")
    assert vl.train.Trainer(recipe, data, batch_size=10, steps=1, progress=True).progress is True
