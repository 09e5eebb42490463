"""The chapters' Colab install line changes none of Colab's preinstalled packages (tests/colab/check_install.py).

Marked ``colab``: it needs the package index (pip resolves the library's dependencies) and takes about
a minute, so ``make test-colab`` runs it, not the unit tests. The second test is the check's negative
control: the same checkout with ``mlxtend`` added back to the dependencies must fail, naming numpy.
"""
import importlib.util
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.colab


def _checker():
    spec = importlib.util.spec_from_file_location("check_install", ROOT / "tests" / "colab" / "check_install.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return tmp_path_factory.mktemp("colab") / "env"


def test_every_chapter_has_the_same_install_line():
    check = _checker()
    lines = {tuple(check.install_line(p)) for p in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))}
    assert len(lines) == 1, lines


def test_install_line_keeps_colabs_packages(env, capsys):
    status = _checker().main(["--source", str(ROOT), "--env", str(env)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert re.search(r"added: .*vegan-lib==", out)


def test_check_fails_when_a_dependency_would_upgrade_numpy(env, tmp_path, capsys):
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "vegan_lib", source / "vegan_lib", ignore=shutil.ignore_patterns("__pycache__"))
    text = (source / "pyproject.toml").read_text()
    (source / "pyproject.toml").write_text(text.replace('dependencies = [\n', 'dependencies = [\n    "mlxtend>=0.23",\n', 1))
    status = _checker().main(["--source", str(source), "--env", str(env)])
    out = capsys.readouterr().out
    assert status == 1, out
    assert "numpy: Colab has" in out
