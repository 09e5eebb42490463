"""Runtime helpers shared by every chapter: quick mode, device choice, seeding, evaluation mode.

Introduced in Chapter 1 (the "resolve" cell of the chapter template) and used by
all later chapters.
"""
from __future__ import annotations

import contextlib
import inspect
import os
import platform
import random

import numpy as np
import torch

from . import _validation as _v

__all__ = ["quick_mode", "get_device", "set_seed", "describe_device", "show_source", "eval_mode", "module_device"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def quick_mode(quick: bool = False) -> bool:
    """Resolve the chapter's ``QUICK`` parameter (Chapter 1, template step 4).

    Quick mode is on when ``quick`` is true **or** the environment variable
    ``VEGAN_QUICK`` is set to ``1`` (what the test suite does), so CI can run
    every chapter on a 2-core CPU without editing the notebooks.
    """
    _v.boolean(quick, "quick")
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


def set_seed(seed: int, deterministic: bool = False) -> np.random.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a NumPy generator.

    Chapter 1, template step 4: every chapter calls it once in its resolve cell,
    so a run is reproducible from its ``SEED`` parameter: on the CPU, bit for bit. On a GPU
    the same seed gives the same draws, but cuDNN and some CUDA kernels (atomic adds in
    scatter/index operations, cuBLAS workspaces) are non-deterministic: two runs differ in
    the last bits, and training amplifies that. ``deterministic=True`` removes it at a cost:
    ``torch.backends.cudnn.deterministic = True`` and ``benchmark = False`` (slower
    convolutions: measured on the ``gpu`` profile where a GPU ran, see bench/results),
    ``torch.use_deterministic_algorithms(True)`` (an operation with no deterministic
    implementation then raises a ``RuntimeError`` naming it) and
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` when unset (more cuBLAS memory). These settings are
    process-wide; ``deterministic=False`` restores torch's defaults.
    """
    seed = _v.seed(seed)
    deterministic = _v.boolean(deterministic, "deterministic")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds every CUDA device too, lazily (does not initialise CUDA)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(deterministic)
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


@contextlib.contextmanager
def eval_mode(*modules: torch.nn.Module):
    """Evaluate modules: eval mode (batch norm uses its running statistics) and ``torch.no_grad()``
    inside the block, each module's former train/eval mode restored after it (Chapter 3 onwards).

    ``with vl.eval_mode(model): x_hat = model.reconstruct(x)`` replaces the error-prone
    ``model.eval(); with torch.no_grad(): ...; model.train()``.
    """
    if not modules:
        raise TypeError("eval_mode needs at least one torch module")
    for i, m in enumerate(modules):
        _v.module(m, f"modules[{i}]")
    modes = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        with torch.no_grad():
            yield modules[0] if len(modules) == 1 else modules
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter, or of its first buffer when it has no parameter
    (e.g. :class:`vegan_lib.baselines.MeanImage`); the CPU for an empty module."""
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")
