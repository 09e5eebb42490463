"""Sphinx tweaks for the VEGAN book (loaded through _config.yml, sphinx.local_extensions).

sphinx-thebe registers its inline configuration script once per build and Jupyter Book
triggers that registration twice, so every page declared ``const THEBE_JS_URL`` twice:
a console error ("Identifier has already been declared") caught by tests/test_browser.py.
We drop exact duplicates of inline scripts from each page.

In the PDF (LaTeX builder), Sphinx sets every display equation inside ``equation*`` + ``split``, where
amsmath forbids the ``\tag{2.1}`` that numbers the book's equations; we move the tag out of ``split``;
and the chapters' Colab badge (a remote image, not fetched in an offline build) becomes the link's text.
"""
import re

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

_TAG = re.compile(r"\\tag\*?\{([^{}]*)\}")


def _dedupe_inline_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        body = getattr(js, "attributes", {}).get("body") if hasattr(js, "attributes") else None
        key = ("body", body) if body else ("file", str(js))
        if body and key in seen:
            continue
        seen.add(key)
        kept.append(js)
    context["script_files"] = kept


def _latex_equation_tags(app, doctree, docname):
    if app.builder.name != "latex":
        return
    for node in doctree.findall(nodes.math_block):
        if node.get("nowrap"):
            continue
        text = node.astext()
        tags = _TAG.findall(text)
        if len(tags) != 1:
            continue
        body = _TAG.sub("", text).strip()
        node.children = [nodes.Text("\\begin{equation*}\\begin{split}" + body + "\\end{split}\\tag{" + tags[0]
                                    + "}\\end{equation*}")]
        node["nowrap"] = True


class _LatexColabBadge(SphinxPostTransform):
    """In the PDF, the "Open in Colab" badge image is replaced by the words (the link is kept)."""

    default_priority = 50  # before Sphinx downloads remote images (priority 100)
    builders = ("latex",)

    def run(self, **kwargs):
        for image in list(self.document.findall(nodes.image)):
            if image.get("uri", "").startswith("https://colab.research.google.com/"):
                image.replace_self(nodes.Text("Open in Colab"))


def setup(app):
    app.add_post_transform(_LatexColabBadge)
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    app.connect("doctree-resolved", _latex_equation_tags)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
