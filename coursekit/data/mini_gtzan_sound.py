"""The sounds of mini-GTZAN: melodic instruments (additive, FM and subtractive synthesis), a
distorted power chord, drums from noise and sine sweeps, and :class:`Song`, a mixing buffer with
a musical clock that the genres of :mod:`coursekit.data.mini_gtzan_genres` play into. A song made
with ``sound="sampled"`` plays the SoundFont's instruments instead
(:mod:`coursekit.data.mini_gtzan_sampled`). Importable from :mod:`coursekit.data.mini_gtzan` too.
"""

from __future__ import annotations

import numpy as np

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

    ``sound`` is ``"additive"`` (the synthesis of this module) or ``"sampled"`` (the SoundFont's
    instruments, drums from kit ``kit``, see :mod:`coursekit.data.mini_gtzan_sampled`). Both
    draw the same random numbers, so one seed composes the same song in either sound.
    """

    def __init__(self, rng, n: int, sr: int, bpm: float, beats_per_bar: int = 4,
                 swing: float = 0.5, swing16: float = 0.5, start_bars: float = 0.0,
                 sound: str = "additive", kit: int = 0):
        if sound not in ("additive", "sampled"):
            raise ValueError(f"unknown sound {sound!r}; choose additive or sampled")
        self.sound, self.kit = sound, kit
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
            if name not in self._kit:  # made in either sound: its random draws are the song's
                self._kit[name] = drum(name, self.sr, self.rng)
            for step, ch in enumerate(pattern):
                if ch in _VELOCITY:
                    vel = _VELOCITY[ch] * self.rng.uniform(0.85, 1.0)
                    g = (gains or {}).get(name, (gains or {}).get(kit, 1.0))
                    hit = self._kit[name]
                    if self.sound == "sampled":
                        from .mini_gtzan_sampled import sampled_drum

                        hit = sampled_drum(name, vel, self.sr, self.kit)
                    self.place(hit, self.time(bar, step) + self.jitter(humanize), g * vel)

    # -- pitched notes ------------------------------------------------------------------------
    def note(self, inst: str, midi, bar: float, step: float, steps: float, vel: float = 0.8,
             gain: float = 1.0, ring: float = 0.1, humanize: float = 6.0, **kw) -> None:
        """Play ``inst`` at ``midi`` (a number, or a list for power chords) for ``steps`` 16ths."""
        seconds = steps / 4 * self.beat_s + ring
        n = max(64, int(round(seconds * self.sr / 64)) * 64)  # rounded: more cache hits
        v = round(float(np.clip(vel, 0.05, 1.0)), 1)
        key = (inst, tuple(midi) if isinstance(midi, (list, tuple)) else midi, n, v, ring,
               tuple(sorted(kw.items())))
        if key not in self._cache and self.sound == "sampled":
            from .mini_gtzan_sampled import sampled_note, sampled_power_chord

            held = max(n / self.sr - ring, 0.01)
            self._cache[key] = (sampled_power_chord(midi, held, ring, v, self.sr, **kw) if inst == "power"
                                else sampled_note(inst, midi, held, ring, v, self.sr))
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
