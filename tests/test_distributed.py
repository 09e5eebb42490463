"""Data-parallel training (vegan_lib.distributed, Trainer under torchrun): two Gloo processes on
the CPU train the same model as one process with the same global batch, and a killed distributed
run resumes from its last checkpoint."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vegan_lib import distributed

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "scripts" / "ddp_train.py"
sys.path.insert(0, str(SCRIPT.parent))
import ddp_train  # noqa: E402


def _torchrun(*args, timeout=240):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VEGAN_PROGRESS": "0",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(SCRIPT), *map(str, args)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _close(single, multi, name):
    for k in single["state"]:
        torch.testing.assert_close(multi["state"][k], single["state"][k], rtol=1e-5, atol=1e-6, msg=f"{name} {k}")
    for k in single["history"]:
        if k != "time":
            np.testing.assert_allclose(multi["history"][k], single["history"][k], rtol=1e-5, atol=1e-5,
                                       err_msg=f"{name} {k}")


def test_helpers_are_the_identity_in_one_process():
    assert not distributed.is_distributed() and distributed.world_size() == 1 and distributed.rank() == 0
    assert distributed.is_main_process() and distributed.init_from_env() is False
    x = torch.randn(5, 3, requires_grad=True)
    with distributed.sharded():
        assert distributed.gather(x) is x
        torch.manual_seed(0)
        a = distributed.randn((4, 2))
    torch.manual_seed(0)
    assert torch.equal(a, torch.randn(4, 2))


def test_two_gloo_processes_train_like_one_process(tmp_path):
    out = tmp_path / "ddp.pt"
    proc = _torchrun(out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    multi = torch.load(out, weights_only=False)
    for name in ddp_train.RECIPES:
        assert multi[name]["distributed"] and multi[name]["world_size"] == 2
        single = ddp_train.run(name)
        assert not single["distributed"]
        _close(single, multi[name], name)  # parameters and logged losses of the global batch


def test_killed_distributed_run_resumes(tmp_path):
    ckpt = tmp_path / "ckpt"
    killed = _torchrun(tmp_path / "killed.pt", ckpt, 13)  # rank 0 is SIGKILLed at step 13
    assert killed.returncode != 0 and not (tmp_path / "killed.pt").exists()
    assert "Signal 9 (SIGKILL)" in killed.stderr or str(-signal.SIGKILL) in killed.stderr, killed.stderr[-2000:]
    assert torch.load(ckpt / "last.pt", weights_only=True)["step"] == 8  # the last checkpoint, written by rank 0
    resumed = _torchrun(tmp_path / "resumed.pt", ckpt)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    result = torch.load(tmp_path / "resumed.pt", weights_only=False)["WAE-GAN"]
    assert result["resumed"] and result["history"]["step"][-1] == 24
    _close(ddp_train.run("WAE-GAN"), result, "WAE-GAN resumed")


@pytest.mark.parametrize("batch_size", [3])
def test_batch_must_split_evenly(batch_size, monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    from vegan_lib import data, train

    with pytest.raises(ValueError, match="divisible by the number of processes"):
        train.Trainer(ddp_train.build("VAE"), data.toy_2d("ring", 40, seed=0), batch_size=batch_size, steps=1,
                      distributed=False)
