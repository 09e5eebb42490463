"""The ledger of claims page (book/appendix_ledger.md), rendered from the executed chapters.

``{claims-ledger} 03_penalized_ot`` renders one chapter's table: every claim its source states
(:func:`vegan_lib.ledger.declared`) with the records of the run this build executed (read from the
jupyter-cache that myst-nb executes into), or "not run in this build". ``{claims-ledger}`` without an
argument renders the totals of the whole book. The ledger of the build is also written as
``ledger.json`` at the root of the output folder (tests/test_ledger_build.py re-reads it).

Section links (``§3.2``) point to the chapter section whose title starts with that number, or to the
chapter when there is none; they are resolved once every chapter has been read.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from vegan_lib import ledger

LOG = logging.getLogger(__name__)
LEDGER_DOC = "book/appendix_ledger"
_CHAPTER = re.compile(r"^book/(\d\d)_[a-z0-9_]+$")
_STATUS = {"not run": "not run in this build"}


def _chapters(env):
    return sorted(d for d in env.found_docs if _CHAPTER.match(d))


def _executed(env, source: Path):
    """The executed version of a chapter from the build's jupyter-cache, or None."""
    try:
        from jupyter_cache import get_cache
    except ImportError:
        return None
    path = getattr(getattr(env, "mystnb_config", None), "execution_cache_path", None)
    if not path or not Path(path).is_dir():
        return None
    cache = get_cache(path)
    try:
        record = cache.match_cache_notebook(nbformat.read(str(source), as_version=4))
    except KeyError:
        return None
    return cache.get_cache_bundle(record.pk).nb


def _ledger(env):
    """The ledger of this build, computed once per build (every chapter: source and executed notebook)."""
    if getattr(env, "vegan_ledger", None) is None:
        chapters = {}
        for doc in _chapters(env):
            source = Path(env.srcdir) / f"{doc}.ipynb"
            chapters[doc.split("/", 1)[1]] = (source, _executed(env, source))
        env.vegan_ledger = ledger.build(chapters)
    return env.vegan_ledger


def _fmt(x):
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return str(x) if isinstance(x, int) else f"{x:.3g}"


def _table(header, rows, widths):
    table = nodes.table(classes=["vegan-ledger", "colwidths-given"])  # the widths wrap the text in the PDF
    group = nodes.tgroup(cols=len(header))
    table += group
    for w in widths:
        group += nodes.colspec(colwidth=w)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for h in header:
        row += nodes.entry("", nodes.paragraph(text=h))
    head += row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for c in cells:
            entry = nodes.entry()
            entry += c if isinstance(c, nodes.Node) else nodes.paragraph(text=str(c))
            row += entry
        body += row
    return table


class ClaimsLedger(SphinxDirective):
    optional_arguments = 1

    def run(self):
        book = _ledger(self.env)
        if not self.arguments:
            return [self._totals(book)]
        name = self.arguments[0]
        chapter = next((c for c in book["chapters"] if c["name"] == name), None)
        if chapter is None:
            raise self.error(f"claims-ledger: no chapter {name!r} (known: {[c['name'] for c in book['chapters']]})")
        rows = []
        for claim in chapter["claims"]:
            link = nodes.paragraph()
            ref = nodes.reference("", f"§{claim['section']}", internal=True, refuri="#")
            ref["vegan_ledger_target"] = (f"book/{name}", claim["section"])
            link += ref
            for r in claim["records"] or [None]:
                text = nodes.paragraph(text=(r or claim)["text"] + " ")
                text += nodes.literal(text=claim["key"])
                if r is None:
                    rows.append([link.deepcopy(), text, claim["kind"], "—", "—", _STATUS["not run"]])
                    continue
                ctx = r.get("context") or {}
                mark = "✓" if r["passed"] else "✗ FAILED"
                relation = ledger.RELATIONS.get(r["relation"], r["relation"])
                rows.append([link.deepcopy(), text, claim["kind"], _fmt(r["value"]), f"{relation} {_fmt(r['bound'])}",
                             f"{mark} {ctx.get('mode', '?')}, seed {ctx.get('seed', '?')}"])
        if not chapter["executed"]:
            LOG.info(f"claims-ledger: {name} has no executed version in this build's cache")
        return [_table(["§", "claim (key)", "kind", "value", "bound", "run"], rows, [5, 47, 6, 11, 12, 12])]

    def _totals(self, book):
        rows = []
        for c in book["chapters"]:
            claims = c["claims"]
            modes = sorted({(r.get("context") or {}).get("mode", "?") for cl in claims for r in cl["records"]})
            count = {s: sum(cl["status"] == s for cl in claims) for s in ("passed", "failed", "not run")}
            kinds = {k: sum(cl["kind"] == k for cl in claims) for k in ledger.KINDS}
            rows.append([c["name"], len(claims), sum(len(cl["records"]) for cl in claims), count["passed"],
                         count["failed"], count["not run"], " / ".join(str(kinds[k]) for k in ledger.KINDS),
                         ", ".join(modes) or "not executed"])
        t = book["totals"]
        rows.append(["the book", t["claims"], t["records"], t["passed"], t["failed"], t["not run"],
                     " / ".join(str(sum(cl["kind"] == k for c in book["chapters"] for cl in c["claims"]))
                                for k in ledger.KINDS), ""])
        return _table(["chapter", "claims", "checks run", "hold", "failed", "not run", "paper / book / sanity",
                       "mode"], rows, [14, 6, 7, 6, 6, 6, 10, 8])


def _env_get_outdated(app, env, added, changed, removed):
    env.vegan_ledger = None
    return [LEDGER_DOC] if LEDGER_DOC in env.found_docs else []


def _resolve_links(app, doctree, docname):
    # docname is the ledger page in HTML, the root document of the whole book in LaTeX
    env = app.env
    anchors = {}
    for ref in doctree.findall(nodes.reference):
        target = ref.get("vegan_ledger_target")
        if not target:
            continue
        doc, section = target
        if doc not in anchors:
            anchors[doc] = {}
            for sec in env.get_doctree(doc).findall(nodes.section):
                title = sec.next_node(nodes.title)
                m = re.match(r"^(\d+(?:\.\d+)*)\s", title.astext() if title else "")
                if m and sec["ids"]:
                    anchors[doc].setdefault(m.group(1), sec["ids"][0])
        uri = app.builder.get_relative_uri(docname, doc)
        anchor = anchors[doc].get(section)
        if anchor is None:
            # e.g. "3.2.1": fall back to its enclosing section, then to the chapter
            parts = section.split(".")
            while anchor is None and len(parts) > 1:
                parts.pop()
                anchor = anchors[doc].get(".".join(parts))
        ref["refuri"] = uri + (f"#{anchor}" if anchor else "")
        del ref["vegan_ledger_target"]


def _write_json(app, exception):
    if exception is not None or getattr(app.env, "vegan_ledger", None) is None:
        return
    out = Path(app.outdir) / "ledger.json"
    out.write_text(json.dumps(app.env.vegan_ledger, indent=1, ensure_ascii=False) + "\n")
    LOG.info(f"ledger of claims written to {out}")


def _static(app, config):
    config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app):
    app.connect("config-inited", _static)
    app.add_css_file("vegan_ledger.css")
    app.add_directive("claims-ledger", ClaimsLedger)
    app.connect("env-get-outdated", _env_get_outdated)
    app.connect("doctree-resolved", _resolve_links)
    app.connect("build-finished", _write_json)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
