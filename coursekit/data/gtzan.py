"""GTZAN: 1000 thirty-second clips, 100 for each of ten genres (Tzanetakis & Cook, 2002).

On disk (as the archive unpacks)::

    genres/
        blues/blues.00000.wav ... blues.00099.wav
        classical/...
        ...
        rock/rock.00099.wav

22050 Hz, mono, 16-bit. The Kaggle copy unpacks to ``Data/genres_original/<genre>/`` instead;
the original archive held ``.au`` files of the same audio. Every function here accepts the
folder holding ``genres/``, the folder holding ``Data/genres_original/``, or the ``genres/``
folder itself.

Pitfalls the course meets on purpose:

- clip lengths differ slightly (661504 to 664180 frames in the real data), so whole clips do
  not stack into a batch: take fixed-length segments;
- ``jazz.00054.wav`` is corrupt in common copies: the reader skips any unreadable clip and says
  so in one line, it never crashes the loader;
- GTZAN has no official split and contains repeated and mislabelled excerpts (Sturm, 2013), so
  accuracy numbers on it are optimistic.

Example
-------
>>> from coursekit.data.gtzan import GTZAN
>>> ds = GTZAN("datasets/mini-smoke", segment_seconds=1.0)     # doctest: +SKIP
>>> item = ds[0]                                                 # doctest: +SKIP
>>> item["audio"].shape, item["genre_str"]                       # doctest: +SKIP
(torch.Size([22050]), 'blues')
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .. import audio as _audio

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae",
          "rock")
SAMPLE_RATE = 22050
AUDIO_EXTENSIONS = (".wav", ".au")
# Files known to be broken in widely circulated copies, and what is wrong with them.
KNOWN_DEFECTS = {
    "jazz.00054.wav": "a known GTZAN defect: this file is corrupt in common copies "
                      "(e.g. Kaggle's Data/genres_original) and cannot be decoded",
}
# What a clip must look like. Real clips are 16-bit PCM of 30.0 to 30.7 s; a clip outside
# +-5 % of the expected length is a truncated or wrongly cut file. A clip whose peak stays under
# -60 dBFS (about 33 steps of 16-bit) holds no music.
CLIP_SECONDS = 30.0
DURATION_TOLERANCE = 0.05
SILENCE_PEAK = 1e-3
SUBTYPE = "PCM_16"
_SUBTYPE_WORDS = {"PCM_U8": "8-bit", "PCM_S8": "8-bit", "ULAW": "8-bit mu-law",
                  "ALAW": "8-bit A-law", "PCM_24": "24-bit", "PCM_32": "32-bit integer",
                  "FLOAT": "32-bit float", "DOUBLE": "64-bit float"}
_CLIP_NAME = re.compile(r"^(?P<genre>[a-z]+)\.(?P<number>\d{5})\.(?P<ext>wav|au)$")

LAYOUTS_HELP = ("give the folder that holds 'genres/' (the original archive), the folder that "
                "holds 'Data/genres_original/' (the Kaggle copy), or the 'genres/' folder itself "
                "(it holds one folder per genre: blues/, classical/, ...)")


# ---------------------------------------------------------------------------------------------
# Finding the clips
# ---------------------------------------------------------------------------------------------

def _looks_like_genres_dir(d: Path) -> bool:
    return d.is_dir() and any((d / g).is_dir() for g in GENRES)


def find_genres_dir(folder) -> Path:
    """The folder holding one sub-folder per genre.

    Accepts the three layouts GTZAN comes in: ``folder/genres/``, ``folder/Data/genres_original/``
    or ``folder`` being the genres folder itself.

    Raises
    ------
    FileNotFoundError
        When ``folder`` does not exist or matches none of the layouts (the message lists them).

    Example
    -------
    >>> find_genres_dir("/data/gtzan")          # doctest: +SKIP
    PosixPath('/data/gtzan/genres')
    """
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such folder; {LAYOUTS_HELP}")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: is a file, not a folder; {LAYOUTS_HELP}")
    for candidate in (folder / "genres", folder / "Data" / "genres_original",
                      folder / "genres_original", folder):
        if _looks_like_genres_dir(candidate):
            return candidate
    raise FileNotFoundError(f"{folder}: not a GTZAN folder (no genre folders such as blues/ found "
                            f"in it, in genres/ or in Data/genres_original/); {LAYOUTS_HELP}")


def parse_clip_name(name: str) -> tuple[str, int] | None:
    """``'jazz.00054.wav'`` -> ``('jazz', 54)``; ``None`` when the name is not a GTZAN clip name."""
    m = _CLIP_NAME.match(name)
    if m is None or m["genre"] not in GENRES:
        return None
    return m["genre"], int(m["number"])


def list_clips(folder, genres=None) -> list[Path]:
    """Every clip ``<genre>/<genre>.NNNNN.wav`` (or ``.au``), sorted by genre then number.

    Parameters
    ----------
    folder : str or Path
        Any of the layouts accepted by :func:`find_genres_dir`.
    genres : str or list of str, optional
        Keep only these genres (default: all ten).

    Files whose name does not follow the pattern, or whose genre prefix differs from their
    folder, are left out (:func:`check_gtzan` names them).

    Example
    -------
    >>> clips = list_clips("/data/gtzan", genres=["jazz", "rock"])   # doctest: +SKIP
    >>> clips[0].name                                                  # doctest: +SKIP
    'jazz.00000.wav'
    """
    genres = _check_genres(genres)
    root = find_genres_dir(folder)
    clips = []
    for genre in genres:
        d = root / genre
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            parsed = parse_clip_name(p.name)
            if parsed is not None and parsed[0] == genre and p.is_file():
                clips.append(p)
    return clips


def _check_genres(genres) -> tuple[str, ...]:
    if genres is None:
        return GENRES
    if isinstance(genres, str):
        genres = [genres]
    genres = tuple(genres)
    unknown = [g for g in genres if g not in GENRES]
    if unknown:
        raise ValueError(f"unknown GTZAN genre(s) {unknown}; choose from {', '.join(GENRES)}")
    return genres


def genre_of(path) -> str:
    """The genre of a clip, read from its file name (``rock.00012.wav`` -> ``'rock'``)."""
    parsed = parse_clip_name(Path(path).name)
    if parsed is None:
        raise ValueError(f"{path}: not a GTZAN clip name (expected <genre>.NNNNN.wav)")
    return parsed[0]


def _why_unreadable(path: Path, err: Exception) -> str:
    reason = str(err)
    if reason.startswith(f"{path}: "):  # coursekit.audio's messages start with the path
        reason = reason[len(f"{path}: "):]
    if path.name in KNOWN_DEFECTS:
        reason += f" ({KNOWN_DEFECTS[path.name]})"
    return reason


# ---------------------------------------------------------------------------------------------
# The torch Dataset
# ---------------------------------------------------------------------------------------------

try:  # torch is a dependency, but keep the readers importable without it
    from torch.utils.data import Dataset as _TorchDataset
except ImportError:  # pragma: no cover
    _TorchDataset = object


class GTZAN(_TorchDataset):
    """GTZAN clips as a torch Dataset of fixed-length segments.

    Parameters
    ----------
    folder : str or Path
        Any layout accepted by :func:`find_genres_dir` (real GTZAN or mini-GTZAN).
    genres : list of str, optional
        Keep only these genres. Labels stay the ids of :data:`GENRES` (``jazz`` is always 5).
    segment_seconds : float, optional
        Length of each item. ``None`` returns whole clips, whose lengths differ: use
        ``batch_size=1`` then, or set a segment length.
    sr : int
        Sample rate of the items (files are resampled when they differ). GTZAN is 22050 Hz.
    random_offset : bool
        ``True``: each access draws a random start (from torch's random generator, so
        ``torch.manual_seed`` and DataLoader workers control it). ``False``: fixed starts, the
        ``segments_per_clip`` segments spread evenly over the clip (one segment: the middle).
    segments_per_clip : int
        How many items each clip gives (``len(ds) == clips * segments_per_clip``).
    verbose : bool
        Print one line for each clip skipped because it cannot be read.

    Items are dicts: ``audio`` (float32 tensor ``(n,)``), ``genre`` (int id), ``genre_str``,
    ``path`` (str) and ``offset`` (seconds).

    Example
    -------
    >>> from torch.utils.data import DataLoader
    >>> ds = GTZAN("/data/gtzan", genres=["jazz", "metal"], segment_seconds=3.0)  # doctest: +SKIP
    >>> batch = next(iter(DataLoader(ds, batch_size=8, shuffle=True)))           # doctest: +SKIP
    >>> batch["audio"].shape                                                       # doctest: +SKIP
    torch.Size([8, 66150])
    """

    def __init__(self, folder, genres=None, segment_seconds: float | None = None,
                 sr: int = SAMPLE_RATE, random_offset: bool = False, segments_per_clip: int = 1,
                 verbose: bool = True):
        if segment_seconds is not None and segment_seconds <= 0:
            raise ValueError(f"segment_seconds must be > 0 (or None for whole clips), got {segment_seconds}")
        if segments_per_clip < 1:
            raise ValueError(f"segments_per_clip must be >= 1, got {segments_per_clip}")
        if segment_seconds is None and segments_per_clip != 1:
            raise ValueError("segments_per_clip > 1 needs a segment_seconds")
        self.genres = _check_genres(genres)
        self.root = find_genres_dir(folder)
        self.sr = int(sr)
        self.segment_seconds = segment_seconds
        self.random_offset = bool(random_offset)
        self.segments_per_clip = int(segments_per_clip)
        self.verbose = verbose

        # Read every header once (fast: no samples are decoded) to know each clip's duration
        # and to drop the unreadable ones up front.
        self.clips: list[Path] = []
        self.durations: list[float] = []
        self.skipped: list[tuple[Path, str]] = []
        for p in list_clips(self.root, self.genres):
            try:
                i = _audio.info(p)
                if i["frames"] == 0:
                    raise _audio.AudioError("the file holds no audio (0 frames)")
            except (_audio.AudioError, OSError) as err:
                self._skip(p, _why_unreadable(p, err))
                continue
            self.clips.append(p)
            self.durations.append(i["duration"])
        if not self.clips:
            raise FileNotFoundError(f"{self.root}: no readable clip of genre(s) {', '.join(self.genres)}")
        self.labels = [GENRES.index(genre_of(p)) for p in self.clips]

    def _skip(self, path: Path, reason: str) -> None:
        self.skipped.append((path, reason))
        if self.verbose:
            print(f"GTZAN: skipping {path.parent.name}/{path.name}: {reason}")

    def __len__(self) -> int:
        return len(self.clips) * self.segments_per_clip

    def _offset(self, clip: int, segment: int) -> float:
        room = max(0.0, self.durations[clip] - self.segment_seconds)
        if self.random_offset:
            import torch

            return float(torch.rand(()).item()) * room
        k = self.segments_per_clip
        return room / 2 if k == 1 else room * segment / (k - 1)

    def _read(self, clip: int, segment: int) -> tuple[np.ndarray, float]:
        path = self.clips[clip]
        if self.segment_seconds is None:
            y, _ = _audio.load(path, sr=self.sr)
            return y, 0.0
        offset = self._offset(clip, segment)
        y, _ = _audio.load(path, sr=self.sr, offset=offset, duration=self.segment_seconds)
        # resampling and short clips can leave a sample more or less: make every item equal
        return _audio.fix_length(y, int(round(self.segment_seconds * self.sr))), offset

    def __getitem__(self, index: int) -> dict:
        import torch

        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        clip, segment = divmod(index, self.segments_per_clip)
        # A clip whose header was fine may still fail to decode: report it and give the next
        # readable clip instead of crashing the whole training run.
        for attempt in range(len(self.clips)):
            c = (clip + attempt) % len(self.clips)
            try:
                y, offset = self._read(c, segment)
            except (_audio.AudioError, RuntimeError, OSError) as err:
                if all(p != self.clips[c] for p, _ in self.skipped):
                    self._skip(self.clips[c], _why_unreadable(self.clips[c], err))
                continue
            p = self.clips[c]
            return {"audio": torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)),
                    "genre": self.labels[c], "genre_str": GENRES[self.labels[c]],
                    "path": str(p), "offset": offset}
        raise RuntimeError(f"{self.root}: none of the clips can be decoded")

    def counts(self) -> dict:
        """Number of readable clips per genre."""
        out = {g: 0 for g in self.genres}
        for label in self.labels:
            out[GENRES[label]] += 1
        return out


# ---------------------------------------------------------------------------------------------
# Checking a folder
# ---------------------------------------------------------------------------------------------

def expected_seconds(genres_dir, durations=()) -> float:
    """How long each clip of ``genres_dir`` should be.

    A mini-GTZAN's own length when the mark of
    :func:`coursekit.data.mini_gtzan.make_mini_gtzan` is there; otherwise the length, of real
    GTZAN's 30 s and the mini sizes', nearest to the median of ``durations`` (a copy of a
    mini-GTZAN made without its mark), 30 s when there are none.
    """
    import json

    from .download import MARKER
    from .mini_gtzan import SIZES

    try:
        made = json.loads((Path(genres_dir) / MARKER).read_text(encoding="utf-8"))
        return float(SIZES[made["size"]]["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if not len(durations):
        return CLIP_SECONDS
    lengths = {CLIP_SECONDS, *(float(v["seconds"]) for v in SIZES.values())}
    median = float(np.median(durations))
    return min(lengths, key=lambda x: abs(np.log(x / median)))


def _scan(path: Path) -> tuple[bool, float]:
    """Whether every sample of ``path`` is finite, and its peak; read in blocks."""
    import soundfile as sf

    finite, peak = True, 0.0
    for block in sf.blocks(str(path), blocksize=1 << 16, dtype="float32", always_2d=True):
        ok = np.isfinite(block)
        finite = finite and bool(ok.all())
        if ok.any():
            peak = max(peak, float(np.abs(block[ok]).max()))
    return finite, peak


def clip_problems(path, info: dict, seconds: float = CLIP_SECONDS) -> list[str]:
    """What is wrong with the samples of one clip (format, length, NaN, silence); [] when fine.

    ``info`` is :func:`coursekit.audio.info` of ``path``; ``seconds`` the expected length.
    """
    out = []
    if info["subtype"] != SUBTYPE:
        word = _SUBTYPE_WORDS.get(info["subtype"], info["subtype"])
        out.append(f"{word} samples (GTZAN is 16-bit PCM)")
    d = info["duration"]
    if d < seconds * (1 - DURATION_TOLERANCE):
        out.append(f"too short: {d:.3g} s (the clips are {seconds:g} s): truncated?")
    elif d > seconds * (1 + DURATION_TOLERANCE):
        out.append(f"too long: {d:.4g} s (the clips are {seconds:g} s)")
    if d > 4 * seconds:
        return out  # not worth reading: it is wrong already
    try:
        finite, peak = _scan(Path(path))
    except Exception as err:  # soundfile's decoding errors
        return out + [f"unreadable samples: {str(err).splitlines()[0]}"]
    if not finite:
        out.append("holds NaN or infinite samples")
    if finite and peak < SILENCE_PEAK:
        level = f"{20 * np.log10(peak):.0f} dBFS" if peak > 0 else "all zeros"
        out.append(f"silent: its peak is {level}")
    return out


def check_gtzan(folder) -> tuple[dict, list[str]]:
    """Validate a GTZAN folder: counts, durations, and every problem, naming each file.

    Looks for: missing genre folders, unreadable files (the known ``jazz.00054.wav`` defect is
    named as such), a sample rate other than 22050 Hz, more than one channel, empty files,
    misnamed files (not ``<genre>.NNNNN.wav`` or filed under another genre), stray folders,
    and clips whose samples are wrong (:func:`clip_problems`): not 16-bit, more than 5 % shorter
    or longer than the clips should be (30 s; a mini-GTZAN's own length), NaN, or silent.

    Returns
    -------
    counts : dict
        ``{genre: clips}`` for each genre, then ``total``, ``seconds_min``, ``seconds_max``,
        ``seconds_mean`` and ``folder``.
    problems : list of str
        One line per problem, each naming the file; empty when the folder is fine.

    Example
    -------
    >>> counts, problems = check_gtzan("/data/gtzan")     # doctest: +SKIP
    >>> problems                                           # doctest: +SKIP
    ['jazz/jazz.00054.wav: unreadable: ... (a known GTZAN defect: ...)']
    """
    root = find_genres_dir(folder)
    counts: dict = {}
    problems: list[str] = []
    durations, readable = [], []
    for genre in GENRES:
        d = root / genre
        if not d.is_dir():
            problems.append(f"{genre}/: missing genre folder")
            counts[genre] = 0
            continue
        n = 0
        for p in sorted(d.iterdir()):
            rel = f"{genre}/{p.name}"
            if p.name.startswith("."):
                continue  # hidden files (.DS_Store, ._ resource forks) are not clips
            if p.is_dir():
                problems.append(f"{rel}/: unexpected folder inside a genre folder")
                continue
            parsed = parse_clip_name(p.name)
            if parsed is None:
                problems.append(f"{rel}: misnamed: expected {genre}.NNNNN.wav (five digits)")
                continue
            if parsed[0] != genre:
                problems.append(f"{rel}: misnamed: a {parsed[0]} clip filed under {genre}/")
                continue
            try:
                i = _audio.info(p)
            except (_audio.AudioError, OSError) as err:
                problems.append(f"{rel}: unreadable: {_why_unreadable(p, err)}")
                continue
            if i["frames"] == 0:
                problems.append(f"{rel}: empty: the file holds no audio (0 frames)")
                continue
            if i["samplerate"] != SAMPLE_RATE:
                problems.append(f"{rel}: wrong sample rate {i['samplerate']} Hz (GTZAN is {SAMPLE_RATE} Hz)")
            if i["channels"] != 1:
                problems.append(f"{rel}: {i['channels']} channels (GTZAN is mono)")
            n += 1
            durations.append(i["duration"])
            readable.append((rel, p, i))
        counts[genre] = n
    seconds = expected_seconds(root, durations)
    for rel, p, i in readable:
        problems.extend(f"{rel}: {why}" for why in clip_problems(p, i, seconds))
    for p in sorted(root.iterdir()):
        if p.is_dir() and p.name not in GENRES and not p.name.startswith("."):
            problems.append(f"{p.name}/: not a GTZAN genre (genres are {', '.join(GENRES)})")
    counts["total"] = sum(counts[g] for g in GENRES)
    if durations:
        counts["seconds_min"] = round(min(durations), 3)
        counts["seconds_max"] = round(max(durations), 3)
        counts["seconds_mean"] = round(float(np.mean(durations)), 3)
    counts["folder"] = str(root)
    if counts["total"] == 0:
        problems.append(f"{root}: no readable clip found")
    return counts, problems
