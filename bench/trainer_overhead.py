"""Benchmark: overhead of vegan_lib.train.Trainer over a hand-written PyTorch loop (BOOK.md §6).

The same model (WAE-MMD, d_z = 8, with the paper's DCGAN-style networks of
``--width`` base channels, and with small MLPs whose fast steps expose any
per-step overhead), the same data (embedded MNIST train split, resident on the
device), the same minibatch order, noise and number of steps are trained once
by the trainer and once by a minimal loop written out by hand, alternately
(interleaved repeats, the order swapped every repeat). Both log the loss every
``--log-every`` steps. The final weights of the two must be identical, which
shows that both did the same computation. The budget is a median time ratio
trainer / hand loop <= 1.05.

Usage::

    python bench/trainer_overhead.py [--model both] [--steps 30] [--mlp-steps 200] [--repeats 15] [--device cpu]

Writes ``bench/results/trainer_overhead.json`` (timings, ratios, median, machine).
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import describe_machine  # noqa: E402

from vegan_lib import cookbook, data, networks, penalties, recipes, runtime, train  # noqa: E402


def machine(device: torch.device) -> dict:
    info = describe_machine()
    info.update({"device": str(device), "device_description": runtime.describe_device(device),
                 "torch_threads": torch.get_num_threads()})
    return info


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_trainer(recipe, x, steps, batch_size, seed, log_every, progress):
    trainer = train.Trainer(recipe, x, batch_size=batch_size, steps=steps, seed=seed, log_every=log_every,
                            progress=progress)
    trainer.fit()
    return trainer.history["ae_loss"][-1]


def run_hand(recipe, x, steps, batch_size, seed, log_every):
    """The minimal loop: what one would write by hand for WAE-MMD (WAE Algorithm 2)."""
    enc, dec = recipe.encoder, recipe.decoder
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3, betas=(0.5, 0.999))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    per_epoch = n // batch_size
    recipe.train()
    last = None
    for step in range(steps):
        i = step % per_epoch
        if i == 0:
            perm = torch.randperm(n, generator=gen).to(x.device)
        xb = x.index_select(0, perm[i * batch_size:(i + 1) * batch_size])
        z = enc(xb)[0]
        diff = (xb - dec(z)).flatten(1)
        recon = (diff * diff).sum(1).mean()
        mmd = penalties.mmd(z, torch.randn_like(z))
        loss = recon + 10.0 * mmd
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            last = loss.item()
    return last


def build(model: str, width: int) -> recipes.WAE:
    """WAE-MMD with the paper's conv networks ("conv", base ``width``) or 2 x ``16·width`` MLPs ("mlp")."""
    if model == "conv":
        return cookbook.build_recipe("WAE-MMD", z_dim=8, width=width)
    hidden = (16 * width, 16 * width)
    return recipes.WAE(networks.MLPEncoder((1, 28, 28), 8, hidden),
                       networks.MLPDecoder(8, (1, 28, 28), hidden, output="sigmoid"))


def bench(model, x, device, args, steps) -> dict:
    torch.manual_seed(args.seed)
    initial = build(model, args.width).to(device)
    print(f"WAE-MMD ({model}, width {args.width}): {steps} steps of batch {args.batch_size} on {device}, "
          f"{args.repeats} interleaved repeats")
    # warm-up (allocator, kernels), not timed
    run_trainer(copy.deepcopy(initial), x, 5, args.batch_size, args.seed, args.log_every, False)
    run_hand(copy.deepcopy(initial), x, 5, args.batch_size, args.seed, args.log_every)
    times = {"trainer": [], "hand": []}
    final = {}
    for r in range(args.repeats):
        order = ("trainer", "hand") if r % 2 == 0 else ("hand", "trainer")
        for kind in order:
            recipe = copy.deepcopy(initial)
            sync(device)
            t0 = time.perf_counter()
            if kind == "trainer":
                run_trainer(recipe, x, steps, args.batch_size, args.seed, args.log_every, args.progress)
            else:
                run_hand(recipe, x, steps, args.batch_size, args.seed, args.log_every)
            sync(device)
            times[kind].append(time.perf_counter() - t0)
            final[kind] = recipe.state_dict()
        print(f"  repeat {r + 1}: trainer {times['trainer'][-1]:.3f} s, hand {times['hand'][-1]:.3f} s, "
              f"ratio {times['trainer'][-1] / times['hand'][-1]:.4f}")
    same = all(torch.equal(final["trainer"][k], final["hand"][k]) for k in final["hand"])
    ratios = [a / b for a, b in zip(times["trainer"], times["hand"])]
    median = statistics.median(ratios)
    print(f"  median ratio {median:.4f}; same final weights: {same}")
    if not same:
        print("warning: the two loops did not compute the same weights", file=sys.stderr)
    return {"model": f"WAE-MMD, {'ConvEncoder/ConvDecoder' if model == 'conv' else 'MLPEncoder/MLPDecoder'}",
            "width": args.width, "steps": steps, "timings_s": times, "ratios": ratios, "median_ratio": median,
            "median_step_ms": {k: 1000 * statistics.median(v) / steps for k, v in times.items()},
            "same_final_weights": same}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=("conv", "mlp", "both"), default="both",
                   help="conv: the chapters' networks; mlp: small fast steps, where per-step overhead shows most")
    p.add_argument("--steps", type=int, default=30, help="training steps per timed run (conv)")
    p.add_argument("--mlp-steps", type=int, default=200, help="training steps per timed run (mlp)")
    p.add_argument("--repeats", type=int, default=15,
                   help="interleaved repeats; many short runs make the median robust to bursts of load")
    p.add_argument("--width", type=int, default=16, help="base channels (conv); the MLP has 16x width units")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--device", default="cpu", help="'cpu', 'cuda' or 'auto'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true", help="show the trainer's progress bar")
    p.add_argument("--out", default=str(HERE / "results" / "trainer_overhead.json"))
    args = p.parse_args(argv)

    device = runtime.get_device(args.device)
    x = data.load_mnist("embedded", "train", device=device).images
    print(f"device: {runtime.describe_device(device)}")
    chosen = ("conv", "mlp") if args.model == "both" else (args.model,)
    runs = {m: bench(m, x, device, args, args.steps if m == "conv" else args.mlp_steps) for m in chosen}
    worst = max(r["median_ratio"] for r in runs.values())
    result = {
        "benchmark": "trainer_overhead",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(device),
        "config": {"data": "embedded MNIST train split (4,000 images), on the device", "z_dim": 8,
                   "batch_size": args.batch_size, "repeats": args.repeats, "log_every": args.log_every,
                   "seed": args.seed, "progress_bar": args.progress,
                   "timing": "whole run incl. Trainer construction; order swapped every repeat"},
        "runs": runs,
        "median_ratio": worst,
        "median_ratio_is": "the largest of the runs' median ratios (trainer time / hand-loop time)",
        "budget": 1.05,
        "within_budget": worst <= 1.05,
        "same_final_weights": all(r["same_final_weights"] for r in runs.values()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"median ratio trainer / hand loop: {worst:.4f} (budget 1.05); written to {out}")
    return result


if __name__ == "__main__":
    main()
