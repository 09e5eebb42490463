"""Training throughput (images per second) of every cookbook recipe on MNIST-sized data.

    python bench/throughput.py [--width 16] [--steps 30] [--device auto]

Each recipe is built with `vl.cookbook.build_recipe(name, width=...)` and trained by
`vl.train.Trainer` on the embedded MNIST train split (kept on the device); the timed
steps follow a few warm-up steps. Images/s counts the data rows a step consumes (a
WGAN step reads n_critic + 1 minibatches). Writes bench/results/throughput.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe_machine  # noqa: E402

import vegan_lib as vl  # noqa: E402


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=16, help="base_channels of the conv nets")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per recipe")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "throughput.json"))
    args = ap.parse_args(argv)
    device = vl.get_device(args.device)
    data = vl.data.load_mnist("embedded", "train", device=device)
    rows = []
    for entry in vl.cookbook.COOKBOOK:
        vl.set_seed(0)
        recipe = vl.cookbook.build_recipe(entry.name, width=args.width)
        warm = vl.train.Trainer(recipe, data, batch_size=args.batch_size, steps=args.warmup, device=device,
                                progress=False, log_every=args.warmup)
        warm.fit()
        trainer = vl.train.Trainer(recipe, data, batch_size=args.batch_size, steps=args.steps, device=device,
                                   progress=False, log_every=args.steps, optimizers=warm.optimizers)
        _sync(device)
        t0 = time.perf_counter()
        trainer.fit()
        _sync(device)
        dt = time.perf_counter() - t0
        images = args.steps * args.batch_size * recipe.batches_per_step
        rows.append({"recipe": entry.name, "seconds_per_step": dt / args.steps, "images_per_s": images / dt,
                     "batches_per_step": recipe.batches_per_step})
        print(f"{entry.name:10s} {1e3 * dt / args.steps:8.1f} ms/step  {images / dt:9.0f} images/s", flush=True)
    out = {"machine": describe_machine(), "device": str(device), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
           "width": args.width, "batch_size": args.batch_size, "steps": args.steps, "rows": rows,
           "data": data.describe()}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
