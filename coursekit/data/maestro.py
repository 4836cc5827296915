"""MAESTRO: piano performances with audio and finely aligned MIDI (Hawthorne et al., 2019).

On disk (v3.0.0, as the archive unpacks)::

    maestro-v3.0.0/
        maestro-v3.0.0.csv      canonical_composer, canonical_title, split, year,
        maestro-v3.0.0.json     midi_filename, audio_filename, duration (the same, column-oriented)
        2004/ ... 2018/         <name>.midi and <name>.wav (44.1 or 48 kHz, 16-bit, stereo)

The MIDI comes from Yamaha Disklavier pianos: note on/off with velocities, and pedals as control
changes (64 sustain, 66 sostenuto, 67 soft / una corda). Splits are by composition: the same
piece never appears in two splits, so keep to them.

Pitfalls the course meets on purpose:

- the metadata comes in three shapes (v3 CSV, v3 column-oriented JSON, v2 list of records);
  :func:`read_metadata` reads all three, with the ``csv`` module (titles hold commas, doubled
  quotes and non-ASCII names, so never split lines on commas yourself);
- a key released while the sustain pedal is down keeps sounding: note offsets from the MIDI are
  not when the sound stops (:func:`apply_sustain`);
- audio is 44.1 or 48 kHz *stereo* and pieces last minutes: models take mono segments at a lower
  rate, aligned with the MIDI of the same span (:class:`Maestro`).

Example
-------
>>> from coursekit.data.maestro import read_metadata, Maestro
>>> rows = read_metadata("maestro-v3.0.0", split="test")               # doctest: +SKIP
>>> ds = Maestro("maestro-v3.0.0", split="test", segment_seconds=4.0)   # doctest: +SKIP
>>> item = ds[0]; item["audio"].shape, item["roll"].shape              # doctest: +SKIP
(torch.Size([64000]), torch.Size([88, 400]))
"""

from __future__ import annotations

import csv
import functools
import json
import unicodedata
import warnings
from pathlib import Path

import numpy as np

from .. import audio as _audio

SPLITS = ("train", "validation", "test")
FIELDS = ("canonical_composer", "canonical_title", "split", "year", "midi_filename",
          "audio_filename", "duration")
METADATA_NAMES = ("maestro-v3.0.0.csv", "maestro-v3.0.0.json", "maestro-v2.0.0.json",
                  "maestro-v2.0.0.csv", "maestro-v1.0.0.json", "maestro-v1.0.0.csv")
AUDIO_RATES = (44100, 48000)
LOWEST, HIGHEST = 21, 108  # A0 and C8: the 88 keys
SUSTAIN, SOSTENUTO, SOFT = 64, 66, 67


# ---------------------------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------------------------

def find_metadata(folder_or_file) -> Path:
    """The metadata file: ``folder_or_file`` itself, or the one found in the folder.

    In a folder, ``maestro-v3.0.0.csv`` is preferred, then the v3 JSON, then older versions,
    then any single ``maestro-*.csv`` / ``maestro-*.json``.
    """
    p = Path(folder_or_file).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder; give the maestro-v3.0.0/ folder "
                                "(as the archive unpacks) or its .csv/.json metadata file")
    if p.is_file():
        return p
    for name in METADATA_NAMES:
        if (p / name).is_file():
            return p / name
    others = sorted(p.glob("maestro-*.csv")) + sorted(p.glob("maestro-*.json"))
    if others:
        return others[0]
    raise FileNotFoundError(f"{p}: no MAESTRO metadata here (expected maestro-v3.0.0.csv or "
                            "maestro-v3.0.0.json); give the maestro-v3.0.0/ folder as the archive "
                            "unpacks it")


def _typed(row: dict, where: str) -> dict:
    missing = [f for f in FIELDS if f not in row]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}; MAESTRO metadata has "
                         f"{', '.join(FIELDS)}")
    out = {f: row[f] for f in FIELDS}
    try:
        out["year"] = int(out["year"])
        out["duration"] = float(out["duration"])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: year {row['year']!r} or duration {row['duration']!r} is not a "
                         "number") from None
    for f in ("canonical_composer", "canonical_title", "split", "midi_filename", "audio_filename"):
        out[f] = "" if out[f] is None else str(out[f])
    return out


def _read_csv(path: Path) -> list[dict]:
    # utf-8-sig also accepts a byte-order mark (Excel writes one); newline="" lets the csv
    # module handle line breaks inside quoted titles
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in FIELDS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not MAESTRO metadata: column(s) {', '.join(missing)} missing "
                             f"(header is {reader.fieldnames})")
        return [_typed(r, f"{path.name} line {reader.line_num}") for r in reader]


def _read_json(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, list):  # v1/v2: a list of records
        return [_typed(r, f"{path.name} record {i}") for i, r in enumerate(data)]
    if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
        # v3: column-oriented, {"field": {"0": value, "1": value, ...}, ...}
        missing = [c for c in FIELDS if c not in data]
        if missing:
            raise ValueError(f"{path}: not MAESTRO metadata: field(s) {', '.join(missing)} missing")
        index = sorted(data[FIELDS[0]], key=int)
        return [_typed({f: data[f].get(i) for f in FIELDS}, f"{path.name} row {i}") for i in index]
    raise ValueError(f"{path}: not MAESTRO metadata: expected a list of records (v2) or an object "
                     "of columns (v3)")


def _fold(text: str) -> str:
    """Lower case without accents, so 'frederic chopin' finds 'Frédéric Chopin'."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def filter_rows(rows: list[dict], split=None, year=None, composer=None) -> list[dict]:
    """Keep rows of ``split`` (str or list), ``year`` (int or list) and ``composer`` (a part of
    the name, case- and accent-insensitive)."""
    if split is not None:
        splits = {split} if isinstance(split, str) else set(split)
        bad = splits - set(SPLITS)
        if bad:
            raise ValueError(f"unknown split(s) {sorted(bad)}; MAESTRO splits are {', '.join(SPLITS)}")
        rows = [r for r in rows if r["split"] in splits]
    if year is not None:
        years = {int(year)} if isinstance(year, (int, str)) else {int(y) for y in year}
        rows = [r for r in rows if r["year"] in years]
    if composer is not None:
        needle = _fold(composer)
        rows = [r for r in rows if needle in _fold(r["canonical_composer"])]
    return rows


def read_metadata(folder_or_file, split=None, year=None, composer=None) -> list[dict]:
    """Read MAESTRO metadata (v3 CSV, v3 column-oriented JSON or v2 list-of-records JSON).

    Parameters
    ----------
    folder_or_file : str or Path
        The ``maestro-v3.0.0/`` folder or a metadata file; the format is detected.
    split, year, composer : optional
        Filters, see :func:`filter_rows`.

    Returns
    -------
    list of dict
        One dict per performance with the seven fields of :data:`FIELDS`; ``year`` is an int,
        ``duration`` a float (seconds, from the MIDI), file names relative to the folder.

    Example
    -------
    >>> rows = read_metadata("maestro-v3.0.0")          # doctest: +SKIP
    >>> len(rows), rows[0]["canonical_composer"]         # doctest: +SKIP
    (1276, 'Alban Berg')
    """
    path = find_metadata(folder_or_file)
    if path.suffix.lower() == ".csv":
        rows = _read_csv(path)
    elif path.suffix.lower() == ".json":
        rows = _read_json(path)
    else:
        raise ValueError(f"{path}: MAESTRO metadata is a .csv or .json file")
    return filter_rows(rows, split, year, composer)


# ---------------------------------------------------------------------------------------------
# MIDI: notes, pedals, piano rolls
# ---------------------------------------------------------------------------------------------

def load_midi(path):
    """Parse a MIDI file with pretty_midi (clear errors for missing or broken files)."""
    import pretty_midi

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such MIDI file")
    try:
        return pretty_midi.PrettyMIDI(str(path))
    except Exception as err:
        raise ValueError(f"{path}: not a readable MIDI file ({type(err).__name__}: {err}); "
                         "re-download or re-generate it") from None


def midi_notes(midi) -> np.ndarray:
    """All notes of a performance: array ``(n, 4)`` of ``start, end, pitch, velocity``.

    Seconds for times, MIDI numbers for pitch, 1..127 for velocity; sorted by start then pitch.
    ``midi`` is a path or a ``pretty_midi.PrettyMIDI``.
    """
    if not hasattr(midi, "instruments"):
        midi = load_midi(midi)
    rows = [(n.start, n.end, n.pitch, n.velocity) for inst in midi.instruments
            if not inst.is_drum for n in inst.notes]
    notes = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


def pedal_events(midi, number: int = SUSTAIN) -> np.ndarray:
    """Control changes ``number`` (64 sustain, 66 sostenuto, 67 soft): array ``(m, 2)`` of
    ``time, value`` (value 0..127), sorted by time."""
    if not hasattr(midi, "instruments"):
        midi = load_midi(midi)
    rows = [(c.time, c.value) for inst in midi.instruments for c in inst.control_changes
            if c.number == number]
    ev = np.array(rows, dtype=np.float64).reshape(-1, 2)
    return ev[np.argsort(ev[:, 0], kind="stable")]


def pedal_intervals(events: np.ndarray, threshold: int = 64, end: float | None = None) -> np.ndarray:
    """Turn pedal events into ``(k, 2)`` intervals ``down, up`` (value >= ``threshold`` is down).

    A pedal still down after the last event is released at ``end`` (default: the last event).
    """
    out, down = [], None
    for t, v in np.asarray(events).reshape(-1, 2):
        if v >= threshold and down is None:
            down = t
        elif v < threshold and down is not None:
            out.append((down, t))
            down = None
    if down is not None:
        last = float(events[-1, 0]) if len(events) else down
        out.append((down, max(down, end if end is not None else last)))
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def apply_sustain(notes: np.ndarray, sustain: np.ndarray) -> np.ndarray:
    """Extend note offsets while the sustain pedal is down (how long the strings really ring).

    A key released while the pedal is down sounds until the pedal comes up; a string struck
    again ends the earlier note. ``sustain`` is the ``(k, 2)`` array of
    :func:`pedal_intervals`. Returns a new ``(n, 4)`` array.

    Example
    -------
    >>> notes = np.array([[0.0, 0.5, 60, 80], [1.0, 1.2, 60, 80]])
    >>> apply_sustain(notes, np.array([[0.2, 3.0]]))[:, 1].tolist()
    [1.0, 3.0]
    """
    notes = np.array(notes, dtype=np.float64).reshape(-1, 4)
    sustain = np.asarray(sustain, dtype=np.float64).reshape(-1, 2)
    if len(notes) == 0:
        return notes
    ends = notes[:, 1].copy()
    if len(sustain):
        i = np.searchsorted(sustain[:, 0], ends, side="right") - 1
        held = (i >= 0) & (ends < sustain[np.clip(i, 0, None), 1])
        ends[held] = np.maximum(ends[held], sustain[i[held], 1])
    # a re-struck key cuts the previous note of the same pitch
    order = np.lexsort((notes[:, 0], notes[:, 2]))
    for a, b in zip(order[:-1], order[1:]):
        if notes[a, 2] == notes[b, 2] and notes[b, 0] > notes[a, 0]:
            ends[a] = min(ends[a], notes[b, 0])
    out = notes.copy()
    out[:, 1] = np.maximum(ends, notes[:, 0])
    return out


def segment_notes(notes: np.ndarray, start: float, end: float) -> np.ndarray:
    """Notes sounding in ``[start, end)``, with times made relative to ``start``.

    A note already sounding at ``start`` keeps its (negative) start, so you can tell it was
    not struck inside the segment.
    """
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    keep = (notes[:, 0] < end) & (notes[:, 1] > start)
    out = notes[keep].copy()
    out[:, :2] -= start
    return out


def piano_roll(notes: np.ndarray, fps: float = 100.0, start: float = 0.0,
               end: float | None = None, velocity: bool = True, onsets: bool = False,
               low: int = LOWEST, high: int = HIGHEST) -> np.ndarray:
    """A piano roll: ``(high - low + 1, frames)``, one row per key (88 by default).

    Parameters
    ----------
    notes : (n, 4) array of start, end, pitch, velocity (seconds)
    fps : float
        Frames per second (100 is the usual 10 ms frame for transcription).
    start, end : float
        The time span to draw (default: from 0 to the last note's end).
    velocity : bool
        Cells hold velocity / 127 (else 1 where a key is down).
    onsets : bool
        Mark only the frame where each note starts (notes struck inside the span).

    Example
    -------
    >>> roll = piano_roll(np.array([[0.0, 0.5, 60, 127]]), fps=10, end=1.0)
    >>> roll.shape, roll[60 - 21].tolist()
    ((88, 10), [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    """
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    if end is None:
        end = float(notes[:, 1].max()) if len(notes) else start
    frames = int(round((end - start) * fps))
    roll = np.zeros((high - low + 1, max(frames, 0)), dtype=np.float32)
    notes = notes[(notes[:, 0] < end) & (notes[:, 1] > start)]  # only what sounds in the span
    for s, e, p, v in notes:
        if not low <= p <= high:
            continue
        a = int(round((s - start) * fps))
        value = v / 127.0 if velocity else 1.0
        if onsets:
            if s >= start and 0 <= a < frames:
                roll[int(p) - low, a] = max(roll[int(p) - low, a], value)
            continue
        b = max(a + 1, int(round((e - start) * fps)))
        a, b = max(a, 0), min(b, frames)
        if b > a:
            row = roll[int(p) - low]
            row[a:b] = np.maximum(row[a:b], value)
    return roll


def pedal_roll(events: np.ndarray, fps: float = 100.0, start: float = 0.0,
               end: float = 0.0) -> np.ndarray:
    """The pedal position (0..1) in each frame of ``[start, end)`` from ``(m, 2)`` events."""
    frames = int(round((end - start) * fps))
    t = start + np.arange(max(frames, 0)) / fps
    events = np.asarray(events, dtype=np.float64).reshape(-1, 2)
    if len(events) == 0:
        return np.zeros(len(t), dtype=np.float32)
    i = np.searchsorted(events[:, 0], t, side="right") - 1
    return np.where(i >= 0, events[np.clip(i, 0, None), 1] / 127.0, 0.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The torch Dataset
# ---------------------------------------------------------------------------------------------

try:
    from torch.utils.data import Dataset as _TorchDataset
except ImportError:  # pragma: no cover
    _TorchDataset = object


@functools.lru_cache(maxsize=64)
def _parsed_midi(path: str, mtime_ns: int, sustain: bool) -> tuple[np.ndarray, np.ndarray]:
    # Parsing a long performance takes about a second: keep the last few (the modification
    # time in the key makes a changed file parse again).
    pm = load_midi(path)
    notes, ped = midi_notes(pm), pedal_events(pm, SUSTAIN)
    if sustain:
        notes = apply_sustain(notes, pedal_intervals(ped, end=pm.get_end_time()))
    notes.setflags(write=False)
    ped.setflags(write=False)
    return notes, ped


class Maestro(_TorchDataset):
    """MAESTRO performances as aligned (audio, MIDI) segments.

    Parameters
    ----------
    folder : str or Path
        ``maestro-v3.0.0/`` (real or mini) or its metadata file.
    split, year, composer : optional
        Metadata filters (:func:`filter_rows`). ``split=None`` keeps every split.
    segment_seconds : float or None
        Length of each item; ``None`` gives whole performances (minutes long: batch size 1).
    sr : int
        Audio sample rate of the items (the files are 44.1/48 kHz; 16 kHz is plenty for models).
    mono : bool
        Mix the stereo recordings down (items ``(n,)``); else ``(2, n)``.
    fps : float
        Frame rate of the piano rolls.
    sustain : bool
        Extend note offsets while the sustain pedal is down (:func:`apply_sustain`).
    random_offset : bool
        ``False``: the items are the consecutive segments of every performance.
        ``True``: ``segments_per_piece`` items per performance, each at a random start drawn
        from torch's generator at every access (so ``torch.manual_seed`` controls it).
    with_audio : bool
        ``False`` reads only the MIDI (the MIDI-only download ``maestro-midi``).
    verbose : bool

    Items are dicts: ``audio``, ``roll`` (``(88, frames)`` velocity/127), ``onsets``,
    ``pedal`` (sustain position per frame), ``notes`` (``(k, 4)``: start, end, pitch, velocity,
    seconds from the segment start), ``offset`` (seconds into the performance), and the
    metadata: ``composer``, ``title``, ``year``, ``split``, ``audio_path``, ``midi_path``.
    ``notes`` differ in length: use ``DataLoader(ds, collate_fn=Maestro.collate)``.

    Rows whose files are missing are dropped with one warning naming how many and the first few.
    """

    def __init__(self, folder, split="train", year=None, composer=None,
                 segment_seconds: float | None = 4.0, sr: int = 16000, mono: bool = True,
                 fps: float = 100.0, sustain: bool = True, random_offset: bool = False,
                 segments_per_piece: int = 1, with_audio: bool = True, verbose: bool = True):
        if segment_seconds is not None and segment_seconds <= 0:
            raise ValueError(f"segment_seconds must be > 0 (or None), got {segment_seconds}")
        if segments_per_piece < 1:
            raise ValueError(f"segments_per_piece must be >= 1, got {segments_per_piece}")
        meta = find_metadata(folder)
        self.folder = meta.parent
        self.sr, self.mono, self.fps, self.sustain = int(sr), mono, float(fps), sustain
        self.segment_seconds = segment_seconds
        self.random_offset = random_offset
        self.with_audio = with_audio
        rows = read_metadata(meta, split=split, year=year, composer=composer)

        kept, missing = [], []
        for r in rows:
            need = [r["midi_filename"]] + ([r["audio_filename"]] if with_audio else [])
            absent = [n for n in need if not (self.folder / n).is_file()]
            (missing if absent else kept).append((r, absent))
        if missing:
            names = ", ".join(a[0] for _, a in missing[:3])
            warnings.warn(f"MAESTRO: {len(missing)} of {len(rows)} performances dropped because "
                          f"their files are missing from {self.folder} (first: {names}"
                          f"{', ...' if len(missing) > 3 else ''})", stacklevel=2)
        self.rows = [r for r, _ in kept]
        if not self.rows:
            raise FileNotFoundError(f"{self.folder}: no performance with its files present for "
                                    f"split={split!r}, year={year!r}, composer={composer!r}")

        # how long each performance is: the audio decides when there is audio
        self.durations = []
        for r in self.rows:
            if with_audio:
                self.durations.append(_audio.info(self.folder / r["audio_filename"])["duration"])
            else:
                self.durations.append(r["duration"])
        self.index: list[tuple[int, float | None]] = []
        for i, d in enumerate(self.durations):
            if segment_seconds is None:
                self.index.append((i, 0.0))
            elif random_offset:
                self.index += [(i, None)] * segments_per_piece
            else:
                n = max(1, int(d // segment_seconds))
                self.index += [(i, k * segment_seconds) for k in range(n)]

    def __len__(self) -> int:
        return len(self.index)

    def midi(self, piece: int) -> tuple[np.ndarray, np.ndarray]:
        """``(notes, sustain events)`` of performance ``piece`` (parsed once, then cached)."""
        path = self.folder / self.rows[piece]["midi_filename"]
        return _parsed_midi(str(path), path.stat().st_mtime_ns, self.sustain)

    def __getitem__(self, index: int) -> dict:
        import torch

        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        piece, offset = self.index[index]
        row, dur = self.rows[piece], self.durations[piece]
        seg = self.segment_seconds if self.segment_seconds is not None else dur
        if offset is None:
            offset = float(torch.rand(()).item()) * max(0.0, dur - seg)
        notes, ped = self.midi(piece)
        item = {"offset": float(offset), "composer": row["canonical_composer"],
                "title": row["canonical_title"], "year": row["year"], "split": row["split"],
                "midi_path": str(self.folder / row["midi_filename"]),
                "audio_path": str(self.folder / row["audio_filename"])}
        if self.with_audio:
            y, _ = _audio.load(self.folder / row["audio_filename"], sr=self.sr, mono=self.mono,
                               offset=offset, duration=seg)
            y = _audio.fix_length(y, int(round(seg * self.sr)))
            item["audio"] = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
        item["roll"] = torch.from_numpy(piano_roll(notes, self.fps, offset, offset + seg))
        item["onsets"] = torch.from_numpy(piano_roll(notes, self.fps, offset, offset + seg, onsets=True))
        item["pedal"] = torch.from_numpy(pedal_roll(ped, self.fps, offset, offset + seg))
        item["notes"] = torch.from_numpy(segment_notes(notes, offset, offset + seg).astype(np.float32))
        return item

    @staticmethod
    def collate(batch: list[dict]) -> dict:
        """Stack what has a fixed shape; keep ``notes`` and strings as lists."""
        import torch

        out = {}
        for key in batch[0]:
            values = [b[key] for b in batch]
            if key != "notes" and isinstance(values[0], torch.Tensor):
                out[key] = torch.stack(values)
            elif isinstance(values[0], (int, float)) and not isinstance(values[0], bool):
                out[key] = torch.tensor(values)
            else:
                out[key] = values
        return out


# ---------------------------------------------------------------------------------------------
# Checking a folder
# ---------------------------------------------------------------------------------------------

def midi_structure_problem(path) -> str | None:
    """A quick structural check of a Standard MIDI File without parsing its events.

    Checks the ``MThd`` header and that the declared number of ``MTrk`` chunks is there and
    fits in the file (which catches truncated downloads). ``None`` when it looks fine.
    """
    data = Path(path).read_bytes()
    if len(data) < 14 or data[:4] != b"MThd":
        return f"not a MIDI file (starts with {data[:4]!r}, a MIDI file starts with b'MThd')"
    hlen = int.from_bytes(data[4:8], "big")
    fmt, ntracks = int.from_bytes(data[8:10], "big"), int.from_bytes(data[10:12], "big")
    if fmt not in (0, 1, 2):
        return f"unknown MIDI format {fmt}"
    pos, found = 8 + hlen, 0
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "big")
        if pos + 8 + size > len(data):
            return f"truncated: chunk {kind!r} at byte {pos} needs {size} bytes, {len(data) - pos - 8} left"
        found += kind == b"MTrk"
        pos += 8 + size
    if found != ntracks:
        return f"the header announces {ntracks} tracks, the file holds {found}"
    return None


def check_maestro(folder, deep: bool = False) -> tuple[dict, list[str]]:
    """Validate a MAESTRO folder: metadata, every file it lists, their formats.

    Problems (each naming the file): unreadable metadata, CSV and JSON disagreeing, unknown
    splits, missing MIDI or WAV files, MIDI files that are not well-formed (``deep=True`` parses
    every one with pretty_midi, slow on the real 1276), unreadable WAVs, WAVs not at 44.1/48 kHz
    or not stereo. A copy without any WAV is a MIDI-only download: that is reported in the
    counts, not as 1276 problems. An audio file shorter or longer than the metadata's duration
    is reported as information (``duration_mismatch``), not as a problem.

    Returns
    -------
    counts : dict
        ``rows``, one entry per split, ``years``, ``hours``, ``midi_found``, ``audio_found``
        and, when there are some, ``duration_mismatch``.
    problems : list of str
    """
    meta = find_metadata(folder)
    folder = meta.parent
    problems: list[str] = []
    try:
        rows = read_metadata(meta)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        return {"rows": 0}, [f"{meta.name}: unreadable metadata: {err}"]

    # The CSV and the JSON should list the same performances. (The official v3 files differ in
    # 7 titles: the CSV keeps quotes around '"La Campanella"', the JSON drops them. Names are
    # information; files, splits, years and durations must agree.)
    other = meta.with_suffix(".json" if meta.suffix == ".csv" else ".csv")
    name_differences = []
    if other.is_file() and other != meta:
        try:
            by_midi = {r["midi_filename"]: r for r in read_metadata(other)}
        except (ValueError, OSError, UnicodeDecodeError) as err:
            problems.append(f"{other.name}: unreadable metadata: {err}")
            by_midi = None
        if by_midi is not None:
            if len(by_midi) != len(rows):
                problems.append(f"{other.name}: {len(by_midi)} performances, {meta.name} has {len(rows)}")
            for r in rows:
                o = by_midi.get(r["midi_filename"])
                if o is None:
                    problems.append(f"{r['midi_filename']}: listed in {meta.name} but not in {other.name}")
                    continue
                diff = [f for f in ("split", "year", "audio_filename") if r[f] != o[f]]
                diff += ["duration"] if abs(r["duration"] - o["duration"]) > 1e-6 else []
                if diff:
                    problems.append(f"{r['midi_filename']}: {meta.name} and {other.name} disagree on "
                                    f"{', '.join(diff)}")
                for f in ("canonical_composer", "canonical_title"):
                    if r[f] != o[f]:
                        name_differences.append(f"{r[f]!r} / {o[f]!r}")

    counts: dict = {"metadata": meta.name, "rows": len(rows)}
    for s in SPLITS:
        counts[s] = sum(r["split"] == s for r in rows)
    for i, r in enumerate(rows):
        if r["split"] not in SPLITS:
            problems.append(f"{r['midi_filename']}: unknown split {r['split']!r} (row {i})")
    counts["years"] = len({r["year"] for r in rows})
    counts["hours"] = round(sum(r["duration"] for r in rows) / 3600, 2)

    audio_present = [(folder / r["audio_filename"]).is_file() for r in rows]
    midi_only = rows and not any(audio_present)
    midi_found = audio_found = 0
    mismatches = []
    for r, has_audio in zip(rows, audio_present):
        mp, ap = folder / r["midi_filename"], folder / r["audio_filename"]
        if not mp.is_file():
            problems.append(f"{r['midi_filename']}: missing MIDI file")
        else:
            midi_found += 1
            why = midi_structure_problem(mp)
            if why is None and deep:
                try:
                    if len(midi_notes(load_midi(mp))) == 0:
                        why = "holds no notes"
                except ValueError as err:
                    why = str(err)
            if why:
                problems.append(f"{r['midi_filename']}: bad MIDI: {why}")
        if midi_only:
            continue
        if not has_audio:
            problems.append(f"{r['audio_filename']}: missing audio file")
            continue
        try:
            info = _audio.info(ap)
        except (_audio.AudioError, OSError) as err:
            problems.append(f"{r['audio_filename']}: unreadable audio: {err}")
            continue
        audio_found += 1
        if info["samplerate"] not in AUDIO_RATES:
            problems.append(f"{r['audio_filename']}: {info['samplerate']} Hz (MAESTRO audio is 44100 or 48000 Hz)")
        if info["channels"] != 2:
            problems.append(f"{r['audio_filename']}: {info['channels']} channel(s) (MAESTRO audio is stereo)")
        if abs(info["duration"] - r["duration"]) > 1.0:
            mismatches.append(f"{r['audio_filename']} ({info['duration']:.1f} s, metadata {r['duration']:.1f} s)")
    if name_differences:
        counts["name_differences"] = (f"{len(name_differences)} composer/title spelling(s) differ "
                                      f"between {meta.name} and {other.name} (information): "
                                      + "; ".join(name_differences[:2]) + ("; ..." if len(name_differences) > 2 else ""))
    counts["midi_found"] = midi_found
    counts["audio_found"] = "none: a MIDI-only copy" if midi_only else audio_found
    if mismatches:
        counts["duration_mismatch"] = (f"{len(mismatches)} audio file(s) differ from the metadata "
                                       f"by more than 1 s (information, not a problem): "
                                       + "; ".join(mismatches[:3]) + ("; ..." if len(mismatches) > 3 else ""))
    return counts, problems
