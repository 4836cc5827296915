"""The sampled sounds of mini-GTZAN: every instrument and drum played by the General MIDI
SoundFont (:mod:`coursekit.data.soundfont`), the way a producer sequences a song on a sampler.

:class:`~coursekit.data.mini_gtzan_sound.Song` calls these functions instead of the additive
ones when it is made with ``sound="sampled"``; the composition (patterns, harmony, mixing,
master) is the same. Each instrument name of
:func:`~coursekit.data.mini_gtzan_sound.instrument` is one General MIDI program:

============  ====  ===========================================================================
name          GM    why
============  ====  ===========================================================================
piano            0  Acoustic Grand: blues comping, classical, jazz comping, pop keys
epiano           4  Electric Piano 1 (a Rhodes): the hip-hop chords, pop keys
organ           16  Drawbar Organ: the reggae "bubble" is a Hammond
strings         48  String Ensemble 1: classical, the disco string pads
pluck           25  Acoustic Guitar (steel): the country strum
twang           27  Electric Guitar (clean): blues licks, chicken pickin', disco and reggae chops
bass            33  Electric Bass (finger): blues, country, pop, reggae, rock, metal
synth_bass      39  Synth Bass 2: the disco octave bass (bright, many harmonics)
sub             38  Synth Bass 1: in this SoundFont nearly a sine at low keys, an 808 sub
upright         32  Acoustic Bass: the jazz walking bass
lead            81  Lead 2 (sawtooth): the pop topline synth
fiddle         110  Fiddle: country
sax             65  Alto Sax: the jazz line reaches A♭5, above a tenor's range
power           30  Distortion Guitar for metal (``drive`` >= 10), 29 Overdriven Guitar for
                    rock: one note per chord tone; palm muting damps the notes and the cabinet
============  ====  ===========================================================================

Drums are General MIDI percussion keys (bank 128) in a kit chosen per genre (:data:`KITS`):
TR-808 (program 25) for hip-hop, Power (16) for rock and metal, Brush (40) for jazz, Standard
(0) for the rest; a kit the SoundFont lacks falls back to Standard.

==========  ====  =============================================================================
name        key   sound
==========  ====  =============================================================================
kick          36  Bass Drum 1 (the long boom of the TR-808 kit in hip-hop)
kick_metal    35  Acoustic Bass Drum: the tight double kick of metal
snare         38  Acoustic Snare (a brush tap in the Brush kit: jazz comping)
clap          39  Hand Clap
brush         38  in the Brush kit (Brush Tap) whatever the genre's kit; a soft snare without it
rim           37  Side Stick: reggae's cross-stick
hat           42  Closed Hi-Hat
hat_open      46  Open Hi-Hat
ride          51  Ride Cymbal 1
crash         49  Crash Cymbal 1
==========  ====  =============================================================================

Every note and hit is scaled to the same peak the additive one has, so the genres' mix
balance holds; the SoundFont's velocity still changes the timbre (soft notes are darker, and
some presets switch samples with velocity).

Example
-------
>>> from coursekit.data.mini_gtzan_sampled import sampled_note
>>> y = sampled_note("piano", 60, held=0.5, ring=0.1, vel=0.8, sr=22050)   # doctest: +SKIP
>>> float(abs(y).max())                                                   # doctest: +SKIP
0.85
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["PROGRAMS", "DRUM_KEYS", "KITS", "POWER_PROGRAMS", "sampled_note", "sampled_power_chord",
           "sampled_drum", "kit_for", "midi_velocity"]

#: instrument name -> General MIDI program (bank 0)
PROGRAMS = {
    "piano": 0, "epiano": 4, "organ": 16, "strings": 48, "pluck": 25, "twang": 27, "bass": 33,
    "synth_bass": 39, "sub": 38, "upright": 32, "lead": 81, "fiddle": 110, "sax": 65,
}
#: power chords: Distortion Guitar when the additive drive is high (metal), else Overdriven (rock)
POWER_PROGRAMS = {"distortion": 30, "overdrive": 29}
DISTORTION_DRIVE = 10.0
#: drum name -> General MIDI percussion key (bank 128)
DRUM_KEYS = {
    "kick": 36, "kick_metal": 35, "snare": 38, "clap": 39, "brush": 38, "rim": 37, "hat": 42,
    "hat_open": 46, "ride": 51, "crash": 49,
}
#: genre -> drum kit program (bank 128); genres not named play the Standard kit (0)
KITS = {"hiphop": 25, "metal": 16, "rock": 16, "jazz": 40}
BRUSH_KIT = 40
STANDARD_KIT = 0
#: how long each drum rings before it is let go (seconds; the additive hits' lengths)
DRUM_SECONDS = {"kick": 0.4, "kick_metal": 0.4, "snare": 0.3, "clap": 0.35, "brush": 0.2,
                "rim": 0.08, "hat": 0.05, "hat_open": 0.45, "ride": 1.2, "crash": 1.8}
RELEASE_S = 0.25   # what a melodic note rings on after the additive note would have ended
FADE_S = 0.03      # the cosine fade that ends every rendered sound


def _soundfont():
    from .soundfont import SoundFont

    return SoundFont.general_midi()


def midi_velocity(vel: float) -> int:
    """A velocity 0..1 of the composition as a MIDI velocity 16..127."""
    return int(np.clip(round(16 + 111 * float(vel)), 1, 127))


def kit_for(genre: str) -> int:
    """The drum kit program (bank 128) a genre plays, Standard if the SoundFont lacks it."""
    from .soundfont import DRUM_BANK

    kit = KITS.get(genre, STANDARD_KIT)
    return kit if (DRUM_BANK, kit) in _soundfont().presets else STANDARD_KIT


def _finish(y: np.ndarray, sr: int, level: float) -> np.ndarray:
    """Fade the end out, then scale to peak ``level`` (float64, like the additive sounds)."""
    y = np.asarray(y, dtype=np.float64)
    k = min(len(y), max(1, int(FADE_S * sr)))
    y[len(y) - k:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, k))
    peak = np.abs(y).max()
    return y / peak * level if peak > 0 else y


def sampled_note(name: str, midi: int, held: float, ring: float, vel: float, sr: int) -> np.ndarray:
    """One note of instrument ``name`` from the SoundFont, peak ``0.25 + 0.75 vel``.

    Parameters
    ----------
    name : str
        An instrument of :data:`PROGRAMS`.
    midi : int
        MIDI key.
    held, ring : float
        Seconds the key is held, and seconds the note rings after (plus :data:`RELEASE_S`, so
        the SoundFont's release is heard, then faded).
    vel : float
        Velocity 0..1 (its MIDI velocity picks the sample layer and the brightness).
    sr : int
        Sample rate.

    Returns
    -------
    numpy.ndarray
        float64, ``round((held + ring + RELEASE_S) * sr)`` samples.

    Example
    -------
    >>> y = sampled_note("bass", 40, held=0.3, ring=0.1, vel=1.0, sr=22050)   # doctest: +SKIP
    >>> round(float(abs(y).max()), 2)                                        # doctest: +SKIP
    1.0
    """
    if name not in PROGRAMS:
        raise ValueError(f"unknown instrument {name!r}; choose from {', '.join(PROGRAMS)}")
    y = _soundfont().note(PROGRAMS[name], int(midi), midi_velocity(vel), held,
                          release=ring + RELEASE_S, sr=sr)
    return _finish(y, sr, 0.25 + 0.75 * vel)


def sampled_power_chord(notes, held: float, ring: float, vel: float, sr: int, drive: float = 8.0,
                        mute: bool = False) -> np.ndarray:
    """A power chord on the SoundFont's overdriven or distorted guitar, peak ``0.3 + 0.7 vel``.

    One guitar note per chord tone; ``drive`` >= 10 picks the Distortion Guitar (metal), lower
    the Overdriven Guitar (rock). ``mute`` is palm muting: the strings are damped (a fast decay)
    and darker, as in :func:`~coursekit.data.mini_gtzan_sound.power_chord`.

    Example
    -------
    >>> y = sampled_power_chord([40, 47, 52], 0.2, 0.1, 0.9, 22050, drive=14.0)  # doctest: +SKIP
    """
    from .mini_gtzan_sound import _lowpass

    program = POWER_PROGRAMS["distortion" if drive >= DISTORTION_DRIVE else "overdrive"]
    sf = _soundfont()
    y = sum(sf.note(program, int(m), midi_velocity(vel), held, release=ring + RELEASE_S, sr=sr)
            .astype(np.float64) for m in notes)
    if mute:
        t = np.arange(len(y)) / sr
        y = _lowpass(y * np.exp(-t * 12.0), 3500, sr)
    return _finish(y, sr, 0.3 + 0.7 * vel)


@functools.lru_cache(maxsize=512)
def _hit(name: str, kit: int, velocity: int, sr: int) -> np.ndarray:
    from .soundfont import DRUM_BANK

    sf = _soundfont()
    key = DRUM_KEYS[name]
    if name == "brush":
        if (DRUM_BANK, BRUSH_KIT) in sf.presets:
            kit = BRUSH_KIT
        else:                                   # no brushes: a snare played softly
            velocity = max(1, velocity // 2)
    y = sf.note(kit, key, velocity, DRUM_SECONDS[name], release=0.15, sr=sr, bank=DRUM_BANK)
    y = _finish(y, sr, 1.0)
    y.setflags(write=False)
    return y


def sampled_drum(name: str, vel: float, sr: int, kit: int = STANDARD_KIT) -> np.ndarray:
    """One drum hit from kit ``kit`` (bank 128), peak 1 like the additive hits.

    ``vel`` (0..1) picks the MIDI velocity, in steps of 8, so soft hits sound softer (darker,
    another velocity layer); the level is the caller's, as with the additive hits. Hits are
    cached (read-only arrays).

    Example
    -------
    >>> y = sampled_drum("snare", 0.75, 22050, kit=0)                          # doctest: +SKIP
    """
    if name not in DRUM_KEYS:
        raise ValueError(f"unknown drum {name!r}; choose from {', '.join(DRUM_KEYS)}")
    velocity = int(np.clip(8 * round(midi_velocity(vel) / 8), 8, 127))
    return _hit(name, int(kit), velocity, int(sr))
