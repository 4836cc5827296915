"""MAESTRO's MIDI: notes and pedal events of a performance, the sustain pedal applied to note
offsets, and piano rolls. Importable from :mod:`coursekit.data.maestro` too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LOWEST, HIGHEST = 21, 108  # A0 and C8: the 88 keys
SUSTAIN, SOSTENUTO, SOFT = 64, 66, 67


def load_midi(path):
    """Parse a MIDI file with pretty_midi (clear errors for missing or broken files)."""
    import pretty_midi

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such MIDI file")
    try:
        return pretty_midi.PrettyMIDI(str(path))
    except Exception as err:
        raise ValueError(f"{path}: not a readable MIDI file ({type(err).__name__}: {err}); "
                         "re-download or re-generate it") from None


def midi_notes(midi) -> np.ndarray:
    """All notes of a performance: array ``(n, 4)`` of ``start, end, pitch, velocity``.

    Seconds for times, MIDI numbers for pitch, 1..127 for velocity; sorted by start then pitch.
    ``midi`` is a path or a ``pretty_midi.PrettyMIDI``.
    """
    if not hasattr(midi, "instruments"):
        midi = load_midi(midi)
    rows = [(n.start, n.end, n.pitch, n.velocity) for inst in midi.instruments
            if not inst.is_drum for n in inst.notes]
    notes = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


def pedal_events(midi, number: int = SUSTAIN) -> np.ndarray:
    """Control changes ``number`` (64 sustain, 66 sostenuto, 67 soft): array ``(m, 2)`` of
    ``time, value`` (value 0..127), sorted by time."""
    if not hasattr(midi, "instruments"):
        midi = load_midi(midi)
    rows = [(c.time, c.value) for inst in midi.instruments for c in inst.control_changes
            if c.number == number]
    ev = np.array(rows, dtype=np.float64).reshape(-1, 2)
    return ev[np.argsort(ev[:, 0], kind="stable")]


def pedal_intervals(events: np.ndarray, threshold: int = 64, end: float | None = None) -> np.ndarray:
    """Turn pedal events into ``(k, 2)`` intervals ``down, up`` (value >= ``threshold`` is down).

    A pedal still down after the last event is released at ``end`` (default: the last event).
    """
    out, down = [], None
    for t, v in np.asarray(events).reshape(-1, 2):
        if v >= threshold and down is None:
            down = t
        elif v < threshold and down is not None:
            out.append((down, t))
            down = None
    if down is not None:
        last = float(events[-1, 0]) if len(events) else down
        out.append((down, max(down, end if end is not None else last)))
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def apply_sustain(notes: np.ndarray, sustain: np.ndarray) -> np.ndarray:
    """Extend note offsets while the sustain pedal is down (how long the strings really ring).

    A key released while the pedal is down sounds until the pedal comes up; a string struck
    again ends the earlier note. ``sustain`` is the ``(k, 2)`` array of
    :func:`pedal_intervals`. Returns a new ``(n, 4)`` array.

    Example
    -------
    >>> notes = np.array([[0.0, 0.5, 60, 80], [1.0, 1.2, 60, 80]])
    >>> apply_sustain(notes, np.array([[0.2, 3.0]]))[:, 1].tolist()
    [1.0, 3.0]
    """
    notes = np.array(notes, dtype=np.float64).reshape(-1, 4)
    sustain = np.asarray(sustain, dtype=np.float64).reshape(-1, 2)
    if len(notes) == 0:
        return notes
    ends = notes[:, 1].copy()
    if len(sustain):
        i = np.searchsorted(sustain[:, 0], ends, side="right") - 1
        held = (i >= 0) & (ends < sustain[np.clip(i, 0, None), 1])
        ends[held] = np.maximum(ends[held], sustain[i[held], 1])
    # a re-struck key cuts the previous note of the same pitch
    order = np.lexsort((notes[:, 0], notes[:, 2]))
    for a, b in zip(order[:-1], order[1:]):
        if notes[a, 2] == notes[b, 2] and notes[b, 0] > notes[a, 0]:
            ends[a] = min(ends[a], notes[b, 0])
    out = notes.copy()
    out[:, 1] = np.maximum(ends, notes[:, 0])
    return out


def segment_notes(notes: np.ndarray, start: float, end: float) -> np.ndarray:
    """Notes sounding in ``[start, end)``, with times made relative to ``start``.

    A note already sounding at ``start`` keeps its (negative) start, so you can tell it was
    not struck inside the segment.
    """
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    keep = (notes[:, 0] < end) & (notes[:, 1] > start)
    out = notes[keep].copy()
    out[:, :2] -= start
    return out


def piano_roll(notes: np.ndarray, fps: float = 100.0, start: float = 0.0,
               end: float | None = None, velocity: bool = True, onsets: bool = False,
               low: int = LOWEST, high: int = HIGHEST) -> np.ndarray:
    """A piano roll: ``(high - low + 1, frames)``, one row per key (88 by default).

    Parameters
    ----------
    notes : (n, 4) array of start, end, pitch, velocity (seconds)
    fps : float
        Frames per second (100 is the usual 10 ms frame for transcription).
    start, end : float
        The time span to draw (default: from 0 to the last note's end).
    velocity : bool
        Cells hold velocity / 127 (else 1 where a key is down).
    onsets : bool
        Mark only the frame where each note starts (notes struck inside the span).

    Example
    -------
    >>> roll = piano_roll(np.array([[0.0, 0.5, 60, 127]]), fps=10, end=1.0)
    >>> roll.shape, roll[60 - 21].tolist()
    ((88, 10), [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    """
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    if end is None:
        end = float(notes[:, 1].max()) if len(notes) else start
    frames = int(round((end - start) * fps))
    roll = np.zeros((high - low + 1, max(frames, 0)), dtype=np.float32)
    notes = notes[(notes[:, 0] < end) & (notes[:, 1] > start)]  # only what sounds in the span
    for s, e, p, v in notes:
        if not low <= p <= high:
            continue
        a = int(round((s - start) * fps))
        value = v / 127.0 if velocity else 1.0
        if onsets:
            if s >= start and 0 <= a < frames:
                roll[int(p) - low, a] = max(roll[int(p) - low, a], value)
            continue
        b = max(a + 1, int(round((e - start) * fps)))
        a, b = max(a, 0), min(b, frames)
        if b > a:
            row = roll[int(p) - low]
            row[a:b] = np.maximum(row[a:b], value)
    return roll


def pedal_roll(events: np.ndarray, fps: float = 100.0, start: float = 0.0,
               end: float = 0.0) -> np.ndarray:
    """The pedal position (0..1) in each frame of ``[start, end)`` from ``(m, 2)`` events."""
    frames = int(round((end - start) * fps))
    t = start + np.arange(max(frames, 0)) / fps
    events = np.asarray(events, dtype=np.float64).reshape(-1, 2)
    if len(events) == 0:
        return np.zeros(len(t), dtype=np.float32)
    i = np.searchsorted(events[:, 0], t, side="right") - 1
    return np.where(i >= 0, events[np.clip(i, 0, None), 1] / 127.0, 0.0).astype(np.float32)
