"""The API reference page (book/api.md): it builds without a warning and documents every public name.

Builds a temporary book that holds only the API page, with the book's own _config.yml (the
same Sphinx extensions and settings) and its local extensions and bibliography, by
``jupyter-book build --all -W --keep-going`` as `make book` does; nothing is executed. Then
checks the HTML: one section per public module in the book's order, an entry (anchor id
``vegan_lib.<module>.<name>``) for every name of each module's ``__all__`` inside that module's
section, the deprecated ``vegan_lib.models`` absent, and a ``{py:func}`` cross-reference
resolved to its entry (how chapters link to the reference). About 15-30 s.
"""
from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
pytest.importorskip("jupyter_book", reason="the book extra is not installed (pip install -e '.[book]')")

ROOT = Path(__file__).resolve().parents[1]

#: The public modules, in the order of the page (the order in which the book introduces them).
MODULES = ["costs", "ot", "penalties", "networks", "recipes", "cookbook", "train", "protocol", "reference",
           "baselines", "checks", "ledger", "distributed",
           "metrics", "classifier", "data", "plot", "runtime", "sweep"]


def _build_api_page(book: Path) -> str:
    """Build a book of the API page alone in ``book`` (warnings are errors); the page's HTML."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    needed = ["book/api.md", *config.get("bibtex_bibfiles", []),
              *dict.fromkeys(config.get("sphinx", {}).get("local_extensions", {}).values())]
    for rel in needed:
        src, dst = ROOT / rel, book / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dst)
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/api\n", encoding="utf-8")

    proc = subprocess.run(
        [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
         "build", "--all", "-W", "--keep-going", str(book)],
        cwd=book, capture_output=True, text=True, timeout=300)
    log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # no colour codes
    problems = [line for line in log.splitlines() if re.search(r"WARNING|ERROR|CRITICAL|SEVERE", line)]
    if proc.returncode or problems:
        pytest.fail("the API page does not build cleanly with -W (fix the docstrings named below):\n"
                    + "\n".join(problems or log.splitlines()[-40:]), pytrace=False)
    return (book / "_build" / "html" / "book" / "api.html").read_text(encoding="utf-8")


def _sections(html: str) -> dict[str, str]:
    """Module name -> the HTML of its section (from its module anchor to the next one)."""
    starts = [(m.group(1), m.start()) for m in re.finditer(r'id="module-vegan_lib\.(\w+)"', html)]
    ends = [start for _, start in starts[1:]] + [len(html)]
    return {name: html[start:end] for (name, start), end in zip(starts, ends)}


def test_api_reference_page(tmp_path):
    # one test, one build (pytest-xdist would run a module-scoped fixture once per worker)
    html = _build_api_page(tmp_path)

    # one section per public module, in the book's order; the deprecated alias module absent
    assert re.findall(r'id="module-vegan_lib\.(\w+)"', html) == MODULES
    assert 'id="vegan_lib.models.' not in html and 'id="module-vegan_lib.models"' not in html

    # every name of every module's __all__ has an entry in its module's section
    sections, missing = _sections(html), {}
    for module in MODULES:
        public = getattr(importlib.import_module(f"vegan_lib.{module}"), "__all__", None)
        assert public, f"vegan_lib.{module} has no __all__: the API page documents __all__"
        absent = [name for name in public if f'id="vegan_lib.{module}.{name}"' not in sections[module]]
        if absent:
            missing[f"vegan_lib.{module}"] = absent
    assert not missing, f"public names without an entry in the API page: {missing}"

    # re-exports are documented under the public module (vegan_lib.ot's solvers live in
    # private modules), never under the private one
    assert 'id="vegan_lib.ot.exact_ot"' in html and 'id="vegan_lib.ot._' not in html

    # {py:func} references resolve to the entry: book/api.md's introduction links
    # {py:func}`vegan_lib.ot.exact_ot`, as chapters do
    assert re.search(r'<a class="reference internal" href="#vegan_lib\.ot\.exact_ot"', html)
