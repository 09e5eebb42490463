"""Benchmark: the experiment protocol's calibration (BOOK.md §6, issue 13): for every recipe of
`vl.protocol` under one profile, train one run per seed (two runs at a time, one torch thread
each), then measure its classifier Fréchet distance (FD) and sharpness on 1,000 samples against
the embedded test digits, and its training time; with the baselines: held-out real digits and the
mean-image predictor. The FD ordering VAE > WAE-MMD > WAE-GAN is what Chapter 7 asserts.

    python bench/protocol_calibration.py [--profile cpu] [--seeds 0] [--recipes VAE WAE-MMD ...] [--jobs 2]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

_ONE = """
import json, sys, time, torch
torch.set_num_threads(1)
import vegan_lib as vl
name, seed, profile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
train, test = vl.data.load_mnist("embedded", "train"), vl.data.load_mnist("embedded", "test")
clf, _ = vl.classifier.mnist_classifier()
recipe = vl.protocol.build(name, profile, seed)
t0 = time.perf_counter()
vl.train.Trainer(recipe, train, seed=seed, log_every=100, progress=False, **vl.protocol.train_options(name, profile)).fit()
seconds = time.perf_counter() - t0
with vl.eval_mode(recipe):
    samples = recipe.sample(1000, generator=torch.Generator().manual_seed(10_000 + seed))
print(json.dumps({"recipe": name, "seed": seed, "seconds": round(seconds, 1),
                  "FD": round(vl.metrics.frechet_distance(samples, test.images, clf), 2),
                  "sharpness": round(float(vl.metrics.sharpness(samples, "mean")), 5)}))
"""


def baselines() -> dict:
    import vegan_lib as vl

    train, test = vl.data.load_mnist("embedded", "train"), vl.data.load_mnist("embedded", "test")
    clf, _ = vl.classifier.mnist_classifier()
    mean = vl.baselines.MeanImage(train.images)
    with vl.eval_mode(mean):
        mean_samples = mean.sample(1000)
    out = {}
    for name, x in (("real digits (train subset)", train.subset(1000, seed=0).images), ("mean image", mean_samples)):
        out[name] = {"FD": round(vl.metrics.frechet_distance(x, test.images, clf), 2),
                     "sharpness": round(float(vl.metrics.sharpness(x, "mean")), 5)}
    return out


def main(argv=None) -> dict:
    import vegan_lib as vl
    from machine import describe_machine

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="cpu", choices=vl.protocol.PROFILES)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--recipes", nargs="+", default=list(vl.protocol.RECIPES))
    p.add_argument("--jobs", type=int, default=2, help="runs at a time (one torch thread each)")
    p.add_argument("--out", default=str(HERE / "results" / "protocol_calibration.json"))
    args = p.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VEGAN_PROGRESS": "0"}

    def one(job):
        name, seed = job
        done = subprocess.run([sys.executable, "-c", _ONE, name, str(seed), args.profile], env=env, check=True,
                              capture_output=True, text=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(row, flush=True)
        return row

    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(one, [(n, s) for s in args.seeds for n in args.recipes]))
    result = {"benchmark": "protocol_calibration", "date": time.strftime("%Y-%m-%d"), "machine": describe_machine(),
              "profile": args.profile, "settings": {n: vl.protocol.settings(n, args.profile).as_dict() for n in args.recipes},
              "jobs": args.jobs, "wall_seconds": round(time.perf_counter() - t0, 1), "runs": rows,
              "baselines": baselines(), "data": "embedded MNIST: 4,000 train, FD against the 1,000 test digits"}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")
    return result


if __name__ == "__main__":
    main()
