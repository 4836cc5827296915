"""The NSynth ``jsonwav`` format: its tables, note names, how its files are serialised, and
reading and validating ``examples.json``.

A split is one folder, ``examples.json`` (one object keyed by ``note_str``, 13 fields per note)
and ``audio/<note_str>.wav`` (16-bit PCM, mono, 16 kHz, 64000 frames). Everything here is
importable from :mod:`coursekit.data.nsynth` too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

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


def _wav_bytes(y16: np.ndarray, sr: int) -> bytes:
    """A canonical 44-byte-header PCM_16 mono WAV (what soundfile writes, byte for byte)."""
    import struct

    data = y16.astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16)
    header += b"data" + struct.pack("<I", len(data))
    return header + data


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
        :func:`~coursekit.data.nsynth_write.write_nsynth_folder` for generated notes, e.g. ``generated_by``) are kept.

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
