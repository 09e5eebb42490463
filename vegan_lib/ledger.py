"""The ledger of claims: every assert of a chapter's Checks, asserted and recorded (all chapters;
the appendix "Ledger of claims").

A chapter's Checks state each claim with one call::

    vl.ledger.claim("3.2/mmd-below-wc", "W_c − D_MMD(λ) > 1000 × the certified accuracy, every λ",
                    value=float(np.min(gap / certified)), bound=1e3, relation=">", kind="book")

:func:`claim` compares ``value`` with ``bound``, shows one line (``ok`` or ``FAIL``), stores the
record in the cell's output under the MIME type :data:`MIME`, and raises ``AssertionError`` when the
claim fails. :func:`claim_all` does the same for the :class:`vegan_lib.checks.Check` records of the
library's training checks. The book's appendix reads the records back from the executed chapters
(:func:`read_records`), finds every claim the chapters' sources state (:func:`declared`), and lists
both (:func:`build`): a claim that did not run in a build (a full-mode claim in the quick build) is
listed as not run, never dropped.

A key is ``"<section>/<name>"``: the chapter section it belongs to (``"3.2"``) and a name unique in
the chapter; it must be a string literal in the chapter's source, so that the ledger can find it
without running the chapter. ``kind`` says what the claim is: ``"paper"`` (a statement of the VEGAN
cookbook or the WAE paper), ``"book"`` (a derivation or measurement of this book) or ``"sanity"``
(true by construction; it guards the code, it proves nothing).
"""
from __future__ import annotations

import ast
import json
import math
import numbers
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

__all__ = ["MIME", "KINDS", "RELATIONS", "Claim", "begin", "context", "claim", "claim_all", "records", "read_records",
           "declared", "build"]

#: The MIME type under which :func:`claim` stores its records in a notebook output.
MIME = "application/vnd.vegan.claims+json"

#: What a claim is: a statement of the papers, a derivation or measurement of the book, a sanity check.
KINDS = ("paper", "book", "sanity")

#: The relations a claim may assert between its value and its bound, as shown in the ledger.
RELATIONS = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "="}

_KEY = re.compile(r"^(\d+(?:\.\d+)*)/([a-z0-9][a-z0-9_.\-]*)$")
_CLAIM_FUNCTIONS = ("claim", "claim_all")


@dataclass(frozen=True)
class Claim:
    """One checked claim: ``value`` ``relation`` ``bound`` (``passed`` says whether it held), with the
    run it belongs to (``context``: chapter, mode, profile, seed, device)."""

    key: str
    text: str
    value: float
    bound: float
    relation: str
    kind: str
    passed: bool
    context: dict = field(default_factory=dict)

    @property
    def section(self) -> str:
        return self.key.split("/", 1)[0]

    def __str__(self) -> str:
        mark = "ok  " if self.passed else "FAIL"
        return (f"{mark} {self.key} [{self.kind}] {self.text}: "
                f"{_fmt(self.value)} {RELATIONS[self.relation]} {_fmt(self.bound)}")


_CONTEXT: dict = {}
_DISPLAY = {"cell": None, "handle": None, "records": []}
_SESSION: list = []  # every record since begin()


def begin(chapter: int, *, quick: bool, seed: int, profile: str | None = None, device=None) -> dict:
    """Start a chapter's ledger (every chapter's set-up cell): the run every later claim belongs to.

    ``quick`` selects the mode the ledger reports (``"quick"`` or ``"full"``), ``seed`` is the chapter's
    seed, ``profile`` the protocol profile of its training runs (``None`` in a chapter without any) and
    ``device`` where it ran. Returns the context.
    """
    if isinstance(chapter, bool) or not isinstance(chapter, numbers.Integral) or chapter < 1:
        raise ValueError(f"chapter must be a positive integer, got {chapter!r}")
    if not isinstance(quick, (bool, int)):
        raise TypeError(f"quick must be a bool, got {type(quick).__name__}")
    if profile is not None and (not isinstance(profile, str) or not profile):
        raise ValueError(f"profile must be None or a non-empty string, got {profile!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    _CONTEXT.clear()
    _CONTEXT.update(chapter=int(chapter), mode="quick" if quick else "full", profile=profile, seed=int(seed),
                    device=None if device is None else str(device))
    _DISPLAY.update(cell=None, handle=None, records=[])
    _SESSION.clear()
    return dict(_CONTEXT)


def records() -> list[Claim]:
    """Every claim recorded since :func:`begin` in this process, in order (a chapter's closing count)."""
    return list(_SESSION)


def context() -> dict:
    """The run the next claims are recorded for (set by :func:`begin`; empty before)."""
    return dict(_CONTEXT)


def _fmt(x) -> str:
    if isinstance(x, numbers.Integral):
        return str(int(x))
    return f"{x:.4g}"


def _number(x, name):
    if not isinstance(x, numbers.Number) and hasattr(x, "shape"):  # NumPy or torch: one element only
        shape = tuple(x.shape)
        if math.prod(shape) != 1:
            raise TypeError(f"{name} must be a scalar, got an array of shape {shape}; reduce it first "
                            f"(np.max of the errors, np.min of the gaps, a count)")
        x = x.item()
    if isinstance(x, bool):
        return int(x)
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        return float(x)
    raise TypeError(f"{name} must be a real number, got {type(x).__name__}")


def _check_key(key):
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"key must look like '<section>/<name>' (e.g. '3.2/mmd-below-wc': digits and dots, "
                         f"then lower-case letters, digits, '-', '_' or '.'), got {key!r}")
    return key


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return kind


def _holds(value, bound, relation) -> bool:
    if isinstance(value, float) and math.isnan(value) or isinstance(bound, float) and math.isnan(bound):
        return False
    return {"<": value < bound, "<=": value <= bound, ">": value > bound, ">=": value >= bound,
            "==": value == bound}[relation]


def _show(record: Claim) -> None:
    """Add a record to this cell's ledger output (one output per cell, updated in place), or print it."""
    _SESSION.append(record)
    try:
        from IPython import get_ipython
        from IPython.display import display
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None:
        print(record)
        return
    cell = getattr(shell, "execution_count", None)
    if _DISPLAY["cell"] != cell or _DISPLAY["handle"] is None:
        _DISPLAY.update(cell=cell, handle=None, records=[])
    _DISPLAY["records"].append(record)
    records = _DISPLAY["records"]
    ctx = record.context
    where = (f"Chapter {ctx['chapter']}, {ctx['mode']} mode, profile {ctx['profile'] or '-'}, seed {ctx['seed']}"
             if ctx else "no ledger context (vl.ledger.begin was not called)")
    text = f"claims recorded in the ledger ({where}):\n" + "\n".join(f"  {r}" for r in records)
    bundle = {MIME: {"claims": [_as_json(r) for r in records]}, "text/plain": text}
    if _DISPLAY["handle"] is None:
        _DISPLAY["handle"] = display(bundle, raw=True, display_id=True)
    else:
        _DISPLAY["handle"].update(bundle, raw=True)


def _as_json(record: Claim) -> dict:
    out = asdict(record)
    for k in ("value", "bound"):
        if isinstance(out[k], float) and not math.isfinite(out[k]):
            out[k] = str(out[k])  # JSON has no NaN or infinity
    return out


def claim(key: str, text: str, value, bound, relation: str = "<=", *, kind: str = "book") -> None:
    """Assert ``value relation bound`` and record it in the ledger (every chapter's Checks).

    ``key`` is ``"<section>/<name>"`` (a string literal in the chapter), ``text`` the claim in one short
    sentence, ``value`` the measured number (a scalar: reduce arrays first, e.g. the largest error),
    ``bound`` the bound or tolerance, ``relation`` one of ``<``, ``<=``, ``>``, ``>=``, ``==``, and
    ``kind`` one of :data:`KINDS`. The same key may be claimed several times (once per seed); each
    call is one record (:func:`records` lists them). Raises ``AssertionError`` naming the claim when it
    fails (NaN always fails). Returns nothing, so that a cell ending with a claim shows only the ledger.
    """
    _check_key(key)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty sentence, got {text!r}")
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {tuple(RELATIONS)}, got {relation!r}")
    _check_kind(kind)
    value, bound = _number(value, "value"), _number(bound, "bound")
    record = Claim(key, text.strip(), value, bound, relation, kind, _holds(value, bound, relation), dict(_CONTEXT))
    _show(record)
    if not record.passed:
        raise AssertionError(f"claim failed: {record}")


def claim_all(key: str, checks: Iterable, *, kind: str = "book") -> None:
    """Record every :class:`vegan_lib.checks.Check` of a library check under ``key``, then raise
    ``AssertionError`` listing the failed ones (Chapters 3-7; the training claims)."""
    _check_key(key)
    _check_kind(kind)
    checks = list(checks)
    if not checks:
        raise ValueError("checks must hold at least one vl.checks.Check")
    out = []
    for c in checks:
        if not all(hasattr(c, a) for a in ("text", "value", "bound", "relation")):
            raise TypeError(f"checks must hold vl.checks.Check records, got {type(c).__name__}")
        value, bound = _number(c.value, "check value"), _number(c.bound, "check bound")
        record = Claim(key, c.text, value, bound, c.relation, kind, _holds(value, bound, c.relation),
                       dict(_CONTEXT))
        _show(record)
        out.append(record)
    failed = [r for r in out if not r.passed]
    if failed:
        raise AssertionError("claims failed: " + "; ".join(str(r) for r in failed))


# ---- reading the ledger back: records of executed notebooks, claims declared in sources

def _load(notebook):
    import nbformat

    if isinstance(notebook, (str, Path)):
        return nbformat.read(str(notebook), as_version=4)
    return notebook


def read_records(notebook) -> list[dict]:
    """Every claim record stored in an executed notebook (a path or an ``nbformat`` node), in order."""
    nb = _load(notebook)
    out = []
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            payload = output.get("data", {}).get(MIME)
            if payload:
                out.extend(payload.get("claims", []))
    return out


def _python(source: str) -> str:
    # IPython magics (%pip, !ls) are not Python: each becomes `pass` at its indentation before parsing
    return "\n".join(line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _literal_text(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # an f-string: its fields shown as {…}
        parts = []
        for v in node.values:
            parts.append(v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}")
        return "".join(parts)
    return None


def declared(notebook) -> list[dict]:
    """The claims a chapter's source states: one dict (``key``, ``text``, ``kind``, ``cell``) per call of
    :func:`claim` or :func:`claim_all`, in order. Raises ``ValueError`` for a key that is not a string
    literal of the form ``"<section>/<name>"`` or that two calls share."""
    nb = _load(notebook)
    out, seen = [], {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_python(cell.source))
        except SyntaxError as err:
            raise ValueError(f"cell {index} is not valid Python: {err}") from None
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            owner = f.value.attr if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Attribute) else (
                f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else None)
            if name not in _CLAIM_FUNCTIONS or owner not in ("ledger", None):
                continue
            if not node.args or not (isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                raise ValueError(f"cell {index}: the key of {name}() must be a string literal "
                                 f"(line {node.lineno}: {ast.unparse(node)[:80]})")
            key = _check_key(node.args[0].value)
            if key in seen:
                raise ValueError(f"cell {index}: key {key!r} is already claimed in cell {seen[key]}")
            seen[key] = index
            kind = next((kw.value.value for kw in node.keywords if kw.arg == "kind"
                         and isinstance(kw.value, ast.Constant)), "book")
            text = _literal_text(node.args[1]) if name == "claim" and len(node.args) > 1 else None
            if text is None and name == "claim":
                text = next((_literal_text(kw.value) for kw in node.keywords if kw.arg == "text"), None)
            out.append({"key": key, "text": text or "(the checks of a library function; see the chapter)",
                        "kind": _check_kind(kind), "cell": index})
    return out


def build(chapters: dict) -> dict:
    """The ledger of a build: for each chapter (``{name: (source notebook, executed notebook or None)}``),
    every declared claim with the records of its runs, or ``status = "not run"`` when it has none.

    Returns ``{"chapters": [{"name", "claims": [{"key", "section", "text", "kind", "status", "records"}]}],
    "totals": {...}}``; ``status`` is ``"passed"``, ``"failed"`` or ``"not run"``. A record whose key no
    source declares is listed under its chapter with ``status`` from its run and ``"declared": False``.
    """
    chapters_out, totals = [], {"claims": 0, "records": 0, "passed": 0, "failed": 0, "not run": 0}
    for name, (source, executed) in chapters.items():
        decl = declared(source)
        records = read_records(executed) if executed is not None else []
        by_key: dict = {}
        for r in records:
            by_key.setdefault(r["key"], []).append(r)
        rows = []
        for d in decl:
            rec = by_key.pop(d["key"], [])
            rows.append(_row(d["key"], d["text"], d["kind"], rec, True))
        for key, rec in by_key.items():  # recorded but not declared (a key built at run time)
            rows.append(_row(key, rec[0]["text"], rec[0]["kind"], rec, False))
        for row in rows:
            totals["claims"] += 1
            totals["records"] += len(row["records"])
            totals[row["status"]] += 1
        chapters_out.append({"name": name, "executed": executed is not None, "claims": rows})
    return {"chapters": chapters_out, "totals": totals}


def _row(key, text, kind, records, is_declared):
    status = "not run" if not records else ("passed" if all(r["passed"] for r in records) else "failed")
    return {"key": key, "section": key.split("/", 1)[0], "text": text, "kind": kind, "status": status,
            "declared": is_declared, "records": records}
