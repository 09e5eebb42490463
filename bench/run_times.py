"""Write each chapter's measured run time into its first cell, from the benchmark records.

    python bench/run_times.py           # rewrite the "Run time" line of every chapter
    python bench/run_times.py --check   # exit 1 if a chapter's line differs from the records

The line is generated, never typed: ``tests/test_notebook_hygiene.py`` fails when a chapter's line is
not :func:`statement` of the current records. The records are ``bench/results/chapter_times.json``
(``bench/chapter_times.py`` on the CPU machine: quick mode and the ``cpu`` profile, and the training of the
shared reference runs) and ``bench/results/chapter_times_gpu.json`` (the same script with ``--profile gpu``
on a GPU machine); a time that no record holds is written "not measured".
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PREFIX = "*Run time* "


def _load(name):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _duration(seconds) -> str:
    if seconds is None:
        return "not measured"
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes >= 10 else f"{minutes:.1f} min"


def _machine(rec) -> str:
    m = rec["machine"]
    where = f"{m['gpu']} GPU" if m.get("gpu") else f"{m['cores']}-core {m['cpu']} CPU"
    return f"{where}, {rec['date'][:10]}"


def statement(stem: str, *, uses_profiles: bool) -> str:
    """The run-time line of chapter ``stem`` (e.g. ``"03_penalized_ot"``) from the records."""
    cpu, gpu = _load("chapter_times.json"), _load("chapter_times_gpu.json")
    times = (cpu or {}).get("seconds", {}).get(stem, {})
    gtimes = (gpu or {}).get("seconds", {}).get(stem, {})
    full_key = "cpu" if "cpu" in times else "full"  # records before the profiles were keyed "full"
    if uses_profiles:
        runs = (cpu or {}).get("reference_runs", {}).get("cpu")
        text = (f"quick mode {_duration(times.get('quick'))}, the `cpu` profile {_duration(times.get(full_key))}"
                + (f" once the shared reference runs of Chapters 3-7 are trained ({_duration(runs)}, once for all)"
                   if runs else " once the shared reference runs of Chapters 3-7 are trained")
                + (f" ({_machine(cpu)})" if cpu else "")
                + f"; the `gpu` profile {_duration(gtimes.get('gpu'))}" + (f" ({_machine(gpu)})" if gpu and gtimes else ""))
    else:
        text = (f"quick mode {_duration(times.get('quick'))}, full mode {_duration(times.get(full_key))}"
                + (f" ({_machine(cpu)})" if cpu else "")
                + f"; full mode on a GPU {_duration(gtimes.get('gpu'))}" + (f" ({_machine(gpu)})" if gpu and gtimes else ""))
    return PREFIX + f"(measured by `bench/chapter_times.py`): {text}."


def _notebooks():
    return sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def expected_line(path: Path, nb) -> str:
    uses_profiles = any("PROFILE = " in c.source for c in nb.cells[2:3])
    return statement(path.stem, uses_profiles=uses_profiles)


def current_line(nb) -> str | None:
    return next((ln for ln in nb.cells[0].source.splitlines() if ln.startswith(PREFIX)), None)


def stamp(check: bool = False) -> list[str]:
    """Rewrite (or with ``check``, only compare) every chapter's line; returns the chapters that differ."""
    import nbformat

    differ = []
    for path in _notebooks():
        nb = nbformat.read(str(path), as_version=4)
        want, have = expected_line(path, nb), current_line(nb)
        if want == have:
            continue
        differ.append(path.name)
        if check:
            continue
        src = nb.cells[0].source
        if have is not None:
            src = src.replace(have, want)
        else:  # before the Colab badge, after the "Builds on" paragraph
            badge = src.index("[![Open In Colab]")
            src = src[:badge] + want + "\n\n" + src[badge:]
        nb.cells[0].source = src
        nbformat.write(nb, str(path))
    return differ


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if a chapter differs")
    args = ap.parse_args(argv)
    differ = stamp(check=args.check)
    for name in differ:
        print(("differs: " if args.check else "updated: ") + name)
    return 1 if args.check and differ else 0


if __name__ == "__main__":
    sys.exit(main())
