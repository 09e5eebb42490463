"""Packaging: `pip install` from the repository (the chapters' Colab bootstrap) ships every module."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_contains_every_module(tmp_path):
    src = tmp_path / "src"  # build from a copy: setuptools writes build/ beside the sources
    shutil.copytree(ROOT / "vegan_lib", src / "vegan_lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src),
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("vegan_lib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n for n in names if n.endswith(".py")}
    here = {p.relative_to(ROOT).as_posix() for p in (ROOT / "vegan_lib").rglob("*.py")}
    assert here <= shipped, sorted(here - shipped)
    # the embedded MNIST subset and its provenance are package data of the wheel
    assert {"vegan_lib/_data/mnist_5k.npz", "vegan_lib/_data/README.md"} <= names


def test_package_version_is_the_librarys():
    import tomllib

    import vegan_lib
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version == vegan_lib.__version__, (version, vegan_lib.__version__)
