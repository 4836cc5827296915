"""The clips of a folder, as FAD and the evaluation read them: listed (:func:`list_audio`),
checked (:func:`check_readable`) and embedded (:func:`embed_folder`).

Every clip is checked before any is embedded: a file that cannot be decoded, has no samples or
holds NaN/inf samples stops the run with one error naming all such files; silent clips (below
:data:`SILENT_RMS`) are measured and named in a warning.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .. import audio as A
from ..audio import AUDIO_EXTENSIONS, find_audio_files

__all__ = ["list_audio", "check_readable", "embed_folder", "SILENT_RMS"]

SILENT_RMS = 1e-5  # a clip quieter than this (-100 dBFS) is named in a warning


def list_audio(folder) -> tuple[list[Path], list[dict] | None, str]:
    """The audio files of a folder: ``(paths, metadata or None, 'nsynth' | 'plain')``.

    An NSynth-format folder (``examples.json``) gives its notes in file order with their
    metadata; any other folder gives its audio files (searched recursively, sorted).

    Raises FileNotFoundError for a missing folder, ValueError for an empty one, for notes of
    ``examples.json`` whose WAV file is missing (naming them) or whose name is not a plain file
    name (it would read audio outside the folder).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder; give a folder of audio files or an "
                                "NSynth-format folder (examples.json + audio/)")
    if (folder / "examples.json").exists():
        from ..data.nsynth import note_wav, read_examples

        notes = list(read_examples(folder).values())
        paths = [note_wav(folder, m["note_str"]) for m in notes]
        missing = [p.name for p in paths if not p.exists()]
        if missing:
            raise ValueError(f"{folder}: {len(missing)} note(s) of examples.json have no file in "
                             f"audio/: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
        if not paths:
            raise ValueError(f"{folder}: examples.json lists no notes; nothing to evaluate")
        return paths, notes, "nsynth"
    paths = find_audio_files(folder)
    if not paths:
        raise ValueError(f"{folder}: no audio files found (looked for examples.json + audio/*.wav, "
                         f"or files ending in {', '.join(AUDIO_EXTENSIONS)}); is it the right folder?")
    return paths, None, "plain"


def _scan(path: Path) -> tuple[str | None, float]:
    """``(problem or None, rms)`` of one audio file, read block by block: a file that cannot be
    decoded, has no samples or holds NaN/inf samples has a problem."""
    import soundfile as sf

    try:
        frames = A.info(path)["frames"]
    except (A.AudioError, FileNotFoundError) as err:
        return str(err).split(": ", 1)[-1], 0.0
    if frames == 0:
        return "no samples", 0.0
    n, energy, nonfinite = 0, 0.0, 0
    with sf.SoundFile(str(path)) as f:
        for block in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
            finite = np.isfinite(block)
            nonfinite += int(block.size - finite.sum())
            energy += float(np.square(np.where(finite, block, 0.0), dtype=np.float64).sum())
            n += block.size
    if nonfinite:
        return f"{nonfinite} samples are NaN or inf", 0.0
    return None, math.sqrt(energy / max(n, 1))


def check_readable(paths, folder=None) -> list[str]:
    """Raise one ValueError naming every file that cannot be measured: undecodable, without
    samples, or holding NaN/inf samples. Returns the names of the silent files (RMS below
    :data:`SILENT_RMS`), which are measured as they are."""
    bad, silent = [], []
    for p in paths:
        name = _rel(p, folder)
        problem, rms = _scan(Path(p))
        if problem is not None:
            bad.append(f"{name} ({problem})")
        elif rms < SILENT_RMS:
            silent.append(name)
    if bad:
        where = f"{folder}: " if folder is not None else ""
        raise ValueError(f"{where}{len(bad)} unusable audio file(s): " + "; ".join(bad[:10])
                         + (" ..." if len(bad) > 10 else "") + ". Remove or re-generate them.")
    return silent


def _rel(path, folder) -> str:
    """``path`` relative to ``folder`` when it is inside it, else its name."""
    try:
        return str(Path(path).relative_to(folder))
    except (TypeError, ValueError):
        return Path(path).name


def _names(names, n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def embed_folder(paths, embedding, cache=True, progress=True) -> list[np.ndarray]:
    """Frame embeddings of each file (an :class:`~coursekit.eval.embeddings.Embedding` or its
    name), cached on disk (``cache``: True, False or an
    :class:`~coursekit.eval.embedding_cache.EmbeddingCache`); a file whose audio is NaN/empty is
    named in the error."""
    from .embeddings import get_embedding

    emb = get_embedding(embedding) if isinstance(embedding, str) else embedding
    try:
        return emb.embed_files(paths, cache=cache, progress=progress)
    except A.AudioError as err:
        raise ValueError(f"cannot embed with {emb.name}: {err}") from None
