"""NSynth: four-second notes of about a thousand instruments, in the ``jsonwav`` format.

On disk a split is one folder, exactly as the archive unpacks::

    nsynth-test/
        examples.json              one object keyed by note_str, 13 fields per note
        audio/<note_str>.wav       16-bit PCM, mono, 16 kHz, 64000 frames (3 s held + 1 s release)

A note's name is ``{instrument_str}-{pitch:03d}-{velocity:03d}``, e.g.
``guitar_acoustic_010-066-100``. Pitfalls the reader handles for you:

- ``note`` is a running id of the note in the whole dataset, *not* its pitch (use ``pitch``);
  ``instrument`` is an instrument id, ``instrument_str`` its name.
- ``synth_lead`` is written with an underscore (so splitting ``instrument_str`` on ``_`` gives
  three parts for every family but this one: parse the metadata, not the name).
- In the real *test* split the 71 notes of ``brass_acoustic_046`` are noise, not brass;
  :class:`NSynth` leaves them out unless you ask for them.

This module holds the torch Dataset over such a folder (:class:`NSynth`, :func:`collate`) and
:func:`load_folder`, which reads any folder of notes or clips. The format itself and
:func:`read_examples` are in :mod:`coursekit.data.nsynth_format`, :func:`check_nsynth` in
:mod:`coursekit.data.nsynth_check` and :func:`write_nsynth_folder` (which every model of the
course uses to save its generated notes, so generated and real notes are read and judged the
same way) in :mod:`coursekit.data.nsynth_write`; all of them are importable from here.

Example
-------
>>> from coursekit.data import dataset_dir                                   # doctest: +SKIP
>>> from coursekit.data.nsynth import NSynth
>>> ds = NSynth(dataset_dir("nsynth", "train"), families=["guitar", "flute"])  # doctest: +SKIP
>>> item = ds[0]                                                               # doctest: +SKIP
>>> item["audio"].shape, item["pitch"], FAMILIES[item["family"]]               # doctest: +SKIP
(torch.Size([64000]), 66, 'guitar')
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import audio as _audio
from ..outputs import UserError
from .nsynth_check import _consistency_problems, check_nsynth  # noqa: F401
from .nsynth_format import (  # noqa: F401
    FAMILIES, FIELD_ORDER, FIELDS, HOLD_SECONDS, KNOWN_NOISE_INSTRUMENTS, N_FRAMES, QUALITIES,
    SAMPLE_RATE, SOURCES, _dumps, _examples_path, _field_problems, _ids, _is_int, _load_json,
    _wav_bytes, note_name, read_examples,
)
from .nsynth_write import _jsonable, _qualities, _to_int16, write_nsynth_folder  # noqa: F401

__all__ = [
    "FAMILIES", "SOURCES", "QUALITIES", "SAMPLE_RATE", "N_FRAMES", "FIELDS", "FIELD_ORDER",
    "KNOWN_NOISE_INSTRUMENTS", "note_name", "read_examples", "NSynth", "collate",
    "check_nsynth", "write_nsynth_folder", "load_folder", "note_wav",
]



def note_wav(split_dir, name) -> Path:
    """The WAV file of the note ``name`` of an NSynth folder: ``split_dir/audio/<name>.wav``.

    A note name from ``examples.json`` is used as a file name, so it must be one: a name with a
    path separator or ``..`` (e.g. ``../../../x/good``) would read audio outside the folder and
    raises :class:`~coursekit.outputs.UserError` naming ``examples.json`` and the note.

    Example
    -------
    >>> note_wav("nsynth-test", "guitar_acoustic_010-066-100").as_posix()
    'nsynth-test/audio/guitar_acoustic_010-066-100.wav'
    """
    split_dir = Path(split_dir)
    if (not isinstance(name, str) or not name.strip() or name in (".", "..") or "/" in name
            or "\\" in name or "\0" in name):
        raise UserError(f"{split_dir / 'examples.json'}: note name {name!r} is not a plain file "
                        f"name (it would read audio outside {split_dir / 'audio'}); fix or remove "
                        "that note")
    return split_dir / "audio" / f"{name}.wav"


# ---------------------------------------------------------------------------------------------
# The torch Dataset
# ---------------------------------------------------------------------------------------------

def _read_wav(path: Path, start: int = 0, frames: int = -1):
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            if start:
                f.seek(start)
            y = f.read(frames=frames, dtype="float32", always_2d=True)
            sr = f.samplerate
    except Exception as err:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such audio file") from None
        raise _audio.AudioError(_audio._describe_unreadable(path, err)) from None
    return y.mean(axis=1) if y.shape[1] > 1 else y[:, 0], sr


class NSynth(Dataset):
    """A ``torch.utils.data.Dataset`` over one NSynth split (real, mini or generated).

    Parameters
    ----------
    split_dir : str or Path
        The folder holding ``examples.json`` and ``audio/`` (e.g. ``.../nsynth-train``).
    families, sources : list of str or int, optional
        Keep only these instrument families / sources (names like ``"guitar"`` or ids).
    pitch_range : (int, int), optional
        Keep notes with ``lo <= pitch <= hi`` (MIDI numbers).
    velocities : list of int, optional
        Keep only these velocities (the dataset has 25, 50, 75, 100, 127).
    segment_seconds : float, optional
        Return a fixed-length segment of each note instead of the whole 4 s.
    random_segment : bool
        Segments start at a random place (drawn with torch's RNG, so ``torch.manual_seed`` and
        DataLoader workers control it); otherwise at the onset, which is deterministic.
    sample_rate : int
        Resample to this rate (the files are 16 kHz).
    exclude_known_noise : bool
        Leave out the notes of :data:`KNOWN_NOISE_INSTRUMENTS` (noise in the real test split).
    check_files : bool
        Drop notes whose WAV file is missing (with one warning naming them) instead of failing
        later inside a DataLoader.

    Items are dicts: ``audio`` (float32 tensor ``(n,)``), ``pitch``, ``velocity``, ``family``
    (int id), ``source`` (int id), ``instrument`` (int id), ``instrument_str``, ``note_str``,
    ``qualities`` (float32 tensor of 10 zeros/ones). Full notes all have 64000 samples, so
    PyTorch's default collate works; :func:`collate` also pads clips of different lengths.

    Example
    -------
    >>> from torch.utils.data import DataLoader                      # doctest: +SKIP
    >>> ds = NSynth("nsynth-test", families=["flute"], segment_seconds=1.0)  # doctest: +SKIP
    >>> batch = next(iter(DataLoader(ds, batch_size=8, shuffle=True)))       # doctest: +SKIP
    >>> batch["audio"].shape                                                 # doctest: +SKIP
    torch.Size([8, 16000])
    """

    def __init__(self, split_dir, families=None, sources=None, pitch_range=None, velocities=None,
                 segment_seconds=None, random_segment=False, sample_rate=SAMPLE_RATE,
                 exclude_known_noise=True, check_files=True):
        self.split_dir = Path(split_dir)
        examples = read_examples(self.split_dir)
        self.audio_dir = self.split_dir / "audio"
        self.sample_rate = int(sample_rate)
        if segment_seconds is not None and segment_seconds <= 0:
            raise ValueError(f"segment_seconds must be > 0, got {segment_seconds}")
        self.segment_seconds = segment_seconds
        self.random_segment = bool(random_segment)

        fam = _ids(families, FAMILIES, "family")
        src = _ids(sources, SOURCES, "source")
        if pitch_range is not None:
            lo, hi = pitch_range
            if lo > hi:
                raise ValueError(f"pitch_range must be (low, high) with low <= high, got {pitch_range}")
        vel = None if velocities is None else {int(v) for v in np.atleast_1d(velocities)}

        notes = list(examples.values())
        for m in notes:
            note_wav(self.split_dir, m["note_str"])  # every name a plain file name, or a clear error
        n_all = len(notes)
        if exclude_known_noise:
            noisy = [m for m in notes if m["instrument_str"] in KNOWN_NOISE_INSTRUMENTS]
            if noisy:
                names = sorted({m["instrument_str"] for m in noisy})
                print(f"NSynth: excluded {len(noisy)} notes of {', '.join(names)} (known to be noise "
                      "in the real test split); pass exclude_known_noise=False to keep them")
                notes = [m for m in notes if m["instrument_str"] not in KNOWN_NOISE_INSTRUMENTS]
        notes = [m for m in notes
                 if (fam is None or m["instrument_family"] in fam)
                 and (src is None or m["instrument_source"] in src)
                 and (pitch_range is None or pitch_range[0] <= m["pitch"] <= pitch_range[1])
                 and (vel is None or m["velocity"] in vel)]
        if check_files:
            present = ({p.name for p in self.audio_dir.iterdir()} if self.audio_dir.is_dir() else set())
            missing = [m["note_str"] for m in notes if m["note_str"] + ".wav" not in present]
            if missing and len(missing) == len(notes):
                raise FileNotFoundError(
                    f"{self.audio_dir}: none of the {len(notes)} selected notes has its WAV file "
                    "there; is the audio/ folder of this split missing or unpacked elsewhere?")
            if missing:
                first = ", ".join(f"audio/{n}.wav" for n in missing[:5])
                warnings.warn(f"{self.split_dir}: {len(missing)} note(s) listed in examples.json have "
                              f"no WAV file and were dropped (first: {first}); "
                              "run `python -m coursekit data check nsynth` for the full list",
                              stacklevel=2)
                gone = set(missing)
                notes = [m for m in notes if m["note_str"] not in gone]
        if not notes:
            raise ValueError(f"{self.split_dir}: no notes left out of {n_all} after the filters "
                             f"(families={families}, sources={sources}, pitch_range={pitch_range}, "
                             f"velocities={velocities}); widen them")
        self.metadata = notes

    def __len__(self) -> int:
        return len(self.metadata)

    def __repr__(self) -> str:
        return f"NSynth({str(self.split_dir)!r}, {len(self)} notes)"

    def labels(self, key: str = "instrument_family") -> np.ndarray:
        """One metadata field of every note as an array (e.g. for class weights or splits)."""
        return np.array([m[key] for m in self.metadata])

    def _segment(self, n_file: int, sr_file: int):
        if self.segment_seconds is None:
            return 0, -1
        length = int(round(self.segment_seconds * sr_file))
        if length >= n_file:
            return 0, -1
        if self.random_segment:
            return int(torch.randint(0, n_file - length + 1, (1,)).item()), length
        return 0, length

    def __getitem__(self, i: int) -> dict:
        import soundfile as sf

        m = self.metadata[i]
        path = note_wav(self.split_dir, m["note_str"])
        sr_file = int(m.get("sample_rate", SAMPLE_RATE))
        if self.segment_seconds is not None:
            try:
                n_file = sf.info(str(path)).frames
            except Exception:
                n_file = N_FRAMES  # _read_wav below raises the clear error
            start, frames = self._segment(n_file, sr_file)
        else:
            start, frames = 0, -1
        y, sr_file = _read_wav(path, start, frames)
        if sr_file != self.sample_rate:
            y = _audio.resample(y, sr_file, self.sample_rate)
        if self.segment_seconds is not None:
            y = _audio.fix_length(y, int(round(self.segment_seconds * self.sample_rate)))
        return {
            "audio": torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)),
            "pitch": m["pitch"],
            "velocity": m["velocity"],
            "family": m["instrument_family"],
            "source": m["instrument_source"],
            "instrument": m["instrument"],
            "instrument_str": m["instrument_str"],
            "note_str": m["note_str"],
            "qualities": torch.tensor(m["qualities"], dtype=torch.float32),
        }


def collate(batch: list[dict]) -> dict:
    """Collate NSynth items into a batch, zero-padding audio of different lengths.

    Adds ``length`` (the true number of samples of each clip). Integer fields become int64
    tensors, strings stay lists.

    Example
    -------
    >>> import torch
    >>> b = collate([{"audio": torch.ones(3), "pitch": 60, "note_str": "a"},
    ...              {"audio": torch.ones(5), "pitch": 62, "note_str": "b"}])
    >>> b["audio"].shape, b["length"].tolist(), b["pitch"].tolist(), b["note_str"]
    (torch.Size([2, 5]), [3, 5], [60, 62], ['a', 'b'])
    """
    if not batch:
        raise ValueError("collate got an empty batch")
    out = {}
    lengths = [int(item["audio"].shape[-1]) for item in batch]
    audio = torch.zeros(len(batch), max(lengths), dtype=batch[0]["audio"].dtype)
    for j, item in enumerate(batch):
        audio[j, : lengths[j]] = item["audio"]
    out["audio"] = audio
    out["length"] = torch.tensor(lengths, dtype=torch.int64)
    for key in batch[0]:
        if key == "audio":
            continue
        values = [item[key] for item in batch]
        if isinstance(values[0], torch.Tensor):
            out[key] = torch.stack(values)
        elif _is_int(values[0]):
            out[key] = torch.tensor(values, dtype=torch.int64)
        elif isinstance(values[0], float):
            out[key] = torch.tensor(values, dtype=torch.float32)
        else:
            out[key] = values
    return out


# ---------------------------------------------------------------------------------------------
# Reading any folder of notes or clips
# ---------------------------------------------------------------------------------------------

def load_folder(folder, sr: int | None = SAMPLE_RATE, max_files: int | None = None):
    """Read all audio of a folder: an NSynth-format folder or a plain folder of audio files.

    Parameters
    ----------
    folder : str or Path
        An NSynth-format folder (``examples.json`` + ``audio/``: real, mini or generated), or
        any folder of audio files (searched recursively, in sorted order).
    sr : int or None
        Resample everything to this rate (``None`` keeps each file's rate).
    max_files : int, optional
        Read only the first ``max_files`` notes/files.

    Returns
    -------
    audio : list of np.ndarray
        Mono float32 arrays.
    metadata : list of dict
        For an NSynth folder, each note's fields from ``examples.json`` plus ``file``; for a
        plain folder ``{"file": <path relative to folder>, "note_str": <file stem>}``.

    Example
    -------
    >>> ys, meta = load_folder("samples/rnn")              # doctest: +SKIP
    >>> len(ys) == len(meta), meta[0]["pitch"]            # doctest: +SKIP
    (True, 60)
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of audio")
    ys, metas = [], []
    if (folder / "examples.json").exists():
        examples = read_examples(folder)
        items = [(note_wav(folder, key), meta) for key, meta in list(examples.items())[:max_files]]
        missing = []
        for path, meta in items:
            if not path.exists():
                missing.append(path.name)
                continue
            y, _ = _audio.load(path, sr=sr)
            ys.append(y)
            metas.append({**meta, "file": f"audio/{path.name}"})
        if missing:
            warnings.warn(f"{folder}: {len(missing)} note(s) of examples.json have no WAV file and were "
                          f"skipped (first: {', '.join(missing[:5])})", stacklevel=2)
    else:
        files = _audio.find_audio_files(folder)
        files = files[:max_files]
        for p in files:
            y, _ = _audio.load(p, sr=sr)
            ys.append(y)
            metas.append({"file": str(p.relative_to(folder)), "note_str": p.stem})
    if not ys:
        raise FileNotFoundError(f"{folder}: no audio found (neither examples.json + audio/*.wav nor "
                                f"files ending in {', '.join(_audio.AUDIO_EXTENSIONS)})")
    return ys, metas
