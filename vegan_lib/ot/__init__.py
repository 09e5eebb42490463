"""Optimal transport: a thin, validated layer over POT, in POT's dialect.

POT does every solve; this package checks inputs (shapes, NaN, negative or unbalanced
weights), works in float64, accepts NumPy arrays or torch tensors, and checks what comes back
(solver warnings, plan marginals), so that a chapter never reports a silently wrong number.

**Dialect** (POT's): ``a``, ``b`` are the weights of the source and the target (``None``:
uniform), ``M`` a cost matrix, points come before weights, and ``cost=`` names a cost of
:mod:`vegan_lib.costs` (``"sqeuclidean"``, ``"euclidean"``, ``"l1"``). Every solver returns
a :class:`Result` with named fields.

**Chapter map**

- Chapter 1 (OT basics): :func:`cost_matrix` (from :mod:`vegan_lib.costs`), :func:`exact_ot`,
  :func:`sinkhorn`, :func:`wasserstein`, :func:`wasserstein_1d`, :func:`gaussian_w2` (also the
  Fréchet distance of :mod:`vegan_lib.metrics`), :func:`kr_potential`.
- Chapter 2 (encoder form of OT, Theorem 1): :func:`pushforward`, :func:`encoder_ot`,
  :func:`mixture_law`, :func:`random_decoder_ot`, :func:`encoder_from_plan`.
- Chapter 3 (penalized OT): :func:`penalized_ot` (penalties ℓ1/TV, MMD; latent W1 in Chapter 6).
- Chapter 6 (WGAN duality): :func:`kr_dual_lp`, :func:`kr_critic`, and the dual of penalized OT with a
  latent W1 penalty, :func:`penalized_dual_lp`.
- Chapter 7 (the cookbook's latent penalties): differentiable torch OT on the inputs' device,
  :func:`sliced_wasserstein` (SW_p^p) and :func:`sinkhorn_loss` (the Sinkhorn divergence).
- Results: :class:`Result` and its subclasses :class:`OTResult`, :class:`Pushforward`,
  :class:`PlanEncoder`, :class:`KRPotential`, :class:`POTResult`, :class:`LipschitzDual`,
  :class:`KRCritic`, :class:`PenalizedDual`.

**Deprecated for one release** (``DeprecationWarning``): the keywords ``metric=`` (now
``cost=``), ``p_z=`` (now ``b=``) and, in :func:`penalized_ot`, ``p=``/``C=`` (now ``b=``/
``M=``); unpacking a result like a tuple; the name ``Encoder`` (now :class:`PlanEncoder`).
:func:`cost_matrix` is :func:`vegan_lib.costs.cost_matrix` itself: its third argument is
``cost`` (formerly ``metric``; pass it by position or as ``cost=``). The argument order of
:func:`encoder_ot` (now ``x, z, a, b``) and :func:`random_decoder_ot` (now ``x, y_atoms, a,
b``) changed without a shim.
"""
from __future__ import annotations

import warnings

from ..costs import cost_matrix
from ._duality import kr_critic, kr_dual_lp
from ._encoder import encoder_from_plan, encoder_ot, mixture_law, pushforward, random_decoder_ot
from ._exact import exact_ot, gaussian_w2, kr_potential, sinkhorn, wasserstein, wasserstein_1d
from ._penalized import POT_PENALTIES, penalized_dual_lp, penalized_ot
from ._results import (KRCritic, KRPotential, LipschitzDual, OTResult, PenalizedDual, PlanEncoder, POTResult,
                       Pushforward, Result)
from ._torch import sinkhorn_loss, sliced_wasserstein

__all__ = [
    # Chapter 1
    "cost_matrix", "exact_ot", "sinkhorn", "wasserstein", "wasserstein_1d", "gaussian_w2", "kr_potential",
    # Chapter 2
    "pushforward", "encoder_ot", "mixture_law", "random_decoder_ot", "encoder_from_plan",
    # Chapter 3
    "POT_PENALTIES", "penalized_ot",
    # Chapter 6
    "kr_dual_lp", "kr_critic", "penalized_dual_lp",
    # Chapter 7
    "sliced_wasserstein", "sinkhorn_loss",
    # results
    "Result", "OTResult", "Pushforward", "PlanEncoder", "KRPotential", "POTResult", "LipschitzDual", "KRCritic",
    "PenalizedDual",
]

_DEPRECATED = {"Encoder": ("PlanEncoder", PlanEncoder)}


def __getattr__(name: str):
    if name in _DEPRECATED:
        new, obj = _DEPRECATED[name]
        warnings.warn(f"vegan_lib.ot.{name} is deprecated and will be removed in the next release; "
                      f"use vegan_lib.ot.{new}", DeprecationWarning, stacklevel=2)
        return obj
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
