"""The experiment protocol: every recipe's settings on MNIST, as data, with named profiles (Chapters 3-7).

One configuration per recipe for the whole book, so that no two chapters contradict each other.
A profile fixes the scale:

- ``"quick"``: the test suite on a 2-core CPU (seconds per model; claims that need training are
  not asserted at this scale);
- ``"cpu"``: the rendered book on a 2-core CPU (MLP networks, about a minute per model);
- ``"gpu"``: closer to the WAE paper's MNIST setting (the DCGAN-style conv networks, full MNIST),
  sized for one modern GPU.

:func:`settings` returns a recipe's :class:`Settings`, :func:`build` the untrained recipe (seeded, so
that runs with the same seed start from the same weights), :func:`train_options` the trainer's
arguments, and :func:`differences` the table of where the book departs from the WAE paper and its
code, with the reason. The calibration behind the ``cpu`` profile (FD on 1,000 held-out digits,
2-core CPU, 3,000 steps): VAE 117, WAE-MMD 64, WAE-GAN 41 (BOOK.md §6).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from . import _validation as _v
from .networks import ConvCritic, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, latent_adversary, mlp
from .recipes import AAE, VAE, WAE, WGAN, Recipe

__all__ = ["PROFILES", "RECIPES", "REFERENCE_RUNS", "FIRST_SEED_RUNS", "COST_SCALES", "COST_SCALE", "LAMBDA_ZERO", "reference_jobs", "Settings", "settings", "build", "train_options", "table", "differences",
           "TOY", "toy_build", "toy_train_options"]

#: The WAE code's cost 0.05·‖x − y‖²: its λ is relative to this scale (Chapter 3).
COST_SCALE = 0.05
#: The profiles, smallest first.
PROFILES = ("quick", "cpu", "gpu")
#: The recipes the protocol configures (the cookbook's rows trained on MNIST).
RECIPES = ("VAE", "AAE", "WAE-MMD", "WAE-GAN", "SWAE", "WAE-Sinkhorn", "WGAN-GP")
#: The λ = 0 baseline: WAE-MMD's auto-encoder trained without its latent penalty (same seed, same
#: initialization, same data order), as (recipe, overrides) for :func:`build` and the reference runs.
LAMBDA_ZERO = ("WAE-MMD", {"lam": 0.0})
#: The runs the chapters share, as (recipe, overrides): the cookbook's five trained recipes and the
#: λ = 0 baseline (``python -m vegan_lib.reference`` trains them all ahead of the book build).
REFERENCE_RUNS = (("VAE", {}), ("AAE", {}), ("WAE-MMD", {}), ("WAE-GAN", {}), ("WGAN-GP", {}), LAMBDA_ZERO)
#: Runs the chapters need for their first seed only (Chapter 5: 2-d codes to draw, and d_z = 64).
#: The WAE code's scale of each cost (Chapter 4's costs table): γ·c with γ chosen so that the three costs
#: weigh about the same against the latent penalty on MNIST.
COST_SCALES = {"sqeuclidean": COST_SCALE, "euclidean": 0.2, "l1": 0.02}
#: Runs the chapters need for their first seed only (Chapter 5: 2-d codes to draw, and d_z = 64;
#: Chapter 4: WAE-GAN with the other two costs).
FIRST_SEED_RUNS = (("VAE", {"z_dim": 2}), ("WAE-MMD", {"z_dim": 2}), ("WAE-MMD", {"z_dim": 64}),
                   ("WAE-GAN", {"cost": "euclidean", "cost_scale": COST_SCALES["euclidean"]}),
                   ("WAE-GAN", {"cost": "l1", "cost_scale": COST_SCALES["l1"]}))


@dataclass(frozen=True)
class Settings:
    """One recipe's settings under one profile (Chapters 3-7: the experiment protocol).

    ``networks``: ``"mlp"`` (two hidden layers of ``width`` units, encoder and decoder; WGAN critic
    three) or ``"conv"`` (the WAE paper's DCGAN-style networks with ``width`` base channels);
    ``z_dim``: latent dimension; ``options``: the recipe's constructor arguments (cost scale, λ,
    learning rates...); ``adversary``: (width, depth) of the latent discriminator (WAE-GAN, AAE);
    ``steps``, ``batch_size``: the training length (generator steps for the WGAN); ``data``: the
    MNIST source; ``n_seeds``: runs per recipe in the reference tables.
    """

    recipe: str
    profile: str
    networks: str
    width: int
    z_dim: int
    steps: int
    batch_size: int
    data: str
    n_seeds: int
    options: dict = field(default_factory=dict)
    adversary: tuple = (256, 4)

    def as_dict(self) -> dict:
        """Plain data (for caches' keys and tables)."""
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- the protocol as data

_SCALE = {  # profile → networks, width, steps (auto-encoders), WGAN generator steps, batch, data, seeds
    "quick": dict(networks="mlp", width=256, steps=600, wgan_steps=200, batch_size=100, data="embedded", n_seeds=1),
    "cpu": dict(networks="mlp", width=512, steps=3000, wgan_steps=500, batch_size=100, data="embedded", n_seeds=3),
    "gpu": dict(networks="conv", width=64, steps=12000, wgan_steps=2000, batch_size=100, data="full", n_seeds=3),
}

_AE = {"cost": "sqeuclidean", "cost_scale": COST_SCALE, "lr": 1e-3, "betas": (0.5, 0.999)}

_OPTIONS = {
    "VAE": {"lr": 1e-3, "betas": (0.5, 0.999)},
    "AAE": {**_AE, "adv_lr": 5e-4, "gen_lr": 5e-4},  # the recipe's defaults: at 1e-4 its samples were worse than the VAE's
    "WAE-MMD": {**_AE, "penalty": "mmd", "lam": 10.0},
    "WAE-GAN": {**_AE, "penalty": "gan", "lam": 1.0, "adv_lr": 1e-4},
    "SWAE": {**_AE, "penalty": "sw", "lam": 10.0},
    "WAE-Sinkhorn": {**_AE, "penalty": "sinkhorn", "lam": 10.0},
    "WGAN-GP": {"mode": "gp", "n_critic": 5, "gp_weight": 10.0, "lr": 5e-4, "betas": (0.5, 0.9)},
}


def settings(recipe: str, profile: str = "cpu") -> Settings:
    """The protocol's settings of ``recipe`` under ``profile`` (Chapters 3-7)."""
    _v.choice(recipe, "recipe", RECIPES)
    scale = dict(_SCALE[_v.choice(profile, "profile", PROFILES)])
    wgan_steps = scale.pop("wgan_steps")
    if recipe == "WGAN-GP":
        scale["steps"] = wgan_steps
    return Settings(recipe=recipe, profile=profile, z_dim=8, options=dict(_OPTIONS[recipe]), **scale)


def build(recipe: str, profile: str = "cpu", seed: int = 0, **overrides) -> Recipe:
    """The untrained recipe of the protocol, its weights drawn from ``torch.manual_seed(seed)``
    (Chapters 3-7). ``overrides`` replace constructor options (e.g. ``lam=0.0`` for the λ = 0
    baseline of Chapter 3), and ``z_dim`` the latent dimension (Chapter 5's d_z = 64)."""
    s = settings(recipe, profile)
    seed = _v.seed(seed)
    d = _v.integer(overrides.pop("z_dim", s.z_dim), "z_dim")
    options = {**s.options, **overrides}
    x_shape, w = (1, 28, 28), s.width
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if s.networks == "mlp":
            dec_kind = "bernoulli" if recipe == "VAE" else "deterministic"
            dec = MLPDecoder(d, x_shape, (w, w), dec_kind, output="sigmoid")
            if recipe == "WGAN-GP":
                return WGAN(dec, mlp(28 * 28, 1, (w, w, w), flatten=True), **options)
            enc = MLPEncoder(x_shape, d, (w, w), "gaussian" if recipe == "VAE" else "deterministic")
        else:
            dec = ConvDecoder(d, "bernoulli" if recipe == "VAE" else "deterministic", w)
            if recipe == "WGAN-GP":
                return WGAN(dec, ConvCritic(w), **options)
            enc = ConvEncoder(d, "gaussian" if recipe == "VAE" else "deterministic", w)
        if recipe == "VAE":
            return VAE(enc, dec, **options)
        adversary = latent_adversary(d, *s.adversary)
        if recipe == "AAE":
            return AAE(enc, dec, adversary, **options)
        if options.get("penalty") != "gan":
            return WAE(enc, dec, **options)
        return WAE(enc, dec, adversary=adversary, **options)


def reference_jobs(profile: str = "cpu", seeds=None) -> list[tuple[str, int, dict]]:
    """Every (recipe, seed, overrides) the chapters share under ``profile`` (Chapters 3-7):
    :data:`REFERENCE_RUNS` at every seed (default: the profile's ``n_seeds`` seeds from 0) and
    :data:`FIRST_SEED_RUNS` at the first."""
    seeds = list(range(settings("VAE", profile).n_seeds)) if seeds is None else [_v.seed(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    return [(r, s, dict(o)) for s in seeds for r, o in REFERENCE_RUNS] + [(r, seeds[0], dict(o)) for r, o in FIRST_SEED_RUNS]


def train_options(recipe: str, profile: str = "cpu") -> dict:
    """The :class:`vegan_lib.train.Trainer` arguments of the protocol: ``batch_size`` and ``steps``."""
    s = settings(recipe, profile)
    return {"batch_size": s.batch_size, "steps": s.steps}


def table(profile: str = "cpu", recipes=RECIPES) -> list[dict]:
    """The protocol under ``profile`` as rows, one per recipe, for the book's tables (Chapters 3-7)."""
    rows = []
    for name in recipes:
        s = settings(name, profile)
        o = s.options
        if name == "WGAN-GP":
            penalty = f"gradient penalty {o['gp_weight']:g}, {o['n_critic']} critic steps"
            nets = f"{s.networks} {s.width}: generator 2 hidden, critic 3 hidden" if s.networks == "mlp" else \
                f"conv, {s.width} channels"
        else:
            penalty = {"VAE": "KL (per image)", "AAE": "latent GAN (3 phases)"}.get(name)
            penalty = penalty or f"{o['penalty']}, λ = {o['lam']:g}"
            nets = f"{s.networks} {s.width}: 2 hidden layers" if s.networks == "mlp" else f"conv, {s.width} channels"
        cost = "−log Bernoulli" if name == "VAE" else ("‖x − y‖" if name == "WGAN-GP" else
                                                        f"{o['cost_scale']:g}·‖x − y‖²")
        lrs = ", ".join(f"{k} {v:g}" for k, v in o.items() if k.endswith("lr"))
        adv = f"{s.adversary[1]} × {s.adversary[0]}" if name in ("AAE", "WAE-GAN") else "—"
        rows.append({"recipe": name, "networks": nets, "d_z": s.z_dim, "cost": cost, "latent penalty": penalty,
                     "adversary": adv, "Adam lr": lrs, "betas": str(tuple(o["betas"])),
                     "steps": f"{s.steps} (generator)" if name == "WGAN-GP" else s.steps, "batch": s.batch_size,
                     "data": s.data, "seeds": s.n_seeds})
    return rows


def differences() -> list[dict[str, str]]:
    """Where the protocol departs from the WAE paper and its code, and why (Chapters 3, 7)."""
    return [
        {"setting": "networks", "WAE paper / code": "DCGAN-style conv, 128 base channels",
         "book (cpu profile)": "MLP 2 × 512 (gpu profile: conv, 64 channels)",
         "why": "the conv nets at full width take hours on 2 CPU cores; the MLPs reach the paper's picture in minutes"},
        {"setting": "training length", "WAE paper / code": "100 epochs of 60,000 images",
         "book (cpu profile)": "3,000 steps of 100 on the embedded 4,000 images",
         "why": "the book's budget (BOOK.md §6): about a minute per model on 2 CPU cores"},
        {"setting": "cost", "WAE paper / code": "0.05·‖x − y‖² (code)", "book (cpu profile)": "0.05·‖x − y‖²",
         "why": "the same: λ values are comparable with the code's"},
        {"setting": "WAE-MMD kernel", "WAE paper / code": "IMQ, sum over 7 scales C·{0.1..10} (code)",
         "book (cpu profile)": "IMQ, one scale C = 2·d_z",
         "why": "the paper's description; the code's multi-scale sum weighs the penalty 5-7× more"},
        {"setting": "WAE-GAN λ and adversary", "WAE paper / code": "λ = 1 (code), 4 × 1024, lr 5e-4",
         "book (cpu profile)": "λ = 1, 4 × 256, lr 1e-4",
         "why": "a smaller, slower adversary keeps the latent game stable with MLPs"},
        {"setting": "WGAN-GP budget", "WAE paper / code": "— (the WGAN-GP paper: 200,000 generator steps)",
         "book (cpu profile)": "500 generator steps, 5 critic steps each",
         "why": "equal wall-clock time: about what the slowest auto-encoder (the AAE, 3 phases) takes for 3,000 steps"},
        {"setting": "encoder pre-training, input noise, N(0, 0.01²) init", "WAE paper / code": "used (code)",
         "book (cpu profile)": "not used", "why": "the recipes as the paper describes them; fewer moving parts"},
    ]


# ----------------------------------------------------------------------------- the 2-D toys

#: The 2-D toy experiments' settings (Chapters 3, 6): MLP encoder and decoder (WGAN: generator and
#: critic) with two hidden layers of ``width``, codes in R^``z_dim``, the raw cost (toy points are not
#: images: ``cost_scale`` 1), and per recipe its options. ``steps`` / ``quick_steps``: generator
#: steps in the full and quick modes.
TOY = {
    "width": 128, "z_dim": 2, "batch_size": 100, "steps": 1500, "quick_steps": 400, "adversary": (128, 4),
    "options": {
        "WAE-MMD": {"penalty": "mmd", "lam": 10.0, "multiscale": True, "lr": 1e-3, "betas": (0.5, 0.999)},
        "WAE-GAN": {"penalty": "gan", "lam": 1.0, "adv_lr": 1e-3, "lr": 1e-3, "betas": (0.5, 0.999)},
        "WGAN-GP": {"mode": "gp", "n_critic": 5, "gp_weight": 10.0, "lr": 1e-3, "betas": (0.5, 0.9)},
    },
}


def toy_build(recipe: str, seed: int = 0, *, x_dim: int = 2, **overrides) -> Recipe:
    """The protocol's recipe for 2-D toy data (Chapters 3, 6), weights drawn from
    ``torch.manual_seed(seed)`` without touching the global RNG. ``overrides`` replace options (e.g.
    ``cost="euclidean"`` for Chapter 6's W1 objective)."""
    _v.choice(recipe, "recipe", tuple(TOY["options"]))
    seed = _v.seed(seed)
    x_dim = _v.integer(x_dim, "x_dim")
    w, d = TOY["width"], _v.integer(overrides.pop("z_dim", TOY["z_dim"]), "z_dim")
    options = {**TOY["options"][recipe], **overrides}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        dec = MLPDecoder(d, x_dim, (w, w))
        if recipe == "WGAN-GP":
            return WGAN(dec, mlp(x_dim, 1, (w, w, w)), **options)
        enc = MLPEncoder(x_dim, d, (w, w))
        if options.get("penalty") == "gan":
            width, depth = TOY["adversary"]
            return WAE(enc, dec, adversary=latent_adversary(d, width, depth), **options)
        return WAE(enc, dec, **options)


def toy_train_options(quick: bool = False) -> dict:
    """The trainer's ``batch_size`` and ``steps`` on the 2-D toys (Chapters 3, 6)."""
    return {"batch_size": TOY["batch_size"], "steps": TOY["quick_steps"] if quick else TOY["steps"]}
