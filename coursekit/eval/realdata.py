"""Real recordings to check the course's models on: where they are found, how they are cut.

The course's models train and are measured on offline mini datasets; a figure measured only on
them says little about real audio. :func:`real_sets` lists the real recordings at hand, and
:func:`real_clips` cuts one set into fixed-length clips, mono, at one sample rate, so that
``benchmarks/codec_eval.py`` and the leaderboard report on real audio beside the minis.

Two places are searched:

- the *realdata* folder (``$COURSEKIT_REALDATA``, else ``../shared/realdata`` beside the
  checkout): small samples of the real datasets in their real formats. Its real GTZAN clips
  (``gtzan/genres/<genre>/*.wav``, 30 s each at 22050 Hz) give the set ``gtzan``; its MAESTRO
  audio (``maestro-v3.0.0/<year>/*.wav``, here a 2 s stereo 48 kHz excerpt) gives ``maestro``.
- the data root (:func:`coursekit.paths.data_root`): a real dataset unpacked there (one no
  course generator marked: :func:`coursekit.data.generated_by` is ``None``) gives
  ``data-gtzan`` (the clips the codec holds out: every fifth of the sorted list),
  ``data-maestro`` (the CSV's validation and test performances) and ``data-nsynth-test``.
  The offline minis are never counted as real.

A missing folder, or one without audio, gives no set; nothing here raises for absent data.

Sample rates: every clip is read with :func:`coursekit.audio.load`, mixed down to mono and
resampled to ``sr`` (16 kHz by default, the course's rate), whatever the file's own rate
(``RealSet.native_sr`` records the format's: 22050 GTZAN, 44100/48000 MAESTRO, 16000 NSynth).

Example
-------
>>> from coursekit.eval.realdata import real_sets, real_clips
>>> sets = real_sets()                                      # doctest: +SKIP
>>> [(s.name, len(s.files)) for s in sets]                  # doctest: +SKIP
[('gtzan', 10), ('maestro', 1)]
>>> clips = real_clips(sets[0], seconds=4.0)                # doctest: +SKIP
>>> len(clips), clips[0][0], clips[0][1].shape              # doctest: +SKIP
(40, 'blues.00000_00', (64000,))
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["RealSet", "realdata_dir", "real_sets", "real_clips", "write_clips", "SAMPLE_RATE",
           "CLIP_SECONDS", "MIN_RMS"]

SAMPLE_RATE = 16000   # Hz: every clip is resampled to this rate
CLIP_SECONDS = 4.0    # the length of a clip
MIN_RMS = 1e-3        # a clip quieter than this (digital silence, a fade) is left out
#: how many clips each kind of file gives at most, from its start: a 30 s GTZAN clip gives four
#: 4 s clips (its first 16 s); a MAESTRO performance four; an NSynth note (4 s) one
CLIPS_PER_FILE = {"gtzan": 4, "maestro": 4, "nsynth": 1}
NATIVE_SR = {"gtzan": 22050, "maestro": None, "nsynth": 16000}   # None: 44100 or 48000


@dataclass(frozen=True)
class RealSet:
    """One set of real recordings.

    Attributes
    ----------
    name : str
        ``'gtzan'``, ``'maestro'`` (the realdata folder) or ``'data-gtzan'``,
        ``'data-maestro'``, ``'data-nsynth-test'`` (the data root).
    kind : str
        The dataset: ``'gtzan'``, ``'maestro'`` or ``'nsynth'``.
    source : str
        ``'realdata'`` or ``'data root'``.
    folder : Path
        The dataset folder the files were found in.
    files : tuple of Path
        The audio files, sorted.
    native_sr : int or None
        The format's sample rate (``None``: it varies); clips are resampled from it.
    clips_per_file : int
        How many clips a file gives at most (see :data:`CLIPS_PER_FILE`).
    """

    name: str
    kind: str
    source: str
    folder: Path
    files: tuple
    native_sr: int | None
    clips_per_file: int

    def describe(self) -> dict:
        """A JSON-able summary: name, kind, source, folder, number of files, rates."""
        return {"name": self.name, "kind": self.kind, "source": self.source,
                "folder": str(self.folder), "files": len(self.files),
                "native_sample_rate": self.native_sr, "sample_rate": SAMPLE_RATE,
                "clips_per_file": self.clips_per_file}


def realdata_dir(realdata=None) -> Path:
    """The realdata folder: ``realdata`` if given, else ``$COURSEKIT_REALDATA``, else
    ``../shared/realdata`` beside the checkout (it need not exist).

    Example
    -------
    >>> realdata_dir("/tmp/real").as_posix()
    '/tmp/real'
    """
    if realdata is not None:
        return Path(realdata).expanduser()
    env = os.environ.get("COURSEKIT_REALDATA")
    if env:
        return Path(env).expanduser()
    from ..paths import REPO_DIR

    return REPO_DIR.parent / "shared" / "realdata"


def _audio_files(folder: Path) -> list[Path]:
    from ..audio import find_audio_files

    try:
        return find_audio_files(folder)
    except (FileNotFoundError, OSError):
        return []


def _gtzan_files(folder: Path) -> list[Path]:
    from ..data.gtzan import find_genres_dir

    try:
        return _audio_files(find_genres_dir(folder))
    except (FileNotFoundError, OSError):
        return []


def _sets_under(root: Path, source: str, prefix: str, held_out: bool) -> list[RealSet]:
    """The real datasets directly under ``root``; ``held_out``: only the files the codec does not
    train on when that dataset is under the data root (see the module docstring)."""
    from ..data import _real_dir, generated_by

    out = []
    for kind, split in (("gtzan", None), ("maestro", None), ("nsynth", "test")):
        try:
            folder = _real_dir(kind, split, root)
        except OSError:
            folder = None
        if folder is None or generated_by(kind, folder) is not None:
            continue                                   # absent, or an offline mini
        if kind == "gtzan":
            files = _gtzan_files(folder)
            files = files[4::5] if held_out else files
        elif kind == "maestro":
            if held_out:
                from ..recipes.codec_data import _maestro_files

                files = _maestro_files(folder, "test")
            else:
                files = _audio_files(folder)
        else:
            files = _audio_files(folder / "audio")
        if files:
            name = prefix + (kind if kind != "nsynth" else "nsynth-test")
            out.append(RealSet(name, kind, source, folder, tuple(sorted(files)), NATIVE_SR[kind],
                               CLIPS_PER_FILE[kind]))
    return out


def real_sets(data_root=None, realdata=None) -> list[RealSet]:
    """The sets of real recordings available: the realdata folder's, then the data root's.

    Parameters
    ----------
    data_root : path, optional
        Default: :func:`coursekit.paths.data_root`.
    realdata : path, optional
        Default: :func:`realdata_dir` (``$COURSEKIT_REALDATA``, else ``../shared/realdata``).

    Returns
    -------
    list of RealSet
        Empty when neither place holds real audio. A dataset found in both places (the data
        root *is* the realdata folder) is listed once, as the realdata folder's.

    Example
    -------
    >>> real_sets(data_root="/nonexistent", realdata="/nonexistent")
    []
    """
    from ..paths import data_root as default_root

    sets = _sets_under(realdata_dir(realdata), "realdata", "", held_out=False)
    seen = {s.folder.resolve() for s in sets}
    root = Path(data_root).expanduser() if data_root is not None else default_root()
    sets += [s for s in _sets_under(root, "data root", "data-", held_out=True)
             if s.folder.resolve() not in seen]
    return sets


def _spread(files, max_files: int | None) -> list:
    if max_files is None or len(files) <= max_files:
        return list(files)
    return [files[int(i)] for i in np.linspace(0, len(files) - 1, max_files).round()]


def real_clips(rset: RealSet, seconds: float = CLIP_SECONDS, sr: int = SAMPLE_RATE,
               per_file: int | None = None, max_files: int | None = None,
               min_rms: float = MIN_RMS) -> list[tuple[str, np.ndarray]]:
    """Cut a set into clips of ``seconds``, mono, at ``sr``.

    Each file gives up to ``per_file`` (default: the set's ``clips_per_file``) consecutive clips
    from its start; a file shorter than ``seconds`` gives one clip of its whole length (the 2 s
    MAESTRO excerpt). Clips quieter than ``min_rms`` are left out; a file that cannot be read
    is left out with a warning naming it.

    Parameters
    ----------
    rset : RealSet
    seconds : float
    sr : int
    per_file : int, optional
    max_files : int, optional
        Use at most this many files, spread evenly over the sorted list (default: all).

    Returns
    -------
    list of (name, clip)
        ``name`` is ``<file stem>_<clip number>``; ``clip`` a float32 array.

    Example
    -------
    >>> clips = real_clips(real_sets()[0], seconds=4.0)      # doctest: +SKIP
    >>> clips[0][1].shape                                    # doctest: +SKIP
    (64000,)
    """
    from ..audio import AudioError, fix_length, info, load

    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    per_file = rset.clips_per_file if per_file is None else int(per_file)
    n = int(round(seconds * sr))
    out = []
    for path in _spread(rset.files, max_files):
        try:
            duration = info(path)["duration"]
            fit = min(per_file, int(duration // seconds))
            if fit == 0:          # shorter than one clip: the whole file, once
                pieces = [load(path, sr=sr)[0]]
            else:
                pieces = [fix_length(load(path, sr=sr, offset=k * seconds, duration=seconds)[0], n)
                          for k in range(fit)]
        except (AudioError, OSError) as err:
            warnings.warn(f"skipped {path}: {err}")
            continue
        for k, y in enumerate(pieces):
            if y.size and np.isfinite(y).all() and np.sqrt(np.mean(y ** 2)) > min_rms:
                out.append((f"{path.stem}_{k:02d}", np.ascontiguousarray(y, dtype=np.float32)))
    return out


def write_clips(clips, folder, sr: int = SAMPLE_RATE) -> Path:
    """Write ``(name, clip)`` pairs as ``<folder>/<name>.wav`` (16-bit), in a folder marked as
    the course's (:mod:`coursekit.outputs`): a later call replaces what an earlier one wrote.

    Raises :class:`~coursekit.outputs.UserError` for a folder holding files the course did not
    write.

    Example
    -------
    >>> write_clips(real_clips(real_sets()[0]), "work/real-gtzan")   # doctest: +SKIP
    PosixPath('work/real-gtzan')
    """
    from ..audio import save
    from ..outputs import UserError, check_writable, mark_written, owned, remove_marked

    folder = Path(folder)
    if folder.is_dir() and not owned(folder) and any(folder.iterdir()):
        raise UserError(f"{folder}: already holds files the course did not write; move them "
                        "elsewhere, or choose another work folder")
    check_writable(folder, "work folder")
    if owned(folder):
        remove_marked(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{name}.wav" for name, _ in clips]
    mark_written(folder, names)
    for name, (_, y) in zip(names, clips):
        save(folder / name, np.clip(y, -1, 1), sr)
    return folder
