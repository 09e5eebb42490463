"""Tests of vegan_lib.cookbook: the table (with the SWAE and WAE-Sinkhorn rows), lookups,
build_recipe for every row on images and on 2-D vectors, its errors, and the deprecated
vegan_lib.models alias module."""
import importlib

import pytest
import torch

from vegan_lib import cookbook, costs, networks, recipes, train

NAMES = ["WAE-MMD", "WAE-GAN", "SWAE", "WAE-Sinkhorn", "AAE", "VAE", "WGAN-clip", "WGAN-GP"]


def _names(rows):
    return [e.name for e in rows]


# ----------------------------------------------------------------------------- the table

def test_cookbook_rows_and_table():
    assert [e.name for e in cookbook.COOKBOOK] == NAMES
    rows = cookbook.cookbook_table()
    assert [r["recipe"] for r in rows] == NAMES
    assert all(isinstance(v, str) and v for r in rows for v in r.values())
    assert len({tuple(r) for r in rows}) == 1  # same columns in every row
    assert set(rows[0]) == {"recipe", "cost c", "latent divergence D_Z", "encoder", "decoder", "objective", "class",
                            "chapter", "reference"}
    by_name = {r["recipe"]: r for r in rows}
    assert by_name["SWAE"]["class"] == "WAE(penalty='sw')"
    assert by_name["WAE-Sinkhorn"]["class"] == "WAE(penalty='sinkhorn')"
    assert by_name["WGAN-GP"]["class"] == "WGAN(mode='gp')" and by_name["AAE"]["class"] == "AAE()"
    assert "Kolouri" in by_name["SWAE"]["reference"] and by_name["SWAE"]["chapter"] == "7"
    assert "Sinkhorn" in by_name["WAE-Sinkhorn"]["latent divergence D_Z"]


def test_cookbook_entries_are_consistent_with_the_recipes():
    for e in cookbook.COOKBOOK:
        assert issubclass(e.recipe, recipes.Recipe) and e.chapter in (3, 4, 5, 6, 7) and e.objective
        if e.recipe is recipes.WAE:
            assert e.options["penalty"] == e.divergence and e.divergence in recipes.WAE.PENALTIES
            assert e.costs == costs.COSTS
        assert set(e.encoders) <= set(networks.ENCODER_KINDS) | {"none"}
        assert set(e.decoders) <= set(networks.DECODER_KINDS)
    with pytest.raises(AttributeError):  # rows are frozen
        cookbook.COOKBOOK[0].name = "x"


def test_cookbook_lookup():
    assert _names(cookbook.cookbook_lookup("sqeuclidean", "gan")) == ["WAE-GAN", "AAE"]  # Chapter 4's equivalence
    assert _names(cookbook.cookbook_lookup("euclidean", "gan")) == ["WAE-GAN"]  # AAE is the squared cost only
    assert _names(cookbook.cookbook_lookup("l1", "mmd", "gaussian")) == ["WAE-MMD"]
    assert _names(cookbook.cookbook_lookup("sqeuclidean", "sw")) == ["SWAE"]
    assert _names(cookbook.cookbook_lookup("l1", "sinkhorn", "gaussian")) == ["WAE-Sinkhorn"]
    assert _names(cookbook.cookbook_lookup("nll", "kl", "gaussian", "bernoulli")) == ["VAE"]
    assert _names(cookbook.cookbook_lookup("nll", "kl", "gaussian", "gaussian")) == ["VAE"]
    assert _names(cookbook.cookbook_lookup("euclidean", "none", "none")) == ["WGAN-clip", "WGAN-GP"]
    assert all(isinstance(e, cookbook.CookbookEntry) for e in cookbook.cookbook_lookup("sqeuclidean", "mmd"))
    with pytest.raises(ValueError, match="no recipe"):
        cookbook.cookbook_lookup("l1", "gan", "deterministic", "bernoulli")
    with pytest.raises(ValueError, match="no recipe"):
        cookbook.cookbook_lookup("nll", "kl")  # the VAE needs a Gaussian encoder
    with pytest.raises(ValueError, match="divergence"):
        cookbook.cookbook_lookup("l1", "wasserstein")
    with pytest.raises(ValueError, match="cost"):
        cookbook.cookbook_lookup("cosine", "mmd")
    with pytest.raises(ValueError, match="encoder"):
        cookbook.cookbook_lookup("l1", "mmd", "flow")
    with pytest.raises(ValueError, match="decoder"):
        cookbook.cookbook_lookup("l1", "mmd", "deterministic", "poisson")
    with pytest.raises(TypeError, match="cost"):
        cookbook.cookbook_lookup(2, "mmd")
    with pytest.raises(TypeError, match="divergence"):
        cookbook.cookbook_lookup("l1", None)


# ----------------------------------------------------------------------------- build_recipe

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("x_shape", [(2,), (1, 28, 28)])
def test_every_cookbook_recipe_builds_and_steps(name, x_shape):
    torch.manual_seed(0)
    recipe = cookbook.build_recipe(name, x_shape=x_shape, z_dim=4, width=4, adversary_width=8)
    entry = next(e for e in cookbook.COOKBOOK if e.name == name)
    assert isinstance(recipe, entry.recipe) and recipe.name == name
    assert recipe.x_shape == x_shape and recipe.z_dim == 4
    for key, value in entry.options.items():
        assert getattr(recipe, key) == value
    x = torch.rand(8 * recipe.batches_per_step, *x_shape)
    out = train.train_step(recipe, x, recipe.make_optimizers(), batch_size=8)
    assert set(out) == set(recipe.loss(x[:8]))
    assert out and all(torch.isfinite(v) and v.ndim == 0 and not v.requires_grad for v in out.values())
    assert recipe.sample(3).shape == (3, *x_shape)
    if not isinstance(recipe, recipes.WGAN):
        assert recipe.reconstruct(x[:3]).shape == (3, *x_shape)
        assert recipe.encode(x[:3]).shape == (3, 4)
    else:
        with pytest.raises(NotImplementedError, match="no encoder"):
            recipe.encode(x)


def test_build_recipe_networks():
    torch.manual_seed(0)
    image = cookbook.build_recipe("WAE-MMD", z_dim=4, width=4)
    assert isinstance(image.encoder, networks.ConvEncoder) and isinstance(image.decoder, networks.ConvDecoder)
    assert image.x_shape == (1, 28, 28)  # the default: MNIST
    vec = cookbook.build_recipe("WAE-GAN", x_shape=2, z_dim=2, width=6, adversary_width=5)
    assert isinstance(vec.encoder, networks.MLPEncoder) and vec.x_shape == (2,)
    assert [m.out_features for m in vec.encoder.modules() if isinstance(m, torch.nn.Linear)] == [6, 6, 2]
    assert [m.out_features for m in vec.adversary.modules() if isinstance(m, torch.nn.Linear)] == [5, 5, 5, 5, 1]
    vae = cookbook.build_recipe("VAE", z_dim=4, width=4)
    assert vae.encoder.kind == "gaussian" and vae.decoder.kind == "bernoulli"
    toy_vae = cookbook.build_recipe("vae", x_shape=(2,), z_dim=2, width=4, decoder_sigma2=0.5)  # case-insensitive
    assert toy_vae.decoder.kind == "gaussian" and toy_vae.decoder.sigma2 == 0.5
    assert cookbook.build_recipe("VAE", x_shape=(2,), z_dim=2, width=4).decoder.sigma2 == 0.1
    wgan = cookbook.build_recipe("WGAN-GP", z_dim=4, width=4, n_critic=2)
    assert isinstance(wgan.critic, networks.ConvCritic) and wgan.n_critic == 2 and wgan.mode == "gp"
    swae = cookbook.build_recipe("SWAE", x_shape=(2,), z_dim=2, width=4, lam=3.0, penalty_options={"n_projections": 5})
    assert swae.penalty == "sw" and swae.lam == 3.0 and swae.penalty_options == {"n_projections": 5}
    assert cookbook.build_recipe("WAE-Sinkhorn", x_shape=(2,), z_dim=2, width=4).penalty == "sinkhorn"
    assert cookbook.build_recipe("AAE", x_shape=(3, 8, 8), z_dim=2, width=2).x_shape == (3, 8, 8)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"name": 3}, TypeError, "name must be a string"),
    ({"name": None}, TypeError, "name must be a string"),
    ({"name": "beta-VAE"}, ValueError, "name must be one of"),
    ({"name": "WAE-MMD", "x_shape": (1, 28, 27)}, ValueError, "square"),
    ({"name": "WAE-MMD", "x_shape": (1, 30, 30), "width": 4}, ValueError, "divisible by 4"),
    ({"name": "WAE-MMD", "x_shape": (0,)}, ValueError, "x_shape"),
    ({"name": "WAE-MMD", "x_shape": 2.0}, TypeError, "x_shape"),
    ({"name": "WAE-MMD", "width": "4"}, TypeError, "width"),
    ({"name": "WAE-MMD", "width": 0}, ValueError, "width"),
    ({"name": "WAE-MMD", "x_shape": (2,), "z_dim": "8"}, TypeError, "z_dim"),
    ({"name": "WAE-MMD", "x_shape": (2,), "width": 4, "lam": -1.0}, ValueError, "lam"),
    ({"name": "WAE-MMD", "x_shape": (2,), "width": 4, "penalty": "gan", "adversary": object()}, TypeError,
     "adversary"),
    ({"name": "SWAE", "x_shape": (2,), "width": 4, "penalty_options": {"reg": 1.0}}, ValueError, "unknown options"),
    ({"name": "WGAN-clip", "x_shape": (2,), "width": 4, "n_critic": 0}, ValueError, "n_critic"),
    ({"name": "VAE", "x_shape": (2,), "width": 4, "beta": "1"}, TypeError, "beta"),
])
def test_build_recipe_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cookbook.build_recipe(**kwargs)


# ----------------------------------------------------------------------------- the deprecated alias module

def test_models_alias_module_warns_and_forwards():
    models = importlib.import_module("vegan_lib.models")
    with pytest.warns(DeprecationWarning, match="vegan_lib.recipes.WAE"):
        assert models.WAE is recipes.WAE
    with pytest.warns(DeprecationWarning, match="vegan_lib.costs.paired_cost"):
        assert models.transport_cost is costs.paired_cost
    with pytest.warns(DeprecationWarning, match="vegan_lib.networks.ConvEncoder"):
        assert models.ConvEncoder is networks.ConvEncoder
    with pytest.warns(DeprecationWarning, match="vegan_lib.cookbook.build_recipe"):
        assert models.build_recipe is cookbook.build_recipe
    with pytest.warns(DeprecationWarning, match="vegan_lib.cookbook.COOKBOOK"):
        assert models.COOKBOOK is cookbook.COOKBOOK
    with pytest.raises(AttributeError, match="no attribute 'train_step'"):
        models.train_step  # noqa: B018
    assert {"WAE", "transport_cost", "COSTS", "OptimizerSpec", "build_recipe"} <= set(dir(models))
