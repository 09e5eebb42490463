"""The feature classifier of the Fréchet distance (Chapters 5, 7).

A small CNN (:class:`MNISTClassifier`) that the library trains deterministically on the
embedded MNIST and caches (:func:`mnist_classifier`); :func:`classifier_features` gives the
128-d penultimate features in which :func:`vegan_lib.metrics.frechet_distance` compares image
sets: the analogue of FID's Inception features for MNIST.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import _validation as _v
from ._io import atomic_torch_save
from .data import default_cache_dir, load_mnist
from .runtime import eval_mode

__all__ = ["MNISTClassifier", "CLASSIFIER_CONFIG", "mnist_classifier", "classifier_features"]


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
        atomic_torch_save({"model": model.state_dict(), "test_accuracy": accuracy,
                           "config": json.dumps(CLASSIFIER_CONFIG, sort_keys=True)}, path)
        if verbose:
            print(f"trained the MNIST classifier (test accuracy {accuracy:.4f}); cached at {path}")
    model.test_accuracy = accuracy
    model.cache_path = str(path)
    model.eval()
    if device is not None:
        model.to(device)
    return model, accuracy


def classifier_features(images: torch.Tensor, classifier: MNISTClassifier, batch_size: int = 500) -> torch.Tensor:
    """Penultimate-layer features (n, 128) of images under the classifier, float64 on the CPU (Chapter 5, eq. (FD))."""
    images = _v.images(images, "images")
    if images.shape[1:] != (1, 28, 28):
        raise ValueError(f"images must have shape (n, 1, 28, 28) for the MNIST classifier, got {tuple(images.shape)}")
    _v.module(classifier, "classifier", MNISTClassifier, "vegan_lib.classifier.MNISTClassifier")
    batch_size = _v.integer(batch_size, "batch_size")
    device = next(classifier.parameters()).device
    with eval_mode(classifier):
        feats = [classifier.features(c.to(device, torch.float32)) for c in images.split(batch_size)]
    return torch.cat(feats).double().cpu()  # one host transfer
