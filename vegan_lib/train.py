"""One trainer for every recipe of the cookbook (Chapters 3-7).

:class:`Trainer` runs ``recipe.train_step`` on minibatches of a data tensor
kept on the device (a seeded ``torch.Generator`` permutation per epoch, last
incomplete batch dropped), whatever the recipe's inner structure (WAE-GAN's
adversary step, AAE's phases, WGAN's critic steps all live in the recipe).

- Losses stay on the device; every ``log_every`` steps (and at evaluations,
  checkpoints and the end) they are moved to the host in one transfer, checked
  for NaN/inf, averaged over the window and appended to :attr:`Trainer.history`,
  a dict of equal-length lists (``pd.DataFrame(trainer.history)`` is a table).
- A non-finite loss raises :class:`DivergenceError` naming the first bad step
  and loss; checkpoints are only written after such a check, so the last one
  on disk is good and is kept.
- Evaluation callbacks ``f(recipe) -> {name: value}`` run every ``eval_every``
  steps and at the end, in eval mode, under ``torch.no_grad()`` and with the
  random state forked, so they do not change the training run.
- Checkpoints (``checkpoint_dir/last.pt``, written atomically) hold the
  recipe, the optimizers, the step, the position in the epoch, the data-order
  generator, torch's CPU (and CUDA) RNG state and the history, as tensors and
  plain containers: ``torch.load(..., weights_only=True)`` reads them.
  ``resume=True`` continues from it; on the CPU the result equals the
  uninterrupted run bit for bit.
- ``bf16=True`` (autocast to bfloat16) and ``compile=True`` (``torch.compile``
  of the recipe's networks) are honoured on CUDA only; elsewhere they are
  ignored with a ``UserWarning``.
"""
from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

try:  # widget bars in Jupyter/Colab when ipywidgets is there; text bars otherwise (no warning)
    import ipywidgets  # noqa: F401
    from tqdm.auto import tqdm
except ImportError:
    from tqdm.std import tqdm

from .models import Recipe
from .runtime import get_device

__all__ = ["DivergenceError", "Trainer", "fit", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "last.pt"
_FORMAT = "vegan_lib.train/1"
_RESERVED = ("step", "epoch", "time")


class DivergenceError(RuntimeError, FloatingPointError):
    """A training loss became NaN or infinite (Chapter 3: the trainer's divergence check).

    Attributes: ``step`` (1-based index of the first bad step), ``loss_name``,
    ``value``, ``checkpoint`` (path of the last good checkpoint, or None).
    """

    def __init__(self, message: str, step: int, loss_name: str, value: float, checkpoint: Path | None):
        super().__init__(message)
        self.step, self.loss_name, self.value, self.checkpoint = step, loss_name, value, checkpoint


def _positive_int(value, name: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


class Trainer:
    """Train a :class:`~vegan_lib.models.Recipe` on a data tensor (Chapters 3-7, the training loop).

    Parameters
    ----------
    recipe: the model and objective (WAE, VAE, AAE, WGAN, or any Recipe).
    data: tensor (N, *recipe.x_shape) of floats, or an object with ``.images``
        (e.g. :class:`vegan_lib.data.ImageSet`); moved once to ``device``.
    batch_size: minibatch size (the recipe consumes ``batch_size *
        recipe.batches_per_step`` rows per step).
    steps / epochs: length of the run (give exactly one); an epoch is
        N // (batch_size · batches_per_step) steps.
    optimizers: dict name → optimizer; default ``recipe.make_optimizers()``.
    device: None keeps the recipe where it is; else ``"auto"``, ``"cpu"``, ``"cuda"``...
    seed: seeds the minibatch order and, at the start of a fresh run, torch's
        global RNG (prior samples, reparametrisation noise). None leaves torch's
        RNG alone and draws the data-order seed from it.
    log_every: steps between host transfers of the losses (history rows).
    eval_every, callbacks: evaluation schedule and callables ``f(recipe) -> dict``;
        callbacks also run at the last step.
    checkpoint_dir, checkpoint_every: where and how often to write
        ``last.pt`` (also written at the end when ``checkpoint_dir`` is set).
    resume: continue from ``checkpoint_dir/last.pt`` if it exists.
    progress: show a tqdm progress bar (notebook-aware), updated at log steps.
        None (default): on, unless the environment sets ``VEGAN_PROGRESS=0``, as the
        book build and the test suite do (a bar is noise in a rendered page).
    bf16, compile: CUDA-only options (see the module docstring).
    """

    def __init__(self, recipe: Recipe, data, *, batch_size: int = 100, steps: int | None = None,
                 epochs: int | None = None, optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                 device=None, seed: int | None = 0, log_every: int = 50, eval_every: int | None = None,
                 callbacks: Sequence[Callable] = (), checkpoint_dir=None, checkpoint_every: int | None = None,
                 resume: bool = False, progress: bool | None = None, bf16: bool = False, compile: bool = False,
                 desc: str | None = None):
        if not isinstance(recipe, Recipe):
            raise TypeError(f"recipe must be a vegan_lib.models.Recipe, got {type(recipe).__name__}")
        self.recipe = recipe
        self.device = next(recipe.parameters()).device if device is None else get_device(device)
        recipe.to(self.device)
        self.data = self._check_data(data, recipe)
        self.batch_size = _positive_int(batch_size, "batch_size")
        self._chunk = self.batch_size * recipe.batches_per_step
        n = self.data.shape[0]
        if self._chunk > n:
            what = f"batch_size * batches_per_step = {self._chunk}" if recipe.batches_per_step > 1 else \
                f"batch_size = {self.batch_size}"
            raise ValueError(f"{what} exceeds the dataset size {n}")
        self.steps_per_epoch = n // self._chunk
        if (steps is None) == (epochs is None):
            raise ValueError("give exactly one of steps and epochs")
        self.total_steps = (_positive_int(steps, "steps") if steps is not None
                            else _positive_int(epochs, "epochs") * self.steps_per_epoch)
        self.log_every = _positive_int(log_every, "log_every")
        self.eval_every = _positive_int(eval_every, "eval_every", allow_none=True)
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not callable(cb):
                raise TypeError(f"callbacks must be callables f(recipe) -> dict, got {cb!r}")
        self.checkpoint_every = _positive_int(checkpoint_every, "checkpoint_every", allow_none=True)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        if self.checkpoint_dir is None and (self.checkpoint_every or resume):
            raise ValueError("checkpoint_every and resume need a checkpoint_dir")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        if progress is None:
            progress = os.environ.get("VEGAN_PROGRESS", "1").strip() != "0"
        self.progress, self.desc = bool(progress), desc or getattr(recipe, "name", type(recipe).__name__)

        if optimizers is None:
            optimizers = recipe.make_optimizers()
        expected = set(recipe.optimizer_specs())
        if not isinstance(optimizers, Mapping) or set(optimizers) != expected:
            got = sorted(optimizers) if isinstance(optimizers, Mapping) else type(optimizers).__name__
            raise ValueError(f"optimizers must be a dict with keys {sorted(expected)} for "
                             f"{type(recipe).__name__}, got {got}")
        self.optimizers = dict(optimizers)

        self.bf16, self.compile = self._cuda_only(bf16, "bf16"), self._cuda_only(compile, "compile")
        if self.compile:
            skip = set(getattr(recipe, "compile_exclude", ()))
            if getattr(recipe, "mode", None) == "gp":
                skip.add("critic")  # torch.compile has no double backward (gradient penalty)
            for name, module in recipe.named_children():
                if name not in skip:
                    module.compile()

        # run state
        self.step = 0
        self.epoch = 0
        self.history: dict[str, list] = {}
        self.last_checkpoint: Path | None = None
        self.resumed = False  # True when resume=True found a checkpoint
        self._elapsed = 0.0
        self._perm = None
        self._pos = 0
        self._names: tuple[str, ...] | None = None
        self._buf: list[torch.Tensor] = []
        self._gen = torch.Generator()
        data_seed = self.seed if self.seed is not None else int(torch.randint(0, 2**62, (1,)).item())
        self._gen.manual_seed(data_seed)
        self._gen_state_epoch = self._gen.get_state()
        if resume and self.checkpoint_path.exists():
            self.load_checkpoint(self.checkpoint_path)
        elif self.seed is not None:
            torch.manual_seed(self.seed)

    # ------------------------------------------------------------------ set-up helpers
    def _check_data(self, data, recipe) -> torch.Tensor:
        if hasattr(data, "images") and not isinstance(data, torch.Tensor):
            data = data.images
        if not isinstance(data, torch.Tensor):
            raise TypeError(f"data must be a torch tensor (or an ImageSet), got {type(data).__name__}")
        if not data.is_floating_point():
            raise TypeError(f"data must have a floating dtype, got {data.dtype}")
        x_shape = tuple(recipe.x_shape)
        if data.ndim != len(x_shape) + 1 or tuple(data.shape[1:]) != x_shape:
            raise ValueError(f"data must have shape (N, {', '.join(map(str, x_shape))}) for this recipe, "
                             f"got {tuple(data.shape)}")
        data = data.to(self.device)
        if data.numel() and not bool(torch.isfinite(torch.stack(torch.aminmax(data))).all()):  # NaN propagates
            raise ValueError("data contains NaN or infinite values")
        return data

    def _cuda_only(self, flag, name: str) -> bool:
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {flag!r}")
        if flag and self.device.type != "cuda":
            warnings.warn(f"{name}=True is only honoured on CUDA; ignored on device {self.device}", UserWarning,
                          stacklevel=3)
            return False
        return flag

    @property
    def checkpoint_path(self) -> Path | None:
        """``checkpoint_dir/last.pt`` (None without a checkpoint_dir)."""
        return None if self.checkpoint_dir is None else self.checkpoint_dir / CHECKPOINT_NAME

    # ------------------------------------------------------------------ the loop
    def _next_batch(self) -> torch.Tensor:
        if self._perm is None:
            self._gen_state_epoch = self._gen.get_state()
            self._perm = torch.randperm(self.data.shape[0], generator=self._gen).to(self.device, non_blocking=True)
            self._pos = 0
        start = self._pos * self._chunk
        idx = self._perm[start:start + self._chunk]
        self._pos += 1
        if self._pos == self.steps_per_epoch:
            self._perm, self._pos = None, 0
            self.epoch += 1
        return self.data.index_select(0, idx)

    def _check_output(self, out) -> tuple[str, ...]:
        if not isinstance(out, Mapping) or not out:
            raise TypeError(f"{type(self.recipe).__name__}.train_step must return a non-empty dict of losses, "
                            f"got {type(out).__name__}")
        for k, v in out.items():
            if not isinstance(v, torch.Tensor) or v.ndim != 0 or not v.is_floating_point() or v.requires_grad:
                raise TypeError(f"{type(self.recipe).__name__}.train_step must return detached 0-d floating "
                                f"tensors; {k!r} is {v!r}")
            if k in _RESERVED:
                raise ValueError(f"loss name {k!r} is reserved for the history")
        return tuple(out)

    def _now(self) -> float:
        return self._elapsed + (time.perf_counter() - self._t0)

    def fit(self) -> dict[str, list]:
        """Train until ``total_steps``; return :attr:`history` (also kept on the trainer)."""
        recipe, opts = self.recipe, self.optimizers
        autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext())
        recipe.train()
        self._t0 = time.perf_counter()
        self._bar = tqdm(total=self.total_steps, initial=self.step, disable=not self.progress,
                         desc=self.desc, unit="step", dynamic_ncols=True)
        ckpt_at_end = self.checkpoint_dir is not None
        try:
            while self.step < self.total_steps:
                x = self._next_batch()
                with autocast:
                    out = recipe.train_step(x, opts)
                if self._names is None:
                    self._names = self._check_output(out)
                elif tuple(out) != self._names:
                    raise ValueError(f"train_step returned losses {tuple(out)}, earlier {self._names}")
                self._buf.append(torch.stack(tuple(out.values())))
                self.step += 1
                step, last = self.step, self.step == self.total_steps
                evaluate = bool(self.callbacks) and (last or (self.eval_every and step % self.eval_every == 0))
                checkpoint = (self.checkpoint_every and step % self.checkpoint_every == 0) or (last and ckpt_at_end)
                if step % self.log_every == 0 or last or evaluate or checkpoint:
                    self._flush()
                if evaluate:
                    self._evaluate()
                if checkpoint:
                    self.save_checkpoint()
        finally:
            self._elapsed = self._now()
            self._buf.clear()
            self._bar.close()
        return self.history

    def _flush(self) -> None:
        if not self._buf:
            return
        values = torch.stack(self._buf).float().cpu().numpy()  # the one host sync
        first = self.step - len(self._buf) + 1
        self._buf.clear()
        bad = ~np.isfinite(values)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            step, name, value = first + int(i), self._names[j], float(values[i, j])
            if self.last_checkpoint is not None:
                kept = f"the last good checkpoint (step {self._checkpoint_step}) is kept at {self.last_checkpoint}"
            elif self.checkpoint_dir is not None:
                kept = f"no checkpoint had been written yet to {self.checkpoint_dir}"
            else:
                kept = "no checkpoint was kept (checkpoint_dir is None)"
            raise DivergenceError(f"training diverged: loss {name!r} is {value} at step {step} "
                                  f"(epoch {(step - 1) // self.steps_per_epoch + 1}); stopped, {kept}",
                                  step, name, value, self.last_checkpoint)
        row = {"step": self.step, "epoch": self.step / self.steps_per_epoch, "time": self._now()}
        row.update({name: float(values[:, j].mean()) for j, name in enumerate(self._names)})
        self._append_row(row)
        self._bar.update(self.step - self._bar.n)
        self._bar.set_postfix({k: f"{row[k]:.4g}" for k in self._names[:4]}, refresh=False)

    def _append_row(self, row: dict) -> None:
        n = len(self.history.get("step", []))
        for k in row:
            if k not in self.history:
                self.history[k] = [math.nan] * n
        for k, column in self.history.items():
            column.append(row.get(k, math.nan))

    def _evaluate(self) -> None:
        recipe = self.recipe
        devices = [self.device] if self.device.type == "cuda" else []
        recipe.eval()
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                metrics = {}
                for cb in self.callbacks:
                    result = cb(recipe)
                    if not isinstance(result, Mapping):
                        raise TypeError(f"callback {getattr(cb, '__name__', cb)!r} must return a dict of "
                                        f"metrics, got {type(result).__name__}")
                    metrics.update(result)
        finally:
            recipe.train()
        for k, v in metrics.items():
            if k in _RESERVED or (self._names and k in self._names):
                raise ValueError(f"callback metric {k!r} collides with a history column; rename it")
            if k not in self.history:
                self.history[k] = [math.nan] * len(self.history["step"])
            self.history[k][-1] = float(v)

    # ------------------------------------------------------------------ checkpoints
    def _meta(self) -> dict:
        return {"recipe_class": type(self.recipe).__name__, "batch_size": self.batch_size,
                "batches_per_step": self.recipe.batches_per_step, "n_data": int(self.data.shape[0]),
                "seed": -1 if self.seed is None else self.seed}

    def save_checkpoint(self) -> Path:
        """Write ``checkpoint_dir/last.pt`` atomically (temporary file, fsync, ``os.replace``)."""
        if self.checkpoint_dir is None:
            raise ValueError("this trainer has no checkpoint_dir")
        self._flush()  # a checkpoint is only written after the losses so far were checked
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        in_epoch = self._perm is not None
        state = {
            "format": _FORMAT,
            "meta": self._meta(),
            "step": self.step,
            "epoch": self.epoch,
            "epoch_pos": self._pos if in_epoch else 0,
            "data_rng": (self._gen_state_epoch if in_epoch else self._gen.get_state()).clone(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
            "recipe": self.recipe.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "history": self.history,
            "names": list(self._names or ()),
            "elapsed": self._now() if hasattr(self, "_t0") else self._elapsed,
        }
        path = self.checkpoint_path
        fd, tmp = tempfile.mkstemp(dir=self.checkpoint_dir, prefix=f".{CHECKPOINT_NAME}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        self.last_checkpoint, self._checkpoint_step = path, self.step
        return path

    def load_checkpoint(self, path=None) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` (``weights_only=True``)."""
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None or not path.exists():
            raise FileNotFoundError(f"no checkpoint at {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a vegan_lib.train checkpoint")
        mine = self._meta()
        diff = {k: (v, mine[k]) for k, v in state["meta"].items() if mine.get(k) != v}
        if diff:
            raise ValueError(f"checkpoint {path} does not match this trainer: "
                             + ", ".join(f"{k} was {a!r}, now {b!r}" for k, (a, b) in diff.items()))
        self.recipe.load_state_dict(state["recipe"])
        for k, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][k])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self._gen.set_state(state["data_rng"])
        self._perm, self._pos = None, 0
        if state["epoch_pos"]:
            self._next_perm_at(int(state["epoch_pos"]))
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available() and len(state["cuda_rng"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.history = {k: list(v) for k, v in state["history"].items()}
        self._names = tuple(state["names"]) or None
        self._elapsed = float(state["elapsed"])
        self.last_checkpoint, self._checkpoint_step = path, self.step
        self.resumed = True

    def _next_perm_at(self, pos: int) -> None:
        self._gen_state_epoch = self._gen.get_state()
        self._perm = torch.randperm(self.data.shape[0], generator=self._gen).to(self.device)
        self._pos = pos


def fit(recipe: Recipe, data, **kwargs) -> Trainer:
    """Build a :class:`Trainer`, run it, and return it (its ``history`` holds the logs) (Chapters 3-7)."""
    trainer = Trainer(recipe, data, **kwargs)
    trainer.fit()
    return trainer
