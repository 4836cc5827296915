"""Checks of chapter 01 (datasets): ``exercises/01_datasets.ipynb``.

Each check takes the student's function, prints ``PASS: <name>`` or ``FAIL: <name>: <hint>``
and returns a bool (see :mod:`coursekit.exercises.checks`).

Example
-------
>>> from coursekit.exercises import ch01
>>> ch01.check_alignment(lambda offset_s, seconds, sr: (round(offset_s * sr),
...                                                       round(offset_s * sr) + round(seconds * sr)),
...                      lambda t, fs: int(round(t * fs)))
PASS: alignment
True
"""

from __future__ import annotations

from .checks import run_check

__all__ = ["check_parse_note_str", "check_select_notes", "check_alignment"]

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
                    + ("; split the instrument on its LAST underscores (rsplit), since "
                       "'synth_lead' has an underscore" if fam == "synth_lead" else "")
                    + ("; convert to int" if isinstance(value, int) and isinstance(got[key], str) else ""))

    return run_check("parse_note_str", test,
                     hint="note_str = '{instrument_str}-{pitch:03d}-{velocity:03d}', "
                          "instrument_str = '{family}_{source}_{NNN}'")


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

    return run_check("select_notes", test,
                     hint="keep ex[k] when its instrument_family_str matches and "
                          "pitch_min <= pitch <= pitch_max")


def check_alignment(segment_samples, roll_frame) -> bool:
    """``segment_samples(offset_s, seconds, sr)`` -> (start, stop) sample indices and
    ``roll_frame(t, fs)`` -> index of the piano-roll column centred nearest to time ``t``
    (the convention of :func:`coursekit.data.maestro.piano_roll`)."""

    def test():
        cases = [((1.5, 0.5, 44100), (66150, 88200)), ((0.0, 1.0, 16000), (0, 16000)),
                 ((2.25, 4.0, 48000), (108000, 300000))]
        for args, want in cases:
            got = segment_samples(*args)
            assert tuple(got) == want, f"segment_samples{args} should be {want}, got {got}"
            assert all(isinstance(v, int) for v in got), \
                f"return Python ints (usable as indices), got {[type(v).__name__ for v in got]}"
        frames = [((1.5, 100), 150), ((0.019, 100), 2), ((2.4567, 50), 123), ((0.0, 31.25), 0),
                  ((0.0099, 100), 1), ((0.004, 100), 0), ((3.0, 0.5), 2)]
        for args, want in frames:
            got = roll_frame(*args)
            assert got == want and isinstance(got, int), (
                f"roll_frame{args} should be {want}, got {got!r}; column k is centred on time "
                "k / fs, so take the nearest integer to t * fs (as an int)")

    return run_check("alignment", test,
                     hint="samples: round(offset * sr); piano-roll columns: round(t * fs)")
