"""Checks of chapter 01 (datasets): ``exercises/01_datasets.ipynb``.

Each check takes the student's function, prints ``PASS: <name>`` or ``FAIL: <name>: <hint>``
and returns a bool (see :mod:`coursekit.exercises.checks`).

Example
-------
>>> from coursekit.exercises import ch01
>>> ch01.check_roll_frame(lambda t, fs: int(round(t * fs)))
PASS: roll_frame
True
"""

from __future__ import annotations

import numpy as np

from .checks import run_check

__all__ = ["check_parse_note_str", "check_select_notes", "check_roll_frame", "check_segment_roll"]

# note_str -> (instrument_str, family, source, pitch, velocity); the traps: synth_lead has an
# underscore in the family, and pitch/velocity are zero-padded.
_NOTES = {
    "bass_synthetic_068-049-025": ("bass_synthetic_068", "bass", "synthetic", 49, 25),
    "keyboard_electronic_001-021-127": ("keyboard_electronic_001", "keyboard", "electronic", 21, 127),
    "synth_lead_synthetic_000-060-100": ("synth_lead_synthetic_000", "synth_lead", "synthetic", 60, 100),
    "guitar_acoustic_010-108-050": ("guitar_acoustic_010", "guitar", "acoustic", 108, 50),
    "brass_acoustic_046-009-075": ("brass_acoustic_046", "brass", "acoustic", 9, 75),
}


def check_parse_note_str(parse_note_str) -> bool:
    """``parse_note_str(note_str)`` -> dict with instrument_str, instrument_family_str,
    instrument_source_str, pitch (int), velocity (int)."""

    def test():
        for note_str, (inst, fam, src, pitch, vel) in _NOTES.items():
            got = parse_note_str(note_str)
            assert isinstance(got, dict), f"return a dict, got {type(got).__name__}"
            want = {"instrument_str": inst, "instrument_family_str": fam,
                    "instrument_source_str": src, "pitch": pitch, "velocity": vel}
            for key, value in want.items():
                assert key in got, f"the dict has no key {key!r}"
                assert got[key] == value and type(got[key]) is type(value), (
                    f"{note_str}: {key} should be {value!r}, got {got[key]!r}"
                    + ("; 'synth_lead' has an underscore of its own: count the underscores "
                       "from the right" if fam == "synth_lead" else "")
                    + ("; pitch and velocity are numbers, not text" if isinstance(value, int)
                       and isinstance(got[key], str) else ""))

    return run_check("parse_note_str", test, hint=(
        "a note's name is the instrument, a dash, the pitch, a dash, the velocity; the instrument "
        "is family, source and number joined by underscores",
        "split the name at its dashes first, then the instrument at its underscores; pitch and "
        "velocity become integers (the zero padding goes away)",
        "one family, synth_lead, contains an underscore: split the instrument from the right, "
        "at most twice, so the family keeps its own underscore"))


def _fake_examples() -> dict:
    examples = {}
    for i, (note_str, (inst, fam, src, pitch, vel)) in enumerate(_NOTES.items()):
        examples[note_str] = {"note_str": note_str, "instrument_str": inst,
                              "instrument_family_str": fam, "instrument_source_str": src,
                              "pitch": pitch, "velocity": vel, "note": 1000 + 37 * i,
                              "sample_rate": 16000}
    # more notes of one family, at the edges of the range asked for
    for pitch in (47, 48, 60, 72, 73):
        ns = f"bass_electronic_018-{pitch:03d}-100"
        examples[ns] = {"note_str": ns, "instrument_str": "bass_electronic_018",
                        "instrument_family_str": "bass", "instrument_source_str": "electronic",
                        "pitch": pitch, "velocity": 100, "note": 60 if pitch == 47 else 5000 + pitch,
                        "sample_rate": 16000}
    return examples


def check_select_notes(select_notes) -> bool:
    """``select_notes(examples, family, pitch_min, pitch_max)`` -> sorted list of note_str."""

    def test():
        ex = _fake_examples()
        got = select_notes(ex, "bass", 48, 72)
        assert isinstance(got, list), f"return a list of note_str, got {type(got).__name__}"
        want = sorted(["bass_synthetic_068-049-025", "bass_electronic_018-048-100",
                       "bass_electronic_018-060-100", "bass_electronic_018-072-100"])
        if "bass_electronic_018-047-100" in got:
            raise AssertionError("bass_electronic_018-047-100 has pitch 47 (its 'note' field is 60, "
                                 "but 'note' is an id, not the pitch): filter on 'pitch'")
        assert sorted(got) == want, (
            f"select_notes(ex, 'bass', 48, 72) should give {want}, got {sorted(got)}; "
            "the range includes both ends")
        assert got == sorted(got), "return the note_str in sorted order"
        lead = select_notes(ex, "synth_lead", 0, 127)
        assert lead == ["synth_lead_synthetic_000-060-100"], \
            f"select_notes(ex, 'synth_lead', 0, 127) should find the synth_lead note, got {lead}"
        assert select_notes(ex, "flute", 0, 127) == [], "no flute notes: return an empty list"

    return run_check("select_notes", test, hint=(
        "go through the metadata and keep the names of the notes that match both conditions",
        "the family is in the field instrument_family_str; the pitch is the field pitch (the field "
        "note is an id), and both ends of the range count",
        "give back a list, sorted by name"))


def check_roll_frame(roll_frame) -> bool:
    """``roll_frame(t, fs)`` -> index of the piano-roll column centred nearest to time ``t``
    (the convention of :func:`coursekit.data.maestro.piano_roll`: column k is centred on k / fs)."""

    def test():
        frames = [((1.5, 100), 150), ((0.019, 100), 2), ((2.4567, 50), 123), ((0.0, 31.25), 0),
                  ((0.0099, 100), 1), ((0.004, 100), 0), ((3.0, 0.5), 2)]
        for args, want in frames:
            got = roll_frame(*args)
            assert got == want and isinstance(got, int), (
                f"roll_frame{args} should be {want}, got {got!r}; column k is centred on time "
                "k / fs: take the nearest whole column, as a Python int")

    return run_check("roll_frame", test, hint=(
        "a roll with fs columns a second puts column k at time k / fs",
        "so time t falls at t * fs columns: round it to the nearest whole column, as a Python int"))


# (start, end, pitch, velocity) in seconds: a note held across the segment's start, one across
# its end, one before it, one after it, two overlapping on one key, one too short for a column,
# one below the piano's lowest key
_SEGMENT_NOTES = np.array([
    [0.20, 1.30, 60, 127], [1.10, 1.60, 64, 64], [1.90, 2.80, 67, 100], [0.00, 0.90, 72, 90],
    [2.60, 3.00, 48, 80], [1.40, 1.70, 64, 100], [1.50, 1.502, 55, 50], [1.20, 1.50, 20, 100],
    [1.00, 2.00, 108, 30]], dtype=np.float64)


def check_segment_roll(segment_roll) -> bool:
    """``segment_roll(notes, offset_s, seconds, fs)`` -> the ``(88, round(seconds * fs))`` piano
    roll of the span ``[offset_s, offset_s + seconds)``: velocity / 127 where a key sounds,
    compared with :func:`coursekit.data.maestro.piano_roll`."""
    from ..data.maestro import piano_roll

    def test():
        for offset, seconds, fs in ((1.0, 1.0, 100), (1.25, 1.5, 50), (0.0, 3.0, 31.25)):
            got = np.asarray(segment_roll(_SEGMENT_NOTES.copy(), offset, seconds, fs), dtype=np.float64)
            want = piano_roll(_SEGMENT_NOTES, fps=fs, start=offset, end=offset + seconds)
            assert got.shape == want.shape, (
                f"segment_roll(notes, {offset}, {seconds}, {fs}) should have shape {want.shape} "
                f"(88 keys x one column per frame of the segment), got {got.shape}")
            wrong = np.argwhere(np.abs(got - want) > 1e-6)
            if len(wrong):
                key, col = (int(v) for v in wrong[0])
                raise AssertionError(
                    f"segment_roll(notes, {offset}, {seconds}, {fs}): MIDI key {key + 21}, column "
                    f"{col} should be {want[key, col]:.3f}, got {got[key, col]:.3f} "
                    f"({len(wrong)} cells differ); times count from the segment's start")

    return run_check("segment_roll", test, hint=(
        "start from an empty roll of 88 keys (MIDI 21 to 108) by one column per frame of the "
        "segment, and draw each note that sounds inside the segment onto its key's row",
        "measure a note's start and end from the segment's start, turn both into columns the way "
        "roll_frame does, and clip them to the segment; a note shorter than a column still gets one",
        "a cell holds the velocity divided by 127; where two notes of one key overlap keep the "
        "louder; keys outside the piano's range are skipped"))
