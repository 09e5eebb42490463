"""Train three small recipes on a 2-D toy; run by tests/test_distributed.py, alone or under
``torchrun --nproc_per_node 2`` (Gloo on the CPU). Usage: ddp_train.py OUT [CKPT_DIR KILL_AT]"""
import os
import signal
import sys

import torch

from vegan_lib import data, distributed, networks, recipes, train

torch.set_num_threads(1)
RECIPES = ("WAE-MMD", "WAE-GAN", "VAE")


def build(name: str) -> recipes.Recipe:
    torch.manual_seed(0)
    kind = "deterministic" if name == "WAE-MMD" else "gaussian"
    enc = networks.MLPEncoder(2, 2, (16, 16), kind=kind)
    dec = networks.MLPDecoder(2, 2, (16, 16), kind="gaussian" if name == "VAE" else "deterministic", sigma2=0.1)
    if name == "VAE":
        return recipes.VAE(enc, dec)
    if name == "WAE-GAN":
        return recipes.WAE(enc, dec, penalty="gan", lam=1.0, adversary=networks.latent_adversary(2, 16, 2))
    return recipes.WAE(enc, dec, penalty="mmd", lam=10.0)


def run(name: str, steps: int = 24, checkpoint_dir=None, kill_at=None) -> dict:
    x = data.toy_2d("ring", 480, seed=0)
    recipe = build(name)

    def killer(r):
        if kill_at is not None and trainer.step == kill_at and distributed.rank() == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return {}

    trainer = train.Trainer(recipe, x, batch_size=40, steps=steps, seed=3, log_every=4, eval_every=1,
                            callbacks=[killer], eval_at_start=False, checkpoint_dir=checkpoint_dir,
                            checkpoint_every=8 if checkpoint_dir else None, resume=checkpoint_dir is not None,
                            progress=False)
    trainer.fit()
    return {"state": {k: v.detach().clone() for k, v in recipe.state_dict().items()}, "history": trainer.history,
            "world_size": trainer.world_size, "distributed": trainer.distributed, "resumed": trainer.resumed}


if __name__ == "__main__":
    out = sys.argv[1]
    ckpt = sys.argv[2] if len(sys.argv) > 2 else None
    kill_at = int(sys.argv[3]) if len(sys.argv) > 3 else None
    names = RECIPES if ckpt is None else ("WAE-GAN",)
    results = {name: run(name, checkpoint_dir=ckpt, kill_at=kill_at) for name in names}
    if distributed.is_main_process():
        torch.save(results, out)
