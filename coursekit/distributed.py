"""Data-parallel training on several processes (GPUs or machines) with ``torchrun``.

Every process (a *rank*) holds a full copy of the model, reads a different part of each batch,
and the gradients are averaged over the ranks before the optimizer steps, so all copies stay
identical. With the global batch kept the same, N ranks train the same model as one process
would, N times faster (minus the communication). Nothing in a model's training code changes:
:func:`coursekit.train.train` calls the functions of this module when it runs under
``torchrun``, and does nothing different otherwise::

    torchrun --nproc_per_node=4 -m coursekit train transformer --profile full --out lm.pt
    # several machines: the same command on each, plus
    #   --nnodes=2 --node_rank=K --rdzv_backend=c10d --rdzv_endpoint=HOST:29500

What happens under ``torchrun`` (it sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``, ``MASTER_PORT`` for each process):

- :func:`init` joins the process group: NCCL when the processes have GPUs (one GPU a process,
  ``cuda:LOCAL_RANK``), gloo on CPUs.
- The data: each *global* batch (the profile's batch size, as in a single process) is shared
  out the way :class:`torch.utils.data.DistributedSampler` shares out a dataset: rank ``r``
  gets items ``r, r + N, r + 2N, ...`` (:func:`shard_indices`, :func:`shard_batch`). Only the
  rank's own items are loaded.
- The gradients: :func:`sync_modules` first copies rank 0's weights to every rank, then
  averages each gradient over the ranks at the end of every ``backward()``, as
  :class:`~torch.nn.parallel.DistributedDataParallel` (DDP) does. It works on the modules
  themselves, so a step function that calls ``model(x)`` (one optimizer, or a GAN's two) needs
  no change. Code that prefers DDP itself wraps its model with :func:`wrap_model` before building
  its step function; :func:`coursekit.train.train` then leaves the gradients to DDP.
- Logged numbers are averaged over the ranks (:func:`all_reduce_mean`); the progress bar,
  prints (``print`` is silenced on the other ranks), cards and checkpoints come from rank 0
  only (:func:`is_main`); every rank stops at the same step (:func:`any_rank`); and every rank
  resumes from rank 0's checkpoint (so with several machines, the checkpoint folder must be
  shared, or copied to each machine before resuming).

Example
-------
>>> from coursekit import distributed as dist
>>> dist.is_distributed(), dist.rank(), dist.world_size(), dist.is_main()   # a plain process
(False, 0, 1, True)
>>> dist.shard_indices(list(range(8)), rank=1, world=2)
[1, 3, 5, 7]
"""

from __future__ import annotations

import atexit
import datetime
import os
import warnings

import torch
import torch.distributed as td

__all__ = ["env_world_size", "is_distributed", "rank", "local_rank", "world_size", "is_main",
           "init", "device", "shard_indices", "shard_batch", "sync_modules", "GradientSync",
           "wrap_model", "unwrap", "all_reduce_mean", "any_rank", "broadcast_buffers",
           "barrier", "cleanup"]


# ---------------------------------------------------------------------------------------------
# Who am I?
# ---------------------------------------------------------------------------------------------

def env_world_size() -> int:
    """The number of processes ``torchrun`` started (``WORLD_SIZE``; 1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    """True when the process group is up and has more than one rank."""
    return td.is_available() and td.is_initialized() and td.get_world_size() > 1


def rank() -> int:
    """This process's number, 0..world_size-1 (0 without torchrun)."""
    return td.get_rank() if is_distributed() else int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's number on its machine: which GPU it uses."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def world_size() -> int:
    """How many processes train together (1 without torchrun)."""
    return td.get_world_size() if is_distributed() else env_world_size()


def is_main() -> bool:
    """True on rank 0: the one process that prints, draws progress bars and writes files."""
    return rank() == 0


# ---------------------------------------------------------------------------------------------
# Joining and leaving
# ---------------------------------------------------------------------------------------------

def init(backend: str | None = None, timeout_s: float = 1800.0) -> bool:
    """Join the process group described by torchrun's environment variables.

    Does nothing (and returns False) without torchrun (``WORLD_SIZE`` unset or 1) or when the
    group is already up. ``backend``: ``'nccl'`` when CUDA is available, else ``'gloo'``.
    The group is left at exit (:func:`cleanup`).
    """
    if env_world_size() <= 1 or td.is_initialized():
        return False
    missing = [v for v in ("RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise ValueError(f"WORLD_SIZE={env_world_size()} but {', '.join(missing)} not set: start "
                         "the processes with torchrun (torchrun --nproc_per_node=N -m coursekit ...)")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    td.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    atexit.register(cleanup)
    if not is_main():
        _quiet_print()
    return True


def _quiet_print() -> None:
    """On ranks other than 0, ``print`` says nothing (``print(..., force=True)`` still does),
    so a model's messages appear once, not once a rank."""
    import builtins

    builtin_print = builtins.print

    def print(*args, force=False, **kwargs):
        if force:
            builtin_print(*args, **kwargs)

    builtins.print = print


def device(pref: str | None = None) -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` when CUDA is there (and ``pref`` is not
    ``'cpu'``), else the CPU."""
    if pref != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", local_rank())
    return torch.device("cpu")


def barrier() -> None:
    """Wait until every rank gets here (no-op in a single process)."""
    if is_distributed():
        td.barrier()


def cleanup() -> None:
    """Leave the process group (safe to call twice, or without one)."""
    if td.is_available() and td.is_initialized():
        td.destroy_process_group()


# ---------------------------------------------------------------------------------------------
# Data: each rank its share of every global batch
# ---------------------------------------------------------------------------------------------

def shard_indices(indices, rank: int | None = None, world: int | None = None) -> list:
    """Rank ``rank``'s share of ``indices``: items ``rank, rank + world, ...``, the rule of
    :class:`~torch.utils.data.DistributedSampler`. The shares of all ranks together are
    ``indices``, so the global batch is the one a single process would see."""
    rank = globals()["rank"]() if rank is None else rank
    world = world_size() if world is None else world
    return list(indices)[rank::world]


_warned_uneven = False


def shard_batch(batch, rank: int | None = None, world: int | None = None):
    """This rank's share of an already loaded batch (tensors split along dim 0; tuples, lists
    and dicts of them; anything else is kept whole)."""
    global _warned_uneven
    r = globals()["rank"]() if rank is None else rank
    w = world_size() if world is None else world
    if isinstance(batch, torch.Tensor):
        if batch.ndim == 0:
            return batch
        if len(batch) % w and not _warned_uneven:
            _warned_uneven = True
            warnings.warn(f"a batch of {len(batch)} does not split evenly over {w} ranks: the "
                          "averaged gradient weighs the ranks' items unequally; use a batch size "
                          "divisible by the number of processes", stacklevel=2)
        return batch[r::w]
    if isinstance(batch, dict):
        return {k: shard_batch(v, r, w) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard_batch(v, r, w) for v in batch)
    return batch


# ---------------------------------------------------------------------------------------------
# Gradients: averaged over the ranks at the end of every backward()
# ---------------------------------------------------------------------------------------------

class GradientSync:
    """Average the gradients of ``modules`` over all ranks at the end of each ``backward()``.

    What DDP's reducer does, without wrapping the modules: a hook on every parameter notes that
    its gradient is ready; the first one queues a callback that runs when the backward pass is
    over and all-reduces, in one flat message, the gradients of every parameter that received
    one (in a fixed order, so all ranks send the same message). Since averaging is linear,
    gradients accumulated over several backward passes stay correct.
    """

    def __init__(self, modules):
        self.params, seen = [], set()
        for m in modules:
            for p in m.parameters():
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    self.params.append(p)
        self._index = {id(p): i for i, p in enumerate(self.params)}
        self._ready: set[int] = set()
        self._queued = False
        self._handles = [p.register_post_accumulate_grad_hook(self._on_grad) for p in self.params]

    def _on_grad(self, p) -> None:
        self._ready.add(self._index[id(p)])
        if not self._queued:
            self._queued = True
            torch.autograd.Variable._execution_engine.queue_callback(self._reduce)

    def _reduce(self) -> None:
        ready, self._ready, self._queued = sorted(self._ready), set(), False
        grads = [self.params[i].grad for i in ready if self.params[i].grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        td.all_reduce(flat)
        flat /= td.get_world_size()
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def remove(self) -> None:
        """Take the hooks off (the modules train alone again)."""
        for h in self._handles:
            h.remove()
        self._handles = []


def _broadcast(tensors) -> None:
    for t in tensors:
        td.broadcast(t.data, src=0)


def broadcast_buffers(modules) -> None:
    """Copy rank 0's buffers (e.g. BatchNorm running statistics) to every rank, as DDP does
    before each forward pass."""
    if is_distributed():
        with torch.no_grad():
            _broadcast([b for m in modules for b in m.buffers()])


def sync_modules(modules) -> GradientSync | None:
    """Make ``modules`` train data-parallel: rank 0's weights and buffers copied to every rank,
    gradients averaged after each backward. Returns the :class:`GradientSync` (None in a single
    process, or when every module is already wrapped in DDP)."""
    modules = [m for m in modules if not isinstance(m, torch.nn.parallel.DistributedDataParallel)]
    if not is_distributed() or not modules:
        return None
    with torch.no_grad():
        _broadcast([p for m in modules for p in m.parameters()])
        _broadcast([b for m in modules for b in m.buffers()])
    return GradientSync(modules)


def wrap_model(model: torch.nn.Module, **ddp_kwargs) -> torch.nn.Module:
    """``model`` wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` (the model itself
    in a single process). Build the step function on the returned object; checkpoints store the
    inner model (:func:`unwrap`)."""
    if not is_distributed():
        return model
    dev = next(model.parameters()).device
    ids = [dev.index] if dev.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, **ddp_kwargs)


def unwrap(model):
    """The module inside a DDP wrapper (or ``model`` itself)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


# ---------------------------------------------------------------------------------------------
# Numbers: averaged logs, one decision for all
# ---------------------------------------------------------------------------------------------

def all_reduce_mean(values: dict) -> dict:
    """The mean over all ranks of each float in ``values`` (the same keys on every rank)."""
    if not is_distributed() or not values:
        return dict(values)
    keys = sorted(values)
    dev = device() if td.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=dev)
    td.all_reduce(t)
    t /= td.get_world_size()
    return dict(zip(keys, t.tolist()))


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any (e.g. "my time budget is spent")."""
    if not is_distributed():
        return bool(flag)
    dev = device() if td.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([1.0 if flag else 0.0], device=dev)
    td.all_reduce(t, op=td.ReduceOp.MAX)
    return bool(t.item() > 0)
