"""Parameter sweeps over chapters with papermill, and the metrics chapters record.

A chapter records its key numbers with one call, ``vl.sweep.record(w2=..., mse=...)``:
they are shown as a small table and stored in the cell's output under a dedicated
MIME type. A sweep runs a chapter once per point of a parameter grid (one output
notebook per point, outside ``book/``), reads back what each run recorded, and
returns, prints and saves one table. From the shell::

    python -m vegan_lib.sweep book/05_vae_blurriness.ipynb -p Z_DIM_LARGE 16 64 -p SEED 0 1 --quick

Introduced in Chapter 3 (the λ sweep) and explained in the book's "Sweeps" page.
"""
from __future__ import annotations

import argparse
import ast
import csv
import itertools
import json
import math
import numbers
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path

__all__ = ["MIME", "record", "read_records", "run", "format_table", "main"]

#: The MIME type under which :func:`record` stores metrics in a notebook output.
MIME = "application/vnd.vegan.metrics+json"


def _plain(value, name):
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            value = value.item()
        except (ValueError, RuntimeError):
            raise TypeError(f"metric {name!r} must be a scalar, got an array of shape "
                            f"{tuple(getattr(value, 'shape', ()))}") from None
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"metric {name!r} must be a number, bool, string or None, got {type(value).__name__}")


def record(**metrics) -> dict:
    """Record a chapter's key metrics (Chapter 3, the λ sweep; any chapter may call it).

    Displays them as a table and stores them in the cell output (MIME type
    :data:`MIME`) so that :func:`run` can collect them from the executed notebook.
    Values must be scalars (Python, NumPy or 0-d torch); NaN is kept as NaN.
    """
    if not metrics:
        raise ValueError("record() needs at least one metric, e.g. record(w2=0.31)")
    clean = {name: _plain(v, name) for name, v in metrics.items()}
    text = "recorded metrics:\n" + "\n".join(f"  {k} = {v:.6g}" if isinstance(v, float) else f"  {k} = {v}"
                                             for k, v in clean.items())
    payload = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in clean.items()}
    try:
        from IPython import get_ipython
        from IPython.display import display
        in_kernel = get_ipython() is not None
    except ImportError:  # plain Python: print only
        in_kernel = False
    if in_kernel:
        display({MIME: payload, "text/plain": text}, raw=True)
    else:
        print(text)
    return clean


def read_records(notebook) -> dict:
    """The metrics recorded in an executed notebook (later calls override earlier ones)."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    found = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if MIME in data:
                payload = data[MIME]
                found.update(json.loads(payload) if isinstance(payload, str) else payload)
    return found


def _parse_value(text: str):
    """Parse a command-line value like papermill does: int, float, bool, None, else string."""
    low = text.strip()
    if low in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[low]
    try:
        return ast.literal_eval(low)
    except (ValueError, SyntaxError):
        return text


def _slug(value) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", str(value)).strip("-") or "x"


@contextmanager
def _env(name, value):
    old = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def run(notebook, grid: dict, output_dir="_build/sweeps", fixed: dict | None = None, quick: bool = False,
        kernel_name: str = "python3", timeout: float | None = None, progress: bool = True) -> list[dict]:
    """Run ``notebook`` once per point of ``grid`` with papermill and collect the metrics (Chapter 3).

    ``grid`` maps parameter names to lists of values (their Cartesian product is run);
    ``fixed`` gives parameters shared by every run. Names are checked against the
    notebook's ``parameters`` cell: an unknown name is a ``ValueError`` listing the
    known ones (papermill itself would only warn and run with the defaults). Each
    run writes ``output_dir/<chapter>__NAME-value....ipynb``; ``quick=True`` sets
    ``VEGAN_QUICK=1`` for the runs. Returns one row per run: its parameters, the
    metrics the chapter recorded, the wall time and the output path. The table is
    also saved as ``output_dir/<chapter>_sweep.csv`` and ``.json``.
    """
    try:
        import papermill
    except ImportError:  # pragma: no cover - papermill is in the [test] extra
        raise ImportError("sweeps need papermill: pip install 'vegan_lib[test]'") from None
    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook {notebook} does not exist")
    if not isinstance(grid, dict):
        raise TypeError(f"grid must be a dict {{PARAMETER: [values, ...]}}, got {type(grid).__name__}")
    if not grid:
        raise ValueError("grid must be a non-empty dict {PARAMETER: [values, ...]}")
    fixed = dict(fixed or {})
    known = papermill.inspect_notebook(str(notebook))
    for name in list(grid) + list(fixed):
        if name not in known:
            raise ValueError(f"unknown parameter {name!r} for {notebook.name}; its parameters are: "
                             f"{', '.join(known)}")
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"grid[{name!r}] must be a list of values, got {values!r}")
        if len(list(values)) == 0:
            raise ValueError(f"grid[{name!r}] must be a non-empty list of values, got {values!r}")
    overlap = set(grid) & set(fixed)
    if overlap:
        raise ValueError(f"parameters {sorted(overlap)} are both swept and fixed")
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(grid)
    rows = []
    points = list(itertools.product(*(list(grid[n]) for n in names)))
    for k, values in enumerate(points):
        params = {**fixed, **dict(zip(names, values))}
        tag = "__".join(f"{n}-{_slug(v)}" for n, v in zip(names, values))
        out = out_dir / f"{notebook.stem}__{tag}.ipynb"
        if progress:
            print(f"[{k + 1}/{len(points)}] {notebook.name} {params}", flush=True)
        t0 = time.perf_counter()
        with _env("VEGAN_QUICK", "1" if quick else os.environ.get("VEGAN_QUICK")), _env("VEGAN_PROGRESS", "0"):
            papermill.execute_notebook(str(notebook), str(out), parameters=params, kernel_name=kernel_name,
                                       cwd=str(notebook.resolve().parent), progress_bar=False,
                                       execution_timeout=timeout)
        rows.append({**params, **read_records(out), "seconds": round(time.perf_counter() - t0, 2),
                     "notebook": str(out)})
    _save(rows, out_dir / f"{notebook.stem}_sweep")
    return rows


def _save(rows, stem: Path):
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    stem.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")


def format_table(rows: list[dict], skip=("notebook",)) -> str:
    """A plain-text table of sweep rows (what the command prints)."""
    if not rows:
        return "(no runs)"
    keys = [k for k in dict.fromkeys(k for row in rows for k in row) if k not in skip]

    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))

    cells = [[fmt(row.get(k)) for k in keys] for row in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    line = "  ".join(k.rjust(w) for k, w in zip(keys, widths))
    body = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join([line, "-" * len(line), *body])


def main(argv=None) -> int:
    """``python -m vegan_lib.sweep NOTEBOOK -p NAME V1 V2 ... [--fixed NAME V] [--quick] [--out DIR]``."""
    ap = argparse.ArgumentParser(prog="python -m vegan_lib.sweep",
                                 description="Run a chapter over a parameter grid with papermill and tabulate "
                                             "the metrics it records.")
    ap.add_argument("notebook", help="the chapter, e.g. book/03_penalized_ot.ipynb")
    ap.add_argument("-p", "--param", nargs="+", action="append", metavar=("NAME", "VALUE"), required=True,
                    help="a swept parameter and its values (repeat -p for a grid)")
    ap.add_argument("-f", "--fixed", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                    help="a parameter fixed for every run")
    ap.add_argument("--quick", action="store_true", help="run in quick mode (VEGAN_QUICK=1)")
    ap.add_argument("--out", default="_build/sweeps", help="folder of the output notebooks and tables")
    ap.add_argument("--timeout", type=float, default=None, help="per-cell timeout in seconds")
    args = ap.parse_args(argv)
    grid = {}
    for item in args.param:
        if len(item) < 2:
            ap.error(f"-p {item[0]} needs at least one value")
        grid[item[0]] = [_parse_value(v) for v in item[1:]]
    fixed = {name: _parse_value(v) for name, v in args.fixed}
    try:
        rows = run(args.notebook, grid, args.out, fixed=fixed, quick=args.quick, timeout=args.timeout)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(rows))
    print(f"saved {Path(args.out) / (Path(args.notebook).stem + '_sweep')}.csv and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
