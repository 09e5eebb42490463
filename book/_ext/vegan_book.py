"""Sphinx tweaks for the VEGAN book (loaded through _config.yml, sphinx.local_extensions).

sphinx-thebe registers its inline configuration script once per build and Jupyter Book
triggers that registration twice, so every page declared ``const THEBE_JS_URL`` twice:
a console error ("Identifier has already been declared") caught by tests/test_browser.py.
We drop exact duplicates of inline scripts from each page.
"""


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


def setup(app):
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
