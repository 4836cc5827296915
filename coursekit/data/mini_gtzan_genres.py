"""The composition of mini-GTZAN: harmony (roman-numeral chords, scales), melodies, and the ten
genres, each a function that composes one excerpt into a
:class:`~coursekit.data.mini_gtzan_sound.Song` (:data:`STYLES` gives each one's tempo range and
swing, :data:`PEAK_LEVEL` its mastering level). Importable from :mod:`coursekit.data.mini_gtzan`
too.
"""

from __future__ import annotations

import re

import numpy as np

from .mini_gtzan_sound import Song, _lowpass

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
