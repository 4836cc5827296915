"""Checking an NSynth split folder (:func:`check_nsynth`): metadata, every WAV header, the files
the metadata does not list. Importable from :mod:`coursekit.data.nsynth` too."""

from __future__ import annotations

from pathlib import Path

from .. import audio as _audio
from .nsynth_format import (FAMILIES, N_FRAMES, QUALITIES, SAMPLE_RATE, SOURCES, _examples_path,
                            _field_problems, _is_int, _load_json, note_name)

__all__ = ["check_nsynth"]


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
