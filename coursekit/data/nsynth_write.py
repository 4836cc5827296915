"""Writing notes as an NSynth split folder (:func:`write_nsynth_folder`): how every model of the
course saves what it generates. Importable from :mod:`coursekit.data.nsynth` too."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from .. import audio as _audio
from ..outputs import claim_dir, mark_written, owned, remove_marked
from .nsynth_format import (FAMILIES, FIELDS, N_FRAMES, QUALITIES, SAMPLE_RATE, SOURCES, _dumps, _ids,
                            _is_int, _wav_bytes, note_name)

__all__ = ["write_nsynth_folder"]


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
                        overwrite: bool = False) -> Path:
    """Write notes as an NSynth-format folder (``examples.json`` + ``audio/<note_str>.wav``).

    This is how every model of the course saves what it generates, so generated and real notes
    are read (:class:`~coursekit.data.nsynth.NSynth`, :func:`~coursekit.data.nsynth.load_folder`)
    and judged the same way.

    Parameters
    ----------
    out_dir : str or Path
        The folder to write (created): a new or empty folder, or one this function wrote before
        (it carries the mark of :mod:`coursekit.outputs`; what it wrote then is replaced).
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
        Also write into a folder that holds files the course did not write, replacing its
        ``examples.json`` and the WAV files that ``examples.json`` lists (nothing else);
        otherwise such a folder raises :class:`coursekit.outputs.UserError`.

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
    claim_dir(out_dir, overwrite=overwrite)  # before the work: fail fast on someone else's folder

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

    claim_dir(out_dir, overwrite=overwrite)
    # replace only what the course wrote here before (or, with overwrite, the old examples.json
    # and the WAV files it lists): a user's other files in the folder stay
    if owned(out_dir):
        remove_marked(out_dir)
    elif (out_dir / "examples.json").is_file():
        for name in _listed_notes(out_dir / "examples.json"):
            (out_dir / "audio" / f"{name}.wav").unlink(missing_ok=True)
        (out_dir / "examples.json").unlink()
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    written = [f"audio/{r['note_str']}.wav" for r in records]
    mark_written(out_dir, written + ["examples.json"])  # first: a crash leaves a folder we may redo
    for rel, y16 in zip(written, clips):
        (out_dir / rel).write_bytes(_wav_bytes(y16, int(sr)))
    # the metadata last: a reader never sees examples.json without its audio
    (out_dir / "examples.json").write_text(_dumps({r["note_str"]: r for r in records}), encoding="utf-8")
    return out_dir


def _listed_notes(examples_json) -> list[str]:
    """The note names an ``examples.json`` lists that are plain file names (none climbing out of
    its folder); ``[]`` when it cannot be read."""
    try:
        meta = json.loads(Path(examples_json).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [k for k in meta if isinstance(k, str) and k and "/" not in k and "\\" not in k
            and k not in (".", "..")] if isinstance(meta, dict) else []
