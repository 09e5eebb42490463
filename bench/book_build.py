"""Time the whole book build (`make book` / the test build): parallel execution of every
chapter into a fresh jupyter-cache, then the Jupyter Book render with warnings as errors.

    python bench/book_build.py [--modes quick full]

Builds into _build/bench/book_<mode> (never the real _build/html) and writes
bench/results/book_build.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe_machine  # noqa: E402

JCACHE = [sys.executable, "-c", "from jupyter_cache.cli.commands.cmd_main import jcache; jcache()"]
JB = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]


def build(mode: str) -> dict:
    out = ROOT / "_build" / "bench" / f"book_{mode}"
    shutil.rmtree(out, ignore_errors=True)
    cache = out / "_build" / ".jupyter_cache"
    cache.parent.mkdir(parents=True)
    env = {**os.environ, "VEGAN_QUICK": "1" if mode == "quick" else "0", "VEGAN_PROGRESS": "0"}
    notebooks = [str(p) for p in sorted((ROOT / "book").glob("*.ipynb"))]
    t0 = time.perf_counter()
    subprocess.run(JCACHE + ["notebook", "-p", str(cache), "add", *notebooks], input="y\n", text=True,
                   check=True, cwd=ROOT, env=env, capture_output=True)
    subprocess.run(JCACHE + ["project", "-p", str(cache), "execute", "--executor", "local-parallel",
                             "--timeout", "1800"], check=True, cwd=ROOT, env={**env, "OMP_NUM_THREADS": "1"},
                   capture_output=True)
    t1 = time.perf_counter()
    subprocess.run(JB + ["build", "--all", "-W", "--keep-going", "--path-output", str(out), "."], check=True,
                   cwd=ROOT, env=env, capture_output=True)
    t2 = time.perf_counter()
    return {"execute_s": round(t1 - t0, 1), "render_s": round(t2 - t1, 1), "total_s": round(t2 - t0, 1),
            "notebooks": len(notebooks)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", nargs="+", default=["quick", "full"], choices=["quick", "full"])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "book_build.json"))
    args = ap.parse_args(argv)
    results = {"machine": describe_machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S"), "builds": {}}
    for mode in args.modes:
        results["builds"][mode] = build(mode)
        print(f"book build ({mode}): {results['builds'][mode]}", flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
