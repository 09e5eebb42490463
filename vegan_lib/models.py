"""Deprecated: ``vegan_lib.models`` was split into :mod:`vegan_lib.networks`,
:mod:`vegan_lib.recipes`, :mod:`vegan_lib.cookbook` and :mod:`vegan_lib.costs`.

The old names keep working for one release, with a ``DeprecationWarning`` that names the new
home (``vl.models.WAE`` → ``vl.recipes.WAE``, ``vl.models.transport_cost`` →
``vl.costs.paired_cost``...).
"""
from __future__ import annotations

import importlib
import warnings

_MOVED = {
    **{name: ("networks", name) for name in (
        "ENCODER_KINDS", "DECODER_KINDS", "mlp", "latent_adversary", "Encoder", "MLPEncoder", "ConvEncoder",
        "Decoder", "MLPDecoder", "ConvDecoder", "ConvCritic")},
    **{name: ("recipes", name) for name in ("OptimizerSpec", "Phase", "Recipe", "WAE", "VAE", "AAE", "WGAN")},
    **{name: ("cookbook", name) for name in (
        "CookbookEntry", "COOKBOOK", "cookbook_table", "cookbook_lookup", "build_recipe")},
    "COSTS": ("costs", "COSTS"),
    "transport_cost": ("costs", "paired_cost"),
}

__all__: list[str] = []


def __getattr__(name: str):
    if name not in _MOVED:
        raise AttributeError(f"module 'vegan_lib.models' has no attribute {name!r}")
    module, new = _MOVED[name]
    warnings.warn(f"vegan_lib.models.{name} is deprecated; use vegan_lib.{module}.{new}", DeprecationWarning,
                  stacklevel=2)
    return getattr(importlib.import_module(f"vegan_lib.{module}"), new)


def __dir__():
    return sorted(_MOVED)
