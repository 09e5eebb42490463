"""Run every benchmark in bench/ (make bench)."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["trainer_overhead.py", "ot_minibatch.py", "chapter_times.py"]

for script in SCRIPTS:
    print(f">> {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True)
