"""The one atomic-write helper of vegan_lib (checkpoints, the classifier cache, downloads)."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

import torch


@contextlib.contextmanager
def atomic_open(path, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for binary writing; on success, flush, fsync and
    ``os.replace`` it onto ``path`` (so a reader never sees a partial file); on error, delete it
    and leave any existing ``path`` untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_torch_save(obj, path) -> Path:
    """``torch.save(obj, path)`` through :func:`atomic_open`."""
    with atomic_open(path) as f:
        torch.save(obj, f)
    return Path(path)
