"""Metrics of trained models (Chapters 3, 5, 7).

- :func:`reconstruction_error`: mean per-image cost c(x, G(Q(x))) (Chapter 3).
- :func:`sharpness`: per-image variance of the 3x3 Laplacian response (Chapter 5, the WAE code's blurriness).
- :func:`mmd_to_prior`: MMD² between encoded codes and prior samples (Chapter 3).
- :func:`w2`: exact W2 between two sample sets via POT (Chapters 3, 5).
- :func:`frechet_distance`: Fréchet distance in the feature space of a small MNIST
  classifier (:func:`mnist_classifier`) that the library trains deterministically
  on the embedded MNIST and caches (Chapters 5, 7).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import ot as vot
from . import penalties
from .data import default_cache_dir, load_mnist
from .models import COSTS, Recipe, transport_cost

__all__ = [
    "reconstruction_error",
    "sharpness",
    "LAPLACIAN",
    "mmd_to_prior",
    "w2",
    "MNISTClassifier",
    "mnist_classifier",
    "classifier_features",
    "frechet_gaussian",
    "frechet_distance",
    "CLASSIFIER_CONFIG",
]

#: The 3x3 Laplace filter of the WAE code's blurriness measure.
LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def _images(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"{name} must be images (n, 1 or 3, H, W), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return x


class _EvalMode:
    """Put a module in eval mode and under no_grad; restore its mode afterwards."""

    def __init__(self, module: nn.Module):
        self.module, self.no_grad = module, torch.no_grad()

    def __enter__(self):
        self.was_training = self.module.training
        self.module.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc):
        self.no_grad.__exit__(*exc)
        self.module.train(self.was_training)


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def reconstruction_error(recipe: Recipe, x: torch.Tensor, cost: str = "sqeuclidean",
                         batch_size: int = 500) -> float:
    """Mean over x of c(x_i, G(mean of Q(Z|x_i))), the test reconstruction cost (Chapter 3, eq. (POT)).

    ``cost`` is one of ``"sqeuclidean"`` (default: Σ_pixels (x − y)², no
    ``cost_scale``), ``"euclidean"``, ``"l1"``. Computed in eval mode (batch
    norm running statistics), without gradients, in batches of ``batch_size``.
    """
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a vegan_lib.models.Recipe, got {type(recipe).__name__}")
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating torch tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    if tuple(x.shape[1:]) != tuple(recipe.x_shape) or x.shape[0] == 0:
        raise ValueError(f"x must have shape (n, {', '.join(map(str, recipe.x_shape))}), got {tuple(x.shape)}")
    device = _device(recipe)
    total = 0.0
    with _EvalMode(recipe):
        for chunk in x.split(batch_size):
            chunk = chunk.to(device)
            total += float(transport_cost(chunk, recipe.reconstruct(chunk), cost).double().sum())
    return total / x.shape[0]


def sharpness(images: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Sharpness: per-image variance of the Laplacian response (Chapter 5, eq. (sharpness); WAE code).

    Images (n, C, H, W) with C = 1 or 3 (RGB is converted to greyscale with the
    ITU-R 601 weights 0.299, 0.587, 0.114, as ``tf.image.rgb_to_grayscale``)
    are convolved with [[0,1,0],[1,−4,1],[0,1,0]] with VALID padding; the
    response's population variance per image is returned as a float64 tensor of
    shape (n,) (``reduction="none"``), or its ``"mean"`` or ``"min"`` (the WAE
    logs print the min). Higher is sharper.
    """
    images = _images(images, "images")
    if reduction not in ("none", "mean", "min"):
        raise ValueError(f"reduction must be 'none', 'mean' or 'min', got {reduction!r}")
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
                 multiscale: bool = False, seed: int = 0) -> float:
    """MMD²(Q_Z, P_Z) between encoded codes and fresh prior samples (Chapter 3, eq. (MMD)).

    ``codes`` (n, d_z) are e.g. ``recipe.encode(x_test)``; ``n_prior`` prior
    samples (default n) of N(0, σ_z² I) are drawn with a generator seeded by
    ``seed`` (the global RNG is untouched). Unbiased estimate
    (:func:`vegan_lib.penalties.mmd`, IMQ with C = 2·d_z·σ_z²), in float64.
    """
    if not isinstance(codes, torch.Tensor):
        raise TypeError(f"codes must be a torch tensor, got {type(codes).__name__}")
    codes = codes.detach().to("cpu", torch.float64)
    if codes.ndim != 2 or codes.shape[0] < 2:
        raise ValueError(f"codes must have shape (n >= 2, d_z), got {tuple(codes.shape)}")
    n_prior = codes.shape[0] if n_prior is None else n_prior
    if isinstance(n_prior, bool) or not isinstance(n_prior, int) or n_prior < 2:
        raise ValueError(f"n_prior must be an int >= 2, got {n_prior!r}")
    gen = torch.Generator().manual_seed(seed)
    prior = torch.randn(n_prior, codes.shape[1], generator=gen, dtype=torch.float64) * sigma_z
    return float(penalties.mmd(codes, prior, kernel, None, multiscale, sigma_z))


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


# ----------------------------------------------------------------------------- classifier and FD

class MNISTClassifier(nn.Module):
    """A small CNN for 28x28 digits: conv(16)-pool-conv(32)-pool-FC(128)-FC(10) (Chapter 5, FD features).

    :meth:`features` is the 128-d penultimate layer (after ReLU) in which
    :func:`frechet_distance` compares image sets.
    """

    def __init__(self, width: int = 16, feature_dim: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, 10)
        self.test_accuracy = float("nan")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 128-d penultimate activations (n, 128) used by the Fréchet distance."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


#: Everything that determines the classifier's weights; its hash names the cache file.
CLASSIFIER_CONFIG = {
    "arch": "MNISTClassifier(width=16, feature_dim=128)",
    "data": "load_mnist(source='embedded', split='train'): 4,000 images; test: embedded test split",
    "optimizer": "Adam(lr=2e-3, betas=(0.9, 0.999))",
    "batch_size": 50,
    "epochs": 5,
    "augment": "random shift by up to 2 pixels",
    "seed": 1234,
    "threads": 1,
    "version": 1,
}


def _config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def _train_classifier(config: dict) -> tuple[MNISTClassifier, float]:
    gen = torch.Generator().manual_seed(config["seed"])
    previous, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(config["threads"])  # float reductions depend on the thread count
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config["seed"])
            model = MNISTClassifier()
            train = load_mnist("embedded", "train")
            x, y = train.images, train.labels
            opt = torch.optim.Adam(model.parameters(), lr=2e-3)
            n, b = x.shape[0], config["batch_size"]
            padded = F.pad(x, (2, 2, 2, 2))
            model.train()
            for _ in range(config["epochs"]):
                perm = torch.randperm(n, generator=gen)
                shifts = torch.randint(0, 5, (n, 2), generator=gen)
                for i in range(0, n - b + 1, b):
                    idx = perm[i:i + b]
                    # random translation by up to 2 pixels: a 28x28 window of the padded image per sample
                    dx, dy = shifts[idx, 0], shifts[idx, 1]
                    rows = (dy[:, None] + torch.arange(28))[:, :, None].expand(b, 28, 28)
                    cols = (dx[:, None] + torch.arange(28))[:, None, :].expand(b, 28, 28)
                    xb = padded[idx, 0][torch.arange(b)[:, None, None], rows, cols].unsqueeze(1)
                    loss = F.cross_entropy(model(xb), y[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
            model.eval()
            test = load_mnist("embedded", "test")
            with torch.no_grad():
                pred = torch.cat([model(c).argmax(1) for c in test.images.split(500)])
            accuracy = float((pred == test.labels).double().mean())
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.set_num_threads(threads)
    return model, accuracy


def mnist_classifier(device=None, cache_dir=None, verbose: bool = False) -> tuple[MNISTClassifier, float]:
    """The library's small MNIST classifier and its test accuracy (Chapter 5, FD features).

    Trained deterministically (fixed seed, deterministic algorithms, one CPU
    thread) on the embedded MNIST train split in about 7 s, then cached at
    ``cache_dir/classifier/mnist_cnn-<hash>.pt`` (``cache_dir`` defaults to
    :func:`vegan_lib.data.default_cache_dir`), where the hash covers
    :data:`CLASSIFIER_CONFIG` (architecture, data, hyperparameters). The
    accuracy is measured on the embedded test split (1,000 images). Returns the
    model in eval mode on ``device`` and the accuracy.
    """
    folder = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "classifier"
    path = folder / f"mnist_cnn-{_config_hash(CLASSIFIER_CONFIG)}.pt"
    model = MNISTClassifier()
    if path.exists():
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        accuracy = float(state["test_accuracy"])
        if verbose:
            print(f"loaded the MNIST classifier from {path} (test accuracy {accuracy:.4f})")
    else:
        model, accuracy = _train_classifier(CLASSIFIER_CONFIG)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".mnist_cnn.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save({"model": model.state_dict(), "test_accuracy": accuracy,
                            "config": json.dumps(CLASSIFIER_CONFIG, sort_keys=True)}, f)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        if verbose:
            print(f"trained the MNIST classifier (test accuracy {accuracy:.4f}); cached at {path}")
    model.test_accuracy = accuracy
    model.cache_path = str(path)
    model.eval()
    if device is not None:
        model.to(device)
    return model, accuracy


def classifier_features(images: torch.Tensor, classifier: MNISTClassifier, batch_size: int = 500) -> torch.Tensor:
    """Penultimate-layer features (n, 128) of images under the classifier, float64 on the CPU (Chapter 5)."""
    images = _images(images, "images")
    if images.shape[1:] != (1, 28, 28):
        raise ValueError(f"images must have shape (n, 1, 28, 28) for the MNIST classifier, got {tuple(images.shape)}")
    device = _device(classifier)
    with _EvalMode(classifier):
        feats = [classifier.features(c.to(device, torch.float32)).double().cpu() for c in images.split(batch_size)]
    return torch.cat(feats)


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_gaussian(mu1, cov1, mu2, cov2) -> float:
    """Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2) (Chapter 5, eq. (FD)).

    ‖μ1 − μ2‖² + tr(Σ1) + tr(Σ2) − 2·tr((Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}), in float64.
    The trace of the matrix square root is computed from the eigenvalues of the
    symmetric PSD matrix Σ1^{1/2} Σ2 Σ1^{1/2} (equal to tr((Σ1Σ2)^{1/2})), which
    stays accurate when the covariances are singular (e.g. dead ReLU features).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.size, mu1.size):
        raise ValueError(f"means and covariances must match: {mu1.shape}, {mu2.shape}, {cov1.shape}, {cov2.shape}")
    for name, a in (("mu1", mu1), ("mu2", mu2), ("cov1", cov1), ("cov2", cov2)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or infinite values")
    s1 = _psd_sqrt(cov1)
    middle = s1 @ cov2 @ s1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_sqrt, 0.0))


def frechet_distance(x: torch.Tensor, y: torch.Tensor, classifier: MNISTClassifier | None = None,
                     batch_size: int = 500) -> float:
    """Fréchet distance between two MNIST image sets in classifier-feature space (Chapter 5, eq. (FD)).

    The analogue of FID with the library's small MNIST classifier
    (:func:`mnist_classifier`, loaded from the cache or trained, if
    ``classifier`` is None) in place of Inception: Gaussians are fitted to the
    128-d penultimate features of x and of y and compared by
    :func:`frechet_gaussian`. Images are (n, 1, 28, 28) in [0, 1]; at least 2 each.
    """
    x, y = _images(x, "x"), _images(y, "y")
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(f"x and y need at least 2 images each, got {x.shape[0]} and {y.shape[0]}")
    if classifier is None:
        classifier, _ = mnist_classifier()
    fx, fy = (classifier_features(t, classifier, batch_size).numpy() for t in (x, y))
    return frechet_gaussian(fx.mean(0), np.cov(fx, rowvar=False), fy.mean(0), np.cov(fy, rowvar=False))
