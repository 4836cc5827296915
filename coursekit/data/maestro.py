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

This module holds :class:`Maestro`, the torch Dataset of aligned (audio, MIDI) segments. The
metadata is read in :mod:`coursekit.data.maestro_metadata`, the MIDI in
:mod:`coursekit.data.maestro_midi`, a folder checked in :mod:`coursekit.data.maestro_check`;
every name of those modules is importable from here too.

Example
-------
>>> from coursekit.data.maestro import read_metadata, Maestro
>>> rows = read_metadata("maestro-v3.0.0", split="test")               # doctest: +SKIP
>>> ds = Maestro("maestro-v3.0.0", split="test", segment_seconds=4.0)   # doctest: +SKIP
>>> item = ds[0]; item["audio"].shape, item["roll"].shape              # doctest: +SKIP
(torch.Size([64000]), torch.Size([88, 400]))
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from .. import audio as _audio
from .maestro_check import AUDIO_RATES, check_maestro, midi_structure_problem  # noqa: F401
from .maestro_metadata import (  # noqa: F401
    FIELDS, METADATA_NAMES, SPLITS, _fold, _read_csv, _read_json, _typed, filter_rows,
    find_metadata, read_metadata,
)
from .maestro_midi import (  # noqa: F401
    HIGHEST, LOWEST, SOFT, SOSTENUTO, SUSTAIN, apply_sustain, load_midi, midi_notes, pedal_events,
    pedal_intervals, pedal_roll, piano_roll, segment_notes,
)


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
