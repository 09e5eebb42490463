"""One trainer for every recipe of the cookbook; it owns the optimisation step (Chapters 3-7).

A recipe *describes* its training step as phases (:class:`vegan_lib.recipes.Phase`: optimizer
group, loss function, repeats, post-step hook); :class:`Trainer` *runs* them on minibatches of
a data tensor kept on the device (a seeded ``torch.Generator`` permutation per epoch, last
incomplete batch dropped). For each phase and repetition it

1. computes the phase's loss dictionary, under ``torch.autocast`` (bfloat16) when
   ``bf16=True`` and only there: the forward pass and the loss;
2. outside autocast: ``zero_grad``, ``backward``, gradient clipping (``grad_clip``, the
   gradients' global norm per optimizer group), ``optimizer.step()``, then the phase's
   post-step hook (WGAN weight clipping).

- Losses stay on the device; every ``log_every`` steps (and at evaluations, checkpoints and
  the end) they are moved to the host in one transfer, checked for NaN/inf, averaged over the
  window and appended to :attr:`Trainer.history`, a dict of equal-length lists
  (``pd.DataFrame(trainer.history)`` is a table). A phase's total is logged as
  ``<phase>_loss``, its unweighted terms by name (one schema, :mod:`vegan_lib.recipes`);
  ``time`` counts the seconds spent training, evaluation callbacks excluded.
- A non-finite loss raises :class:`DivergenceError` naming the first bad step and loss;
  checkpoints are only written after such a check, so the last one on disk is good and is kept.
- Evaluation callbacks ``f(recipe) -> {name: value}`` run at step 0 (``eval_at_start``), every
  ``eval_every`` steps and at the end, in eval mode, under ``torch.no_grad()`` and with the
  random state forked, so they do not change the training run.
- Checkpoints (``checkpoint_dir/last.pt``, written atomically) hold the recipe, the
  optimizers, the step, the position in the epoch, the data-order generator, torch's RNG
  state (and the training GPU's) and the history, as tensors and plain containers:
  ``torch.load(..., weights_only=True)`` reads them. ``resume=True`` continues from it; on the
  CPU the result equals the uninterrupted run bit for bit.
- Under ``torchrun --nproc_per_node N`` the recipe is wrapped in ``DistributedDataParallel``
  (NCCL on GPUs, Gloo on CPUs); ``batch_size`` is the global minibatch, each process trains on
  its shard, rank 0 writes checkpoints and shows the progress bar (:mod:`vegan_lib.distributed`).
- ``compile=True`` (``torch.compile`` of the recipe's ``compile_targets()``) is honoured on
  CUDA only; elsewhere it is ignored with a ``UserWarning``. ``bf16=True`` works on every
  device (on the CPU it is slow: it exists there for tests).

Why this module is over 400 lines: the loop, its logging, the divergence check and the
checkpoints share the trainer's run state (step, epoch position, generators, history) and must
change together for resume to stay bit-identical; about half of the lines are docstrings.
"""
from __future__ import annotations

import contextlib
import math
import os
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

from . import _validation as _v
from . import distributed as _dist
from ._io import atomic_torch_save
from .recipes import Recipe
from .runtime import eval_mode, get_device

__all__ = ["DivergenceError", "Trainer", "fit", "train_step", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "last.pt"
_FORMAT = "vegan_lib.train/2"
_RESERVED = ("step", "epoch", "time")


class DivergenceError(RuntimeError, FloatingPointError):
    """A training loss became NaN or infinite (Chapter 3: the trainer's divergence check).

    Attributes: ``step`` (1-based index of the first bad step), ``loss_name``,
    ``value``, ``checkpoint`` (path of the last good checkpoint, or None).
    """

    def __init__(self, message: str, step: int, loss_name: str, value: float, checkpoint: Path | None):
        super().__init__(message)
        self.step, self.loss_name, self.value, self.checkpoint = step, loss_name, value, checkpoint


class Trainer:
    """Train a :class:`~vegan_lib.recipes.Recipe` on a data tensor (Chapters 3-7, the training loop).

    Parameters
    ----------
    recipe : Recipe
        The model and objective (WAE, VAE, AAE, WGAN, or any Recipe).
    data : torch.Tensor or ImageSet
        Tensor ``(N, *recipe.x_shape)`` of floats, or an object with ``.images``
        (e.g. :class:`vegan_lib.data.ImageSet`); moved once to ``device``.
    batch_size : int
        The (global) minibatch size; a step consumes ``batch_size * recipe.batches_per_step``
        rows (WGAN: one minibatch per critic step).
    steps, epochs : int, optional
        Length of the run (give exactly one); an epoch is
        N // (batch_size · batches_per_step) steps.
    optimizers : dict, optional
        Dict group → optimizer; default ``recipe.make_optimizers()``.
    device : str or torch.device, optional
        None keeps the recipe where it is (the library's one meaning of ``device=None``:
        no move); else ``"auto"``, ``"cpu"``, ``"cuda"``... Under torchrun, ``"cuda"`` means
        this process's GPU (``LOCAL_RANK``).
    seed : int, optional
        Seeds the minibatch order and, at the start of a fresh run, torch's global RNG
        (prior samples, reparametrisation noise). None leaves torch's RNG alone and draws the
        data-order seed from it.
    log_every : int
        Steps between host transfers of the losses (history rows).
    eval_every, callbacks
        Evaluation schedule and callables ``f(recipe) -> dict``;
        callbacks also run at the last step, and at step 0 when ``eval_at_start``.
    eval_at_start : bool
        Run the callbacks at step 0, before training (a history row with step 0).
    grad_clip : float or dict, optional
        None, a max gradient norm for every optimizer group, or a dict group → norm.
    checkpoint_dir, checkpoint_every
        Where and how often to write ``last.pt`` (also written
        at the end when ``checkpoint_dir`` is set).
    resume : bool
        Continue from ``checkpoint_dir/last.pt`` if it exists.
    progress : bool, optional
        A tqdm progress bar (notebook-aware), updated at log steps, on rank 0 only.
        None (default): on, unless the environment sets ``VEGAN_PROGRESS=0``, as the
        book build and the test suite do (a bar is noise in a rendered page).
    bf16 : bool
        Autocast the forward passes to bfloat16.
    compile : bool
        ``torch.compile`` the recipe's ``compile_targets()``; honoured on CUDA only.
    distributed : bool, optional
        None (default) uses DistributedDataParallel when launched by torchrun with
        more than one process (it initialises the process group if needed); False never does.
    desc : str, optional
        The progress bar's label.
    """

    def __init__(self, recipe: Recipe, data, *, batch_size: int = 100, steps: int | None = None,
                 epochs: int | None = None, optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                 device=None, seed: int | None = 0, log_every: int = 50, eval_every: int | None = None,
                 callbacks: Sequence[Callable] = (), eval_at_start: bool = True,
                 grad_clip: float | Mapping[str, float] | None = None, checkpoint_dir=None,
                 checkpoint_every: int | None = None, resume: bool = False, progress: bool | None = None,
                 bf16: bool = False, compile: bool = False, distributed: bool | None = None,
                 desc: str | None = None):
        _v.module(recipe, "recipe", Recipe, "vegan_lib.recipes.Recipe")
        self.recipe = recipe
        if distributed is not None:
            _v.boolean(distributed, "distributed")
        if distributed or distributed is None:
            _dist.init_from_env(get_device("auto" if device is None else device).type)
        if distributed and not _dist.is_distributed():
            raise ValueError("distributed=True needs several processes: launch with torchrun --nproc_per_node N")
        self.distributed = distributed is not False and _dist.is_distributed()
        self.world_size, self.rank = _dist.world_size(), _dist.rank()
        self.device = self._resolve_device(device)
        recipe.to(self.device)
        self.data = self._check_data(data, recipe)
        self.batch_size = _v.integer(batch_size, "batch_size")
        if self.batch_size % self.world_size:
            raise ValueError(f"batch_size ({self.batch_size}) must be divisible by the number of processes "
                             f"({self.world_size}): each process trains on an equal shard")
        self._phases = recipe.phases()
        bps = recipe.batches_per_step
        self._chunk = self.batch_size * bps
        n = self.data.shape[0]
        if self._chunk > n:
            what = f"batch_size * batches_per_step = {self._chunk}" if bps > 1 else f"batch_size = {self.batch_size}"
            raise ValueError(f"{what} exceeds the dataset size {n}")
        self.steps_per_epoch = n // self._chunk
        if (steps is None) == (epochs is None):
            raise ValueError("give exactly one of steps and epochs")
        self.total_steps = (_v.integer(steps, "steps") if steps is not None
                            else _v.integer(epochs, "epochs") * self.steps_per_epoch)
        self.log_every = _v.integer(log_every, "log_every")
        self.eval_every = _v.integer(eval_every, "eval_every", allow_none=True)
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not callable(cb):
                raise TypeError(f"callbacks must be callables f(recipe) -> dict, got {cb!r}")
        self.eval_at_start = _v.boolean(eval_at_start, "eval_at_start")
        self.checkpoint_every = _v.integer(checkpoint_every, "checkpoint_every", allow_none=True)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        if self.checkpoint_dir is None and (self.checkpoint_every or resume):
            raise ValueError("checkpoint_every and resume need a checkpoint_dir")
        self.seed = _v.seed(seed, allow_none=True)
        if progress is None:
            progress = os.environ.get("VEGAN_PROGRESS", "1").strip() != "0"
        self.progress = bool(progress) and _dist.is_main_process()
        self.desc = desc or getattr(recipe, "name", type(recipe).__name__)

        if optimizers is None:
            optimizers = recipe.make_optimizers()
        expected = set(recipe.optimizer_specs())
        if not isinstance(optimizers, Mapping):
            raise TypeError(f"optimizers must be a dict group -> torch optimizer, got {type(optimizers).__name__}")
        if set(optimizers) != expected:
            raise ValueError(f"optimizers must be a dict with keys {sorted(expected)} for "
                             f"{type(recipe).__name__}, got {sorted(optimizers)}")
        self.optimizers = dict(optimizers)
        self.grad_clip = self._check_clip(grad_clip)
        self._clip_params = {k: (v, [p for g in self.optimizers[k].param_groups for p in g["params"]])
                             for k, v in self.grad_clip.items()}

        self.bf16 = _v.boolean(bf16, "bf16")
        self.compile = _v.boolean(compile, "compile")
        if self.compile and self.device.type != "cuda":
            warnings.warn(f"compile=True is only honoured on CUDA; ignored on device {self.device}", UserWarning,
                          stacklevel=2)
            self.compile = False
        if self.compile:
            for name in recipe.compile_targets():
                getattr(recipe, name).compile()
        self.model = recipe
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.model = DistributedDataParallel(
                recipe, device_ids=[self.device] if self.device.type == "cuda" else None,
                find_unused_parameters=len(self._phases) > 1)

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
    def _resolve_device(self, device) -> torch.device:
        if device is None:
            return next(self.recipe.parameters()).device
        device = get_device(device)
        if self.distributed and device.type == "cuda" and device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return device

    def _check_data(self, data, recipe) -> torch.Tensor:
        if hasattr(data, "images") and not isinstance(data, torch.Tensor):
            data = data.images
        _v.tensor(data, "data")
        x_shape = tuple(recipe.x_shape)
        if data.ndim != len(x_shape) + 1 or tuple(data.shape[1:]) != x_shape:
            raise ValueError(f"data must have shape (N, {', '.join(map(str, x_shape))}) for this recipe, "
                             f"got {tuple(data.shape)}")
        data = data.to(self.device)
        if data.numel() and not bool(torch.isfinite(torch.stack(torch.aminmax(data))).all()):  # NaN propagates
            raise ValueError("data contains NaN or infinite values")
        return data

    def _check_clip(self, clip) -> dict[str, float]:
        if clip is None:
            return {}
        if isinstance(clip, Mapping):
            unknown = set(clip) - set(self.optimizers)
            if unknown:
                raise ValueError(f"grad_clip has unknown optimizer group(s) {sorted(unknown)}; "
                                 f"the groups are {sorted(self.optimizers)}")
            return {k: _v.number(v, f"grad_clip[{k!r}]", positive=True) for k, v in clip.items()}
        value = _v.number(clip, "grad_clip", positive=True)
        return {k: value for k in self.optimizers}

    @property
    def checkpoint_path(self) -> Path | None:
        """``checkpoint_dir/last.pt`` (None without a checkpoint_dir)."""
        return None if self.checkpoint_dir is None else self.checkpoint_dir / CHECKPOINT_NAME

    # ------------------------------------------------------------------ the loop
    def _next_batch(self) -> torch.Tensor:
        """This process's rows of the next step: its shard of each of the step's global minibatches."""
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
        if self.world_size > 1:
            local = self.batch_size // self.world_size
            idx = idx.view(-1, self.batch_size)[:, self.rank * local:(self.rank + 1) * local].reshape(-1)
        return self.data.index_select(0, idx)

    def _train_step(self, x: torch.Tensor) -> torch.Tensor:
        """One training step on this process's rows; the logged values stacked on the device."""
        first = self._names is None
        out = _run_phases(self.model, self.recipe, self._phases, x.split(self.batch_size // self.world_size),
                          self.optimizers, self._clip_params, self.bf16, check=first)
        if first:
            clash = set(out) & set(_RESERVED)
            if clash:
                raise ValueError(f"the phases of {type(self.recipe).__name__} log reserved names {sorted(clash)}")
            self._names = tuple(out)
        return torch.stack(list(out.values()))

    def _now(self) -> float:
        return self._elapsed + (time.perf_counter() - self._t0)

    def fit(self) -> "Trainer":
        """Train until ``total_steps`` and return the trainer (its :attr:`history` holds the logs)."""
        self.recipe.train()
        self._t0 = time.perf_counter()
        self._bar = tqdm(total=self.total_steps, initial=self.step, disable=not self.progress,
                         desc=self.desc, unit="step", dynamic_ncols=True)
        ckpt_at_end = self.checkpoint_dir is not None
        try:
            if self.step == 0 and self.callbacks and self.eval_at_start and not self.history:
                self._append_row({"step": 0, "epoch": 0.0, "time": 0.0})
                self._evaluate()
            while self.step < self.total_steps:
                x = self._next_batch()
                with _dist.sharded(self.distributed):
                    self._buf.append(self._train_step(x))
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
        return self

    def _flush(self) -> None:
        if not self._buf:
            return
        values = torch.stack(self._buf)
        if self.distributed:  # log the global batch: average the processes' values (NaN reaches every rank)
            torch.distributed.all_reduce(values)
            values = values / self.world_size
        values = values.cpu().numpy()  # the one host sync
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
        started = time.perf_counter()
        try:
            self._run_callbacks()
        finally:  # the clock of the "time" column counts training only
            self._t0 += time.perf_counter() - started

    def _run_callbacks(self) -> None:
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), eval_mode(self.recipe):
            metrics = {}
            for cb in self.callbacks:
                result = cb(self.recipe)
                if not isinstance(result, Mapping):
                    raise TypeError(f"callback {getattr(cb, '__name__', cb)!r} must return a dict of "
                                    f"metrics, got {type(result).__name__}")
                metrics.update(result)
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
        """Write ``checkpoint_dir/last.pt`` atomically (rank 0 writes; every process waits for it)."""
        if self.checkpoint_dir is None:
            raise ValueError("this trainer has no checkpoint_dir")
        self._flush()  # a checkpoint is only written after the losses so far were checked
        path = self.checkpoint_path
        if _dist.is_main_process():
            in_epoch = self._perm is not None
            atomic_torch_save({
                "format": _FORMAT,
                "meta": self._meta(),
                "step": self.step,
                "epoch": self.epoch,
                "epoch_pos": self._pos if in_epoch else 0,
                "data_rng": (self._gen_state_epoch if in_epoch else self._gen.get_state()).clone(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
                "device_type": self.device.type,
                "world_size": _dist.world_size(),
                "recipe": self.recipe.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "history": self.history,
                "names": list(self._names or ()),
                "elapsed": self._now() if hasattr(self, "_t0") else self._elapsed,
            }, path)
        _dist.barrier()
        self.last_checkpoint, self._checkpoint_step = path, self.step
        return path

    def _restore_device_rng(self, state: dict, path: Path) -> None:
        """The CUDA generator of a resumed run: restored when the run resumes where it was written
        (same device type and number of processes); otherwise re-seeded, with a warning, from
        (seed, step, rank): the continuation is then reproducible, but it is not the one the original
        run would have taken (a checkpoint written on the CPU has no CUDA state, and one written by
        N processes has rank 0's only)."""
        saved = (state.get("device_type", "cuda" if state["cuda_rng"] is not None else "cpu"),
                 int(state.get("world_size", 1)))
        now = (self.device.type, _dist.world_size())
        if saved == now:
            if state["cuda_rng"] is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["cuda_rng"], self.device)
            return
        seed = _resume_seed(self.seed, self.step, _dist.rank())
        if self.device.type == "cuda":
            torch.cuda.manual_seed(seed)
        what = ("the CUDA generator is re-seeded from (seed, step, rank)" if self.device.type == "cuda"
                else "there is no CUDA generator to restore")
        warnings.warn(f"checkpoint {path} was written by {saved[1]} process(es) on {saved[0]} and resumes on "
                      f"{now[1]} process(es) on {now[0]}: weights, optimizers, data order and the CPU generator are "
                      f"restored and {what}, so the continuation is reproducible but differs from the one the "
                      f"original run would have taken", RuntimeWarning)

    def load_checkpoint(self, path=None) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` (``weights_only=True``)."""
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None or not path.exists():
            raise FileNotFoundError(f"no checkpoint at {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a {_FORMAT} checkpoint (written by another version of vegan_lib?)")
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
            self._gen_state_epoch = self._gen.get_state()
            self._perm = torch.randperm(self.data.shape[0], generator=self._gen).to(self.device)
            self._pos = int(state["epoch_pos"])
        torch.set_rng_state(state["torch_rng"])
        self._restore_device_rng(state, path)
        self.history = {k: list(v) for k, v in state["history"].items()}
        self._names = tuple(state["names"]) or None
        self._elapsed = float(state["elapsed"])
        self.last_checkpoint, self._checkpoint_step = path, self.step
        self.resumed = True


def _resume_seed(seed, step: int, rank: int) -> int:
    return ((0 if seed is None else int(seed)) * 1_000_003 + step * 7919 + rank) % 2**63


def _check_phase_output(recipe, phase, out) -> None:
    who = f"{type(recipe).__name__} phase {phase.name!r}"
    if not isinstance(out, Mapping) or "loss" not in out:
        raise TypeError(f"{who} must return a dict of losses with a 'loss' entry (the total it minimises), got {out!r}")
    for k, v in out.items():
        if not isinstance(v, torch.Tensor) or v.ndim != 0 or not v.is_floating_point():
            raise TypeError(f"{who} must return 0-d floating tensors; {k!r} is {v!r}")


def train_step(recipe: Recipe, x: torch.Tensor, optimizers: Mapping[str, torch.optim.Optimizer], *,
               batch_size: int | None = None, grad_clip: Mapping | None = None, bf16: bool = False,
               model=None) -> dict[str, torch.Tensor]:
    """One training step of a recipe on ``x``: every phase, in order (Chapters 3-7; the trainer's step).

    For each phase and repetition: the phase's loss under ``torch.autocast`` (bfloat16) when
    ``bf16`` — the forward pass only —, then outside autocast ``zero_grad``, ``backward``,
    gradient clipping, ``optimizer.step()`` and the phase's post-step hook. ``x`` stacks
    ``recipe.batches_per_step`` minibatches of ``batch_size`` rows (default: ``x`` split into
    ``batches_per_step`` equal minibatches); a phase with ``new_batch`` takes the next one. ``grad_clip`` maps an optimizer
    group to a max norm (or to ``(max_norm, params)``). ``model`` is what is called for the
    forward pass (the trainer passes its DistributedDataParallel wrapper; default ``recipe``).

    Returns the step's loss dictionary, detached, on the device: ``<phase>_loss`` and the
    unweighted terms (averaged over a phase's repetitions). :class:`Trainer` calls this; use it
    directly only to drive two models in lockstep (Chapter 4).
    """
    _v.module(recipe, "recipe", Recipe, "vegan_lib.recipes.Recipe")
    _v.batch(x, recipe.x_shape)
    phases = recipe.phases()
    bps = sum(p.repeats for p in phases if p.new_batch) or 1
    n = x.shape[0] // bps if batch_size is None else _v.integer(batch_size, "batch_size")
    if n < 1 or x.shape[0] != n * bps:
        raise ValueError(f"x must stack batches_per_step = {bps} minibatches of batch_size rows "
                         f"({'batch_size = ' + str(batch_size) if batch_size else 'equal sizes'}), "
                         f"got {x.shape[0]} rows")
    clip = {}
    for group, value in (grad_clip or {}).items():
        clip[group] = value if isinstance(value, tuple) else (
            value, [p for g in optimizers[group].param_groups for p in g["params"]])
    return _run_phases(recipe if model is None else model, recipe, phases, x.split(n), optimizers, clip, bf16, True)


def _run_phases(model, recipe, phases, pieces, optimizers, clip, bf16: bool, check: bool) -> dict:
    """The body of :func:`train_step` on validated inputs (the trainer calls it with cached phases)."""
    ctx: dict = {}
    k, xb, logged = 0, pieces[0], {}
    device_type = xb.device.type
    for phase in phases:
        opt = optimizers[phase.optimizer]
        max_norm = clip.get(phase.optimizer)
        acc = None
        for _ in range(phase.repeats):
            if phase.new_batch:
                xb, k = pieces[k], k + 1
            with torch.autocast(device_type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
                out = model(phase.name, xb, ctx)
            if check and acc is None:
                _check_phase_output(recipe, phase, out)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            if max_norm is not None:
                torch.nn.utils.clip_grad_norm_(max_norm[1], max_norm[0])
            opt.step()
            if phase.post_step is not None:
                phase.post_step()
            if acc is None:
                acc = {(f"{phase.name}_loss" if key == "loss" else key): v.detach().float() for key, v in out.items()}
            else:
                for key, v in out.items():
                    name = f"{phase.name}_loss" if key == "loss" else key
                    acc[name] = acc[name] + v.detach().float()
        if phase.repeats > 1:
            acc = {key: v / phase.repeats for key, v in acc.items()}
        if check and set(acc) & set(logged):
            raise ValueError(f"the phases of {type(recipe).__name__} log the same name(s) {sorted(set(acc) & set(logged))}")
        logged.update(acc)
    return logged


def fit(recipe: Recipe, data, **kwargs) -> Trainer:
    """Build a :class:`Trainer`, run it and return it, as ``Trainer(...).fit()`` does (Chapters 3-7)."""
    return Trainer(recipe, data, **kwargs).fit()
