"""Torch-native OT of vegan_lib.ot (sliced_wasserstein, sinkhorn_loss): values against the NumPy layer,
gradients, device and dtype, autocast, and every error case (TypeError for a type, ValueError for a value)."""
import warnings

import numpy as np
import pytest
import torch

from vegan_lib import costs
from vegan_lib import ot as vot

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _clouds(n=7, m=5, d=2, dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(m, d, generator=g, dtype=torch.float64) * 0.8 + 1.0
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def _gen(device, seed=0):
    return torch.Generator(device=device).manual_seed(seed)


# ----------------------------------------------------------------------------- sinkhorn_loss

@pytest.mark.parametrize("cost", costs.COSTS)
def test_sinkhorn_loss_is_transport_plus_kl_of_the_numpy_plan(cost):
    # OT_eps = <P, M> + eps KL(P | a x b), P the entropic plan; vl.ot.sinkhorn returns <P, M> alone.
    x, y = _clouds()
    a = torch.tensor([0.1, 0.2, 0.1, 0.15, 0.15, 0.2, 0.1], dtype=torch.float64)
    reg = 0.5
    value = vot.sinkhorn_loss(x, y, reg, a=a, cost=cost, debiased=False, num_iter_max=5000, stop_thr=1e-12)
    M = vot.cost_matrix(x, y, cost)
    res = vot.sinkhorn(a.numpy(), None, M, reg, stop_thr=1e-12)
    P, Q = res.plan, a.numpy()[:, None] * np.full((1, 5), 0.2)
    kl = np.sum(P * np.log(P / Q)) - P.sum() + Q.sum()
    assert value.item() == pytest.approx(res.cost + reg * kl, abs=1e-10)
    assert value.item() > res.cost  # the entropic term is positive here
    # the debiased loss has finite gradients, also where c(x_i, x_i) = 0 is not differentiable
    z = x.clone().requires_grad_(True)
    vot.sinkhorn_loss(z, y, reg, cost=cost).backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_sinkhorn_divergence_properties():
    x, y = _clouds()
    assert vot.sinkhorn_loss(x, x, 0.3).item() == 0.0
    s_xy, s_yx = vot.sinkhorn_loss(x, y, 0.3, stop_thr=1e-12), vot.sinkhorn_loss(y, x, 0.3, stop_thr=1e-12)
    assert s_xy.item() > 0 and s_xy.item() == pytest.approx(s_yx.item(), abs=1e-9)
    # debiased = OT(x, y) - (OT(x, x) + OT(y, y)) / 2
    ot = {k: vot.sinkhorn_loss(u, v, 0.3, debiased=False, stop_thr=1e-12)
          for k, (u, v) in {"xy": (x, y), "xx": (x, x), "yy": (y, y)}.items()}
    assert s_xy.item() == pytest.approx((ot["xy"] - 0.5 * ot["xx"] - 0.5 * ot["yy"]).item(), abs=1e-12)
    # small eps: S tends to W_c (here W2^2), up to O(eps log n) terms
    w = vot.exact_ot(None, None, vot.cost_matrix(x, y)).cost
    assert vot.sinkhorn_loss(x, y, 0.01, num_iter_max=20_000).item() == pytest.approx(w, rel=0.1)


@pytest.mark.parametrize("debiased", [False, True])
def test_sinkhorn_loss_gradient_matches_finite_differences(debiased):
    x, y = _clouds()
    x.requires_grad_(True)
    y.requires_grad_(True)

    def f(u, v):
        return vot.sinkhorn_loss(u, v, 0.5, debiased=debiased, num_iter_max=5000, stop_thr=1e-13)

    f(x, y).backward()
    g = torch.Generator().manual_seed(1)
    dx, dy = torch.randn(x.shape, generator=g, dtype=x.dtype), torch.randn(y.shape, generator=g, dtype=y.dtype)
    h = 1e-5
    with torch.no_grad():
        fd = (f(x + h * dx, y + h * dy) - f(x - h * dx, y - h * dy)) / (2 * h)
    analytic = (x.grad * dx).sum() + (y.grad * dy).sum()
    assert analytic.item() == pytest.approx(fd.item(), rel=1e-6, abs=1e-8)


def test_sinkhorn_loss_float32_at_a_tenth_of_the_cost_scale():
    x, y = _clouds(40, 30, 8, dtype=torch.float32)
    reg = 0.1 * costs.pairwise_cost(x, y).mean().item()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v32 = vot.sinkhorn_loss(x, y, reg)
    v64 = vot.sinkhorn_loss(x.double(), y.double(), reg, stop_thr=1e-10)
    assert torch.isfinite(v32) and v32.item() == pytest.approx(v64.item(), rel=1e-3)


# ----------------------------------------------------------------------------- sliced_wasserstein

@pytest.mark.parametrize("p", [1, 2, 3])
def test_sliced_in_one_dimension_is_w_p_to_the_p(p):
    x, y = _clouds(9, 6, 1)
    b = torch.tensor([0.3, 0.1, 0.2, 0.1, 0.2, 0.1], dtype=torch.float64)
    for weights in ({}, {"b": b}):
        sw = vot.sliced_wasserstein(x, y, n_projections=1, p=p, generator=_gen("cpu"), **weights)
        w = vot.wasserstein_1d(x[:, 0], y[:, 0], None, weights.get("b"), p=p)
        assert sw.item() == pytest.approx(w ** p, rel=1e-12)
    # 1-D tensors are points on the line
    assert vot.sliced_wasserstein(x[:, 0], y[:, 0], n_projections=1, p=p).item() == pytest.approx(
        vot.wasserstein_1d(x[:, 0], y[:, 0], p=p) ** p, rel=1e-12)


def test_sliced_is_seeded_and_differentiable():
    x, y = _clouds(6, 6, 3)
    one = vot.sliced_wasserstein(x, y, generator=_gen("cpu", 3))
    assert one.item() == vot.sliced_wasserstein(x, y, generator=_gen("cpu", 3)).item()
    assert one.item() != vot.sliced_wasserstein(x, y, generator=_gen("cpu", 4)).item()
    torch.manual_seed(5)
    glob = vot.sliced_wasserstein(x, y, n_projections=7)
    torch.manual_seed(5)
    assert glob.item() == vot.sliced_wasserstein(x, y, n_projections=7).item()
    x.requires_grad_(True)
    y.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda u, v: vot.sliced_wasserstein(u, v, n_projections=4, generator=_gen("cpu", 1)), (x, y))
    # the p-th power has finite (zero) gradients at x = y
    z = x.detach().clone().requires_grad_(True)
    vot.sliced_wasserstein(z, z.detach().clone()).backward()
    assert torch.all(z.grad == 0)


# ----------------------------------------------------------------------------- device, dtype, autocast

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_results_follow_device_and_dtype(device, dtype):
    x, y = _clouds(dtype=dtype, device=device)
    x.requires_grad_(True)
    for value in (vot.sliced_wasserstein(x, y, generator=_gen(device)), vot.sinkhorn_loss(x, y, 0.5)):
        assert value.device == x.device and value.dtype == dtype and value.ndim == 0
        (grad,) = torch.autograd.grad(value, x)
        assert grad.device == x.device and torch.isfinite(grad).all()


@pytest.mark.parametrize("device", DEVICES)
def test_autocast_and_half_inputs_compute_in_float32(device):
    x, y = _clouds(dtype=torch.float32, device=device)
    low = torch.bfloat16 if device == "cpu" else torch.float16
    ref_sw = vot.sliced_wasserstein(x, y, generator=_gen(device))
    ref_s = vot.sinkhorn_loss(x, y, 0.5)
    with torch.autocast(device, dtype=low):
        sw = vot.sliced_wasserstein(x, y, generator=_gen(device))
        s = vot.sinkhorn_loss(x, y, 0.5)
    assert sw.dtype == s.dtype == torch.float32
    assert sw.item() == pytest.approx(ref_sw.item(), rel=1e-6) and s.item() == pytest.approx(ref_s.item(), rel=1e-6)
    half = vot.sinkhorn_loss(x.to(low), y.to(low), 0.5)
    assert half.dtype == torch.float32 and half.item() == pytest.approx(ref_s.item(), rel=1e-2)


# ----------------------------------------------------------------------------- bad inputs

X, Y = _clouds(4, 3, 2, dtype=torch.float32)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: vot.sinkhorn_loss(X.numpy(), Y, 0.1), TypeError, "x must be a torch tensor"),
    (lambda: vot.sinkhorn_loss(X, Y.long(), 0.1), TypeError, "y must have a floating dtype"),
    (lambda: vot.sinkhorn_loss(X, Y, "0.1"), TypeError, "reg must be a number"),
    (lambda: vot.sinkhorn_loss(X, Y, 0.0), ValueError, "reg must be a positive"),
    (lambda: vot.sinkhorn_loss(X, Y, 0.1, cost="cosine"), ValueError, "cost must be one of"),
    (lambda: vot.sinkhorn_loss(X, Y, 0.1, cost=None), TypeError, "cost must be a string"),
    (lambda: vot.sinkhorn_loss(X, Y, 0.1, debiased="yes"), TypeError, "debiased must be a bool"),
    (lambda: vot.sinkhorn_loss(X, Y, 0.1, num_iter_max=10.0), TypeError, "num_iter_max must be an int"),
    (lambda: vot.sinkhorn_loss(X, Y, 0.1, num_iter_max=0), ValueError, "num_iter_max"),
    (lambda: vot.sinkhorn_loss(X, Y, 0.1, stop_thr=-1.0), ValueError, "stop_thr"),
    (lambda: vot.sinkhorn_loss(X, torch.zeros(3, 5), 0.1), ValueError, "same sample dimension"),
    (lambda: vot.sinkhorn_loss(X, torch.zeros(0, 2), 0.1), ValueError, "at least 1 rows"),
    (lambda: vot.sinkhorn_loss(X, Y, 0.1, a=[0.25] * 4), TypeError, "a must be a torch tensor"),
    (lambda: vot.sinkhorn_loss(X, Y, 0.1, a=torch.ones(3) / 3), ValueError, "a must have length 4"),
    (lambda: vot.sinkhorn_loss(X, Y, 0.1, a=torch.tensor([0.5, 0.5, 0.0, 0.0])), ValueError,
     "a must be finite and positive"),
    (lambda: vot.sinkhorn_loss(X, Y, 0.1, b=torch.ones(3)), ValueError, "same total mass"),
    (lambda: vot.sliced_wasserstein(X, Y, p=0.5), ValueError, "p must be >= 1"),
    (lambda: vot.sliced_wasserstein(X, Y, p="2"), TypeError, "p must be a number"),
    (lambda: vot.sliced_wasserstein(X, Y, n_projections=0), ValueError, "n_projections"),
    (lambda: vot.sliced_wasserstein(X, Y, n_projections=2.0), TypeError, "n_projections"),
    (lambda: vot.sliced_wasserstein(X, Y, generator=0), TypeError, "generator must be a torch.Generator"),
    (lambda: vot.sliced_wasserstein(X, Y, b=torch.tensor([1.0, -0.5, 0.5])), ValueError,
     "b must be finite and non-negative"),
    (lambda: vot.sliced_wasserstein(X, torch.tensor(1.0)), ValueError, "at least one point"),
    (lambda: vot.sliced_wasserstein("x", Y), TypeError, "x must be a torch tensor"),
])
def test_bad_inputs_raise_the_right_type(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device")
def test_device_mismatches_are_value_errors():
    with pytest.raises(ValueError, match="same device"):
        vot.sinkhorn_loss(X, Y.cuda(), 0.1)
    with pytest.raises(ValueError, match="generator is on cpu"):
        vot.sliced_wasserstein(X.cuda(), Y.cuda(), generator=_gen("cpu"))
