"""The CI's single execution of the chapters (tests/scripts/check_executed.py): a notebook whose cell fails
makes the check fail with that cell's traceback; executed notebooks pass."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("jupyter_cache", reason="jupyter-cache comes with the book extra (jupyter-book)")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "scripts" / "check_executed.py"


def _notebook(path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _execute(cache: Path, notebooks):
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor

    c = get_cache(cache)
    for nb in notebooks:
        c.add_nb_to_project(str(nb))
    load_executor("local-serial", c).run_and_cache(timeout=120)


def test_a_failing_cell_fails_with_its_traceback(tmp_path):
    good = _notebook(tmp_path / "good.ipynb", "x = 1 + 1")
    bad = _notebook(tmp_path / "bad.ipynb", "raise ValueError('the claim does not hold: 0.7 > 0.5')")
    _execute(tmp_path / "cache", [good, bad])
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "cache")], capture_output=True, text=True)
    assert run.returncode == 1, run
    assert "ok  good.ipynb" in run.stdout
    assert "bad.ipynb: a cell failed" in run.stderr and "the claim does not hold: 0.7 > 0.5" in run.stderr


def test_all_executed_passes_and_a_missing_cache_is_an_error(tmp_path):
    _execute(tmp_path / "cache", [_notebook(tmp_path / "good.ipynb", "y = 2")])
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "cache")], capture_output=True, text=True)
    assert run.returncode == 0 and "all 1 notebooks executed" in run.stdout, run
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert run.returncode == 2
