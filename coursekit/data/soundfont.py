"""A small SoundFont 2 sample player: how sampled instruments (and NSynth) make a note.

A SoundFont (``.sf2``) holds recordings of real instruments, a few per instrument, and the rules
for playing them: which recording (*sample*) covers which keys and velocities, the key it was
recorded at (its *root key*) and its tuning, the loop that lets a short recording be held as
long as a key is, and the volume envelope. Playing key ``k`` means reading the sample at
``2 ** ((k - root) / 12)`` times its own speed. NSynth was made this way, from commercial sample
libraries; the course's offline data is made this way from the General MIDI SoundFont that
``pretty_midi`` ships (``TimGM6mb.sf2``, 6 MB, 128 instruments and a drum kit).

What this player follows of the SoundFont 2.04 specification:

- presets → preset zones → instruments → instrument zones → samples, with global zones, key
  and velocity ranges, and preset generators added to the instrument's;
- sample offsets and loop points, loop modes 0 (none), 1 (loop) and 3 (loop while held, then
  play on to the end), root key (or ``overridingRootKey``), ``coarseTune``, ``fineTune``,
  ``scaleTuning`` and the sample's ``pitchCorrection``;
- the volume envelope (delay, attack, hold, decay, sustain, release, and key-number scaling of
  hold and decay), ``initialAttenuation``, and the default velocity-to-attenuation modulator
  (``40 log10(127 / velocity)`` dB);
- a static low-pass filter from ``initialFilterFc``/``initialFilterQ`` and the default
  velocity-to-cutoff modulator (−2400 cents at velocity 0), so soft notes are darker.

What it leaves out: the modulation envelope and LFOs (vibrato, filter sweeps), non-default
modulators, reverb and chorus sends, pan (the output is mono) and 24-bit samples. Interpolation
is linear; each recording is first low-passed below the output's Nyquist frequency divided by
how much faster it is read, so that a note played high folds no partial back down.

Example
-------
>>> from coursekit.data.soundfont import SoundFont
>>> sf = SoundFont.general_midi()                       # doctest: +SKIP
>>> y = sf.note(program=0, pitch=60, velocity=100, seconds=3.0, release=1.0, sr=16000)  # doctest: +SKIP
>>> y.shape                                             # doctest: +SKIP
(64000,)
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

__all__ = ["SoundFont", "Zone", "general_midi_path", "DRUM_BANK"]

DRUM_BANK = 128          # General MIDI: the percussion kits are bank 128

# generator numbers of the specification (section 8.1.2) that this player reads
_START, _END, _LOOP_START, _LOOP_END, _START_COARSE = 0, 1, 2, 3, 4
_FILTER_FC, _FILTER_Q, _MOD_ENV_TO_FC, _END_COARSE = 8, 9, 11, 12
_MOD_DELAY, _MOD_ATTACK, _MOD_HOLD, _MOD_DECAY, _MOD_SUSTAIN, _MOD_RELEASE, _MOD_KEY_HOLD, _MOD_KEY_DECAY = range(25, 33)
_DELAY, _ATTACK, _HOLD, _DECAY, _SUSTAIN, _RELEASE, _KEY_HOLD, _KEY_DECAY = range(33, 41)
_INSTRUMENT, _KEY_RANGE, _VEL_RANGE, _LOOP_START_COARSE = 41, 43, 44, 45
_ATTENUATION, _LOOP_END_COARSE, _COARSE_TUNE, _FINE_TUNE = 48, 50, 51, 52
_SAMPLE_ID, _SAMPLE_MODES, _SCALE_TUNING, _ROOT_KEY = 53, 54, 56, 58
_RANGES = (_KEY_RANGE, _VEL_RANGE)
_UNSIGNED = (_INSTRUMENT, _SAMPLE_ID, _SAMPLE_MODES)
# generators that only an instrument zone may set (a preset's are ignored, section 8.1.3)
_INSTRUMENT_ONLY = {_START, _END, _LOOP_START, _LOOP_END, _START_COARSE, _END_COARSE,
                    _LOOP_START_COARSE, _LOOP_END_COARSE, _SAMPLE_MODES, 46, 47, 57, _ROOT_KEY}
_DEFAULTS = {_FILTER_FC: 13500, _DELAY: -12000, _ATTACK: -12000, _HOLD: -12000, _DECAY: -12000,
             _RELEASE: -12000, _MOD_DELAY: -12000, _MOD_ATTACK: -12000, _MOD_HOLD: -12000,
             _MOD_DECAY: -12000, _MOD_RELEASE: -12000, _SCALE_TUNING: 100, _ROOT_KEY: -1}
BLOCK = 128              # the filter's cut-off is updated every BLOCK output samples


def general_midi_path() -> Path:
    """The General MIDI SoundFont ``pretty_midi`` ships (``TimGM6mb.sf2``)."""
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


@dataclass(frozen=True)
class Zone:
    """One sample as a preset plays it for one key/velocity range: the merged generators."""

    gens: dict        # generator number -> amount (ranges as (lo, hi))
    sample: int       # index into the sample headers

    def get(self, op: int) -> int:
        return self.gens.get(op, _DEFAULTS.get(op, 0))


def _timecents(tc: float) -> float:
    """Seconds from timecents (``2 ** (tc / 1200)``); −12000 and below mean "instant"."""
    return 0.0 if tc <= -12000 else float(2.0 ** (tc / 1200.0))


def _riff_chunks(b: bytes, start: int, end: int):
    while start + 8 <= end:
        cid, size = b[start:start + 4], struct.unpack_from("<I", b, start + 4)[0]
        yield cid, start + 8, size
        start += 8 + size + (size & 1)


def _zones(bags, gens, first: int, last: int, terminal: int) -> tuple[dict, list[dict]]:
    """The generators of each zone of one preset or instrument: (global zone, other zones)."""
    found = []
    for z in range(first, last):
        g = {}
        for op, amount in gens[bags[z]:bags[z + 1]]:
            g[op] = amount
        found.append(g)
    glob = {}
    if found and terminal not in found[0]:       # a first zone without its terminal is global
        glob = found.pop(0)
    return glob, [g for g in found if terminal in g]


class SoundFont:
    """A parsed SoundFont 2 file: its presets, zones and samples (as float32 in −1..1).

    Parameters
    ----------
    path : str or Path
        A ``.sf2`` file.

    Attributes
    ----------
    presets : dict
        ``(bank, program) -> name``.
    """

    def __init__(self, path):
        path = Path(path)
        b = path.read_bytes()
        if b[:4] != b"RIFF" or b[8:12] != b"sfbk":
            raise ValueError(f"{path} is not a SoundFont 2 file (no RIFF sfbk header)")
        lists = {b[o:o + 4]: (o + 4, o + s) for cid, o, s in _riff_chunks(b, 12, len(b)) if cid == b"LIST"}
        if b"sdta" not in lists or b"pdta" not in lists:
            raise ValueError(f"{path} is not a SoundFont 2 file (no sdta/pdta lists)")
        smpl = next((o, s) for cid, o, s in _riff_chunks(b, *lists[b"sdta"]) if cid == b"smpl")
        self.data = np.frombuffer(b, dtype="<i2", count=smpl[1] // 2, offset=smpl[0]).astype(np.float32) / 32768.0
        pd = {cid: b[o:o + s] for cid, o, s in _riff_chunks(b, *lists[b"pdta"])}

        def records(name, fmt):
            size = struct.calcsize(fmt)
            raw = pd[name]
            return [struct.unpack_from(fmt, raw, i) for i in range(0, len(raw) - size + 1, size)]

        def gen_list(name):
            out = []
            for op, lo, hi in records(name, "<HBB"):
                if op in _RANGES:
                    out.append((op, (lo, hi)))
                elif op in _UNSIGNED:
                    out.append((op, lo | hi << 8))
                else:
                    out.append((op, struct.unpack("<h", bytes((lo, hi)))[0]))
            return out

        phdr = records(b"phdr", "<20sHHHIII")
        pbag = [r[0] for r in records(b"pbag", "<HH")]
        inst = records(b"inst", "<20sH")
        ibag = [r[0] for r in records(b"ibag", "<HH")]
        pgen, igen = gen_list(b"pgen"), gen_list(b"igen")
        # sample headers: name, start, end, loop start, loop end, rate, root key, correction, link, type
        self.samples = records(b"shdr", "<20sIIIIIBbHH")
        self.presets = {}
        self._zones = {}
        instruments = []
        for i in range(len(inst) - 1):                      # the last record is the terminator
            instruments.append(_zones(ibag, igen, inst[i][1], inst[i + 1][1], _SAMPLE_ID))
        for i in range(len(phdr) - 1):
            name, program, bank, bag = phdr[i][:4]
            pglob, pzones = _zones(pbag, pgen, bag, phdr[i + 1][3], _INSTRUMENT)
            merged = []
            for pz in pzones:
                pg = {**pglob, **pz}
                iglob, izones = instruments[pg[_INSTRUMENT]]
                for iz in izones:
                    g = {**iglob, **iz}
                    for op, amount in pg.items():             # preset values add to the instrument's
                        if op in _RANGES:
                            lo = max(g.get(op, (0, 127))[0], amount[0])
                            hi = min(g.get(op, (0, 127))[1], amount[1])
                            g[op] = (lo, hi)
                        elif op not in _INSTRUMENT_ONLY and op != _INSTRUMENT:
                            g[op] = g.get(op, _DEFAULTS.get(op, 0)) + amount
                    klo, khi = g.get(_KEY_RANGE, (0, 127))
                    vlo, vhi = g.get(_VEL_RANGE, (0, 127))
                    if klo <= khi and vlo <= vhi:                # an empty intersection never sounds
                        merged.append(Zone(g, g[_SAMPLE_ID]))
            key = (bank, program)
            if key not in self.presets:
                self.presets[key] = name.split(b"\0")[0].decode("latin-1").strip()
                self._zones[key] = merged

    @classmethod
    def general_midi(cls) -> "SoundFont":
        """The General MIDI SoundFont ``pretty_midi`` ships, parsed once per process."""
        return _general_midi()

    # -----------------------------------------------------------------------------------------
    def zones(self, program: int, pitch: int, velocity: int, bank: int = 0) -> list[Zone]:
        """The zones that sound for one key at one velocity (often one; two for stereo samples)."""
        if (bank, program) not in self._zones:
            raise ValueError(f"no preset bank {bank} program {program} in this SoundFont")
        out = []
        for z in self._zones[(bank, program)]:
            klo, khi = z.gens.get(_KEY_RANGE, (0, 127))
            vlo, vhi = z.gens.get(_VEL_RANGE, (0, 127))
            if klo <= pitch <= khi and vlo <= velocity <= vhi:
                out.append(z)
        return out

    def key_range(self, program: int, bank: int = 0) -> tuple[int, int]:
        """The lowest and highest key any zone of a preset covers."""
        ranges = [z.gens.get(_KEY_RANGE, (0, 127)) for z in self._zones[(bank, program)]]
        return min(r[0] for r in ranges), max(r[1] for r in ranges)

    def note(self, program: int, pitch: int, velocity: int, seconds: float, release: float = 1.0,
             sr: int = 16000, bank: int = 0) -> np.ndarray:
        """Play one note: held ``seconds``, then released; mono float32 at ``sr``.

        Parameters
        ----------
        program, bank : int
            The preset (General MIDI: program 0–127 in bank 0, drum kits in bank 128).
        pitch, velocity : int
            MIDI key and velocity (1–127).
        seconds : float
            How long the key is held.
        release : float
            Seconds of output after the key is let go (the envelope's release sounds in them).
        sr : int
            Output sample rate.

        Returns
        -------
        numpy.ndarray
            ``round((seconds + release) * sr)`` samples. Silence if no zone covers the key.
        """
        n = int(round((seconds + release) * sr))
        y = np.zeros(n, np.float32)
        for z in self.zones(program, pitch, velocity, bank):
            y += self._voice(z, pitch, velocity, seconds, n, sr)
        return y

    def _voice(self, z: Zone, pitch: int, velocity: int, held: float, n: int, sr: int) -> np.ndarray:
        """One zone of one note: read the sample at the note's rate, loop, envelope, filter."""
        _, start, end, lstart, lend, rate, root, correction, _, stype = self.samples[z.sample]
        if stype & 0x8000 or rate <= 0:                  # a ROM sample: no data in the file
            return np.zeros(n, np.float32)
        start += z.get(_START) + 32768 * z.get(_START_COARSE)
        end += z.get(_END) + 32768 * z.get(_END_COARSE)
        lstart += z.get(_LOOP_START) + 32768 * z.get(_LOOP_START_COARSE)
        lend += z.get(_LOOP_END) + 32768 * z.get(_LOOP_END_COARSE)
        end = min(end, len(self.data))
        if end - start < 2:
            return np.zeros(n, np.float32)
        root_key = z.get(_ROOT_KEY) if z.get(_ROOT_KEY) >= 0 else root
        cents = (pitch - root_key) * z.get(_SCALE_TUNING) + 100 * z.get(_COARSE_TUNE) + z.get(_FINE_TUNE) + correction
        shift = 2.0 ** (cents / 1200.0)                  # how much faster the recording is read
        step = shift * rate / sr                          # samples of the recording per output sample
        seg = self._band_limited(z.sample, start, end, rate, min(0.45 * sr / shift, 0.5 * rate))
        pos = np.arange(n, dtype=np.float64) * step
        mode = z.get(_SAMPLE_MODES) & 3
        loop = mode in (1, 3) and start <= lstart < lend <= end and lend - lstart >= 2
        length = end - start
        rel = pos
        if loop:
            ls, le = lstart - start, lend - start
            wrapped = np.where(pos >= ls, ls + np.mod(pos - ls, le - ls), pos)
            if mode == 3 and int(held * sr) < n:          # loop while held, then play on past the loop
                k = max(int(held * sr), 0)
                rel = np.concatenate([wrapped[:k], (wrapped[k] if k else 0.0) + (pos[k:] - pos[k])])
            else:
                rel = wrapped
        valid = rel < length - 1
        i = np.minimum(rel.astype(np.int64), length - 2)
        frac = (rel - i).astype(np.float32)
        y = (seg[i] * (1.0 - frac) + seg[i + 1] * frac) * valid
        y *= self._envelope(z, pitch, velocity, held, n, sr)
        # filter: the zone's cut-off, lowered for soft notes (the default velocity modulator)
        # and opened by the modulation envelope (a piano's strike is brighter than its tail)
        fc_cents = z.get(_FILTER_FC) - 2400.0 * (1.0 - velocity / 127.0)
        sweep = z.get(_MOD_ENV_TO_FC)
        blocks = -(-n // BLOCK)
        if sweep:
            env = self._mod_envelope(z, pitch, held, blocks, sr / BLOCK)
            fc = 8.176 * 2.0 ** ((fc_cents + sweep * env) / 1200.0)
        else:
            fc = np.full(blocks, 8.176 * 2.0 ** (fc_cents / 1200.0))
        if fc.min() < 0.45 * sr:
            q_db = max(z.get(_FILTER_Q), 0) / 10.0
            q = max(0.5, 0.7071 * 10.0 ** (q_db / 20.0))
            y = _lowpass_blocks(y, np.minimum(fc, 0.45 * sr), q, sr)
        atten_db = z.get(_ATTENUATION) / 10.0 + 40.0 * np.log10(127.0 / max(1, velocity))
        return y * np.float32(10.0 ** (-atten_db / 20.0))

    @functools.lru_cache(maxsize=256)
    def _band_limited(self, sample: int, start: int, end: int, rate: int, cutoff: float) -> np.ndarray:
        """The recording low-passed below ``cutoff`` Hz (at its own rate), so that reading it
        faster or at a lower output rate folds nothing back below the output's Nyquist."""
        seg = self.data[start:end]
        if cutoff >= 0.45 * rate:
            return seg
        sos = signal.butter(8, cutoff, btype="low", fs=rate, output="sos")
        return signal.sosfilt(sos, seg).astype(np.float32)

    @staticmethod
    def _mod_envelope(z: Zone, pitch: int, held: float, m: int, rate: float) -> np.ndarray:
        """The modulation envelope (generators 25–32), 0..1, at ``rate`` values per second:
        linear attack, hold, linear decay to the sustain level, linear release."""
        delay = _timecents(z.get(_MOD_DELAY))
        attack = _timecents(z.get(_MOD_ATTACK))
        hold = _timecents(z.get(_MOD_HOLD) + (60 - pitch) * z.get(_MOD_KEY_HOLD))
        decay = _timecents(z.get(_MOD_DECAY) + (60 - pitch) * z.get(_MOD_KEY_DECAY))
        release = max(_timecents(z.get(_MOD_RELEASE)), 0.006)
        sustain = 1.0 - min(max(z.get(_MOD_SUSTAIN), 0), 1000) / 1000.0
        t = np.arange(m) / rate
        ta = t - delay
        env = np.where(ta < attack, np.clip(ta / max(attack, 1e-9), 0.0, 1.0), 1.0)
        td = ta - attack - hold
        if decay > 0:
            env = np.where(td > 0, np.maximum(1.0 - td / decay, sustain), env)
        else:
            env = np.where(td > 0, sustain, env)
        env = np.where(t < delay, 0.0, env)
        k = int(held * rate)
        if k < m:
            level = env[k - 1] if k > 0 else 0.0
            env[k:] = np.maximum(level * (1.0 - (t[k:] - t[k]) / release), 0.0)
        return env

    @staticmethod
    def _envelope(z: Zone, pitch: int, velocity: int, held: float, m: int, fs: int) -> np.ndarray:
        """The volume envelope (section 8.1.3, generators 33–40), one gain per sample."""
        delay = _timecents(z.get(_DELAY))
        attack = _timecents(z.get(_ATTACK))
        hold = _timecents(z.get(_HOLD) + (60 - pitch) * z.get(_KEY_HOLD))
        decay = _timecents(z.get(_DECAY) + (60 - pitch) * z.get(_KEY_DECAY))
        release = max(_timecents(z.get(_RELEASE)), 0.006)
        sustain_db = min(max(z.get(_SUSTAIN), 0), 1440) / 10.0          # attenuation, in dB
        t = np.arange(m, dtype=np.float64) / fs
        db = np.full(m, 0.0)
        # decay: linear in dB from 0 to -100 dB over `decay` seconds, stopping at the sustain level
        td = t - (delay + attack + hold)
        if decay > 0:
            db = np.where(td > 0, -np.minimum(td / decay * 100.0, sustain_db), 0.0)
        elif sustain_db > 0:
            db = np.where(td > 0, -sustain_db, 0.0)
        g = 10.0 ** (db / 20.0)
        ta = t - delay
        if attack > 0:
            g = np.where(ta < attack, np.clip(ta / attack, 0.0, 1.0), g)   # attack: linear in amplitude
        g = np.where(t < delay, 0.0, g)
        # release: from the level at key-up, linear in dB down 100 dB over `release` seconds
        k = int(held * fs)
        if k < m:
            level = g[k - 1] if k > 0 else 0.0
            tr = t[k:] - t[k]
            g[k:] = level * 10.0 ** (-(tr / release * 100.0) / 20.0)
        return g.astype(np.float32)

    # -----------------------------------------------------------------------------------------
    def render(self, notes, seconds: float, sr: int = 16000, tail: float = 1.0) -> np.ndarray:
        """Play many notes into one mono track.

        Parameters
        ----------
        notes : iterable of tuples
            ``(start_s, end_s, pitch, velocity, program, bank)``: when the key goes down and up
            (with a sustain pedal, ``end_s`` is when the damper falls).
        seconds : float
            Length of the output.
        sr : int
            Output sample rate.
        tail : float
            Seconds each note may ring after its ``end_s`` (its release).

        Returns
        -------
        numpy.ndarray
            ``round(seconds * sr)`` float32 samples (not normalised).
        """
        n = int(round(seconds * sr))
        y = np.zeros(n, np.float32)
        for start, end, pitch, velocity, program, bank in notes:
            i = int(round(start * sr))
            if i >= n:
                continue
            held = max(end - start, 0.01)
            v = self.note(int(program), int(pitch), int(velocity), held, release=tail, sr=sr, bank=int(bank))
            v = v[:n - i]
            y[i:i + len(v)] += v
        return y


def _lowpass_blocks(y: np.ndarray, fc: np.ndarray, q: float, fs: float) -> np.ndarray:
    """A 2-pole resonant low-pass (RBJ cookbook) whose cut-off ``fc[j]`` holds for block ``j``
    of ``BLOCK`` samples; the filter's state carries from block to block."""
    w = 2 * np.pi * fc / fs
    alpha = np.sin(w) / (2 * q)
    cos = np.cos(w)
    a0 = 1 + alpha
    b = np.stack([(1 - cos) / 2, 1 - cos, (1 - cos) / 2], axis=1) / a0[:, None]
    a = np.stack([np.ones_like(a0), -2 * cos / a0, (1 - alpha) / a0], axis=1)
    out = np.empty(len(y), np.float32)
    zi = np.zeros(2)
    for j in range(len(fc)):
        seg = y[j * BLOCK:(j + 1) * BLOCK]
        if not len(seg):
            break
        out[j * BLOCK:j * BLOCK + len(seg)], zi = signal.lfilter(b[j], a[j], seg, zi=zi)
    return out


@functools.lru_cache(maxsize=1)
def _general_midi() -> SoundFont:
    return SoundFont(general_midi_path())
