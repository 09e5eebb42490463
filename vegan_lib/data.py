"""Data: embedded MNIST, full MNIST (downloaded once, verified), 2-D toy samplers.

Chapter 1 introduces the toy samplers; Chapters 3-7 train on MNIST. The
default MNIST is a 5,000-image subset (500 images per class) that ships inside
this package (``vegan_lib/_data/mnist_5k.npz``, 0.8 MB, its provenance and licence in
``vegan_lib/_data/README.md``), checked against its SHA-256 when it is read, so
nothing is downloaded in tests or CI. Full MNIST (70,000 images) is downloaded once
into a cache folder, verified by SHA-256, re-fetched when a cached file is corrupt,
and replaced by the embedded subset, with a warning, when ``source="auto"`` finds no
network (one reachability check of a few seconds, never a long stall).
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from . import _validation as _v
from ._io import atomic_open
from .runtime import get_device

__all__ = [
    "ImageSet",
    "DownloadError",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "EMBEDDED_SHA256",
    "default_cache_dir",
    "download_mnist",
    "load_mnist",
    "toy_2d",
    "TOY_NAMES",
]

#: SHA-256 of the four original MNIST files (identical on every mirror).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
#: Mirrors tried in order.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
#: SHA-256 of the embedded subset ``vegan_lib/_data/mnist_5k.npz`` (checked on every read).
EMBEDDED_SHA256 = "246e0c30eeea57c8d0037d3f38c8e00651ec204cc61b8022563e9aeeb9d756f4"
_SOURCES = ("embedded", "full", "auto")
_SPLITS = ("train", "test", "all")


class DownloadError(OSError):
    """No mirror delivered a file with the expected SHA-256."""


@dataclass
class ImageSet:
    """Images (N, 1, 28, 28) float32 in [0, 1] with int64 labels, and where they came from."""

    images: torch.Tensor
    labels: torch.Tensor
    source: str
    split: str

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device) -> "ImageSet":
        """The same images on ``device``."""
        return ImageSet(self.images.to(device), self.labels.to(device), self.source, self.split)

    def subset(self, n: int, seed: int) -> "ImageSet":
        """``n`` images drawn at random without replacement, seeded (Chapters 3-7: held-out sets).

        MNIST files are sorted by class, so the first images of a split are not a sample of it;
        this draws a permutation with its own ``torch.Generator(seed)`` (the global RNG is left
        alone) and keeps the first ``n``, on the images' device.
        """
        n = _v.integer(n, "n")
        seed = _v.seed(seed)
        if n > len(self):
            raise ValueError(f"n must be at most the number of images ({len(self)}), got {n}")
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].to(self.images.device)
        return ImageSet(self.images.index_select(0, idx), self.labels.index_select(0, idx), self.source,
                        f"{self.split}, random {n:,} (seed {seed})")

    def describe(self) -> str:
        """One line saying which data a figure came from (every chapter prints it)."""
        what = {"embedded": "MNIST, embedded 5,000-image subset (500 per class, shipped with vegan_lib)",
                "full": "MNIST, full 70,000 images (downloaded, SHA-256 verified)"}[self.source]
        return f"{what}; {self.split} split: {len(self):,} images on {self.images.device}"


def default_cache_dir() -> Path:
    """``$VEGAN_DATA`` if set, else ``~/.cache/vegan_lib``."""
    return Path(os.environ.get("VEGAN_DATA", Path.home() / ".cache" / "vegan_lib")).expanduser()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url: str, dest: Path, timeout: float) -> None:
    """Download ``url`` to ``dest`` atomically (temporary file, then rename)."""
    with atomic_open(dest, suffix=".part") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
        shutil.copyfileobj(resp, out, 1 << 20)


def download_mnist(cache_dir=None, mirrors=MNIST_MIRRORS, files=None, timeout: float = 30.0,
                   verbose: bool = True) -> Path:
    """Make sure the MNIST files are in ``cache_dir/mnist`` and verified (Chapter 3, data).

    For each file: a cached copy with the right SHA-256 is kept; a corrupt one is
    deleted and fetched again; each mirror is tried in turn and a download whose
    SHA-256 differs is discarded. Raises :class:`DownloadError` naming the file
    and what each mirror did when no mirror gives a valid file.
    """
    files = dict(MNIST_FILES if files is None else files)
    if isinstance(mirrors, str):
        mirrors = (mirrors,)
    if not mirrors:
        raise ValueError("mirrors must list at least one base URL")
    folder = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for name, digest in files.items():
        dest = folder / name
        if dest.exists():
            if _sha256(dest) == digest:
                continue
            if verbose:
                print(f"{dest} is corrupt (SHA-256 mismatch): fetching it again")
            dest.unlink()
        failures = []
        for base in mirrors:
            url = base.rstrip("/") + "/" + name
            try:
                _fetch(url, dest, timeout)
            except (urllib.error.URLError, OSError) as exc:
                failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
                continue
            got = _sha256(dest)
            if got == digest:
                if verbose:
                    print(f"downloaded {url} ({dest.stat().st_size:,} bytes, SHA-256 ok)")
                break
            dest.unlink()
            failures.append(f"{url}: SHA-256 {got[:12]}... differs from the expected {digest[:12]}...")
        else:
            raise DownloadError(f"could not download a valid {name}:\n  " + "\n  ".join(failures))
    return folder


def _read_idx(path: Path, kind: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    if kind == "images":
        if magic != 2051:
            raise ValueError(f"{path} is not an IDX image file (magic {magic})")
        n, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
        arr = np.frombuffer(data, dtype=np.uint8, offset=16)
        if arr.size != n * rows * cols:
            raise ValueError(f"{path} is truncated: {arr.size} pixels for {n}x{rows}x{cols}")
        return arr.reshape(n, 1, rows, cols)
    if magic != 2049:
        raise ValueError(f"{path} is not an IDX label file (magic {magic})")
    n = int.from_bytes(data[4:8], "big")
    arr = np.frombuffer(data, dtype=np.uint8, offset=8)
    if arr.size != n:
        raise ValueError(f"{path} is truncated: {arr.size} labels for {n}")
    return arr


@functools.lru_cache(maxsize=1)
def _embedded_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The embedded subset: uint8 images (5000, 28, 28) and labels, read once per process after its
    SHA-256 is checked (a modified or truncated file is an error, never silently other data)."""
    path = resources.files("vegan_lib") / "_data" / "mnist_5k.npz"
    with resources.as_file(path) as p:
        p = Path(p)
        if not p.exists():
            raise FileNotFoundError(f"the embedded MNIST subset {p} is missing from this installation of vegan_lib "
                                    f"(reinstall the package: its wheel ships it as package data)")
        got = _sha256(p)
        if got != EMBEDDED_SHA256:
            raise ValueError(f"the embedded MNIST subset {p} is corrupt: SHA-256 {got[:12]}... differs from the "
                             f"expected {EMBEDDED_SHA256[:12]}... (reinstall vegan_lib)")
        with np.load(p) as f:
            images, labels = f["images"], f["labels"]
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _embedded(split: str):
    pixels, classes = _embedded_arrays()
    images = pixels.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    labels = classes.astype(np.int64)
    # The file lists 500 images per class, sorted by class; every fifth image of a class is held out.
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    test = rank % 5 == 4
    keep = {"train": ~test, "test": test, "all": np.ones_like(test)}[split]
    return images[keep], labels[keep]


def _full(split: str, cache_dir, mirrors, timeout):
    folder = download_mnist(cache_dir, mirrors=mirrors, timeout=timeout)
    parts = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}[split]
    images = np.concatenate([_read_idx(folder / f"{p}-images-idx3-ubyte.gz", "images") for p in parts])
    labels = np.concatenate([_read_idx(folder / f"{p}-labels-idx1-ubyte.gz", "labels") for p in parts])
    return images.astype(np.float32) / 255.0, labels.astype(np.int64)


def _auto_source(device: torch.device) -> str:
    """``source="auto"``: full MNIST where training is fast (CUDA), the embedded subset elsewhere."""
    return "full" if device.type == "cuda" else "embedded"


def _reachable(mirrors, timeout: float) -> bool:
    """One TCP connection to the first mirror's host, within ``timeout`` seconds: is the network there?"""
    url = urllib.parse.urlsplit(mirrors[0] if not isinstance(mirrors, str) else mirrors)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _cached(cache_dir) -> bool:
    folder = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "mnist"
    return all((folder / name).exists() for name in MNIST_FILES)


def load_mnist(source: str = "embedded", split: str = "train", device=None, cache_dir=None,
               mirrors=MNIST_MIRRORS, timeout: float = 30.0, probe_timeout: float = 3.0) -> ImageSet:
    """MNIST as an :class:`ImageSet` in [0, 1] (Chapters 3-7, the data of every MNIST experiment).

    ``source``: ``"embedded"`` (the offline 5k subset: 4,000 train / 1,000 test),
    ``"full"`` (60,000 train / 10,000 test, downloaded once, an error if that
    fails) or ``"auto"`` (full on a CUDA device, embedded on the CPU; on a CUDA
    device without the files in the cache, one connection to the first mirror within
    ``probe_timeout`` seconds decides: no network means the embedded subset at once,
    with a warning; a download that fails later also falls back, with a warning).
    ``split``: ``"train"``, ``"test"`` or ``"all"``. ``device``: where the tensors are created
    (None: the CPU; ``"auto"``, ``"cpu"``, ``"cuda"`` as in :func:`vegan_lib.runtime.get_device`).
    """
    _v.choice(source, "source", _SOURCES)
    _v.choice(split, "split", _SPLITS)
    probe_timeout = _v.positive(probe_timeout, "probe_timeout")
    device = torch.device("cpu") if device is None else get_device(device)
    if source == "auto":
        source = _auto_source(device)
        if source == "full" and not _cached(cache_dir) and not _reachable(mirrors, probe_timeout):
            warnings.warn(f"full MNIST is not cached and {mirrors[0] if not isinstance(mirrors, str) else mirrors} "
                          f"is unreachable (no network?): using the embedded 5,000-image subset", RuntimeWarning)
            source = "embedded"
        if source == "full":
            try:
                download_mnist(cache_dir, mirrors=mirrors, timeout=timeout)
            except DownloadError as exc:
                warnings.warn(f"full MNIST is unavailable ({exc}); using the embedded 5,000-image subset",
                              RuntimeWarning)
                source = "embedded"
    if source == "embedded":
        images, labels = _embedded(split)
    else:
        images, labels = _full(split, cache_dir, mirrors, timeout)
    return ImageSet(torch.from_numpy(np.ascontiguousarray(images)).to(device),
                    torch.from_numpy(np.ascontiguousarray(labels)).to(device), source, split)


TOY_NAMES = ("gaussian", "ring", "grid", "moons", "swiss_roll")


def toy_2d(name: str, n: int, seed: int | None = None, noise: float | None = None,
           dtype=torch.float32) -> torch.Tensor:
    """n samples of a 2-D toy distribution as an (n, 2) tensor (Chapters 1, 3, 6).

    ``"gaussian"`` (standard normal), ``"ring"`` (8 Gaussians on a circle of
    radius 2), ``"grid"`` (25 Gaussians on a 5x5 grid), ``"moons"`` (two
    interleaved half circles), ``"swiss_roll"`` (a 2-D spiral). ``noise`` is the
    standard deviation added to each point (a per-distribution default if None).
    """
    _v.choice(name, "name", TOY_NAMES)
    n = _v.integer(n, "n")
    seed = _v.seed(seed, allow_none=True)
    if noise is not None:
        noise = _v.number(noise, "noise", nonnegative=True)
    rng = np.random.default_rng(seed)
    if name == "gaussian":
        x, default = rng.standard_normal((n, 2)), 0.0
    elif name == "ring":
        angle = 2 * np.pi * rng.integers(0, 8, n) / 8
        x, default = 2.0 * np.stack([np.cos(angle), np.sin(angle)], 1), 0.1
    elif name == "grid":
        x, default = rng.integers(-2, 3, (n, 2)).astype(np.float64), 0.05
    elif name == "moons":
        t = np.pi * rng.random(n)
        upper = rng.random(n) < 0.5
        x = np.where(upper[:, None], np.stack([np.cos(t), np.sin(t)], 1),
                     np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
        x, default = x - np.array([0.5, 0.25]), 0.05
    else:  # swiss_roll
        t = 1.5 * np.pi * (1 + 2 * rng.random(n))
        x, default = np.stack([t * np.cos(t), t * np.sin(t)], 1) / 5.0, 0.1
    sd = default if noise is None else noise
    x = x + sd * rng.standard_normal((n, 2))
    return torch.as_tensor(x, dtype=dtype)
