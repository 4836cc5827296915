"""argparse types: a bad value on the command line is argparse's one line naming the flag.

Every command's flags use these (:mod:`coursekit.cli` for the common ones, each recipe for its
model's own), so ``--seed -1``, ``--seconds nan`` or ``--n 0`` never reach the code behind them.

Example
-------
>>> import argparse
>>> p = argparse.ArgumentParser()
>>> _ = p.add_argument("--seconds", type=positive_float)
>>> p.parse_args(["--seconds", "2.5"]).seconds
2.5
"""

from __future__ import annotations

import argparse
import math

__all__ = ["seed", "positive_int", "nonnegative_int", "positive_float", "finite_float",
           "nonnegative_float", "probability", "midi_pitch", "sample_n", "MAX_SAMPLE_N", "at_most",
           "seconds", "MAX_SECONDS", "port"]

MAX_SAMPLE_N = 1000  # notes one `sample` run generates (it holds them all in memory)


def _number(text: str, kind=float):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a {'whole ' if kind is int else ''}number, "
                                         f"got {text!r}") from None


def seed(text: str) -> int:
    """A seed numpy and torch both accept, 0 to 2**32 - 1 (``--seed``)."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 <= n < 2**32:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {2**32 - 1}, got {text!r}")
    return n


def positive_int(text: str) -> int:
    """A whole number above zero (``--steps``)."""
    n = _number(text, int)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number above zero, got {text!r}")
    return n


def nonnegative_int(text: str) -> int:
    """A whole number, zero or more (``--top-k``, 0: off)."""
    n = _number(text, int)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a whole number above it, got {text!r}")
    return n


def _float_or_nan(text: str) -> float:
    """``float(text)``, or nan when ``text`` is not a number (both are refused as not finite)."""
    try:
        return float(text)
    except ValueError:
        return float("nan")


def positive_float(text: str) -> float:
    """A finite number above zero (``--seconds``, ``--time-budget``)."""
    x = _float_or_nan(text)
    if not math.isfinite(x) or x <= 0:
        raise argparse.ArgumentTypeError(f"must be a number above zero, got {text!r}")
    return x


def finite_float(text: str) -> float:
    """A finite number (no nan or inf)."""
    x = _float_or_nan(text)
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return x


def nonnegative_float(text: str) -> float:
    """A finite number, zero or more (``--temperature`` where 0 means the likeliest code)."""
    x = finite_float(text)
    if x < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a number above it, got {text!r}")
    return x


def probability(text: str) -> float:
    """A probability from 0 up to (not including) 1 (``--top-p``, 0: off)."""
    x = finite_float(text)
    if not 0.0 <= x < 1.0:
        raise argparse.ArgumentTypeError(f"must be 0 (off) or a probability below 1, got {text!r}")
    return x


def midi_pitch(text: str) -> int:
    """A MIDI note number, 0 to 127 (``--pitch``)."""
    n = _number(text, int)
    if not 0 <= n <= 127:
        raise argparse.ArgumentTypeError(f"must be a MIDI note number from 0 to 127, got {text!r}")
    return n


def sample_n(text: str) -> int:
    """A number of notes for ``sample --n``: 1 to :data:`MAX_SAMPLE_N`."""
    n = positive_int(text)
    if n > MAX_SAMPLE_N:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_SAMPLE_N} a run (every note is held in memory until the folder is "
            f"written), got {n}; run again with another --seed and --out for more")
    return n


def at_most(kind, high, why: str):
    """``kind`` (one of the types above) with an upper bound ``high``; ``why`` says what the bound
    protects (memory, time), so the one line tells the user what to do instead.

    >>> steps = at_most(positive_int, 1000, "the model was trained with 1000 noise levels")
    >>> steps("50")
    50
    """
    def bounded(text: str):
        x = kind(text)
        if x > high:
            raise argparse.ArgumentTypeError(f"at most {high:g} ({why}), got {text!r}")
        return x
    bounded.__name__ = kind.__name__
    return bounded


MAX_SECONDS = 600  # the longest clip one `sample` run generates: 10 minutes
seconds = at_most(positive_float, MAX_SECONDS, "each clip is generated whole in memory")
port = at_most(nonnegative_int, 65535, "the highest TCP port; 0: any free one")
