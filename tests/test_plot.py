"""Tests of vegan_lib.plot's grids of model samples and reconstructions."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vegan_lib import cookbook, plot  # noqa: E402


@pytest.fixture()
def recipe():
    torch.manual_seed(0)
    return cookbook.build_recipe("WAE-MMD", z_dim=4, width=4)


def test_sample_grid_is_seeded_and_leaves_modes_and_rng_alone(recipe):
    state = torch.get_rng_state()
    fig, (a, b) = plt.subplots(1, 2)
    plot.sample_grid(recipe, n=12, nrow=4, seed=3, ax=a, title="samples")
    plot.sample_grid(recipe, n=12, nrow=4, seed=3, ax=b)
    img_a, img_b = a.get_images()[0].get_array(), b.get_images()[0].get_array()
    assert img_a.shape == (3 * 29 + 1, 4 * 29 + 1) and np.array_equal(img_a, img_b)
    assert a.get_title() == "samples" and recipe.training and torch.equal(state, torch.get_rng_state())
    plt.close(fig)


def test_reconstruction_grid_alternates_images_and_reconstructions(recipe):
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    ax = plot.reconstruction_grid(recipe, x, nrow=5)
    canvas = ax.get_images()[0].get_array()
    assert canvas.shape == (4 * 29 + 1, 5 * 29 + 1)  # 2 pairs of rows of 5 (the last one padded)
    assert np.allclose(canvas[1:29, 1:29], x[0, 0].numpy())
    with torch.no_grad():
        recipe.eval()
        first = recipe.reconstruct(x[:1])[0, 0].numpy()
        recipe.train()
    assert np.allclose(canvas[30:58, 1:29], first, atol=1e-6)
    with pytest.raises(ValueError, match="images"):
        plot.reconstruction_grid(recipe, torch.rand(3, 28, 28))
    plt.close("all")
