"""Exact-OT cost per minibatch size: how long `vl.ot.exact_ot` (POT's network simplex) takes
for the minibatch sizes a training loop would use, on 2-D toy points and on MNIST-sized vectors.

    python bench/ot_minibatch.py [--sizes 64 128 ...] [--repeats 3]

Writes bench/results/ot_minibatch.json (median seconds per solve, cost-matrix time separately).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe_machine  # noqa: E402

import vegan_lib as vl  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[64, 128, 256, 512, 1024, 2048])
    ap.add_argument("--dims", nargs="+", type=int, default=[2, 784])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "ot_minibatch.json"))
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    for d in args.dims:
        for n in args.sizes:
            t_cost, t_solve = [], []
            for _ in range(args.repeats):
                x, y = rng.random((n, d)), rng.random((n, d))
                t0 = time.perf_counter()
                M = vl.ot.cost_matrix(x, y)
                t1 = time.perf_counter()
                vl.ot.exact_ot(None, None, M)
                t2 = time.perf_counter()
                t_cost.append(t1 - t0)
                t_solve.append(t2 - t1)
            row = {"dim": d, "n": n, "cost_matrix_s": statistics.median(t_cost),
                   "exact_ot_s": statistics.median(t_solve)}
            rows.append(row)
            print(f"d={d:4d} n={n:5d}  cost matrix {row['cost_matrix_s'] * 1e3:8.2f} ms  "
                  f"exact OT {row['exact_ot_s'] * 1e3:9.2f} ms", flush=True)
    out = {"machine": describe_machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
           "repeats": args.repeats, "rows": rows}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
