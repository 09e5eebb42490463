"""Fail, with each failing cell's traceback, unless every chapter in a jupyter-cache project executed.

``make test-notebooks`` executes the chapters once, in quick mode, into the quick book's cache
(``jcache project execute``, which reports a failure but exits 0); this script turns any failed or
unexecuted chapter into a non-zero exit, printing the traceback jupyter-cache stored. The book build then
renders from the same cache without executing again.

    python tests/scripts/check_executed.py _build/quick/_build/.jupyter_cache
"""
import sys
from pathlib import Path

from jupyter_cache import get_cache


def main(path: str) -> int:
    if not Path(path).is_dir():
        print(f"no jupyter-cache at {path}", file=sys.stderr)
        return 2
    cache = get_cache(path)
    records = cache.list_project_records()
    if not records:
        print(f"{path}: no notebook in the project", file=sys.stderr)
        return 2
    pending = {r.pk for r in cache.list_unexecuted()}
    failed = 0
    for r in records:
        name = Path(r.uri).name
        if r.traceback:
            failed += 1
            print(f"\n=== {name}: a cell failed ===\n{r.traceback}", file=sys.stderr)
        elif r.pk in pending:
            failed += 1
            print(f"\n=== {name}: not executed (no cached outputs) ===", file=sys.stderr)
        else:
            print(f"ok  {name}")
    if failed:
        print(f"\n{failed} of {len(records)} notebooks failed", file=sys.stderr)
        return 1
    print(f"all {len(records)} notebooks executed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "_build/quick/_build/.jupyter_cache"))
