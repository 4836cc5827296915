"""mini-GTZAN: genre clips composed and synthesized offline, in GTZAN's on-disk format.

``make_mini_gtzan(root)`` writes ``root/genres/<genre>/<genre>.000NN.wav`` (22050 Hz, mono,
16-bit) for the ten GTZAN genres, so :mod:`coursekit.data.gtzan` reads it exactly like the real
dataset. Each clip is *composed* from what makes the genre recognisable, then *synthesized* with
NumPy:

- a tempo, a meter, a swing feel and a drum pattern per genre (drum patterns are written as
  16-step strings, e.g. a four-on-the-floor kick is ``"x...x...x...x..."``);
- a chord progression in roman numerals (the blues 12-bar, pop's I-V-vi-IV, jazz ii-V-I, ...),
  in a key drawn per clip;
- instruments typical of the genre (walking upright bass and ride cymbal for jazz, distorted
  power chords and double kick for metal, offbeat skank and one-drop for reggae, ...), each a
  few lines of additive or subtractive synthesis; drums from noise and sine sweeps.

Every clip is an excerpt that starts somewhere inside its "song", like GTZAN's 30-second cuts,
and clip lengths vary by a few hundred samples as they do in the real data. Same seed, same
bytes.

Example
-------
>>> from coursekit.data.mini_gtzan import make_mini_gtzan
>>> root = make_mini_gtzan("/tmp/gtzan", size="smoke")        # doctest: +SKIP
>>> sorted(p.name for p in (root / "genres").iterdir())[:3]    # doctest: +SKIP
['blues', 'classical', 'country']
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np

from .gtzan import GENRES, SAMPLE_RATE

# clips per genre and seconds per clip for each size
SIZES = {
    "smoke": {"clips": 2, "seconds": 3.0},
    "default": {"clips": 10, "seconds": 10.0},
    "full": {"clips": 30, "seconds": 30.0},
}

# ---------------------------------------------------------------------------------------------
# Harmony: roman numerals to MIDI notes
# ---------------------------------------------------------------------------------------------

_DEGREES = {"I": 0, "II": 2, "III": 4, "IV": 5, "V": 7, "VI": 9, "VII": 11}
_QUALITIES = {  # intervals above the chord root, in semitones
    "maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10), "5": (0, 7, 12), "dim": (0, 3, 6),
}
_CHORD = re.compile(r"^(?P<acc>b|#)?(?P<deg>VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)"
                    r"(?P<q>maj7|7|5|dim)?$")
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
BLUES = (0, 3, 5, 6, 7, 10)
MAJOR_PENTA = (0, 2, 4, 7, 9)
MINOR_PENTA = (0, 3, 5, 7, 10)


def parse_chord(symbol: str) -> tuple[int, tuple[int, ...]]:
    """A roman-numeral chord -> (root in semitones above the tonic, intervals).

    Upper case is major, lower case minor; ``b``/``#`` shift the root; suffixes ``7`` (dominant
    seventh, or minor seventh on a lower-case numeral), ``maj7``, ``5`` (power chord), ``dim``.

    Example
    -------
    >>> parse_chord("bVII")
    (10, (0, 4, 7))
    >>> parse_chord("ii7")
    (2, (0, 3, 7, 10))
    """
    m = _CHORD.match(symbol)
    if m is None:
        raise ValueError(f"cannot read chord symbol {symbol!r} (examples: I, vi, IV7, ii7, bVII, i5)")
    deg = m["deg"]
    root = _DEGREES[deg.upper()] + {"b": -1, "#": 1, None: 0}[m["acc"]]
    minor = deg.islower()
    q = m["q"]
    if q is None:
        quality = "min" if minor else "maj"
    elif q == "7":
        quality = "m7" if minor else "7"
    else:
        quality = q
    return root % 12, _QUALITIES[quality]


def voice(tonic: int, symbol: str, low: int) -> list[int]:
    """MIDI notes of chord ``symbol`` in key ``tonic`` (MIDI), in close position from ``low`` up."""
    root, intervals = parse_chord(symbol)
    r = tonic + root
    while r < low:
        r += 12
    while r - 12 >= low:
        r -= 12
    return [r + i for i in intervals]


def chord_root(tonic: int, symbol: str, low: int) -> int:
    """The root of ``symbol`` as the lowest MIDI note >= ``low``."""
    return voice(tonic, symbol, low)[0]


# ---------------------------------------------------------------------------------------------
# Sound sources
# ---------------------------------------------------------------------------------------------

def _hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def _env(n: int, sr: int, attack: float = 0.005, release: float = 0.03) -> np.ndarray:
    """Linear attack and release ramps, so no note starts or ends with a click."""
    e = np.ones(n)
    a = min(n, max(1, int(attack * sr)))
    r = min(n - a, max(1, int(release * sr)))
    e[:a] = np.linspace(0.0, 1.0, a, endpoint=False)
    if r > 0:
        e[n - r:] *= np.linspace(1.0, 0.0, r)
    return e


def additive(f0: float, n: int, sr: int, amps, decays, inharmonicity: float = 0.0,
             vibrato_hz: float = 0.0, vibrato_depth: float = 0.0, bend: float = 0.0,
             bend_time: float = 0.03) -> np.ndarray:
    """A sum of partials ``k = 1..K``: ``amps[k] * exp(-decays[k] t) * sin(2 pi f_k t)``.

    ``f_k = k f0 sqrt(1 + B k^2)`` (``B`` = ``inharmonicity``, stiff strings); partials above
    0.45 ``sr`` are dropped (no aliasing). ``vibrato_depth`` is a fraction of the frequency;
    ``bend`` (semitones) starts the note off-pitch and slides in over ``bend_time`` (a twang).
    """
    t = np.arange(n) / sr
    amps = np.asarray(amps, dtype=np.float64)
    decays = np.broadcast_to(np.asarray(decays, dtype=np.float64), amps.shape)
    k = np.arange(1, len(amps) + 1)
    fk = f0 * k * np.sqrt(1.0 + inharmonicity * k ** 2)
    keep = fk < 0.45 * sr
    k, fk, amps, decays = k[keep], fk[keep], amps[keep], decays[keep]
    # phase of the fundamental, with vibrato and pitch bend folded in
    phase = 2 * np.pi * f0 * t
    if vibrato_depth:
        phase -= f0 * vibrato_depth / vibrato_hz * np.cos(2 * np.pi * vibrato_hz * t)
    if bend:
        ratio = 2.0 ** (bend / 12.0) - 1.0  # extra frequency fraction at t=0, decaying away
        phase += 2 * np.pi * f0 * ratio * bend_time * (1 - np.exp(-t / bend_time))
    stretch = (fk / (f0 * k))[:, None]
    y = (amps[:, None] * np.exp(-decays[:, None] * t[None, :])
         * np.sin(k[:, None] * stretch * phase[None, :])).sum(axis=0)
    return y


def _lowpass(y: np.ndarray, cutoff: float, sr: int, order: int = 2) -> np.ndarray:
    from scipy.signal import butter, lfilter

    b, a = butter(order, min(cutoff, 0.45 * sr) / (sr / 2), btype="low")
    return lfilter(b, a, y)


def _highpass(y: np.ndarray, cutoff: float, sr: int, order: int = 2) -> np.ndarray:
    from scipy.signal import butter, lfilter

    b, a = butter(order, cutoff / (sr / 2), btype="high")
    return lfilter(b, a, y)


def _bandpass(y: np.ndarray, lo: float, hi: float, sr: int, order: int = 2) -> np.ndarray:
    from scipy.signal import butter, lfilter

    b, a = butter(order, [lo / (sr / 2), min(hi, 0.45 * sr) / (sr / 2)], btype="band")
    return lfilter(b, a, y)


def instrument(name: str, midi: int, n: int, vel: float, sr: int) -> np.ndarray:
    """One note of a melodic instrument: ``n`` samples at MIDI pitch ``midi``, velocity 0..1.

    Instruments: piano, epiano, organ, strings, pluck, twang, bass, synth_bass, sub, upright,
    lead, fiddle, sax.
    """
    f = float(_hz(midi))
    K = 24
    k = np.arange(1, K + 1)
    if name == "piano":
        y = additive(f, n, sr, k ** -(2.3 - 0.9 * vel), 0.6 + 0.45 * k + f / 400,
                     inharmonicity=1e-4)
        e = _env(n, sr, 0.002, 0.05)
    elif name == "epiano":  # a Rhodes-like tine: FM with a decaying modulation index
        t = np.arange(n) / sr
        index = (0.6 + 1.6 * vel) * np.exp(-t / 0.25)
        y = np.sin(2 * np.pi * f * t + index * np.sin(2 * np.pi * f * t)) * np.exp(-t * 1.1)
        y += 0.15 * vel * np.sin(2 * np.pi * 7.1 * f * t) * np.exp(-t * 12)  # the tine's ping
        e = _env(n, sr, 0.002, 0.05)
    elif name == "organ":  # drawbars 8', 4', 2 2/3', 2', 1 3/5', 1' with a slow tremolo
        amps = np.zeros(K)
        amps[[0, 1, 2, 3, 5, 7]] = [1.0, 0.7, 0.5, 0.4, 0.25, 0.15]
        t = np.arange(n) / sr
        y = additive(f, n, sr, amps, 0.0) * (1 + 0.12 * np.sin(2 * np.pi * 6.2 * t))
        e = _env(n, sr, 0.01, 0.04)
    elif name == "strings":  # a bowed sawtooth: slow attack, delayed vibrato, soft top end
        y = additive(f, n, sr, np.exp(-k / 7.0) / k, 0.0, vibrato_hz=5.5, vibrato_depth=0.004)
        e = _env(n, sr, 0.18, 0.2)
    elif name == "pluck":  # nylon/steel string: high partials die first
        y = additive(f, n, sr, np.exp(-k / 5.0) / k, 1.2 + 0.9 * k, inharmonicity=2e-5)
        e = _env(n, sr, 0.001, 0.04)
    elif name == "twang":  # bright electric or banjo pluck that bends into pitch
        y = additive(f, n, sr, k ** -0.9, 2.0 + 0.7 * k, bend=-0.4, bend_time=0.02)
        e = _env(n, sr, 0.001, 0.03)
    elif name == "bass":  # fingered electric bass
        y = additive(f, n, sr, np.array([1, .5, .35, .2, .12, .08, .05, .03]), 1.0 + 0.7 * k[:8])
        e = _env(n, sr, 0.004, 0.04)
    elif name == "synth_bass":  # a sawtooth through a closing filter
        y = additive(f, n, sr, 1.0 / k[:16], 1.5 + 1.2 * k[:16])
        e = _env(n, sr, 0.002, 0.03)
    elif name == "sub":  # an 808-style sub bass: sine that drops into pitch, long decay
        t = np.arange(n) / sr
        freq = f * (1 + 0.5 * np.exp(-t / 0.02))
        y = np.tanh(1.5 * np.sin(2 * np.pi * np.cumsum(freq) / sr)) * np.exp(-t * 1.2)
        e = _env(n, sr, 0.002, 0.05)
    elif name == "upright":  # plucked double bass: warm, quick decay, a thump at the start
        y = additive(f, n, sr, np.array([1, .6, .3, .15, .08, .04]), 2.5 + 1.5 * k[:6])
        t = np.arange(n) / sr
        y += 0.3 * np.sin(2 * np.pi * 60 * t) * np.exp(-t * 40)
        e = _env(n, sr, 0.006, 0.04)
    elif name == "lead":  # a singing synth lead: saw + square mix with vibrato
        amps = (1.0 / k) * np.where(k % 2 == 1, 1.0, 0.5) * np.exp(-k / 10.0)
        y = additive(f, n, sr, amps, 0.0, vibrato_hz=5.0, vibrato_depth=0.006)
        e = _env(n, sr, 0.03, 0.06)
    elif name == "fiddle":
        y = additive(f, n, sr, k ** -1.1, 0.0, vibrato_hz=6.0, vibrato_depth=0.008)
        y = _bandpass(y, 300, 5000, sr)
        e = _env(n, sr, 0.04, 0.06)
    elif name == "sax":  # reedy: odd-and-even partials with a formant bump around 1.5 kHz
        formant = np.exp(-((k * f - 1500.0) / 1200.0) ** 2)
        y = additive(f, n, sr, (0.6 / k + formant) * np.exp(-k / 14.0), 0.0,
                     vibrato_hz=4.5, vibrato_depth=0.005)
        e = _env(n, sr, 0.03, 0.05)
    else:
        raise ValueError(f"unknown instrument {name!r}")
    y = y * e
    peak = np.abs(y).max()
    return (y / peak if peak > 0 else y) * (0.25 + 0.75 * vel)


def power_chord(notes, n: int, vel: float, sr: int, drive: float = 8.0,
                mute: bool = False) -> np.ndarray:
    """A distorted electric guitar chord: sawtooth strings, ``tanh`` overdrive, a speaker cabinet.

    ``mute`` is palm muting: a short, thudding note.
    """
    t = np.arange(n) / sr
    k = np.arange(1, 21)
    y = sum(additive(float(_hz(m)), n, sr, 1.0 / k, 0.3 + 0.05 * k) for m in notes)
    y = y / len(notes) * np.exp(-t * (12.0 if mute else 0.6))
    y = np.tanh(drive * y)  # the distortion: odd harmonics and compression
    y = _lowpass(y, 3500 if mute else 6000, sr, order=2)  # the cabinet
    y = y * _env(n, sr, 0.002, 0.02)
    peak = np.abs(y).max()
    return (y / peak if peak > 0 else y) * (0.3 + 0.7 * vel)


# -- drums ------------------------------------------------------------------------------------

def drum(name: str, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One drum hit, with small random differences per kit (tuning, decay).

    Kicks and toms are sine sweeps; snares add noise; cymbals are noise plus inharmonic
    square waves (how analogue drum machines make metal sound).
    """
    def noise(seconds):
        return rng.standard_normal(int(seconds * sr))

    def t_(seconds):
        return np.arange(int(seconds * sr)) / sr

    tune = rng.uniform(0.9, 1.1)
    if name in ("kick", "kick_metal"):
        t = t_(0.4)
        f_end = 48 * tune
        freq = f_end + (160 * tune - f_end) * np.exp(-t / 0.03)
        y = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / (0.09 if name == "kick_metal" else 0.15))
        click = _highpass(noise(0.4), 2000, sr) * np.exp(-t / 0.002)
        y = y + (0.6 if name == "kick_metal" else 0.2) * click
    elif name == "snare":
        t = t_(0.3)
        body = (np.sin(2 * np.pi * 185 * tune * t) + 0.5 * np.sin(2 * np.pi * 330 * tune * t)) * np.exp(-t / 0.05)
        y = 0.6 * body + _bandpass(noise(0.3), 1500, 9000, sr) * np.exp(-t / rng.uniform(0.08, 0.14))
    elif name == "clap":
        t = t_(0.35)
        env = sum(np.exp(-np.clip(t - d, 0, None) / 0.008) * (t >= d) for d in (0, 0.011, 0.022))
        env = env + 0.6 * np.exp(-np.clip(t - 0.03, 0, None) / 0.12) * (t >= 0.03)
        y = _bandpass(noise(0.35), 900, 3500, sr) * env
    elif name == "brush":
        t = t_(0.2)
        y = _bandpass(noise(0.2), 2000, 8000, sr) * (1 - np.exp(-t / 0.01)) * np.exp(-t / 0.06)
    elif name == "rim":  # cross-stick
        t = t_(0.08)
        y = (np.sin(2 * np.pi * 1700 * tune * t) + np.sin(2 * np.pi * 820 * tune * t)) * np.exp(-t / 0.012)
        y += 0.4 * _highpass(noise(0.08), 3000, sr) * np.exp(-t / 0.005)
    elif name in ("hat", "hat_open"):
        t = t_(0.05 if name == "hat" else 0.45)
        metal = sum(np.sign(np.sin(2 * np.pi * f * tune * t)) for f in (205, 304, 369, 522, 540, 800))
        y = _highpass(0.5 * metal / 6 + noise(len(t) / sr), 7000, sr, order=2)
        y *= np.exp(-t / (0.015 if name == "hat" else 0.12))
    elif name in ("ride", "crash"):
        dur = 1.2 if name == "ride" else 1.8
        t = t_(dur)
        metal = sum(np.sin(2 * np.pi * f * tune * t) for f in (317, 473, 611, 877, 1125, 1471, 2323, 3341))
        if name == "ride":
            y = _highpass(metal / 8, 1500, sr) * np.exp(-t / 0.5) + 0.25 * _highpass(noise(dur), 5000, sr) * np.exp(-t / 0.2)
        else:
            y = 0.4 * _highpass(metal / 8, 2500, sr) * np.exp(-t / 0.7) + _highpass(noise(dur), 4000, sr) * np.exp(-t / 0.6)
    else:
        raise ValueError(f"unknown drum {name!r}")
    return y / (np.abs(y).max() + 1e-9)


# ---------------------------------------------------------------------------------------------
# A song: a musical clock over a mixing buffer
# ---------------------------------------------------------------------------------------------

_VELOCITY = {"X": 1.0, "x": 0.75, "o": 0.4}  # accent, normal, ghost note; "." is a rest


class Song:
    """A mixing buffer with a clock in bars and 16th-note steps.

    The excerpt written to disk starts ``start_bars`` into the song (GTZAN clips are cut out of
    whole songs). ``swing`` moves the off-beat 8th notes (0.5 = straight, 0.67 = triplet
    shuffle); ``swing16`` does the same for off-beat 16ths (hip-hop's lazy feel).
    """

    def __init__(self, rng, n: int, sr: int, bpm: float, beats_per_bar: int = 4,
                 swing: float = 0.5, swing16: float = 0.5, start_bars: float = 0.0):
        self.rng, self.n, self.sr = rng, n, sr
        self.bpm, self.beat_s = bpm, 60.0 / bpm
        self.steps = 4 * beats_per_bar
        self.bar_s = self.beat_s * beats_per_bar
        self.swing, self.swing16 = swing, swing16
        self.t0 = start_bars * self.bar_s
        self.bars = range(int(start_bars), int(np.ceil(start_bars + n / sr / self.bar_s)) + 1)
        self.buf = np.zeros(n + sr * 2)  # room for ringing tails
        self._cache: dict = {}
        self._kit: dict = {}

    def time(self, bar: float, step: float = 0.0) -> float:
        """Seconds from the start of the excerpt to 16th-step ``step`` of bar ``bar``."""
        whole = int(np.floor(step))
        beat, sub = divmod(whole, 4)
        frac = sub / 4
        if self.swing != 0.5:  # the 8th-note off-beat moves to `swing`, 16ths in between follow
            frac = (0.0, self.swing / 2, self.swing, (1 + self.swing) / 2)[sub]
        if self.swing16 != 0.5 and sub % 2 == 1:
            frac = (sub - 1) / 4 + self.swing16 / 2
        return bar * self.bar_s + (beat + frac + (step - whole) / 4) * self.beat_s - self.t0

    def place(self, y: np.ndarray, t: float, gain: float = 1.0) -> None:
        """Add ``y`` into the buffer starting at time ``t`` (seconds; may start before 0)."""
        i = int(round(t * self.sr))
        a, b = max(0, i), min(len(self.buf), i + len(y))
        if b > a:
            self.buf[a:b] += gain * y[a - i:b - i]

    def jitter(self, ms: float = 4.0) -> float:
        return float(self.rng.normal(0, ms / 1000))

    # -- drums ------------------------------------------------------------------------------
    def drums(self, bar: int, patterns: dict, gains: dict | None = None, humanize: float = 4.0):
        """Play one bar of drum patterns: ``{"kick": "x...x...x...x...", ...}``."""
        for name, pattern in patterns.items():
            if len(pattern) != self.steps:
                raise ValueError(f"drum pattern {pattern!r} has {len(pattern)} steps, need {self.steps}")
            kit = "kick" if name.startswith("kick") else name
            if name not in self._kit:
                self._kit[name] = drum(name, self.sr, self.rng)
            for step, ch in enumerate(pattern):
                if ch in _VELOCITY:
                    vel = _VELOCITY[ch] * self.rng.uniform(0.85, 1.0)
                    g = (gains or {}).get(name, (gains or {}).get(kit, 1.0))
                    self.place(self._kit[name], self.time(bar, step) + self.jitter(humanize), g * vel)

    # -- pitched notes ------------------------------------------------------------------------
    def note(self, inst: str, midi, bar: float, step: float, steps: float, vel: float = 0.8,
             gain: float = 1.0, ring: float = 0.1, humanize: float = 6.0, **kw) -> None:
        """Play ``inst`` at ``midi`` (a number, or a list for power chords) for ``steps`` 16ths."""
        seconds = steps / 4 * self.beat_s + ring
        n = max(64, int(round(seconds * self.sr / 64)) * 64)  # rounded: more cache hits
        v = round(float(np.clip(vel, 0.05, 1.0)), 1)
        key = (inst, tuple(midi) if isinstance(midi, (list, tuple)) else midi, n, v,
               tuple(sorted(kw.items())))
        if key not in self._cache:
            if inst == "power":
                self._cache[key] = power_chord(midi, n, v, self.sr, **kw)
            else:
                self._cache[key] = instrument(inst, midi, n, v, self.sr)
        self.place(self._cache[key], self.time(bar, step) + self.jitter(humanize), gain)

    def chord(self, inst: str, notes, bar, step, steps, vel=0.7, gain=1.0, strum_ms=0.0, **kw):
        """Play several notes at once (a strum spreads them by ``strum_ms`` each)."""
        for i, m in enumerate(notes):
            self.note(inst, m, bar, step + strum_ms * i / 1000 / self.beat_s * 4, steps, vel,
                      gain / np.sqrt(len(notes)), **kw)

    def rhythm(self, inst, notes_or_fn, bar, pattern: str, length: float = 1.0, vel=0.75,
               gain=1.0, **kw):
        """Play a 16-step rhythm string; each hit lasts ``length`` steps.

        ``notes_or_fn`` is a list of notes (a chord) or a function ``step -> notes``.
        """
        for step, ch in enumerate(pattern):
            if ch in _VELOCITY:
                notes = notes_or_fn(step) if callable(notes_or_fn) else notes_or_fn
                self.chord(inst, notes, bar, step, length, vel * _VELOCITY[ch], gain, **kw)

    # -- the mix ------------------------------------------------------------------------------
    def master(self, reverb: float = 0.15, room_s: float = 1.2, drive: float = 0.0,
               peak: float = 0.9) -> np.ndarray:
        """Reverb (a decaying-noise impulse response), optional bus saturation, peak level."""
        from scipy.signal import fftconvolve

        y = self.buf
        if reverb > 0:
            n_ir = int(room_s * self.sr)
            t = np.arange(n_ir) / self.sr
            ir = self.rng.standard_normal(n_ir) * np.exp(-6.9 * t / room_s)
            ir = _lowpass(ir, 5000, self.sr)
            ir[: int(0.01 * self.sr)] = 0  # pre-delay
            ir /= np.sqrt(np.sum(ir ** 2))
            y = y + reverb * fftconvolve(y, ir)[: len(y)]
        y = y[: self.n]
        y = _highpass(y, 25, self.sr)  # no DC or sub-sonic rumble
        if drive:
            y = np.tanh(drive * y / (np.abs(y).max() + 1e-9)) / np.tanh(drive)
        return (y / (np.abs(y).max() + 1e-9) * peak).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Melodies
# ---------------------------------------------------------------------------------------------

def _nearest(pitches, target):
    pitches = np.asarray(pitches)
    return int(pitches[np.argmin(np.abs(pitches - target))])


def motif(rng, scale, chord_pcs_of_bar, bars: int, low: int, high: int, density: float = 0.5,
          steps: int = 16):
    """A short melody: ``[(bar, step, length, midi), ...]`` over ``bars`` bars.

    Strong beats land on chord tones, the rest move by scale steps with an occasional leap:
    simple rules that already sound like a tune. Repeat it to make a hook.
    """
    notes_in_scale = [m for m in range(low, high + 1) if (m % 12) in scale]
    events = []
    current = _nearest(notes_in_scale, (low + high) // 2)
    for bar in range(bars):
        onsets = [s for s in range(0, steps, 2) if s == 0 or rng.random() < density]
        if rng.random() < density / 2:
            onsets += [s + 1 for s in onsets if s + 1 < steps and rng.random() < 0.3]
        onsets = sorted(set(onsets))
        chord_pcs = chord_pcs_of_bar(bar)
        for i, s in enumerate(onsets):
            nxt = onsets[i + 1] if i + 1 < len(onsets) else steps
            if s % 8 == 0:  # strong beat: a chord tone near where we are
                cands = [m for m in notes_in_scale if (m % 12) in chord_pcs] or notes_in_scale
                current = _nearest(cands, current + rng.integers(-2, 3))
            else:
                move = rng.choice([-2, -1, -1, 1, 1, 2, 3, -3])
                idx = notes_in_scale.index(current) if current in notes_in_scale else 0
                idx = int(np.clip(idx + move, 0, len(notes_in_scale) - 1))
                current = notes_in_scale[idx]
            events.append((bar, s, nxt - s, current))
    return events


def _pcs(tonic, symbol):
    root, iv = parse_chord(symbol)
    return {(tonic + root + i) % 12 for i in iv}


# ---------------------------------------------------------------------------------------------
# The ten genres
# ---------------------------------------------------------------------------------------------
# Each function composes one excerpt into `song` given a random generator and a tonic (MIDI).


def _blues(song: Song, rng, tonic):
    prog = ["I7", "IV7" if rng.random() < 0.5 else "I7", "I7", "I7", "IV7", "IV7", "I7", "I7",
            "V7", "IV7", "I7", "V7"]  # the 12-bar blues (with or without the quick change)
    boogie = [0, 4, 7, 9, 10, 9, 7, 4]  # root, 3rd, 5th, 6th, b7, 6th, 5th, 3rd in shuffled 8ths
    lead_bars = set(rng.choice(12, size=6, replace=False).tolist())
    lick_scale = {(tonic + i) % 12 for i in BLUES}
    for bar in song.bars:
        sym = prog[bar % 12]
        song.drums(bar, {"kick": "x.......x.......", "snare": "....x.......x...",
                         "hat": "x.xox.xox.xox.xo" if rng.random() < 0.5 else "x.x.x.x.x.x.x.x."},
                   {"kick": 0.8, "snare": 0.55, "hat": 0.4})
        r = chord_root(tonic, sym, 36)
        for i, iv in enumerate(boogie):
            song.note("bass", r + iv, bar, 2 * i, 2, vel=0.8 if i % 2 == 0 else 0.6, gain=0.6)
        v = voice(tonic, sym, 55)
        song.rhythm("piano", v, bar, "..x...x...x...x." if rng.random() < 0.6 else "x.....x.x.....x.",
                    length=1.5, vel=0.7, gain=0.35)
        if bar % 12 in lead_bars:  # call and response on the lead guitar
            for b, s, ln, m in motif(rng, lick_scale, lambda _: _pcs(tonic, sym), 1, tonic + 12,
                                     tonic + 27, density=0.6):
                song.note("twang", m, bar + b, s, ln, vel=0.8, gain=0.4)
    return song.master(reverb=0.18)


def _classical(song: Song, rng, tonic):
    minor = rng.random() < 0.4
    prog = (["i", "iv", "V", "i"], ["i", "bVI", "iv", "V"])[rng.integers(2)] if minor else \
        (["I", "IV", "V", "I"], ["I", "vi", "IV", "V"], ["I", "ii", "V", "I"])[rng.integers(3)]
    scale = {(tonic + i) % 12 for i in (MINOR if minor else MAJOR)}
    if minor:
        scale.add((tonic + 11) % 12)  # harmonic minor: the raised leading tone
    tune = motif(rng, scale, lambda b: _pcs(tonic, prog[b % len(prog)]), 2, tonic + 12,
                 tonic + 26, density=0.35)
    melody_inst = "strings" if rng.random() < 0.5 else "piano"
    pattern = rng.integers(3)
    for bar in song.bars:
        sym = prog[bar % len(prog)]
        phrase_pos = (bar % 4) / 3.0
        dyn = 0.5 + 0.35 * np.sin(np.pi * phrase_pos)  # swell toward the middle of a phrase
        v = voice(tonic, sym, 48)
        bass = chord_root(tonic, sym, 36)
        if pattern == 0:  # Alberti bass: low, high, middle, high
            order = [v[0], v[2], v[1], v[2]] * 4
            for i, m in enumerate(order):
                song.note("piano", m, bar, i, 1.2, vel=dyn * 0.7, gain=0.3, humanize=8)
        elif pattern == 1:  # rising and falling arpeggio over two octaves
            arp = v + [m + 12 for m in v] + [v[0] + 24]
            arp = arp + arp[-2:0:-1]
            for i in range(16):
                song.note("piano", arp[i % len(arp)], bar, i, 2.0, vel=dyn * 0.65, gain=0.28, humanize=8)
        else:  # sustained strings chords
            song.chord("strings", v, bar, 0, 16, vel=dyn * 0.6, gain=0.35, ring=0.3)
        song.note("strings" if pattern != 1 else "piano", bass, bar, 0, 16 if pattern != 1 else 8,
                  vel=dyn * 0.6, gain=0.3, ring=0.3)
        for b, s, ln, m in tune:
            if b == bar % 2:
                song.note(melody_inst, m, bar, s, ln, vel=min(1.0, dyn + 0.15), gain=0.45,
                          ring=0.25, humanize=10)
    return song.master(reverb=0.4, room_s=2.2)


def _country(song: Song, rng, tonic):
    prog = (["I", "I", "IV", "IV", "V", "V", "I", "I"], ["I", "IV", "I", "V"])[rng.integers(2)]
    penta = {(tonic + i) % 12 for i in MAJOR_PENTA}
    hook = motif(rng, penta, lambda b: _pcs(tonic, prog[b % len(prog)]), 2, tonic + 12,
                 tonic + 24, density=0.45)
    lead = "fiddle" if rng.random() < 0.5 else "twang"
    for bar in song.bars:
        sym = prog[bar % len(prog)]
        song.drums(bar, {"kick": "x.......x.......", "brush": "o.o.X.o.o.o.X.o.",
                         "snare": "....o.......o..."}, {"kick": 0.7, "brush": 0.35, "snare": 0.25})
        r = chord_root(tonic, sym, 40)
        song.note("bass", r, bar, 0, 4, vel=0.85, gain=0.55)       # boom ...
        song.note("bass", r + 7, bar, 8, 4, vel=0.75, gain=0.55)   # ... chicka: root and fifth
        v = voice(tonic, sym, 52) + [voice(tonic, sym, 52)[0] + 12]
        song.rhythm("pluck", v, bar, "....x.......x...", length=3, vel=0.7, gain=0.4, strum_ms=12)
        for b, s, ln, m in hook:
            if b == bar % 2 and (bar // 2) % 2 == 1:  # the hook every other two bars
                song.note(lead, m, bar, s, ln, vel=0.8, gain=0.35)
        if (bar // 2) % 2 == 0:  # chicken-pickin' fills in between
            for s in range(0, 16, 2):
                if rng.random() < 0.5:
                    m = tonic + 12 + int(rng.choice(MAJOR_PENTA))
                    song.note("twang", m, bar, s, 1, vel=0.7, gain=0.22)
    return song.master(reverb=0.15)


def _disco(song: Song, rng, tonic):
    prog = (["i7", "iv7"], ["ii7", "V7"], ["i7", "bVII", "bVI", "bVII"])[rng.integers(3)]
    guitar = "..x.x..x..x.x..x" if rng.random() < 0.5 else ".x.x.x.x.x.x.x.x"
    for bar in song.bars:
        sym = prog[bar % len(prog)]
        song.drums(bar, {"kick": "x...x...x...x...", "clap": "....x.......x...",
                         "hat": "xx.xxx.xxx.xxx.x", "hat_open": "..x...x...x...x."},
                   {"kick": 0.9, "clap": 0.45, "hat": 0.4, "hat_open": 0.45})
        r = chord_root(tonic, sym, 36)
        for i in range(8):  # octave bass: low, high, low, high ...
            song.note("synth_bass", r + 12 * (i % 2), bar, 2 * i, 1.6, vel=0.8, gain=0.5)
        v = voice(tonic, sym, 60)
        song.chord("strings", v, bar, 0, 16, vel=0.5, gain=0.22, ring=0.2)
        song.rhythm("twang", v[:3], bar, guitar, length=0.7, vel=0.6, gain=0.2)
    return song.master(reverb=0.12)


def _hiphop(song: Song, rng, tonic):
    prog = (["i7", "i7", "bVImaj7", "bVImaj7"], ["i7", "iv7"], ["i7", "bVII", "bVImaj7", "V7"])[rng.integers(3)]
    kicks = ("x......x.x......", "x.....x...x.....", "x..x......x..x..")
    kick = kicks[rng.integers(len(kicks))]
    hat = "x.x.x.x.x.x.x.x." if rng.random() < 0.5 else "xoxoxoxoxoxoxoxo"
    for bar in song.bars:
        sym = prog[bar % len(prog)]
        song.drums(bar, {"kick": kick, "snare": "....X.......X...", "hat": hat},
                   {"kick": 1.0, "snare": 0.7, "hat": 0.5}, humanize=6)
        r = chord_root(tonic, sym, 33)
        for s, ch in enumerate(kick):  # the 808 follows the kick
            if ch != ".":
                song.note("sub", r, bar, s, 3, vel=0.8, gain=0.45)
        v = voice(tonic, sym, 55)
        song.chord("epiano", v, bar, 0, 8, vel=0.55, gain=0.3, ring=0.3)
        song.chord("epiano", v, bar, 8 + rng.integers(0, 3), 6, vel=0.45, gain=0.25, ring=0.3)
    y = song.master(reverb=0.1)
    # vinyl crackle: a faint hiss with sparse clicks
    crackle = 0.004 * song.rng.standard_normal(len(y))
    clicks = song.rng.random(len(y)) < 8.0 / song.sr
    crackle[clicks] += song.rng.uniform(-0.15, 0.15, clicks.sum())
    y = y + _lowpass(crackle, 6000, song.sr).astype(np.float32)
    return (y / np.abs(y).max() * 0.9).astype(np.float32)


def _jazz(song: Song, rng, tonic):
    prog = (["ii7", "V7", "Imaj7", "Imaj7"], ["Imaj7", "vi7", "ii7", "V7"],
            ["Imaj7", "VI7", "ii7", "V7", "iii7", "VI7", "ii7", "V7"])[rng.integers(3)]
    comp_rhythms = ("...x.....x......", "x.....x.........", "......x.....x...", "..x.......x..x..")
    horn = "sax" if rng.random() < 0.6 else None
    scale = {(tonic + i) % 12 for i in MAJOR}
    line = motif(rng, scale, lambda b: _pcs(tonic, prog[b % len(prog)]), 2, tonic + 10,
                 tonic + 24, density=0.7)
    for bar in song.bars:
        sym = prog[bar % len(prog)]
        nxt = prog[(bar + 1) % len(prog)]
        comp = "".join("o" if (c == "." and rng.random() < 0.08) else "." for c in "." * 16)
        song.drums(bar, {"ride": "x...x.x.x...x.x.", "hat": "....x.......x...", "kick": "o...o...o...o...",
                         "snare": comp}, {"ride": 0.2, "hat": 0.25, "kick": 0.25, "snare": 0.3})
        # walking bass: root on 1, chord tones in between, an approach note on 4
        r = chord_root(tonic, sym, 36)
        target = chord_root(tonic, nxt, 36)
        tones = [r + i for i in parse_chord(sym)[1]]
        walk = [r, int(rng.choice(tones[1:] + [r + 12])), int(rng.choice(tones[1:])),
                target + int(rng.choice([-1, 1, 7 - 12]))]
        for i, m in enumerate(walk):
            song.note("upright", m, bar, 4 * i, 3.6, vel=0.8, gain=0.6)
        # piano comping with rootless voicings (3rd, 7th, 9th)
        root, iv = parse_chord(sym)
        shell = [tonic + root + iv[1], tonic + root + iv[-1], tonic + root + 14]
        shell = [m + 12 * int(np.ceil((52 - m) / 12)) if m < 52 else m for m in shell]
        song.rhythm("piano", shell, bar, comp_rhythms[rng.integers(len(comp_rhythms))], length=1.2,
                    vel=0.7, gain=0.35)
        if horn and (bar // 2) % 2 == 1:
            for b, s, ln, m in line:
                if b == bar % 2:
                    song.note(horn, m, bar, s, ln * 0.9, vel=0.75, gain=0.3)
    return song.master(reverb=0.22, room_s=1.5)


def _metal(song: Song, rng, tonic):
    tonic = 38 + rng.integers(0, 5)  # low D to F#: drop tunings
    prog = (["i5", "i5", "bII5", "i5"], ["i5", "bVI5", "bVII5", "i5"], ["i5", "bIII5", "bII5", "i5"])[rng.integers(3)]
    chug = ("XxxxXxxxXxXxXxxx", "XxxXxxXxXxxXxxXx", "X.xxX.xxX.xxXxXx")[rng.integers(3)]
    double_kick = song.bpm < 175
    for bar in song.bars:
        sym = prog[bar % len(prog)]
        pats = {"kick_metal": "xxxxxxxxxxxxxxxx" if double_kick else "x.x.x.x.x.x.x.x.",
                "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."}
        if bar % 2 == 0:
            pats["crash"] = "X.......x......."
        song.drums(bar, pats, {"kick_metal": 0.6, "snare": 0.8, "hat": 0.45, "crash": 0.6}, humanize=2)
        v = voice(tonic, sym, tonic)
        for s, ch in enumerate(chug):
            if ch == ".":
                continue
            is_accent = ch == "X"
            song.note("power", v, bar, s, 1 if not is_accent else 2, vel=0.9 if is_accent else 0.7,
                      gain=0.45, humanize=2, drive=14.0, mute=not is_accent)
            song.note("bass", v[0] - 12, bar, s, 1, vel=0.8, gain=0.35, humanize=2)
    return song.master(reverb=0.08, drive=2.0)


def _pop(song: Song, rng, tonic):
    prog = (["I", "V", "vi", "IV"], ["vi", "IV", "I", "V"], ["I", "vi", "IV", "V"])[rng.integers(3)]
    penta = {(tonic + i) % 12 for i in MAJOR_PENTA}
    hook = motif(rng, penta, lambda b: _pcs(tonic, prog[b % len(prog)]), 2, tonic + 12,
                 tonic + 24, density=0.55)
    keys = "piano" if rng.random() < 0.5 else "epiano"
    for bar in song.bars:
        sym = prog[bar % len(prog)]
        song.drums(bar, {"kick": "x.....x.x.......", "clap": "....x.......x...",
                         "hat": "x.x.x.x.x.x.x.x."}, {"kick": 0.9, "clap": 0.5, "hat": 0.45})
        r = chord_root(tonic, sym, 36)
        for i in range(8):
            song.note("bass", r, bar, 2 * i, 1.8, vel=0.8, gain=0.45)
        v = voice(tonic, sym, 60)
        song.rhythm(keys, v, bar, "x...x...x...x...", length=3.5, vel=0.6, gain=0.3)
        for b, s, ln, m in hook:
            if b == bar % 2:
                song.note("lead", m, bar, s, ln, vel=0.8, gain=0.35)
    return song.master(reverb=0.16)


def _reggae(song: Song, rng, tonic):
    prog = (["I", "IV"], ["i", "iv"], ["I", "V", "vi", "IV"], ["i", "bVII"])[rng.integers(4)]
    bass_steps = ((2, 4, 6, 10, 12), (3, 6, 8, 11, 14), (2, 6, 8, 10, 14))[rng.integers(3)]
    for bar in song.bars:
        sym = prog[bar % len(prog)]
        # the one drop: kick and cross-stick together on beat three, nothing on one
        song.drums(bar, {"kick": "........x.......", "rim": "........x.......",
                         "hat": "x.x.x.x.x.x.x.x."}, {"kick": 0.9, "rim": 0.5, "hat": 0.35})
        r = chord_root(tonic, sym, 36)
        root, iv = parse_chord(sym)
        offsets = [0, iv[2], 12, iv[1], iv[2]]
        for s, off in zip(bass_steps, offsets):  # bass rests on beat one too
            song.note("bass", r + off, bar, s, 1.8, vel=0.85, gain=0.65)
        v = voice(tonic, sym, 60)
        for s in (4, 12):  # the skank: short, choked chords on the off-beats
            song.chord("twang", v, bar, s, 0.7, vel=0.7, gain=0.3, strum_ms=5)
            song.chord("twang", v, bar, s + 3, 0.7, vel=0.4, gain=0.12)  # dub echo, a dotted 8th later
        song.rhythm("organ", v, bar, "..x...x...x...x.", length=1.0, vel=0.5, gain=0.15)  # bubble
    return song.master(reverb=0.2)


def _rock(song: Song, rng, tonic):
    prog = (["I", "bVII", "IV", "I"], ["I", "IV", "V", "IV"], ["vi", "IV", "I", "V"], ["I", "V", "IV", "IV"])[rng.integers(4)]
    tonic = 40 + (tonic - 40) % 12
    for bar in song.bars:
        sym = prog[bar % len(prog)]
        pats = {"kick": "x.....x.x.x.....", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.x."}
        if bar % 4 == 0:
            pats["crash"] = "x..............."
        song.drums(bar, pats, {"kick": 0.85, "snare": 0.75, "hat": 0.45, "crash": 0.45})
        root, _ = parse_chord(sym)
        r = tonic + root
        while r < 40:
            r += 12
        v = [r, r + 7, r + 12]
        for i in range(8):
            song.note("power", v, bar, 2 * i, 2, vel=0.8 if i % 4 == 0 else 0.65, gain=0.4,
                      drive=6.0, mute=False)
            song.note("bass", r - 12, bar, 2 * i, 1.8, vel=0.8, gain=0.45)
    return song.master(reverb=0.12, drive=1.2)


# tempo range (bpm), swing, 16th swing, beats per bar
STYLES = {
    "blues": (_blues, (70, 110), (0.64, 0.68), 0.5),
    "classical": (_classical, (60, 100), (0.5, 0.5), 0.5),
    "country": (_country, (100, 140), (0.5, 0.56), 0.5),
    "disco": (_disco, (112, 128), (0.5, 0.5), 0.5),
    "hiphop": (_hiphop, (82, 96), (0.5, 0.5), 0.58),
    "jazz": (_jazz, (120, 200), (0.6, 0.67), 0.5),
    "metal": (_metal, (140, 200), (0.5, 0.5), 0.5),
    "pop": (_pop, (96, 124), (0.5, 0.5), 0.5),
    "reggae": (_reggae, (66, 84), (0.55, 0.6), 0.5),
    "rock": (_rock, (100, 140), (0.5, 0.5), 0.5),
}


# recordings differ in level: classical and jazz are mastered much quieter than pop or metal
PEAK_LEVEL = {"classical": (0.25, 0.6), "jazz": (0.3, 0.7)}


def compose_clip(genre: str, seconds: float, seed: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """One mini-GTZAN clip of ``genre``: float32 audio of about ``seconds`` seconds.

    The key, tempo, swing, patterns and where in the song the excerpt starts all come from
    ``seed``. The length is ``seconds`` plus up to 0.4 % (real GTZAN clips vary by up to 2676
    samples at 30 s).

    Example
    -------
    >>> y = compose_clip("reggae", seconds=2.0, seed=1)
    >>> y.dtype, 44100 <= len(y) <= 44100 + 177
    (dtype('float32'), True)
    """
    if genre not in STYLES:
        raise ValueError(f"unknown genre {genre!r}; choose from {', '.join(GENRES)}")
    fn, (lo, hi), (s_lo, s_hi), swing16 = STYLES[genre]
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr)) + int(rng.integers(4, max(5, int(0.004 * seconds * sr))))
    bpm = float(rng.uniform(lo, hi))
    song = Song(rng, n, sr, bpm, swing=float(rng.uniform(s_lo, s_hi)), swing16=swing16,
                start_bars=float(rng.integers(0, 8) + rng.choice([0.0, 0.5]) + rng.uniform(0, 0.1)))
    tonic = int(rng.integers(45, 57))  # A2 .. G#3
    y = fn(song, rng, tonic)
    peak = rng.uniform(*PEAK_LEVEL.get(genre, (0.6, 0.95)))
    return (y * (peak / (np.abs(y).max() + 1e-9))).astype(np.float32)


def _clip_seed(seed: int, genre: str, index: int) -> int:
    # independent of the order clips are made in, stable across Python runs
    return zlib.crc32(f"mini-gtzan/{seed}/{genre}/{index}".encode())


def make_mini_gtzan(root, size: str = "default", seed: int = 0, verbose: bool = True) -> Path:
    """Write mini-GTZAN under ``root``: ``root/genres/<genre>/<genre>.000NN.wav``.

    Parameters
    ----------
    root : str or Path
        Folder to write into (created). The result is read by :class:`coursekit.data.gtzan.GTZAN`
        and checked by :func:`coursekit.data.gtzan.check_gtzan`, like the real dataset.
    size : {'smoke', 'default', 'full'}
        smoke: 2 clips of 3 s per genre; default: 10 clips of 10 s; full: 30 clips of 30 s.
    seed : int
        Same seed, same bytes.

    Returns
    -------
    Path
        ``root`` (the folder holding ``genres/``).

    The clips are written to a temporary folder inside ``root`` and renamed into place at the
    end, so a reader never sees a half-written dataset. A ``genres/`` folder made earlier with
    the same size and seed is kept as it is (delete it to make it again); one made with another
    size or seed is replaced; one not made by coursekit (the real GTZAN) is never touched.
    """
    from .. import audio
    from .download import already_made, move_into_place, refuse_foreign

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    spec = SIZES[size]
    root = Path(root).expanduser()
    marker = {"generator": "coursekit mini-gtzan", "size": size, "seed": seed}
    refuse_foreign(root / "genres")  # never overwrite a real dataset
    if already_made(root / "genres", marker):
        if verbose:
            print(f"{root / 'genres'} already holds mini-GTZAN ({size}, seed {seed}); "
                  "delete it to make it again")
        return root
    root.mkdir(parents=True, exist_ok=True)
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=".mini-gtzan-", dir=root))
    try:
        it = [(g, i) for g in GENRES for i in range(spec["clips"])]
        try:
            from tqdm.auto import tqdm

            it = tqdm(it, desc=f"mini-GTZAN ({size})", disable=not verbose, leave=False)
        except ImportError:  # pragma: no cover
            pass
        for genre, i in it:
            y = compose_clip(genre, spec["seconds"], _clip_seed(seed, genre, i))
            audio.save(tmp / "genres" / genre / f"{genre}.{i:05d}.wav", y, SAMPLE_RATE)
        move_into_place(tmp / "genres", root / "genres", marker=marker)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return root
