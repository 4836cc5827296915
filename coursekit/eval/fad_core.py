"""The Frechet distance between two sets of embeddings, and the Gaussian statistics it is built on.

In the order they build on each other: mean and covariance (:func:`gaussian_stats`, or
:class:`RunningStats` batch by batch), the trace of the matrix square root
(:func:`trace_sqrt_product`), and the distance (:func:`frechet_distance_from_stats`,
:func:`frechet_distance`). Also :class:`RankDeficientWarning` and the checks of the input
(``_as_embeddings``, ``_as_two_sets``) that :mod:`coursekit.eval.fad_stats` shares.
:mod:`coursekit.eval.fad` writes out the formula and gathers these with the rest of chapter
07's FAD tools.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

__all__ = [
    "RankDeficientWarning",
    "gaussian_stats",
    "RunningStats",
    "trace_sqrt_product",
    "frechet_distance_from_stats",
    "frechet_distance",
]

METHODS = ("eigh", "sqrtm")


class RankDeficientWarning(UserWarning):
    """Fewer samples than dimensions: the covariance estimate is singular and the FD is biased."""


# --------------------------------------------------------------------------------------------
# 0. Checking the input
# --------------------------------------------------------------------------------------------


def _as_embeddings(
    x, name: str = "x", min_samples: int = 2, warn_rank: bool = True, stacklevel: int = 3
) -> np.ndarray:
    """``x`` as a float64 array of shape (n_samples, dim), or a ValueError saying what is wrong.

    The rank warning points ``stacklevel`` frames up (3: the caller of this function's caller).
    """
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
            stacklevel=stacklevel,
        )
    return x


def _as_two_sets(
    x, y, names: tuple[str, str] = ("x", "y"), min_samples_y: int = 2, warn_rank: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Two sets of embeddings checked by :func:`_as_embeddings`, or a ValueError when their
    dimensions differ. Rank warnings are attributed to the caller of the calling function."""
    x = _as_embeddings(x, names[0], warn_rank=warn_rank, stacklevel=4)
    y = _as_embeddings(y, names[1], min_samples=min_samples_y, warn_rank=warn_rank, stacklevel=4)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} have different embedding dimensions ({x.shape[1]} vs "
            f"{y.shape[1]}); compare embeddings made by the same model"
        )
    return x, y


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
        It is biased upward by the finite number of samples (see
        :func:`~coursekit.eval.fad_stats.fad_inf`).

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
    x, y = _as_two_sets(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)  # already warned above
        mu1, s1 = gaussian_stats(x)
        mu2, s2 = gaussian_stats(y)
    return frechet_distance_from_stats(mu1, s1, mu2, s2, method=method)
