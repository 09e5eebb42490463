"""Sphinx tweaks for the API reference page (book/api.md), loaded by _config.yml.

1. Public constants. autodoc lists a module-level constant of ``__all__`` only when the
   documented module itself has a ``#:`` doc comment for it, and skips it silently
   otherwise: an undocumented constant (``vegan_lib.networks.ENCODER_KINDS``) and every
   constant a package re-exports from a private module (``vegan_lib.ot.POT_PENALTIES``,
   commented in ``vegan_lib.ot._penalized``) would be missing. :class:`PublicDataDocumenter`
   documents every module-level constant: the doc comment of the documented module, else that
   of the private submodule that defines it, else none (never the docstring of the value's
   type, ``tuple`` or ``str``); long values (the cookbook table) are not printed.
2. napoleon is for the NumPy-style sections ("Parameters" / "----------") of functions and
   classes. It also reads the first line of an attribute's, constant's or property's
   docstring as "type: description", which turns prose such as "The cookbook: (cost, ...)"
   into a type "The cookbook"; those docstrings are left to plain reST.
"""
from __future__ import annotations

import inspect
import sys

from sphinx.errors import PycodeError
from sphinx.ext import napoleon
from sphinx.ext.autodoc import DataDocumenter, ModuleDocumenter
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.inspect import object_description

#: Values whose repr is longer than this are not printed in the page (the docstring describes them).
MAX_VALUE_CHARS = 200


class PublicDataDocumenter(DataDocumenter):
    """``.. py:data::`` for every public constant of a module (see the module docstring)."""

    priority = DataDocumenter.priority + 1  # replaces autodoc's DataDocumenter for module members

    @classmethod
    def can_document_member(cls, member, membername, isattr, parent) -> bool:
        return isinstance(parent, ModuleDocumenter) and not inspect.ismodule(member)

    def get_module_comment(self, attrname: str) -> list[str] | None:
        prefix = self.modname + "."
        homes = [self.modname] + sorted(  # then the private modules that hold the same object
            name for name, mod in list(sys.modules.items())
            if name.startswith(prefix) and getattr(mod, attrname, None) is self.object)
        for home in homes:
            try:
                analyzer = ModuleAnalyzer.for_module(home)
                analyzer.analyze()
            except PycodeError:
                continue
            comment = analyzer.attr_docs.get(("", attrname))
            if comment:
                return list(comment)
        return None

    def get_doc(self) -> list[list[str]]:
        comment = self.get_module_comment(self.objpath[-1])
        return [comment] if comment else []

    def should_suppress_value_header(self) -> bool:
        try:
            too_long = len(object_description(self.object)) > MAX_VALUE_CHARS
        except ValueError:
            too_long = False
        return too_long or super().should_suppress_value_header()


def _napoleon_except_attributes(app, what, name, obj, options, lines):
    if what not in ("attribute", "data", "property"):
        napoleon._process_docstring(app, what, name, obj, options, lines)


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    app.setup_extension("sphinx.ext.napoleon")
    for listener in list(app.events.listeners.get("autodoc-process-docstring", [])):
        if listener.handler is napoleon._process_docstring:
            app.disconnect(listener.id)
    app.connect("autodoc-process-docstring", _napoleon_except_attributes)
    app.add_autodocumenter(PublicDataDocumenter, override=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
