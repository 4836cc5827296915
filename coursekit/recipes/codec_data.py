"""The codec's training data: a mix of single notes, piano and full mixes, all at one sample rate.

:func:`codec_data_files` lists the files (NSynth, GTZAN, MAESTRO: the real datasets when they are
under the data root, else the offline mini versions), :func:`load_clips` loads a seeded share of
them, :func:`synthetic_notes` draws harmonic test notes, and :class:`SegmentDataset` cuts fixed
random segments from all of them for :func:`coursekit.recipes.codec.train_codec`.

Example
-------
>>> from coursekit.recipes.codec_data import SegmentDataset, synthetic_notes
>>> data = SegmentDataset({"synthetic": synthetic_notes(4, seconds=0.5)}, segment=1280, n_segments=8)
>>> len(data), tuple(data[0].shape)
(8, (1, 1280))
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..audio import AudioError, find_audio_files, info, load, midi_to_hz
from ..data import dataset_dir
from ..profiles import get_profile



def _maestro_files(folder: Path, split: str) -> list[Path]:
    import csv

    csv_path = folder / "maestro-v3.0.0.csv"
    if csv_path.exists():
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        want = {"train"} if split == "train" else {"validation", "test"}
        files = [folder / r["audio_filename"] for r in rows if r.get("split") in want]
        return [p for p in files if p.exists()]
    return find_audio_files(folder)


def codec_data_files(split: str = "train", profile=None) -> dict[str, list[Path]]:
    """The audio files the codec trains (``split='train'``) or is tested on (``'test'``).

    ``{'nsynth': [...], 'gtzan': [...], 'maestro': [...]}``: the real datasets when they are
    under the data root, else the offline mini versions of the profile's size. NSynth has its
    own splits; GTZAN has none, so every fifth clip of a genre is held out for testing;
    MAESTRO's CSV gives train / validation+test.
    """
    size = (profile or get_profile()).codec.data_size
    nsynth_split = "train" if split == "train" else "test"
    out = {"nsynth": find_audio_files(dataset_dir("nsynth", nsynth_split, size=size) / "audio")}
    g = dataset_dir("gtzan", size=size)
    gtzan = find_audio_files(g / "genres" if (g / "genres").is_dir() else g / "Data" / "genres_original")
    held_out = set(gtzan[4::5])
    out["gtzan"] = [f for f in gtzan if (f in held_out) == (split != "train")]
    out["maestro"] = _maestro_files(dataset_dir("maestro", size=size), split)
    return out


def load_clips(files, sr: int = 16000, max_seconds: float = 600.0, max_clip_seconds: float = 30.0,
               seed: int = 0) -> list[np.ndarray]:
    """Load (mono, resampled to ``sr``) files in a seeded random order until ``max_seconds``.

    Long recordings contribute at most ``max_clip_seconds`` each (from a random offset), so
    one long piano performance does not crowd out the rest. Unreadable files are skipped with
    a warning naming them.
    """
    rng = np.random.default_rng(seed)
    clips, total = [], 0.0
    for i in rng.permutation(len(files)):
        if total >= max_seconds:
            break
        path = files[i]
        try:
            dur = info(path)["duration"]
            offset = float(rng.uniform(0, max(0.0, dur - max_clip_seconds)))
            y, _ = load(path, sr=sr, offset=offset, duration=min(dur, max_clip_seconds))
        except (AudioError, OSError) as err:
            warnings.warn(f"skipped {path}: {err}")
            continue
        if y.size >= sr // 10 and np.isfinite(y).all():
            clips.append(y.astype(np.float32))
            total += y.size / sr
    return clips


def synthetic_notes(n: int, sr: int = 16000, seconds: float = 1.5, midi_range=(55.0, 106.0),
                    seed: int = 0) -> list[np.ndarray]:
    """``n`` harmonic test notes with random pitch, spectrum and envelope: a codec's drill set.

    The mini datasets hold few notes above C6 (2 % of mini-NSynth's training notes are at MIDI
    88 or higher), so a codec trained on them alone reproduces high notes poorly. These notes
    fill the gap: a pitch drawn uniformly (fractional MIDI) in ``midi_range``; harmonics up to
    7.8 kHz with amplitudes ``k ** -r`` (``r`` in [0.5, 2.5]: from bright to nearly a sine) and
    random phases; sometimes a slight vibrato; a 3-50 ms attack, then either a sustain or an
    exponential decay (0.15-2 s), as in plucked and struck notes. Peak 0.9.

    Example
    -------
    >>> notes = synthetic_notes(4, sr=16000, seconds=0.5)
    >>> len(notes), notes[0].shape, float(abs(notes[0]).max()) <= 0.9 + 1e-6
    (4, (8000,), True)
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    out = []
    for _ in range(n):
        f0 = float(midi_to_hz(rng.uniform(*midi_range)))
        rolloff = rng.uniform(0.5, 2.5)
        vibrato = 1 + (rng.random() < 0.3) * 0.004 * np.sin(2 * np.pi * rng.uniform(4, 7) * t)
        phase = 2 * np.pi * f0 * np.cumsum(vibrato) / sr              # [N], radians
        y = np.zeros_like(t)
        for k in range(1, int(min(7800.0, 0.49 * sr) // f0) + 1):
            y += k ** -rolloff * rng.uniform(0.5, 1.0) * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
        env = np.minimum(1.0, t / rng.uniform(0.003, 0.05))
        if rng.random() < 0.6:
            env = env * np.exp(-t / rng.uniform(0.15, 2.0))
        y = y * env
        out.append((0.9 * y / max(float(np.abs(y).max()), 1e-9)).astype(np.float32))
    return out


class SegmentDataset(torch.utils.data.Dataset):
    """Fixed random segments [1, segment] drawn once (seeded) from several groups of clips.

    ``groups`` is ``{name: list of clips}``; ``weights`` how often each group is drawn.
    Near-silent segments (RMS < 1e-3) are re-drawn (NSynth notes end in long silences), and
    each segment gets a random gain in [0.3, 1] so the codec sees soft and loud sounds.
    """

    def __init__(self, groups: dict, segment: int, n_segments: int, weights: dict | None = None,
                 seed: int = 0):
        rng = np.random.default_rng(seed)
        self.clips, group_of = [], []
        for name, clips in groups.items():
            for c in clips:
                self.clips.append(np.pad(c, (0, max(0, segment - len(c)))))
                group_of.append(name)
        if not self.clips:
            raise ValueError("no training audio found; generate the mini datasets "
                             "(python -m coursekit data make ...) or pass --data DIR")
        names = [n for n in groups if groups[n]]
        w = np.array([(weights or {}).get(n, 1.0) for n in names], dtype=float)
        by_group = {n: [i for i, g in enumerate(group_of) if g == n] for n in names}
        self.segment, self.items = segment, []
        while len(self.items) < n_segments:
            g = names[rng.choice(len(names), p=w / w.sum())]
            ci = by_group[g][rng.integers(len(by_group[g]))]
            clip = self.clips[ci]
            for _ in range(10):
                off = int(rng.integers(0, len(clip) - segment + 1))
                if np.sqrt(np.mean(clip[off:off + segment] ** 2)) > 1e-3:
                    break
            self.items.append((ci, off, float(rng.uniform(0.3, 1.0))))

        self.on_device = None  # the clips as tensors on a GPU, once moved there (to())

    def to(self, device) -> "SegmentDataset":
        """Keep the clips on ``device`` (a GPU), so each segment is cut and scaled there."""
        device = torch.device(device)
        self.on_device = None if device.type == "cpu" else \
            [torch.from_numpy(c).float().to(device) for c in self.clips]
        return self

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        ci, off, gain = self.items[i]
        if self.on_device is not None:  # the same scaling, without a sync with the host
            x = self.on_device[ci][off:off + self.segment]
            peak = x.abs().max().clamp_min(1e-4)
            return (x * (gain * (0.99 / peak).clamp_max(1.0) / peak.clamp_min(1.0)))[None]
        x = self.clips[ci][off:off + self.segment]
        peak = max(float(np.abs(x).max()), 1e-4)
        return torch.from_numpy(x * (gain * min(1.0, 0.99 / peak) / max(1.0, peak)))[None].float()
