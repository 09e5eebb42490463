import numpy as np
import pytest
import torch

import vegan_lib as vl


def test_quick_mode_parameter_and_env(monkeypatch):
    monkeypatch.delenv("VEGAN_QUICK", raising=False)
    assert vl.quick_mode(False) is False
    assert vl.quick_mode(True) is True
    monkeypatch.setenv("VEGAN_QUICK", "1")
    assert vl.quick_mode(False) is True
    monkeypatch.setenv("VEGAN_QUICK", "0")
    assert vl.quick_mode(False) is False


def test_quick_mode_bad_input(monkeypatch):
    monkeypatch.delenv("VEGAN_QUICK", raising=False)
    with pytest.raises(TypeError, match="quick"):
        vl.quick_mode("yes")
    monkeypatch.setenv("VEGAN_QUICK", "maybe")
    with pytest.raises(ValueError, match="VEGAN_QUICK"):
        vl.quick_mode(False)


def test_get_device():
    assert vl.get_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert vl.get_device("auto").type == expected
    with pytest.raises(ValueError, match="device"):
        vl.get_device("tpu")
    with pytest.raises(TypeError, match="device"):
        vl.get_device(3)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            vl.get_device("cuda")


def test_set_seed_reproducible():
    vl.set_seed(5)
    a = (np.random.rand(), torch.rand(3))
    rng = vl.set_seed(5)
    b = (np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and torch.equal(a[1], b[1])
    assert isinstance(rng, np.random.Generator)
    with pytest.raises(TypeError, match="seed"):
        vl.set_seed(1.5)
    with pytest.raises(ValueError, match="seed"):
        vl.set_seed(-1)


def test_show_source_and_describe(capsys):
    vl.show_source(vl.ot.exact_ot)
    assert "def exact_ot" in capsys.readouterr().out
    with pytest.raises(TypeError, match="source"):
        vl.show_source(3)
    assert "CPU" in vl.describe_device(torch.device("cpu"))


def test_eval_mode_sets_eval_and_no_grad_and_restores():
    bn = torch.nn.BatchNorm1d(2)
    lin = torch.nn.Linear(2, 2).eval()
    with vl.eval_mode(bn, lin) as mods:
        assert mods == (bn, lin) and not bn.training and not torch.is_grad_enabled()
    assert bn.training and not lin.training and torch.is_grad_enabled()
    with pytest.raises(RuntimeError):
        with vl.eval_mode(bn):
            raise RuntimeError("boom")
    assert bn.training  # restored after an error too
    with pytest.raises(TypeError, match="modules\\[0\\]"):
        with vl.eval_mode("model"):
            pass
    with pytest.raises(TypeError, match="at least one"):
        with vl.eval_mode():
            pass


def test_atomic_write_leaves_old_file_on_error(tmp_path):
    from vegan_lib import _io

    path = tmp_path / "sub" / "f.pt"
    _io.atomic_torch_save({"a": torch.ones(2)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(2))
    with pytest.raises(ZeroDivisionError):
        with _io.atomic_open(path) as f:
            f.write(b"partial")
            1 / 0
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(2))
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.pt"]  # no temporary file left


@pytest.mark.parametrize("call, exc", [
    (lambda v: v.number("1", "lam"), TypeError), (lambda v: v.number(True, "lam"), TypeError),
    (lambda v: v.number(float("nan"), "lam"), ValueError), (lambda v: v.number(-1, "lam", positive=True), ValueError),
    (lambda v: v.integer(1.5, "n"), TypeError), (lambda v: v.integer(0, "n"), ValueError),
    (lambda v: v.choice(3, "kernel", ("imq",)), TypeError), (lambda v: v.choice("x", "kernel", ("imq",)), ValueError),
    (lambda v: v.shape("a", "x_shape"), TypeError), (lambda v: v.shape((2, 0), "x_shape"), ValueError), (lambda v: v.shape(None, "x_shape"), TypeError),
    (lambda v: v.tensor([1.0], "x"), TypeError), (lambda v: v.tensor(torch.ones(2, dtype=torch.long), "x"), TypeError),
    (lambda v: v.tensor(torch.ones(2), "x", ndim=2), ValueError), (lambda v: v.boolean(1, "flag"), TypeError),
    (lambda v: v.weights([1.0, -1.0], 2, "a"), ValueError), (lambda v: v.to_numpy64("abc", "a"), TypeError),
    (lambda v: v.seed(-1), ValueError), (lambda v: v.module(3, "encoder"), TypeError),
])
def test_one_exception_rule(call, exc):
    """TypeError for a wrong type, ValueError for a wrong value, and the argument's name in the message."""
    from vegan_lib import _validation

    with pytest.raises(exc) as info:
        call(_validation)
    assert any(name in str(info.value) for name in ("lam", "n ", "n must", "kernel", "x_shape", "x ", "x must",
                                                    "flag", "a ", "a must", "seed", "encoder"))
