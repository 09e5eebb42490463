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
