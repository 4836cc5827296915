"""Frechet distance between two sets of embeddings: the measuring stick of chapter 07.

Fit a Gaussian to each set of embeddings (one embedding per audio clip), then measure how far
apart the two Gaussians are with the Frechet (2-Wasserstein) distance:

.. math::

    FD = \\lVert \\mu_1 - \\mu_2 \\rVert^2 + \\operatorname{Tr}\\Sigma_1 + \\operatorname{Tr}\\Sigma_2
         - 2 \\operatorname{Tr}\\sqrt{\\Sigma_1^{1/2}\\,\\Sigma_2\\,\\Sigma_1^{1/2}}

With audio embeddings (VGGish, CLAP, the course's own classifier) this is the Frechet Audio
Distance, FAD. The module is built bottom-up, in the order the chapter walks through it:

1. :func:`gaussian_stats` and :class:`RunningStats`: mean and covariance (float64, ``ddof=1``),
   one-shot or streamed batch by batch.
2. :func:`trace_sqrt_product`: the only hard term, :math:`\\operatorname{Tr}\\sqrt{\\cdot}`,
   by two symmetric eigendecompositions (``method='eigh'``), or the classic
   ``scipy.linalg.sqrtm`` formula (``method='sqrtm'``) for comparison.
3. :func:`frechet_distance_from_stats` and :func:`frechet_distance`: the distance itself.
4. What a single number hides: :func:`fad_inf` (the bias that depends on the sample size,
   extrapolated away), :func:`bootstrap_ci` (how much the number moves if we had drawn other
   clips) and :func:`per_sample_scores` (which generated clips push the distance up).
5. :class:`EmbeddingCache`: embeddings are slow to compute, so they are kept on disk, keyed by
   the content of the audio file and the name of the embedding.

Example
-------
>>> import numpy as np
>>> from coursekit.eval.fad import frechet_distance
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(2000, 8))
>>> y = rng.normal(loc=1.0, size=(2000, 8))      # every mean shifted by 1: true FD = 8
>>> round(frechet_distance(x, y))
8
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import linalg

__all__ = [
    "RankDeficientWarning",
    "gaussian_stats",
    "RunningStats",
    "trace_sqrt_product",
    "frechet_distance_from_stats",
    "frechet_distance",
    "FADInfResult",
    "fad_inf",
    "bootstrap_ci",
    "per_sample_scores",
    "EmbeddingCache",
]

METHODS = ("eigh", "sqrtm")


class RankDeficientWarning(UserWarning):
    """Fewer samples than dimensions: the covariance estimate is singular and the FD is biased."""


# --------------------------------------------------------------------------------------------
# 0. Checking the input
# --------------------------------------------------------------------------------------------


def _as_embeddings(x, name: str = "x", min_samples: int = 2, warn_rank: bool = True) -> np.ndarray:
    """``x`` as a float64 array of shape (n_samples, dim), or a ValueError saying what is wrong."""
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype == object or np.iscomplexobj(x) or not (
        np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)
    ):
        raise ValueError(f"{name} must be a real numeric array of embeddings; got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, dim), one embedding per row; got "
            f"shape {x.shape}. For a single embedding use {name}[None, :]; for frame-wise "
            "embeddings of shape (n_clips, n_frames, dim) average or stack the frames first."
        )
    n, d = x.shape
    if n == 0:
        raise ValueError(f"{name} is empty (0 samples): there is nothing to compare")
    if d == 0:
        raise ValueError(f"{name} has embeddings of dimension 0")
    if n < min_samples:
        raise ValueError(
            f"{name} has {n} sample(s); at least {min_samples} are needed (a single sample has "
            "no covariance). Use more clips, ideally several times the embedding dimension."
        )
    x = x.astype(np.float64, copy=False)
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or inf) in {len(rows)} "
            f"row(s), first rows {rows[:5].tolist()}; check the audio of those clips (silent, "
            "clipped or NaN audio) and the embedding model"
        )
    if warn_rank and n <= d:
        warnings.warn(
            f"{name} has n={n} samples for dim={d}: its covariance is rank-deficient (n <= d), "
            "so the Frechet distance is unreliable and strongly biased. Use more samples "
            "(several times the dimension) or a smaller embedding (e.g. PCA to well below n "
            "dimensions).",
            RankDeficientWarning,
            stacklevel=3,
        )
    return x


def _check_stats(mu, sigma, name: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1 or mu.size == 0:
        raise ValueError(f"mu{name} must be a non-empty 1-D mean vector; got shape {mu.shape}")
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ValueError(
            f"sigma{name} must be a square covariance of shape ({d}, {d}) to match mu{name}; "
            f"got shape {sigma.shape}"
        )
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError(f"mu{name} / sigma{name} contain non-finite values (NaN or inf)")
    return mu, sigma


# --------------------------------------------------------------------------------------------
# 1. Mean and covariance
# --------------------------------------------------------------------------------------------


def gaussian_stats(x) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a set of embeddings, in float64.

    Parameters
    ----------
    x : array_like, shape (n_samples, dim)
        One embedding per row, any float dtype (or a torch tensor).

    Returns
    -------
    mu : np.ndarray, shape (dim,)
        The mean embedding.
    sigma : np.ndarray, shape (dim, dim)
        The unbiased covariance (``ddof=1``, divided by ``n - 1``), exactly symmetric.

    Raises
    ------
    ValueError
        Empty input, a single sample, a non-2-D array or non-finite values.

    Warns
    -----
    RankDeficientWarning
        When ``n_samples <= dim``: the covariance is then singular.

    Example
    -------
    >>> import numpy as np
    >>> mu, sigma = gaussian_stats(np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 2.0]]))
    >>> mu
    array([2., 2.])
    >>> sigma
    array([[4., 1.],
           [1., 1.]])
    """
    x = _as_embeddings(x)
    mu = x.mean(axis=0)
    xc = x - mu
    sigma = xc.T @ xc / (x.shape[0] - 1)
    return mu, (sigma + sigma.T) / 2  # symmetric to the last bit


class RunningStats:
    """Mean and covariance accumulated batch by batch (float64, ``ddof=1``).

    Embedding a large dataset happens in batches; keeping every embedding only to compute a
    mean and a covariance would waste memory. This accumulator keeps three things: the count
    ``n``, the running mean, and ``M2`` = sum of outer products of deviations from the mean.
    A batch is folded in with the parallel update of Chan, Golub and LeVeque (1979), which is
    Welford's algorithm applied to whole batches: with ``delta = mean_b - mean``,

    ``n' = n + n_b``, ``mean' = mean + delta * n_b / n'``,
    ``M2' = M2 + M2_b + outer(delta, delta) * n * n_b / n'``.

    Only deviations from a mean are ever squared, so there is no catastrophic cancellation
    (unlike the textbook ``E[x x^T] - mu mu^T``); the result equals :func:`gaussian_stats`
    on all the data to round-off. Two accumulators (e.g. from two workers) merge the same way.

    Parameters
    ----------
    dim : int, optional
        Embedding dimension; taken from the first batch when not given.

    Attributes
    ----------
    n : int
        Number of samples seen.

    Example
    -------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(1000, 4))
    >>> rs = RunningStats()
    >>> for batch in np.array_split(x, 7):
    ...     rs.update(batch)
    >>> rs.n
    1000
    >>> mu, sigma = gaussian_stats(x)
    >>> bool(np.allclose(rs.mean, mu) and np.allclose(rs.cov, sigma))
    True
    """

    def __init__(self, dim: int | None = None):
        self.n = 0
        self.dim = dim
        self._mean = None if dim is None else np.zeros(dim)
        self._m2 = None if dim is None else np.zeros((dim, dim))

    def _combine(self, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        if self.dim is None:
            self.dim = mean_b.shape[0]
        if mean_b.shape[0] != self.dim:
            raise ValueError(
                f"batch has embeddings of dimension {mean_b.shape[0]} but this accumulator "
                f"holds dimension {self.dim}"
            )
        if self.n == 0:
            self.n, self._mean, self._m2 = n_b, mean_b.copy(), m2_b.copy()
            return
        n = self.n + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._m2 = self._m2 + m2_b + np.outer(delta, delta) * (self.n * n_b / n)
        self.n = n

    def update(self, batch) -> None:
        """Fold a batch of embeddings, shape (batch, dim) or a single (dim,) vector, in."""
        if hasattr(batch, "detach"):
            batch = batch.detach().cpu().numpy()
        batch = np.asarray(batch)
        if batch.ndim == 1:
            batch = batch[None, :]
        if batch.ndim == 2 and batch.shape[0] == 0:
            return  # an empty batch changes nothing
        batch = _as_embeddings(batch, name="batch", min_samples=1, warn_rank=False)
        mean_b = batch.mean(axis=0)
        dev = batch - mean_b
        self._combine(batch.shape[0], mean_b, dev.T @ dev)

    def merge(self, other: "RunningStats") -> "RunningStats":
        """Fold another accumulator in (in place); returns ``self``."""
        if not isinstance(other, RunningStats):
            raise TypeError(f"can only merge another RunningStats, not {type(other).__name__}")
        if other.n > 0:
            self._combine(other.n, other._mean, other._m2)
        return self

    def __add__(self, other: "RunningStats") -> "RunningStats":
        """``a + b``: a new accumulator holding both, leaving ``a`` and ``b`` unchanged."""
        out = RunningStats(self.dim)
        return out.merge(self).merge(other)

    @property
    def mean(self) -> np.ndarray:
        """The mean embedding, shape (dim,)."""
        if self.n == 0:
            raise ValueError("RunningStats is empty: call update() with some embeddings first")
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        """The unbiased covariance (``ddof=1``), shape (dim, dim)."""
        if self.n < 2:
            raise ValueError(
                f"RunningStats has {self.n} sample(s); a covariance needs at least 2"
            )
        sigma = self._m2 / (self.n - 1)
        return (sigma + sigma.T) / 2

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, cov)``, ready for :func:`frechet_distance_from_stats`.

        Warns with :class:`RankDeficientWarning` when ``n <= dim``.
        """
        if 2 <= self.n <= self.dim:
            warnings.warn(
                f"RunningStats has n={self.n} samples for dim={self.dim}: the covariance is "
                "rank-deficient (n <= d); use more samples or a smaller embedding",
                RankDeficientWarning,
                stacklevel=2,
            )
        return self.mean, self.cov

    def __repr__(self) -> str:
        return f"RunningStats(n={self.n}, dim={self.dim})"


# --------------------------------------------------------------------------------------------
# 2. The trace of a matrix square root
# --------------------------------------------------------------------------------------------


def _psd_eigh(sigma: np.ndarray, name: str = "sigma") -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (clipped at 0) and eigenvectors of a covariance.

    Eigenvalues below 0 can only be round-off for a covariance; they are set to 0, with a
    warning when they are too large to be round-off.
    """
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    if w.size and w[0] < -1e-6 * max(abs(w[-1]), np.finfo(float).tiny):
        warnings.warn(
            f"{name} is not positive semi-definite (smallest eigenvalue {w[0]:.3g}, largest "
            f"{w[-1]:.3g}); negative eigenvalues are set to 0. Is it really a covariance?",
            stacklevel=4,
        )
    return np.clip(w, 0.0, None), v


def _psd_sqrt(sigma: np.ndarray, name: str = "sigma") -> np.ndarray:
    """Symmetric square root of a covariance: ``V diag(sqrt(w)) V^T``."""
    w, v = _psd_eigh(sigma, name)
    return (v * np.sqrt(w)) @ v.T


def trace_sqrt_product(sigma1, sigma2, method: str = "eigh") -> float:
    """``Tr sqrt(sigma1^1/2 sigma2 sigma1^1/2)``, the cross term of the Frechet distance.

    ``sigma1 @ sigma2`` is not symmetric, but it is *similar* to the symmetric positive
    semi-definite matrix ``M = A sigma2 A`` with ``A = sigma1^1/2``, so both have the same
    (real, non-negative) eigenvalues ``lambda_k``, and the trace we need is ``sum sqrt(lambda_k)``.

    - ``method='eigh'`` (default): the eigendecomposition ``sigma1 = V diag(w) V^T`` gives
      ``A = V diag(sqrt(w)) V^T``; rather than form ``A``, use ``L = V diag(sqrt(w))``: the
      matrix ``L^T sigma2 L = V^T M V`` has the eigenvalues of ``M``, found by ``eigvalsh``.
      Tiny negative eigenvalues, which are round-off, are clipped to 0. Symmetric solvers are
      stable and several times faster than a general matrix square root.
    - ``method='sqrtm'``: the formula of most FID/FAD code, ``Tr scipy.linalg.sqrtm(sigma1 @
      sigma2)``, a general (Schur) square root of a non-symmetric matrix. It may return a
      complex matrix through round-off; the real part is taken, with a warning when the
      imaginary part is significant. Kept for comparison and for teaching.

    Parameters
    ----------
    sigma1, sigma2 : array_like, shape (dim, dim)
        Symmetric positive semi-definite matrices (covariances).
    method : {'eigh', 'sqrtm'}
        How to compute it (see above).

    Returns
    -------
    float
        The trace of the square root, ``>= 0``.

    Example
    -------
    >>> import numpy as np
    >>> s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    >>> trace_sqrt_product(s1, s2)          # sqrt(1*9) + sqrt(4*1)
    5.0
    >>> round(trace_sqrt_product(s1, s2, method="sqrtm"), 12)
    5.0
    """
    s1 = np.asarray(sigma1, dtype=np.float64)
    s2 = np.asarray(sigma2, dtype=np.float64)
    if s1.ndim != 2 or s1.shape[0] != s1.shape[1] or s1.shape != s2.shape:
        raise ValueError(
            f"sigma1 and sigma2 must be square matrices of the same shape; got {s1.shape} and "
            f"{s2.shape}"
        )
    if method == "eigh":
        # sigma1 = V diag(w) V^T. With L = V diag(sqrt(w)), the matrix L^T sigma2 L equals
        # V^T (sigma1^1/2 sigma2 sigma1^1/2) V: the same eigenvalues, one product less.
        w, v = _psd_eigh(s1, "sigma1")
        factor = v * np.sqrt(w)
        m = factor.T @ s2 @ factor
        lam = np.linalg.eigvalsh((m + m.T) / 2)
        return float(np.sqrt(np.clip(lam, 0.0, None)).sum())
    if method == "sqrtm":
        return _trace_sqrtm(s1, s2)
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")


def _trace_sqrtm(s1: np.ndarray, s2: np.ndarray) -> float:
    """``Tr sqrtm(s1 @ s2)`` with SciPy, as FID/FAD code usually writes it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "matrix is singular": handled below
        covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        # A singular product can make sqrtm fail; the usual remedy is a tiny ridge.
        eps = 1e-6 * max(np.trace(s1), np.trace(s2), 1e-12) / s1.shape[0]
        warnings.warn(
            f"scipy.linalg.sqrtm returned non-finite values (singular covariance); retrying "
            f"with {eps:.2g} added to the diagonals. method='eigh' does not need this.",
            RankDeficientWarning,
            stacklevel=3,
        )
        offset = eps * np.eye(s1.shape[0])
        covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    tr = np.trace(covmean)
    if np.iscomplexobj(covmean):
        diag = np.diagonal(covmean)
        scale = max(np.abs(diag.real).max(), np.finfo(float).tiny)
        if np.abs(diag.imag).max() > 1e-3 * scale:
            warnings.warn(
                f"sqrtm(sigma1 @ sigma2) has a significant imaginary part (max "
                f"{np.abs(diag.imag).max():.3g} on the diagonal vs {scale:.3g}); keeping the "
                "real part. The covariances are probably near-singular: use method='eigh'.",
                stacklevel=3,
            )
        tr = tr.real
    return float(tr)


# --------------------------------------------------------------------------------------------
# 3. The Frechet distance
# --------------------------------------------------------------------------------------------


def frechet_distance_from_stats(mu1, sigma1, mu2, sigma2, method: str = "eigh") -> float:
    """Frechet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``|mu1 - mu2|^2 + Tr sigma1 + Tr sigma2 - 2 Tr sqrt(sigma1^1/2 sigma2 sigma1^1/2)``.

    The true value is never negative; round-off can make the sum of large terms slightly
    negative when the two Gaussians are (nearly) equal, so the result is clipped at 0. A
    warning is given only when the negative part is larger than round-off (below
    ``-1e-6 * scale``, with ``scale = |mu1 - mu2|^2 + Tr sigma1 + Tr sigma2``).

    Parameters
    ----------
    mu1, mu2 : array_like, shape (dim,)
        Means.
    sigma1, sigma2 : array_like, shape (dim, dim)
        Covariances (symmetric positive semi-definite).
    method : {'eigh', 'sqrtm'}
        How :func:`trace_sqrt_product` computes the cross term.

    Returns
    -------
    float
        The distance, ``>= 0``. Its unit is squared embedding units.

    Example
    -------
    >>> import numpy as np
    >>> frechet_distance_from_stats(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2))
    4.0
    """
    mu1, sigma1 = _check_stats(mu1, sigma1, "1")
    mu2, sigma2 = _check_stats(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise ValueError(
            f"the two sets have different embedding dimensions ({mu1.shape[0]} vs "
            f"{mu2.shape[0]}); compare embeddings made by the same model"
        )
    diff = mu1 - mu2
    mean_term = float(diff @ diff)
    tr1, tr2 = float(np.trace(sigma1)), float(np.trace(sigma2))
    fd = mean_term + tr1 + tr2 - 2.0 * trace_sqrt_product(sigma1, sigma2, method=method)
    return _clip_fd(fd, mean_term + tr1 + tr2)


def _clip_fd(fd: float, scale: float) -> float:
    if fd < -1e-6 * max(scale, np.finfo(float).tiny):
        warnings.warn(
            f"Frechet distance came out at {fd:.3g}, more negative than round-off (scale "
            f"{scale:.3g}); clipped to 0. The covariances may not be positive semi-definite.",
            stacklevel=3,
        )
    return max(float(fd), 0.0)


def frechet_distance(x, y, method: str = "eigh") -> float:
    """Frechet distance between two sets of embeddings (FAD when they are audio embeddings).

    Parameters
    ----------
    x, y : array_like, shape (n_x, dim) and (n_y, dim)
        One embedding per row (any float dtype; computed in float64). The sets may differ in
        size but not in dimension.
    method : {'eigh', 'sqrtm'}
        See :func:`trace_sqrt_product`.

    Returns
    -------
    float
        The distance, ``>= 0``; 0 (to round-off) for identical sets; symmetric in ``x, y``.
        It is biased upward by the finite number of samples (see :func:`fad_inf`).

    Raises
    ------
    ValueError
        Empty sets, a single sample, non-finite values, or different dimensions.

    Warns
    -----
    RankDeficientWarning
        When a set has no more samples than dimensions.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(500, 16))
    >>> frechet_distance(x, x) < 1e-9     # 0 up to floating-point round-off
    True
    >>> frechet_distance(x, 2 * x) > 0
    True
    """
    x = _as_embeddings(x, "x")
    y = _as_embeddings(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y have different embedding dimensions ({x.shape[1]} vs {y.shape[1]}); "
            "compare embeddings made by the same model"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)  # already warned above
        mu1, s1 = gaussian_stats(x)
        mu2, s2 = gaussian_stats(y)
    return frechet_distance_from_stats(mu1, s1, mu2, s2, method=method)


# --------------------------------------------------------------------------------------------
# 4a. FAD-inf: extrapolating the sample-size bias away
# --------------------------------------------------------------------------------------------


@dataclass
class FADInfResult:
    """Result of :func:`fad_inf`: the extrapolated distance and how well the line fits.

    ``float(result)`` gives :attr:`value`.

    Attributes
    ----------
    value : float
        FAD-inf, the intercept of the line ``FD = intercept + slope / n`` (the distance an
        infinite number of samples would give), clipped at 0.
    slope : float
        Bias coefficient: the FD at ``n`` samples is about ``intercept + slope / n``.
    r2 : float
        Coefficient of determination of the line through the mean FD at each size (1 = every
        size lies on the line).
    sizes : np.ndarray of int
        Number of samples drawn from ``y`` at each size.
    ref_sizes : np.ndarray of int
        Number of samples drawn from ``x`` at each size (all ``n_x`` when the reference is
        kept whole).
    fds : np.ndarray
        Mean FD over the draws at each size (the points of the fit).
    fd_draws : np.ndarray, shape (n_sizes, n_repeats)
        Every FD computed.
    fd_full : float
        The plain FD of the full sets, for comparison.
    replace : bool
        Whether subsets were drawn with replacement.
    subsample_reference : bool
        Whether ``x`` was subsampled too.
    seed : int
        Seed of the draws.
    intercept : float
        The intercept as fitted. A line can cross below 0 where the true distance is too
        small for these samples to resolve; :attr:`value` then reports 0 (with a note).
    notes : list of str
        Warnings about the fit (e.g. subsets too small for the dimension), also issued as
        Python warnings.
    """

    value: float
    slope: float
    r2: float
    sizes: np.ndarray
    ref_sizes: np.ndarray
    fds: np.ndarray
    fd_draws: np.ndarray
    fd_full: float
    replace: bool = False
    subsample_reference: bool = True
    seed: int = 0
    intercept: float = float("nan")
    notes: list = field(default_factory=list)

    def __float__(self) -> float:
        return float(self.value)

    def predict(self, n) -> np.ndarray | float:
        """FD the fitted line predicts at ``n`` samples of ``y``: ``intercept + slope / n``."""
        return self.intercept + self.slope / np.asarray(n, dtype=np.float64)

    def to_dict(self) -> dict:
        """Plain-Python version, ready for ``json.dump``."""
        return {
            "fad_inf": float(self.value),
            "intercept": float(self.intercept),
            "slope": float(self.slope),
            "r2": float(self.r2),
            "sizes": [int(s) for s in self.sizes],
            "ref_sizes": [int(s) for s in self.ref_sizes],
            "fds": [float(f) for f in self.fds],
            "fd_draws": self.fd_draws.tolist(),
            "fd_full": float(self.fd_full),
            "replace": bool(self.replace),
            "subsample_reference": bool(self.subsample_reference),
            "seed": int(self.seed),
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        return (
            f"FADInfResult(value={self.value:.6g}, slope={self.slope:.4g}, r2={self.r2:.4f}, "
            f"fd_full={self.fd_full:.6g}, sizes={int(self.sizes[0])}..{int(self.sizes[-1])} "
            f"x{len(self.sizes)}, replace={self.replace})"
        )


def _fit_line(inv_n: np.ndarray, fds: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line ``fd = a + b * inv_n``; returns ``(a, b, r2)``."""
    b, a = np.polyfit(inv_n, fds, deg=1)
    resid = fds - (a + b * inv_n)
    ss_tot = float(((fds - fds.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return float(a), float(b), r2


def fad_inf(
    x,
    y,
    seed: int = 0,
    n_sizes: int = 8,
    n_min: int | None = None,
    n_repeats: int = 3,
    replace: bool = False,
    subsample_reference: bool = True,
    method: str = "eigh",
) -> FADInfResult:
    """FAD-inf: the Frechet distance extrapolated to an infinite number of samples.

    The FD of ``n`` samples is biased upward: noise in the estimated means and covariances
    looks like distance. To first order the bias is proportional to ``1/n``:
    ``E[FD_n] ~ FD_inf + slope / n`` (Chong & Forsyth 2020, "Effectively unbiased FID"; Gui et
    al. 2024 for FAD). So we compute the FD on random subsets of several sizes, fit a line
    against ``1/n``, and read off its intercept at ``1/n = 0``.

    The subsets are drawn *without* replacement: a subset of ``n`` distinct clips behaves like
    ``n`` fresh samples from the true distribution, so the line extrapolates to the true
    distance. Drawing *with* replacement (``replace=True``, as a popular tool does) samples
    from the fixed set of clips we happen to have; as ``n`` grows such subsets converge to
    the full set, not to the true distribution, so the intercept lands near the plain FD of
    the full set and its sample-size bias stays in. The option is here to show exactly that.

    Parameters
    ----------
    x : array_like, shape (n_x, dim)
        Reference embeddings (e.g. real audio).
    y : array_like, shape (n_y, dim)
        Evaluated embeddings (e.g. generated audio).
    seed : int
        Seed of the random draws; same seed, same result.
    n_sizes : int
        Number of subset sizes, spaced evenly in ``1/n`` between ``1/n_min`` and ``1/n_y``.
    n_min : int, optional
        Smallest subset of ``y``. Default ``max(n_y // 4, 2)``. Keep it well above ``dim``:
        the ``1/n`` law only holds when subsets have several times more samples than
        dimensions.
    n_repeats : int
        Draws per size; their mean FD is the point of the fit at that size.
    replace : bool
        Draw with replacement (keeps the bias, see above) instead of without.
    subsample_reference : bool
        If True (default), ``x`` is subsampled by the same fraction as ``y``, so the bias of
        both sets shrinks like ``1/n`` and is removed together. If False, the statistics of
        the whole ``x`` are used at every size, as FAD tools with a fixed background set do;
        the reference's own bias (``~ 1/n_x``) then stays in the intercept.
    method : {'eigh', 'sqrtm'}
        See :func:`trace_sqrt_product`.

    Returns
    -------
    FADInfResult
        ``.value`` is FAD-inf; also the slope, ``r2`` and every size and FD used.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2000, 16))
    >>> y = rng.normal(loc=0.25, size=(2000, 16))     # true FD = 16 * 0.25**2 = 1
    >>> res = fad_inf(x, y, seed=0)
    >>> abs(res.value - 1.0) < abs(res.fd_full - 1.0)  # closer to the truth than plain FD
    True
    >>> float(res) == res.value
    True
    """
    x = _as_embeddings(x, "x", warn_rank=False)
    y = _as_embeddings(y, "y", warn_rank=False)
    n_x, d = x.shape
    n_y = y.shape[0]
    if y.shape[1] != d:
        raise ValueError(
            f"x and y have different embedding dimensions ({d} vs {y.shape[1]}); compare "
            "embeddings made by the same model"
        )
    if n_sizes < 2 or n_repeats < 1:
        raise ValueError(f"need n_sizes >= 2 and n_repeats >= 1; got {n_sizes}, {n_repeats}")
    if n_min is None:
        n_min = max(n_y // 4, 2)
    if not 2 <= n_min < n_y:
        raise ValueError(f"n_min must be between 2 and n_y - 1 = {n_y - 1}; got {n_min}")

    # Sizes evenly spaced in 1/n: the fit is a line in 1/n, so this spreads its points evenly.
    inv = np.linspace(1.0 / n_min, 1.0 / n_y, n_sizes)
    sizes = np.unique(np.round(1.0 / inv).astype(int))
    if len(sizes) < 2:
        raise ValueError(f"n_min={n_min} and n_y={n_y} give fewer than 2 distinct sizes")
    if subsample_reference:
        ref_sizes = np.maximum(np.round(sizes * n_x / n_y).astype(int), 2)
    else:
        ref_sizes = np.full_like(sizes, n_x)

    notes = []
    smallest = min(int(sizes[0]), int(ref_sizes[0]))
    if smallest <= 2 * d:
        notes.append(
            f"smallest subset has {smallest} samples for dim={d}; the 1/n law needs subsets of "
            "several times the dimension, so the fit may be poor (use more samples, a larger "
            "n_min or a smaller embedding)"
        )
        warnings.warn(
            "fad_inf: " + notes[-1],
            RankDeficientWarning if smallest <= d else UserWarning,
            stacklevel=2,
        )

    rng = np.random.default_rng(seed)
    full_ref = None if subsample_reference else gaussian_stats(x)
    draws = np.zeros((len(sizes), n_repeats))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)  # warned once above
        for i, (n, m) in enumerate(zip(sizes, ref_sizes)):
            for r in range(n_repeats):
                mu2, s2 = gaussian_stats(y[rng.choice(n_y, size=n, replace=replace)])
                if full_ref is None:
                    mu1, s1 = gaussian_stats(x[rng.choice(n_x, size=m, replace=replace)])
                else:
                    mu1, s1 = full_ref
                draws[i, r] = frechet_distance_from_stats(mu1, s1, mu2, s2, method=method)
        fd_full = frechet_distance(x, y, method=method)
    fds = draws.mean(axis=1)
    intercept, slope, r2 = _fit_line(1.0 / sizes, fds)
    if intercept < 0:
        notes.append(
            f"the fitted intercept is {intercept:.4g} < 0: the true distance is below what these "
            "samples resolve; FAD-inf is reported as 0"
        )
        warnings.warn("fad_inf: " + notes[-1], UserWarning, stacklevel=2)
    return FADInfResult(
        value=max(intercept, 0.0),
        intercept=intercept,
        slope=slope,
        r2=r2,
        sizes=sizes,
        ref_sizes=ref_sizes,
        fds=fds,
        fd_draws=draws,
        fd_full=fd_full,
        replace=replace,
        subsample_reference=subsample_reference,
        seed=seed,
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# 4b. Confidence interval by the bootstrap
# --------------------------------------------------------------------------------------------


def bootstrap_ci(
    x,
    y,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    method: str = "percentile",
    return_distribution: bool = False,
):
    """Bootstrap confidence interval of the Frechet distance between ``x`` and ``y``.

    Each bootstrap round redraws ``n_x`` rows of ``x`` and ``n_y`` rows of ``y`` with
    replacement (as if we had collected another set of clips) and recomputes the FD. The
    spread of these FDs is the uncertainty of our number due to *which* clips we have.

    - ``method='percentile'`` (default): the ``alpha/2`` and ``1 - alpha/2`` quantiles of the
      bootstrap FDs. An interval for the FD *at this sample size*, bias included.
    - ``method='basic'``: ``(2 FD - q_hi, 2 FD - q_lo)``, clipped at 0. The bootstrap FDs sit
      above the point estimate by about its own sample-size bias, and this reflection corrects
      for it: an interval for the true (infinite-sample) distance. When the bias is large
      compared with the spread it may not contain the point estimate, and that is the point.

    Parameters
    ----------
    x, y : array_like, shape (n_x, dim) and (n_y, dim)
        The two sets of embeddings.
    n_boot : int
        Number of bootstrap rounds (each one FD computation).
    alpha : float
        1 - confidence level (0.05 gives a 95 % interval).
    seed : int
        Seed of the resampling.
    method : {'percentile', 'basic'}
        Which interval (see above).
    return_distribution : bool
        Also return the ``n_boot`` bootstrap FDs.

    Returns
    -------
    low, high : float
        The interval.
    fds : np.ndarray, shape (n_boot,)
        Only with ``return_distribution=True``.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(300, 4)), rng.normal(loc=0.5, size=(300, 4))
    >>> low, high = bootstrap_ci(x, y, n_boot=100)
    >>> bool(low <= frechet_distance(x, y) <= high)
    True
    """
    x = _as_embeddings(x, "x")
    y = _as_embeddings(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y have different embedding dimensions ({x.shape[1]} vs {y.shape[1]})"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (0.05 for 95 %); got {alpha}")
    if n_boot < 2:
        raise ValueError(f"n_boot must be at least 2; got {n_boot}")
    if method not in ("percentile", "basic"):
        raise ValueError(f"unknown method {method!r}; choose 'percentile' or 'basic'")
    rng = np.random.default_rng(seed)
    fds = np.empty(n_boot)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)  # warned above, if at all
        for b in range(n_boot):
            xb = x[rng.integers(0, x.shape[0], size=x.shape[0])]
            yb = y[rng.integers(0, y.shape[0], size=y.shape[0])]
            fds[b] = frechet_distance(xb, yb)
        q_lo, q_hi = np.quantile(fds, [alpha / 2, 1 - alpha / 2])
        if method == "percentile":
            low, high = float(q_lo), float(q_hi)
        else:
            fd = frechet_distance(x, y)
            low, high = max(2 * fd - q_hi, 0.0), max(2 * fd - q_lo, 0.0)
    return (low, high, fds) if return_distribution else (low, high)


# --------------------------------------------------------------------------------------------
# 4c. Per-sample scores: which clips push the distance up
# --------------------------------------------------------------------------------------------


def per_sample_scores(x_ref, y, n_quad: float = 0.2) -> np.ndarray:
    """Leave-one-out contribution of each sample of ``y`` to ``FD(x_ref, y)``.

    ``score[i] = FD(x_ref, y) - FD(x_ref, y without sample i)``. A positive score means that
    removing clip ``i`` brings ``y`` closer to the reference: the clip is atypical (a bad
    generation, a glitch, a mode the reference does not have). Sort by it to listen to the
    worst clips first. Negative scores mark clips that make ``y`` more like the reference.

    How it is computed, without ``n`` new covariances and ``n`` new matrix square roots:

    1. Dropping clip ``i`` changes the mean and covariance of ``y`` by a rank-one downdate
       (``z_i = y_i - mean``):
       ``mean_-i = mean - z_i / (n-1)``,
       ``cov_-i = a * cov - b * z_i z_i^T`` with ``a = (n-1)/(n-2)``, ``b = n / ((n-1)(n-2))``.
       The mean term and the trace term of the FD follow in O(d) per clip.
    2. The cross term is ``Tr sqrt(A cov_-i A) = Tr sqrt(a M - b u_i u_i^T)`` with
       ``A = sigma_ref^1/2``, ``M = A cov A`` and ``u_i = A z_i``. After one eigendecomposition
       ``M = Q diag(lam) Q^T`` this is ``Tr sqrt(D - b v_i v_i^T)``, ``D = a diag(lam)``,
       ``v_i = Q^T u_i``: a diagonal minus a rank-one matrix.
    3. For a matrix ``S >= 0``, ``Tr sqrt(S) = (2/pi) integral_0^inf Tr[S (S + s^2)^-1] ds``
       (from ``sqrt(mu) = (2/pi) integral_0^inf mu / (mu + s^2) ds``). The inverse of a diagonal
       minus a rank-one matrix has a closed form (Sherman-Morrison), which gives
       ``Tr sqrt(D - b v v^T) - Tr sqrt(D) = -(2/pi) integral_0^inf s^2 b g2(s) / (1 - b g1(s)) ds``
       with ``g1 = sum_k v_k^2 / (D_k + s^2)`` and ``g2 = sum_k v_k^2 / (D_k + s^2)^2``.
    4. The integral is evaluated by the trapezoid rule in ``t = log s``; the integrand is
       smooth there (analytic in a strip of half-width pi/2), so the rule converges
       exponentially fast: a step of 0.2 is accurate to about machine precision.

    Total cost: two ``d x d`` eigendecompositions plus O(n d (d + n_nodes)), against
    O(n^2 d^2 + n d^3) for recomputing everything per clip. The tests check the result
    against that brute force.

    Parameters
    ----------
    x_ref : array_like, shape (n_ref, dim)
        Reference embeddings (fixed).
    y : array_like, shape (n, dim)
        Embeddings to score, ``n >= 3``.
    n_quad : float
        Step of the trapezoid rule in ``log s`` (smaller is more accurate and slower).

    Returns
    -------
    np.ndarray, shape (n,)
        One score per row of ``y``.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(500, 8))
    >>> y = rng.normal(size=(200, 8))
    >>> y[17] += 12.0                       # one broken clip
    >>> int(np.argmax(per_sample_scores(x, y)))
    17
    """
    x_ref = _as_embeddings(x_ref, "x_ref")
    y = _as_embeddings(y, "y", min_samples=3)
    if x_ref.shape[1] != y.shape[1]:
        raise ValueError(
            f"x_ref and y have different embedding dimensions ({x_ref.shape[1]} vs "
            f"{y.shape[1]})"
        )
    if not 0 < n_quad <= 1:
        raise ValueError(f"n_quad (the quadrature step) must be in (0, 1]; got {n_quad}")
    n = y.shape[0]
    mu_r, s_r = gaussian_stats(x_ref)
    m = y.mean(axis=0)
    z = y - m
    cov = (z.T @ z) / (n - 1)
    cov = (cov + cov.T) / 2
    a_fac, b_fac = (n - 1) / (n - 2), n / ((n - 1) * (n - 2))

    # Full-set FD and its three terms.
    e = mu_r - m
    tr_r, tr_c = float(np.trace(s_r)), float(np.trace(cov))
    root = _psd_sqrt(s_r, "covariance of x_ref")
    mmat = root @ cov @ root
    lam, q = np.linalg.eigh((mmat + mmat.T) / 2)
    lam = np.clip(lam, 0.0, None)
    fd_full = float(e @ e) + tr_r + tr_c - 2.0 * np.sqrt(lam).sum()

    # Leave-one-out: mean and trace terms (step 1).
    zz = np.einsum("ij,ij->i", z, z)
    mean_loo = e @ e + 2.0 * (z @ e) / (n - 1) + zz / (n - 1) ** 2
    tr_loo = (tr_c * (n - 1) - zz * n / (n - 1)) / (n - 2)

    # Cross term (steps 2-4).
    dk = a_fac * lam  # eigenvalues of a * M
    v2 = (z @ root @ q) ** 2  # (n, d): squared coordinates of u_i in the eigenbasis
    # Eigenvalues at round-off level are zeros of M (rank-deficient y or x_ref); the
    # coordinates of u_i there are round-off too, so these directions are left out.
    keep = dk > dk[-1] * len(dk) * 1e-15
    dk, v2 = dk[keep], v2[:, keep]
    # 1 - b g1(s) = c0 + b s^2 h(s), written so that no two large numbers cancel:
    # c0 = 1 - b g1(0) = det(cov_-i) / det(a cov) on the kept directions (>= 0, clip round-off)
    c0 = np.clip(1.0 - b_fac * (v2 @ (1.0 / dk)), 0.0, None)
    top = dk[-1] + b_fac * v2.sum(axis=1).max()
    t = np.arange(0.5 * np.log(dk[0]) - 36.0, 0.5 * np.log(top) + 36.0, n_quad)
    s2 = np.exp(2.0 * t)  # s^2 at each node
    w = 1.0 / (dk[:, None] + s2[None, :])  # (d, nodes)
    g2 = v2 @ (w * w)
    h = v2 @ (w / dk[:, None])
    denom = c0[:, None] + b_fac * s2[None, :] * h
    # ds = s dt, so the integrand in t is s^3 * b * g2 / (1 - b g1)
    integrand = (s2 * np.exp(t))[None, :] * b_fac * g2 / denom
    delta = -(2.0 / np.pi) * integrand.sum(axis=1) * n_quad
    cross_loo = np.sqrt(dk).sum() + delta

    fd_loo = mean_loo + tr_r + tr_loo - 2.0 * cross_loo
    return fd_full - fd_loo


# --------------------------------------------------------------------------------------------
# 5. The embedding cache
# --------------------------------------------------------------------------------------------


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
        """``get`` the embedding, or compute it with ``compute_fn(path)``, ``put`` it, return it."""
        emb = self.get(path, embedding_name)
        if emb is None:
            emb = np.asarray(compute_fn(Path(path)))
            self.put(path, embedding_name, emb)
        return emb

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.folder)!r}, version={self.version!r})"
