"""Private helpers shared by the chapters of :mod:`vegan_lib.ot`: point pairs, probes of a
potential, the HiGHS linear programs, and the deprecated keyword aliases of the POT dialect."""
from __future__ import annotations

import functools
import warnings

import numpy as np

from .. import _validation as _v

#: HiGHS tolerances of the dual programs (Chapter 6): tighter than the defaults (1e-7), so that
#: the potentials are feasible to round-off.
TIGHT = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


def renamed(**old_to_new):
    """Decorator: accept each deprecated keyword ``old`` as ``new`` with a DeprecationWarning.

    Only keyword names are translated; positional calls pass through unchanged (a changed
    positional order cannot be detected cheaply, so the chapters use the new order).
    """
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{fn.__name__}() got both {old!r} (deprecated) and {new!r}")
                    warnings.warn(f"{fn.__name__}(): the keyword {old!r} is deprecated and will be removed "
                                  f"in the next release; use {new!r}", DeprecationWarning, stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)
        return wrapper
    return decorate


def pair(x, y, names=("x", "y")) -> tuple[np.ndarray, np.ndarray]:
    """Two point clouds as float64 (n, d) and (m, d) arrays of the same dimension d."""
    x = _v.points(x, names[0])
    y = _v.points(y, names[1])
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} must have the same dimension, "
                         f"got {names[0]} {x.shape} and {names[1]} {y.shape}")
    return x, y


def probe(z, d: int) -> np.ndarray:
    """Points z where a potential is evaluated: (k, d) float64, the dimension of its support."""
    z = _v.points(z, "z")
    if z.shape[1] != d:
        raise ValueError(f"z must have dimension {d}, got {z.shape[1]}")
    return z


def highs(c, what: str, **kwargs) -> np.ndarray:
    """Solve min c·x by ``scipy.optimize.linprog(method="highs")``; RuntimeError unless optimal."""
    from scipy.optimize import linprog

    res = linprog(c, method="highs", **kwargs)
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"the {what} linear program was not solved (HiGHS status {res.status}: {res.message})")
    return res
