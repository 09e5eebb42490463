"""The rendered book in a real browser (headless Chromium through Playwright).

Serves the built HTML on loopback, opens every page and checks that the math is
typeset by MathJax, every image loads, internal links (and their #anchors) resolve,
and the console shows no error. Screenshots go to ``<html>/../screenshots/``.

Run by ``make test`` after the book build (``-m browser``); the book folder comes
from ``VEGAN_BOOK_HTML`` (default ``_build/html``). Skipped, with the reason, where
Chromium or Playwright is missing: ``make browser-deps`` installs them; with
``VEGAN_REQUIRE_BROWSER=1`` (what ``.ci/run`` sets, after installing Debian's Chromium)
a missing browser, Playwright or built book fails the test instead. MathJax is
served from the ``django-static-mathjax`` wheel, since the machine may be offline
while the book loads MathJax from a CDN; other external requests (the Colab badge
image) are blocked and not checked.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("VEGAN_BOOK_HTML", ROOT / "_build" / "html")).resolve()
CHROMIUM = os.environ.get("VEGAN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
MATHJAX_CDN = re.compile(r"^https://cdn\.jsdelivr\.net/npm/mathjax@3/(.*)$")


REQUIRED = os.environ.get("VEGAN_REQUIRE_BROWSER", "") == "1"


def _missing(why: str):
    """Skip, saying why, or fail where the browser test is required (CI: VEGAN_REQUIRE_BROWSER=1)."""
    if REQUIRED:
        pytest.fail(f"{why}; VEGAN_REQUIRE_BROWSER=1 requires the browser test to run")
    pytest.skip(why)


def _requirements():
    if not CHROMIUM:
        _missing("Chromium is not installed (run `make browser-deps`)")
    try:
        import mathjax  # noqa: F401  (django-static-mathjax: MathJax 3 files)
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        _missing(f"{exc.name} is not installed (run `make browser-deps`)")
    if not (HTML / "index.html").is_file():
        _missing(f"no built book at {HTML} (run `make book`, or set VEGAN_BOOK_HTML)")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    _requirements()
    handler = functools.partial(_Quiet, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _pages():
    if not HTML.is_dir():
        return []
    skip = {"genindex.html", "search.html", "index.html"}
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
                  if p.name not in skip and not {"_static", "_sources", "_images"} & set(p.parts))


@pytest.fixture(scope="module")
def browser(site):
    import mathjax
    from playwright.sync_api import sync_playwright

    mathjax_dir = Path(mathjax.__file__).parent / "static" / "mathjax"
    blocked = []

    def route(r):
        url = r.request.url
        if url.startswith(site) or url.startswith("data:"):
            return r.continue_()
        m = MATHJAX_CDN.match(url)
        if m and (mathjax_dir / m.group(1)).is_file():
            return r.fulfill(path=str(mathjax_dir / m.group(1)))
        blocked.append(url)
        return r.abort()

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = b.new_context(viewport={"width": 1280, "height": 900})
        # generous: a long chapter (figures, hundreds of formulas) on a loaded 2-core CI machine took over 30 s
        context.set_default_timeout(180_000)
        context.route("**/*", route)
        yield context, blocked
        b.close()


@pytest.mark.parametrize("page_path", _pages() or ["(none)"])
def test_page_renders(site, browser, page_path):
    if page_path == "(none)":
        _missing(f"no pages under {HTML}")
    context, blocked = browser
    page = context.new_page()
    console_errors = []
    def on_console(msg):
        # a resource we blocked on purpose (offline machine) reports a load failure: not the book's fault
        if msg.type == "error" and msg.location.get("url") not in blocked:
            console_errors.append(f"{msg.text} ({msg.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    page.goto(f"{site}/{page_path}", wait_until="load")
    page.wait_for_load_state("networkidle")
    # math: every MyST math node is typeset into a MathJax container
    n_math = page.locator("span.math, div.math").count()
    if n_math:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        typeset = page.locator("mjx-container").count()
        assert typeset >= n_math, f"{page_path}: {n_math} math nodes but {typeset} typeset by MathJax"
        errors = page.locator("mjx-merror").count()
        assert errors == 0, f"{page_path}: {errors} MathJax errors"
    # images of the book (figures, logo): all loaded with a real size. External ones (the
    # Colab badge) cannot load on an offline machine and are not part of the build.
    images = page.evaluate("""() => Array.from(document.images)
        .map(img => [img.src, img.complete && img.naturalWidth > 0])""")
    broken = [src for src, ok in images if src.startswith(site) and not ok]
    assert not broken, f"{page_path}: images that did not load: {broken}"
    # every chapter shows figures computed by its code (the build executed it)
    if re.match(r"book/\d\d_", page_path):
        figures = page.locator("div.cell_output img").count()
        assert figures >= 1, f"{page_path}: no figure in the cell outputs"
    # internal links: the target file exists and so does its #anchor
    hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    for href in hrefs:
        if not href.startswith(site):
            continue
        url, frag = urldefrag(href)
        target = HTML / unquote(urlparse(url).path).lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        assert target.exists(), f"{page_path}: broken link {href}"
        if frag and target.suffix == ".html":
            text = target.read_text(errors="replace")
            assert f'id="{frag}"' in text or f"id='{frag}'" in text, f"{page_path}: missing anchor {href}"
    shots = HTML.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / (page_path.replace("/", "__").replace(".html", ".png"))), full_page=True)
    page.close()
    assert not console_errors, f"{page_path}: console errors: {console_errors} (blocked requests: {blocked})"
