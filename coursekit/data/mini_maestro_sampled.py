"""mini-MAESTRO's sampled piano: the General MIDI SoundFont's piano, with its pedals.

:class:`SampledPiano` plays a performance (notes with key-up times, sustain and soft pedal
events) with the piano of the SoundFont ``pretty_midi`` ships (:mod:`coursekit.data.soundfont`,
bank 0, program 0, "Piano 1"):

- **sustain pedal**: a note's damper falls at key-up unless the pedal is down then; a pedal
  holds it until the pedal comes up or the key is struck again (:func:`apply_sustain`). The
  SoundFont note is held until the damper falls and then released: its volume envelope's
  release (about 1 s to −100 dB for damped strings; the SoundFont gives the top keys, which
  have no dampers, a 4.5 s release);
- **soft pedal** (una corda): a note struck while it is down is played at 80 % of its MIDI
  velocity (:data:`SOFT_PEDAL_VELOCITY`), which makes it both quieter and darker (the
  SoundFont lowers the filter's cut-off for soft notes);
- **stereo**: each note is panned by pitch as the additive piano does (bass left, treble
  right, equal power), then the same concert-hall reverb is added.

The player renders at the recordings' own rate (22.05 kHz, :data:`RENDER_RATE`) and the mix is
resampled to 44.1 kHz. Each key is rendered once at a few velocities (:data:`ANCHORS`), long
enough for the longest note, and cached: a note at velocity ``v`` mixes the two nearest
renders (their filter cut-offs bracket ``v``'s), is scaled by the SoundFont's velocity gain
``(v / 127) ** 2`` (``40 log10(127 / v)`` dB), cut to its length and given the release
envelope. That is the SoundFont's note up to where the release is applied (after the
filter instead of before it), at a small fraction of the cost of one render per note.

Example
-------
>>> import numpy as np
>>> from coursekit.data.mini_maestro_sampled import SampledPiano
>>> piano = SampledPiano()                                               # doctest: +SKIP
>>> notes = np.array([[0.1, 0.6, 60, 80], [0.1, 0.6, 64, 70]])
>>> y = piano.render(notes, sustain=np.array([[0.0, 127], [1.5, 0]]))   # doctest: +SKIP
>>> y.shape                                                              # doctest: +SKIP
(2, 132301)
"""

from __future__ import annotations

import numpy as np

from .maestro import apply_sustain, pedal_intervals
from .mini_maestro import SAMPLE_RATE, PianoSynth

RENDER_RATE = 22050          # the SoundFont's piano recordings are 22.05 kHz
PROGRAM, BANK = 0, 0         # General MIDI "Acoustic Grand Piano"
ANCHORS = (8, 38, 68, 98, 127)  # velocities each key is rendered at
SOFT_PEDAL_VELOCITY = 0.8    # una corda: the velocity fed to the player, times this
RELEASE_DB = 60.0            # a released note is cut once its release is this far down
_RELEASE_VOL_ENV = 38        # the SoundFont 2 generator "releaseVolEnv" (timecents)
_CHUNK = 2.0                 # cached renders grow in steps of this many seconds


class SampledPiano:
    """The SoundFont's piano playing MIDI notes with sustain and soft pedals.

    Parameters
    ----------
    sr : int
        Output sample rate (44.1 kHz, as MAESTRO's recordings).
    soundfont : SoundFont, optional
        Default: :meth:`SoundFont.general_midi`.

    Example
    -------
    >>> piano = SampledPiano()                                      # doctest: +SKIP
    >>> y = piano.note(60, 90, held=0.5)  # mono, RENDER_RATE       # doctest: +SKIP
    """

    def __init__(self, sr: int = SAMPLE_RATE, soundfont=None):
        from .soundfont import SoundFont

        self.sr = sr
        self.sf = soundfont if soundfont is not None else SoundFont.general_midi()
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def release_seconds(self, pitch: int, velocity: int) -> float:
        """The volume envelope's release of the key's zones: seconds to fall 100 dB."""
        zones = self.sf.zones(PROGRAM, int(pitch), int(velocity), BANK)
        tc = [z.get(_RELEASE_VOL_ENV) for z in zones] or [-12000]
        return max(0.006, max(0.0 if t <= -12000 else 2.0 ** (t / 1200.0) for t in tc))

    def _held(self, pitch: int, anchor: int, n: int) -> np.ndarray:
        """Key ``pitch`` at velocity ``anchor``, held for at least ``n`` samples, velocity gain
        divided out (cached; rendered again, longer, when a longer note needs it)."""
        y = self._cache.get((pitch, anchor))
        if y is None or len(y) < n:
            seconds = _CHUNK * np.ceil((n / RENDER_RATE + 0.05) / _CHUNK)
            y = self.sf.note(PROGRAM, pitch, anchor, float(seconds), release=0.0, sr=RENDER_RATE, bank=BANK)
            y = y / np.float32((anchor / 127.0) ** 2)
            self._cache[(pitch, anchor)] = y
        return y

    def note(self, pitch: int, velocity: float, held: float) -> np.ndarray:
        """One key: struck at ``velocity``, the damper falling after ``held`` seconds.

        Returns mono float32 at :data:`RENDER_RATE`: the held part, then the release until it is
        :data:`RELEASE_DB` down.
        """
        pitch, velocity = int(pitch), float(np.clip(velocity, 1, 127))
        release = self.release_seconds(pitch, int(round(velocity)))
        n_held = int(round(max(held, 0.0) * RENDER_RATE))
        n = n_held + int(round(release * RELEASE_DB / 100.0 * RENDER_RATE))
        j = int(np.clip(np.searchsorted(ANCHORS, velocity) - 1, 0, len(ANCHORS) - 2))
        lo, hi = ANCHORS[j], ANCHORS[j + 1]
        w = float(np.clip((velocity - lo) / (hi - lo), 0.0, 1.0))
        y = (1 - w) * self._held(pitch, lo, n)[:n] + w * self._held(pitch, hi, n)[:n]
        y *= np.float32((velocity / 127.0) ** 2)
        # the release: linear in dB from the level at key-up, 100 dB over `release` seconds
        y[n_held:] *= (10.0 ** (-5.0 * np.arange(n - n_held) / (release * RENDER_RATE))).astype(np.float32)
        return y

    def render(self, notes: np.ndarray, sustain: np.ndarray, soft: np.ndarray | None = None,
               seconds: float | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
        """Stereo audio ``(2, n)`` at ``sr`` of ``notes`` (``(n, 4)``: start, end at key-up,
        pitch, velocity) and pedal events (``(m, 2)``: time, value), as
        :meth:`PianoSynth.render <coursekit.data.mini_maestro.PianoSynth.render>`."""
        from scipy.signal import resample_poly

        notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
        rng = rng or np.random.default_rng(0)
        pedal = pedal_intervals(sustain, end=float(notes[:, 1].max()) + 1.0)
        sounding = apply_sustain(notes, pedal)  # when the damper really falls
        soft_iv = pedal_intervals(soft if soft is not None else np.zeros((0, 2)))
        total = seconds if seconds is not None else float(sounding[:, 1].max()) + 1.5
        n_out = int(total * self.sr) + 1
        n_render = int(np.ceil(n_out * RENDER_RATE / self.sr)) + 1
        mix = np.zeros((2, n_render), dtype=np.float64)
        for start, end, pitch, vel in sounding:
            i0 = int(round(start * RENDER_RATE))
            if i0 >= n_render:
                continue
            if len(soft_iv) and np.any((soft_iv[:, 0] <= start) & (start < soft_iv[:, 1])):
                vel = vel * SOFT_PEDAL_VELOCITY
            y = self.note(int(pitch), vel, end - start)[: n_render - i0]
            pan = np.clip((pitch - 60) / 60.0, -0.6, 0.6) * 0.5 + 0.5  # bass left, treble right
            mix[0, i0:i0 + len(y)] += np.cos(pan * np.pi / 2) * y
            mix[1, i0:i0 + len(y)] += np.sin(pan * np.pi / 2) * y
        out = resample_poly(mix, self.sr, RENDER_RATE, axis=1)[:, :n_out]
        if out.shape[1] < n_out:
            out = np.pad(out, ((0, 0), (0, n_out - out.shape[1])))
        return PianoSynth(self.sr)._room(out, rng)
