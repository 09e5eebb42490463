"""vl.ledger: claims assert and record; the ledger reads records back and finds declared claims."""
import math

import nbformat
import numpy as np
import pytest
import torch

import vegan_lib as vl
from vegan_lib import ledger


@pytest.fixture(autouse=True)
def _context():
    ledger.begin(3, quick=True, profile="quick", seed=7, device="cpu")
    yield
    ledger._CONTEXT.clear()


def test_claim_records_and_passes(capsys):
    assert ledger.claim("3.2/gap", "the gap is small", np.float64(1e-12), 1e-9, "<=", kind="book") is None
    (r,) = ledger.records()
    assert r.passed and r.value == 1e-12 and r.bound == 1e-9 and r.section == "3.2"
    assert r.context == {"chapter": 3, "mode": "quick", "profile": "quick", "seed": 7, "device": "cpu"}
    assert "ok   3.2/gap [book] the gap is small: 1e-12 ≤ 1e-09" in capsys.readouterr().out


@pytest.mark.parametrize("value,bound,relation,ok", [
    (1, 1, "<=", True), (1, 1, "<", False), (2, 1, ">", True), (1, 1, ">=", True), (3, 3, "==", True),
    (3, 4, "==", False), (float("nan"), 1.0, "<", False), (1.0, float("nan"), ">", False)])
def test_relations_and_failures(value, bound, relation, ok):
    if ok:
        ledger.claim("1.1/x", "x", value, bound, relation)
        assert ledger.records()[-1].passed
    else:
        with pytest.raises(AssertionError, match="claim failed: FAIL 1.1/x"):
            ledger.claim("1.1/x", "x", value, bound, relation)


def test_scalars_from_numpy_and_torch():
    ledger.claim("1.1/np-bool", "a numpy bool", np.bool_(True), 1, "==")
    ledger.claim("1.1/torch", "a 0-d tensor", torch.tensor(0.5), 1.0, "<")
    ledger.claim("1.1/int", "a count", np.int64(3), 2, ">")
    values = [r.value for r in ledger.records()]
    assert values == [1, 0.5, 3] and isinstance(values[2], int)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(key="gap"), ValueError, "key must look like"),
    (dict(key="3.2/Gap"), ValueError, "key must look like"),
    (dict(text=" "), ValueError, "text must be"),
    (dict(relation="!="), ValueError, "relation must be one of"),
    (dict(kind="claim"), ValueError, "kind must be one of"),
    (dict(value=np.zeros(3)), TypeError, "value must be a scalar, got an array of shape"),
    (dict(bound="1e-9"), TypeError, "bound must be a real number"),
])
def test_bad_input_names_the_argument(kwargs, exc, match):
    args = dict(key="3.2/gap", text="t", value=0.0, bound=1.0, relation="<=", kind="book") | kwargs
    with pytest.raises(exc, match=match):
        ledger.claim(args.pop("key"), args.pop("text"), args.pop("value"), args.pop("bound"), args.pop("relation"),
                     kind=args.pop("kind"))


def test_begin_validates():
    with pytest.raises(ValueError, match="chapter must be a positive integer"):
        ledger.begin(0, quick=True, profile="quick", seed=0)
    with pytest.raises(TypeError, match="seed must be an integer"):
        ledger.begin(1, quick=True, profile="quick", seed=0.5)


def test_claim_all_records_every_check_then_raises():
    good = vl.checks.Check("a < b", 1.0, 2.0)
    bad = vl.checks.Check("c > d", 1.0, 2.0, ">")
    ledger.claim_all("5.3/beats", [good], kind="paper")
    assert [(r.passed, r.kind) for r in ledger.records()] == [(True, "paper")]
    with pytest.raises(AssertionError, match="claims failed: FAIL 5.3/beats"):
        ledger.claim_all("5.3/beats", [good, bad])
    assert [r.passed for r in ledger.records()] == [True, True, False]
    with pytest.raises(ValueError, match="at least one"):
        ledger.claim_all("5.3/beats", [])
    with pytest.raises(TypeError, match="vl.checks.Check"):
        ledger.claim_all("5.3/beats", [1.0])


def _notebook(sources, outputs=None):
    nb = nbformat.v4.new_notebook()
    for i, src in enumerate(sources):
        cell = nbformat.v4.new_code_cell(src)
        if outputs and i in outputs:
            cell.outputs = [nbformat.v4.new_output("display_data", data={ledger.MIME: {"claims": outputs[i]},
                                                                          "text/plain": "..."})]
        nb.cells.append(cell)
    return nb


SOURCE = [
    "%pip install nothing\nimport vegan_lib as vl\nif COLAB:\n    %pip install -q vegan_lib",
    'vl.ledger.claim("1.2/a", "a holds", 1, 2)\nif not QUICK:\n    vl.ledger.claim("1.2/b", f"b at {s}", 1, 2, kind="paper")',
    'vl.ledger.claim_all("1.3/c", checks, kind="sanity")',
]


def test_declared_finds_every_call_with_literal_keys():
    d = ledger.declared(_notebook(SOURCE))
    assert [(x["key"], x["kind"], x["cell"]) for x in d] == [("1.2/a", "book", 1), ("1.2/b", "paper", 1),
                                                              ("1.3/c", "sanity", 2)]
    assert d[1]["text"] == "b at {s}"
    with pytest.raises(ValueError, match="must be a string literal"):
        ledger.declared(_notebook(["k = '1.1/a'\nvl.ledger.claim(k, 't', 1, 2)"]))
    with pytest.raises(ValueError, match="already claimed"):
        ledger.declared(_notebook(['vl.ledger.claim("1.1/a", "t", 1, 2)', 'vl.ledger.claim("1.1/a", "t", 1, 2)']))


def test_build_lists_claims_that_did_not_run():
    rec = {"key": "1.2/a", "text": "a holds", "value": 1, "bound": 2, "relation": "<=", "kind": "book",
           "passed": True, "context": {"mode": "quick"}}
    extra = dict(rec, key="1.9/extra", passed=False)
    executed = _notebook(SOURCE, outputs={1: [rec, rec], 2: [extra]})
    out = ledger.build({"01": (_notebook(SOURCE), executed), "02": (_notebook(SOURCE), None)})
    rows = {r["key"]: r for r in out["chapters"][0]["claims"]}
    assert rows["1.2/a"]["status"] == "passed" and len(rows["1.2/a"]["records"]) == 2
    assert rows["1.2/b"]["status"] == "not run" and rows["1.3/c"]["status"] == "not run"
    assert rows["1.9/extra"]["status"] == "failed" and rows["1.9/extra"]["declared"] is False
    assert all(r["status"] == "not run" for r in out["chapters"][1]["claims"])
    assert out["totals"] == {"claims": 7, "records": 3, "passed": 1, "failed": 1, "not run": 5}


def test_records_round_trip_through_an_executed_notebook(tmp_path):
    pytest.importorskip("nbclient")
    from nbclient import NotebookClient

    nb = _notebook(["import vegan_lib as vl\nvl.ledger.begin(1, quick=True, profile='quick', seed=0)",
                    'for s in range(3):\n    vl.ledger.claim("1.1/a", f"a at seed {s}", s, 5, "<")\n'
                    'vl.ledger.claim("1.1/b", "b", float("inf"), 0, ">")'])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[1].outputs
    assert len(outputs) == 1, outputs  # one output per cell, updated in place
    recs = ledger.read_records(nb)
    assert [r["key"] for r in recs] == ["1.1/a"] * 3 + ["1.1/b"]
    assert recs[3]["value"] == "inf" and recs[0]["context"]["mode"] == "quick"
    assert "ok   1.1/a [book] a at seed 2: 2 < 5" in outputs[0]["data"]["text/plain"]
    assert math.isclose(recs[2]["value"], 2)
