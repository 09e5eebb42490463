"""The ledger of claims of a built book (book/appendix_ledger.md, ledger.json): nothing dropped, nothing failed.

Runs after the book build, with the browser test (``make test-browser``; ``VEGAN_BOOK_HTML`` names the
HTML folder, default ``_build/html``). Skipped without a built book, except under
``VEGAN_REQUIRE_BROWSER=1`` (CI), where a missing book or ledger fails.
"""
import json
import os
from pathlib import Path

import pytest

from vegan_lib import ledger

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("VEGAN_BOOK_HTML", ROOT / "_build" / "html")).resolve()
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def book():
    path = HTML / "ledger.json"
    if not path.is_file():
        why = f"no ledger at {path} (build the book first: make test-book or make book)"
        if os.environ.get("VEGAN_REQUIRE_BROWSER", "") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return json.loads(path.read_text())


def test_every_chapter_is_in_the_ledger_and_was_executed(book):
    names = [c["name"] for c in book["chapters"]]
    assert names == [p.stem for p in CHAPTERS]
    assert all(c["executed"] for c in book["chapters"]), [c["name"] for c in book["chapters"] if not c["executed"]]


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_declared_claim_is_listed(book, path):
    # a claim of the chapter's source that is missing from the ledger, or listed without being declared, fails
    chapter = next(c for c in book["chapters"] if c["name"] == path.stem)
    declared = [d["key"] for d in ledger.declared(path)]
    listed = [c["key"] for c in chapter["claims"]]
    assert listed == declared, f"{path.name}: ledger {len(listed)} keys, source {len(declared)}"
    assert all(c["declared"] for c in chapter["claims"])


def test_no_claim_failed_and_records_are_complete(book):
    totals = book["totals"]
    assert totals["failed"] == 0
    assert totals["claims"] == totals["passed"] + totals["not run"]
    assert totals["passed"] > 0.8 * totals["claims"], totals  # most claims run even in the quick build
    for chapter in book["chapters"]:
        for claim in chapter["claims"]:
            assert claim["kind"] in ledger.KINDS
            assert (claim["status"] == "not run") == (not claim["records"]), claim["key"]
            for r in claim["records"]:
                assert r["passed"] and r["key"] == claim["key"] and r["relation"] in ledger.RELATIONS, r
                assert r["context"]["chapter"] == int(chapter["name"][:2]) and r["context"]["mode"] in ("quick", "full")


def test_the_page_shows_every_row(book):
    page = (HTML / "book" / "appendix_ledger.html").read_text()
    rows = sum(max(1, len(c["records"])) for ch in book["chapters"] for c in ch["claims"])
    assert page.count("vegan_lib.ledger") >= 1
    body_rows = page.count("<tr class=\"row-odd\">") + page.count("<tr class=\"row-even\">")
    n = len(book["chapters"])
    other_rows = (1 + n) + (n + 1)  # a header row per table (totals + one per chapter), the totals' rows
    assert body_rows == rows + other_rows, (body_rows, rows, other_rows)
    assert page.count("not run in this build") >= book["totals"]["not run"]
