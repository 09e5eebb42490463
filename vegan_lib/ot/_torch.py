"""Torch-native, differentiable OT for training losses (Chapter 7: the SW and Sinkhorn latent penalties D_Z).

Both functions run POT with its torch backend on the inputs' device (no solver is written
here), are differentiable with respect to both point clouds, and compute in float32 at least,
also under ``torch.autocast`` (the half-precision expansion ‖x‖² + ‖y‖² − 2⟨x, y⟩ cancels
badly, as in :func:`vegan_lib.penalties.mmd`).
"""
from __future__ import annotations

import warnings

import ot as pot
import torch

from .. import _validation as _v
from ..costs import check_cost, pairwise_cost

_LOW = (torch.float16, torch.bfloat16)


def _clouds(x, y):
    """The two clouds as (n, d), (m, d) tensors of a common dtype (float32 at least), on one device."""
    for name, t in (("x", x), ("y", y)):
        _v.tensor(t, name, min_rows=1)
        if t.ndim == 0 or t.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one point, got shape {tuple(t.shape)}")
    if x.device != y.device:
        raise ValueError(f"x and y must be on the same device, got {x.device} and {y.device}")
    x2 = x.reshape(x.shape[0], -1)
    y2 = y.reshape(y.shape[0], -1)
    if x2.shape[1] != y2.shape[1]:
        raise ValueError(f"x and y must have the same sample dimension, got {tuple(x.shape)} and {tuple(y.shape)}")
    dtype = torch.promote_types(x.dtype, y.dtype)
    dtype = torch.float32 if dtype in _LOW else dtype
    return x2.to(dtype), y2.to(dtype)


def _weights(w, n: int, name: str, like: torch.Tensor, positive: bool = False):
    """None, or a 1-D tensor of n non-negative (``positive``: > 0) weights, in ``like``'s dtype and device."""
    if w is None:
        return None
    _v.tensor(w, name, ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"{name} must have length {n} (one weight per point), got {w.shape[0]}")
    w = w.to(device=like.device, dtype=like.dtype)
    low = float(w.min())
    if not torch.isfinite(w).all() or low < 0 or (positive and low == 0) or float(w.sum()) <= 0:
        raise ValueError(f"{name} must be finite and {'positive' if positive else 'non-negative'} "
                         f"with positive total mass")
    return w


def _same_mass(a, b, dtype) -> None:
    sa = 1.0 if a is None else float(a.sum())
    sb = 1.0 if b is None else float(b.sum())
    rtol = 1e-9 if dtype == torch.float64 else 1e-5
    if abs(sa - sb) > rtol * max(sa, sb, 1.0):
        raise ValueError(f"a and b must have the same total mass, got {sa:.9g} and {sb:.9g}")


def _inputs(x, y, a, b, positive: bool = False):
    x, y = _clouds(x, y)
    a = _weights(a, x.shape[0], "a", x, positive)
    b = _weights(b, y.shape[0], "b", x, positive)
    _same_mass(a, b, x.dtype)
    return x, y, a, b


def sliced_wasserstein(x, y, a=None, b=None, n_projections: int = 50, p: float = 2,
                       *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Monte-Carlo sliced Wasserstein SW_p^p, the **p-th power** (Chapter 7, eq. (SW): the SWAE latent penalty).

    SW_p^p(μ, ν) = E_θ W_p^p(θ#μ, θ#ν) over directions θ uniform on the sphere, estimated by
    the mean over ``n_projections`` directions of the 1-D OT costs W_p^p (quantile functions,
    ``ot.sliced_wasserstein_distance`` with the torch backend). Returns the p-th power, not
    POT's SW_p = (·)^{1/p}: it is the natural loss (an average of 1-D costs) and has finite
    gradients where x = y. ``x`` (n, ...) and ``y`` (m, ...) are floating tensors on one
    device (samples flattened; a 1-D input is n points on the line); ``a``, ``b`` optional
    non-negative weights of equal mass (``None``: uniform); ``p`` ≥ 1. The directions are
    drawn by ``torch.randn`` on the inputs' device from ``generator`` (a ``torch.Generator``
    on that device) or torch's global RNG, so the device and the seed are the caller's.
    Differentiable in x and y; the result is a 0-dim tensor in the inputs' dtype (float32 at
    least) on their device. In one dimension with one projection it is W_p^p exactly.
    """
    n_projections = _v.integer(n_projections, "n_projections")
    p = _v.number(p, "p", minimum=1)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    with torch.autocast(x.device.type if isinstance(x, torch.Tensor) else "cpu", enabled=False):
        x, y, a, b = _inputs(x, y, a, b)
        if generator is not None and generator.device.type != x.device.type:
            raise ValueError(f"generator is on {generator.device}, but the points are on {x.device}")
        theta = torch.randn(x.shape[1], n_projections, generator=generator, device=x.device, dtype=x.dtype)
        theta = theta / torch.linalg.vector_norm(theta, dim=0, keepdim=True)
        _, log = pot.sliced_wasserstein_distance(x, y, a, b, p=p, projections=theta, log=True)
        return log["projected_emds"].mean()


def sinkhorn_loss(x, y, reg: float, a=None, b=None, cost: str = "sqeuclidean", debiased: bool = True,
                  num_iter_max: int = 1000, stop_thr: float = 1e-6) -> torch.Tensor:
    """Entropic OT between two point clouds in torch, differentiable (Chapter 1, eq. (entropic OT);
    Chapter 7, eq. (Sinkhorn): the Sinkhorn latent penalty).

    With M_ij = c(x_i, y_j) (:func:`vegan_lib.costs.pairwise_cost`, ``cost`` a name of
    :mod:`vegan_lib.costs`) and weights ``a``, ``b`` (positive, equal mass; ``None``:
    uniform), the entropic OT value is

        OT_ε(x, y) = min_P <P, M> + ε·KL(P ‖ a⊗b),  KL(P ‖ Q) = Σ P log(P/Q) − Σ P + Σ Q,

    (transport **plus** the entropic term, at the optimal plan; :func:`sinkhorn` returns the
    transport part <P, M> alone, with the same optimal plan), with ε = ``reg`` (in the units
    of the cost: ~0.1 of its typical value works in float32). ``debiased=False`` returns
    OT_ε(x, y); ``debiased=True`` (default) the Sinkhorn divergence
    S_ε = OT_ε(x, y) − ½OT_ε(x, x) − ½OT_ε(y, y) (Genevay et al. 2018, Feydy et al. 2019),
    which is ≥ 0, zero when the clouds (and weights) coincide, and interpolates between W_c
    (ε → 0) and an MMD (ε → ∞).

    Solved by ``ot.solve(M, a, b, reg, reg_type="KL", grad="envelope")``: POT's log-domain
    Sinkhorn (stable for small ε in float32) on the inputs' device, at most ``num_iter_max``
    iterations or until the marginal error is below ``stop_thr``. Gradients come from the
    envelope theorem (∂OT_ε/∂M = the optimal plan, exact at convergence; autograd then
    differentiates M in x and y) rather than by unrolling the iterations: memory does not grow
    with the iterations. Stopping at ``num_iter_max`` is not an error (a training loss may
    truncate the iterations; POT's warning is silenced). Returns a 0-dim tensor in the inputs'
    dtype (float32 at least) on their device.
    """
    reg = _v.positive(reg, "reg")
    cost = check_cost(cost)
    debiased = _v.boolean(debiased, "debiased")
    num_iter_max = _v.integer(num_iter_max, "num_iter_max")
    stop_thr = _v.positive(stop_thr, "stop_thr")
    with torch.autocast(x.device.type if isinstance(x, torch.Tensor) else "cpu", enabled=False):
        x, y, a, b = _inputs(x, y, a, b, positive=True)

        def ot_eps(u, v, wu, wv):
            M = pairwise_cost(u, v, cost)
            with warnings.catch_warnings():  # POT's "did not converge" is caught: the caller sets the budget
                warnings.simplefilter("ignore", UserWarning)
                return pot.solve(M, wu, wv, reg=reg, reg_type="KL", max_iter=num_iter_max, tol=stop_thr,
                                 grad="envelope").value

        value = ot_eps(x, y, a, b)
        if debiased:
            value = value - 0.5 * ot_eps(x, x, a, a) - 0.5 * ot_eps(y, y, b, b)
        return value
