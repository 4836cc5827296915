"""The signal building blocks of mini-NSynth: oscillators, filters, envelopes, a plucked string
and a room, as plain functions over arrays of one note's 64000 samples.

The instruments of :mod:`coursekit.data.mini_nsynth_instruments` are written with them.
Importable from :mod:`coursekit.data.mini_nsynth` too.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from .nsynth_format import N_FRAMES, SAMPLE_RATE

SR = SAMPLE_RATE
N = N_FRAMES
HOLD = 3 * SR                 # the key is released after 3 s
NYQUIST_LIMIT = 0.48 * SR     # partials above this are not generated (no aliasing)
T = np.arange(N) / SR         # time of every sample, in seconds (float64: for phases)
T32 = T.astype(np.float32)    # the same in float32 (fast, for envelopes)


# =============================================================================================
# Building blocks (plain functions over arrays of N samples)
# =============================================================================================

def _sin(cycles):
    """sin(2*pi*cycles), with the phase kept in float64 and the sine taken in float32 (fast)."""
    frac = cycles - np.floor(cycles)
    return np.sin((2 * np.pi * frac).astype(np.float32))


def _phase(freq):
    """Phase in cycles of an oscillator of (possibly time-varying) frequency ``freq`` in Hz."""
    if np.ndim(freq) == 0:
        return freq * T
    return np.cumsum(freq) / SR


def _vibrato(f0, rate, cents, delay, rng, scoop_cents=0.0, scoop_time=0.04):
    """Frequency track: f0 with sinusoidal vibrato that fades in after ``delay`` s, and an
    optional scoop (starts ``scoop_cents`` below f0 and slides up within ``scoop_time``)."""
    ramp = np.clip((T32 - delay) / 0.4, 0.0, 1.0)
    dev = cents * ramp * _sin(rate * T + rng.uniform())
    if scoop_cents:
        dev -= scoop_cents * np.exp(-T32 / scoop_time)
    return f0 * np.exp2(dev / 1200.0).astype(np.float64)


def _additive(cycles, amps, f_top):
    """Sum of harmonics: ``sum_k amps[k-1] * sin(2 pi k cycles)``; ``amps`` is (K,) or (K, N).

    Harmonics whose frequency ``k * f_top`` would pass the Nyquist limit are skipped.
    """
    out = np.zeros(N, dtype=np.float32)
    for k in range(1, len(amps) + 1):
        if k * f_top >= NYQUIST_LIMIT:
            break
        a = amps[k - 1]
        if np.ndim(a) == 0 and a == 0:
            continue
        out += np.asarray(a, dtype=np.float32) * _sin(k * cycles)
    return out


def _ensemble(x, freq, cents, rng):
    """Add two quieter copies of the sawtooth ``x`` detuned by -``cents`` and +``cents``.

    The side voices are at 0.4 of the main one: equal voices would, as their phases drift,
    cancel the fundamental (and every harmonic but the third's multiples) for a moment, and
    the note would be heard an octave or a twelfth up.
    """
    for c in (-cents, cents):
        fe = freq * 2 ** (c / 1200)
        x = x + 0.4 * _saw(_phase(fe) + rng.random(), fe)
    return x / 1.8


def _polyblep(x, dt):
    """The band-limiting correction of a unit step at phase 0 (PolyBLEP)."""
    out = np.zeros_like(x)
    m = x < dt
    u = x[m] / dt[m]
    out[m] = u + u - u * u - 1.0
    m = x > 1.0 - dt
    u = (x[m] - 1.0) / dt[m]
    out[m] = u * u + u + u + 1.0
    return out


def _saw(cycles, freq):
    """Band-limited sawtooth (PolyBLEP) in [-1, 1]."""
    dt = np.broadcast_to(np.asarray(freq / SR, dtype=np.float32), cycles.shape)
    x = (cycles - np.floor(cycles)).astype(np.float32)
    return 2.0 * x - 1.0 - _polyblep(x, dt)


def _pulse(cycles, freq, duty=0.5):
    """Band-limited pulse wave (difference of two saws); duty 0.5 is a square (odd harmonics)."""
    return 0.5 * (_saw(cycles, freq) - _saw(cycles + duty, freq))


def _biquad(x, b, a):
    return signal.lfilter(b / a[0], a / a[0], x).astype(np.float32)


def _rbj(kind, fc, q):
    """Coefficients of a second-order filter (R. Bristow-Johnson's Audio EQ Cookbook)."""
    w = 2 * np.pi * float(np.clip(fc, 10.0, 0.45 * SR)) / SR
    alpha, c = np.sin(w) / (2 * q), np.cos(w)
    a = np.array([1 + alpha, -2 * c, 1 - alpha])
    if kind == "lowpass":
        b = np.array([(1 - c) / 2, 1 - c, (1 - c) / 2])
    elif kind == "highpass":
        b = np.array([(1 + c) / 2, -(1 + c), (1 + c) / 2])
    else:  # band-pass with 0 dB peak
        b = np.array([alpha, 0.0, -alpha])
    return b, a


def _lowpass(x, fc, order=2):
    """Butterworth-like low-pass: ``order`` 2 (one biquad) or 4 (two)."""
    for _ in range(order // 2):
        x = _biquad(x, *_rbj("lowpass", fc, 0.7071))
    return x


def _highpass(x, fc):
    return _biquad(x, *_rbj("highpass", fc, 0.7071))


def _bandpass(x, lo, hi):
    """Band-pass between ``lo`` and ``hi`` Hz: a high-pass then a low-pass."""
    return _lowpass(_highpass(x, lo), hi)


def _resonance(x, fc, q):
    """A resonant band-pass (0 dB peak): one body or formant resonance."""
    return _biquad(x, *_rbj("bandpass", fc, q))


def _resonant_lowpass(x, fc, q):
    """Low-pass with resonance ``q`` (0.707 = no peak): the classic synth filter."""
    return _biquad(x, *_rbj("lowpass", fc, q))


def _adsr(attack, decay, sustain, release):
    """Attack (linear), decay (exponential) to the sustain level, held until 3 s, then an
    exponential release that is 60 dB down after ``release`` seconds."""
    env = np.minimum(T32 / attack, 1.0) * (
        sustain + (1 - sustain) * np.exp(-3.0 / max(decay, 1e-3) * np.maximum(T32 - attack, 0.0)))
    env[HOLD:] = env[HOLD - 1] * np.exp(-6.9 / release * (T32[HOLD:] - HOLD / SR))
    return env


def _decaying(t60, attack=0.002, damp=0.12):
    """A struck/plucked envelope: 60 dB down after ``t60`` s; the damper ends it at 3 s."""
    env = np.minimum(T32 / attack, 1.0) * np.exp(-6.9 / t60 * T32)
    env[HOLD:] *= np.exp(-6.9 / damp * (T32[HOLD:] - HOLD / SR))
    return env


def _burst(rng, seconds, tau):
    """A short noise burst (attack transients: chiff, hammer, pick, key click)."""
    n = int(seconds * SR)
    out = np.zeros(N, dtype=np.float32)
    out[:n] = rng.standard_normal(n) * np.exp(-np.arange(n) / (tau * SR))
    return out


def _karplus_strong(f0, excitation, t60, loss):
    """A plucked string: a delay line of one period fed back through a loss filter.

    ``y[n] = x[n] + g * (F * A * y)[n - M]``, where ``F = [loss, 1 - 2 loss, loss]`` is a
    symmetric low-pass (delay exactly 1 sample, stronger damping of the high partials as
    ``loss`` grows to 0.25) and ``A`` is a first-order all-pass tuned so that the loop delay is
    exactly ``SR / f0`` samples at f0: the note is in tune at every pitch, not only where the
    period is a whole number of samples. ``g`` makes the fundamental 60 dB down after ``t60``.
    Written as one rational transfer function it runs in C through ``scipy.signal.lfilter``:
    ``(1 + c z^-1) Y = (1 + c z^-1) X + g z^-M F(z) (c + z^-1) Y``.
    """
    period = SR / f0
    m = int(np.floor(period - 1.1))
    d = period - 1.0 - m                              # fractional delay for the all-pass, 0.1..1.1
    w = 2 * np.pi * f0 / SR
    c = np.sin(w * (1 - d) / 2) / np.sin(w * (1 + d) / 2)   # all-pass with phase delay d at f0
    budget = 6.9 / (t60 * f0)                         # decay per period (nepers) for -60 dB at t60
    loss = min(loss, budget / (4 * (1 - np.cos(w))))  # F may take at most half of it at f0 ...
    g = np.exp(-budget) / ((1 - 2 * loss) + 2 * loss * np.cos(w))   # ... so g < 1: stable
    # feedback taps on y[n-M], y[n-M-1], y[n-M-2], y[n-M-3]: F(z) (c + z^-1), times g
    taps = g * np.array([loss * c, loss + (1 - 2 * loss) * c, (1 - 2 * loss) + loss * c, loss])
    if m < 150:
        a = np.zeros(m + 4)
        a[0], a[1] = 1.0, c
        a[m:] -= taps
        return signal.lfilter([1.0, c], a, excitation).astype(np.float32)
    # Long delay lines (low notes): lfilter's cost grows with M, so go one delay length at a
    # time. Inside a block of M samples the feedback reads only earlier blocks (one vectorised
    # sum); what is left, y[n] = r[n] - c y[n-1], is a first-order filter.
    xc = signal.lfilter([1.0, c], [1.0], excitation)
    ypad = np.zeros(N + m + 3)                         # sample n lives at index n + m + 3
    prev = 0.0
    for start in range(0, N, m):
        stop = min(start + m, N)
        r = xc[start:stop] + sum(taps[j] * ypad[start + 3 - j:stop + 3 - j] for j in range(4))
        yb, _ = signal.lfilter([1.0], [1.0, c], r, zi=[-c * prev])
        ypad[start + m + 3:stop + m + 3] = yb
        prev = yb[-1]
    return ypad[m + 3:].astype(np.float32)


def _pluck(f0, position, noise, rng):
    """The string's shape when it is let go: a triangle peaking at ``position`` (0..0.5 of
    its length; harmonic k then has amplitude ~ sin(k pi position) / k^2, so the fundamental
    leads), plus a little noise for the finger or pick. One period long: it fills the delay line."""
    n = max(2, int(round(SR / f0)))
    i = np.arange(n)
    peak = max(1, int(position * n))
    shape = np.where(i < peak, i / peak, (n - i) / (n - peak))
    shape = shape - shape.mean() + noise * rng.standard_normal(n)
    out = np.zeros(N, dtype=np.float32)
    out[:n] = shape
    return out


def _reverb(x, rt60, mix, seed):
    """A small room: convolution with exponentially decaying noise (seeded: one room an instrument)."""
    rng = np.random.default_rng(seed)
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[: int(0.008 * SR)] = 0.0                      # pre-delay
    ir = _lowpass(ir, 5000.0)                        # walls absorb the highs
    ir /= np.sqrt(np.sum(ir ** 2)) + 1e-12
    wet = signal.oaconvolve(x, ir)[:N]
    return (x + mix * wet).astype(np.float32)
