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
  played by the General MIDI SoundFont's sampled instruments and the drum kit the genre uses
  (``sound="sampled"``, the default, see :mod:`coursekit.data.mini_gtzan_sampled`), or each a
  few lines of additive or subtractive synthesis with drums from noise and sine sweeps
  (``sound="additive"``). One seed composes the same song in either sound.

Every clip is an excerpt that starts somewhere inside its "song", like GTZAN's 30-second cuts,
and clip lengths vary by a few hundred samples as they do in the real data. Same seed, same
bytes.

The sounds (instruments, drums, the :class:`Song` mixing buffer) are in
:mod:`coursekit.data.mini_gtzan_sound`, the harmony, melodies and the ten genres in
:mod:`coursekit.data.mini_gtzan_genres`; this module composes one clip (:func:`compose_clip`)
and writes the dataset (:func:`make_mini_gtzan`). Every name of those two modules is importable
from here too.

Example
-------
>>> from coursekit.data.mini_gtzan import make_mini_gtzan
>>> root = make_mini_gtzan("/tmp/gtzan", size="smoke")        # doctest: +SKIP
>>> sorted(p.name for p in (root / "genres").iterdir())[:3]    # doctest: +SKIP
['blues', 'classical', 'country']
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from . import SOUNDS
from .gtzan import GENRES, SAMPLE_RATE
from .mini_gtzan_genres import (  # noqa: F401
    _CHORD, _DEGREES, _QUALITIES, BLUES, MAJOR, MAJOR_PENTA, MINOR, MINOR_PENTA, PEAK_LEVEL, STYLES,
    _blues, _classical, _country, _disco, _hiphop, _jazz, _metal, _nearest, _pcs, _pop, _reggae,
    _rock, chord_root, motif, parse_chord, voice,
)
from .mini_gtzan_sound import (  # noqa: F401
    _VELOCITY, Song, _bandpass, _env, _highpass, _hz, _lowpass, additive, drum, instrument,
    power_chord,
)

# clips per genre and seconds per clip for each size
SIZES = {
    "smoke": {"clips": 2, "seconds": 3.0},
    "default": {"clips": 10, "seconds": 10.0},
    "full": {"clips": 30, "seconds": 30.0},
}


def compose_clip(genre: str, seconds: float, seed: int, sr: int = SAMPLE_RATE,
                 sound: str = "sampled") -> np.ndarray:
    """One mini-GTZAN clip of ``genre``: float32 audio of about ``seconds`` seconds.

    The key, tempo, swing, patterns and where in the song the excerpt starts all come from
    ``seed``. The length is ``seconds`` plus up to 0.4 % (real GTZAN clips vary by up to 2676
    samples at 30 s). ``sound`` is ``"sampled"`` (the SoundFont's instruments and the genre's
    drum kit) or ``"additive"`` (synthesis).

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
    kit = 0
    if sound == "sampled":
        from .mini_gtzan_sampled import kit_for

        kit = kit_for(genre)
    song = Song(rng, n, sr, bpm, swing=float(rng.uniform(s_lo, s_hi)), swing16=swing16,
                start_bars=float(rng.integers(0, 8) + rng.choice([0.0, 0.5]) + rng.uniform(0, 0.1)),
                sound=sound, kit=kit)
    tonic = int(rng.integers(45, 57))  # A2 .. G#3
    y = fn(song, rng, tonic)
    peak = rng.uniform(*PEAK_LEVEL.get(genre, (0.6, 0.95)))
    return (y * (peak / (np.abs(y).max() + 1e-9))).astype(np.float32)


def _refuse_other_sound(genres_dir: Path, sound: str) -> None:
    """Raise ``ValueError`` (one line) if ``genres_dir`` holds mini-GTZAN made with another sound."""
    import json

    from .download import MARKER

    try:
        made = json.loads((genres_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    theirs = made.get("sound", "additive") if isinstance(made, dict) else sound  # older: additive
    if theirs != sound:
        raise ValueError(f"{genres_dir} holds mini-GTZAN made with sound {theirs!r}, not {sound!r}; "
                         f"delete it or pass --sound {theirs} (nothing was overwritten)")


def _clip_seed(seed: int, genre: str, index: int) -> int:
    # independent of the order clips are made in, stable across Python runs
    return zlib.crc32(f"mini-gtzan/{seed}/{genre}/{index}".encode())


def make_mini_gtzan(root, size: str = "default", seed: int = 0, verbose: bool = True,
                    sound: str = "sampled") -> Path:
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
    verbose : bool
        Show progress.
    sound : {'sampled', 'additive'}
        sampled: the General MIDI SoundFont's instruments and drum kits; additive: synthesis.

    Returns
    -------
    Path
        ``root`` (the folder holding ``genres/``).

    The clips are written to a temporary folder inside ``root`` and renamed into place at the
    end, so a reader never sees a half-written dataset. A ``genres/`` folder made earlier with
    the same size, seed and sound is kept as it is (delete it to make it again); one made with
    another size or seed is replaced; one made with another sound is refused (delete it first);
    one not made by coursekit (the real GTZAN) is never touched.
    """
    from .. import audio
    from .download import already_made, move_into_place, refuse_foreign

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    if sound not in SOUNDS:
        raise ValueError(f"unknown sound {sound!r}; choose one of {', '.join(SOUNDS)}")
    spec = SIZES[size]
    root = Path(root).expanduser()
    marker = {"generator": "coursekit mini-gtzan", "size": size, "seed": seed, "sound": sound}
    refuse_foreign(root / "genres")  # never overwrite a real dataset
    if already_made(root / "genres", marker):
        if verbose:
            print(f"{root / 'genres'} already holds mini-GTZAN ({size}, seed {seed}, {sound}); "
                  "delete it to make it again")
        return root
    _refuse_other_sound(root / "genres", sound)
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
            y = compose_clip(genre, spec["seconds"], _clip_seed(seed, genre, i), sound=sound)
            audio.save(tmp / "genres" / genre / f"{genre}.{i:05d}.wav", y, SAMPLE_RATE)
        move_into_place(tmp / "genres", root / "genres", marker=marker)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return root
