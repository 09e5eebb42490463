"""Data-parallel training on ``torch.distributed`` (launched by ``torchrun``), Chapters 3-7.

The :class:`~vegan_lib.train.Trainer` trains with ``DistributedDataParallel`` when it runs
under ``torchrun --nproc_per_node N`` (or whenever a process group is initialised): NCCL on
GPUs, Gloo on CPUs. ``batch_size`` stays the **global** minibatch; each of the N processes
takes its contiguous shard of every global minibatch, DDP averages the gradients, rank 0
writes the checkpoints and shows the progress bar.

So that a distributed run computes the same objective as a single process with the same
global batch, the recipes draw their noise and compute their sample-based penalties through
the two helpers below, which are the identity outside a distributed training step:

- :func:`randn` / :func:`rand`: every rank draws the noise of the *whole* global batch from
  the same RNG stream (all ranks are seeded alike) and keeps its own rows, so rank r sees
  exactly the rows a single process would pair with its shard;
- :func:`gather`: an autograd-aware all-gather, so that a penalty on pairs of codes (MMD,
  sliced Wasserstein, Sinkhorn) sees the global batch; its backward sums the ranks' gradients
  of this process's rows (every rank computes the same global penalty), which DDP's averaging
  turns back into the gradient of the single-process objective.

No process management lives here: ``torchrun`` starts the processes and sets ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime
import os

import torch
import torch.distributed as dist

__all__ = ["is_distributed", "rank", "world_size", "is_main_process", "init_from_env", "barrier",
           "sharded", "randn", "rand", "gather"]

_SHARDED: contextvars.ContextVar[bool] = contextvars.ContextVar("vegan_sharded", default=False)


def is_distributed() -> bool:
    """True when a ``torch.distributed`` process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 outside a distributed run)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes (1 outside a distributed run)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on rank 0 (and in every non-distributed run): the process that writes and prints."""
    return rank() == 0


def init_from_env(device_type: str | None = None, timeout_s: float = 600.0) -> bool:
    """Initialise the default process group from ``torchrun``'s environment, once.

    Returns True when a multi-process group is (now) initialised, False when ``WORLD_SIZE`` is
    unset or 1. The backend is NCCL when ``device_type`` is ``"cuda"`` (default: CUDA if
    available), Gloo otherwise.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
    if device_type is None:
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
    backend = "nccl" if device_type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return dist.get_world_size() > 1


def barrier() -> None:
    """Wait for every process (no-op outside a distributed run)."""
    if is_distributed():
        dist.barrier()


@contextlib.contextmanager
def sharded(active: bool = True):
    """Within this context (the trainer's optimisation step), :func:`randn`, :func:`rand` and
    :func:`gather` act across processes; outside it they are local (evaluation, sampling)."""
    token = _SHARDED.set(bool(active) and is_distributed())
    try:
        yield
    finally:
        _SHARDED.reset(token)


def _active() -> bool:
    return _SHARDED.get()


def _draw(fn, shape, device, dtype, generator):
    shape = tuple(shape)
    if not _active() or not shape:
        return fn(shape, device=device, dtype=dtype, generator=generator)
    n, w = shape[0], dist.get_world_size()
    full = fn((n * w, *shape[1:]), device=device, dtype=dtype, generator=generator)
    r = dist.get_rank()
    return full[r * n:(r + 1) * n]


def randn(shape, device=None, dtype=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise for this process's rows of the global batch (``torch.randn`` when local)."""
    return _draw(torch.randn, shape, device, dtype, generator)


def rand(shape, device=None, dtype=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform [0, 1) noise for this process's rows of the global batch (``torch.rand`` when local)."""
    return _draw(torch.rand, shape, device, dtype, generator)


class _Gather(torch.autograd.Function):
    """all_gather along dim 0; backward: the sum over processes of the gradient of this process's rows."""

    @staticmethod
    def forward(ctx, x):
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = x.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        r, n = dist.get_rank(), ctx.rows
        return grad[r * n:(r + 1) * n]


def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (same shape on every process) over the processes along dim 0,
    differentiably (the identity outside a distributed training step)."""
    if not _active():
        return x
    return _Gather.apply(x)
