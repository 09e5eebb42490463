"""Runtime helpers shared by every chapter: quick mode, device choice, seeding.

Introduced in Chapter 1 (the "resolve" cell of the chapter template) and used by
all later chapters.
"""
from __future__ import annotations

import inspect
import os
import platform
import random

import numpy as np
import torch

__all__ = ["quick_mode", "get_device", "set_seed", "describe_device", "show_source"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def quick_mode(quick: bool = False) -> bool:
    """Resolve the chapter's ``QUICK`` parameter (Chapter 1, template step 4).

    Quick mode is on when ``quick`` is true **or** the environment variable
    ``VEGAN_QUICK`` is set to ``1`` (what the test suite does), so CI can run
    every chapter on a 2-core CPU without editing the notebooks.
    """
    if not isinstance(quick, (bool, np.bool_)):
        raise TypeError(f"quick must be a bool, got {type(quick).__name__} ({quick!r})")
    env = os.environ.get("VEGAN_QUICK", "").strip().lower()
    if env not in _TRUE | _FALSE:
        raise ValueError(f"VEGAN_QUICK must be 0 or 1, got {env!r}")
    return bool(quick) or env in _TRUE


def get_device(device: str | torch.device = "auto") -> torch.device:
    """Pick the torch device for a chapter (Chapter 1, template step 4).

    ``"auto"`` gives CUDA when a GPU is visible and the CPU otherwise; ``"cpu"``
    and ``"cuda"`` (or ``"cuda:N"``) are honoured, and asking for CUDA where
    there is none is an error rather than a silent fallback.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")
    name = device.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for but no CUDA GPU is visible; use 'auto' or 'cpu'")
        return torch.device(name)
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def set_seed(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a NumPy generator.

    Chapter 1, template step 4: every chapter calls it once in its resolve cell,
    so a run is reproducible from its ``SEED`` parameter.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r})")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return np.random.default_rng(seed)


def describe_device(device: torch.device) -> str:
    """A one-line description of where a figure was computed (Chapter 1)."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}, torch {torch.__version__})"
    cpu = platform.processor() or platform.machine()
    return f"CPU {cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads (torch {torch.__version__})"


def show_source(obj) -> None:
    """Print the source of a library object so a chapter shows it instead of pasting it."""
    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as exc:
        raise TypeError(f"cannot show the source of {obj!r}: {exc}") from None
    print(source.rstrip())
