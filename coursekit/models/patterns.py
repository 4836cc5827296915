"""Token layouts for K parallel codebooks: flatten, parallel and the delay pattern.

A residual-VQ codec (chapter 04) turns audio into a grid of codes ``codes[k, t]``: K codebooks
(rows) by T frames (columns). A language model reads and writes *one step at a time*, so the
grid has to be laid out as a sequence of steps. What one step holds is the *pattern*:

- **flatten**: one code per step, frame after frame, codebook after codebook
  (``t0k0 t0k1 ... t0kK-1 t1k0 ...``). Exact (every code sees every code before it) but
  ``K * T`` steps long.
- **parallel**: the K codes of one frame in one step. ``T`` steps, but the K codes of a frame
  are predicted *independently* of each other (codebook 1 cannot know what codebook 0 chose).
- **delay** (MusicGen, Copet et al. 2023): codebook k is shifted right by k steps, so step s
  holds codebook k of frame ``s - k``. ``T + K - 1`` steps; codebook k of frame t is predicted
  after codebooks 0..k-1 of the same frame (they were written in earlier steps), which is most of
  what flatten gives, for almost the length of parallel. The corners left empty by the shift hold
  a special token.

Every layout is a pair of plain functions over integer arrays / tensors ``[B, K, T]``:
``build_pattern(codes, name)`` gives the sequence ``[B, streams, S]`` and
``revert_pattern(seq, name, n_q)`` gives the codes back. A flattened sequence has one stream
whose tokens are ``k * card + code`` (one vocabulary of ``K * card`` ids, so the model knows
which codebook a token belongs to).

Example
-------
>>> import torch
>>> from coursekit.models.patterns import build_pattern, revert_pattern, EMPTY
>>> codes = torch.tensor([[[1, 2, 3], [4, 5, 6]]])          # B=1, K=2 codebooks, T=3 frames
>>> build_pattern(codes, "delay", card=8)[0].tolist()       # 8 = the empty token (card)
[[1, 2, 3, 8], [8, 4, 5, 6]]
>>> build_pattern(codes, "flatten", card=8)[0].tolist()     # codebook 1 tokens are 8 + code
[[1, 12, 2, 13, 3, 14]]
>>> seq = build_pattern(codes, "delay", card=8)
>>> torch.equal(revert_pattern(seq, "delay", n_q=2, card=8), codes)
True
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["PATTERNS", "EMPTY", "build_pattern", "revert_pattern", "sequence_length", "n_streams",
           "vocab_size", "layout", "empty_mask", "delay", "undelay", "flatten", "unflatten"]

PATTERNS = ("flatten", "parallel", "delay")
#: The special token of empty positions is the id just past the codes: ``card`` (the codebook
#: size). ``EMPTY`` is a reminder of that convention, not a fixed number.
EMPTY = "card"


def _check(codes, name: str = "codes") -> torch.Tensor:
    codes = torch.as_tensor(codes)
    if codes.ndim == 2:
        codes = codes[None]
    if codes.ndim != 3:
        raise ValueError(f"{name}: expected integer codes [B, K, T] (or [K, T]), got shape "
                         f"{tuple(codes.shape)}")
    if codes.dtype.is_floating_point:
        raise ValueError(f"{name}: codes must be integers, got {codes.dtype}")
    return codes.long()


def _check_name(name: str) -> str:
    if name not in PATTERNS:
        raise ValueError(f"unknown pattern {name!r}; choose one of {', '.join(PATTERNS)}")
    return name


# ---------------------------------------------------------------------------------------------
# The delay pattern
# ---------------------------------------------------------------------------------------------

def delay(codes, special: int) -> torch.Tensor:
    """Shift codebook k right by k steps: ``out[:, k, s] = codes[:, k, s - k]``.

    Parameters
    ----------
    codes : int tensor [B, K, T]
    special : int
        The token written where ``s - k`` falls outside ``0 .. T-1`` (use the codebook size).

    Returns
    -------
    int64 tensor [B, K, T + K - 1]
    """
    codes = _check(codes)
    B, K, T = codes.shape
    out = torch.full((B, K, T + K - 1), int(special), dtype=torch.long, device=codes.device)
    for k in range(K):
        out[:, k, k:k + T] = codes[:, k]
    return out


def undelay(seq, n_frames: int | None = None) -> torch.Tensor:
    """Inverse of :func:`delay`: ``codes[:, k, t] = seq[:, k, t + k]`` -> [B, K, T].

    ``T = S - K + 1`` unless ``n_frames`` is given (for a sequence cut short, the frames whose
    every codebook has been written).
    """
    seq = _check(seq, "seq")
    B, K, S = seq.shape
    T = S - K + 1 if n_frames is None else int(n_frames)
    if T < 0 or T + K - 1 > S:
        raise ValueError(f"a delayed sequence of {S} steps and {K} codebooks holds at most "
                         f"{max(S - K + 1, 0)} complete frames; asked for {T}")
    return torch.stack([seq[:, k, k:k + T] for k in range(K)], dim=1)


# ---------------------------------------------------------------------------------------------
# Flatten
# ---------------------------------------------------------------------------------------------

def flatten(codes, card: int) -> torch.Tensor:
    """One code per step, frame by frame: ``out[:, 0, t*K + k] = k * card + codes[:, k, t]``.

    Returns int64 [B, 1, K * T]; the offset ``k * card`` tells the model the codebook.
    """
    codes = _check(codes)
    B, K, T = codes.shape
    offset = torch.arange(K, device=codes.device)[None, :, None] * int(card)
    return (codes + offset).transpose(1, 2).reshape(B, 1, T * K)


def unflatten(seq, n_q: int, card: int) -> torch.Tensor:
    """Inverse of :func:`flatten`: [B, 1, K * T] -> codes [B, K, T] (a trailing partial frame is dropped)."""
    seq = _check(seq, "seq")
    B, _, S = seq.shape
    T = S // n_q
    grid = seq[:, 0, :T * n_q].reshape(B, T, n_q).transpose(1, 2)
    return grid % int(card)


# ---------------------------------------------------------------------------------------------
# Any pattern by name
# ---------------------------------------------------------------------------------------------

def build_pattern(codes, name: str = "delay", card: int = 1024) -> torch.Tensor:
    """codes [B, K, T] -> the sequence of steps [B, streams, S] of pattern ``name``.

    ``card`` is the codebook size: the empty token of the delay pattern and the offset of
    flatten's vocabulary.
    """
    name = _check_name(name)
    if name == "delay":
        return delay(codes, card)
    if name == "flatten":
        return flatten(codes, card)
    return _check(codes).clone()


def revert_pattern(seq, name: str = "delay", n_q: int | None = None, card: int = 1024,
                   n_frames: int | None = None) -> torch.Tensor:
    """The sequence of steps [B, streams, S] -> codes [B, K, T] (inverse of :func:`build_pattern`)."""
    name = _check_name(name)
    if name == "delay":
        return undelay(seq, n_frames)
    if name == "flatten":
        if n_q is None:
            raise ValueError("revert_pattern('flatten') needs n_q (how many codebooks were interleaved)")
        codes = unflatten(seq, n_q, card)
    else:
        codes = _check(seq, "seq")
    return codes if n_frames is None else codes[..., :n_frames]


def n_streams(name: str, n_q: int) -> int:
    """Tokens per step: 1 for flatten, K otherwise."""
    return 1 if _check_name(name) == "flatten" else n_q


def vocab_size(name: str, n_q: int, card: int) -> int:
    """Ids a stream can hold: ``K * card`` for flatten, ``card + 1`` (codes + empty) otherwise."""
    return n_q * card if _check_name(name) == "flatten" else card + 1


def sequence_length(n_frames: int, n_q: int, name: str = "delay") -> int:
    """Steps S for T frames: ``K*T`` (flatten), ``T`` (parallel), ``T + K - 1`` (delay)."""
    name = _check_name(name)
    return {"flatten": n_q * n_frames, "parallel": n_frames, "delay": n_frames + n_q - 1}[name]


def layout(n_frames: int, n_q: int, name: str = "delay") -> tuple[np.ndarray, np.ndarray]:
    """Which code each position of the sequence holds: ``(frame, codebook)`` arrays [streams, S].

    ``frame[j, s]`` is the frame index of stream j at step s (-1 where the position is empty),
    ``codebook[j, s]`` its codebook. Used to draw the patterns as grids, to know which positions
    a prompt fixes, and to find the empty positions.

    Example
    -------
    >>> frame, book = layout(3, 2, "delay")
    >>> frame.tolist(), book.tolist()
    ([[0, 1, 2, -1], [-1, 0, 1, 2]], [[0, 0, 0, 0], [1, 1, 1, 1]])
    """
    name = _check_name(name)
    S = sequence_length(n_frames, n_q, name)
    if name == "flatten":
        s = np.arange(S)
        return (s // n_q)[None], (s % n_q)[None]
    book = np.repeat(np.arange(n_q)[:, None], S, axis=1)
    if name == "parallel":
        return np.repeat(np.arange(S)[None], n_q, axis=0), book
    frame = np.arange(S)[None] - np.arange(n_q)[:, None]
    frame[(frame < 0) | (frame >= n_frames)] = -1
    return frame, book


def empty_mask(n_frames: int, n_q: int, name: str = "delay") -> np.ndarray:
    """Boolean [streams, S]: True where the pattern holds the empty token."""
    return layout(n_frames, n_q, name)[0] < 0
