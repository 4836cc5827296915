"""The course's datasets: readers of the real on-disk formats and their offline mini versions.

One module a dataset:

- :mod:`coursekit.data.nsynth`  NSynth jsonwav (``nsynth-<split>/examples.json`` + ``audio/``)
- :mod:`coursekit.data.gtzan`   GTZAN (``genres/<genre>/<genre>.000NN.wav``)
- :mod:`coursekit.data.maestro` MAESTRO v3 (CSV/JSON metadata, MIDI, WAV)

and one generator a dataset (``mini_nsynth``, ``mini_gtzan``, ``mini_maestro``) that writes the
same layout offline, so that a loader written for the mini version reads the real one unchanged.
:func:`dataset_dir` is what notebooks call: the real data when it is under the data root, the
mini version (generated on first use) otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..paths import data_root

MAKERS = {
    "mini-nsynth": ("coursekit.data.mini_nsynth", "make_mini_nsynth"),
    "mini-gtzan": ("coursekit.data.mini_gtzan", "make_mini_gtzan"),
    "mini-maestro": ("coursekit.data.mini_maestro", "make_mini_maestro"),
}
CHECKERS = {
    "nsynth": ("coursekit.data.nsynth", "check_nsynth"),
    "gtzan": ("coursekit.data.gtzan", "check_gtzan"),
    "maestro": ("coursekit.data.maestro", "check_maestro"),
}


def _get(pair):
    import importlib

    module, name = pair
    return getattr(importlib.import_module(module), name)


#: How the notes of a mini dataset are made: ``sampled`` plays the recorded instruments of the
#: General MIDI SoundFont (:mod:`coursekit.data.soundfont`), as NSynth was made from sample
#: libraries; ``additive`` builds every note from sine partials.
SOUNDS = ("sampled", "additive")


def make_dataset(name: str, root, size: str = "default", seed: int = 0, sound: str = "sampled") -> Path:
    """Write the offline mini dataset ``name`` under ``root`` (see ``coursekit data make``)."""
    from ..outputs import check_writable

    if name not in MAKERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(MAKERS)}")
    if sound not in SOUNDS:
        raise ValueError(f"unknown sound {sound!r}; choose one of {', '.join(SOUNDS)}")
    check_writable(Path(root).expanduser(), "root", create=False)
    return _get(MAKERS[name])(root, size=size, seed=seed, sound=sound)


def check_dataset(kind: str, folder) -> tuple[dict, list[str]]:
    """Validate a dataset folder. Returns ``(counts, problems)``; ``problems`` names each file."""
    if kind not in CHECKERS:
        raise ValueError(f"unknown dataset kind {kind!r}; choose one of {', '.join(CHECKERS)}")
    return _get(CHECKERS[kind])(folder)


def _real_dir(name: str, split: str | None, root: Path) -> Path | None:
    if name == "nsynth":
        d = root / f"nsynth-{split or 'train'}"
        return d if (d / "examples.json").exists() else None
    if name == "gtzan":
        for d in (root / "genres", root / "Data" / "genres_original", root / "gtzan" / "genres"):
            if d.is_dir():
                return d.parent if d.name == "genres" else d.parent.parent
        return None
    if name == "maestro":
        d = root / "maestro-v3.0.0"
        return d if (d / "maestro-v3.0.0.csv").exists() or (d / "maestro-v3.0.0.json").exists() else None
    raise ValueError(f"unknown dataset {name!r}; choose nsynth, gtzan or maestro")


def generated_by(name: str, folder) -> dict | None:
    """The mark a mini dataset's generator left with ``folder`` (what :func:`_real_dir` found),
    e.g. ``{'size': 'smoke', 'seed': 0, ...}``; ``None`` for data coursekit did not make."""
    import json

    from .download import MARKER

    folder = Path(folder)
    mark = {"nsynth": folder.parent / "mini-nsynth.json", "gtzan": folder / "genres" / MARKER,
            "maestro": folder / MARKER}.get(name)
    try:
        made = json.loads(mark.read_text(encoding="utf-8")) if mark is not None else None
    except (OSError, ValueError):
        return None
    return made if isinstance(made, dict) else None


def dataset_dir(name: str, split: str | None = None, size: str | None = None, seed: int = 0,
                verbose: bool = True) -> Path:
    """The folder a reader should open for dataset ``name`` ('nsynth', 'gtzan', 'maestro').

    The real dataset when it is unpacked under the data root (``$COURSEKIT_DATA``); otherwise
    the mini version of the profile's size, generated under ``<root>/mini-<size>/`` on first use.

    Returns the NSynth split folder (``.../nsynth-train``), the GTZAN root (holding ``genres/``)
    or the MAESTRO folder (``.../maestro-v3.0.0``): what each reader and checker takes.
    """
    from ..profiles import get_profile

    root = data_root()
    real = _real_dir(name, split, root)
    if real is not None:
        if verbose:
            made = generated_by(name, real)
            print(f"Using the offline mini-{name} ({made.get('size')}, {made.get('sound', 'additive')}) in {real}"
                  if made else
                  f"Using the real {name} data in {real}")
        return real
    size = size or get_profile().data[f"{name}_size"]
    mini_root = root / f"mini-{size}"
    mini = _real_dir(name, split, mini_root)
    if mini is None:
        if verbose:
            print(f"No real {name} data under {root}; generating the offline mini-{name} "
                  f"({size}) in {mini_root} ...")
        make_dataset(f"mini-{name}", mini_root, size=size, seed=seed)
        mini = _real_dir(name, split, mini_root)
        if mini is None:
            raise FileNotFoundError(f"mini-{name} was generated in {mini_root} but split {split!r} is missing")
    elif verbose:
        made = generated_by(name, mini) or {}
        sound = made.get("sound", "additive")
        print(f"Using the offline mini-{name} ({size}, {sound}) in {mini}")
        if sound != SOUNDS[0]:
            print(f"  It was made with {sound} sound; the course now makes mini datasets from sampled "
                  f"instruments. Delete {mini} to have it made again.")
    return mini


# command-line handlers ------------------------------------------------------------------------

def cli_make(args) -> int:
    import time

    from ..outputs import UserError, check_writable, os_error_line

    root = Path(args.root).expanduser()
    check_writable(root, "--root", create=False)
    t0 = time.perf_counter()
    try:
        out = make_dataset(args.name, root, size=args.size, seed=args.seed, sound=args.sound)
    except OSError as err:  # found unwritable, or full, only once writing started
        raise UserError(f"--root {root}: {os_error_line(err)}") from None
    print(f"{args.name} ({args.size}, seed {args.seed}, {args.sound}) written to {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def cli_check(args) -> int:
    folder = Path(args.dir)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such folder; give the dataset folder as its archive unpacks")
    counts, problems = check_dataset(args.kind, folder)
    for k, v in counts.items():
        print(f"{k}: {v}")
    if problems:
        print(f"{len(problems)} problem(s):", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    print("OK: no problems found")
    return 0
