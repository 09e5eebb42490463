"""Run every benchmark of bench/ and write their results under bench/results/ (make bench).

    python bench/run_all.py            # everything: quick and full chapter times, both book builds
    python bench/run_all.py --quick    # quick mode only and short runs (minutes, for a check),
                                       # written to bench/results/quick/
"""
import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="quick mode only, short timing runs")
    args = ap.parse_args(argv)
    modes = ["quick"] if args.quick else ["quick", "full"]
    results = HERE / "results" / ("quick" if args.quick else "")
    results.mkdir(parents=True, exist_ok=True)
    runs = [
        ["trainer_overhead.py"] + (["--repeats", "5"] if args.quick else []),
        ["ot_minibatch.py"] + (["--sizes", "64", "256", "1024"] if args.quick else []),
        ["throughput.py"] + (["--steps", "10"] if args.quick else []),
        ["chapter_times.py", "--modes", *modes],
        ["book_build.py", "--modes", *modes],
    ]
    for script, *options in runs:
        print(f">> {script} {' '.join(options)}", flush=True)
        out = results / script.replace(".py", ".json")
        subprocess.run([sys.executable, str(HERE / script), *options, "--out", str(out)], check=True)
    print(">> results in", results)


if __name__ == "__main__":
    main()
