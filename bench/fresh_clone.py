"""Benchmark: the README's commands from a fresh clone (BOOK.md §6 budgets: `make test` ≤ 10 min,
`make book` ≤ 30 min, at most 45 min if the protocol's scale needs it). Clones the repository's
committed HEAD into a scratch folder with `../shared` beside it when there is one, then times each
target in order in that clone (so `make book` and `make test-full` find the reference runs that the
first of them trained, as they would on a user's machine), and records the times with the machine.

    python bench/fresh_clone.py [--targets test test-full book] [--keep]

Writes bench/results/fresh_clone.json. Long: about an hour for the three targets on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe_machine  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", nargs="+", default=["test", "test-full", "book"])
    p.add_argument("--keep", action="store_true", help="keep the scratch clone")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "fresh_clone.json"))
    args = p.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="vegan-fresh-"))
    clone = scratch / "repo"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    if (ROOT.parent / "shared").is_dir():
        shutil.copytree(ROOT.parent / "shared", scratch / "shared")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    rows, result = [], {}
    try:
        for target in args.targets:
            t0 = time.perf_counter()
            done = subprocess.run(["make", target], cwd=clone, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            rows.append({"target": target, "seconds": round(seconds, 1), "minutes": round(seconds / 60, 2),
                         "returncode": done.returncode, "tail": done.stdout[-1500:] + done.stderr[-1500:]})
            print(f"make {target}: {seconds / 60:.1f} min, exit {done.returncode}", flush=True)
            result = {"benchmark": "fresh_clone", "date": time.strftime("%Y-%m-%d"), "commit": commit,
                      "machine": describe_machine(), "targets": rows,
                      "note": "targets run in this order in one fresh clone; the first one installs the "
                              "environment, later ones reuse it and the reference runs trained before them"}
            Path(args.out).write_text(json.dumps(result, indent=1))  # after every target: a long run may be cut
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
