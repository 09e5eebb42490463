"""Reference runs: the protocol's models trained once per build, cached on disk, shared (Chapters 3-7).

:func:`reference_run` trains ``protocol.build(recipe, profile, seed)`` with the protocol's trainer
settings, or reloads it: a run is a checkpoint folder keyed by everything that changes its result
(the protocol entry, the seed, the data, the device type and the library's source as a whole,
:func:`library_hash`). An interrupted run resumes from its last checkpoint; two processes asking
for the same run (the book build executes two chapters at a time) take a file lock, so the second
waits and reloads instead of training it again. Evaluation is left to the caller, on the returned
model: a cached run then costs only its evaluation.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from pathlib import Path

from . import _validation as _v
from . import protocol
from .data import ImageSet, default_cache_dir
from .runtime import describe_device, get_device
from .train import Trainer

__all__ = ["library_hash", "run_folder", "reference_run"]


def library_hash() -> str:
    """SHA-256 (12 hex digits) of every source file of vegan_lib: a run trained by other code is another run."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _key(recipe: str, seed: int, profile: str, data: ImageSet, device, overrides: dict) -> dict:
    return {"settings": protocol.settings(recipe, profile).as_dict(), "seed": seed, "overrides": overrides,
            "data": {"source": data.source, "split": data.split, "n": len(data)},
            "device": get_device(device).type, "library": library_hash()}


def run_folder(recipe: str, seed: int = 0, profile: str = "cpu", *, data: ImageSet, device="auto",
               cache_dir=None, **overrides) -> Path:
    """The cache folder of a reference run (Chapters 3-7): ``cache_dir/<recipe>-seed<seed>-<profile>-<hash>``."""
    key = _key(recipe, seed, profile, data, device, overrides)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "runs"
    return root / f"{recipe}-seed{seed}-{profile}-{digest}"


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def reference_run(recipe: str, seed: int = 0, profile: str = "cpu", *, data: ImageSet, device="auto",
                  cache_dir=None, progress: bool | None = None, **overrides) -> Trainer:
    """The protocol's run of ``recipe`` with ``seed`` under ``profile``, trained once and cached
    (Chapters 3-7: the reference runs every training chapter shares).

    ``data``: the training :class:`~vegan_lib.data.ImageSet`; ``overrides``: constructor options
    that define a variant (e.g. ``lam=0.0``, the λ = 0 baseline), part of the cache key. Returns the
    :class:`~vegan_lib.train.Trainer`, fitted: ``trainer.recipe`` is the trained model,
    ``trainer.history`` its losses, ``trainer.resumed`` tells whether it came (at least in part)
    from the cache, and ``trainer.info`` what ``run.json`` records (device, seconds, settings).
    """
    _v.choice(recipe, "recipe", protocol.RECIPES)
    seed = _v.seed(seed)
    _v.choice(profile, "profile", protocol.PROFILES)
    if not isinstance(data, ImageSet):
        raise TypeError(f"data must be a vegan_lib.data.ImageSet, got {type(data).__name__}")
    device = get_device(device)
    folder = run_folder(recipe, seed, profile, data=data, device=device, cache_dir=cache_dir, **overrides)
    with _locked(folder.parent / f".{folder.name}.lock"):
        model = protocol.build(recipe, profile, seed, **overrides).to(device)
        trainer = Trainer(model, data, seed=seed, device=device, checkpoint_dir=folder,
                          checkpoint_every=500, resume=True, progress=progress,
                          desc=f"{recipe} (seed {seed}, {profile})", **protocol.train_options(recipe, profile))
        trained_now = trainer.step < trainer.total_steps
        trainer.fit()
        info_path = folder / "run.json"
        if trained_now or not info_path.exists():
            info = {"recipe": recipe, "seed": seed, "profile": profile, "overrides": overrides,
                    "device": describe_device(device), "seconds": trainer.history["time"][-1],
                    "key": _key(recipe, seed, profile, data, device, overrides)}
            info_path.write_text(json.dumps(info, indent=1, default=str))
        trainer.info = json.loads(info_path.read_text())
    return trainer
