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

This module reads such folders (:func:`read_examples`, :class:`NSynth`, :func:`load_folder`),
checks them (:func:`check_nsynth`) and writes them (:func:`write_nsynth_folder`, which every
model of the course uses to save its generated notes, so generated and real notes are read and
judged the same way).

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

import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import audio as _audio

__all__ = [
    "FAMILIES", "SOURCES", "QUALITIES", "SAMPLE_RATE", "N_FRAMES", "FIELDS", "FIELD_ORDER",
    "KNOWN_NOISE_INSTRUMENTS", "note_name", "read_examples", "NSynth", "collate",
    "check_nsynth", "write_nsynth_folder", "load_folder",
]

# ---------------------------------------------------------------------------------------------
# The format
# ---------------------------------------------------------------------------------------------

#: Instrument families, in the order of their ids (``instrument_family``).
FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string",
            "synth_lead", "vocal")
#: How the instrument makes sound, in the order of their ids (``instrument_source``).
SOURCES = ("acoustic", "electronic", "synthetic")
#: The ten note qualities, in the order of the ``qualities`` vector.
QUALITIES = ("bright", "dark", "distortion", "fast_decay", "long_release", "multiphonic",
             "nonlinear_env", "percussive", "reverb", "tempo-synced")

SAMPLE_RATE = 16000
N_FRAMES = 64000  # 4 s: the note is held for 3 s, then released for 1 s
HOLD_SECONDS = 3.0

#: The 13 metadata fields of a note and their JSON types.
FIELDS = {
    "note": int,                    # id of the note in the whole dataset (not the pitch!)
    "note_str": str,                # "{instrument_str}-{pitch:03d}-{velocity:03d}"
    "instrument": int,              # id of the instrument
    "instrument_str": str,          # "{family}_{source}_{k:03d}", e.g. "synth_lead_synthetic_003"
    "pitch": int,                   # MIDI note number, 0..127
    "velocity": int,                # MIDI velocity, one of 25, 50, 75, 100, 127
    "sample_rate": int,             # 16000
    "qualities": list,              # 10 ints (0/1), in the order of QUALITIES
    "qualities_str": list,          # the names of the qualities that are 1
    "instrument_family": int,       # index into FAMILIES
    "instrument_family_str": str,
    "instrument_source": int,       # index into SOURCES
    "instrument_source_str": str,
}
#: The order in which the real ``examples.json`` lists the fields of a note.
FIELD_ORDER = ("qualities", "pitch", "note", "instrument_source_str", "velocity", "instrument_str",
               "instrument", "sample_rate", "qualities_str", "instrument_source", "note_str",
               "instrument_family", "instrument_family_str")

#: Instruments whose notes are known to be noise in the real dataset (the test split).
KNOWN_NOISE_INSTRUMENTS = ("brass_acoustic_046",)

_AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")


def note_name(instrument_str: str, pitch: int, velocity: int) -> str:
    """The name of a note: ``{instrument_str}-{pitch:03d}-{velocity:03d}``.

    Example
    -------
    >>> note_name("guitar_acoustic_010", 66, 100)
    'guitar_acoustic_010-066-100'
    """
    return f"{instrument_str}-{int(pitch):03d}-{int(velocity):03d}"


def _dumps(examples: dict) -> str:
    """Serialise like the real files (Python 2's ``json.dumps(indent=4)``: ``', '`` separators)."""
    return json.dumps(examples, indent=4, separators=(", ", ": "))


# ---------------------------------------------------------------------------------------------
# Reading the metadata
# ---------------------------------------------------------------------------------------------

def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _field_problems(key: str, meta) -> list[str]:
    """What is wrong with one note's metadata (an empty list when nothing is)."""
    if not isinstance(meta, dict):
        return [f"note {key!r}: expected an object with the 13 NSynth fields, got {type(meta).__name__}"]
    out = []
    missing = [f for f in FIELDS if f not in meta]
    if missing:
        out.append(f"note {key!r}: missing field(s) {', '.join(missing)}")
    for field, typ in FIELDS.items():
        if field not in meta:
            continue
        value = meta[field]
        ok = _is_int(value) if typ is int else isinstance(value, typ)
        if not ok:
            out.append(f"note {key!r}: field {field!r} should be {typ.__name__}, "
                       f"got {type(value).__name__} {value!r}")
    q = meta.get("qualities")
    if isinstance(q, list) and (len(q) != len(QUALITIES) or not all(_is_int(v) and v in (0, 1) for v in q)):
        out.append(f"note {key!r}: 'qualities' should be {len(QUALITIES)} ints 0/1, got {q!r}")
    qs = meta.get("qualities_str")
    if isinstance(qs, list) and not all(isinstance(v, str) for v in qs):
        out.append(f"note {key!r}: 'qualities_str' should be a list of strings, got {qs!r}")
    return out


def _consistency_problems(key: str, meta: dict) -> list[str]:
    """Fields that disagree with each other (ids vs names, note_str vs its parts)."""
    out = []
    if meta.get("note_str") != key:
        out.append(f"note {key!r}: note_str is {meta.get('note_str')!r}, not the key {key!r}")
    try:
        expected = note_name(meta["instrument_str"], meta["pitch"], meta["velocity"])
    except (KeyError, TypeError, ValueError):
        expected = None
    if expected is not None and meta.get("note_str") != expected:
        out.append(f"note {key!r}: note_str should be '{{instrument_str}}-{{pitch:03d}}-{{velocity:03d}}' "
                   f"= {expected!r}")
    for name, table in (("instrument_family", FAMILIES), ("instrument_source", SOURCES)):
        i, s = meta.get(name), meta.get(name + "_str")
        if _is_int(i) and not 0 <= i < len(table):
            out.append(f"note {key!r}: {name} {i} is not an id in 0..{len(table) - 1}")
        elif _is_int(i) and isinstance(s, str) and table[i] != s:
            out.append(f"note {key!r}: {name} {i} is {table[i]!r} but {name}_str is {s!r}")
    p = meta.get("pitch")
    if _is_int(p) and not 0 <= p <= 127:
        out.append(f"note {key!r}: pitch {p} is not a MIDI note number 0..127")
    q, qs = meta.get("qualities"), meta.get("qualities_str")
    if (isinstance(q, list) and len(q) == len(QUALITIES) and isinstance(qs, list)
            and [n for n, v in zip(QUALITIES, q) if v] != list(qs)):
        out.append(f"note {key!r}: qualities {q} and qualities_str {qs} disagree")
    return out


def _examples_path(split_dir) -> Path:
    split_dir = Path(split_dir)
    if split_dir.is_file() and split_dir.name.endswith(".json"):
        return split_dir
    path = split_dir / "examples.json"
    if not split_dir.exists():
        raise FileNotFoundError(f"{split_dir}: no such folder. Give the NSynth split folder that "
                                "holds examples.json and audio/ (e.g. .../nsynth-test/)")
    if not path.exists():
        hint = ""
        if split_dir.is_dir():
            subs = sorted(p.name for p in split_dir.glob("nsynth-*") if (p / "examples.json").exists())
            if subs:
                hint = f" It holds {', '.join(subs)}: give one of those."
        raise FileNotFoundError(
            f"{split_dir}: no examples.json there. Give the NSynth split folder that holds "
            f"examples.json and audio/ (e.g. .../nsynth-test/), as the archive unpacks.{hint}")
    return path


def _load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            examples = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); the file is truncated or corrupt; "
                         "re-download or re-generate the split") from None
    if not isinstance(examples, dict):
        raise ValueError(f"{path}: expected one JSON object keyed by note_str, "
                         f"got a {type(examples).__name__}")
    return examples


def read_examples(split_dir) -> dict:
    """Read and validate ``examples.json`` of an NSynth split.

    Parameters
    ----------
    split_dir : str or Path
        The split folder as the archive unpacks (``.../nsynth-test``), or the JSON file itself.

    Returns
    -------
    dict
        ``{note_str: {13 fields}}`` in file order. Extra fields (those written by
        :func:`write_nsynth_folder` for generated notes, e.g. ``generated_by``) are kept.

    Raises
    ------
    FileNotFoundError
        No ``examples.json`` in the folder (the message says which folder was given).
    ValueError
        Invalid JSON, or a note with a missing field or a field of the wrong type (named).

    Example
    -------
    >>> ex = read_examples("nsynth-test")                       # doctest: +SKIP
    >>> ex["guitar_acoustic_010-066-100"]["pitch"]              # doctest: +SKIP
    66
    """
    path = _examples_path(split_dir)
    examples = _load_json(path)
    bad = [(k, p) for k, m in examples.items() if (p := _field_problems(k, m))]
    if bad:
        key, problems = bad[0]
        more = f" ({len(bad) - 1} more note(s) have problems; run `python -m coursekit data check nsynth`)" \
            if len(bad) > 1 else ""
        raise ValueError(f"{path}: " + "; ".join(problems) + more)
    return examples


# ---------------------------------------------------------------------------------------------
# The torch Dataset
# ---------------------------------------------------------------------------------------------

def _ids(values, table, what):
    """Names or ids -> a set of ids, with a clear error for an unknown name."""
    if values is None:
        return None
    if isinstance(values, (str, int)):
        values = [values]
    out = set()
    for v in values:
        if _is_int(v) and 0 <= v < len(table):
            out.add(v)
        elif isinstance(v, str) and v in table:
            out.add(table.index(v))
        else:
            raise ValueError(f"unknown {what} {v!r}; choose from {', '.join(table)} (or their ids 0..{len(table) - 1})")
    return out


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
        path = self.audio_dir / f"{m['note_str']}.wav"
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
# Checking a folder
# ---------------------------------------------------------------------------------------------

def check_nsynth(folder, n_frames: int | None = N_FRAMES, sample_rate: int = SAMPLE_RATE):
    """Validate an NSynth split folder without reading the samples (fast: headers only).

    Parameters
    ----------
    folder : str or Path
        The split folder holding ``examples.json`` and ``audio/`` (e.g. ``.../nsynth-test``).
    n_frames : int or None
        Expected length of every WAV (64000); ``None`` accepts any length (generated clips).
    sample_rate : int
        Expected sample rate of every WAV.

    Returns
    -------
    counts : dict
        ``notes``, ``instruments``, ``families`` ({name: notes}), ``sources``, ``pitch_min``,
        ``pitch_max``, ``velocities``, ``wav_files``, ``missing_wavs``, ``unlisted_wavs``,
        ``bad_wavs``.
    problems : list of str
        One line per problem, each naming the file (and the note): missing or unreadable WAV,
        not RIFF, empty, wrong sample rate, not mono, wrong length, not 16-bit PCM, a metadata
        field missing or of the wrong type, a note_str that does not match its fields, WAV
        files in ``audio/`` that the metadata does not list.

    Raises
    ------
    FileNotFoundError
        ``folder`` does not hold ``examples.json`` (the message says what to give instead).

    Example
    -------
    >>> counts, problems = check_nsynth("nsynth-test")   # doctest: +SKIP
    >>> counts["notes"], problems[:1]                    # doctest: +SKIP
    (4096, [])
    """
    folder = Path(folder)
    path = _examples_path(folder)
    folder = path.parent
    problems: list[str] = []
    try:
        examples = _load_json(path)
    except ValueError as err:
        return {"notes": 0}, [str(err)]

    audio_dir = folder / "audio"
    on_disk = {p.name: p for p in audio_dir.iterdir()} if audio_dir.is_dir() else {}
    if not audio_dir.is_dir():
        problems.append(f"{audio_dir}: no audio/ folder next to examples.json")

    fam_counts = {f: 0 for f in FAMILIES}
    src_counts = {s: 0 for s in SOURCES}
    pitches, velocities, instruments = [], set(), set()
    missing = bad = 0
    for key, meta in examples.items():
        field_problems = _field_problems(key, meta)
        problems += [f"{path.name}: {p}" for p in field_problems]
        if not isinstance(meta, dict):
            continue
        if not field_problems:
            problems += [f"{path.name}: {p}" for p in _consistency_problems(key, meta)]
            if 0 <= meta["instrument_family"] < len(FAMILIES):
                fam_counts[FAMILIES[meta["instrument_family"]]] += 1
            if 0 <= meta["instrument_source"] < len(SOURCES):
                src_counts[SOURCES[meta["instrument_source"]]] += 1
            pitches.append(meta["pitch"])
            velocities.add(meta["velocity"])
            instruments.add(meta["instrument_str"])
        wav = audio_dir / f"{key}.wav"
        if wav.name not in on_disk:
            missing += 1
            problems.append(f"{wav}: missing (listed in examples.json as note {key!r})")
            continue
        try:
            i = _audio.info(wav)
        except (_audio.AudioError, RuntimeError) as err:
            bad += 1
            problems.append(str(err))
            continue
        wrong = []
        if i["samplerate"] != sample_rate:
            wrong.append(f"sample rate {i['samplerate']} Hz, expected {sample_rate}")
        if i["channels"] != 1:
            wrong.append(f"{i['channels']} channels, expected mono")
        if n_frames is not None and i["frames"] != n_frames:
            wrong.append(f"{i['frames']} frames, expected {n_frames} ({n_frames / sample_rate:g} s)")
        if i["subtype"] != "PCM_16":
            wrong.append(f"sample format {i['subtype']}, expected PCM_16 (16-bit)")
        if i["format"] != "WAV":
            wrong.append(f"container {i['format']}, expected WAV")
        if isinstance(meta, dict) and _is_int(meta.get("sample_rate")) and meta["sample_rate"] != i["samplerate"]:
            wrong.append(f"examples.json says sample_rate {meta['sample_rate']}")
        if wrong:
            bad += 1
            problems.append(f"{wav}: " + "; ".join(wrong))
    listed = {f"{k}.wav" for k in examples}
    unlisted = sorted(n for n in on_disk if n.lower().endswith(".wav") and n not in listed)
    problems += [f"{audio_dir / n}: WAV file not listed in examples.json" for n in unlisted]

    counts = {
        "notes": len(examples),
        "instruments": len(instruments),
        "families": {k: v for k, v in fam_counts.items() if v},
        "sources": {k: v for k, v in src_counts.items() if v},
        "pitch_min": min(pitches) if pitches else None,
        "pitch_max": max(pitches) if pitches else None,
        "velocities": sorted(velocities),
        "wav_files": sum(1 for n in on_disk if n.lower().endswith(".wav")),
        "missing_wavs": missing,
        "unlisted_wavs": len(unlisted),
        "bad_wavs": bad,
    }
    return counts, problems


# ---------------------------------------------------------------------------------------------
# Writing a folder (generated notes)
# ---------------------------------------------------------------------------------------------

def _jsonable(value, where: str):
    """Numpy/torch scalars and arrays -> plain Python, so extra metadata can be saved."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "tolist"):  # numpy array, torch tensor
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, where) for k, v in value.items()}
    raise ValueError(f"{where}: cannot store {type(value).__name__} {value!r} in examples.json; "
                     "give a number, string, list or dict")


def _to_int16(y: np.ndarray) -> tuple[np.ndarray, bool]:
    clipped = bool(np.abs(y).max(initial=0.0) > 1.0)
    return np.round(np.clip(y, -1.0, 1.0) * 32767.0).astype("<i2"), clipped


def _wav_bytes(y16: np.ndarray, sr: int) -> bytes:
    """A canonical 44-byte-header PCM_16 mono WAV (what soundfile writes, byte for byte)."""
    import struct

    data = y16.astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16)
    header += b"data" + struct.pack("<I", len(data))
    return header + data


def _qualities(value, where: str) -> list[int]:
    if value is None:
        return [0] * len(QUALITIES)
    value = list(_jsonable(value, where))
    if all(isinstance(v, str) for v in value):
        unknown = [v for v in value if v not in QUALITIES]
        if unknown:
            raise ValueError(f"{where}: unknown quality {unknown[0]!r}; choose from {', '.join(QUALITIES)}")
        return [int(q in value) for q in QUALITIES]
    if len(value) != len(QUALITIES) or not all(v in (0, 1) for v in value):
        raise ValueError(f"{where}: 'qualities' must be {len(QUALITIES)} zeros/ones (order {QUALITIES}) "
                         f"or a list of quality names, got {value!r}")
    return [int(v) for v in value]


def write_nsynth_folder(out_dir, notes, sr: int = SAMPLE_RATE, n_frames: int | None = N_FRAMES,
                        overwrite: bool = True) -> Path:
    """Write notes as an NSynth-format folder (``examples.json`` + ``audio/<note_str>.wav``).

    This is how every model of the course saves what it generates, so generated and real notes
    are read (:class:`NSynth`, :func:`load_folder`) and judged the same way.

    Parameters
    ----------
    out_dir : str or Path
        The folder to write (created). With ``overwrite``, an earlier ``examples.json`` and
        ``audio/`` there are replaced; other files are left alone.
    notes : list of dict
        Each with ``audio`` (1-D numpy array or tensor, float in [-1, 1], at rate ``sr``),
        ``pitch`` (MIDI), ``velocity`` and ``instrument_family_str`` (or ``instrument_family``);
        optionally ``instrument_source_str`` (default ``"synthetic"``), ``qualities`` (10
        zeros/ones or a list of names), ``instrument_str``. Any other keys (``generated_by``,
        ``seed``, ``genre``, ...) are stored as extra fields of the note.
    sr : int
        Sample rate of the audio and of the files.
    n_frames : int or None
        Pad with zeros or trim every clip to this many samples (64000, the NSynth length);
        ``None`` keeps each clip's own length (longer clips such as genre excerpts).
    overwrite : bool
        Replace an existing NSynth folder at ``out_dir``; otherwise raise ``FileExistsError``.

    Returns
    -------
    Path
        ``out_dir``.

    Notes
    -----
    Names follow the real convention: ``instrument_str`` is ``{family}_{source}_{k:03d}`` with
    ``k`` the smallest number that keeps every ``note_str`` unique (so notes of different pitch
    share instrument 000; a second note of the same family, pitch and velocity gets 001).
    Audio is written as 16-bit PCM; samples beyond [-1, 1] are clipped with one warning.

    Example
    -------
    >>> import numpy as np, tempfile
    >>> from coursekit.audio import tone
    >>> notes = [{"audio": tone(440.0, seconds=4.0), "pitch": 69, "velocity": 100,
    ...           "instrument_family_str": "flute", "generated_by": "tone"}]
    >>> out = write_nsynth_folder(tempfile.mkdtemp(), notes)
    >>> sorted(p.name for p in (out / "audio").iterdir())
    ['flute_synthetic_000-069-100.wav']
    """
    out_dir = Path(out_dir)
    notes = list(notes)
    if not notes:
        raise ValueError("write_nsynth_folder: no notes to write (got an empty list)")
    if n_frames is not None and n_frames <= 0:
        raise ValueError(f"n_frames must be a positive number of samples or None, got {n_frames}")
    if (out_dir / "examples.json").exists() and not overwrite:
        raise FileExistsError(f"{out_dir}: already holds an NSynth folder; pass overwrite=True "
                              "or choose another folder")

    records, clips, used, instrument_ids = [], [], set(), {}
    n_clipped = 0
    for j, note in enumerate(notes):
        where = f"note {j}"
        if not isinstance(note, dict):
            raise ValueError(f"{where}: expected a dict with audio, pitch, velocity, "
                             f"instrument_family_str; got {type(note).__name__}")
        missing = [k for k in ("audio", "pitch", "velocity") if k not in note]
        if "instrument_family_str" not in note and "instrument_family" not in note:
            missing.append("instrument_family_str")
        if missing:
            raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
        y = note["audio"]
        if hasattr(y, "detach"):
            y = y.detach().cpu().numpy()
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 2 and 1 in y.shape:
            y = y.reshape(-1)
        if y.ndim != 1 or y.size == 0:
            raise ValueError(f"{where}: audio must be a non-empty 1-D (mono) array, got shape {y.shape}")
        if not np.all(np.isfinite(y)):
            raise _audio.AudioError(f"{where}: {int((~np.isfinite(y)).sum())} audio samples are NaN "
                                    "or inf; check the model that made it")
        if n_frames is not None:
            y = _audio.fix_length(y, n_frames)
        y16, clipped = _to_int16(y)
        n_clipped += clipped

        pitch, velocity = _jsonable(note["pitch"], where), _jsonable(note["velocity"], where)
        for name, v in (("pitch", pitch), ("velocity", velocity)):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not _is_int(v) or not 0 <= v <= 127:
                raise ValueError(f"{where}: {name} must be an int in 0..127, got {note[name]!r}")
        pitch, velocity = int(pitch), int(velocity)
        if "instrument_family_str" in note:
            fam = note["instrument_family_str"]
            if fam not in FAMILIES:
                raise ValueError(f"{where}: unknown instrument_family_str {fam!r}; choose from {', '.join(FAMILIES)}")
        else:
            fam = FAMILIES[next(iter(_ids(_jsonable(note["instrument_family"], where), FAMILIES, "family")))]
        src = note.get("instrument_source_str", "synthetic")
        if src not in SOURCES:
            raise ValueError(f"{where}: unknown instrument_source_str {src!r}; choose from {', '.join(SOURCES)}")
        inst = note.get("instrument_str")
        if inst is None:
            k = 0
            while note_name(f"{fam}_{src}_{k:03d}", pitch, velocity) in used:
                k += 1
            inst = f"{fam}_{src}_{k:03d}"
        name = note_name(inst, pitch, velocity)
        if name in used:
            raise ValueError(f"{where}: a second note named {name!r}; give unique instrument_str values")
        used.add(name)
        q = _qualities(note.get("qualities"), where)
        record = {
            "qualities": q,
            "pitch": pitch,
            "note": j,
            "instrument_source_str": src,
            "velocity": velocity,
            "instrument_str": inst,
            "instrument": instrument_ids.setdefault(inst, len(instrument_ids)),
            "sample_rate": int(sr),
            "qualities_str": [n for n, v in zip(QUALITIES, q) if v],
            "instrument_source": SOURCES.index(src),
            "note_str": name,
            "instrument_family": FAMILIES.index(fam),
            "instrument_family_str": fam,
        }
        reserved = set(FIELDS) | {"audio", "qualities"}
        for key, value in note.items():
            if key not in reserved:
                record[key] = _jsonable(value, f"{where}, field {key!r}")
        records.append(record)
        clips.append(y16)
    if n_clipped:
        warnings.warn(f"{out_dir}: {n_clipped} of {len(notes)} clips had samples beyond [-1, 1] and "
                      "were clipped; normalise the audio before writing to avoid distortion", stacklevel=2)

    if (out_dir / "examples.json").exists():
        (out_dir / "examples.json").unlink()
    if (out_dir / "audio").is_dir():
        shutil.rmtree(out_dir / "audio")
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    for record, y16 in zip(records, clips):
        (out_dir / "audio" / f"{record['note_str']}.wav").write_bytes(_wav_bytes(y16, int(sr)))
    # the metadata last: a reader never sees examples.json without its audio
    (out_dir / "examples.json").write_text(_dumps({r["note_str"]: r for r in records}), encoding="utf-8")
    return out_dir


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
        items = list(examples.items())[:max_files]
        missing = []
        for key, meta in items:
            path = folder / "audio" / f"{key}.wav"
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
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _AUDIO_EXTENSIONS and p.is_file())
        files = files[:max_files]
        for p in files:
            y, _ = _audio.load(p, sr=sr)
            ys.append(y)
            metas.append({"file": str(p.relative_to(folder)), "note_str": p.stem})
    if not ys:
        raise FileNotFoundError(f"{folder}: no audio found (neither examples.json + audio/*.wav nor "
                                f"files ending in {', '.join(_AUDIO_EXTENSIONS)})")
    return ys, metas
