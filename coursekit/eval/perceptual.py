"""ViSQOL: a model of how a listener hears a degraded copy of a reference, as codec papers report it.

ViSQOL (Hines et al. 2015; Chinen et al. 2020, "ViSQOL v3") compares the gammatone spectrograms of
a reference and its degraded copy patch by patch (a similarity measure borrowed from image
quality), and maps the similarities to a MOS-LQO, a mean opinion score from 1 (bad) to 5
(excellent), by a regression fitted to listening tests. EnCodec and DAC report its **audio mode**,
which expects full-band music at 48 kHz. The course uses `visqol-python
<https://github.com/talker93/visqol-python>`_, a Python port whose audio-mode model ships inside
the wheel, so it works offline.

The course's audio is 16 kHz: :func:`visqol` resamples both signals to 48 kHz first, so nothing
above 8 kHz is there to judge. Scores rank codecs of the course against each other; they are not
comparable with papers' figures on 48 kHz music.

Example
-------
>>> import numpy as np
>>> from coursekit.eval.perceptual import visqol
>>> sr = 16000
>>> t = np.arange(2 * sr) / sr
>>> x = np.sin(2 * np.pi * 440 * t) * np.exp(-t)
>>> noisy = x + 0.05 * np.random.default_rng(0).normal(size=x.size)
>>> visqol(x, x, sr) > visqol(x, noisy, sr)         # doctest: +SKIP
True
"""

from __future__ import annotations

import logging
from functools import lru_cache
from math import gcd

import numpy as np

from ..outputs import UserError

__all__ = ["visqol", "VisqolUnavailable", "VISQOL_SR", "available"]

VISQOL_SR = 48000   # audio mode's sample rate
MIN_SECONDS = 1.0   # shorter clips leave ViSQOL too few patches to compare


class VisqolUnavailable(UserError):
    """``visqol-python`` cannot be imported (the message says how to install it)."""


@lru_cache(maxsize=1)
def _api():
    try:
        from visqol import VisqolApi
    except ImportError as err:
        raise VisqolUnavailable(f"ViSQOL needs the visqol-python package ({err}): "
                                "pip install 'visqol-python>=3.8,<4'") from None
    logging.getLogger("visqol").setLevel(logging.ERROR)  # it warns on every non-48 kHz input
    api = VisqolApi()
    api.create(mode="audio")
    return api


def available() -> bool:
    """Whether :func:`visqol` can run here."""
    try:
        _api()
    except VisqolUnavailable:
        return False
    return True


def _to_48k(y: np.ndarray, sr: int) -> np.ndarray:
    from scipy.signal import resample_poly

    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if sr == VISQOL_SR:
        return y
    g = gcd(int(sr), VISQOL_SR)
    return resample_poly(y, VISQOL_SR // g, int(sr) // g)


def visqol(reference, degraded, sr: int) -> float:
    """ViSQOL MOS-LQO (audio mode, 1 to 5) of ``degraded`` against ``reference``.

    Parameters
    ----------
    reference, degraded : np.ndarray, shape (samples,)
        Mono signals at ``sr``; the longer one is cut to the shorter's length.
    sr : int
        Their sample rate; both are resampled to 48 kHz (audio mode's rate).

    Returns
    -------
    float
        MOS-LQO: about 4.7 for a perfect copy, lower the worse it sounds.

    Raises
    ------
    VisqolUnavailable
        ``visqol-python`` is not installed.
    ValueError
        A signal shorter than half a second, or holding NaN/inf.

    Example
    -------
    >>> import numpy as np
    >>> sr = 16000
    >>> x = np.random.default_rng(0).normal(size=sr) * 0.1
    >>> round(visqol(x, x, sr), 1)            # doctest: +SKIP
    4.7
    """
    ref, deg = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (reference, degraded))
    n = min(ref.size, deg.size)
    if n < MIN_SECONDS * sr:
        raise ValueError(f"ViSQOL needs at least {MIN_SECONDS} s of audio; got {n / sr:.2f} s")
    ref, deg = ref[:n], deg[:n]
    if not (np.all(np.isfinite(ref)) and np.all(np.isfinite(deg))):
        raise ValueError("a signal given to ViSQOL holds NaN or inf samples")
    api = _api()
    return float(api.measure_from_arrays(_to_48k(ref, sr), _to_48k(deg, sr), sample_rate=VISQOL_SR).moslqo)
