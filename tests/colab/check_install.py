"""Does the chapters' Colab install line leave Colab's own packages alone?

Builds a virtual environment in which pip sees exactly the versions of ``preinstalled.txt`` installed
(metadata-only stand-ins: what is checked is pip's decision, not the packages' code, and Colab's CUDA
torch cannot be installed here), takes the ``%pip install`` line of a chapter's bootstrap cell (one
source of the line), points it at a local checkout instead of GitHub, and asks pip for a dry run with a
JSON report. Fails, listing them, if any preinstalled package would be upgraded, downgraded or
reinstalled; prints what would be added.

    python tests/colab/check_install.py [--source DIR] [--env DIR] [--chapter book/01_ot_basics.ipynb]

Exit status 0: nothing preinstalled changes; 1: something would; 2: the check itself could not run.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LINE = re.compile(r"^\s*%pip install (?P<args>.+)$", re.M)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def preinstalled(path: Path = HERE / "preinstalled.txt") -> tuple[str, dict[str, str]]:
    """(python version, {canonical name: version}) from the dated list."""
    python, pins = None, {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        if not version:
            raise ValueError(f"{path}: {raw!r} is not a 'name==version' pin")
        if canonical(name) == "python":
            python = version.strip()
        else:
            pins[canonical(name)] = version.strip()
    if python is None:
        raise ValueError(f"{path} must pin python==X.Y")
    return python, pins


def install_line(chapter: Path) -> list[str]:
    """The arguments of the ``%pip install`` line of a chapter's bootstrap cell."""
    cells = json.loads(chapter.read_text())["cells"]
    source = "".join(cells[1]["source"])
    m = LINE.search(source)
    if m is None:
        raise ValueError(f"{chapter}: no '%pip install' line in the bootstrap cell")
    return shlex.split(m.group("args"))


def local_args(args: list[str], source: Path) -> list[str]:
    """The same line with the git URL of ``vegan_lib @ git+...`` replaced by the local checkout."""
    out, swapped = [], False
    for a in args:
        if re.match(r"^vegan_lib\s*@\s*git\+", a):
            a, swapped = f"vegan_lib @ {source.resolve().as_uri()}", True
        out.append(a)
    if not swapped:
        raise ValueError(f"the install line {args} does not install 'vegan_lib @ git+...'")
    return out


def stand_ins(env: Path, pins: dict[str, str]) -> None:
    """A ``<name>-<version>.dist-info`` per pin in the environment's site-packages."""
    site = next((env / "lib").glob("python3*/site-packages"))
    for name, version in pins.items():
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "INSTALLER").write_text("colab-stand-in\n")
        (info / "RECORD").write_text("")


def make_env(env: Path, pins: dict[str, str]) -> Path:
    if not (env / "bin" / "pip").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(env)
    stand_ins(env, pins)
    return env / "bin" / "python"


def check(source: Path, env: Path, chapter: Path) -> tuple[list[str], list[str]]:
    """(changes to preinstalled packages, packages that would be added)."""
    python, pins = preinstalled()
    py = make_env(env, pins)
    args = [a for a in local_args(install_line(chapter), source) if a not in ("-q", "--quiet")]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [str(py), "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report), *args]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0 or not report.exists():
            return ([f"pip could not resolve the install line without changing the environment:\n{run.stderr}"], [])
        items = json.loads(report.read_text())["install"]
    changes, added = [], []
    for item in items:
        meta = item["metadata"]
        name, version = canonical(meta["name"]), meta["version"]
        if name in pins:
            changes.append(f"{name}: Colab has {pins[name]}, the install line would put {version}")
        else:
            added.append(f"{name}=={version}")
    return changes, added


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, default=ROOT, help="the checkout to install (default: this one)")
    p.add_argument("--env", type=Path, default=ROOT / "_build" / "colab-env", help="the stand-in environment")
    p.add_argument("--chapter", type=Path, default=ROOT / "book" / "01_ot_basics.ipynb",
                   help="the chapter whose bootstrap cell holds the install line")
    a = p.parse_args(argv)
    try:
        changes, added = check(a.source, a.env, a.chapter)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        print(f"the Colab install check could not run: {exc}", file=sys.stderr)
        return 2
    python, pins = preinstalled()
    print(f"Colab stand-in: {len(pins)} preinstalled packages (tests/colab/preinstalled.txt; Colab's Python is "
          f"{python}, this check runs pip under {sys.version.split()[0]})")
    if changes:
        print("FAIL: the install line would change Colab's packages:\n  " + "\n  ".join(changes))
        return 1
    print("OK: no preinstalled package is upgraded, downgraded or reinstalled; added: " + (", ".join(added) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
