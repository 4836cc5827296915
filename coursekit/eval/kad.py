"""Kernel Audio Distance (KAD): the squared maximum mean discrepancy of two embedding sets.

FAD fits a Gaussian to each set and compares the Gaussians. KAD (Chung et al., "KAD: No More
FAD!", 2025) compares the sets themselves, through a kernel :math:`k(a, b) = \\exp(-\\lVert a -
b\\rVert^2 / 2h^2)`:

.. math::

    \\mathrm{MMD}^2 = \\mathbb{E}\\,k(x, x') + \\mathbb{E}\\,k(y, y') - 2\\,\\mathbb{E}\\,k(x, y)

with :math:`x, x'` independent draws of the reference and :math:`y, y'` of the evaluated set.
The **unbiased** estimator averages :math:`k` over pairs of *different* samples only (the
diagonal :math:`k(x_i, x_i) = 1` left out), so its expectation is exactly 0 when both sets
come from one distribution, at any size: it can come out negative, and unlike FAD it does not
shrink as the sets grow. KAD is that estimate times :data:`SCALE` (100).

Choices, and why
----------------
- **Bandwidth** :math:`h`: the median distance between pairs of *reference* rows
  (:func:`median_pairwise_distance`). KAD's paper says the bandwidth comes from the reference
  set, while its toolkit's code takes it from the evaluated set. We follow the paper: every
  system judged against one reference is then judged with the same kernel, so their KADs can be
  compared; with the evaluated set's median, a system that always plays the same sound would
  get a narrow kernel of its own. Beyond 2,000 rows the median is taken over 2,000 rows drawn
  with a fixed seed (2 million pairs; the median moves by well under 1 %).
- **Clips, not frames**: :func:`kad_clips` takes one ``(frames, dim)`` array per clip, pools
  the frames and leaves out every pair of frames *of the same clip*, as the textbook estimator
  leaves out the diagonal: the frames of one note are nearly copies of each other, not
  independent draws, and counting their pairs would make two sets of real notes look apart.
  With one frame a clip it is :func:`kad`. Its bootstrap redraws clips (like FAD's).
- **Float64** throughout, in blocks of ``block`` rows, so 10,000 x 10,000 pairs never hold more
  than a few blocks in memory.

Example
-------
>>> import numpy as np
>>> from coursekit.eval.kad import kad
>>> rng = np.random.default_rng(0)
>>> x, y = rng.normal(size=(500, 8)), rng.normal(size=(500, 8))
>>> abs(kad(x, y)) < 0.2                     # one distribution: about 0, either sign
True
>>> kad(x, rng.normal(loc=0.5, size=(500, 8))) > 1
True
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["SCALE", "median_pairwise_distance", "kad", "kad_clips", "kad_per_sample",
           "kad_per_clip", "ClipKernelSums"]

SCALE = 100.0         # KAD is reported as 100 x MMD^2, as in the paper
MEDIAN_ROWS = 2000    # rows the bandwidth's median is taken over, at most
BLOCK = 1024          # rows of one block of the kernel matrix


def _as_rows(x, name: str, min_rows: int = 2) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (samples, dim); got shape {x.shape}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows (samples); got {x.shape[0]}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or inf values")
    return x


def median_pairwise_distance(x, max_rows: int = MEDIAN_ROWS, seed: int = 0) -> float:
    """Median Euclidean distance between pairs of different rows of ``x``.

    Over all pairs when ``x`` has at most ``max_rows`` rows, else over the pairs of ``max_rows``
    rows drawn without replacement by ``seed``.

    Parameters
    ----------
    x : array_like, shape (n, dim)
    max_rows : int
    seed : int

    Returns
    -------
    float
        The median distance (positive; ``ValueError`` when all rows are equal).

    Example
    -------
    >>> import numpy as np
    >>> median_pairwise_distance(np.array([[0.0], [1.0], [3.0]]))   # distances 1, 2, 3
    2.0
    """
    x = _as_rows(x, "x")
    if x.shape[0] > max_rows:
        x = x[np.sort(np.random.default_rng(seed).choice(x.shape[0], max_rows, replace=False))]
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    d2 = d2[np.triu_indices(x.shape[0], k=1)]
    h = float(np.sqrt(max(np.median(d2), 0.0)))
    if not h > 0:
        raise ValueError("the reference rows are (mostly) identical: the median distance is 0, so "
                         "no kernel bandwidth can be taken from them; pass bandwidth=")
    return h


def _gamma(bandwidth) -> float:
    h = float(bandwidth)
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"bandwidth must be a positive number; got {bandwidth!r}")
    return 1.0 / (2.0 * h * h)


def _kernel_block(a, a2, b, b2, gamma: float) -> np.ndarray:
    """``exp(-gamma |a_i - b_j|^2)`` for one block, in one buffer: exp(2g a.b - g|a|^2 - g|b|^2)."""
    k = a @ b.T
    k *= 2.0 * gamma
    k -= gamma * a2[:, None]
    k -= gamma * b2[None, :]
    np.minimum(k, 0.0, out=k)  # a squared distance is >= 0; round-off can make it a hair negative
    return np.exp(k, out=k)


def _segment_sums(k: np.ndarray, rs: np.ndarray, cs: np.ndarray) -> np.ndarray:
    """Sums of ``k`` over the row segments starting at ``rs`` and column segments at ``cs``."""
    return np.add.reduceat(np.add.reduceat(k, cs, axis=1), rs, axis=0)


def _pair_sums(a, b, gamma, ga=None, gb=None, same=False, block=BLOCK, workers=None):
    """Sum of the kernel over all pairs (a_i, b_j), by groups of rows when ``ga``/``gb`` are given.

    ``ga``, ``gb``: the group (clip) index of each row, non-decreasing. Returns an array
    ``(groups_a, groups_b)`` of sums (a 1 x 1 array without groups). With ``same=True`` (``b`` is
    ``a``) only blocks on and above the diagonal are computed and mirrored.
    """
    from threadpoolctl import threadpool_limits

    na, nb = a.shape[0], b.shape[0]
    ga = np.zeros(na, dtype=np.int64) if ga is None else np.asarray(ga)
    gb = np.zeros(nb, dtype=np.int64) if gb is None else np.asarray(gb)
    a2, b2 = np.einsum("ij,ij->i", a, a), np.einsum("ij,ij->i", b, b)
    out = np.zeros((int(ga[-1]) + 1, int(gb[-1]) + 1))
    tiles = [(i, j) for i in range(0, na, block) for j in range(0, nb, block) if not same or j >= i]

    def one(tile):
        i, j = tile
        ia, jb = slice(i, min(i + block, na)), slice(j, min(j + block, nb))
        k = _kernel_block(a[ia], a2[ia], b[jb], b2[jb], gamma)
        ra, rb = ga[ia], gb[jb]
        rs = np.flatnonzero(np.r_[True, ra[1:] != ra[:-1]])
        cs = np.flatnonzero(np.r_[True, rb[1:] != rb[:-1]])
        return ra[rs], rb[cs], _segment_sums(k, rs, cs), same and j != i

    workers = workers or min(len(tiles), os.cpu_count() or 1)
    # numpy's exp and the block products release the GIL: one BLAS thread per block, blocks in
    # parallel (BLAS threads on top of them would only fight over the same cores)
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(max(workers, 1)) as pool:
        for ia, jb, s, mirror in pool.map(one, tiles):
            out[np.ix_(ia, jb)] += s
            if mirror:
                out[np.ix_(jb, ia)] += s.T
    return out


def kad(x, y, bandwidth=None, scale: float = SCALE, block: int = BLOCK) -> float:
    """Kernel Audio Distance between the rows of ``x`` (reference) and ``y``: 100 x unbiased MMD².

    Parameters
    ----------
    x : array_like, shape (m, dim)
        Reference embeddings, one row a sample (``m >= 2``).
    y : array_like, shape (n, dim)
        Evaluated embeddings (``n >= 2``).
    bandwidth : float, optional
        Kernel width ``h`` of ``exp(-|a - b|^2 / 2h^2)``; default the median pairwise distance
        of ``x`` (:func:`median_pairwise_distance`).
    scale : float
        Factor of the result (100, the paper's).
    block : int
        Rows per block of the kernel matrix (memory: about ``3 * block^2 * 8`` bytes a worker).

    Returns
    -------
    float
        ``scale * (mean_{i != i'} k(x_i, x_i') + mean_{j != j'} k(y_j, y_j') - 2 mean k(x_i, y_j))``.
        About 0 for one distribution (either sign), positive when they differ.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(300, 4))
    >>> abs(kad(x, rng.normal(size=(300, 4)), bandwidth=2.0)) < 0.5
    True
    """
    x, y = _as_rows(x, "x"), _as_rows(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y have different dimensions: {x.shape[1]} and {y.shape[1]}")
    gamma = _gamma(median_pairwise_distance(x) if bandwidth is None else bandwidth)
    m, n = x.shape[0], y.shape[0]
    sxx = _pair_sums(x, x, gamma, same=True, block=block)[0, 0] - m   # diagonal: k(x_i, x_i) = 1
    syy = _pair_sums(y, y, gamma, same=True, block=block)[0, 0] - n
    sxy = _pair_sums(x, y, gamma, block=block)[0, 0]
    return float(scale * (sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2.0 * sxy / (m * n)))


def kad_per_sample(x_ref, y, bandwidth=None, scale: float = SCALE, block: int = BLOCK) -> np.ndarray:
    """How far each row of ``y`` lies from the reference set, in the kernel's own terms.

    ``score[i] = scale * |phi(y_i) - mean_x phi(x)|^2 = scale * (1 - 2 mean_l k(y_i, x_l) +
    mean_{l != l'} k(x_l, x_l'))``: the KAD of the one sample ``y_i`` against ``x_ref``, with the
    reference's term unbiased. It is large for a sample that no reference sample is near (up to
    ``scale * (1 + mean k(x, x'))``) and small for one in a crowd of them. (Leaving one sample out
    of the KAD of the whole set, as :func:`coursekit.eval.fad.per_sample_scores` does for FAD,
    hardly moves a kernel mean: an outlier's effect on it is of order ``1/n^2``, below the noise.)

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(400, 6)), rng.normal(size=(100, 6))
    >>> y[42] += 6.0                             # one sample far from everything real
    >>> int(np.argmax(kad_per_sample(x, y)))
    42
    """
    return ClipKernelSums(list(_as_rows(x_ref, "x_ref")), list(_as_rows(y, "y", min_rows=1)),
                          bandwidth, block=block, min_gen=1).per_clip(scale)


# ---------------------------------------------------------------------------------------------
# Clips of frames: pairs within a clip left out, bootstrap over clips
# ---------------------------------------------------------------------------------------------


class ClipKernelSums:
    """Kernel sums between every pair of clips of a reference and an evaluated set.

    Computed once (the expensive part: one pass over all pairs of frames), after which the KAD
    of any reweighting of the clips costs three small matrix products: that is what makes a
    bootstrap over clips and leave-one-clip-out scores cheap.

    Parameters
    ----------
    ref_clips, gen_clips : list of array_like, each (frames, dim)
        One array a clip (a single row for a clip-level embedding).
    bandwidth : float, optional
        Default: the median pairwise distance of the pooled reference frames.
    """

    def __init__(self, ref_clips, gen_clips, bandwidth=None, block: int = BLOCK, min_gen: int = 2):
        ref, gen = ([np.atleast_2d(np.asarray(c, dtype=np.float64)) for c in clips]
                    for clips in (ref_clips, gen_clips))
        if len(ref) < 2 or len(gen) < min_gen:
            raise ValueError(f"KAD over clips needs at least 2 clips a set; got {len(ref)} reference "
                             f"and {len(gen)} evaluated")
        x, y = _as_rows(np.concatenate(ref), "reference frames"), _as_rows(np.concatenate(gen), "frames")
        if x.shape[1] != y.shape[1]:
            raise ValueError(f"the two sets have different dimensions: {x.shape[1]} and {y.shape[1]}")
        self.bandwidth = float(median_pairwise_distance(x) if bandwidth is None else bandwidth)
        gamma = _gamma(self.bandwidth)
        self.n_ref = np.array([len(c) for c in ref], dtype=np.float64)
        self.n_gen = np.array([len(c) for c in gen], dtype=np.float64)
        gx, gy = np.repeat(np.arange(len(ref)), self.n_ref.astype(int)), np.repeat(
            np.arange(len(gen)), self.n_gen.astype(int))
        self.xx = _pair_sums(x, x, gamma, gx, gx, same=True, block=block)
        self.yy = _pair_sums(y, y, gamma, gy, gy, same=True, block=block)
        self.xy = _pair_sums(x, y, gamma, gx, gy, block=block)
        self.frames_ref, self.frames_gen = int(x.shape[0]), int(y.shape[0])

    @staticmethod
    def _within(s, n, w):
        """Mean kernel over pairs of frames of different clips, clips weighted by ``w``."""
        off = w @ s @ w - (w * w) @ np.diag(s)        # drop every pair within one clip (and copies)
        pairs = (w @ n) ** 2 - (w * w) @ (n * n)
        return off / pairs

    def kad(self, w_ref=None, w_gen=None, scale: float = SCALE) -> float:
        """KAD with clip weights (counts of a bootstrap draw; default every clip once)."""
        wr = np.ones(len(self.n_ref)) if w_ref is None else np.asarray(w_ref, dtype=np.float64)
        wg = np.ones(len(self.n_gen)) if w_gen is None else np.asarray(w_gen, dtype=np.float64)
        cross = (wr @ self.xy @ wg) / ((wr @ self.n_ref) * (wg @ self.n_gen))
        return float(scale * (self._within(self.xx, self.n_ref, wr) + self._within(self.yy, self.n_gen, wg)
                              - 2.0 * cross))

    def bootstrap(self, n_boot: int = 200, seed: int = 0) -> np.ndarray:
        """KADs of ``n_boot`` draws of clips with replacement (both sets); copies of one clip are
        one clip, so their pairs are left out like the pairs within it."""
        rng = np.random.default_rng(seed)
        nr, ng = len(self.n_ref), len(self.n_gen)
        out = np.empty(n_boot)
        for b in range(n_boot):
            wr = np.bincount(rng.integers(0, nr, nr), minlength=nr).astype(np.float64)
            wg = np.bincount(rng.integers(0, ng, ng), minlength=ng).astype(np.float64)
            if (wr > 0).sum() < 2 or (wg > 0).sum() < 2:  # one distinct clip: no pair to average
                wr, wg = np.ones(nr), np.ones(ng)
            out[b] = self.kad(wr, wg)
        return out

    def per_clip(self, scale: float = SCALE) -> np.ndarray:
        """KAD of each evaluated clip alone against the reference: ``scale * |m_i - m_ref|^2``.

        ``m_i`` is the mean of the kernel features of clip ``i``'s frames (all pairs of its
        frames, itself included: one clip has no "other" clip to pair with), ``m_ref`` the
        reference's (pairs within a reference clip left out, as in :meth:`kad`). Large: no
        reference clip sounds like it. See :func:`kad_per_sample`.
        """
        ref_term = self._within(self.xx, self.n_ref, np.ones(len(self.n_ref)))
        own = np.diag(self.yy) / self.n_gen ** 2
        cross = self.xy.sum(axis=0) / (self.n_ref.sum() * self.n_gen)
        return scale * (own + ref_term - 2.0 * cross)


def kad_clips(ref_clips, gen_clips, bandwidth=None, n_boot: int = 200, alpha: float = 0.05,
              seed: int = 0) -> dict:
    """KAD between two sets of clips, pairs within a clip left out, with a bootstrap interval.

    Parameters
    ----------
    ref_clips, gen_clips : list of array_like, each (frames, dim)
    bandwidth : float, optional
        Default: median pairwise distance of the reference frames.
    n_boot : int
        Bootstrap rounds over clips (0: no interval).
    alpha : float
        1 - the interval's level.
    seed : int

    Returns
    -------
    dict
        ``{"kad": float, "ci95": [low, high] (percentile; [None, None] without bootstrap),
        "bandwidth": float, "bandwidth_from": "reference", "frames_ref": int, "frames_gen": int,
        "clips_ref": int, "clips_gen": int}``. Clip order does not matter.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> clip = lambda loc: rng.normal(loc=loc, size=(20, 4)) * 0.3 + rng.normal(loc=loc, size=4)
    >>> real = [clip(0.0) for _ in range(30)]
    >>> r = kad_clips(real, [clip(0.0) for _ in range(30)], n_boot=100)
    >>> bool(r["ci95"][0] <= 0 <= r["ci95"][1])
    True
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (0.05 for 95 %); got {alpha}")
    sums = ClipKernelSums(ref_clips, gen_clips, bandwidth)
    out = {"kad": sums.kad(), "ci95": [None, None], "bandwidth": sums.bandwidth,
           "bandwidth_from": "reference" if bandwidth is None else "given",
           "frames_ref": sums.frames_ref, "frames_gen": sums.frames_gen,
           "clips_ref": len(sums.n_ref), "clips_gen": len(sums.n_gen)}
    if n_boot:
        lo, hi = np.quantile(sums.bootstrap(n_boot, seed), [alpha / 2, 1 - alpha / 2])
        out["ci95"] = [float(lo), float(hi)]
    return out


def kad_per_clip(ref_clips, gen_clips, bandwidth=None) -> np.ndarray:
    """How far each clip of ``gen_clips`` lies from the reference clips (see
    :meth:`ClipKernelSums.per_clip`); sort by it to listen to the most atypical clips first.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> real = [rng.normal(size=(10, 4)) for _ in range(40)]
    >>> gen = [rng.normal(size=(10, 4)) for _ in range(20)]
    >>> gen[7] = gen[7] + 5.0
    >>> int(np.argmax(kad_per_clip(real, gen)))
    7
    """
    return ClipKernelSums(ref_clips, gen_clips, bandwidth, min_gen=1).per_clip()
