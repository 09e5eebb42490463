"""The one home of input validation in vegan_lib.

One rule everywhere: a wrong **type** raises ``TypeError``, a wrong **value**
(shape, sign, range, unknown name, NaN) raises ``ValueError``; both messages
name the argument and say what was expected. Every public function of the
library validates its arguments through the helpers below.
"""
from __future__ import annotations

import math

import numpy as np
import torch

_REAL = (int, float, np.integer, np.floating)


# ----------------------------------------------------------------------------- scalars

def number(value, name: str, *, positive: bool = False, nonnegative: bool = False,
           minimum: float | None = None) -> float:
    """A finite real number (bool refused), optionally > 0, >= 0 or >= ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, _REAL):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be a non-negative finite number, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def positive(value, name: str) -> float:
    """A positive finite number."""
    return number(value, name, positive=True)


def integer(value, name: str, minimum: int | None = 1, allow_none: bool = False):
    """An int (bool refused) >= ``minimum`` (None: no bound); None passes when ``allow_none``."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        what = "an int or None" if allow_none else "an int"
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} ({value!r})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def boolean(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} ({value!r})")
    return bool(value)


def choice(value, name: str, options) -> str:
    """One of ``options`` (a string enumeration)."""
    options = tuple(options)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {options}, got {type(value).__name__} ({value!r})")
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def seed(value, name: str = "seed", allow_none: bool = False):
    """A non-negative int seed (or None when allowed)."""
    return integer(value, name, minimum=0, allow_none=allow_none)


def shape(x_shape, name: str = "x_shape") -> tuple[int, ...]:
    """A data shape: an int or a non-empty tuple of positive ints."""
    if isinstance(x_shape, (int, np.integer)) and not isinstance(x_shape, bool):
        x_shape = (x_shape,)
    if isinstance(x_shape, (str, bytes)) or not hasattr(x_shape, "__iter__") or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in x_shape):
        raise TypeError(f"{name} must be an int or a tuple of ints, got {x_shape!r}")
    x_shape = tuple(int(s) for s in x_shape)
    if not x_shape or any(s <= 0 for s in x_shape):
        raise ValueError(f"{name} must be a non-empty tuple of positive ints, got {x_shape!r}")
    return x_shape


def module(value, name: str, cls=torch.nn.Module, what: str | None = None):
    """An instance of ``cls`` (a torch module class by default)."""
    if not isinstance(value, cls):
        what = what or f"{cls.__module__}.{cls.__name__}"
        raise TypeError(f"{name} must be a {what}, got {type(value).__name__}")
    return value


# ----------------------------------------------------------------------------- torch tensors

def tensor(x, name: str, *, floating: bool = True, ndim=None, min_rows: int = 0) -> torch.Tensor:
    """A torch tensor (floating unless told otherwise) with ``ndim`` dimensions and ``min_rows`` rows."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimension(s), "
                             f"got shape {tuple(x.shape)}")
    if x.ndim and x.shape[0] < min_rows:
        raise ValueError(f"{name} must hold at least {min_rows} rows, got shape {tuple(x.shape)}")
    return x


def batch(x, x_shape, name: str = "x") -> torch.Tensor:
    """A floating batch of shape (n, *x_shape)."""
    tensor(x, name)
    if x.ndim != len(x_shape) + 1 or tuple(x.shape[1:]) != tuple(x_shape):
        raise ValueError(f"{name} must have shape (n, {', '.join(map(str, x_shape))}), got {tuple(x.shape)}")
    return x


def codes(x, name: str, min_rows: int = 1) -> torch.Tensor:
    """Latent codes: a floating (n, d_z) tensor with at least ``min_rows`` rows."""
    x = tensor(x, name, ndim=2)
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} must hold at least {min_rows} codes, got shape {tuple(x.shape)}")
    return x


def images(x, name: str = "images") -> torch.Tensor:
    """Images (n, 1 or 3, H, W), floating, n >= 1."""
    tensor(x, name)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"{name} must be images (n, 1 or 3, H, W), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return x


# ----------------------------------------------------------------------------- NumPy (float64 OT layer)

def to_numpy64(x, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Convert a NumPy array, torch tensor or nested list to a finite float64 array."""
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
    """Raise ValueError unless the two histograms carry the same total mass."""
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
