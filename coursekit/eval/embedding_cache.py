"""Embeddings kept on disk, keyed by the content of the audio file and the name of the embedding.

Embeddings are slow to compute; :class:`EmbeddingCache` keeps each one as a ``.npy`` file so
that a second FAD over the same clips is instant. A cache folder that cannot be written (read-only,
a file in its place, a full disk) does not stop the work: :meth:`EmbeddingCache.cached` then
computes without storing, and says so once (:class:`CacheNotWritten`).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["EmbeddingCache", "CacheNotWritten"]


class CacheNotWritten(UserWarning):
    """The embedding cache could not be written; embeddings are computed without storing them."""


class EmbeddingCache:
    """Embeddings kept on disk, keyed by the content of the audio file and the embedding name.

    The key is ``sha1(file bytes + embedding name + version)``, so renaming or moving a file
    keeps its cached embedding, while changing a single byte of the audio, switching to
    another embedding, or bumping ``version`` (after changing how an embedding is computed)
    gives a new key. Each embedding is one ``.npy`` file:
    ``<folder>/<embedding name>/<key>.npy``. Writes go to a temporary file that is renamed
    into place, so several processes can share the cache.

    Parameters
    ----------
    folder : str or Path, optional
        Where to keep the files. Default ``coursekit.paths.cache_root() / "embeddings"``.
    version : str
        Part of every key; change it to invalidate everything cached before.

    Example
    -------
    >>> import numpy as np, tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> (tmp / "a.wav").write_bytes(b"not really audio")
    16
    >>> cache = EmbeddingCache(tmp / "cache")
    >>> cache.get(tmp / "a.wav", "mfcc") is None
    True
    >>> emb = cache.cached(tmp / "a.wav", "mfcc", lambda path: np.arange(3.0))
    >>> cache.get(tmp / "a.wav", "mfcc")
    array([0., 1., 2.])
    """

    def __init__(self, folder: str | os.PathLike | None = None, version: str = "1"):
        if folder is None:
            from coursekit.paths import cache_root

            folder = cache_root() / "embeddings"
        self.folder = Path(folder)
        self.version = str(version)
        self.write_error: str | None = None  # why storing failed, once it has

    def key(self, path: str | os.PathLike, embedding_name: str) -> str:
        """The cache key: sha1 hex digest of the file's bytes, the embedding name and version."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"cannot key the embedding cache on {path}: no such file")
        h = hashlib.sha1()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0embedding=" + str(embedding_name).encode())
        h.update(b"\0version=" + self.version.encode())
        return h.hexdigest()

    def _file(self, key: str, embedding_name: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(embedding_name)).strip("._") or "embedding"
        return self.folder / safe / f"{key}.npy"

    def get(self, path: str | os.PathLike, embedding_name: str) -> np.ndarray | None:
        """The cached embedding of ``path``, or None when it is not (readably) cached."""
        file = self._file(self.key(path, embedding_name), embedding_name)
        try:
            return np.load(file, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # missing, or a damaged file: recompute

    def put(self, path: str | os.PathLike, embedding_name: str, embedding) -> Path:
        """Store ``embedding`` for ``path``; returns the ``.npy`` file written."""
        file = self._file(self.key(path, embedding_name), embedding_name)
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, suffix=".npy.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.asarray(embedding), allow_pickle=False)
            os.replace(tmp, file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return file

    def cached(
        self,
        path: str | os.PathLike,
        embedding_name: str,
        compute_fn: Callable[[Path], np.ndarray],
    ) -> np.ndarray:
        """``get`` the embedding, or compute it with ``compute_fn(path)``, ``put`` it, return it.

        When the cache cannot be written, the embedding is returned without being stored; the
        first failure sets :attr:`write_error` and warns (:class:`CacheNotWritten`), and later
        calls no longer try to store.
        """
        emb = self.get(path, embedding_name)
        if emb is None:
            emb = np.asarray(compute_fn(Path(path)))
            if self.write_error is None:
                try:
                    self.put(path, embedding_name, emb)
                except OSError as err:
                    self.write_error = (
                        f"the embedding cache {self.folder} cannot be written "
                        f"({err.strerror or err}); embeddings are computed without it (set "
                        "COURSEKIT_CACHE to a folder you can write to, to keep them)")
                    warnings.warn(self.write_error, CacheNotWritten, stacklevel=2)
        return emb

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.folder)!r}, version={self.version!r})"
