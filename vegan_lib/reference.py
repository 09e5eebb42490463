"""Reference runs: the protocol's models trained once per build, cached on disk, shared (Chapters 3-7).

:func:`reference_run` trains ``protocol.build(recipe, profile, seed)`` with the protocol's trainer
settings, or reloads it: a run is a checkpoint folder keyed by everything that changes its result
(the protocol entry, the seed, the data, the device type and the library's source as a whole,
:func:`library_hash`). An interrupted run resumes from its last checkpoint; two processes asking
for the same run (the book build executes two chapters at a time) take a file lock, so the second
waits and reloads instead of training it again. :func:`evaluate_run` evaluates a run with the
book's evaluation protocol (:func:`vegan_lib.metrics.evaluate`) and caches the result next to its
checkpoint, keyed by the held-out images and the evaluation settings: the chapters that share a run
also share its evaluation.

``python -m vegan_lib.reference --profile cpu --seeds 0 1 2 --jobs 2 --cache-dir DIR`` trains every
run of :data:`vegan_lib.protocol.REFERENCE_RUNS` ahead of a book build, ``jobs`` runs at a time
(one torch thread each): the chapters then only load them.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
from pathlib import Path

import torch

from . import _validation as _v
from ._io import atomic_open
from . import metrics as _metrics
from . import protocol
from .data import ImageSet, default_cache_dir
from .runtime import describe_device, get_device
from .train import Trainer

__all__ = ["library_hash", "run_folder", "reference_run", "evaluate_run", "train_all"]


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
    from the cache, ``trainer.info`` what ``run.json`` records (device, seconds, settings) and
    ``trainer.folder`` where the run lives.
    """
    _v.choice(recipe, "recipe", protocol.RECIPES)
    seed = _v.seed(seed)
    _v.choice(profile, "profile", protocol.PROFILES)
    if not isinstance(data, ImageSet):
        raise TypeError(f"data must be a vegan_lib.data.ImageSet, got {type(data).__name__}")
    device = get_device(device)
    key = _key(recipe, seed, profile, data, device, overrides)  # once: run.json records the key of its folder
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
                    "key": key}
            info_path.write_text(json.dumps(info, indent=1, default=str))
        trainer.info = json.loads(info_path.read_text())
        trainer.folder = folder
    return trainer


def _fingerprint(images: torch.Tensor) -> str:
    x = images.detach().to("cpu", torch.float32).contiguous()
    return hashlib.sha256(x.numpy().tobytes()).hexdigest()[:12] + f"-{tuple(x.shape)}"


def evaluate_run(trainer: Trainer, held_out: torch.Tensor, classifier=None, *, n_w2: int | None = None) -> dict:
    """The metrics of a reference run (Chapters 3-7): :func:`vegan_lib.metrics.evaluate` of
    ``trainer.recipe`` on ``held_out`` with the run's seed, computed once and cached in the run's
    folder (``evaluation.json``, keyed by the held-out images, ``n_w2`` and the classifier).

    ``trainer``: a :func:`reference_run`. Returns ``{"FD", "W2", "sharpness", "recon", "MMD",
    "seconds"}``, where ``seconds`` is the run's training time on the device that trained it.
    """
    if not isinstance(trainer, Trainer) or not hasattr(trainer, "folder"):
        raise TypeError(f"trainer must be a Trainer returned by reference_run, got {type(trainer).__name__}")
    held_out = _v.images(held_out, "held_out")
    n_w2 = _v.integer(n_w2, "n_w2", minimum=2, allow_none=True)
    key = json.dumps({"held_out": _fingerprint(held_out), "n_w2": n_w2, "evaluation": _metrics.EVALUATION,
                      "classifier": None if classifier is None else _fingerprint(
                          torch.cat([p.detach().flatten().cpu() for p in classifier.parameters()]))},
                     sort_keys=True)
    path = trainer.folder / "evaluation.json"
    with _locked(trainer.folder.parent / f".{trainer.folder.name}.lock"):
        cache = json.loads(path.read_text()) if path.exists() else {}
        if key not in cache:
            out = _metrics.evaluate(trainer.recipe, held_out, classifier, seed=trainer.info["seed"], n_w2=n_w2)
            cache[key] = {k: (None if math.isnan(v) else v) for k, v in out.items()}
            with atomic_open(path) as f:
                f.write(json.dumps(cache, indent=1).encode())
    out = {k: (math.nan if v is None else v) for k, v in cache[key].items()}
    out["seconds"] = trainer.info["seconds"]
    return out


def _train_one(job):
    recipe, seed, profile, overrides, device, cache_dir, threads = job
    torch.set_num_threads(threads)
    from .data import load_mnist

    data = load_mnist(protocol.settings(recipe, profile).data, "train", device=device)
    t = reference_run(recipe, seed, profile, data=data, device=device, cache_dir=cache_dir, progress=False, **overrides)
    return {"recipe": recipe, "seed": seed, "overrides": overrides, "seconds": t.info["seconds"],
            "cached": t.resumed, "folder": str(t.folder)}


def train_all(profile: str = "cpu", seeds=None, jobs_list=None, *, device="auto", cache_dir=None,
              jobs: int = 1) -> list[dict]:
    """Train (or find cached) every reference run under ``profile``, ``jobs`` at a time in separate
    processes with one torch thread each (Chapters 3-7: what ``make book`` runs before executing the
    chapters; a chapter, for the runs it needs). ``jobs_list``: (recipe, seed, overrides) triples, by
    default :func:`vegan_lib.protocol.reference_jobs` of ``seeds``. Finished runs are only read;
    the others train, longest first. Returns one record per run, in the order of ``jobs_list``.

    With ``jobs`` > 1 the workers are started with ``spawn``: in a script, call it under
    ``if __name__ == "__main__":`` (as any multiprocessing code); notebooks need nothing.
    """
    _v.choice(profile, "profile", protocol.PROFILES)
    jobs = _v.integer(jobs, "jobs")
    work_list = protocol.reference_jobs(profile, seeds) if jobs_list is None else list(jobs_list)
    for item in work_list:
        if not (isinstance(item, tuple) and len(item) == 3 and isinstance(item[2], dict)):
            raise TypeError(f"jobs_list must hold (recipe, seed, overrides dict) triples, got {item!r}")
        _v.choice(item[0], "recipe", protocol.RECIPES)
        _v.seed(item[1])
    device = str(get_device(device))
    cost = {"WGAN-GP": 3, "AAE": 2, "WAE-GAN": 1.5}
    threads = 1 if jobs > 1 else torch.get_num_threads()
    from .data import load_mnist

    done, todo = {}, []
    for r, s, o in work_list:  # finished runs (run.json written after the last step) are only read
        data = load_mnist(protocol.settings(r, profile).data, "train")
        folder = run_folder(r, s, profile, data=data, device=device, cache_dir=cache_dir, **o)
        if (folder / "run.json").exists():
            info = json.loads((folder / "run.json").read_text())
            done[r, s, json.dumps(o, sort_keys=True)] = {"recipe": r, "seed": s, "overrides": o,
                                                         "seconds": info["seconds"], "cached": True,
                                                         "folder": str(folder)}
        else:
            todo.append((r, s, profile, o, device, cache_dir, threads))
    todo.sort(key=lambda j: -cost.get(j[0], 1))
    if jobs == 1 or device.startswith("cuda") or len(todo) < 2:
        trained = [_train_one(j) for j in todo]
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(todo)), mp_context=mp.get_context("spawn")) as pool:
            trained = list(pool.map(_train_one, todo))
    done.update({(t["recipe"], t["seed"], json.dumps(t["overrides"], sort_keys=True)): t for t in trained})
    return [done[r, s, json.dumps(o, sort_keys=True)] for r, s, o in work_list]


def main(argv=None) -> list[dict]:
    """``python -m vegan_lib.reference``: :func:`train_all` from the command line."""
    import argparse
    import time

    p = argparse.ArgumentParser(prog="python -m vegan_lib.reference", description=train_all.__doc__.split(".")[0])
    p.add_argument("--profile", default="cpu", choices=protocol.PROFILES)
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0 .. n_seeds - 1 of the profile")
    p.add_argument("--device", default="auto")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--jobs", type=int, default=1)
    args = p.parse_args(argv)
    seeds = args.seeds if args.seeds is not None else range(protocol.settings("VAE", args.profile).n_seeds)
    t0 = time.perf_counter()
    out = train_all(args.profile, list(seeds), device=args.device, cache_dir=args.cache_dir, jobs=args.jobs)
    for r in out:
        what = "cached" if r["cached"] else f"trained in {r['seconds']:.0f} s"
        print(f"{r['recipe']:8s} {r['overrides'] or ''} seed {r['seed']}: {what}")
    print(f"{len(out)} reference runs ({args.profile} profile) ready in {time.perf_counter() - t0:.0f} s")
    return out


if __name__ == "__main__":  # through the package, so that worker processes can unpickle the jobs
    from vegan_lib.reference import main as _main

    _main()
