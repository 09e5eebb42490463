"""Baselines that a trained model must beat (Chapters 3-7): the mean-image predictor.

A training claim means something only if a trivial model fails it. :class:`MeanImage` is the
trivial model of MNIST: every reconstruction and every sample is the mean training image. It is
a :class:`~vegan_lib.recipes.Recipe` without trainable parameters, so every metric of
:mod:`vegan_lib.metrics` and every chapter check accepts it. The other baselines are data
(held-out real images) and the protocol's recipes with λ = 0
(``vegan_lib.protocol.build(name, lam=0.0)``). :func:`baseline_metrics` evaluates the first two
with the book's evaluation protocol: the rows every training chapter's table starts with.
"""
from __future__ import annotations

import torch

from . import _validation as _v
from . import metrics as _metrics
from .data import ImageSet
from .recipes import Recipe

__all__ = ["MeanImage", "baseline_metrics"]


class MeanImage(Recipe):
    """The mean-image predictor: G(z) = x̄ for every z, Q(x) = 0 (Chapters 3-7, baselines).

    ``images``: the training images (n, C, H, W) whose mean is x̄. It has no trainable parameter
    and no phase; ``encode`` returns zero codes (its aggregated posterior is a point mass),
    ``decode``, ``reconstruct`` and ``sample`` return copies of x̄.
    """

    name = "mean image"

    def __init__(self, images: torch.Tensor, z_dim: int = 8, sigma_z: float = 1.0):
        super().__init__(z_dim, sigma_z)
        images = _v.images(images, "images")
        self.register_buffer("mean", images.detach().double().mean(0).to(images.dtype))

    @property
    def x_shape(self) -> tuple[int, ...]:
        return tuple(self.mean.shape)

    def optimizer_specs(self):
        return {}

    def phases(self):
        return []

    def _device_dtype(self):
        return self.mean.device, self.mean.dtype

    def encode(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        _v.batch(x, self.x_shape)
        return torch.zeros(x.shape[0], self.z_dim, device=x.device, dtype=x.dtype)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.mean.expand(z.shape[0], *self.mean.shape).clone()


def baseline_metrics(train: ImageSet, held_out: torch.Tensor, classifier=None, *, seed: int = 0,
                     n_w2: int | None = None) -> dict[str, dict[str, float]]:
    """The baseline rows of the metrics tables (Chapters 3-7), by the book's evaluation protocol.

    ``"real data"``: ``len(held_out)`` training images drawn at random (``train.subset(n, seed)``)
    judged as if they were samples (:func:`vegan_lib.metrics.evaluate_samples`): the floor no model
    can beat by much; its reconstruction error is 0 by definition and its MMD is left undefined.
    ``"mean image"``: :class:`MeanImage` of the training images, through
    :func:`vegan_lib.metrics.evaluate`: the trivial model every training claim must exclude.
    """
    if not isinstance(train, ImageSet):
        raise TypeError(f"train must be a vegan_lib.data.ImageSet, got {type(train).__name__}")
    held_out = _v.images(held_out, "held_out")
    real = train.subset(held_out.shape[0], seed).images.cpu()
    mean = MeanImage(train.images.cpu())
    return {"real data": {**_metrics.evaluate_samples(real, held_out, classifier, n_w2), "recon": 0.0,
                          "MMD": float("nan")},
            "mean image": _metrics.evaluate(mean, held_out.cpu(), classifier, seed=seed, n_w2=n_w2)}
