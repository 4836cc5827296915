"""Checking a MAESTRO folder (:func:`check_maestro`): the metadata, every file it lists, their
formats. Importable from :mod:`coursekit.data.maestro` too.
"""

from __future__ import annotations

from pathlib import Path

from .. import audio as _audio
from .maestro_metadata import SPLITS, find_metadata, read_metadata
from .maestro_midi import load_midi, midi_notes

AUDIO_RATES = (44100, 48000)


def midi_structure_problem(path) -> str | None:
    """A quick structural check of a Standard MIDI File without parsing its events.

    Checks the ``MThd`` header and that the declared number of ``MTrk`` chunks is there and
    fits in the file (which catches truncated downloads). ``None`` when it looks fine.
    """
    data = Path(path).read_bytes()
    if len(data) < 14 or data[:4] != b"MThd":
        return f"not a MIDI file (starts with {data[:4]!r}, a MIDI file starts with b'MThd')"
    hlen = int.from_bytes(data[4:8], "big")
    fmt, ntracks = int.from_bytes(data[8:10], "big"), int.from_bytes(data[10:12], "big")
    if fmt not in (0, 1, 2):
        return f"unknown MIDI format {fmt}"
    pos, found = 8 + hlen, 0
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "big")
        if pos + 8 + size > len(data):
            return f"truncated: chunk {kind!r} at byte {pos} needs {size} bytes, {len(data) - pos - 8} left"
        found += kind == b"MTrk"
        pos += 8 + size
    if found != ntracks:
        return f"the header announces {ntracks} tracks, the file holds {found}"
    return None


def check_maestro(folder, deep: bool = False) -> tuple[dict, list[str]]:
    """Validate a MAESTRO folder: metadata, every file it lists, their formats.

    Problems (each naming the file): unreadable metadata, CSV and JSON disagreeing, unknown
    splits, missing MIDI or WAV files, MIDI files that are not well-formed (``deep=True`` parses
    every one with pretty_midi, slow on the real 1276), unreadable WAVs, WAVs not at 44.1/48 kHz
    or not stereo. A copy without any WAV is a MIDI-only download: that is reported in the
    counts, not as 1276 problems. An audio file shorter or longer than the metadata's duration
    is reported as information (``duration_mismatch``), not as a problem.

    Returns
    -------
    counts : dict
        ``rows``, one entry per split, ``years``, ``hours``, ``midi_found``, ``audio_found``
        and, when there are some, ``duration_mismatch``.
    problems : list of str
    """
    meta = find_metadata(folder)
    folder = meta.parent
    problems: list[str] = []
    try:
        rows = read_metadata(meta)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        return {"rows": 0}, [f"{meta.name}: unreadable metadata: {err}"]

    # The CSV and the JSON should list the same performances. (The official v3 files differ in
    # 7 titles: the CSV keeps quotes around '"La Campanella"', the JSON drops them. Names are
    # information; files, splits, years and durations must agree.)
    other = meta.with_suffix(".json" if meta.suffix == ".csv" else ".csv")
    name_differences = []
    if other.is_file() and other != meta:
        try:
            by_midi = {r["midi_filename"]: r for r in read_metadata(other)}
        except (ValueError, OSError, UnicodeDecodeError) as err:
            problems.append(f"{other.name}: unreadable metadata: {err}")
            by_midi = None
        if by_midi is not None:
            if len(by_midi) != len(rows):
                problems.append(f"{other.name}: {len(by_midi)} performances, {meta.name} has {len(rows)}")
            for r in rows:
                o = by_midi.get(r["midi_filename"])
                if o is None:
                    problems.append(f"{r['midi_filename']}: listed in {meta.name} but not in {other.name}")
                    continue
                diff = [f for f in ("split", "year", "audio_filename") if r[f] != o[f]]
                diff += ["duration"] if abs(r["duration"] - o["duration"]) > 1e-6 else []
                if diff:
                    problems.append(f"{r['midi_filename']}: {meta.name} and {other.name} disagree on "
                                    f"{', '.join(diff)}")
                for f in ("canonical_composer", "canonical_title"):
                    if r[f] != o[f]:
                        name_differences.append(f"{r[f]!r} / {o[f]!r}")

    counts: dict = {"metadata": meta.name, "rows": len(rows)}
    for s in SPLITS:
        counts[s] = sum(r["split"] == s for r in rows)
    for i, r in enumerate(rows):
        if r["split"] not in SPLITS:
            problems.append(f"{r['midi_filename']}: unknown split {r['split']!r} (row {i})")
    counts["years"] = len({r["year"] for r in rows})
    counts["hours"] = round(sum(r["duration"] for r in rows) / 3600, 2)

    audio_present = [(folder / r["audio_filename"]).is_file() for r in rows]
    midi_only = rows and not any(audio_present)
    midi_found = audio_found = 0
    mismatches = []
    for r, has_audio in zip(rows, audio_present):
        mp, ap = folder / r["midi_filename"], folder / r["audio_filename"]
        if not mp.is_file():
            problems.append(f"{r['midi_filename']}: missing MIDI file")
        else:
            midi_found += 1
            why = midi_structure_problem(mp)
            if why is None and deep:
                try:
                    if len(midi_notes(load_midi(mp))) == 0:
                        why = "holds no notes"
                except ValueError as err:
                    why = str(err)
            if why:
                problems.append(f"{r['midi_filename']}: bad MIDI: {why}")
        if midi_only:
            continue
        if not has_audio:
            problems.append(f"{r['audio_filename']}: missing audio file")
            continue
        try:
            info = _audio.info(ap)
        except (_audio.AudioError, OSError) as err:
            problems.append(f"{r['audio_filename']}: unreadable audio: {err}")
            continue
        audio_found += 1
        if info["samplerate"] not in AUDIO_RATES:
            problems.append(f"{r['audio_filename']}: {info['samplerate']} Hz (MAESTRO audio is 44100 or 48000 Hz)")
        if info["channels"] != 2:
            problems.append(f"{r['audio_filename']}: {info['channels']} channel(s) (MAESTRO audio is stereo)")
        if abs(info["duration"] - r["duration"]) > 1.0:
            mismatches.append(f"{r['audio_filename']} ({info['duration']:.1f} s, metadata {r['duration']:.1f} s)")
    if name_differences:
        counts["name_differences"] = (f"{len(name_differences)} composer/title spelling(s) differ "
                                      f"between {meta.name} and {other.name} (information): "
                                      + "; ".join(name_differences[:2]) + ("; ..." if len(name_differences) > 2 else ""))
    counts["midi_found"] = midi_found
    counts["audio_found"] = "none: a MIDI-only copy" if midi_only else audio_found
    if mismatches:
        counts["duration_mismatch"] = (f"{len(mismatches)} audio file(s) differ from the metadata "
                                       f"by more than 1 s (information, not a problem): "
                                       + "; ".join(mismatches[:3]) + ("; ..." if len(mismatches) > 3 else ""))
    return counts, problems
