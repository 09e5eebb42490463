#!/usr/bin/env bash
# make test-min: the oldest versions pyproject.toml declares, tested. A fresh virtual environment with
# the floor of Python (requires-python), numpy, scipy, POT, matplotlib, tqdm and pandas (tests/min/floors.py),
# and torch's floor where its CPU build can be installed (download.pytorch.org); then the unit tests and
# one chapter (Chapter 1) in quick mode. The result, with every version, goes to bench/results/min_versions.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
ENV=${MIN_VENV:-.venv-min}
TORCH_FALLBACK=${TORCH_VERSION:-2.13.0}
mkdir -p _build bench/results
floor_py=$($PYTHON tests/min/floors.py --python)
have_py=$($PYTHON -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$have_py" != "$floor_py" ]; then
  echo "!! $PYTHON is Python $have_py, not the declared floor $floor_py: set PYTHON=python$floor_py" >&2; exit 2
fi
echo ">> Python $have_py (the floor); environment $ENV"
$PYTHON -m venv --clear "$ENV"
"$ENV/bin/python" -m pip install -q --upgrade pip
$PYTHON tests/min/floors.py > _build/min-floors.txt
torch_floor=$($PYTHON tests/min/floors.py --torch)
if $PYTHON -c "import socket; socket.create_connection(('download.pytorch.org', 443), timeout=5)" 2>/dev/null; then
  "$ENV/bin/python" -m pip install -q "torch==$torch_floor" --index-url https://download.pytorch.org/whl/cpu
  torch_note="the floor"
else
  echo "!! download.pytorch.org is unreachable: torch's floor $torch_floor cannot be installed as a CPU build" \
       "(PyPI's Linux wheels are CUDA builds with gigabytes of dependencies); testing torch $TORCH_FALLBACK instead" >&2
  "$ENV/bin/python" -m pip install -q "torch==$TORCH_FALLBACK"
  torch_note="not the floor $torch_floor (no CPU build reachable)"
fi
"$ENV/bin/python" -m pip install -q -c _build/min-floors.txt -e ".[test]"
"$ENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
"$ENV/bin/python" - <<'PY'
import importlib.metadata as md, platform
print(">> versions:", "python", platform.python_version(), *(f"{p} {md.version(p)}" for p in
      ("torch", "numpy", "scipy", "pot", "matplotlib", "tqdm", "pandas")))
PY
status=0
start=$(date +%s)
"$ENV/bin/python" -m pytest tests -q -n 2 -m "not browser and not colab" -p no:cacheprovider || status=1
VEGAN_QUICK=1 VEGAN_PROGRESS=0 OMP_NUM_THREADS=1 "$ENV/bin/python" -m papermill book/01_ot_basics.ipynb \
  _build/min-01_ot_basics.ipynb --cwd book -k python3 --log-level WARNING || status=1
"$ENV/bin/python" - "$status" "$torch_note" "$(( $(date +%s) - start ))" <<'PY'
import importlib.metadata as md, json, platform, sys, datetime
status, note, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
record = {"date": datetime.date.today().isoformat(), "machine": platform.platform(), "passed": status == 0,
          "what": "unit tests (not browser, not colab) + Chapter 1 in quick mode", "seconds": seconds,
          "python": platform.python_version(), "torch_note": note,
          "versions": {p: md.version(p) for p in ("torch", "numpy", "scipy", "pot", "matplotlib", "tqdm", "pandas")}}
json.dump(record, open("bench/results/min_versions.json", "w"), indent=2)
print(">> recorded bench/results/min_versions.json:", json.dumps(record))
PY
exit $status
