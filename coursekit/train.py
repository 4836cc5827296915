"""The one training loop every model of the course uses.

A model chapter writes a *step function*: it takes a batch and the step number, does whatever
one training step means for that model (one optimizer for a classifier, two for a GAN) and
returns its losses as plain floats. :func:`train` does the rest, the same way for every model:
seeds, an endless stream of batches, a progress bar, a time budget, an evaluation hook,
checkpoints written atomically, and resuming after an interruption.

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

import json
import os
import platform
import random
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

__all__ = ["seed_everything", "pick_device", "InfiniteLoader", "History", "make_step", "train",
           "save_checkpoint", "load_checkpoint", "write_card", "read_card"]


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


def pick_device(pref: str | None = None) -> torch.device:
    """The device to train on: ``pref`` if given (``'cuda'``, ``'cuda:1'``, ``'mps'``, ``'cpu'``),
    else ``$COURSEKIT_DEVICE``, else the best available: CUDA, then Apple MPS, then CPU.

    Raises ValueError when the asked device is not available, saying what is.
    """
    pref = (pref or os.environ.get("COURSEKIT_DEVICE") or "auto").strip().lower()
    if pref in ("auto", "cuda") and "LOCAL_RANK" in os.environ and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))  # torchrun: one GPU a rank
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": has_mps}
    kind = pref.split(":")[0]
    if kind not in available:
        raise ValueError(f"unknown device {pref!r}; use cuda, cuda:N, mps, cpu or auto")
    if not available[kind]:
        have = ", ".join(k for k, ok in available.items() if ok)
        raise ValueError(f"device {pref!r} is not available on this machine (available: {have}); "
                         "leave the device unset to pick the best one")
    return torch.device(pref)


def _is_main_process() -> bool:
    # With DDP only rank 0 draws progress bars and writes checkpoints.
    return int(os.environ.get("RANK", "0")) == 0


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
        from . import distributed

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
# Checkpoints and cards
# ---------------------------------------------------------------------------------------------

def save_checkpoint(path, state: dict, step: int = 0, config: dict | None = None,
                    **extra) -> Path:
    """Write ``state`` (models, optimizers, schedulers: anything with ``state_dict()``), the
    step, the random states, a JSON-able ``config`` and ``extra`` entries to ``path``, atomically.

    The file is first written next to ``path`` and then renamed over it, so an interruption
    never leaves a half-written checkpoint behind. Only tensors, numbers, strings, lists and
    dicts are stored, so :func:`load_checkpoint` can use ``torch.load(weights_only=True)``.
    """
    from .distributed import unwrap

    if config is not None:
        json.dumps(config)  # fails early, with the offending value, if config is not plain data
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"state": {k: unwrap(v).state_dict() for k, v in state.items()}, "step": int(step),
               "config": config or {}, "rng": _rng_state(), **extra}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path, state: dict | None = None, map_location="cpu",
                    restore_rng: bool = False) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Loads the saved weights into each object of ``state`` (same keys as when saved) and returns
    the whole checkpoint dict (``step``, ``config``, ``history``, ...).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    for key, obj in (state or {}).items():
        if key not in ckpt["state"]:
            raise ValueError(f"{path} has no entry {key!r}; it holds {', '.join(ckpt['state'])}")
        getattr(obj, "module", obj).load_state_dict(ckpt["state"][key])  # (inside DDP)
    if restore_rng:
        _set_rng_state(ckpt["rng"])
    return ckpt


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def hardware() -> str:
    """A one-line description of the machine (CPU threads, GPU) for cards and benchmarks."""
    desc = f"{platform.machine()} CPU, {os.cpu_count()} logical cores, torch {torch.__version__}"
    if torch.cuda.is_available():
        desc += f", GPU {torch.cuda.get_device_name(0)}"
    return desc + f", {torch.get_num_threads()} torch threads"


def command_line(fallback: str) -> str:
    """The command that is running, as a card records it: ``python -m coursekit`` and every
    argument as typed (``--time-budget``, ``--resume`` and ``--init`` included), or ``fallback``
    when training was called from Python rather than from the command line."""
    import shlex
    import sys

    if sys.argv and sys.argv[0].endswith("__main__.py"):
        return "python -m coursekit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return fallback


def write_card(path, **info) -> Path:
    """Write a reference checkpoint's card: a JSON file with ``info`` (command, data, profile,
    wall time, metrics, ...) plus the git commit, hardware, versions and date, filled in when
    not given. Written atomically, like checkpoints (by rank 0 only under torchrun)."""
    if not _is_main_process():
        return Path(path)
    card = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git_commit": _git_commit(), "hardware": hardware(),
            "python": platform.python_version(), "torch": torch.__version__}
    card.update(info)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(card, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return path


def read_card(path) -> dict:
    """The card written by :func:`write_card`."""
    return json.loads(Path(path).read_text())


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


def make_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable,
              clip_grad: float | None = None, scheduler=None) -> Callable:
    """The usual one-model step: ``loss = loss_fn(batch)``, backward, (clip), optimizer step.

    ``loss_fn`` returns a scalar tensor, or ``(loss, {name: float})`` to log more numbers.
    """
    def step_fn(batch, step):
        model.train()
        out = loss_fn(batch)
        loss, logs = out if isinstance(out, tuple) else (out, {})
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; "
                                     "lower the learning rate or check the data")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return {"loss": loss.item(), **{k: float(v) for k, v in logs.items()}}
    return step_fn


def train(step_fn: Callable[[object, int], dict], data: Iterable, state: dict,
          max_steps: int | None = None, time_budget_s: float | None = None,
          ckpt_path=None, ckpt_every: int | None = None, resume: bool = False,
          eval_fn: Callable[[int], dict] | None = None, eval_every: int | None = None,
          config: dict | None = None, seed: int = 0, desc: str = "train",
          progress: bool = True) -> History:
    """Run ``step_fn(batch, step)`` until ``max_steps`` or the time budget is reached.

    Parameters
    ----------
    step_fn : callable
        One training step; returns a dict of floats (``{"loss": 0.3}``, ``{"d_loss": .., "g_loss": ..}``).
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
        Write a checkpoint every ``ckpt_every`` steps (default: profile's ``train.ckpt_every``)
        and at the end.
    resume : bool
        Continue from ``ckpt_path`` when it exists: weights, optimizer states, step, random
        states, data position and history, so the run ends exactly as an uninterrupted one.
    eval_fn, eval_every :
        ``eval_fn(step) -> dict`` every ``eval_every`` steps; its numbers join the history.
        It runs with its own random state, so evaluating never changes the training.
    config : dict
        Plain JSON-able settings stored in the checkpoint.

    Returns
    -------
    History
        One dict per step: ``step``, ``time`` (seconds) and the floats ``step_fn`` returned.
    """
    from tqdm.auto import tqdm

    from . import distributed
    from .profiles import get_profile

    distributed.init()  # under torchrun: join the other ranks (no-op otherwise)
    prof = get_profile().train
    time_budget_s = prof.time_budget_s if time_budget_s is None else time_budget_s
    ckpt_every = ckpt_every or prof.ckpt_every
    if max_steps is None and time_budget_s == float("inf"):
        raise ValueError("give max_steps or a finite time_budget_s, or the loop never ends")
    modules = [m for m in state.values() if isinstance(m, torch.nn.Module)]
    grad_sync = distributed.sync_modules(modules)  # torchrun: same weights, averaged gradients
    loader = InfiniteLoader(data, seed=seed)
    history, step, elapsed0 = History(), 0, 0.0

    if resume and ckpt_path is not None and Path(ckpt_path).exists():
        ckpt = load_checkpoint(ckpt_path, state, restore_rng=True)
        step, elapsed0 = ckpt["step"], ckpt.get("elapsed_s", 0.0)
        history.extend(ckpt.get("history", []))
        loader.load_state_dict(ckpt["data"])
        if _is_main_process():
            print(f"resumed from {ckpt_path} at step {step}")

    def checkpoint():
        if ckpt_path is not None and _is_main_process():
            save_checkpoint(ckpt_path, state, step, config, history=list(history),
                            data=loader.state_dict(), elapsed_s=elapsed0 + time.perf_counter() - t0)
        if ckpt_path is not None:
            distributed.barrier()  # no rank reads a checkpoint before it is written

    t0 = time.perf_counter()
    bar = tqdm(total=max_steps, initial=step, desc=desc, disable=not progress or not _is_main_process())
    stop_reason, clean = "max_steps", True  # clean: the state matches `step` (not mid-step)
    try:
        while max_steps is None or step < max_steps:
            # (under torchrun every rank stops at the same step: if any rank's budget is spent)
            if distributed.any_rank(elapsed0 + time.perf_counter() - t0 >= time_budget_s):
                stop_reason = "time budget"
                break
            clean = False
            for m in modules:
                m.train()
            batch = next(loader)
            logs = {k: float(v) for k, v in step_fn(batch, step).items()}
            if distributed.is_distributed():  # torchrun: average the logs, share rank 0's buffers
                logs = distributed.all_reduce_mean(logs)
                distributed.broadcast_buffers(modules)
            step += 1
            entry = {"step": step, "time": round(elapsed0 + time.perf_counter() - t0, 3), **logs}
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
                checkpoint()
    except KeyboardInterrupt:
        stop_reason = "interrupted"
    finally:
        bar.close()
        if grad_sync is not None:
            grad_sync.remove()
    if clean:
        checkpoint()
    elif ckpt_path is not None:
        print(f"interrupted in the middle of step {step + 1}: the checkpoint of the last "
              f"completed save in {ckpt_path} is kept")
    if progress and _is_main_process():
        print(f"{desc}: stopped after {step} steps ({stop_reason}), "
              f"{elapsed0 + time.perf_counter() - t0:.1f} s"
              + ("; run again with resume=True to continue" if stop_reason == "interrupted" else ""))
    return history
