"""Input validation shared by the library: clear errors naming the argument."""
from __future__ import annotations

import numpy as np
import torch


def to_numpy64(x, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Convert a NumPy array, torch tensor or nested list to a float64 array, checking it."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    elif isinstance(x, (np.ndarray, list, tuple, float, int, np.floating, np.integer)):
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be numeric, got {exc}") from None
    else:
        raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(x).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimension(s), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def points(x, name: str) -> np.ndarray:
    """Sample points as an (n, d) float64 array; a 1-D input is read as n points in R^1."""
    x = to_numpy64(x, name, ndim=(1, 2))
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one point, got shape {x.shape}")
    return x


def weights(a, n: int, name: str) -> np.ndarray:
    """Histogram weights: None means uniform; otherwise length n, non-negative, positive mass."""
    if a is None:
        return np.full(n, 1.0 / n)
    a = to_numpy64(a, name, ndim=1)
    if a.shape[0] != n:
        raise ValueError(f"{name} must have length {n} (one weight per point), got {a.shape[0]}")
    if np.any(a < 0):
        raise ValueError(f"{name} must be non-negative, got min {a.min():.3g}")
    if a.sum() <= 0:
        raise ValueError(f"{name} must have positive total mass, got {a.sum():.3g}")
    return a


def same_mass(a: np.ndarray, b: np.ndarray, names=("a", "b"), rtol: float = 1e-9) -> None:
    """Raise unless the two histograms carry the same total mass."""
    sa, sb = a.sum(), b.sum()
    if abs(sa - sb) > rtol * max(sa, sb, 1.0):
        raise ValueError(f"{names[0]} and {names[1]} must have the same total mass, got {sa:.12g} and {sb:.12g}")


def cost(M, n: int, m: int, name: str = "M", nonnegative: bool = True) -> np.ndarray:
    """A finite (n, m) cost matrix, non-negative unless told otherwise."""
    M = to_numpy64(M, name, ndim=2)
    if M.shape != (n, m):
        raise ValueError(f"{name} must have shape ({n}, {m}) to match the weights, got {M.shape}")
    if nonnegative and np.any(M < 0):
        raise ValueError(f"{name} must be a non-negative cost, got min {M.min():.3g}")
    return M


def positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return float(value)
