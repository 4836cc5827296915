"""Latent diffusion's data (chapter 06): codec latents of notes and of genre clips.

:func:`encode_notes` and :func:`encode_clips` run a codec's encoder over an NSynth-format split
or a GTZAN-layout folder once and cache the latents (float16) under ``cache_root()/diffusion/``,
keyed by the codec's ``latent_digest`` and the folder; :class:`NoteLatents` and
:class:`ClipCrops` serve them to :func:`coursekit.recipes.diffusion.train_diffusion`.

Example
-------
>>> from coursekit.recipes.codec import load_codec
>>> data = encode_notes(load_codec(), "nsynth-train", max_notes=100)      # doctest: +SKIP
>>> data["latents"].shape, data["pitch"][:3]                             # doctest: +SKIP
(torch.Size([100, 64, 200]), tensor([45, 67, 52]))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import checkpoint
from . import cache_path
from ..data.gtzan import GENRES
from ..data.nsynth import FAMILIES
from .codec import latent_digest

__all__ = ["encode_notes", "encode_clips", "NoteLatents", "ClipCrops"]


def _cache_file(kind: str, codec, folder, extra: str) -> Path:
    return cache_path("diffusion", folder, f"{kind}|{latent_digest(codec)}|{extra}")


def _save_cache(obj, path: Path) -> None:
    checkpoint.atomic_write(path, lambda tmp: torch.save(obj, tmp))


def encode_notes(codec, split_dir, max_notes: int | None = None, seed: int = 0, batch: int = 16,
                 cache: bool = True, progress: bool = True) -> dict:
    """Codec latents of the notes of an NSynth-format split, with their labels.

    Returns ``{"latents": float16 [N, D, T], "pitch": [N], "family": [N], "velocity": [N],
    "names": [...]}``. Cached under ``cache_root()/diffusion/`` (keyed by codec and folder), so
    the second call is instant. With ``max_notes`` a seeded random subset is kept.
    """
    from tqdm.auto import tqdm

    from ..audio import load
    from ..data.nsynth import read_examples

    split_dir = Path(split_dir)
    path = _cache_file("notes", codec, split_dir, f"{max_notes}|{seed}")
    if cache and path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    examples = read_examples(split_dir)
    names = sorted(examples)
    if max_notes is not None and max_notes < len(names):
        keep = np.random.default_rng(seed).choice(len(names), max_notes, replace=False)
        names = [names[i] for i in sorted(keep)]
    lat = []
    for i in tqdm(range(0, len(names), batch), desc="encoding notes", disable=not progress):
        ys = [load(split_dir / "audio" / f"{n}.wav", sr=codec.sample_rate)[0] for n in names[i:i + batch]]
        n = max(map(len, ys))
        y = np.stack([np.pad(v, (0, n - len(v))) for v in ys])
        y = y + 1e-4 * np.random.default_rng(i).standard_normal(y.shape).astype(np.float32)  # no silent clips
        lat.append(codec.encode_latent(y, sr=codec.sample_rate).cpu().half())
    out = {"latents": torch.cat(lat),
           "pitch": torch.tensor([examples[n]["pitch"] for n in names]),
           "family": torch.tensor([FAMILIES.index(examples[n]["instrument_family_str"]) for n in names]),
           "velocity": torch.tensor([examples[n]["velocity"] for n in names]),
           "names": names}
    if cache:
        _save_cache(out, path)
    return out


def encode_clips(codec, folder, max_clips_per_genre: int | None = None, max_seconds: float = 30.0,
                 cache: bool = True, progress: bool = True) -> dict:
    """Codec latents of the clips of a GTZAN-layout folder (real or mini), with their genres.

    Returns ``{"latents": [float16 [D, T_i], ...], "genre": [N], "names": [...]}``, cached.
    """
    from tqdm.auto import tqdm

    from ..audio import load
    from ..data.gtzan import genre_of, list_clips

    path = _cache_file("clips", codec, folder, f"{max_clips_per_genre}|{max_seconds}")
    if cache and path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    clips = list_clips(folder)
    if max_clips_per_genre is not None:
        per = {}
        clips = [c for c in clips if per.setdefault(genre_of(c), []).append(c) or
                 len(per[genre_of(c)]) <= max_clips_per_genre]
    lat, genre, names = [], [], []
    for c in tqdm(clips, desc="encoding clips", disable=not progress):
        try:
            y, _ = load(c, sr=codec.sample_rate, duration=max_seconds)
        except Exception as err:  # GTZAN has a known corrupt file: skip it, say so
            print(f"skipping {c.name}: {err}")
            continue
        lat.append(codec.encode_latent(y, sr=codec.sample_rate)[0].cpu().half())
        genre.append(GENRES.index(genre_of(c)))
        names.append(c.name)
    if not lat:
        raise FileNotFoundError(f"{folder}: no readable GTZAN clips")
    out = {"latents": lat, "genre": torch.tensor(genre), "names": names}
    if cache:
        _save_cache(out, path)
    return out


class NoteLatents(torch.utils.data.Dataset):
    """Items ``(latent [D, T], {"pitch", "family", "velocity"})`` from :func:`encode_notes`."""

    def __init__(self, data: dict):
        self.data = data

    def to(self, device) -> "NoteLatents":
        """Keep the latents and conditions on ``device`` (a GPU): batches are cut there."""
        self.data = {k: v.to(device) if torch.is_tensor(v) else v for k, v in self.data.items()}
        return self

    def __len__(self):
        return len(self.data["latents"])

    def __getitem__(self, i):
        return (self.data["latents"][i].float(),
                {k: self.data[k][i] for k in ("pitch", "family", "velocity")})


class ClipCrops(torch.utils.data.Dataset):
    """Random crops of ``frames`` latent frames from :func:`encode_clips`: ``(latent, {"genre"})``."""

    def __init__(self, data: dict, frames: int, crops_per_clip: int = 16, seed: int = 0):
        self.data, self.frames = data, frames
        g = np.random.default_rng(seed)
        self.index = [(i, int(g.integers(0, max(z.shape[-1] - frames, 0) + 1)))
                      for i, z in enumerate(data["latents"]) for _ in range(crops_per_clip)]

    def to(self, device) -> "ClipCrops":
        """Keep the clips' latents and genres on ``device`` (a GPU): crops are cut there."""
        self.data = {**self.data, "latents": [z.to(device) for z in self.data["latents"]],
                     "genre": self.data["genre"].to(device)}
        return self

    def __len__(self):
        return len(self.index)

    def __getitem__(self, j):
        i, start = self.index[j]
        z = self.data["latents"][i][:, start:start + self.frames].float()
        if z.shape[-1] < self.frames:
            z = F.pad(z, (0, self.frames - z.shape[-1]))
        return z, {"genre": self.data["genre"][i]}
