"""Time every chapter in quick and/or full mode with papermill; record the results.

    python bench/chapter_times.py [--modes quick full] [--chapters 01 02]

Writes bench/results/chapter_times.json (times in seconds, with the machine description).
Timing is recorded here, never asserted in a test.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import papermill

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe_machine  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", nargs="+", default=["quick", "full"], choices=["quick", "full"])
    ap.add_argument("--chapters", nargs="*", default=None, help="chapter number prefixes, e.g. 01 03")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "chapter_times.json"))
    args = ap.parse_args(argv)
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    if args.chapters:
        chapters = [c for c in chapters if c.name[:2] in args.chapters]
    out_dir = ROOT / "_build" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {"machine": describe_machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": {}}
    for mode in args.modes:
        os.environ["VEGAN_QUICK"] = "1" if mode == "quick" else "0"
        os.environ["VEGAN_PROGRESS"] = "0"
        for nb in chapters:
            t0 = time.perf_counter()
            papermill.execute_notebook(str(nb), str(out_dir / f"{nb.stem}_{mode}.ipynb"), kernel_name="python3",
                                       cwd=str(nb.parent), progress_bar=False)
            dt = time.perf_counter() - t0
            results["seconds"].setdefault(nb.stem, {})[mode] = round(dt, 2)
            print(f"{nb.stem:28s} {mode:5s} {dt:8.1f} s", flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
