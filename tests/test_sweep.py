"""vegan_lib.sweep: metrics recorded by chapters, parameter sweeps with papermill."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from vegan_lib import sweep

ROOT = Path(__file__).resolve().parents[1]
CH1 = ROOT / "book" / "01_ot_basics.ipynb"


def test_record_converts_and_validates(capsys):
    got = sweep.record(a=np.float64(1.5), b=torch.tensor(2), c="x", d=True)
    assert got == {"a": 1.5, "b": 2, "c": "x", "d": True}
    assert "a = 1.5" in capsys.readouterr().out
    with pytest.raises(ValueError, match="at least one"):
        sweep.record()
    with pytest.raises(TypeError, match="'v' must be a scalar"):
        sweep.record(v=np.zeros(3))
    with pytest.raises(TypeError, match="'w' must be a number"):
        sweep.record(w=[1, 2])


def test_read_records_from_outputs(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", data={sweep.MIME: {"x": 1.0}, "text/plain": "x"}),
                    nbformat.v4.new_output("display_data", data={sweep.MIME: {"x": 2.0, "y": None}})]
    nb.cells = [cell]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert sweep.read_records(path) == {"x": 2.0, "y": None}


def test_unknown_parameter_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"unknown parameter 'SEEDS'.*QUICK, DEVICE, SEED"):
        sweep.run(CH1, {"SEEDS": [0, 1]}, tmp_path)
    with pytest.raises(ValueError, match="non-empty list"):
        sweep.run(CH1, {"SEED": []}, tmp_path)
    with pytest.raises(TypeError, match="must be a list of values"):
        sweep.run(CH1, {"SEED": 3}, tmp_path)
    with pytest.raises(TypeError, match="grid must be a dict"):
        sweep.run(CH1, [("SEED", [0])], tmp_path)
    with pytest.raises(ValueError, match="both swept and fixed"):
        sweep.run(CH1, {"SEED": [0]}, tmp_path, fixed={"SEED": 1})
    with pytest.raises(FileNotFoundError):
        sweep.run(tmp_path / "missing.ipynb", {"SEED": [0]}, tmp_path)


def test_cli_unknown_parameter_exits_with_message(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vegan_lib.sweep", str(CH1), "-p", "SEDE", "0", "1",
                           "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown parameter 'SEDE'" in proc.stderr and "SEED" in proc.stderr


def test_cli_tiny_sweep_over_chapter_1(tmp_path):
    """Two quick runs of Chapter 1 (SEED 0 and 1): one output notebook and one row each."""
    proc = subprocess.run([sys.executable, "-m", "vegan_lib.sweep", str(CH1), "-p", "SEED", "0", "1",
                           "-f", "N_GAUSS_MAX", "200", "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "01_ot_basics_sweep.json").read_text())
    assert [r["SEED"] for r in rows] == [0, 1] and all(r["N_GAUSS_MAX"] == 200 for r in rows)
    for r in rows:
        assert Path(r["notebook"]).is_file()
        assert r["w2_closed_form"] == pytest.approx(2.4237851, abs=1e-6)  # the same Gaussians for every seed
        assert 0 < r["w2_sample_error"] < 0.5 and r["w1"] > 0
    assert rows[0]["w1"] != rows[1]["w1"], "different seeds draw different clouds"
    assert "w2_sample_error" in proc.stdout and (tmp_path / "01_ot_basics_sweep.csv").is_file()
