"""The VEGAN cookbook: (cost, latent divergence, encoder, decoder) → recipe (Chapter 7).

:data:`COOKBOOK` is the table of recipes as data; :func:`cookbook_table` renders it,
:func:`cookbook_lookup` queries it and :func:`build_recipe` builds any row with the paper's
networks (MLPs for vectors, the DCGAN-style networks for images).

How to add a recipe (SWAE and WAE-Sinkhorn were added this way):

1. If it is a WAE with a new sample-based latent divergence, write the divergence
   ``f(qz, pz, **options) -> 0-d tensor`` in :mod:`vegan_lib.penalties`, register it in
   ``LATENT_PENALTIES``, add its name to ``WAE.PENALTIES`` and ``WAE._NAMES``; otherwise
   subclass :class:`vegan_lib.recipes.Recipe` with ``optimizer_specs()`` and ``phases()``
   (loss functions that return ``{"loss": total, term: unweighted, ...}``, never step).
2. Add a :class:`CookbookEntry` row below (and its divergence's text in ``_DIV_TEXT``).
3. Add unit tests: the objective by hand, one trainer step, the table row
   (``tests/test_recipes.py``, ``tests/test_cookbook.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import _validation as _v
from .costs import COSTS
from .networks import (DECODER_KINDS, ENCODER_KINDS, ConvCritic, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder,
                       latent_adversary, mlp)
from .recipes import AAE, VAE, WAE, WGAN, Recipe

__all__ = ["CookbookEntry", "COOKBOOK", "cookbook_table", "cookbook_lookup", "build_recipe"]


@dataclass(frozen=True)
class CookbookEntry:
    """One recipe of the VEGAN cookbook (Chapter 7, the recipes table).

    ``costs``, ``divergence``, ``encoders``, ``decoders`` are the machine-readable
    keys used by :func:`cookbook_lookup`; ``objective`` is the equation in text.
    """

    name: str
    costs: tuple
    divergence: str
    encoders: tuple
    decoders: tuple
    recipe: type
    options: dict = field(default_factory=dict)
    objective: str = ""
    chapter: int = 0
    reference: str = ""


_WAE_COSTS = COSTS

#: The cookbook: (cost, latent divergence, encoder, decoder) → recipe (Chapter 7).
COOKBOOK: tuple[CookbookEntry, ...] = (
    CookbookEntry("WAE-MMD", _WAE_COSTS, "mmd", ("deterministic", "gaussian"), ("deterministic",), WAE,
                  {"penalty": "mmd"}, "E c(X, G(Z̃)) + λ·MMD²_k(Q_Z, P_Z), k = IMQ", 3,
                  "Tolstikhin et al. 2018, Alg. 2; Bousquet et al. 2017 (POT)"),
    CookbookEntry("WAE-GAN", _WAE_COSTS, "gan", ("deterministic", "gaussian"), ("deterministic",), WAE,
                  {"penalty": "gan"}, "E c(X, G(Z̃)) + λ·JS(Q_Z, P_Z) (latent adversary)", 3,
                  "Tolstikhin et al. 2018, Alg. 1; Bousquet et al. 2017 (POT)"),
    CookbookEntry("SWAE", _WAE_COSTS, "sw", ("deterministic", "gaussian"), ("deterministic",), WAE,
                  {"penalty": "sw"}, "E c(X, G(Z̃)) + λ·SW₂²(Q_Z, P_Z) (random 1-D projections)", 7,
                  "Kolouri et al. 2019"),
    CookbookEntry("WAE-Sinkhorn", _WAE_COSTS, "sinkhorn", ("deterministic", "gaussian"), ("deterministic",), WAE,
                  {"penalty": "sinkhorn"}, "E c(X, G(Z̃)) + λ·S_ε(Q_Z, P_Z) (Sinkhorn divergence)", 7,
                  "Patrini et al. 2019; Genevay et al. 2018"),
    CookbookEntry("AAE", ("sqeuclidean",), "gan", ("deterministic", "gaussian"), ("deterministic",), AAE,
                  {}, "E ‖X − G(Z̃)‖² and, alternately, JS(Q_Z, P_Z) (latent GAN); = POT with W2²", 4,
                  "Makhzani et al. 2016; Bousquet et al. 2017"),
    CookbookEntry("VAE", ("nll",), "kl", ("gaussian",), ("gaussian", "bernoulli"), VAE,
                  {}, "E[−log p_G(X|Z̃)] + E_X KL(Q(Z|X) ‖ P_Z) (negative ELBO)", 5,
                  "Kingma & Welling 2014"),
    CookbookEntry("WGAN-clip", ("euclidean",), "none", ("none",), ("deterministic",), WGAN,
                  {"mode": "clip"}, "sup_{‖f‖_L ≤ 1} E f(X) − E f(G(Z)) = W1, weights clipped", 6,
                  "Arjovsky et al. 2017"),
    CookbookEntry("WGAN-GP", ("euclidean",), "none", ("none",), ("deterministic",), WGAN,
                  {"mode": "gp"}, "sup_f E f(X) − E f(G(Z)) − λ_gp·E(‖∇f(X̂)‖ − 1)²", 6,
                  "Gulrajani et al. 2017"),
)

_COST_TEXT = {"sqeuclidean": "‖x−y‖²", "euclidean": "‖x−y‖", "l1": "‖x−y‖₁", "nll": "−log p_G(x|z)"}
_DIV_TEXT = {"mmd": "MMD (IMQ kernel)", "gan": "JS (latent GAN)", "sw": "sliced W₂² (SWAE)",
             "sinkhorn": "Sinkhorn divergence", "kl": "KL per sample", "none": "none (critic on X)"}


def cookbook_table() -> list[dict[str, str]]:
    """The cookbook as rows of strings, ready for a markdown table (Chapter 7)."""
    return [{"recipe": e.name,
             "cost c": ", ".join(_COST_TEXT[c] for c in e.costs),
             "latent divergence D_Z": _DIV_TEXT[e.divergence],
             "encoder": " or ".join(e.encoders),
             "decoder": " or ".join(e.decoders),
             "objective": e.objective,
             "class": f"{e.recipe.__name__}({', '.join(f'{k}={v!r}' for k, v in e.options.items())})",
             "chapter": str(e.chapter),
             "reference": e.reference} for e in COOKBOOK]


def cookbook_lookup(cost: str, divergence: str, encoder: str = "deterministic",
                    decoder: str = "deterministic") -> list[CookbookEntry]:
    """Recipes for a (cost, latent divergence, encoder, decoder) choice (Chapter 7).

    Several rows can match: (‖x−y‖², GAN) gives both WAE-GAN and AAE, which is
    the equivalence of Chapter 4. Raises ``ValueError`` for unknown names or
    when no recipe matches.
    """
    _v.choice(cost, "cost", COSTS + ("nll",))
    _v.choice(divergence, "divergence", tuple(_DIV_TEXT))
    _v.choice(encoder, "encoder", ENCODER_KINDS + ("none",))
    _v.choice(decoder, "decoder", DECODER_KINDS)
    rows = [e for e in COOKBOOK if cost in e.costs and divergence == e.divergence
            and encoder in e.encoders and decoder in e.decoders]
    if not rows:
        raise ValueError(f"no recipe in the cookbook for cost={cost!r}, divergence={divergence!r}, "
                         f"encoder={encoder!r}, decoder={decoder!r}")
    return rows


def build_recipe(name: str, x_shape=(1, 28, 28), z_dim: int = 8, width: int | None = None,
                 adversary_width: int = 512, **kwargs) -> Recipe:
    """Build a cookbook recipe by name with the paper's networks (Chapter 7).

    ``name``: one of the :data:`COOKBOOK` names (case-insensitive). Images
    (``x_shape`` of length 3) get the DCGAN-style networks with
    ``base_channels=width`` (default 128, the paper's); vectors (toys) get MLPs
    with two hidden layers of ``width`` (default 128). Encoders are
    deterministic for WAE/AAE and Gaussian for the VAE; the VAE decoder is
    Bernoulli for images and Gaussian (``decoder_sigma2``, default 0.1) for
    vectors. Other keyword arguments go to the recipe's constructor.
    """
    names = {e.name.lower(): e for e in COOKBOOK}
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {[e.name for e in COOKBOOK]}, got {type(name).__name__}")
    if name.lower() not in names:
        raise ValueError(f"name must be one of {[e.name for e in COOKBOOK]}, got {name!r}")
    entry = names[name.lower()]
    x_shape = _v.shape(x_shape)
    image = len(x_shape) == 3
    width = 128 if width is None else _v.integer(width, "width")
    sigma2 = kwargs.pop("decoder_sigma2", 0.1)
    enc_kind = "gaussian" if entry.recipe is VAE else "deterministic"
    dec_kind = "deterministic" if entry.recipe is not VAE else ("bernoulli" if image else "gaussian")
    if image:
        c, h, w = x_shape
        if h != w:
            raise ValueError(f"image x_shape must be square, got {x_shape}")
        dec = ConvDecoder(z_dim, dec_kind, width, c, h, "sigmoid", sigma2 if dec_kind == "gaussian" else 1.0)
        enc = ConvEncoder(z_dim, enc_kind, width, c, h) if entry.recipe is not WGAN else None
        critic = ConvCritic(width, c, h) if entry.recipe is WGAN else None
    else:
        dec = MLPDecoder(z_dim, x_shape, (width, width), dec_kind,
                         sigma2=sigma2 if dec_kind == "gaussian" else 1.0)
        enc = MLPEncoder(x_shape, z_dim, (width, width), enc_kind) if entry.recipe is not WGAN else None
        critic = mlp(math.prod(x_shape), 1, (width, width, width), flatten=len(x_shape) > 1)
    options = {**entry.options, **kwargs}
    if entry.recipe is WGAN:
        return WGAN(dec, critic, **options)
    if entry.recipe is VAE:
        return VAE(enc, dec, **options)
    if entry.recipe is AAE or options.get("penalty") == "gan":
        options.setdefault("adversary", latent_adversary(z_dim, adversary_width))
    return entry.recipe(enc, dec, **options)
