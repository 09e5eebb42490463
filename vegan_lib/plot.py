"""Plot helpers: point clouds, couplings, image grids and curves, always labelled.

Introduced in Chapter 1 and used by every chapter. Each helper draws on a
given matplotlib axis (or a new one) and returns the axis.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from . import _validation as _v
from .runtime import eval_mode, module_device

__all__ = ["points", "coupling", "image_grid", "curves", "sample_grid", "reconstruction_grid"]


def _ax(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    return ax


def _np(x, name):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def points(x, ax=None, label=None, title=None, s=8, alpha=0.6, **kw):
    """Scatter a 2-D point cloud (n, 2) (Chapter 1)."""
    x = _v.points(x, "x")
    if x.shape[1] != 2:
        raise ValueError(f"x must be 2-D points of shape (n, 2), got {x.shape}")
    ax = _ax(ax)
    ax.scatter(x[:, 0], x[:, 1], s=s, alpha=alpha, label=label, **kw)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title)
    if label:
        ax.legend(loc="best", fontsize=8)
    return ax


def coupling(x, y, plan, ax=None, title=None, labels=("source", "target"), threshold=1e-8):
    """Draw a coupling between 2-D point sets: a segment per pair, opacity ∝ mass (Chapter 1)."""
    x = _v.points(x, "x")
    y = _v.points(y, "y")
    plan = _v.to_numpy64(plan, "plan", ndim=2)
    if plan.shape != (x.shape[0], y.shape[0]):
        raise ValueError(f"plan must have shape ({x.shape[0]}, {y.shape[0]}), got {plan.shape}")
    if x.shape[1] == 1:
        x = np.hstack([x, np.zeros_like(x)])
        y = np.hstack([y, np.ones_like(y)])
    ax = _ax(ax)
    top = plan.max() if plan.max() > 0 else 1.0
    for i, j in zip(*np.nonzero(plan > threshold * top)):
        ax.plot([x[i, 0], y[j, 0]], [x[i, 1], y[j, 1]], color="0.3", lw=1,
                alpha=float(0.15 + 0.85 * plan[i, j] / top))
    ax.scatter(x[:, 0], x[:, 1], s=25, c="C0", label=labels[0], zorder=3)
    ax.scatter(y[:, 0], y[:, 1], s=25, c="C1", marker="s", label=labels[1], zorder=3)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(loc="best", fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def image_grid(images, nrow: int = 10, ax=None, title=None):
    """Show a batch of images (N, 1, H, W) or (N, H, W) in [0, 1] as one grid (Chapters 3-7)."""
    imgs = _np(images, "images").astype(np.float64)
    if imgs.ndim == 4:
        if imgs.shape[1] != 1:
            raise ValueError(f"images must have one channel, got shape {imgs.shape}")
        imgs = imgs[:, 0]
    if imgs.ndim != 3 or imgs.shape[0] == 0:
        raise ValueError(f"images must have shape (N, 1, H, W) or (N, H, W), got {imgs.shape}")
    n, h, w = imgs.shape
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    canvas = np.ones((rows * (h + 1) + 1, ncol * (w + 1) + 1))
    for k in range(n):
        r, c = divmod(k, ncol)
        canvas[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = imgs[k]
    if ax is None:
        _, ax = plt.subplots(figsize=(ncol * 0.6 + 0.5, rows * 0.6 + 0.5))
    ax.imshow(np.clip(canvas, 0, 1), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def curves(series: dict, ax=None, xlabel="step", ylabel="value", title=None, logx=False, logy=False,
           x=None, reference=None, reference_label=None, marker=None):
    """Plot named curves {label: values} against a shared ``x`` (Chapters 1-7)."""
    if not isinstance(series, dict) or not series:
        raise ValueError("series must be a non-empty dict {label: values}")
    ax = _ax(ax)
    for label, values in series.items():
        values = _np(values, label)
        xs = np.arange(len(values)) if x is None else _np(x, "x")
        if len(xs) != len(values):
            raise ValueError(f"curve {label!r} has {len(values)} values for {len(xs)} x positions")
        ax.plot(xs, values, label=str(label), marker=marker)
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1, label=reference_label)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def sample_grid(recipe, n: int = 50, nrow: int = 10, seed: int = 0, ax=None, title=None):
    """Model samples G(z), z ~ P_Z, as an image grid (Chapters 3-7).

    Drawn in evaluation mode (:func:`vegan_lib.runtime.eval_mode`) from a generator seeded
    with ``seed`` (the global RNG is untouched), so the same seed shows the same latent points
    for every model of a chapter. Returns the axes.
    """
    n = _v.integer(n, "n")
    gen = torch.Generator().manual_seed(_v.seed(seed))
    with eval_mode(recipe):
        samples = recipe.sample(n, generator=gen)
    return image_grid(samples, nrow=nrow, ax=ax, title=title)


def reconstruction_grid(recipe, x, nrow: int = 10, ax=None, title=None):
    """Images and their reconstructions G(Q(x)) in alternating rows (Chapters 3-7).

    ``x`` (n, 1, H, W): row 1 shows the first ``nrow`` images, row 2 their reconstructions, and
    so on. Computed in evaluation mode. Returns the axes.
    """
    x = _v.images(x, "x")
    nrow = _v.integer(nrow, "nrow")
    device = module_device(recipe)
    with eval_mode(recipe):
        recon = recipe.reconstruct(x.to(device)).cpu()
    rows = []
    for i in range(0, x.shape[0], nrow):
        rows += [x[i:i + nrow].cpu(), recon[i:i + nrow]]
    width = min(nrow, x.shape[0])
    if x.shape[0] % width:  # pad the last pair of rows with blank images
        pad = width - x.shape[0] % width
        rows = [torch.cat([r, torch.zeros(pad, *r.shape[1:])]) if r.shape[0] < width else r for r in rows]
    return image_grid(torch.cat(rows), nrow=width, ax=ax, title=title)
