"""mini-NSynth: an offline stand-in for NSynth, synthesised on the fly in the exact real format.

:func:`make_mini_nsynth` writes ``nsynth-train/``, ``nsynth-valid/`` and ``nsynth-test/`` with
``examples.json`` (the 13 real fields, serialised like the real files) and
``audio/<note_str>.wav`` (16-bit, mono, 16 kHz, 64000 frames: 3 s held, 1 s release), so a
loader written for mini-NSynth reads the real dataset unchanged.

Every one of the 11 families is made by a textbook synthesis method, so the families sound
different for the reason real instruments do (how they make sound), not because of a label:

============  ==============================================================================
family        how it is synthesised here
============  ==============================================================================
bass          sawtooth/square through a low-pass filter with a filter envelope; or a plucked
              string (Karplus-Strong) through a pickup low-pass
brass         sawtooth whose brightness follows the loudness (attack swell), pitch scoop
flute         few harmonics (additive), breath noise, chiff at the onset, delayed vibrato
guitar        Karplus-Strong plucked string, pluck position, body resonances or pickup + drive
keyboard      piano-like decaying stretched partials + hammer; FM electric piano with a tine
mallet        modal synthesis (marimba/vibraphone/xylophone/glockenspiel bars); FM bell whose
              inharmonic partials fall back fast, so the fundamental carries the pitch
organ         drawbars (additive harmonics 8', 4', 2 2/3' ...), key click, rotary speaker
reed          odd-harmonic (clarinet) or full (saxophone) spectrum, breath; filtered square
string        bowed sawtooth with delayed vibrato and body resonances; string ensemble
synth_lead    detuned saws / pulse through a resonant filter, glide, tempo-synced gate
vocal         glottal pulse train through the formant resonances of a vowel, vibrato,
              breath; a small choir
============  ==============================================================================

Velocity changes both the loudness and the brightness of a note. The qualities of each note
(``bright``, ``percussive``, ``reverb``...) are set from the synthesis parameters that cause
them. As in the real dataset, the instruments of the valid and test splits never appear in the
train split (the two held-out splits share their instruments and differ in notes). Pitches
stay in MIDI 28..94 (41 Hz .. 1865 Hz) so that a pitch tracker such as CREPE can follow them.

Same seed, same bytes (with the same NumPy/SciPy on the same kind of CPU: the last bit of a
float sine may differ between SIMD implementations).

Example
-------
>>> from coursekit.data.mini_nsynth import make_mini_nsynth
>>> root = make_mini_nsynth("/tmp/mini", size="smoke")       # doctest: +SKIP
>>> sorted(p.name for p in root.iterdir())                   # doctest: +SKIP
['mini-nsynth.json', 'nsynth-test', 'nsynth-train', 'nsynth-valid']
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
from scipy import signal

from .nsynth import FAMILIES, N_FRAMES, QUALITIES, SAMPLE_RATE, SOURCES, _dumps, _wav_bytes, note_name

__all__ = ["make_mini_nsynth", "synth_note", "draw_instrument", "SIZES", "FAMILY_SPECS", "VELOCITIES"]

SR = SAMPLE_RATE
N = N_FRAMES
HOLD = 3 * SR                 # the key is released after 3 s
NYQUIST_LIMIT = 0.48 * SR     # partials above this are not generated (no aliasing)
T = np.arange(N) / SR         # time of every sample, in seconds (float64: for phases)
T32 = T.astype(np.float32)    # the same in float32 (fast, for envelopes)
VELOCITIES = (25, 50, 75, 100, 127)
VERSION = 4                   # bump when the synthesis changes (recorded in mini-nsynth.json)

#: Pitch range (MIDI) and the sources each family comes in.
FAMILY_SPECS = {
    "bass": ((28, 64), ("electronic", "synthetic")),
    "brass": ((45, 84), ("acoustic", "electronic")),
    "flute": ((60, 94), ("acoustic", "synthetic")),
    "guitar": ((40, 84), ("acoustic", "electronic", "synthetic")),
    "keyboard": ((28, 94), ("acoustic", "electronic", "synthetic")),
    "mallet": ((48, 94), ("acoustic", "electronic", "synthetic")),
    "organ": ((36, 91), ("electronic",)),
    "reed": ((46, 88), ("acoustic", "electronic")),
    "string": ((36, 91), ("acoustic", "electronic")),
    "synth_lead": ((40, 91), ("synthetic",)),
    "vocal": ((48, 81), ("acoustic", "synthetic")),
}

#: Instruments per family (train; valid/test share the held-out ones) and notes per instrument.
SIZES = {
    "smoke": dict(train_instruments=2, heldout_instruments=1, train_notes=3, valid_notes=2, test_notes=2),
    "default": dict(train_instruments=12, heldout_instruments=3, train_notes=15, valid_notes=9, test_notes=9),
    "full": dict(train_instruments=16, heldout_instruments=5, train_notes=40, valid_notes=18, test_notes=18),
}

SPLITS = ("train", "valid", "test")


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


# =============================================================================================
# Instruments: random parameters per instrument, one synthesis function per family
# =============================================================================================

_WEYL = (0.6180339887, 0.4142135624, 0.7320508076, 0.2360679775, 0.1622776602)  # frac of phi, sqrt 2, 3, 5, 10


def draw_instrument(family: str, source: str, rng, variant: int | None = None) -> dict:
    """Draw the timbre parameters of one instrument of ``family`` and ``source``.

    ``variant`` picks the kind of instrument where a family has several (the vowel a voice
    sings, marimba or glockenspiel, clarinet or saxophone, the synth waveform, ...): kind
    ``variant % number of kinds``; ``None`` draws it at random.

    Returns a dict of plain floats/strings (stored so the same instrument plays every note).
    """
    u = rng.uniform

    def pick(options):
        i = int(rng.integers(len(options))) if variant is None else variant % len(options)
        return options[i]

    def chance(prob, j):
        """Is option j (0 drive, 1 reverb, 2 modulation, 3 glide/percussion, 4 gate) on?
        At random, or spread evenly over consecutive variants (a Weyl sequence), so that a
        few instruments already cover the on/off combinations."""
        if variant is None:
            return rng.random() < prob
        return ((variant + 1) * _WEYL[j]) % 1.0 < prob

    p = {"family": family, "source": source, "reverb": 0.0, "reverb_mix": 0.0, "drive": 0.0,
         "reverb_seed": int(rng.integers(2**31))}
    if family == "bass":
        if source == "synthetic":
            p.update(kind="filtered", wave=pick(["saw", "square"]), cutoff=u(1.5, 6.0),
                     env_amount=u(1.0, 4.0), filter_decay=u(0.08, 0.5), attack=u(0.003, 0.012),
                     decay=u(0.2, 1.0), sustain=u(0.45, 0.9), release=u(0.05, 0.3))
            if chance(0.3, 0):
                p["drive"] = u(1.5, 3.5)
        else:
            p.update(kind="plucked", t60=u(4.0, 8.0), loss=u(0.1, 0.25), pluck_pos=u(0.1, 0.3),
                     exc_bright=u(3.0, 8.0), pickup=u(700.0, 2000.0))
    elif family == "brass":
        p.update(attack=u(0.05, 0.16), decay=u(0.1, 0.4), sustain=u(0.7, 0.95), release=u(0.08, 0.3),
                 dark=u(1.5, 3.0), bright=u(6.0, 14.0), scoop=u(20.0, 70.0), vib_rate=u(4.5, 6.0),
                 vib_cents=u(0.0, 15.0), breath=u(0.005, 0.03) if source == "acoustic" else 0.0,
                 formant=u(900.0, 1600.0), formant_gain=u(0.8, 2.0),
                 detune=0.0 if source == "acoustic" else u(2.0, 5.0))
        if source == "acoustic" and chance(0.5, 1):
            p.update(reverb=u(0.6, 1.4), reverb_mix=u(0.15, 0.35))
    elif family == "flute":
        p.update(h2=u(0.1, 0.5), h3=u(0.05, 0.3), rolloff=u(1.5, 3.0), attack=u(0.05, 0.12),
                 release=u(0.08, 0.25), vib_rate=u(4.5, 5.5), vib_cents=u(8.0, 25.0),
                 breath=u(0.03, 0.1) if source == "acoustic" else u(0.02, 0.05),
                 chiff=u(0.1, 0.4) if source == "acoustic" else u(0.0, 0.1),
                 chorus=0.0 if source == "acoustic" else u(3.0, 8.0))
        if chance(0.5, 1):
            p.update(reverb=u(0.8, 1.6), reverb_mix=u(0.15, 0.35))
    elif family == "guitar":
        p.update(t60=u(2.0, 5.0), loss=u(0.02, 0.2), pluck_pos=u(0.1, 0.3), exc_bright=u(4.0, 14.0),
                 pick=u(0.0, 0.4), body1=u(90.0, 130.0), body2=u(180.0, 280.0),
                 pickup=u(2000.0, 5000.0))
        if source == "electronic" and chance(0.5, 0):
            p["drive"] = u(1.5, 4.0)
        if source == "acoustic" and chance(0.5, 1):
            p.update(reverb=u(0.6, 1.2), reverb_mix=u(0.1, 0.3))
    elif family == "keyboard":
        if source == "acoustic":
            p.update(kind="piano", inharm=u(0.5e-4, 3e-4), tilt=u(1.2, 2.2), t60=u(3.0, 8.0),
                     detune=u(0.5, 2.0), hammer=u(0.05, 0.2), release=u(0.1, 0.3))
            if chance(0.4, 1):
                p.update(reverb=u(0.8, 1.5), reverb_mix=u(0.1, 0.3))
        else:
            p.update(kind="fm", ratio=1.0 if source == "electronic" else pick([2.0, 3.0]),
                     index=u(1.0, 3.0), index_tau=u(0.2, 1.0), tine=u(0.15, 0.4) if source == "electronic" else 0.0,
                     thump=u(0.1, 0.3),
                     tine_ratio=u(10.0, 15.0), t60=u(2.0, 5.0), release=u(0.1, 0.3),
                     tremolo=u(0.2, 0.5) if chance(0.4, 2) else 0.0, trem_rate=u(3.0, 6.0))
    elif family == "mallet":
        if source == "acoustic":
            bar = pick(["marimba", "vibraphone", "xylophone", "glockenspiel"])
            ratios = {"marimba": [1.0, 3.99, 9.14], "vibraphone": [1.0, 3.98, 9.9],
                      "xylophone": [1.0, 3.01, 6.18], "glockenspiel": [1.0, 2.71, 5.15, 8.43]}[bar]
            ring = {"marimba": (0.6, 1.5), "vibraphone": (2.0, 4.0), "xylophone": (0.3, 0.8),
                    "glockenspiel": (2.0, 4.0)}[bar]       # wood bars die fast, metal bars ring
            p.update(kind="modal", bar=bar, ratios=ratios,
                     amps=[1.0] + [u(0.2, 0.6) / (i + 1) for i in range(len(ratios) - 1)],
                     t60=u(*ring), strike=u(0.2, 0.6),
                     tremolo=u(0.3, 0.6) if bar == "vibraphone" else 0.0, trem_rate=u(4.0, 7.0))
        else:
            ratio = u(3.15, 4.4)                         # sidebands |1 +- n ratio| f0: all above 2 f0
            while abs(ratio - round(ratio)) < 0.12:      # keep the bell inharmonic
                ratio = u(3.15, 4.4)
            p.update(kind="bell", ratio=ratio, index=u(1.0, 3.0), index_tau=u(0.04, 0.14), t60=u(1.0, 3.0))
        if chance(0.4, 1):
            p.update(reverb=u(0.8, 1.6), reverb_mix=u(0.15, 0.35))
    elif family == "organ":
        # drawbars 4', 2 2/3', 2', 1 3/5', 1 1/3', 1' (harmonics 2, 3, 4, 5, 6, 8): a random
        # registration, always with at least two of the high ones pulled out
        levels = [1.0] + [float(u(0.0, 1.0) * (rng.random() < 0.6)) for _ in range(6)]
        for i in rng.choice([3, 4, 5, 6], size=2, replace=False):
            levels[i] = max(levels[i], u(0.5, 1.0))
        # the 2 2/3' (third harmonic) always sounds and the 4' stays below the 8': with only
        # even harmonics the tone would be heard (and tracked) an octave up
        levels[1] = min(levels[1], 0.8)
        levels[2] = max(levels[2], u(0.3, 0.8))
        p.update(harmonics=[1, 2, 3, 4, 5, 6, 8], levels=levels, attack=u(0.005, 0.02),
                 release=u(0.03, 0.1), click=u(0.0, 0.1),
                 percussion=int(rng.choice([0, 2, 3])) if chance(0.4, 3) else 0,
                 leslie=u(0.1, 0.3) if chance(0.5, 2) else 0.0, leslie_rate=u(5.5, 7.0))
        if chance(0.3, 0):
            p["drive"] = u(1.5, 3.0)
        if chance(0.3, 1):
            p.update(reverb=u(0.8, 1.6), reverb_mix=u(0.15, 0.3))
    elif family == "reed":
        if source == "acoustic":
            kind = pick(["clarinet", "saxophone"])
            p.update(kind=kind, even=u(0.02, 0.15) if kind == "clarinet" else u(0.5, 0.9),
                     cutoff=u(4.0, 10.0), breath=u(0.005, 0.03), vib_cents=u(0.0, 15.0), vib_rate=u(4.5, 6.0),
                     nasal=u(1200.0, 2500.0), nasal_gain=u(0.8, 2.0), attack=u(0.02, 0.08), release=u(0.05, 0.2))
            if chance(0.5, 1):
                p.update(reverb=u(0.6, 1.4), reverb_mix=u(0.15, 0.35))
        else:
            p.update(kind="square", even=0.0, breath=0.0, cutoff=u(4.0, 10.0), vib_cents=u(0.0, 10.0),
                     vib_rate=u(4.5, 6.0), nasal=u(1200.0, 2500.0), nasal_gain=u(0.8, 2.0),
                     attack=u(0.02, 0.08), release=u(0.05, 0.2))
    elif family == "string":
        p.update(attack=u(0.08, 0.3), sustain=u(0.8, 1.0), release=u(0.15, 0.7),
                 vib_rate=u(5.0, 6.5), vib_cents=u(12.0, 35.0), vib_delay=u(0.15, 0.5),
                 bow_noise=u(0.01, 0.04), body=[u(250.0, 320.0), u(400.0, 550.0), u(2000.0, 3000.0)],
                 body_gain=[u(0.5, 1.5), u(0.3, 1.0), u(0.6, 1.5)], cutoff=u(4000.0, 7000.0),
                 ensemble=0.0 if source == "acoustic" else u(5.0, 12.0))
        if chance(0.5, 1):
            p.update(reverb=u(0.8, 1.8), reverb_mix=u(0.15, 0.4))
    elif family == "synth_lead":
        p.update(wave=pick(["supersaw", "pulse", "saw"]), detune=u(6.0, 15.0), duty=u(0.25, 0.5),
                 pwm=u(0.1, 0.2), pwm_rate=u(0.5, 3.0),
                 cutoff=u(3.0, 10.0), q=u(2.0, 6.0), env_amount=u(1.0, 4.0), filter_decay=u(0.1, 0.6),
                 attack=u(0.003, 0.05), decay=u(0.1, 0.6), sustain=u(0.6, 1.0), release=u(0.05, 0.4),
                 glide=u(50.0, 200.0) if chance(0.3, 3) else 0.0,
                 gate_bpm=u(90.0, 140.0) if chance(0.3, 4) else 0.0, gate_div=int(rng.choice([2, 4])),
                 vib_cents=u(5.0, 20.0) if chance(0.5, 2) else 0.0, vib_rate=u(4.0, 7.0))
        if chance(0.4, 0):
            p["drive"] = u(1.5, 4.0)
        if chance(0.3, 1):
            p.update(reverb=u(0.6, 1.4), reverb_mix=u(0.1, 0.3))
    elif family == "vocal":
        vowels = {"a": [(730, 90, 1.0), (1090, 110, 0.5), (2440, 160, 0.25), (3400, 250, 0.1)],
                  "e": [(530, 60, 1.0), (1840, 150, 0.45), (2480, 200, 0.3), (3500, 250, 0.1)],
                  "i": [(270, 60, 1.0), (2290, 150, 0.35), (3010, 200, 0.3), (3700, 250, 0.1)],
                  "o": [(570, 70, 1.0), (840, 80, 0.6), (2410, 170, 0.15), (3400, 250, 0.08)],
                  "u": [(300, 60, 1.0), (870, 80, 0.4), (2240, 170, 0.1), (3400, 250, 0.05)]}
        vowel = pick(list(vowels))
        scale = u(0.9, 1.15)
        p.update(vowel=vowel, formants=[(f * scale, bw, g) for f, bw, g in vowels[vowel]],
                 bright=u(2.0, 6.0), vib_rate=u(4.8, 6.0), vib_cents=u(20.0, 45.0), breath=u(0.01, 0.05),
                 attack=u(0.08, 0.2), release=u(0.15, 0.4),
                 voices=1 if source == "acoustic" else int(rng.choice([2, 3])), detune=u(5.0, 10.0))
        if source == "synthetic" and chance(0.3, 0):
            p["drive"] = u(1.5, 3.0)
        if chance(0.5, 1):
            p.update(reverb=u(0.8, 1.8), reverb_mix=u(0.15, 0.4))
    else:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    return p


def _synth_bass(p, f0, v, rng):
    if p["kind"] == "plucked":
        exc = _pluck(f0, p["pluck_pos"], 0.1, rng)
        exc = _lowpass(exc, f0 * p["exc_bright"] * (0.4 + v))
        y = _karplus_strong(f0, exc, p["t60"] * (55.0 / f0) ** 0.3, p["loss"])
        y = _lowpass(y, p["pickup"] * (0.6 + 0.6 * v)) * _decaying(60.0, damp=0.08)
        return y, {"percussive"} if p["exc_bright"] * (0.4 + v) > 8 else set()
    cyc = _phase(f0)
    x = _saw(cyc, f0) if p["wave"] == "saw" else _pulse(cyc, f0)
    fc = f0 * p["cutoff"] * (0.6 + 0.6 * v)
    dark, bright = _lowpass(x, fc), _lowpass(x, fc * (1 + p["env_amount"] * v))
    y = dark + np.exp(-T32 / p["filter_decay"]).astype(np.float32) * (bright - dark)
    return y * _adsr(p["attack"], p["decay"], p["sustain"], p["release"]), set()


def _synth_brass(p, f0, v, rng):
    f = _vibrato(f0, p["vib_rate"], p["vib_cents"], 0.4, rng, scoop_cents=p["scoop"])
    x = _saw(_phase(f), f)
    if p["detune"]:
        f2 = f * 2 ** (p["detune"] / 1200)
        x = (x + 0.5 * _saw(_phase(f2) + rng.random(), f2)) / 1.5
    env = _adsr(p["attack"], p["decay"], p["sustain"], p["release"])
    dark = _lowpass(x, f0 * p["dark"])
    bright = _lowpass(x, min(f0 * p["bright"] * (0.5 + 0.7 * v), 7000.0))
    y = (dark + (0.4 + 0.6 * v) * env ** 2 * (bright - dark)) * env   # brightness follows loudness
    y = y + p["formant_gain"] * _resonance(y, p["formant"], 2.0)         # the bell's formant
    if p["breath"]:
        y += p["breath"] * env * _bandpass(rng.standard_normal(N, dtype=np.float32), 1000.0, 4000.0)
    return y, set()


def _synth_flute(p, f0, v, rng):
    f = _vibrato(f0, p["vib_rate"], p["vib_cents"], 0.5, rng)
    cyc = _phase(f)
    amps = [1.0, p["h2"] * (0.5 + v), p["h3"] * (0.5 + v)]
    amps += [p["h3"] * (0.5 + v) * (k / 3.0) ** -p["rolloff"] for k in range(4, 9)]
    y = _additive(cyc, amps, f0 * 1.02)
    if p["chorus"]:
        y = (y + 0.5 * _additive(_phase(f * 2 ** (p["chorus"] / 1200)), amps, f0 * 1.03)) / 1.5
    env = _adsr(p["attack"], 0.2, 0.9, p["release"])
    y = y * env
    if p["breath"]:
        noise = _bandpass(rng.standard_normal(N, dtype=np.float32), 1500.0, 5000.0)
        y += p["breath"] * (0.6 + 0.4 * v) * env * noise
        y += p["chiff"] * v * _bandpass(_burst(rng, 0.1, 0.02), f0, 6000.0)
    return y, set()


def _synth_guitar(p, f0, v, rng):
    if p["source"] == "synthetic":            # a square-wave burst: a hollow, clean synth pluck
        exc = np.where((T * f0) % 1.0 < 0.5, 1.0, -1.0) * (T < 2 / f0)
    else:
        exc = _pluck(f0, p["pluck_pos"], 0.3, rng)
    exc = _lowpass(exc, min(f0 * p["exc_bright"] * (0.4 + v), 7000.0))
    t60 = float(np.clip(p["t60"] * (110.0 / f0) ** 0.35, 0.8, 8.0))
    y = _karplus_strong(f0, exc, t60, p["loss"])
    if p["source"] == "acoustic":
        y = y + 0.5 * _resonance(y, p["body1"], 4.0) + 0.3 * _resonance(y, p["body2"], 5.0)
    elif p["source"] == "electronic":
        y = _lowpass(y, p["pickup"])
    y = y + p["pick"] * v * 0.05 * _highpass(_burst(rng, 0.01, 0.002), 2000.0)
    y = y * _decaying(60.0, damp=0.1)
    q = {"fast_decay"} if t60 < 1.0 else set()
    if p["pick"] > 0.25:
        q.add("percussive")
    return y, q


def _synth_keyboard(p, f0, v, rng):
    if p["kind"] == "piano":
        t60 = float(np.clip(p["t60"] * (261.6 / f0) ** 0.5, 0.6, 12.0))
        tilt = p["tilt"] - 0.8 * v
        y = np.zeros(N, dtype=np.float32)
        for k in range(1, 17):
            fk = k * f0 * np.sqrt(1 + p["inharm"] * k * k)       # a stiff string's stretched partials
            if fk >= NYQUIST_LIMIT:
                break
            part = _sin(fk * T + rng.random())
            if k <= 3:                                         # a second string, slightly detuned
                part = (part + 0.6 * _sin(fk * 2 ** (p["detune"] / 1200) * T + rng.random())) / 1.6
            y += k ** -tilt * np.exp(-6.9 * (1 + 0.4 * (k - 1)) / t60 * T32) * part   # highs die first
        y *= 0.4 + 0.6 * np.exp(-6.9 * 5 / t60 * T32)            # two-stage decay: fast, then slow
        y = y + p["hammer"] * v * _lowpass(_burst(rng, 0.02, 0.004), 3000.0)
        y = y * _decaying(60.0, attack=0.001, damp=p["release"])
        return y, ({"percussive"} | ({"fast_decay"} if t60 < 1.2 else set()))
    index = p["index"] * (0.3 + 0.7 * v) * (0.05 + 0.95 * np.exp(-T32 / p["index_tau"]))
    mod = _sin(p["ratio"] * f0 * T)
    y = _sin(f0 * T + index / (2 * np.pi) * mod)
    tf = p["tine_ratio"] * f0
    if p["tine"] and tf < NYQUIST_LIMIT:
        y = y + p["tine"] * v * np.exp(-T32 / 0.05).astype(np.float32) * _sin(tf * T)
    y = y + p["thump"] * v * _lowpass(_burst(rng, 0.02, 0.005), 2000.0)     # the key hitting bottom
    t60 = float(np.clip(p["t60"] * (261.6 / f0) ** 0.4, 0.6, 10.0))
    y = y * _decaying(t60, attack=0.002, damp=p["release"])
    q = {"fast_decay"} if t60 < 1.2 else set()
    if p["tremolo"]:
        y = y * (1 - p["tremolo"] * 0.5 * (1 + _sin(p["trem_rate"] * T))).astype(np.float32)
        q.add("nonlinear_env")
    return y, q


def _synth_mallet(p, f0, v, rng):
    if p["kind"] == "modal":
        t60 = float(np.clip(p["t60"] * (440.0 / f0) ** 0.4, 0.3, 6.0))
        y = np.zeros(N, dtype=np.float32)
        for i, (r, a) in enumerate(zip(p["ratios"], p["amps"])):
            if r * f0 >= NYQUIST_LIMIT:
                break
            a = a if i == 0 else a * (0.4 + v)                # harder strikes excite the upper modes
            y += a * np.exp(-6.9 * T32 / (t60 / (1 + 2.5 * i))).astype(np.float32) * _sin(r * f0 * T + rng.random())
        y = y + p["strike"] * v * _highpass(_burst(rng, 0.01, 0.002), 1500.0)
        y = y * _decaying(60.0, attack=0.001, damp=0.2)
        q = {"percussive"} | ({"fast_decay"} if t60 < 1.0 else set())
        if p["bar"] == "glockenspiel":
            q.add("multiphonic")
        if p["tremolo"]:
            y = y * (1 - p["tremolo"] * 0.5 * (1 + _sin(p["trem_rate"] * T))).astype(np.float32)
            q.add("nonlinear_env")
        return y, q
    # FM bell: the modulator at a non-integer ratio makes inharmonic partials (all above f0);
    # the index falls fast to 15 % of its peak, so after the strike the fundamental leads
    # (the pitch we hear) and a quieter inharmonic shimmer rings on with it.
    index = p["index"] * (0.3 + 0.7 * v) * (0.15 + 0.85 * np.exp(-T32 / p["index_tau"]))
    y = _sin(f0 * T + index / (2 * np.pi) * _sin(p["ratio"] * f0 * T))
    t60 = float(np.clip(p["t60"] * (440.0 / f0) ** 0.3, 0.5, 6.0))
    y = _lowpass(y, 7000.0, 4) * _decaying(t60, attack=0.001, damp=0.2)
    return y, {"percussive", "multiphonic"} | ({"fast_decay"} if t60 < 1.0 else set())


def _synth_organ(p, f0, v, rng):
    q = set()
    if p["leslie"]:
        f = f0 * np.exp2(6.0 * _sin(p["leslie_rate"] * T) / 1200).astype(np.float64)
        q.add("nonlinear_env")
    else:
        f = f0
    cyc = _phase(f)
    amps = [0.0] * 8
    for h, lvl in zip(p["harmonics"], p["levels"]):
        amps[h - 1] = lvl * (1.0 if h <= 2 else 0.5 + 0.5 * v)
    if p["percussion"]:
        amps[p["percussion"] - 1] = amps[p["percussion"] - 1] + 0.6 * np.exp(-T32 / 0.2)
    y = _additive(cyc, amps, f0 * 1.01)
    y = y + p["click"] * _highpass(_burst(rng, 0.005, 0.001), 2000.0)
    y = y * _adsr(p["attack"], 0.05, 1.0, p["release"])
    if p["leslie"]:
        y = y * (1 - p["leslie"] * 0.5 * (1 + _sin(p["leslie_rate"] * T + 0.16))).astype(np.float32)
    return y, q


def _synth_reed(p, f0, v, rng):
    f = _vibrato(f0, p["vib_rate"], p["vib_cents"], 0.5, rng)
    env = _adsr(p["attack"], 0.2, 0.85, p["release"])
    cyc = _phase(f)
    x = _pulse(cyc, f)                         # odd harmonics: a clarinet's closed tube
    if p["even"]:                              # a saxophone's cone adds the even ones
        x = (1 - p["even"]) * x + p["even"] * _saw(cyc, f)
    y = _lowpass(x, min(f0 * p["cutoff"] * (0.5 + v), 7000.0))
    y = (y + p["nasal_gain"] * _resonance(y, p["nasal"], 2.5)) * env     # the reed's nasal formant
    if p["breath"]:
        y += p["breath"] * env * _bandpass(rng.standard_normal(N, dtype=np.float32), 1500.0, 6000.0)
    return y, set()


def _synth_string(p, f0, v, rng):
    f = _vibrato(f0, p["vib_rate"], p["vib_cents"], p["vib_delay"], rng)
    x = _saw(_phase(f), f)
    if p["ensemble"]:                          # more players, a little out of tune
        x = _ensemble(x, f, p["ensemble"], rng)
    x = x + p["bow_noise"] * _bandpass(rng.standard_normal(N, dtype=np.float32), 2000.0, 7000.0)
    body = _lowpass(x, p["cutoff"] * (0.6 + 0.6 * v))
    for fc, g in zip(p["body"], p["body_gain"]):
        body = body + g * _resonance(x, fc, 3.0)
    env = _adsr(p["attack"], 0.3, p["sustain"], p["release"])
    return body * env, set()


def _synth_synth_lead(p, f0, v, rng):
    q = set()
    f = _vibrato(f0, p["vib_rate"], p["vib_cents"], 0.3, rng, scoop_cents=p["glide"], scoop_time=0.05)
    cyc = _phase(f)
    if p["wave"] == "supersaw":
        x = _ensemble(_saw(cyc, f), f, p["detune"], rng)
    elif p["wave"] == "pulse":                  # pulse-width modulation: a slowly moving timbre
        x = _pulse(cyc, f, p["duty"] + p["pwm"] * _sin(p["pwm_rate"] * T))
    else:
        x = _saw(cyc, f)
    fc = min(f0 * p["cutoff"] * (0.5 + 0.7 * v), 7000.0)
    dark = _resonant_lowpass(x, fc, p["q"])
    bright = _resonant_lowpass(x, min(fc * (1 + p["env_amount"]), 7000.0), p["q"])
    y = dark + np.exp(-T32 / p["filter_decay"]).astype(np.float32) * (bright - dark)
    y = y * _adsr(p["attack"], p["decay"], p["sustain"], p["release"])
    if p["gate_bpm"]:                          # a gate locked to the tempo (1/8 or 1/16 notes)
        rate = p["gate_bpm"] / 60.0 * p["gate_div"]
        gate = (T * rate) % 1.0 < 0.6
        y = y * _lowpass(gate.astype(np.float32), 40.0)
        q |= {"tempo-synced", "nonlinear_env"}
    return y, q


def _synth_vocal(p, f0, v, rng):
    # source: a glottal pulse train (a sawtooth, low-passed: softer singing is darker) ...
    y = np.zeros(N, dtype=np.float32)
    for i in range(p["voices"]):                # a lead voice and quieter ones around it
        cents = 0.0 if i == 0 else p["detune"] * (1 if i == 1 else -1)
        f = _vibrato(f0 * 2 ** (cents / 1200), p["vib_rate"] * (1 + 0.07 * i), p["vib_cents"], 0.35, rng)
        y += (1.0 if i == 0 else 0.4) * _saw(_phase(f) + rng.random(), f)
    glottal = _lowpass(y / (1 + 0.4 * (p["voices"] - 1)), min(f0 * p["bright"] * (0.5 + v), 7000.0))
    glottal += p["breath"] * _highpass(rng.standard_normal(N, dtype=np.float32), 1000.0)
    # ... shaped by the resonances of the vocal tract: the formants of the vowel
    out = 0.05 * glottal
    for fc, bw, g in p["formants"]:
        out += 3.0 * g * _resonance(glottal, fc, fc / bw)
    return out * _adsr(p["attack"], 0.3, 0.9, p["release"]), set()


_SYNTHS = {name: globals()[f"_synth_{name}"] for name in FAMILY_SPECS}


def instrument_qualities(p: dict) -> set:
    """The qualities an instrument's parameters cause, whatever note it plays."""
    q = set()
    if p["drive"]:
        q.add("distortion")
    if p["reverb"]:
        q.add("reverb")
    if p.get("release", 0.0) >= 0.5:
        q.add("long_release")
    # brightness: where the instrument's filter / spectral tilt sits in its family's range
    fam = p["family"]
    bright = {"bass": ("cutoff", 1.5, 6.0), "brass": ("bright", 6.0, 14.0), "flute": ("h2", 0.1, 0.5),
              "guitar": ("exc_bright", 4.0, 14.0), "reed": ("cutoff", 4.0, 10.0),
              "string": ("cutoff", 4000.0, 7000.0), "synth_lead": ("cutoff", 3.0, 10.0),
              "vocal": ("bright", 2.0, 6.0), "keyboard": ("tilt", 2.2, 1.2)}.get(fam)
    if bright and bright[0] in p:
        key, lo, hi = bright
        pos = (p[key] - lo) / (hi - lo)
        if pos > 0.8:
            q.add("bright")
        elif pos < 0.2:
            q.add("dark")
    return q


def synth_note(params: dict, pitch: int, velocity: int, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """Synthesise one 4-second note of an instrument drawn by :func:`draw_instrument`.

    Parameters
    ----------
    params : dict
        The instrument (family, source and timbre parameters).
    pitch : int
        MIDI note number; the note's fundamental is ``440 * 2 ** ((pitch - 69) / 12)`` Hz.
    velocity : int
        1..127: louder *and* brighter as it grows.
    seed : int
        Seeds the note's noise (breath, pick, phases).

    Returns
    -------
    y : np.ndarray
        float32, 64000 samples, peak below 1.
    qualities : list of int
        The 10 quality flags of the note (order :data:`coursekit.data.nsynth.QUALITIES`).

    Example
    -------
    >>> p = draw_instrument("flute", "acoustic", np.random.default_rng(0))
    >>> y, q = synth_note(p, 72, 100)
    >>> y.shape, float(np.abs(y).max()) < 1.0, len(q)
    ((64000,), True, 10)
    """
    rng = np.random.default_rng(seed)
    f0 = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    v = velocity / 127.0
    y, q = _SYNTHS[params["family"]](params, f0, v, rng)
    y = np.asarray(y, dtype=np.float32)
    if params["drive"]:                            # soft clipping, 4x oversampled (no aliasing)
        drive = params["drive"] * (0.5 + 0.5 * v)
        up = signal.resample_poly(y / (np.abs(y).max() + 1e-9), 4, 1)
        y = signal.resample_poly(np.tanh(drive * up) / np.tanh(drive), 1, 4).astype(np.float32)
    if params["reverb"]:
        y = _reverb(y, params["reverb"], params["reverb_mix"], params["reverb_seed"])
    y = _highpass(y, 20.0)                         # no DC
    y *= np.clip((N - 1 - np.arange(N)) / (0.02 * SR), 0.0, 1.0).astype(np.float32)   # silent at the end
    peak = float(np.abs(y).max())
    gain = 0.9 * 10.0 ** (-18.0 * (1.0 - v) / 20.0)       # velocity 25 is about 15 dB below 127
    y = (y * (gain / peak)).astype(np.float32) if peak > 0 else y
    q = set(q) | instrument_qualities(params)
    if "bright" in q and "dark" in q:
        q.discard("dark")
    return y, [int(name in q) for name in QUALITIES]


# =============================================================================================
# The dataset: plan (instruments, notes, ids), synthesise, write atomically
# =============================================================================================

def _plan(size: str, seed: int) -> dict:
    """Decide every instrument and note of every split (cheap, deterministic from the seed)."""
    cfg = SIZES[size]
    rng = np.random.default_rng(seed)
    n_inst = cfg["train_instruments"] + cfg["heldout_instruments"]
    inst_ids = rng.permutation(1006)              # the real dataset has about 1000 instruments
    jobs = {s: [] for s in SPLITS}
    j = 0
    for family in FAMILIES:
        (lo, hi), sources = FAMILY_SPECS[family]
        # sources in turn, from a random one: the held-out instruments (the first ones) then
        # cover as many sources as they can, and so does train
        first = int(rng.integers(len(sources)))
        order = [sources[(first + i) % len(sources)] for i in range(n_inst)]
        numbers = {s: rng.choice(160, size=order.count(s), replace=False).tolist() for s in sources}
        # kinds of instrument (vowels, bar types, ...) in turn within each source, so that train
        # covers as many as it can and each held-out instrument is of a kind train has
        n_train = {s: order[cfg["heldout_instruments"]:].count(s) for s in sources}
        base = int(rng.integers(60))
        offset = {s: base + sum(n_train[t] for t in sources[:k]) for k, s in enumerate(sources)}
        seen = {s: 0 for s in sources}
        for i, source in enumerate(order):
            inst_str = f"{family}_{source}_{numbers[source].pop(0):03d}"
            if i < cfg["heldout_instruments"]:
                variant = offset[source] + int(rng.integers(max(1, n_train[source])))
            else:
                variant = offset[source] + seen[source]
                seen[source] += 1
            # each instrument its own random stream: changing one family leaves the others be
            params = draw_instrument(family, source, np.random.default_rng([seed, j]), variant)
            width = min(hi - lo, int(rng.integers(24, 40)))
            start = int(rng.integers(lo, hi - width + 1))
            grid = [(pt, vel) for pt in range(start, start + width + 1) for vel in VELOCITIES]
            heldout = i < cfg["heldout_instruments"]
            wanted = {"train": cfg["train_notes"]} if not heldout else \
                {"valid": cfg["valid_notes"], "test": cfg["test_notes"]}
            picks = rng.choice(len(grid), size=sum(wanted.values()), replace=False)
            for split, count in wanted.items():
                chosen, picks = picks[:count], picks[count:]
                for g in sorted(chosen):
                    pitch, vel = grid[g]
                    jobs[split].append({"instrument_str": inst_str, "instrument": int(inst_ids[j]),
                                        "family": family, "source": source, "params": params,
                                        "pitch": pitch, "velocity": vel,
                                        "seed": int(rng.integers(2**31))})
            j += 1
    total = sum(len(v) for v in jobs.values())
    note_ids = rng.choice(305979, size=total, replace=False)   # `note` is an id, not the pitch
    k = 0
    for split in SPLITS:
        for job in jobs[split]:
            job["note"] = int(note_ids[k])
            k += 1
        order = rng.permutation(len(jobs[split]))             # examples.json is not sorted
        jobs[split] = [jobs[split][i] for i in order]
    return jobs


def _render(job: dict, audio_dir: Path) -> dict:
    """Synthesise one note, write its WAV, return its examples.json record (real field order)."""
    y, q = synth_note(job["params"], job["pitch"], job["velocity"], job["seed"])
    name = note_name(job["instrument_str"], job["pitch"], job["velocity"])
    y16 = np.round(y * 32767.0).astype("<i2")
    (audio_dir / f"{name}.wav").write_bytes(_wav_bytes(y16, SR))
    return {
        "qualities": q,
        "pitch": job["pitch"],
        "note": job["note"],
        "instrument_source_str": job["source"],
        "velocity": job["velocity"],
        "instrument_str": job["instrument_str"],
        "instrument": job["instrument"],
        "sample_rate": SR,
        "qualities_str": [n for n, v in zip(QUALITIES, q) if v],
        "instrument_source": SOURCES.index(job["source"]),
        "note_str": name,
        "instrument_family": FAMILIES.index(job["family"]),
        "instrument_family_str": job["family"],
    }


def _render_chunk(args):
    jobs, audio_dir = args
    return [_render(job, Path(audio_dir)) for job in jobs]


def _split_complete(split_dir: Path) -> bool:
    """``examples.json`` parses and every note it lists has its WAV file."""
    try:
        examples = json.loads((split_dir / "examples.json").read_text(encoding="utf-8"))
        present = {p.name for p in (split_dir / "audio").iterdir()}
    except (OSError, ValueError):
        return False
    return isinstance(examples, dict) and all(f"{k}.wav" in present for k in examples)


def _write_split(jobs: list, tmp_split: Path, workers: int, progress: bool) -> None:
    audio_dir = tmp_split / "audio"
    audio_dir.mkdir(parents=True)
    chunks = [jobs[i:i + 32] for i in range(0, len(jobs), 32)]
    records = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=f"mini-NSynth {tmp_split.name}", unit="note", leave=False)
    if workers > 1 and len(chunks) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            for recs in pool.imap(_render_chunk, [(c, str(audio_dir)) for c in chunks]):
                records += recs
                if bar:
                    bar.update(len(recs))
    else:
        for c in chunks:
            records += _render_chunk((c, str(audio_dir)))
            if bar:
                bar.update(len(c))
    if bar:
        bar.close()
    # the metadata last, so a folder with examples.json always has all its audio
    (tmp_split / "examples.json").write_text(_dumps({r["note_str"]: r for r in records}), encoding="utf-8")


def make_mini_nsynth(root, size: str = "default", seed: int = 0, workers: int | None = None,
                     progress: bool = True) -> Path:
    """Write mini-NSynth (train, valid, test) under ``root`` in the real NSynth on-disk format.

    Parameters
    ----------
    root : str or Path
        Gets ``nsynth-train/``, ``nsynth-valid/``, ``nsynth-test/`` and ``mini-nsynth.json``
        (what was made: size, seed, version, counts).
    size : {'smoke', 'default', 'full'}
        ``smoke``: 66/22/22 notes (seconds). ``default``: 1980/297/297 notes of 132 + 33
        instruments, about 330 MB, under a minute on two CPU cores. ``full``: 7040/990/990
        notes of 176 + 55 instruments, about 1.2 GB.
    seed : int
        Same seed, same bytes.
    workers : int, optional
        Processes to synthesise with (default: up to 2, one for ``smoke``). The output does not
        depend on it.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Path
        ``root``.

    Notes
    -----
    Each split is written to a temporary folder and renamed into place when complete, so
    several processes can make the same dataset at once; a split that already exists complete
    is left as it is.

    Example
    -------
    >>> root = make_mini_nsynth("/tmp/mini", size="smoke", seed=0)     # doctest: +SKIP
    >>> from coursekit.data.nsynth import NSynth
    >>> len(NSynth(root / "nsynth-test"))                               # doctest: +SKIP
    22
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    marker = root / "mini-nsynth.json"
    finals = {s: root / f"nsynth-{s}" for s in SPLITS}
    existing = {s: d for s, d in finals.items() if d.exists()}
    made = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None
    if existing and made and (made.get("size"), made.get("seed")) != (size, seed):
        raise ValueError(
            f"{root} already holds mini-NSynth of size {made.get('size')!r}, seed {made.get('seed')}; "
            f"asked for size {size!r}, seed {seed}. Delete that folder or choose another --root.")
    for s, d in existing.items():
        if not _split_complete(d):
            raise ValueError(f"{d} exists but is incomplete (examples.json missing or unreadable, "
                             "or WAV files missing); delete it and run again")
    todo = [s for s in SPLITS if s not in existing]
    if not todo:
        if made and made.get("version") != VERSION:
            print(f"Note: {root} was made by an earlier version of mini-NSynth ({made.get('version')}, now "
                  f"{VERSION}); it is used as it is. Delete it to make the current one.")
        return root
    if existing and made and made.get("version") != VERSION:
        raise ValueError(f"{root} holds part of a mini-NSynth made by an earlier version "
                         f"({made.get('version')}, now {VERSION}); delete it and run again")

    jobs = _plan(size, seed)
    if workers is None:
        workers = 1 if size == "smoke" else min(2, os.cpu_count() or 1)
    tmp = root / f".tmp-mini-nsynth-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        for s in todo:
            _write_split(jobs[s], tmp / f"nsynth-{s}", workers, progress)
        for s in todo:
            try:
                os.rename(tmp / f"nsynth-{s}", finals[s])
            except OSError:
                if not _split_complete(finals[s]):   # another process put an incomplete one there
                    raise
        summary = {"made_with": "coursekit.data.mini_nsynth", "size": size, "seed": seed, "version": VERSION,
                   "notes": {s: len(jobs[s]) for s in SPLITS},
                   "instruments": {s: len({j["instrument_str"] for j in jobs[s]}) for s in SPLITS}}
        tmp_marker = tmp / "mini-nsynth.json"
        tmp_marker.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp_marker, marker)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
