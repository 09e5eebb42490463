"""Transport costs c(x, y): one vocabulary for the whole library (Chapter 1, eq. (cost); Chapter 3).

Three cost names, each summed over all coordinates of a sample (pixels, for images):

- ``"sqeuclidean"``: c(x, y) = ‖x − y‖² (the W2² cost, the WAE paper's);
- ``"euclidean"``: c(x, y) = ‖x − y‖ (the W1 cost, WGAN's);
- ``"l1"``: c(x, y) = Σ|x_i − y_i| (``"cityblock"`` is accepted as an alias).

and three functions, named as in scikit-learn:

- :func:`paired_cost`: c(x_i, y_i) row by row, torch, differentiable (training losses);
- :func:`pairwise_cost`: the (n, m) matrix c(x_i, y_j), torch, differentiable (Sinkhorn penalty);
- :func:`cost_matrix`: the same matrix in float64 NumPy, for the exact solvers of :mod:`vegan_lib.ot`.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.distance import cdist

from . import _validation as _v

__all__ = ["COSTS", "paired_cost", "pairwise_cost", "cost_matrix", "check_cost"]

#: The cost names of the library.
COSTS = ("sqeuclidean", "euclidean", "l1")
_ALIASES = {"cityblock": "l1"}


def check_cost(cost, name: str = "cost") -> str:
    """Validate a cost name and return its canonical form (``"cityblock"`` → ``"l1"``)."""
    if isinstance(cost, str) and cost in _ALIASES:
        return _ALIASES[cost]
    return _v.choice(cost, name, COSTS)


def paired_cost(x: torch.Tensor, y: torch.Tensor, cost: str = "sqeuclidean") -> torch.Tensor:
    """Per-sample cost c(x_i, y_i), summed over all coordinates, shape (n,) (Chapter 3, eq. (cost)).

    ``x`` and ``y`` are tensors of the same shape (n, ...); differentiable, on their device.
    """
    cost = check_cost(cost)
    _v.tensor(x, "x", ndim=None)
    _v.tensor(y, "y", ndim=None)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    diff = (x - y).flatten(1)
    if cost == "sqeuclidean":
        return (diff * diff).sum(1)
    if cost == "euclidean":
        return torch.linalg.vector_norm(diff, dim=1)
    return diff.abs().sum(1)


def pairwise_cost(x: torch.Tensor, y: torch.Tensor, cost: str = "sqeuclidean") -> torch.Tensor:
    """The (n, m) matrix c(x_i, y_j) in torch, differentiable, on the inputs' device (Chapter 3).

    Samples are flattened. The squared cost uses the expansion ‖x‖² + ‖y‖² − 2⟨x, y⟩ clamped at 0
    (one matrix product); the other costs use ``torch.cdist``.
    """
    cost = check_cost(cost)
    _v.tensor(x, "x", min_rows=1)
    _v.tensor(y, "y", min_rows=1)
    x2, y2 = x.flatten(1), y.flatten(1)
    if x2.shape[1] != y2.shape[1]:
        raise ValueError(f"x and y must have the same sample dimension, got {tuple(x.shape)} and {tuple(y.shape)}")
    if cost == "sqeuclidean":
        d = (x2 * x2).sum(1, keepdim=True) + (y2 * y2).sum(1)[None, :] - 2.0 * (x2 @ y2.T)
        return d.clamp_min(0.0)
    return torch.cdist(x2, y2, p=2.0 if cost == "euclidean" else 1.0)


def cost_matrix(x, y, cost: str = "sqeuclidean") -> np.ndarray:
    """Ground cost matrix M_ij = c(x_i, y_j) in float64 NumPy (Chapter 1, eq. (cost)).

    Points are (n, d) arrays or tensors; a 1-D input is read as n points on the line. This is
    what the exact solvers of :mod:`vegan_lib.ot` take as ``M``.
    """
    cost = check_cost(cost)
    x = _v.points(x, "x")
    y = _v.points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got x {x.shape} and y {y.shape}")
    if cost == "sqeuclidean" and x.shape[1] > 16:
        # high dimension (images): the BLAS expansion |x|^2 + |y|^2 - 2<x, y> is ~30x faster
        # than cdist; its float64 error is ~1e-16 * |x|^2, clamped at 0.
        xx, yy = (x * x).sum(1)[:, None], (y * y).sum(1)[None, :]
        return np.maximum(xx + yy - 2.0 * (x @ y.T), 0.0)
    # scipy's cdist works on coordinate differences: exact zeros on the diagonal, unlike
    # the expansion (whose square root, for the Euclidean cost, errs by ~1e-8 * |x|).
    return cdist(x, y, metric={"sqeuclidean": "sqeuclidean", "euclidean": "euclidean", "l1": "cityblock"}[cost])
