"""Metrics of trained models (Chapters 3, 5, 7).

- :func:`reconstruction_error`: mean per-image cost c(x, G(Q(x))) (Chapter 3).
- :func:`sharpness`: per-image variance of the 3x3 Laplacian response (Chapter 5, the WAE code's blurriness).
- :func:`mmd_to_prior`: MMD² between encoded codes and prior samples (Chapter 3).
- :func:`w2`: exact W2 between two sample sets via POT (Chapters 3, 5).
- :func:`frechet_distance`: Fréchet distance in the feature space of the small MNIST
  classifier of :mod:`vegan_lib.classifier` (Chapters 5, 7); :func:`frechet_gaussian` is
  W2² between the two Gaussian fits, :func:`vegan_lib.ot.gaussian_w2` squared.
- :func:`evaluate` and :func:`evaluate_samples`: the book's one evaluation protocol, every metric
  above on the same held-out images and fixed prior draws (Chapters 3-7).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import _validation as _v
from . import ot as vot
from . import penalties
from . import classifier as _classifier
from .costs import check_cost, paired_cost
from .recipes import WGAN, Recipe
from .runtime import eval_mode, module_device

__all__ = [
    "reconstruction_error",
    "sharpness",
    "LAPLACIAN",
    "mmd_to_prior",
    "w2",
    "frechet_gaussian",
    "frechet_distance",
    "evaluate_samples",
    "evaluate",
    "EVALUATION",
]

#: The evaluation protocol of Chapters 3-7: held-out images and samples per model (``n``), samples per
#: side of the exact W2 (``n_w2``), and the offset of the prior draws' seed (samples of the run with
#: seed s use ``torch.Generator().manual_seed(sample_seed + s)``).
EVALUATION = {"n": 1000, "n_w2": 1000, "sample_seed": 10_000}

#: The 3x3 Laplace filter of the WAE code's blurriness measure.
LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def reconstruction_error(recipe: Recipe, x: torch.Tensor, cost: str = "sqeuclidean",
                         batch_size: int = 500) -> float:
    """Mean over x of c(x_i, G(mean of Q(Z|x_i))), the test reconstruction cost (Chapter 3, eq. (POT)).

    ``cost`` is one of ``"sqeuclidean"`` (default: Σ_pixels (x − y)², no
    ``cost_scale``), ``"euclidean"``, ``"l1"``. Computed in eval mode (batch
    norm running statistics), without gradients, in batches of ``batch_size``.
    """
    _v.module(recipe, "recipe", Recipe, "vegan_lib.recipes.Recipe")
    cost = check_cost(cost)
    _v.batch(x, recipe.x_shape)
    if x.shape[0] == 0:
        raise ValueError("x is empty")
    batch_size = _v.integer(batch_size, "batch_size")
    device = module_device(recipe)
    total = torch.zeros((), dtype=torch.float64, device=device)
    with eval_mode(recipe):
        for chunk in x.split(batch_size):
            chunk = chunk.to(device)
            total += paired_cost(chunk, recipe.reconstruct(chunk), cost).double().sum()
    return float(total) / x.shape[0]  # one host transfer


def sharpness(images: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Sharpness: per-image variance of the Laplacian response (Chapter 5, eq. (sharpness); WAE code).

    Images (n, C, H, W) with C = 1 or 3 (RGB is converted to greyscale with the
    ITU-R 601 weights 0.299, 0.587, 0.114, as ``tf.image.rgb_to_grayscale``)
    are convolved with [[0,1,0],[1,−4,1],[0,1,0]] with VALID padding; the
    response's population variance per image is returned as a float64 tensor of
    shape (n,) (``reduction="none"``), or its ``"mean"`` or ``"min"`` (the WAE
    logs print the min). Higher is sharper.
    """
    images = _v.images(images, "images")
    _v.choice(reduction, "reduction", ("none", "mean", "min"))
    if images.shape[2] < 3 or images.shape[3] < 3:
        raise ValueError(f"images must be at least 3x3, got {tuple(images.shape)}")
    x = images.detach().to(torch.float64)
    if x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64, device=x.device)
        x = (x * w.view(1, 3, 1, 1)).sum(1, keepdim=True)
    kernel = torch.tensor(LAPLACIAN, dtype=torch.float64, device=x.device).view(1, 1, 3, 3)
    response = F.conv2d(x, kernel)
    var = response.flatten(1).var(dim=1, unbiased=False)
    if reduction == "mean":
        return var.mean()
    if reduction == "min":
        return var.min()
    return var


def mmd_to_prior(codes: torch.Tensor, sigma_z: float = 1.0, n_prior: int | None = None, kernel: str = "imq",
                 multiscale: bool = False, seed: int = 0, chunk: int = 2048) -> float:
    """MMD²(Q_Z, P_Z) between encoded codes and fresh prior samples (Chapter 3, eq. (MMD)).

    ``codes`` (n, d_z) are e.g. ``recipe.encode(x_test)``; ``n_prior`` prior
    samples (default n) of N(0, σ_z² I) are drawn with a generator seeded by
    ``seed`` (on the CPU, so the draws are the same on every device; the global RNG is
    untouched). Unbiased estimate, the one of :func:`vegan_lib.penalties.mmd` (IMQ with
    C = 2·d_z·σ_z²), in float64 on the codes' device, kernel blocks of at most
    ``chunk`` × ``chunk`` (memory O(chunk²), not O(n²)); one host transfer at the end.
    """
    codes = _v.codes(codes, "codes", min_rows=2).detach()
    device = codes.device if codes.device.type in ("cpu", "cuda") else torch.device("cpu")  # float64 there
    codes = codes.to(device, torch.float64)
    n_prior = codes.shape[0] if n_prior is None else _v.integer(n_prior, "n_prior", minimum=2)
    seed = _v.seed(seed)
    chunk = _v.integer(chunk, "chunk")
    _v.choice(kernel, "kernel", penalties.KERNELS)
    _v.boolean(multiscale, "multiscale")
    gen = torch.Generator().manual_seed(seed)
    prior = (torch.randn(n_prior, codes.shape[1], generator=gen, dtype=torch.float64) * sigma_z).to(device)
    scale = penalties.imq_scale(codes.shape[1], sigma_z)
    scales = [scale * s for s in penalties.MULTISCALE] if multiscale else [float(scale)]

    def block_sum(x, y):
        total = torch.zeros((), dtype=torch.float64, device=device)
        for xi in x.split(chunk):
            for yj in y.split(chunk):
                total += penalties.kernel_matrix(penalties.squared_distances(xi, yj), kernel, scales).sum()
        return total

    n, m = codes.shape[0], prior.shape[0]
    diag = penalties.kernel_matrix(torch.zeros(1, 1, dtype=torch.float64, device=device), kernel, scales).sum()
    within_q = (block_sum(codes, codes) - n * diag) / (n * (n - 1))
    within_p = (block_sum(prior, prior) - m * diag) / (m * (m - 1))
    return float(within_q + within_p - 2.0 * block_sum(codes, prior) / (n * m))  # one host transfer


def w2(x, y) -> float:
    """Exact W2 between two equal-weight sample sets, samples flattened (Chapters 3, 5).

    Uses :func:`vegan_lib.ot.wasserstein` (POT's exact solver, float64) on
    ``x.reshape(n, -1)`` and ``y.reshape(m, -1)``; the sizes may differ.
    """
    flat = []
    for name, t in (("x", x), ("y", y)):
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().to(torch.float64).numpy()
        t = np.asarray(t)
        if t.ndim < 1 or t.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one sample, got shape {t.shape}")
        flat.append(t.reshape(t.shape[0], -1) if t.ndim > 1 else t)
    if flat[0].ndim == 2 and flat[1].ndim == 2 and flat[0].shape[1] != flat[1].shape[1]:
        raise ValueError(f"x and y must have the same sample dimension, got {flat[0].shape} and {flat[1].shape}")
    return vot.wasserstein(flat[0], flat[1], p=2)


def frechet_gaussian(mu1, cov1, mu2, cov2) -> float:
    """Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2) (Chapter 5, eq. (FD)).

    ‖μ1 − μ2‖² + tr(Σ1) + tr(Σ2) − 2·tr((Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}), in float64: the squared
    2-Wasserstein distance between the Gaussians, computed by the library's one implementation,
    :func:`vegan_lib.ot.gaussian_w2` (``squared=True``), which stays accurate when the
    covariances are singular (e.g. dead ReLU features).
    """
    return vot.gaussian_w2(mu1, cov1, mu2, cov2, squared=True)


def frechet_distance(x: torch.Tensor, y: torch.Tensor, classifier: _classifier.MNISTClassifier | None = None,
                     batch_size: int = 500) -> float:
    """Fréchet distance between two MNIST image sets in classifier-feature space (Chapter 5, eq. (FD)).

    The analogue of FID with the library's small MNIST classifier
    (:func:`mnist_classifier`, loaded from the cache or trained, if
    ``classifier`` is None) in place of Inception: Gaussians are fitted to the
    128-d penultimate features of x and of y and compared by
    :func:`frechet_gaussian`. Images are (n, 1, 28, 28) in [0, 1]; at least 2 each.
    """
    x, y = _v.images(x, "x"), _v.images(y, "y")
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(f"x and y need at least 2 images each, got {x.shape[0]} and {y.shape[0]}")
    if classifier is None:
        classifier, _ = _classifier.mnist_classifier()
    fx, fy = (_classifier.classifier_features(t, classifier, batch_size).numpy() for t in (x, y))
    return frechet_gaussian(fx.mean(0), np.cov(fx, rowvar=False), fy.mean(0), np.cov(fy, rowvar=False))


def evaluate_samples(samples: torch.Tensor, held_out: torch.Tensor,
                     classifier: _classifier.MNISTClassifier | None = None, n_w2: int | None = None) -> dict:
    """FD, exact W2 and sharpness of a set of images against held-out images (Chapters 3-7).

    The sample-side half of :func:`evaluate`, for what is not a recipe (real images: the data row of
    every metrics table). ``n_w2``: images per side of the exact W2 (default: all; an OT problem of
    that size). Returns ``{"FD", "W2", "sharpness"}`` as floats.
    """
    samples, held_out = _v.images(samples, "samples").detach().cpu(), _v.images(held_out, "held_out").detach().cpu()
    n_w2 = min(samples.shape[0], held_out.shape[0]) if n_w2 is None else _v.integer(n_w2, "n_w2", minimum=2)
    return {"FD": frechet_distance(samples, held_out, classifier),
            "W2": w2(samples[:n_w2], held_out[:n_w2]),
            "sharpness": float(sharpness(samples, "mean"))}


def evaluate(recipe: Recipe, held_out: torch.Tensor, classifier: _classifier.MNISTClassifier | None = None, *,
             seed: int = 0, n_w2: int | None = None) -> dict:
    """Every metric of one model on held-out images: the book's evaluation protocol (Chapters 3-7).

    ``len(held_out)`` samples are drawn from fixed prior draws (``torch.Generator`` seeded with
    ``EVALUATION["sample_seed"] + seed``, so the run with seed s is always judged on the same draws) and
    compared with ``held_out`` by :func:`evaluate_samples` (FD, W2 on ``n_w2`` per side, sharpness).
    Recipes with an encoder add ``"recon"`` (:func:`reconstruction_error` of ``held_out``, raw squared
    cost) and ``"MMD"`` (:func:`mmd_to_prior` of the held-out codes); others (the WGAN) get NaN there.
    Runs in eval mode without gradients; the global RNG is untouched.
    """
    _v.module(recipe, "recipe", Recipe, "vegan_lib.recipes.Recipe")
    held_out = _v.images(held_out, "held_out").detach()
    seed = _v.seed(seed)
    gen = torch.Generator().manual_seed(EVALUATION["sample_seed"] + seed)
    device = module_device(recipe)
    with eval_mode(recipe):
        samples = recipe.sample(held_out.shape[0], generator=gen).cpu()
        out = evaluate_samples(samples, held_out, classifier, n_w2)
        if not isinstance(recipe, WGAN):
            out["recon"] = reconstruction_error(recipe, held_out)
            codes = torch.cat([recipe.encode(c.to(device)) for c in held_out.split(500)])
            out["MMD"] = mmd_to_prior(codes, recipe.sigma_z, seed=seed)
        else:
            out["recon"] = out["MMD"] = float("nan")
    return out


def __getattr__(name: str):
    if name in _classifier.__all__:
        import warnings

        warnings.warn(f"vegan_lib.metrics.{name} is deprecated; use vegan_lib.classifier.{name}", DeprecationWarning,
                      stacklevel=2)
        return getattr(_classifier, name)
    raise AttributeError(f"module 'vegan_lib.metrics' has no attribute {name!r}")
