"""Drift: how the pitch and the loudness of a note move over its course.

A note generated sample by sample (chapter 02) usually starts at the asked pitch and then
wanders. :func:`drift_report` measures it window by window: CREPE's pitch as an error in cents
against each note's asked pitch, and the RMS in dBFS; real notes of the same pitches give the
reference curve.

Example
-------
>>> import numpy as np
>>> from coursekit.eval.drift import track_rms
>>> sr = 16000
>>> y = 0.5 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)
>>> times, rms_db = track_rms(y, sr, window_s=0.25)
>>> times.tolist(), np.round(rms_db, 1).tolist()
([0.125, 0.375, 0.625, 0.875], [-9.0, -9.0, -9.0, -9.0])
"""

from __future__ import annotations

import numpy as np

from ..data.nsynth import SAMPLE_RATE

__all__ = ["track_pitch", "track_rms", "drift_report"]


def track_pitch(y: np.ndarray, sr: int, window_s: float = 0.25, min_confidence: float = 0.5):
    """CREPE's pitch (fractional MIDI) in consecutive windows of ``window_s`` seconds.

    CREPE runs once over the whole note; its frames are then grouped by window. Returns
    ``(times, midi, voiced)``: window centres (s), the median confident pitch of each window
    (NaN where CREPE hears no pitch) and the fraction of confident frames.
    """
    from .embeddings import get_embedding, pitch_from_crepe

    frames = get_embedding("crepe").embed(np.asarray(y, dtype=np.float32), sr)
    n_win = int(len(y) / sr / window_s)
    times, midi, conf = [], [], []
    for w in range(n_win):
        m, c = pitch_from_crepe(frames, held_s=(w * window_s, (w + 1) * window_s),
                                min_confidence=min_confidence)
        times.append((w + 0.5) * window_s)
        midi.append(m)
        conf.append(c)
    return np.array(times), np.array(midi), np.array(conf)


def track_rms(y: np.ndarray, sr: int, window_s: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Loudness (RMS, in dBFS) in consecutive windows: ``(times, rms_db)``."""
    n = int(window_s * sr)
    n_win = len(y) // n
    frames = np.asarray(y[:n_win * n], dtype=np.float64).reshape(n_win, n)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    return (np.arange(n_win) + 0.5) * window_s, 20 * np.log10(np.maximum(rms, 1e-5))


def drift_report(notes: list[dict], sr: int = SAMPLE_RATE, window_s: float = 0.25,
                 progress: bool = True) -> dict:
    """Pitch error (cents, against each note's asked ``pitch``) and loudness per window.

    Parameters
    ----------
    notes : list of dict
        Each with ``audio`` (at ``sr``) and ``pitch`` (the asked / true MIDI pitch): generated
        notes, or real ones for the reference curve.

    Returns
    -------
    dict
        ``times`` (window centres, s), ``cents`` (notes x windows, signed error, NaN where
        no pitch is heard), ``rms_db`` (notes x windows), and per window ``median_abs_cents``,
        ``within_50_cents`` (fraction of all notes whose window is within 50 cents: an
        unpitched window counts as a miss) and ``voiced`` (fraction with a pitch).
    """
    from tqdm.auto import tqdm

    cents, rms = [], []
    for note in tqdm(notes, desc="tracking pitch", disable=not progress):
        t, m, _ = track_pitch(note["audio"], sr, window_s)
        cents.append(100 * (m - note["pitch"]))
        rms.append(track_rms(note["audio"], sr, window_s)[1])
    cents, rms = np.array(cents), np.array(rms)
    with np.errstate(invalid="ignore"):
        within = np.nan_to_num(np.abs(cents) <= 50, nan=0.0).mean(axis=0)
    voiced = np.isfinite(cents).mean(axis=0)
    med = np.array([np.nanmedian(np.abs(c)) if np.isfinite(c).any() else np.nan for c in cents.T])
    return {"times": t, "cents": cents, "rms_db": rms, "median_abs_cents": med,
            "within_50_cents": within, "voiced": voiced}
