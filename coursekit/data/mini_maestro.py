"""mini-MAESTRO: piano performances composed, performed and synthesized offline.

``make_mini_maestro(root)`` writes ``root/maestro-v3.0.0/`` exactly as the real archive unpacks:
``maestro-v3.0.0.csv``, the column-oriented ``maestro-v3.0.0.json``, and ``YYYY/<name>.midi`` +
``YYYY/<name>.wav`` (44.1 kHz, 16-bit, stereo), with train/validation/test splits made by
composition (two performances of one piece share a split, as in MAESTRO).

Three stages, each a few readable functions:

1. **Compose** (:func:`compose`): a key, a meter, phrases of four bars in a form such as
   A A' B A, a chord progression per phrase, a melody (chord tones on strong beats, steps in
   between, a cadence at each phrase end) over an accompaniment pattern (Alberti bass,
   arpeggios, block chords, waltz).
2. **Perform** (:func:`perform`): beats become seconds through a tempo curve with rubato,
   phrase-final lengthening and a closing ritardando; onsets are jittered and the melody leads
   the accompaniment by a few milliseconds; velocities follow phrase arches and metrical
   accents; the sustain pedal changes with each harmony (up just after the new chord, down
   again a moment later), and quiet passages sometimes take the soft pedal.
3. **Play**: by default the General MIDI SoundFont's piano with its sustain and soft pedals
   (:mod:`coursekit.data.mini_maestro_sampled`); ``sound="additive"`` gives
   :class:`PianoSynth`, an additive piano. Partials are stretched by string
   stiffness (``f_k = k f0 sqrt(1 + B k^2)``), decay in two stages and faster the higher they
   are, beat slightly (detuned unison strings), start with a hammer knock, get brighter with
   velocity, and are damped at key release unless the sustain pedal holds them (strings above
   F6 have no dampers, as on a real piano).

Same seed, same bytes.

Example
-------
>>> from coursekit.data.mini_maestro import make_mini_maestro
>>> folder = make_mini_maestro("/tmp/m", size="smoke") / "maestro-v3.0.0"   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from pathlib import Path

import numpy as np

from . import SOUNDS
from .maestro import FIELDS, SOFT, SUSTAIN, apply_sustain, pedal_intervals
from .mini_gtzan import MAJOR, MINOR, parse_chord

SAMPLE_RATE = 44100
SIZES = {
    "smoke": {"performances": 3, "seconds": 5.0},
    "default": {"performances": 24, "seconds": 25.0},
    "full": {"performances": 100, "seconds": 60.0},
}
YEARS = (2004, 2006, 2008, 2009, 2011, 2013, 2014, 2015, 2017, 2018)  # MAESTRO's years
COMPOSERS = ("Mini Composer A", "Mini Composer B", "Mini Composer C", "Mini Compositeur É",
             "Mini Komponist Ö")
KEY_NAMES = {"major": ("C", "D-flat", "D", "E-flat", "E", "F", "F-sharp", "G", "A-flat", "A",
                       "B-flat", "B"),
             "minor": ("C", "C-sharp", "D", "E-flat", "E", "F", "F-sharp", "G", "G-sharp", "A",
                       "B-flat", "B")}
NICKNAMES = ("The Brook", "Rain", "Lullaby", "Fireflies", "The Mill")

# form name -> (tempo range in quarter-note bpm, beats per bar, accompaniment patterns)
FORMS = {
    "Etude": ((100, 132), 4, ("arpeggio", "alberti")),
    "Prelude": ((60, 84), 4, ("arpeggio", "block")),
    "Sonatina": ((92, 120), 4, ("alberti", "block")),
    "Waltz": ((132, 168), 3, ("waltz",)),
    "Nocturne": ((54, 72), 4, ("arpeggio",)),
    "Impromptu": ((84, 108), 4, ("arpeggio", "alberti")),
}
PROGRESSIONS = {
    "major": {"A": (("I", "IV", "V", "I"), ("I", "vi", "IV", "V"), ("I", "ii", "V", "I")),
              "B": (("vi", "IV", "I", "V"), ("IV", "V", "iii", "vi"), ("ii", "V", "I", "vi"))},
    "minor": {"A": (("i", "iv", "V", "i"), ("i", "bVI", "iv", "V"), ("i", "iv", "bVII", "bIII")),
              "B": (("bVI", "iv", "V", "i"), ("bIII", "bVII", "iv", "V"), ("iv", "V", "i", "bVI"))},
}
# melody rhythms of one bar, in 8th notes
RHYTHMS = {4: ((2, 2, 2, 2), (3, 1, 2, 2), (1, 1, 2, 4), (2, 1, 1, 4), (2, 2, 4), (1, 1, 1, 1, 2, 2)),
           3: ((2, 2, 2), (3, 1, 2), (4, 2), (2, 1, 1, 2))}
CADENCE = {4: ((4, 4), (6, 2), (8,)), 3: ((6,), (4, 2))}


# ---------------------------------------------------------------------------------------------
# 1. Compose
# ---------------------------------------------------------------------------------------------

def _chord_pitches(tonic_pc: int, symbol: str, low: int, high: int) -> list[int]:
    """Every MIDI note of the chord between ``low`` and ``high``."""
    root, iv = parse_chord(symbol)
    pcs = {(tonic_pc + root + i) % 12 for i in iv}
    return [m for m in range(low, high + 1) if m % 12 in pcs]


def _bass_note(tonic_pc: int, symbol: str, low: int = 36) -> int:
    root, _ = parse_chord(symbol)
    return low + (tonic_pc + root - low) % 12


def compose(rng: np.random.Generator, seconds: float) -> dict:
    """A short piano piece: notes in beats, the harmony per bar, and what it is called.

    Returns a dict with ``notes`` (list of ``(beat, beats, pitch, velocity, voice)``, voice
    ``'melody'`` or ``'accomp'``), ``chords`` (bar start beats and symbols), ``phrases``
    (first bar of each phrase), ``beats_per_bar``, ``bpm``, ``form``, ``key`` and ``mode``.
    """
    form = list(FORMS)[rng.integers(len(FORMS))]
    (lo, hi), bpb, patterns = FORMS[form]
    pattern = patterns[rng.integers(len(patterns))]
    mode = "minor" if rng.random() < 0.4 else "major"
    tonic_pc = int(rng.integers(12))
    bpm = float(rng.uniform(lo, hi))
    bars_needed = max(2, int(round(seconds / (bpb * 60.0 / bpm) * 0.9)))  # rubato adds ~10 %
    phrase_bars = 4 if bars_needed >= 8 else 2
    plan = ["A", "A'", "B", "A"]
    labels = [plan[i % 4] for i in range(max(1, int(np.ceil(bars_needed / phrase_bars))))]

    scale = [(tonic_pc + i) % 12 for i in (MAJOR if mode == "major" else MINOR)]
    if mode == "minor":
        scale.append((tonic_pc + 11) % 12)  # harmonic minor's leading tone
    tonic_low = 60 + (tonic_pc - 60) % 12            # the tonic from C4 up
    mel_lo, mel_hi = tonic_low - 3, tonic_low + 16
    mel_scale = [m for m in range(mel_lo, mel_hi + 1) if m % 12 in scale]

    progs = PROGRESSIONS[mode]
    prog_a = progs["A"][rng.integers(len(progs["A"]))]
    prog_b = progs["B"][rng.integers(len(progs["B"]))]

    def progression(label):
        p = prog_a if label.startswith("A") else prog_b
        p = list(p[:phrase_bars]) if phrase_bars == 4 else [p[0], p[-1]]
        if label == "A":  # first statement: half cadence on V, the answer closes on I
            p[-1] = "V"
        elif label == "A'":
            p[-2:] = ["V", "i" if mode == "minor" else "I"][-len(p[-2:]):]
        return p

    def melody_bars(symbols, closing: bool):
        """One phrase of melody: [(beat in phrase, beats, pitch, accent)]."""
        out, current = [], int(rng.choice(mel_scale[len(mel_scale) // 3: 2 * len(mel_scale) // 3]))
        for b, sym in enumerate(symbols):
            last = b == len(symbols) - 1
            rhythm = (CADENCE[bpb] if last else RHYTHMS[bpb])
            rhythm = rhythm[rng.integers(len(rhythm))]
            chord = _chord_pitches(tonic_pc, sym, mel_lo, mel_hi) or mel_scale
            t = 0
            for i, eighths in enumerate(rhythm):
                strong = t % 4 == 0
                if last and i == len(rhythm) - 1 and closing:  # end on the tonic
                    current = min((m for m in mel_scale if m % 12 == tonic_pc),
                                  key=lambda m: abs(m - current))
                elif strong:
                    current = min(chord, key=lambda m: abs(m - current) + rng.uniform(0, 2.5))
                else:
                    j = mel_scale.index(current) if current in mel_scale else len(mel_scale) // 2
                    j = int(np.clip(j + rng.choice([-2, -1, -1, 1, 1, 2]), 0, len(mel_scale) - 1))
                    current = mel_scale[j]
                out.append((b * bpb + t / 2, eighths / 2, current, 8 if strong else 0))
                t += eighths
        return out

    def accompaniment(sym, bar_beat):
        """The left hand for one bar: [(beat, beats, pitch, accent)]."""
        bass = _bass_note(tonic_pc, sym)
        tones = _chord_pitches(tonic_pc, sym, bass, bass + 19)
        out = []
        if pattern == "alberti":  # low, high, middle, high in 8ths
            low, mid, high = tones[0], tones[1], tones[2]
            for i in range(bpb * 2):
                out.append((bar_beat + i / 2, 0.5, (low, high, mid, high)[i % 4], 4 if i == 0 else 0))
        elif pattern == "arpeggio":  # up and down a broken chord in 8ths
            arp = tones[:5] + tones[3:0:-1]
            for i in range(bpb * 2):
                out.append((bar_beat + i / 2, 0.5, arp[i % len(arp)], 4 if i == 0 else 0))
        elif pattern == "block":  # bass note, then the chord on each beat
            out.append((bar_beat, bpb, bass - 12 if bass - 12 >= 28 else bass, 6))
            for beat in range(bpb):
                for m in tones[1:4]:
                    out.append((bar_beat + beat, 0.9, m, 2 if beat == 0 else 0))
        else:  # waltz: bass on one, chord on two and three
            out.append((bar_beat, 1, bass, 6))
            for beat in (1, 2):
                for m in tones[1:4]:
                    out.append((bar_beat + beat, 0.7, m, 0))
        return out

    notes, chords, phrases = [], [], []
    melodies: dict[str, list] = {}
    bar = 0
    for k, label in enumerate(labels):
        symbols = progression(label)
        closing = label != "A" or k == len(labels) - 1
        if k == len(labels) - 1:
            symbols[-1] = "i" if mode == "minor" else "I"
        if label == "A" and "A'" in melodies:  # the return of A closes like the answer
            mel = melodies["A'"]
        elif label in melodies:
            mel = melodies[label]
        elif label == "A'" and "A" in melodies:  # the answer: A's opening, a new closing bar
            last_bar = (phrase_bars - 1) * bpb
            mel = ([n for n in melodies["A"] if n[0] < last_bar]
                   + [n for n in melody_bars(symbols, True) if n[0] >= last_bar])
        else:
            mel = melody_bars(symbols, closing)
        melodies.setdefault(label, mel)
        phrases.append(bar)
        for b, sym in enumerate(symbols):
            chords.append(((bar + b) * bpb, sym))
            for beat, beats, pitch, accent in accompaniment(sym, (bar + b) * bpb):
                notes.append((beat, beats, pitch, accent, "accomp"))
        for beat, beats, pitch, accent in mel:
            notes.append((bar * bpb + beat, beats, pitch, accent, "melody"))
        bar += len(symbols)
    key_name = KEY_NAMES[mode][tonic_pc]
    return {"notes": notes, "chords": chords, "phrases": phrases, "bars": bar,
            "beats_per_bar": bpb, "bpm": bpm, "form": form, "key": key_name, "mode": mode,
            "pattern": pattern}


# ---------------------------------------------------------------------------------------------
# 2. Perform
# ---------------------------------------------------------------------------------------------

def _one_string_one_note(notes: np.ndarray) -> np.ndarray:
    """A key cannot be struck again before it is released: merge notes of one pitch that start
    together (both hands on one key) and end each note before the next strike of its key."""
    notes = notes[np.lexsort((notes[:, 0], notes[:, 2]))]
    keep = np.ones(len(notes), dtype=bool)
    prev = None
    for i in range(len(notes)):
        if prev is not None and notes[i, 2] == notes[prev, 2]:
            if notes[i, 0] - notes[prev, 0] < 0.03:
                notes[prev, 1] = max(notes[prev, 1], notes[i, 1])
                notes[prev, 3] = max(notes[prev, 3], notes[i, 3])
                keep[i] = False
                continue
            notes[prev, 1] = min(notes[prev, 1], notes[i, 0] - 0.005)
        prev = i
    notes = notes[keep]
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


def perform(piece: dict, rng: np.random.Generator) -> dict:
    """Turn a composed piece into a performance: seconds, velocities and pedalling.

    Returns ``notes`` (``(n, 4)``: start, end, pitch, velocity; key-up times, before pedal),
    ``sustain`` and ``soft`` (``(m, 2)`` events: time, value).
    """
    bpb, bpm = piece["beats_per_bar"], piece["bpm"] * rng.uniform(0.93, 1.07)
    n_beats = piece["bars"] * bpb + 2
    phrase_starts = set(p * bpb for p in piece["phrases"])
    phrase_len = (piece["phrases"][1] - piece["phrases"][0]) * bpb if len(piece["phrases"]) > 1 else piece["bars"] * bpb

    # the tempo curve: a duration for each beat
    b = np.arange(n_beats)
    rubato = (0.04 * np.sin(2 * np.pi * b / rng.uniform(6, 11) + rng.uniform(0, 6))
              + 0.025 * np.sin(2 * np.pi * b / rng.uniform(2.5, 4) + rng.uniform(0, 6)))
    beat_s = 60.0 / bpm * (1 + rubato)
    for start in sorted(phrase_starts):  # phrase-final lengthening: the last beats broaden
        end = start + phrase_len
        for j, stretch in ((end - 2, 0.08), (end - 1, rng.uniform(0.15, 0.3))):
            if 0 <= j < n_beats:
                beat_s[j] *= 1 + stretch
    last = piece["bars"] * bpb
    rit = np.clip((b - (last - 2 * bpb)) / (2 * bpb), 0, 1)  # closing ritardando
    beat_s *= 1 + 0.5 * rit ** 2
    onset_of_beat = np.concatenate([[0.0], np.cumsum(beat_s)]) + 0.3  # a breath before playing

    def to_seconds(beat):
        return np.interp(beat, np.arange(len(onset_of_beat)), onset_of_beat)

    # dynamics: an arch over each phrase and a level per section
    soft_phrase = {p for p in piece["phrases"] if rng.random() < 0.25}
    level = {p: rng.uniform(-10, 12) for p in piece["phrases"]}
    phrase_of_bar = np.zeros(piece["bars"] + 1, dtype=int)
    for p in piece["phrases"]:
        phrase_of_bar[p:] = p
    melody_lead = rng.uniform(0.01, 0.03)

    notes = []
    for beat, beats, pitch, accent, voice in piece["notes"]:
        bar = int(beat // bpb)
        p = phrase_of_bar[min(bar, piece["bars"])]
        pos = (beat - p * bpb) / max(phrase_len, 1)
        arch = 14 * np.sin(np.pi * np.clip(pos, 0, 1))
        vel = (68 if voice == "melody" else 48) + arch + level[p] + accent + rng.normal(0, 4)
        if p in soft_phrase:
            vel -= 12
        start = to_seconds(beat) + rng.normal(0, 0.006) - (melody_lead if voice == "melody" else 0)
        legato = 1.02 if voice == "melody" else 0.85
        end = to_seconds(beat + beats * legato)
        notes.append((max(start, 0.0), max(end, start + 0.05), pitch, int(np.clip(vel, 15, 118))))
    notes = _one_string_one_note(np.array(notes, dtype=np.float64))

    # sustain pedal: change with the harmony (legato pedalling), release at the very end
    sustain = []
    for i, (beat, _) in enumerate(piece["chords"]):
        t = to_seconds(beat)
        if i == 0:
            sustain.append((t + 0.05, int(rng.integers(100, 128))))
            continue
        up = t + rng.uniform(0.03, 0.07)
        for dt, v in ((0.0, 80), (0.015, 35), (0.03, 0)):  # the foot comes up over a few ms
            sustain.append((up + dt, v))
        sustain.append((up + rng.uniform(0.09, 0.16), int(rng.integers(100, 128))))
    end = float(notes[:, 1].max())
    sustain.append((end + 0.4, 0))

    soft = []
    for p in sorted(soft_phrase):
        soft.append((to_seconds(p * bpb) - 0.1, 127))
        soft.append((to_seconds(p * bpb + phrase_len) - 0.05, 0))
    return {"notes": notes, "sustain": np.array(sustain).reshape(-1, 2),
            "soft": np.array(soft).reshape(-1, 2)}


# ---------------------------------------------------------------------------------------------
# 3. Synthesize
# ---------------------------------------------------------------------------------------------

class PianoSynth:
    """An additive piano.

    For each key two versions of the note are rendered once and cached, a soft-hammer (dark)
    and a hard-hammer (bright) one; a note of velocity ``v`` mixes them, which is the same as
    interpolating every partial's amplitude. Then the damper cuts the note at key-up, unless
    the sustain pedal holds it.
    """

    def __init__(self, sr: int = SAMPLE_RATE):
        self.sr = sr
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @staticmethod
    def inharmonicity(pitch: float) -> float:
        """String stiffness ``B``: about 1e-4 in the bass, rising to about 3e-3 at the top."""
        return float(np.clip(1.2e-4 * 2 ** ((pitch - 48) / 15), 6e-5, 3e-3))

    @staticmethod
    def ring_seconds(pitch: float) -> float:
        """How long the cached note is: low strings ring for seconds, high ones briefly."""
        return float(np.clip(4.0 * 2 ** (-(pitch - 33) / 24), 0.8, 4.0))

    def components(self, pitch: int) -> tuple[np.ndarray, np.ndarray]:
        """The dark and bright renders of key ``pitch`` (mono, float32, natural decay)."""
        if pitch in self._cache:
            return self._cache[pitch]
        sr = self.sr
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        n = int(self.ring_seconds(pitch) * sr)
        t64 = np.arange(n) / sr
        t = t64.astype(np.float32)
        B = self.inharmonicity(pitch)
        k = np.arange(1, 61)
        fk = f0 * k * np.sqrt(1 + B * k ** 2)
        k, fk = k[fk < 10000][:30], fk[fk < 10000][:30]
        # the hammer strikes 1/8 of the way along the string: every 8th partial is weak
        strike = np.abs(np.sin(np.pi * k / 8.0)) + 0.05
        dark = strike * k ** -2.2
        bright = strike * k ** -0.9
        # decay rates (1/s): the fundamental of a low string rings for long, higher partials
        # and higher strings die faster; two stages: a prompt sound and a slow aftersound
        d0 = 0.35 * 2 ** ((pitch - 21) / 26)
        fast = d0 * (2.5 + 0.35 * (k - 1))
        slow = d0 * (0.5 + 0.12 * (k - 1))
        rng = np.random.default_rng(pitch)  # the same key always sounds the same
        phase = rng.uniform(0, 1, len(k))
        beat_hz = rng.uniform(0.3, 1.5, len(k)) * (k <= 6)  # detuned unison strings
        acc = np.zeros((2, n), dtype=np.float32)
        for i in range(len(k)):  # one partial at a time keeps the memory small
            m = min(n, int(9.2 / slow[i] * sr))  # stop computing once it is 80 dB down
            tt = t[:m]
            env = 0.7 * np.exp(-np.float32(fast[i]) * tt) + 0.3 * np.exp(-np.float32(slow[i]) * tt)
            if beat_hz[i]:
                env *= 0.85 + 0.15 * np.cos(np.float32(2 * np.pi * beat_hz[i]) * tt)
            # the phase in cycles, wrapped in float64 before float32 so it stays exact
            cycles = np.mod(fk[i] * t64[:m] + phase[i], 1.0).astype(np.float32)
            wave = env * np.sin(np.float32(2 * np.pi) * cycles)
            acc[0, :m] += np.float32(dark[i]) * wave
            acc[1, :m] += np.float32(bright[i]) * wave
        # the hammer knock: a short filtered noise burst, stronger when played hard
        m = int(0.012 * sr)
        knock = rng.standard_normal(m) * np.exp(-np.arange(m) / (0.002 * sr))
        knock = np.convolve(knock, np.ones(4) / 4, mode="same")
        acc[1, :m] += 0.15 * knock * np.abs(acc[1]).max()
        acc[0, :m] += 0.03 * knock * np.abs(acc[0]).max()
        # attack: 2 ms; end: fade the last 10 % so a cached note never stops with a click
        a = int(0.002 * sr)
        ramp = np.ones(n)
        ramp[:a] = np.linspace(0, 1, a)
        r = n // 10
        ramp[n - r:] *= np.linspace(1, 0, r)
        acc *= ramp
        dark_y = (acc[0] / np.abs(acc[0]).max()).astype(np.float32)
        bright_y = (acc[1] / np.abs(acc[1]).max()).astype(np.float32)
        self._cache[pitch] = (dark_y, bright_y)
        return self._cache[pitch]

    def render(self, notes: np.ndarray, sustain: np.ndarray, soft: np.ndarray | None = None,
               seconds: float | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
        """Stereo audio ``(2, n)`` of ``notes`` (``(n, 4)`` with key-up ends) and pedal events."""
        sr = self.sr
        rng = rng or np.random.default_rng(0)
        pedal = pedal_intervals(sustain, end=float(notes[:, 1].max()) + 1.0)
        sounding = apply_sustain(notes, pedal)  # when the damper really falls
        soft_iv = pedal_intervals(soft if soft is not None else np.zeros((0, 2)))
        total = seconds if seconds is not None else float(sounding[:, 1].max()) + 1.5
        out = np.zeros((2, int(total * sr) + 1), dtype=np.float64)
        for (start, end, pitch, vel) in sounding:
            dark, bright = self.components(int(pitch))
            v = vel / 127.0
            is_soft = bool(len(soft_iv)) and bool(np.any((soft_iv[:, 0] <= start) & (start < soft_iv[:, 1])))
            brightness = v ** 1.5 * (0.6 if is_soft else 1.0)
            amp = 10 ** (1.8 * (v - 1)) * (0.75 if is_soft else 1.0)  # ~36 dB from pp to ff
            i0 = int(round(start * sr))
            held = int(round((end - start) * sr))
            damped = pitch < 89  # no dampers on the top strings
            release = int(0.5 * sr) if damped else len(dark)
            n = min(len(dark), held + release, out.shape[1] - i0)
            if n <= 0:
                continue
            y = amp * ((1 - brightness) * dark[:n] + brightness * bright[:n])
            if damped and held < n:  # the damper falls: a quick, not instant, decay
                y[held:] *= np.exp(-np.arange(n - held) / (0.06 * sr))
            pan = np.clip((pitch - 60) / 60.0, -0.6, 0.6) * 0.5 + 0.5  # bass left, treble right
            out[0, i0:i0 + n] += np.cos(pan * np.pi / 2) * y
            out[1, i0:i0 + n] += np.sin(pan * np.pi / 2) * y
        return self._room(out, rng)

    def _room(self, y: np.ndarray, rng: np.random.Generator, rt60: float = 1.6,
              wet: float = 0.25) -> np.ndarray:
        """A concert-hall reverb: decaying noise, different per ear (so it sounds wide)."""
        from scipy.signal import fftconvolve

        n = int(rt60 * self.sr)
        t = np.arange(n) / self.sr
        out = np.empty_like(y)
        for ch in range(2):
            ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
            ir = np.convolve(ir, np.ones(6) / 6, mode="same")  # air absorbs the highs
            ir[: int(0.015 * self.sr)] = 0
            ir /= np.sqrt(np.sum(ir ** 2))
            out[ch] = y[ch] + wet * fftconvolve(y[ch], ir)[: y.shape[1]]
        return out


# ---------------------------------------------------------------------------------------------
# Writing the dataset
# ---------------------------------------------------------------------------------------------

def _write_midi(path: Path, performance: dict) -> float:
    """Write notes and pedals as a type-1 MIDI file (tempo track + piano track, like MAESTRO).

    Returns the duration of the written file (seconds), the MAESTRO ``duration`` field.
    """
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(resolution=384, initial_tempo=120.0)
    piano = pretty_midi.Instrument(program=0, name="")
    for start, end, pitch, vel in performance["notes"]:
        piano.notes.append(pretty_midi.Note(velocity=int(vel), pitch=int(pitch), start=float(start),
                                            end=float(end)))
    for number, events in ((SUSTAIN, performance["sustain"]), (SOFT, performance["soft"])):
        for t, v in events:
            piano.control_changes.append(pretty_midi.ControlChange(number=number, value=int(v),
                                                                   time=float(t)))
    piano.control_changes.sort(key=lambda c: c.time)
    pm.instruments.append(piano)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))
    return pretty_midi.PrettyMIDI(str(path)).get_end_time()


def _seed(seed: int, *parts) -> int:
    return zlib.crc32("/".join(map(str, ("mini-maestro", seed) + parts)).encode())


def _title(piece: dict, rng: np.random.Generator, number: int) -> str:
    title = f"{piece['form']} in {piece['key']} {piece['mode']}"
    style = rng.integers(4)
    if style == 0:
        return f"{title} No. {number}"
    if style == 1:
        return f"{title}, Op. {int(rng.integers(2, 60))}, No. {number}"  # commas: CSV quoting
    if style == 2:
        return f'{title} "{NICKNAMES[rng.integers(len(NICKNAMES))]}"'  # quotes: doubled in CSV
    return title


def _assign_splits(n: int) -> list[str]:
    """Splits for ``n`` compositions, roughly MAESTRO's 75/11/14 %, each split used once n >= 3."""
    n_test = max(1, int(round(0.14 * n))) if n >= 3 else 0
    n_valid = max(1, int(round(0.11 * n))) if n >= 3 else 0
    return ["train"] * (n - n_test - n_valid) + ["validation"] * n_valid + ["test"] * n_test


def _made_with(folder: Path) -> str | None:
    """The ``sound`` of the mini-MAESTRO in ``folder`` (``None`` if there is none)."""
    from .download import MARKER

    try:
        made = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(made, dict) or made.get("generator") != "coursekit mini-maestro":
        return None
    return made.get("sound", "additive")  # folders made before the SoundFont were additive


def make_mini_maestro(root, size: str = "default", seed: int = 0, verbose: bool = True,
                      sound: str = "sampled") -> Path:
    """Write mini-MAESTRO under ``root``: ``root/maestro-v3.0.0/`` in the real layout.

    Parameters
    ----------
    root : str or Path
        Folder to write into (created).
    size : {'smoke', 'default', 'full'}
        smoke: 3 performances of about 5 s; default: 24 of about 25 s; full: 100 of about 60 s.
    seed : int
        Same seed, same bytes.
    verbose : bool
        Show progress.
    sound : {'sampled', 'additive'}
        Who plays the performances: ``'sampled'``, the SoundFont's piano with its sustain and
        soft pedals (:class:`~coursekit.data.mini_maestro_sampled.SampledPiano`; under the soft
        pedal a note is played at 80 % of its velocity); ``'additive'``, :class:`PianoSynth`.
        The MIDI files are the same for both.

    Returns
    -------
    Path
        ``root`` (the folder holding ``maestro-v3.0.0/``).

    Some compositions are performed twice (by different "pianists": other tempo, rubato and
    dynamics, another year); both performances share a split, as in MAESTRO. Written to a
    temporary folder and renamed into place; an earlier copy with the same size and seed is
    kept (delete it to make it again), one made with another ``sound`` is refused, a real
    MAESTRO folder is never touched.

    Example
    -------
    >>> make_mini_maestro("/tmp/m", size="smoke", sound="additive")   # doctest: +SKIP
    PosixPath('/tmp/m')
    """
    import shutil
    import tempfile

    from .. import audio
    from .download import already_made, move_into_place, refuse_foreign

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    if sound not in SOUNDS:
        raise ValueError(f"unknown sound {sound!r}; choose one of {', '.join(SOUNDS)}")
    spec = SIZES[size]
    root = Path(root).expanduser()
    marker = {"generator": "coursekit mini-maestro", "size": size, "seed": seed, "sound": sound}
    refuse_foreign(root / "maestro-v3.0.0")  # never overwrite a real dataset
    made = _made_with(root / "maestro-v3.0.0")
    if made is not None and made != sound:
        raise ValueError(f"{root / 'maestro-v3.0.0'} holds mini-MAESTRO played by the {made!r} "
                         f"piano, not {sound!r}; delete it or choose another --root")
    if already_made(root / "maestro-v3.0.0", marker):
        if verbose:
            print(f"{root / 'maestro-v3.0.0'} already holds mini-MAESTRO ({size}, seed {seed}, {sound}); "
                  "delete it to make it again")
        return root
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".mini-maestro-", dir=root))
    out = tmp / "maestro-v3.0.0"
    try:
        plan_rng = np.random.default_rng(_seed(seed, "plan"))
        n_perf = spec["performances"]
        n_comp = max(1, min(n_perf, int(np.ceil(n_perf * 0.8))))
        comp_of_perf = list(range(n_comp)) + sorted(plan_rng.integers(0, n_comp, n_perf - n_comp).tolist())
        comp_split = _assign_splits(n_comp)
        order = plan_rng.permutation(n_comp)  # which compositions go to which split
        split_of = {int(c): comp_split[i] for i, c in enumerate(order)}

        if sound == "additive":
            synth = PianoSynth(SAMPLE_RATE)
        else:
            from .mini_maestro_sampled import SampledPiano

            synth = SampledPiano(SAMPLE_RATE)
        compositions, rows = {}, []
        it = list(enumerate(comp_of_perf))
        try:
            from tqdm.auto import tqdm

            it = tqdm(it, desc=f"mini-MAESTRO ({size})", disable=not verbose, leave=False)
        except ImportError:  # pragma: no cover
            pass
        for p, c in it:
            if c not in compositions:
                crng = np.random.default_rng(_seed(seed, "composition", c))
                piece = compose(crng, spec["seconds"])
                composer = COMPOSERS[crng.integers(len(COMPOSERS))]
                title = _title(piece, crng, c + 1)
                if any(t == title for _, _, t in compositions.values()):
                    title = f"{title} (No. {c + 1})"  # one title, one composition
                compositions[c] = (piece, composer, title)
            piece, composer, title = compositions[c]
            prng = np.random.default_rng(_seed(seed, "performance", p))
            performance = perform(piece, prng)
            year = int(YEARS[prng.integers(len(YEARS))])
            name = f"{year}/MINI-Unprocessed_R{p // 6 + 1}_{year}_wav--{p % 6 + 1}"
            duration = _write_midi(out / f"{name}.midi", performance)
            # synthesize from the written (tick-quantized) MIDI so audio and MIDI agree exactly
            from .maestro import load_midi, midi_notes, pedal_events

            pm = load_midi(out / f"{name}.midi")
            y = synth.render(midi_notes(pm), pedal_events(pm, SUSTAIN), pedal_events(pm, SOFT),
                             seconds=duration + 0.5, rng=prng)
            y = y / np.abs(y).max() * prng.uniform(0.5, 0.9)
            audio.save(out / f"{name}.wav", y.astype(np.float32), SAMPLE_RATE)
            rows.append({"canonical_composer": composer, "canonical_title": title,
                         "split": split_of[c], "year": year, "midi_filename": f"{name}.midi",
                         "audio_filename": f"{name}.wav", "duration": round(duration, 9)})

        rows.sort(key=lambda r: (r["canonical_composer"], r["canonical_title"], r["midi_filename"]))
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        (out / "maestro-v3.0.0.csv").write_text(buf.getvalue(), encoding="utf-8")
        columns = {f: {str(i): r[f] for i, r in enumerate(rows)} for f in FIELDS}
        (out / "maestro-v3.0.0.json").write_text(json.dumps(columns, indent=4, ensure_ascii=False) + "\n",
                                                 encoding="utf-8")
        played = {"sampled": ", played by the General MIDI SoundFont's piano", "additive": ""}
        (out / "README").write_text(
            "mini-MAESTRO: performances composed, performed and synthesized by coursekit "
            f"(size {size}, seed {seed}{played[sound]}), in the layout of MAESTRO v3.0.0 "
            "(https://magenta.tensorflow.org/datasets/maestro). Not real recordings.\n")
        move_into_place(out, root / "maestro-v3.0.0", marker=marker)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
