"""Degraded copies of real notes: sanity checks of a metric, and stand-ins for models.

Chapter 07 sweeps each degradation to see which embeddings notice it, and chapters 07 and 08
use degraded copies as systems of known quality until the model chapters have made samples.
Both are re-exported by :mod:`coursekit.eval.evaluate`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import audio as A
from .clips import list_audio

__all__ = ["DEGRADATIONS", "degrade", "write_set"]

DEGRADATIONS = {"noise": "white noise added at this SNR (dB)",
                "lowpass": "low-pass filtered at this cutoff (Hz)",
                "detune": "played faster, like a tape, by this many cents"}


def degrade(y: np.ndarray, sr: int, kind: str, amount: float, seed: int = 0) -> np.ndarray:
    """A degraded copy of ``y``: ``kind`` is 'noise' (``amount`` = SNR in dB), 'lowpass'
    (cutoff in Hz, 8th-order Butterworth, zero phase) or 'detune' (cents; the note is resampled
    like a tape played faster, so it is also a little shorter, then zero-padded back).

    Example
    -------
    >>> import numpy as np
    >>> from coursekit.audio import tone
    >>> y = tone(440.0, seconds=1.0, sr=16000)
    >>> noisy = degrade(y, 16000, "noise", 20.0)
    >>> round(10 * np.log10(np.mean(y ** 2) / np.mean((noisy - y) ** 2)))
    20
    """
    y = np.asarray(y, dtype=np.float32)
    if kind == "noise":
        rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2))) or 1e-3
        noise = np.random.default_rng(seed).standard_normal(y.size) * rms * 10 ** (-amount / 20)
        return (y + noise).astype(np.float32)
    if kind == "lowpass":
        from scipy.signal import butter, sosfiltfilt

        if not 0 < amount < sr / 2:
            raise ValueError(f"lowpass cutoff must be between 0 and {sr / 2} Hz, got {amount}")
        return sosfiltfilt(butter(8, amount, fs=sr, output="sos"), y).astype(np.float32)
    if kind == "detune":
        ratio = 2.0 ** (amount / 1200.0)
        t = np.arange(0, len(y) - 1, ratio)
        return A.fix_length(np.interp(t, np.arange(len(y)), y).astype(np.float32), len(y))
    raise ValueError(f"unknown degradation {kind!r}; choose one of {', '.join(DEGRADATIONS)}")


def write_set(source, out, n: int | None = None, seconds: float | None = None, transform=None,
              label: str = "real notes", seed: int = 0) -> Path:
    """Copy ``n`` notes of the NSynth folder ``source`` (drawn at random with ``seed``; all
    when ``None``) into a new NSynth folder ``out``, cut to ``seconds``, each passed through
    ``transform(y, sr, i)`` when given. Metadata is kept, so the asked pitch and family stay
    those of the real note; ``generated_by`` records ``label``.
    """
    from ..data.nsynth import write_nsynth_folder

    paths, meta, fmt = list_audio(source)
    if fmt != "nsynth":
        raise ValueError(f"{source}: write_set needs an NSynth-format folder (examples.json)")
    idx = np.arange(len(paths))
    if n is not None and n < len(paths):
        idx = np.sort(np.random.default_rng(seed).choice(len(paths), n, replace=False))
    notes = []
    for j, i in enumerate(idx):
        y, sr = A.load(paths[i], duration=seconds)
        if transform is not None:
            y = transform(y, sr, j)
        m = meta[i]
        notes.append({"audio": np.clip(y, -1.0, 1.0), "pitch": m["pitch"], "velocity": m["velocity"],
                      "instrument_family_str": m["instrument_family_str"],
                      "instrument_source_str": m["instrument_source_str"],
                      "instrument_str": m["instrument_str"], "generated_by": label,
                      "source_note": m["note_str"]})
    return write_nsynth_folder(out, notes, sr=sr, n_frames=None)
