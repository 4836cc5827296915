"""One checkpoint layout and one card schema for every model of the course.

A checkpoint is a ``torch.save`` of a plain dict, read back with ``weights_only=True``::

    {"format": "coursekit-checkpoint", "version": 1,
     "kind": "rnn" | "gan" | "codec" | "transformer" | "diffusion" | "classifier",
     "config": {...},                   # JSON-able: what the model's constructor needs
     "state": {"model": state_dict, ...},   # a training run adds "opt", "ema", "D", ...
     "step": 1200,
     ...}                               # more plain entries: "history", "rng", "codec", ...

Reference checkpoints (``coursekit/checkpoints/*.pt``) and the checkpoints a training run
writes have this one layout; a run adds its optimizer states, random states and data position
so that it can resume. Each reference checkpoint has a *card* beside it (``NAME.json``) with the
keys of :data:`CARD_KEYS` and whatever else its recipe measured.

Example
-------
>>> import torch, tempfile, pathlib
>>> from coursekit import checkpoint
>>> net = torch.nn.Linear(2, 1)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "lin.pt"
>>> _ = checkpoint.save(path, kind="linear", config={"in": 2}, state={"model": net})
>>> ckpt = checkpoint.load(path, kind="linear")
>>> ckpt["config"], sorted(ckpt["state"]["model"])
({'in': 2}, ['bias', 'weight'])
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

import torch

from . import distributed
from .paths import CHECKPOINT_DIR  # noqa: F401 (coursekit.checkpoint.CHECKPOINT_DIR)

__all__ = ["FORMAT", "CARD_KEYS", "save", "load", "build", "checked", "misfit", "atomic_write", "state_dict",
           "reference", "write_card", "read_card", "hardware", "command_line", "git_commit"]

FORMAT = "coursekit-checkpoint"
VERSION = 1
# every card has these (``write_card`` fills the first five itself)
CARD_KEYS = ("created", "git_commit", "hardware", "python", "torch",
             "model", "command", "profile", "data", "config", "steps", "training_time_s",
             "size_bytes", "metrics")


def atomic_write(path, write) -> Path:
    """``write(tmp)`` beside ``path``, then rename over it: never a half-written file (checkpoints,
    cards, caches).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(p, lambda tmp: tmp.write_text("hi")).read_text()
    'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def state_dict(obj, half: bool = False) -> dict:
    """``obj.state_dict()`` (a module inside DDP or ``torch.compile`` unwrapped) with its tensors
    on the CPU; ``half=True`` stores floating-point tensors as float16 (half the size)."""
    if isinstance(obj, dict):
        sd = obj
    else:
        obj = getattr(obj, "_orig_mod", obj)       # torch.compile
        obj = getattr(obj, "module", obj)          # DistributedDataParallel
        sd = obj.state_dict()

    def on_cpu(v):  # an optimizer's nested state (moments on the GPU) too
        if torch.is_tensor(v):
            return v.detach().cpu()
        if isinstance(v, dict):
            return {k: on_cpu(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(on_cpu(x) for x in v)
        return v

    def stored(v):  # a tensor of a module's state (float16 when half)
        v = on_cpu(v)
        return v.half() if half and torch.is_tensor(v) and v.is_floating_point() else v
    return {k: stored(v) for k, v in sd.items()}


def save(path, *, kind: str, config: dict, state: dict, step: int = 0, half: bool = False,
         **extra) -> Path:
    """Write one checkpoint atomically.

    Parameters
    ----------
    path : str or Path
    kind : str
        The model family (``"rnn"``, ``"codec"``, ...); :func:`load` checks it.
    config : dict
        Plain JSON-able settings that rebuild the model (``dataclasses.asdict(model.cfg)``).
    state : dict
        Name to module, optimizer, scheduler (anything with ``state_dict()``) or a ready state
        dict. The model itself is ``"model"``.
    step : int
    half : bool
        Store the floating-point weights of ``"model"`` (and ``"ema"``) as float16.
    **extra
        More plain entries (``history``, ``rng``, ``codec``, ...).
    """
    json.dumps(config, default=list)  # fails early, naming the value, if config is not plain data
    payload = {"format": FORMAT, "version": VERSION, "kind": kind, "config": config,
               "state": {k: state_dict(v, half=half and k in ("model", "ema")) for k, v in state.items()},
               "step": int(step), **extra}
    if not distributed.is_main():  # under torchrun only rank 0 writes files
        return Path(path)
    return atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))


def _upgrade(ckpt: dict) -> dict:
    """Read the other layouts a checkpoint may have as this one: ``{"model": sd, "config"}`` (a
    SampleRNN or a CodecLM), ``{"G": sd, "config"}`` (a GAN's generator) and
    ``{"state": {...}, "config", "step"}`` without ``format``."""
    if ckpt.get("format") == FORMAT:
        return ckpt
    out = {k: v for k, v in ckpt.items() if k not in ("model", "G", "state")}
    if "state" in ckpt:                          # train-loop checkpoints, codec, diffusion
        out["state"] = ckpt["state"]
    elif "G" in ckpt:                            # the GAN's generator
        out["state"] = {"model": ckpt["G"]}
    elif "model" in ckpt:                        # rnn, transformer
        out["state"] = {"model": ckpt["model"]}
    else:
        raise ValueError("not a coursekit checkpoint")
    out.setdefault("config", {})
    out.setdefault("step", 0)
    out.setdefault("kind", ckpt.get("kind"))
    out["format"], out["version"] = FORMAT, VERSION
    return out


def _default_hint(kind: str | None) -> str:
    return f"give a checkpoint written by `python -m coursekit train {kind or 'MODEL'}`"


def _unreadable(path: Path, err: Exception) -> str:
    """Why ``torch.load`` could not read ``path``, in a few words (never torch's own advice)."""
    text = str(err)
    with path.open("rb") as f:
        head = f.read(64).lstrip()
    if not head:
        return "the file is empty"
    wanted = re.search(r"GLOBAL ([\w.]+)", text)
    if wanted:  # a pickle that would call or build something: refused before anything ran
        return (f"it asks to run or build `{wanted.group(1)}`, which a checkpoint never does; "
                "nothing in it was run")
    if head[:1] in (b"{", b"["):
        return "it is JSON text; a model's card is NAME.json, its weights NAME.pt"
    if head.startswith(b"PK") or isinstance(err, (EOFError, OSError, RuntimeError)):
        return "the file is truncated or damaged"
    return "it is not a file torch.save wrote"


def load(path, kind: str | None = None, map_location="cpu", hint: str | None = None) -> dict:
    """Read a checkpoint (``weights_only=True``) as the dict :func:`save` wrote.

    Raises ``FileNotFoundError`` when ``path`` is missing and ``ValueError`` when it is a
    folder, is not a coursekit checkpoint (empty, truncated, another format, a pickle that
    would run code) or holds another kind of model than ``kind``: one line naming the file and
    ending with ``hint`` (default: which command writes such a checkpoint).
    """
    path = Path(path)
    hint = hint or _default_hint(kind)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a checkpoint file; {hint}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint; {hint}")
    try:
        with warnings.catch_warnings():  # torch warns about unusual pickle protocols
            warnings.simplefilter("ignore")
            raw = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError:
        raise
    except Exception as err:  # noqa: BLE001 (whatever torch.load raises, one line)
        raise ValueError(f"{path}: not a coursekit checkpoint ({_unreadable(path, err)}); {hint}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: not a coursekit checkpoint (it holds a {type(raw).__name__}, "
                         f"not a checkpoint's entries); {hint}")
    try:
        ckpt = _upgrade(raw)
    except ValueError:
        raise ValueError(f"{path}: not a coursekit checkpoint (it holds {', '.join(map(str, list(raw)[:5]))}, "
                         f"no model weights); {hint}") from None
    if not isinstance(ckpt.get("config"), dict) or not isinstance(ckpt.get("state"), dict):
        raise ValueError(f"{path}: not a coursekit checkpoint (its config or state is not a dict); {hint}")
    if kind is not None and ckpt.get("kind") not in (None, kind):
        raise ValueError(f"{path} holds a {ckpt['kind']} model, not a {kind} model; {hint}")
    return ckpt


def misfit(err: Exception) -> str:
    """A short reason why rebuilding a model from a checkpoint failed: the missing entry, the
    weights that are missing or of another shape, or the error's first line."""
    if isinstance(err, KeyError):
        return f"no entry {err.args[0]!r}" if err.args else "an entry is missing"
    text = str(err)
    parts = []
    for line in text.splitlines()[1:]:                  # torch's load_state_dict report
        line = line.strip()
        names = re.findall(r'"([^"]+)"', line)
        if line.startswith("Missing key"):
            parts.append("no weights for " + ", ".join(names[:3]) + (" ..." if len(names) > 3 else ""))
        elif line.startswith("Unexpected key"):
            parts.append("weights for layers the model lacks: " + ", ".join(names[:3]) + (" ..." if len(names) > 3 else ""))
        elif line.startswith("size mismatch"):
            m = re.match(r"size mismatch for ([\w.]+): .*Size\(\[([\d, ]*)\]\) from checkpoint.*"
                         r"Size\(\[([\d, ]*)\]\)", line)
            if m:
                parts.append(f"{m.group(1)} is [{m.group(2)}] in the file, [{m.group(3)}] in the model")
    if parts:
        return "; ".join(parts[:2])
    first = text.splitlines()[0][:150] if text else ""
    return first or type(err).__name__


def checked(cfg):
    """``cfg`` (a model's config dataclass) once every value whose default is a number or a
    string is one too; else ``TypeError`` naming the entry (a checkpoint's config is data)."""
    for f in dataclasses.fields(cfg):
        default, value = f.default, getattr(cfg, f.name)
        if isinstance(default, bool) or default is None or default is dataclasses.MISSING:
            continue
        if isinstance(default, (int, float)) and (isinstance(value, bool)
                                                  or not isinstance(value, (int, float))):
            raise TypeError(f"its config's {f.name} is {value!r}, not a number")
        if isinstance(default, str) and not isinstance(value, str):
            raise TypeError(f"its config's {f.name} is {value!r}, not a string")
    return cfg


def build(path, kind: str, make, hint: str | None = None):
    """``make()``, which rebuilds a model from a checkpoint's config and state, or one
    ``ValueError`` naming ``path`` when they do not fit (an entry missing, a config value of
    the wrong type, weights of other shapes).

    >>> build("x.pt", "rnn", lambda: {}["model"])
    Traceback (most recent call last):
    ...
    ValueError: x.pt: its weights do not fit a rnn model (no entry 'model'); give a checkpoint written by `python -m coursekit train rnn`
    """
    try:
        return make()
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as err:
        raise ValueError(f"{path}: its weights do not fit a {kind} model ({misfit(err)}); "
                         f"{hint or _default_hint(kind)}") from None


def float_weights(sd: dict) -> dict:
    """A state dict with float16 weights (as reference checkpoints store them) back in float32."""
    return {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}


def reference(name: str) -> Path:
    """The path of a reference checkpoint shipped with coursekit, e.g. ``reference("codec.pt")``."""
    return CHECKPOINT_DIR / name


# ---------------------------------------------------------------------------------------------
# Cards
# ---------------------------------------------------------------------------------------------

def git_commit() -> str | None:
    """The commit of the coursekit checkout, or None outside a git checkout."""
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
    """The command that is running, as a card records it (``python -m coursekit`` and every
    argument as typed), or ``fallback`` when called from Python rather than the command line."""
    if sys.argv and sys.argv[0].endswith("__main__.py"):
        return "python -m coursekit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return fallback


def write_card(path, **info) -> Path:
    """Write a card: ``info`` plus the date, commit, hardware and versions (unless given).

    ``info`` should hold the rest of :data:`CARD_KEYS` (``model``, ``command``, ``profile``,
    ``data``, ``config``, ``steps``, ``training_time_s``, ``size_bytes``, ``metrics``); a missing
    one is written as ``None`` so that every card has every key.
    """
    card = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git_commit": git_commit(), "hardware": hardware(),
            "python": platform.python_version(), "torch": torch.__version__}
    card.update({k: None for k in CARD_KEYS if k not in card})
    card.update(info)
    if not distributed.is_main():
        return Path(path)
    text = json.dumps(card, indent=2, default=str) + "\n"
    return atomic_write(Path(path), lambda tmp: tmp.write_text(text))


def read_card(path) -> dict:
    """The card written by :func:`write_card`."""
    return json.loads(Path(path).read_text())
