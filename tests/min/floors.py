"""Print the oldest versions pyproject.toml allows, as pip constraints (``name==floor``), for ``make test-min``.

Every ``name>=X`` of the library's dependencies and of the ``book`` extra's pandas becomes ``name==X``;
with ``--torch`` only torch's floor is printed. Python's floor is ``requires-python``.
"""
import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
floors = {}
for spec in project["dependencies"] + [d for d in project["optional-dependencies"]["book"] if d.startswith("pandas")]:
    m = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][^,;\s]*)", spec)
    if m is None:
        sys.exit(f"pyproject.toml: {spec!r} has no '>=' floor")
    floors[m.group(1).lower()] = m.group(2)
if sys.argv[1:] == ["--torch"]:
    print(floors["torch"])
elif sys.argv[1:] == ["--python"]:
    print(project["requires-python"].removeprefix(">="))
else:
    print("\n".join(f"{k}=={v}" for k, v in floors.items() if k != "torch"))
