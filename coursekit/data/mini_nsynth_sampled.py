"""mini-NSynth's sampled instruments: General MIDI programs as NSynth instruments.

NSynth was recorded by playing every note of about a thousand instruments from commercial
sample libraries. The sampled mini-NSynth does the same with the 128 instruments of the
General MIDI SoundFont ``pretty_midi`` ships, played by :mod:`coursekit.data.soundfont`: each
program is one instrument, held 3 s and released for 1 s at the five NSynth velocities over
the keys the real instrument has.

:data:`PROGRAMS` maps each General MIDI program the dataset uses to its NSynth family, its
source and the keys it plays. The source follows NSynth's definitions: ``acoustic`` (recorded
from an acoustic instrument), ``electronic`` (an electric or electronic instrument: electric
piano, guitar and bass, tonewheel organ) and ``synthetic`` (a synthesiser). Programs with no
NSynth family (sound effects, drums, most percussion) are left out; GM's synth pads join
``synth_lead``, its accordions and harmonica ``reed``, its choirs ``vocal``.

The qualities of a note are measured on its audio (:func:`measure_qualities`), except
``distortion``, which is the program's (overdriven and distortion guitar); ``multiphonic``,
``reverb`` and ``tempo-synced`` are never set (the player has no such effects).

Example
-------
>>> from coursekit.data.mini_nsynth_sampled import PROGRAMS, play_note
>>> PROGRAMS[0]
('keyboard', 'acoustic', 21, 108)
>>> y, q = play_note(0, 60, 100)                 # doctest: +SKIP
>>> y.shape, len(q)                              # doctest: +SKIP
((64000,), 10)
"""

from __future__ import annotations

import numpy as np

from .nsynth_format import HOLD_SECONDS, N_FRAMES, QUALITIES, SAMPLE_RATE

__all__ = ["PROGRAMS", "DISTORTED", "family_programs", "play_note", "measure_qualities", "instrument_gain"]


def _programs() -> dict:
    table = {}

    def add(programs, family, source, lo, hi):
        for p in programs:
            table[p] = (family, source, lo, hi)

    add([0, 1, 3], "keyboard", "acoustic", 21, 108)          # grand, bright, honky-tonk piano
    add([2], "keyboard", "electronic", 21, 108)              # electric grand
    add([4, 5], "keyboard", "electronic", 28, 103)           # electric pianos
    add([6], "keyboard", "acoustic", 29, 89)                 # harpsichord
    add([7], "keyboard", "electronic", 36, 96)               # clavinet
    add([8, 10], "mallet", "acoustic", 60, 96)               # celesta, music box
    add([9], "mallet", "acoustic", 72, 108)                  # glockenspiel
    add([11], "mallet", "acoustic", 53, 89)                  # vibraphone
    add([12], "mallet", "acoustic", 45, 96)                  # marimba
    add([13], "mallet", "acoustic", 65, 108)                 # xylophone
    add([14], "mallet", "acoustic", 60, 77)                  # tubular bells
    add([15], "mallet", "acoustic", 48, 96)                  # dulcimer
    add([47], "mallet", "acoustic", 36, 57)                  # timpani
    add([108], "mallet", "acoustic", 60, 84)                 # kalimba
    add([114], "mallet", "acoustic", 52, 88)                 # steel drums
    add([16, 17, 18], "organ", "electronic", 36, 96)         # drawbar, percussive, rock organ
    add([19, 20], "organ", "acoustic", 36, 96)               # church, reed organ
    add([21, 23], "reed", "acoustic", 53, 89)                # accordion, tango accordion
    add([22], "reed", "acoustic", 60, 96)                    # harmonica
    add([24, 25], "guitar", "acoustic", 40, 84)              # nylon, steel
    add([26, 27, 28, 29, 30, 31], "guitar", "electronic", 40, 84)
    add([104], "guitar", "acoustic", 48, 77)                 # sitar
    add([105], "guitar", "acoustic", 48, 84)                 # banjo
    add([106], "guitar", "acoustic", 50, 79)                 # shamisen
    add([107], "guitar", "acoustic", 55, 91)                 # koto
    add([32], "bass", "acoustic", 28, 67)                    # acoustic bass
    add([33, 34, 35, 36, 37], "bass", "electronic", 28, 67)  # electric basses
    add([38, 39], "bass", "synthetic", 28, 72)               # synth basses
    add([40, 110], "string", "acoustic", 55, 96)             # violin, fiddle
    add([41], "string", "acoustic", 48, 84)                  # viola
    add([42], "string", "acoustic", 36, 72)                  # cello
    add([43], "string", "acoustic", 28, 60)                  # contrabass
    add([44, 45, 48, 49], "string", "acoustic", 28, 96)      # tremolo, pizzicato, ensembles
    add([46], "string", "acoustic", 23, 103)                 # harp
    add([50, 51], "string", "synthetic", 28, 96)             # synth strings
    add([52, 53], "vocal", "acoustic", 40, 79)               # choir aahs, voice oohs
    add([54], "vocal", "synthetic", 40, 84)                  # synth voice
    add([85], "vocal", "synthetic", 48, 84)                  # voice lead
    add([56], "brass", "acoustic", 54, 87)                   # trumpet
    add([57], "brass", "acoustic", 40, 72)                   # trombone
    add([58], "brass", "acoustic", 28, 58)                   # tuba
    add([59], "brass", "acoustic", 54, 82)                   # muted trumpet
    add([60], "brass", "acoustic", 41, 77)                   # french horn
    add([61], "brass", "acoustic", 36, 84)                   # brass section
    add([62, 63], "brass", "synthetic", 36, 96)              # synth brass
    add([64], "reed", "acoustic", 56, 87)                    # soprano sax
    add([65], "reed", "acoustic", 49, 81)                    # alto sax
    add([66], "reed", "acoustic", 44, 76)                    # tenor sax
    add([67], "reed", "acoustic", 36, 69)                    # baritone sax
    add([68], "reed", "acoustic", 58, 91)                    # oboe
    add([69], "reed", "acoustic", 52, 81)                    # english horn
    add([70], "reed", "acoustic", 34, 72)                    # bassoon
    add([71], "reed", "acoustic", 50, 91)                    # clarinet
    add([109], "reed", "acoustic", 55, 77)                   # bagpipe
    add([111], "reed", "acoustic", 60, 91)                   # shanai
    add([72], "flute", "acoustic", 74, 108)                  # piccolo
    add([73, 74, 75, 78], "flute", "acoustic", 60, 96)       # flute, recorder, pan flute, whistle
    add([76, 79], "flute", "acoustic", 60, 84)               # blown bottle, ocarina
    add([77], "flute", "acoustic", 55, 86)                   # shakuhachi
    add([80, 81, 82, 83, 84, 86, 87], "synth_lead", "synthetic", 36, 96)
    add(range(88, 96), "synth_lead", "synthetic", 36, 96)    # pads
    return dict(sorted(table.items()))


#: General MIDI program -> (NSynth family, source, lowest key, highest key).
PROGRAMS = _programs()
#: Programs whose notes carry the ``distortion`` quality.
DISTORTED = (29, 30)


def family_programs(family: str) -> list[int]:
    """The General MIDI programs of one NSynth family, in program order."""
    return [p for p, spec in PROGRAMS.items() if spec[0] == family]


def instrument_gain(program: int) -> float:
    """One gain per instrument so that its loudest note (velocity 127) peaks near 0.8.

    The notes keep their loudness relative to each other (velocity and register), as in NSynth.
    """
    from .soundfont import SoundFont

    sf = SoundFont.general_midi()
    _, _, lo, hi = PROGRAMS[program]
    peak = max(float(np.abs(sf.note(program, k, 127, HOLD_SECONDS, 0.0, SAMPLE_RATE)[:SAMPLE_RATE]).max())
               for k in (lo, (lo + hi) // 2, hi))
    return 0.8 / peak if peak > 0 else 1.0


def play_note(program: int, pitch: int, velocity: int, gain: float = 1.0) -> tuple[np.ndarray, list[int]]:
    """One NSynth note of a General MIDI program: 3 s held, 1 s released, 16 kHz.

    Returns
    -------
    (numpy.ndarray, list of int)
        64000 float32 samples in −1..1 and the 10 qualities (0/1, in the order of ``QUALITIES``).
    """
    from .soundfont import SoundFont

    y = SoundFont.general_midi().note(program, pitch, velocity, HOLD_SECONDS,
                                      N_FRAMES / SAMPLE_RATE - HOLD_SECONDS, SAMPLE_RATE)[:N_FRAMES]
    y = y * np.float32(gain)
    peak = float(np.abs(y).max())
    if peak > 0.99:                               # never clip: a rare loud key is turned down
        y *= np.float32(0.99 / peak)
    return y.astype(np.float32), measure_qualities(y, pitch, distorted=program in DISTORTED)


def _levels_db(y: np.ndarray, frame: int = 400) -> np.ndarray:
    """Level of each 25 ms frame in dB (floor −120 dB)."""
    n = len(y) // frame
    rms = np.sqrt(np.mean(y[:n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-6))


def measure_qualities(y: np.ndarray, pitch: int, distorted: bool = False, sr: int = SAMPLE_RATE) -> list[int]:
    """NSynth's note qualities, measured on the audio of one 4 s note.

    - ``bright``/``dark``: the spectral centroid of the held part is at least 6 times, or at
      most 1.8 times, the fundamental;
    - ``percussive``: the first 50 ms are at least 6 dB louder than 0.2–0.5 s;
    - ``fast_decay``: the note is 40 dB below its peak before the key is let go (3 s);
    - ``long_release``: 0.5 s after key-up it is less than 30 dB below its level at key-up;
    - ``nonlinear_env``: after the first 0.3 s the level rises by 3 dB or more at least four
      times (tremolo, re-articulation);
    - ``distortion`` is given by the program.
    """
    q = dict.fromkeys(QUALITIES, 0)
    lv = _levels_db(y)                                     # 25 ms frames
    peak = lv.max()
    if peak <= -100:
        return [0] * len(QUALITIES)
    held = y[: int(HOLD_SECONDS * sr)].astype(np.float64)
    spec = np.abs(np.fft.rfft(held * np.hanning(len(held)))) ** 2
    freqs = np.fft.rfftfreq(len(held), 1 / sr)
    centroid = float((freqs * spec).sum() / max(spec.sum(), 1e-20))
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    q["bright"] = int(centroid >= 6 * f0)
    q["dark"] = int(centroid <= 1.8 * f0)
    q["percussive"] = int(lv[:2].max() >= lv[8:20].max() + 6)
    key_up = int(HOLD_SECONDS * sr / 400) - 1              # the last frame before key-up
    q["fast_decay"] = int(lv[key_up] <= peak - 40)
    q["long_release"] = int(not q["fast_decay"] and lv[key_up + 20] >= lv[key_up] - 30)
    rises = np.diff(lv[12:key_up])
    q["nonlinear_env"] = int((rises >= 3).sum() >= 4)
    q["distortion"] = int(distorted)
    return [q[name] for name in QUALITIES]
