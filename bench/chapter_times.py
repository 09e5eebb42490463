"""Time every chapter in quick and/or full mode with papermill; record the results.

    python bench/chapter_times.py [--modes quick full] [--profile cpu|gpu] [--chapters 01 02] [--reference-runs]

Full mode runs the chapters with the protocol profile ``--profile`` (``cpu`` by default; ``gpu`` on a GPU
machine, written to ``--out bench/results/chapter_times_gpu.json``), from a warm cache of the shared
reference runs; ``--reference-runs`` also times training those runs once into an empty cache (``make
runs-cpu``). Results are merged into the output file (times in seconds, keyed ``quick``, ``cpu`` or ``gpu``)
with the machine and the date; ``bench/run_times.py`` writes them into the chapters' first cells.
Timing is recorded here, never asserted in a test.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import subprocess
import tempfile

import papermill

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe_machine  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", nargs="*", default=["quick", "full"], choices=["quick", "full"],
                    help="none with --reference-runs: time only the reference runs")
    ap.add_argument("--chapters", nargs="*", default=None, help="chapter number prefixes, e.g. 01 03")
    ap.add_argument("--profile", default="cpu", choices=["cpu", "gpu"], help="the protocol profile of full mode")
    ap.add_argument("--reference-runs", action="store_true",
                    help="also time training the profile's reference runs into an empty cache")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "chapter_times.json"))
    args = ap.parse_args(argv)
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    if args.chapters:
        chapters = [c for c in chapters if c.name[:2] in args.chapters]
    out_dir = ROOT / "_build" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = describe_machine()
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    if results.get("machine", {}).get("cpu") != machine["cpu"] or results.get("machine", {}).get("gpu") != machine.get("gpu"):
        results = {}  # another machine's record is replaced, never mixed
    results.update(machine=machine, date=time.strftime("%Y-%m-%d %H:%M:%S"))
    results.setdefault("seconds", {})
    os.environ["VEGAN_PROGRESS"] = "0"
    if args.reference_runs:
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "vegan_lib.reference", "--profile", args.profile, "--jobs", "2",
                            "--cache-dir", cache], check=True)
            dt = time.perf_counter() - t0
        results.setdefault("reference_runs", {})[args.profile] = round(dt, 1)
        print(f"reference runs ({args.profile} profile) {dt:8.1f} s", flush=True)
    for mode in args.modes:
        key = "quick" if mode == "quick" else args.profile
        os.environ["VEGAN_QUICK"] = "1" if mode == "quick" else "0"
        for nb in chapters:
            params = {"PROFILE": args.profile} if mode == "full" and "PROFILE" in papermill.inspect_notebook(str(nb)) else {}
            t0 = time.perf_counter()
            papermill.execute_notebook(str(nb), str(out_dir / f"{nb.stem}_{key}.ipynb"), parameters=params,
                                       kernel_name="python3", cwd=str(nb.parent), progress_bar=False)
            dt = time.perf_counter() - t0
            results["seconds"].setdefault(nb.stem, {})[key] = round(dt, 2)
            print(f"{nb.stem:28s} {key:5s} {dt:8.1f} s", flush=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
