"""Recipes: everything around a model that is not the model itself.

A model file in :mod:`coursekit.models` holds what the paper's figure holds (modules, loss,
sampling) in plain torch. Its recipe here holds the rest: preparing the data, the training
set-up on :func:`coursekit.train.train`, fine-tuning (its options in one dataclass), saving and
loading checkpoints (:mod:`coursekit.checkpoint`) and cards, the generation helpers the
notebooks and the command line use, and the command's own flags
(``add_train_arguments``/``train_command``, ``add_sample_arguments``/``sample_command``).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from .. import checkpoint
from ..argtypes import (at_most, finite_float, midi_pitch, nonnegative_float,  # noqa: F401
                        nonnegative_int, positive_float, positive_int, probability, seconds)

__all__ = ["resume_path", "write_run_card", "cache_path", "stored_architecture", "say_architecture",
           "given_by", "positive_float", "finite_float", "positive_int", "nonnegative_int",
           "nonnegative_float", "probability", "midi_pitch", "refuse_unused"]


def refuse_unused(args, flags: dict, why: str) -> None:
    """Raise one ``ValueError`` naming the given flags among ``flags`` (``{"--cfg": args.cfg}``)
    that the sampler does not use in this mode, and ``why``."""
    given = [name for name, value in flags.items() if value is not None]
    if given:
        raise ValueError(f"{', '.join(given)}: not used {why}; drop {'it' if len(given) == 1 else 'them'}")


def cache_path(kind: str, folder, key: str) -> Path:
    """The file under ``cache_root()/<kind>/`` that caches what was computed from the data in
    ``folder`` with the settings ``key`` (a codec's digest, a length, a seed, ...).

    The name also depends on the data's stamp: the modification time and size of the folder's
    ``examples.json`` (NSynth format) or of the folder itself, so regenerated data at the same
    path is computed afresh instead of served from the cache.
    """
    from ..paths import cache_root

    folder = Path(folder).resolve()
    meta = folder / "examples.json" if (folder / "examples.json").exists() else folder
    stamp = f"{meta.stat().st_mtime_ns}-{meta.stat().st_size}" if meta.exists() else ""
    digest = hashlib.sha1(f"{folder}|{stamp}|{key}".encode()).hexdigest()[:12]
    return cache_root() / kind / f"{folder.name}-{digest}.pt"


def resume_path(out) -> Path:
    """Where ``train MODEL --out OUT`` keeps its resumable training state: ``OUT.train.pt``
    beside ``OUT`` (weights, optimizers, random states, data position; ``--resume`` reads it)."""
    out = Path(out)
    return out.with_name(out.stem + ".train.pt")


def stored_architecture(kind: str, out, init=None, resume: bool = False, check=None):
    """Where ``train MODEL`` takes its model's architecture from: ``(path, config)``.

    With ``--resume`` and the run's training checkpoint (:func:`resume_path`) there, that
    checkpoint and the config it was trained with; else with ``--init``, the init checkpoint
    and its stored config (a fine-tune keeps the architecture it starts from, whatever the
    profile's sizes); else ``(None, None)``: the profile's model. Training settings (steps,
    batch, learning rate, data, mixed precision) stay the profile's either way.

    ``check(path, hint=...)``, the recipe's loader, rebuilds the stored model before any data
    is read, so that a checkpoint that is not one, or whose weights do not fit its config,
    stops the run at once: one ``ValueError`` naming ``--init`` or ``--resume`` and the file.
    """
    state = resume_path(out)
    path = state if resume and state.exists() else Path(init) if init else None
    if path is None:
        return None, None
    option = "--resume:" if path == state else "--init"
    hint = ("pass --overwrite instead of --resume to start afresh (replacing it)" if path == state
            else f"--init takes a checkpoint written by `python -m coursekit train {kind}`")

    def read():
        ckpt = checkpoint.load(path, kind=kind, hint=hint)
        if not ckpt.get("config"):
            raise ValueError(f"{path} stores no model config to rebuild its {kind} model from; {hint}")
        if check is not None:
            check(path, hint=hint)
        return ckpt
    return path, dict(given_by(option, read)["config"])


def given_by(option: str, load, *args, **kwargs):
    """``load(*args, **kwargs)`` (a checkpoint loader), its one-line error starting with the
    command-line ``option`` that named the file (``--init``, ``--resume:``, ``--checkpoint``)."""
    try:
        return load(*args, **kwargs)
    except (FileNotFoundError, ValueError) as err:
        raise (FileNotFoundError if isinstance(err, FileNotFoundError) else ValueError)(
            f"{option} {err}") from None


def say_architecture(source, profile: str, profile_config: dict, config: dict, keys) -> None:
    """Print one line when the model's architecture (the ``keys`` of ``config``, taken from
    the checkpoint ``source``) is not the one the profile's config would build."""
    def plain(v):
        return list(v) if isinstance(v, tuple) else v
    differ = [k for k in keys if plain(config.get(k)) != plain(profile_config.get(k))]
    if differ:
        print(f"the architecture comes from {source} ("
              + ", ".join(f"{k} {plain(config.get(k))}" for k in differ) + f"), not from the {profile} "
              "profile (" + ", ".join(f"{k} {plain(profile_config.get(k))}" for k in differ) + ")")


def write_run_card(out, *, model: str, profile: str, data, config: dict, history, started: float,
                   metrics: dict, initialized_from=None, task: str | None = None, **extra) -> Path:
    """Write the card of the checkpoint ``out`` that a ``train MODEL`` command just wrote.

    Every command's card has the keys of :data:`coursekit.checkpoint.CARD_KEYS`, filled the same
    way: the command as typed, the steps and training time (over resumes) from the loop's
    ``history``, ``wall_time_s`` of this run since ``started`` (a ``time.perf_counter()``), the
    file's size, ``metrics`` (a dict), and ``initialized_from`` (the checkpoint the run started
    from, or a dict about it); ``extra`` adds the model's own entries. Prints where it
    wrote.
    """
    out = Path(out)
    fallback = " ".join(["python -m coursekit train", model, *([f"--task {task}"] if task else []),
                         f"--profile {profile} --out {out}"])
    card = checkpoint.write_card(
        out.with_suffix(".json"), model=model, **({"task": task} if task else {}),
        command=checkpoint.command_line(fallback), profile=profile, data=data, config=config,
        steps=history[-1]["step"] if history else 0,
        training_time_s=round(history[-1]["time"], 1) if history else 0.0,
        wall_time_s=round(time.perf_counter() - started, 1), size_bytes=out.stat().st_size,
        metrics=metrics, initialized_from=str(initialized_from) if isinstance(initialized_from, Path)
        else initialized_from, **extra)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and its card {card}")
    return card
