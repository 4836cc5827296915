"""Checks of chapter 02 (the sample-level RNN): ``exercises/02_rnn_baseline.ipynb``.

Each check takes the student's function, prints ``PASS: <name>`` or ``FAIL: <name>: <hint>``
and returns a bool (see :mod:`coursekit.exercises.checks`). References are computed here with
plain NumPy, never with the code under test.

Example
-------
>>> import numpy as np
>>> from coursekit.exercises import ch02
>>> ch02.check_cents_error(lambda f0, midi: 1200 * np.log2(np.asarray(f0) / (440 * 2 ** ((np.asarray(midi) - 69) / 12))))
PASS: cents_error
True
"""

from __future__ import annotations

import numpy as np

from .checks import run_check

__all__ = ["check_autoregressive_pairs", "check_sample_with_temperature", "check_cents_error"]


def check_autoregressive_pairs(autoregressive_pairs) -> bool:
    """``autoregressive_pairs(codes, context)`` -> ``(X, y)``: every window of ``context`` codes
    and the code that follows it (the teacher-forcing examples of one sequence)."""

    def test():
        codes = np.array([5, 9, 2, 7, 7, 1, 0, 3])
        X, y = autoregressive_pairs(codes, 3)
        X, y = np.asarray(X), np.asarray(y)
        assert X.shape == (5, 3), f"8 codes with context 3 give 5 examples of 3 codes, got X {X.shape}"
        assert y.shape == (5,), f"one target per example: y should have shape (5,), got {y.shape}"
        assert X[0].tolist() == [5, 9, 2] and y[0] == 7, \
            "the first example is codes[0:3] -> codes[3]"
        assert X[-1].tolist() == [7, 1, 0] and y[-1] == 3, \
            "the last example is codes[4:7] -> codes[7]: the target never appears in its own input"
        rng = np.random.default_rng(1)
        c = rng.integers(0, 256, 50)
        X, y = (np.asarray(a) for a in autoregressive_pairs(c, 16))
        ref = np.stack([c[i:i + 16] for i in range(50 - 16)])
        assert np.array_equal(X, ref) and np.array_equal(y, c[16:]), "wrong windows for context=16"

    return run_check("autoregressive_pairs", test,
                     hint="X[i] = codes[i:i+context], y[i] = codes[i+context], for every i that fits")


def check_sample_with_temperature(sample_with_temperature) -> bool:
    """``sample_with_temperature(logits, temperature, rng)`` -> one index per row of ``logits``."""

    def test():
        logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
        out = np.asarray(sample_with_temperature(logits, 1.0, np.random.default_rng(0)))
        assert out.shape == (2,), f"one sample per row: expected shape (2,), got {out.shape}"
        # temperature 1: frequencies follow softmax(logits)
        rng = np.random.default_rng(0)
        big = np.repeat(logits[:1], 4000, axis=0)
        s = np.asarray(sample_with_temperature(big, 1.0, rng))
        freq = np.bincount(s, minlength=3) / len(s)
        assert np.abs(freq - [0.7, 0.2, 0.1]).max() < 0.03, \
            f"at temperature 1 the frequencies should be [0.7, 0.2, 0.1], got {np.round(freq, 3)}"
        # low temperature: (almost) always the most likely code
        s = np.asarray(sample_with_temperature(big, 0.05, rng))
        assert (s == 0).mean() > 0.99, "at temperature 0.05 nearly every sample is the argmax: divide the logits by T"
        # high temperature: flatter
        s = np.asarray(sample_with_temperature(big, 5.0, rng))
        freq = np.bincount(s, minlength=3) / len(s)
        assert freq[2] > 0.2, f"at temperature 5 the distribution is flatter; got {np.round(freq, 3)}"
        # the rng is used (same seed, same samples)
        a = sample_with_temperature(big[:50], 1.0, np.random.default_rng(7))
        b = sample_with_temperature(big[:50], 1.0, np.random.default_rng(7))
        assert np.array_equal(np.asarray(a), np.asarray(b)), "draw with the given rng so a seed repeats"
        try:
            sample_with_temperature(logits, 0.0, np.random.default_rng(0))
        except ValueError:
            pass
        else:
            raise AssertionError("temperature 0 should raise ValueError (divide by zero)")

    return run_check("sample_with_temperature", test,
                     hint="p = softmax(logits / T) row by row (subtract the max first), then "
                          "rng.choice / inverse-CDF sampling; raise ValueError for T <= 0")


def check_cents_error(cents_error) -> bool:
    """``cents_error(f0_hz, midi)`` -> signed error in cents of a pitch estimate."""

    def test():
        assert abs(float(cents_error(440.0, 69))) < 1e-6, "440 Hz is exactly MIDI 69: 0 cents"
        assert abs(float(cents_error(880.0, 69)) - 1200) < 1e-6, "an octave up is +1200 cents"
        assert abs(float(cents_error(261.6256, 60))) < 0.01, "261.63 Hz is MIDI 60 (middle C)"
        v = float(cents_error(440 * 2 ** (-0.5 / 12), 69))
        assert abs(v + 50) < 1e-6, f"a quarter tone flat is -50 cents, got {v:.2f}"
        arr = np.asarray(cents_error(np.array([220.0, 440.0, np.nan]), np.array([57, 69, 60])))
        assert arr.shape == (3,) and np.allclose(arr[:2], 0) and np.isnan(arr[2]), \
            "work element-wise on arrays and keep NaN (an unpitched window) as NaN"

    return run_check("cents_error", test,
                     hint="1200 * log2(f0 / f_ref) with f_ref = 440 * 2 ** ((midi - 69) / 12)")
