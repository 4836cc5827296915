"""The one training loop every model of the course uses.

A model's recipe says what its loss is: a *loss function* of a batch, made into a step by
:func:`make_step` (backward, clipping, optimizer step), or, where one step means more than one
update (a GAN's two players), a *step function* of its own. :func:`train` owns the plumbing, the
same way for every model: the device (models, every batch), seeds, an endless stream of batches,
the learning-rate schedule (:func:`warmup_cosine`), mixed precision, a progress bar, a time
budget, an evaluation hook, checkpoints (:mod:`coursekit.checkpoint`) written atomically, and
resuming after an interruption. Random tensors a step draws take the device of its batch
(``torch.randn_like``, ``device=x.device``).

Example
-------
>>> import torch
>>> from coursekit.train import train, make_step, seed_everything
>>> seed_everything(0)
0
>>> model = torch.nn.Linear(4, 1)
>>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
>>> batches = [(torch.randn(8, 4), torch.randn(8, 1)) for _ in range(3)]
>>> step = make_step(model, opt, lambda b: torch.nn.functional.mse_loss(model(b[0]), b[1]))
>>> history = train(step, batches, state={"model": model, "opt": opt}, max_steps=5,
...                 progress=False)
>>> len(history), sorted(history[-1])
(5, ['loss', 'step', 'time'])

Several GPUs or machines: the same code runs unchanged under ``torchrun`` (see
:mod:`coursekit.distributed`). :func:`pick_device` takes the GPU from ``LOCAL_RANK``, each rank
loads its share of every global batch, gradients are averaged over the ranks, the logged floats
too, and only rank 0 draws the progress bar and writes checkpoints.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from . import checkpoint, distributed
from .device import amp_dtype, pick_device  # noqa: F401  (pick_device: part of this API)

__all__ = ["seed_everything", "pick_device", "to_device", "data_device", "warmup_cosine",
           "InfiniteLoader", "History", "optimizer_step", "make_step", "train"]


# ---------------------------------------------------------------------------------------------
# Seeds and devices
# ---------------------------------------------------------------------------------------------

def seed_everything(seed: int = 0, deterministic: bool = False) -> int:
    """Seed Python's, NumPy's and torch's random generators (and CUDA's); return ``seed``.

    ``deterministic=True`` also asks torch for deterministic kernels (slower on GPU).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    return seed


# ---------------------------------------------------------------------------------------------
# Data: an endless, resumable stream of batches
# ---------------------------------------------------------------------------------------------

class InfiniteLoader:
    """Batches from a DataLoader, epoch after epoch, forever; its position can be saved.

    Each epoch's shuffle is drawn from a generator seeded with ``seed + epoch``, so the order
    of batches does not depend on anything else the program does, and a resumed run skips to
    the saved position (without loading the skipped batches) and sees the very same batches.
    Any other iterable (a list of batches, a generator) is cycled as it is.
    """

    def __init__(self, loader: Iterable, seed: int = 0):
        self.loader, self.seed = loader, seed
        self.epoch, self.batch_in_epoch = 0, 0
        self._it = None

    def _epoch_iterator(self, skip: int):
        loader = self.loader
        if not isinstance(loader, torch.utils.data.DataLoader) or loader.batch_sampler is None:
            it = iter(loader)
            for _ in range(skip):
                next(it)
            if distributed.world_size() > 1:  # torchrun: keep this rank's share of each batch
                return map(distributed.shard_batch, it)
            return it
        sampler = loader.sampler
        if hasattr(sampler, "generator"):  # RandomSampler: seed this epoch's permutation
            sampler.generator = torch.Generator().manual_seed(self.seed + self.epoch)
        batches = list(loader.batch_sampler)[skip:]
        if distributed.world_size() > 1:  # torchrun: this rank's share of each global batch
            batches = [distributed.shard_indices(b) for b in batches]
        return iter(torch.utils.data.DataLoader(
            loader.dataset, batch_sampler=batches, collate_fn=loader.collate_fn,
            num_workers=loader.num_workers, pin_memory=loader.pin_memory,
            worker_init_fn=loader.worker_init_fn,
            generator=torch.Generator().manual_seed(self.seed + self.epoch)))

    def __iter__(self):
        return self

    def __next__(self):
        if self._it is None:
            self._it = self._epoch_iterator(self.batch_in_epoch)
        try:
            batch = next(self._it)
        except StopIteration:
            if self.batch_in_epoch == 0:
                raise ValueError("the training data yields no batches; is the dataset empty "
                                 "(or smaller than the batch size with drop_last=True)?") from None
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
            self._it = self._epoch_iterator(0)
            return next(self)
        self.batch_in_epoch += 1
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.batch_in_epoch = int(state["epoch"]), int(state["batch_in_epoch"])
        self.seed = int(state.get("seed", self.seed))
        self._it = None


# ---------------------------------------------------------------------------------------------
# Random states (so that a resumed run draws the same random numbers)
# ---------------------------------------------------------------------------------------------

def _rng_state() -> dict:
    np_state = np.random.get_state()
    state = {"python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
             "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                       "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------------------------
# Devices, schedules and resuming
# ---------------------------------------------------------------------------------------------

def to_device(obj, device):
    """``obj`` with every tensor in it (in tuples, lists and dicts too) moved to ``device``."""
    if torch.is_tensor(obj):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        moved = [to_device(v, device) for v in obj]
        return type(obj)(*moved) if hasattr(obj, "_fields") else type(obj)(moved)
    return obj


def data_device(device=None, on_device: bool | None = None) -> torch.device:
    """Where a recipe keeps its in-memory training set (notes, clips, tokens, latents): on
    ``device`` when it is a CUDA GPU and ``on_device`` (default: the active profile's
    ``train.data_on_device``, true in ``full``) says so, so batches are cut there without a copy
    from the host each step; else on the CPU, and the loop moves each batch.

    >>> data_device("cpu", on_device=True)
    device(type='cpu')
    """
    from .profiles import get_profile

    on_device = get_profile().train.data_on_device if on_device is None else on_device
    device = pick_device(device) if device is not None else torch.device("cpu")
    return device if on_device and device.type == "cuda" else torch.device("cpu")


def warmup_cosine(warmup: int = 100, floor: float = 0.1) -> Callable[[int, float], float]:
    """The course's learning-rate schedule, as a factor of each optimizer's learning rate.

    A linear warm-up over ``warmup`` steps, then a cosine from 1 down to ``floor`` over the run.
    ``progress`` runs from 0 to 1: the fraction of ``max_steps`` or of the time budget spent,
    whichever is larger (a time-budgeted run anneals on the clock).

    >>> f = warmup_cosine(warmup=10, floor=0.1)
    >>> round(f(0, 0.0), 2), round(f(9, 0.0), 2), round(f(500, 0.5), 2), round(f(1000, 1.0), 2)
    (0.1, 1.0, 0.55, 0.1)
    """
    def factor(step: int, progress: float) -> float:
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, progress))))
        return min(1.0, (step + 1) / max(1, warmup)) * (floor + (1 - floor) * cosine)
    return factor


RESUME_HINT = ("resume with the --profile and flags of the interrupted run, or pass --overwrite "
               "instead of --resume to start afresh (replacing it)")


def _restore(path, state: dict, restore_rng: bool = True) -> dict:
    """Load a training checkpoint's entries into the objects of ``state``; return the checkpoint.

    A file that is not a training checkpoint of this run (unreadable, an entry missing, weights
    or optimizer states of other shapes) is one ``ValueError`` naming it."""
    ckpt = checkpoint.load(path, hint=RESUME_HINT)
    for key, obj in state.items():
        if key not in ckpt["state"]:
            raise ValueError(f"{path} has no entry {key!r}; it holds {', '.join(ckpt['state'])}; "
                             f"{RESUME_HINT}")
        try:
            getattr(obj, "module", obj).load_state_dict(ckpt["state"][key])  # (inside DDP)
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as err:
            raise ValueError(f"{path}: its {key!r} state does not fit this run "
                             f"({checkpoint.misfit(err)}); {RESUME_HINT}") from None
    if restore_rng and "rng" in ckpt:
        try:
            _set_rng_state(ckpt["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{path}: its random states cannot be restored "
                             f"({checkpoint.misfit(err)}); {RESUME_HINT}") from None
    if not isinstance(ckpt.get("step"), int) or not isinstance(ckpt.get("data"), dict):
        raise ValueError(f"{path} lacks the step and data position of a training run; {RESUME_HINT}")
    return ckpt


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------

class History(list):
    """The list of per-step dicts :func:`train` returns, with a helper for loss curves."""

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of every entry that has ``key``, ready for ``plt.plot``."""
        rows = [(h["step"], h[key]) for h in self if key in h]
        if not rows:
            keys = sorted({k for h in self for k in h})
            raise KeyError(f"no entry of the history has {key!r}; keys: {', '.join(keys)}")
        steps, values = zip(*rows)
        return np.asarray(steps), np.asarray(values, dtype=float)


# the gradient scaler of the running train() loop (float16 autocast) and how many optimizer
# steps of the current training step went through it
_SCALERS: list = []


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, params=None,
                   clip_grad: float | None = None) -> None:
    """Backward of ``loss`` and one step of ``optimizer`` (gradients of ``params`` clipped to
    norm ``clip_grad`` first), the way every step of the course updates weights.

    Inside a :func:`train` loop that runs float16 autocast (``amp=True`` on a GPU without
    bfloat16) the loss is scaled for the backward pass and the step skipped when the
    gradients overflowed (``torch.amp.GradScaler``); a step that updates several optimizers
    (a GAN's two players) calls this once for each. The backward pass runs outside autocast.
    """
    scaler = _SCALERS[-1]["scaler"] if _SCALERS else None  # (None outside a loop, or without float16)
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(loss.device.type, enabled=False):
        (scaler.scale(loss) if scaler is not None else loss).backward()
        if clip_grad is not None:
            if scaler is not None:
                scaler.unscale_(optimizer)
            params = params if params is not None else \
                [p for g in optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, clip_grad)
        if scaler is not None:
            scaler.step(optimizer)
            _SCALERS[-1]["steps"] += 1
        else:
            optimizer.step()


def make_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable,
              clip_grad: float | None = None, scheduler=None) -> Callable:
    """The usual one-model step: ``loss = loss_fn(batch)``, backward, (clip), optimizer step
    (:func:`optimizer_step`, which scales the loss under float16 mixed precision).

    ``loss_fn`` returns a scalar tensor, or ``(loss, {name: float})`` to log more numbers.
    """
    def step_fn(batch, step):
        model.train()
        out = loss_fn(batch)
        loss, logs = out if isinstance(out, tuple) else (out, {})
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; "
                                     "lower the learning rate or check the data")
        optimizer_step(loss, optimizer, model.parameters(), clip_grad)
        if scheduler is not None:
            scheduler.step()
        return {"loss": loss.item(), **{k: float(v) for k, v in logs.items()}}
    return step_fn


def train(step_fn: Callable[[object, int], dict], data: Iterable, state: dict,
          max_steps: int | None = None, time_budget_s: float | None = None,
          ckpt_path=None, ckpt_every: int | None = None, resume: bool = False,
          eval_fn: Callable[[int], dict] | None = None, eval_every: int | None = None,
          config: dict | None = None, seed: int = 0, desc: str = "train",
          progress: bool = True, kind: str = "run", device=None,
          schedule: Callable[[int, float], float] | None = None, amp: bool | None = None) -> History:
    """Run ``step_fn(batch, step)`` until ``max_steps`` or the time budget is reached.

    Parameters
    ----------
    step_fn : callable
        One training step; returns a dict of floats (``{"loss": 0.3}``, ``{"d_loss": .., "g_loss": ..}``).
        It receives the batch already on the models' device (:func:`make_step` builds one from a
        loss function).
    data : DataLoader or iterable
        Cycled endlessly through :class:`InfiniteLoader`.
    state : dict
        Everything to checkpoint: models, optimizers, schedulers (anything with ``state_dict``).
    max_steps : int, optional
        Stop after this many steps in total (counting the steps of a resumed run).
    time_budget_s : float, optional
        Stop after this many seconds of training (in total over resumes); default: the
        profile's ``train.time_budget_s``. Pass ``float('inf')`` for no limit.
    ckpt_path, ckpt_every :
        Write a checkpoint (:mod:`coursekit.checkpoint`, of ``kind``) every ``ckpt_every`` steps
        (default: profile's ``train.ckpt_every``) and at the end.
    resume : bool
        Continue from ``ckpt_path`` when it exists: weights, optimizer states, step, random
        states, data position and history, so the run ends exactly as an uninterrupted one.
    eval_fn, eval_every :
        ``eval_fn(step) -> dict`` every ``eval_every`` steps; its numbers join the history.
        It runs with its own random state, so evaluating never changes the training.
    config : dict
        Plain JSON-able settings stored in the checkpoint.
    device : str or torch.device, optional
        Where to train (:func:`pick_device`): every module of ``state`` is moved there, and every
        batch. Default: where the first module of ``state`` already is.
    schedule : callable, optional
        ``schedule(step, progress) -> factor`` of each optimizer's learning rate before each step
        (:func:`warmup_cosine`); ``progress`` is the fraction of the steps or time budget spent.
    amp : bool, optional
        Mixed precision on a CUDA device (default: the profile's ``train.amp``, true in
        ``full``): the step runs under autocast in :func:`coursekit.device.amp_dtype`
        (bfloat16 where the GPU has it, else float16 with a gradient scaler that
        :func:`optimizer_step` uses and the checkpoints keep); nothing changes on a CPU or MPS.

    Returns
    -------
    History
        One dict per step: ``step``, ``time`` (seconds) and the floats ``step_fn`` returned.
    """
    from tqdm.auto import tqdm

    from .profiles import get_profile

    distributed.init()  # under torchrun: join the other ranks (no-op otherwise)
    prof = get_profile().train
    time_budget_s = prof.time_budget_s if time_budget_s is None else time_budget_s
    ckpt_every = ckpt_every or prof.ckpt_every
    amp = prof.amp if amp is None else amp
    if max_steps is None and time_budget_s == float("inf"):
        raise ValueError("give max_steps or a finite time_budget_s, or the loop never ends")
    modules = [m for m in state.values() if isinstance(m, torch.nn.Module)]
    if device is not None or distributed.world_size() > 1:
        device = pick_device(device)
        for m in modules:
            m.to(device)
    else:
        device = next((p.device for m in modules for p in m.parameters()), torch.device("cpu"))
    optimizers = [o for o in state.values() if isinstance(o, torch.optim.Optimizer)]
    for opt in optimizers:
        for g in opt.param_groups:
            g.setdefault("initial_lr", g["lr"])
    dtype = amp_dtype(device) if amp else None
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype is not None \
        else contextlib.nullcontext
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    saved = {**state, "amp_scaler": scaler} if scaler is not None else state
    grad_sync = distributed.sync_modules(modules)  # torchrun: same weights, averaged gradients
    loader = InfiniteLoader(data, seed=seed)
    history, step, elapsed0 = History(), 0, 0.0

    if resume and ckpt_path is not None and Path(ckpt_path).exists():
        ckpt = _restore(ckpt_path, state)
        if scaler is not None and "amp_scaler" in ckpt["state"]:
            scaler.load_state_dict(ckpt["state"]["amp_scaler"])
        step, elapsed0 = ckpt["step"], ckpt.get("elapsed_s", 0.0)
        history.extend(ckpt.get("history", []))
        loader.load_state_dict(ckpt["data"])
        if distributed.is_main():
            print(f"resumed from {ckpt_path} at step {step}")

    def elapsed() -> float:
        return elapsed0 + time.perf_counter() - t0

    def checkpoint_now():
        if ckpt_path is not None:
            checkpoint.save(ckpt_path, kind=kind, config=config or {}, state=saved, step=step,
                            history=list(history), data=loader.state_dict(), elapsed_s=elapsed(),
                            rng=_rng_state())
            distributed.barrier()  # no rank reads a checkpoint before it is written

    t0 = time.perf_counter()
    bar = tqdm(total=max_steps, initial=step, desc=desc, disable=not progress or not distributed.is_main())
    stop_reason, clean = "max_steps", True  # clean: the state matches `step` (not mid-step)
    try:
        while max_steps is None or step < max_steps:
            # (under torchrun every rank stops at the same step: if any rank's budget is spent)
            if distributed.any_rank(elapsed() >= time_budget_s):
                stop_reason = "time budget"
                break
            clean = False
            for m in modules:
                m.train()
            if schedule is not None:
                done = max(step / max_steps if max_steps else 0.0,
                           elapsed() / time_budget_s if math.isfinite(time_budget_s) else 0.0)
                factor = schedule(step, done)
                for opt in optimizers:
                    for g in opt.param_groups:
                        g["lr"] = g["initial_lr"] * factor
            batch = to_device(next(loader), device)
            if scaler is not None:
                _SCALERS.append({"scaler": scaler, "steps": 0})
            try:
                with autocast():
                    logs = {k: float(v) for k, v in step_fn(batch, step).items()}
            finally:
                scaled = _SCALERS.pop()["steps"] if scaler is not None else 0
            if scaled:
                scaler.update()  # the next step's scale, after every optimizer of this one stepped
            if schedule is not None and optimizers:
                logs["lr"] = optimizers[0].param_groups[0]["lr"]
            if distributed.is_distributed():  # torchrun: average the logs, share rank 0's buffers
                logs = distributed.all_reduce_mean(logs)
                distributed.broadcast_buffers(modules)
            step += 1
            entry = {"step": step, "time": round(elapsed(), 3), **logs}
            if eval_fn is not None and eval_every and step % eval_every == 0:
                rng = _rng_state()
                for m in modules:
                    m.eval()
                with torch.no_grad():
                    entry.update({k: float(v) for k, v in eval_fn(step).items()})
                _set_rng_state(rng)
            history.append(entry)
            clean = True
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
            if step % ckpt_every == 0:
                checkpoint_now()
    except KeyboardInterrupt:
        stop_reason = "interrupted"
    finally:
        bar.close()
        if grad_sync is not None:
            grad_sync.remove()
    if clean:
        checkpoint_now()
    elif ckpt_path is not None:
        print(f"interrupted in the middle of step {step + 1}: the checkpoint of the last "
              f"completed save in {ckpt_path} is kept")
    if progress and distributed.is_main():
        print(f"{desc}: stopped after {step} steps ({stop_reason}), {elapsed():.1f} s"
              + ("; run again with resume=True to continue" if stop_reason == "interrupted" else ""))
    return history
