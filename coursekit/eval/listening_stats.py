"""The statistics of a listening test, written out so that every step can be read.

Plain functions over NumPy arrays. Each one computes its statistic from ranks and sums the way a
textbook states it; only the reference distributions (t, chi-squared, normal, non-central t)
come from :mod:`scipy.stats`. ``tests/test_listening.py`` checks every function against
``scipy.stats`` on the same data.

- :func:`t_interval`, :func:`bootstrap_interval`: a mean with its confidence interval
- :func:`rank_average`: ranks with ties given their average rank
- :func:`friedman_test`: do the systems differ? (ranks within each block: rater or trial)
- :func:`wilcoxon_signed_rank`: which pairs differ? (paired, no normality assumed)
- :func:`holm`: adjust the p-values of several pairwise tests (family-wise error)
- :func:`spearman`, :func:`kendall_tau`: rank correlation (e.g. FAD against mean rating)
- :func:`paired_t_power`, :func:`raters_needed`: how many raters a test needs

Example
-------
>>> import numpy as np
>>> mean, lo, hi = t_interval([3, 4, 4, 5, 3, 4])
>>> round(mean, 2), round(lo, 2), round(hi, 2)
(3.83, 3.04, 4.62)
>>> holm([0.01, 0.04, 0.03]).round(3).tolist()
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

from math import sqrt

import numpy as np
from scipy import stats

__all__ = [
    "t_interval", "bootstrap_interval", "rank_average", "friedman_test", "wilcoxon_signed_rank",
    "holm", "spearman", "kendall_tau", "paired_t_power", "raters_needed",
]


def _vector(x, name: str = "x", min_len: int = 1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size < min_len:
        raise ValueError(f"{name}: need at least {min_len} value(s), got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: contains NaN or inf; drop missing ratings first")
    return x


# ---------------------------------------------------------------------------------------------
# A mean and its confidence interval
# ---------------------------------------------------------------------------------------------

def t_interval(x, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``x`` with its Student-t confidence interval.

    ``mean +- t_{(1+level)/2, n-1} * s / sqrt(n)``, ``s`` the sample standard deviation. It
    assumes independent ratings; ratings by the same rater are not (see ``unit='participant'``
    in :func:`coursekit.eval.listening_analysis.mos_table`).

    Returns
    -------
    (mean, low, high) : tuple of float

    Example
    -------
    >>> t_interval([1.0, 2.0, 3.0])[0]
    2.0
    """
    x = _vector(x, min_len=2)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}")
    n = x.size
    mean = float(x.mean())
    se = float(x.std(ddof=1)) / sqrt(n)
    half = float(stats.t.ppf((1 + level) / 2, df=n - 1)) * se
    return mean, mean - half, mean + half


def bootstrap_interval(x, level: float = 0.95, n_boot: int = 2000, seed: int = 0,
                       groups=None) -> tuple[float, float, float]:
    """Mean of ``x`` with a percentile bootstrap confidence interval.

    Resample with replacement ``n_boot`` times, take the mean each time, and report the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of those means. With ``groups`` (one
    label per value, e.g. the rater), whole groups are resampled (a cluster bootstrap), which
    respects that one rater's ratings are not independent.

    Returns
    -------
    (mean, low, high) : tuple of float

    Example
    -------
    >>> m, lo, hi = bootstrap_interval([3, 4, 4, 5, 3, 4], n_boot=500, seed=1)
    >>> lo < m < hi
    True
    """
    x = _vector(x, min_len=2)
    if n_boot < 10:
        raise ValueError(f"n_boot={n_boot} is too few resamples; use at least a few hundred")
    rng = np.random.default_rng(seed)
    if groups is None:
        idx = rng.integers(0, x.size, size=(n_boot, x.size))
        means = x[idx].mean(axis=1)
    else:
        groups = np.asarray(groups)
        if groups.shape != x.shape:
            raise ValueError(f"groups has {groups.size} labels for {x.size} values; give one each")
        labels = np.unique(groups)
        sums = np.array([x[groups == g].sum() for g in labels])
        counts = np.array([(groups == g).sum() for g in labels])
        pick = rng.integers(0, labels.size, size=(n_boot, labels.size))
        means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(x.mean()), float(lo), float(hi)


# ---------------------------------------------------------------------------------------------
# Ranks and rank tests
# ---------------------------------------------------------------------------------------------

def rank_average(x) -> np.ndarray:
    """Ranks 1..n of ``x``; tied values share the average of the ranks they span.

    Example
    -------
    >>> rank_average([10, 20, 20, 5]).tolist()
    [2.0, 3.5, 3.5, 1.0]
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(x.size)
    ranks[order] = np.arange(1, x.size + 1)
    for value in np.unique(x):
        tied = x == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def _tie_sizes(x) -> np.ndarray:
    _, counts = np.unique(np.asarray(x), return_counts=True)
    return counts[counts > 1]


def friedman_test(matrix) -> dict:
    """Friedman's test: do ``k`` systems differ, judged by ``n`` blocks (raters or trials)?

    Rank the systems within each block (row), sum the ranks of each system (column) and compare
    with what equal systems would give::

        chi2 = 12 / (n k (k + 1)) * sum_j R_j^2 - 3 n (k + 1)

    divided by ``1 - sum(t^3 - t) / (n k (k^2 - 1))`` to correct for ties (``t``: sizes of the
    groups of tied ratings within a block). Under the null ``chi2 ~ chi-squared(k - 1)``.

    Parameters
    ----------
    matrix : array (n_blocks, k_systems)
        One row a block, every system rated in every row.

    Returns
    -------
    dict
        ``statistic``, ``p``, ``df``, ``n_blocks``, ``mean_ranks`` (per column) and Kendall's
        ``W`` = chi2 / (n (k - 1)) (0: no agreement between blocks, 1: all rank alike).

    Example
    -------
    >>> r = friedman_test([[1, 2, 3], [1, 3, 2], [1, 2, 3], [2, 1, 3]])
    >>> r["df"], round(r["statistic"], 2)
    (2, 4.5)
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < 2 or m.shape[1] < 3:
        raise ValueError(f"friedman_test needs a (blocks, systems) matrix with >= 2 blocks and "
                         f">= 3 systems, got shape {m.shape}; for 2 systems use wilcoxon_signed_rank")
    if not np.all(np.isfinite(m)):
        raise ValueError("friedman_test: the matrix has missing (NaN) cells; keep complete blocks only")
    n, k = m.shape
    ranks = np.vstack([rank_average(row) for row in m])
    r = ranks.sum(axis=0)
    chi2 = 12.0 / (n * k * (k + 1)) * float((r ** 2).sum()) - 3.0 * n * (k + 1)
    ties = sum(float((t ** 3 - t).sum()) for t in map(_tie_sizes, m))
    correction = 1.0 - ties / (n * k * (k * k - 1))
    if correction <= 0:
        raise ValueError("friedman_test: every block rates all systems the same; nothing to test")
    chi2 /= correction
    return {"statistic": chi2, "p": float(stats.chi2.sf(chi2, k - 1)), "df": k - 1,
            "n_blocks": n, "mean_ranks": r / n, "kendall_w": chi2 / (n * (k - 1))}


def _signed_rank_null(ranks: np.ndarray) -> tuple[np.ndarray, int]:
    """Null distribution of R+ when every sign is a fair coin flip (enumerated exactly).

    Ranks may be halves (ties), so work on doubled ranks, which are integers. Returns the
    probability of each doubled sum 0..total and the doubling factor.
    """
    doubled = np.rint(2 * ranks).astype(int)
    total = int(doubled.sum())
    counts = np.zeros(total + 1)
    counts[0] = 1.0
    for r in doubled:  # each rank is in R+ or not: convolve with {0, r}
        shifted = np.zeros_like(counts)
        shifted[r:] = counts[: total + 1 - r]
        counts = counts + shifted
    return counts / counts.sum(), 2


def wilcoxon_signed_rank(x, y=None, method: str = "auto") -> dict:
    """Wilcoxon's signed-rank test of paired ratings ``x`` and ``y`` (two-sided).

    Take the differences ``d = x - y``, drop the zeros, rank ``|d|`` (ties get the average
    rank), and sum the ranks of the positive differences (``R+``) and of the negative ones
    (``R-``). The statistic is ``min(R+, R-)``. Its p-value comes from

    - ``'exact'``: the distribution of ``R+`` when each sign is a fair coin, enumerated;
    - ``'asymptotic'``: the normal approximation, mean ``n(n+1)/4``, variance
      ``(n(n+1)(2n+1) - sum(t^3 - t)/2) / 24`` (``t``: sizes of tied groups);
    - ``'auto'``: as :func:`scipy.stats.wilcoxon` chooses: exact when there are no ties or
      zeros and at most 50 pairs, exact also (over the tied ranks) for at most 13 pairs,
      the normal approximation otherwise.

    Returns
    -------
    dict
        ``statistic`` (min(R+, R-)), ``p``, ``n`` (non-zero pairs), ``r_plus``, ``r_minus``,
        ``method`` (the one used).

    Example
    -------
    >>> r = wilcoxon_signed_rank([5, 4, 4, 5, 3, 4], [3, 3, 4, 2, 2, 3])
    >>> r["n"], r["statistic"]
    (5, 0.0)
    """
    x = _vector(x, "x")
    d = x if y is None else x - _vector(y, "y")
    if y is not None and np.asarray(y).size != x.size:
        raise ValueError(f"x and y must be paired: {x.size} vs {np.asarray(y).size} values")
    if method not in ("auto", "exact", "asymptotic"):
        raise ValueError(f"method must be 'auto', 'exact' or 'asymptotic', got {method!r}")
    n_all = d.size
    n_zero = int((d == 0).sum())
    d = d[d != 0]
    n = d.size
    if n == 0:
        raise ValueError("wilcoxon_signed_rank: every difference is zero; the two are rated alike")
    ranks = rank_average(np.abs(d))
    r_plus = float(ranks[d > 0].sum())
    r_minus = float(ranks[d < 0].sum())
    statistic = min(r_plus, r_minus)
    ties = _tie_sizes(np.abs(d))
    if method == "auto":
        if ties.size == 0 and n_zero == 0:
            method = "exact" if n_all <= 50 else "asymptotic"
        else:
            method = "exact" if n_all <= 13 else "asymptotic"
    if method == "exact":
        probs, factor = _signed_rank_null(ranks)
        k = int(round(factor * r_plus))
        p = 2 * min(probs[: k + 1].sum(), probs[k:].sum())
    else:
        mean = n * (n + 1) / 4
        var = (n * (n + 1) * (2 * n + 1) - float((ties ** 3 - ties).sum()) / 2) / 24
        z = (r_plus - mean) / sqrt(var)
        p = 2 * float(stats.norm.sf(abs(z)))
    return {"statistic": statistic, "p": float(min(1.0, p)), "n": n, "r_plus": r_plus,
            "r_minus": r_minus, "method": method}


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of ``m`` p-values (controls the family-wise error rate).

    Sort the p-values ascending; multiply the i-th smallest (i = 0, 1, ...) by ``m - i``; make
    the sequence non-decreasing (a running maximum) and cap it at 1. Returned in input order.

    Example
    -------
    >>> holm([0.01, 0.02, 0.5]).round(3).tolist()
    [0.03, 0.04, 0.5]
    """
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise ValueError("holm: p-values must be numbers in [0, 1]")
    m = p.size
    adjusted = np.empty(m)
    running = 0.0
    for i, idx in enumerate(np.argsort(p, kind="mergesort")):
        running = max(running, (m - i) * p[idx])
        adjusted[idx] = min(1.0, running)
    return adjusted


# ---------------------------------------------------------------------------------------------
# Rank correlation
# ---------------------------------------------------------------------------------------------

def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = _vector(x, "x", min_len=3)
    y = _vector(y, "y", min_len=3)
    if x.size != y.size:
        raise ValueError(f"x and y must have the same length: {x.size} vs {y.size}")
    return x, y


def spearman(x, y) -> tuple[float, float]:
    """Spearman's rank correlation: the Pearson correlation of the ranks of ``x`` and ``y``.

    The p-value uses ``t = rho sqrt((n - 2) / (1 - rho^2))`` ~ Student t with ``n - 2`` degrees
    of freedom (as :func:`scipy.stats.spearmanr`); with a handful of systems it is rough.

    Example
    -------
    >>> spearman([1, 2, 3, 4], [10, 30, 20, 40])[0]
    0.8
    """
    x, y = _pair(x, y)
    rx, ry = rank_average(x), rank_average(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = sqrt(float((rx ** 2).sum() * (ry ** 2).sum()))
    if denom == 0:
        raise ValueError("spearman: one of the two is constant; a correlation is undefined")
    rho = float((rx * ry).sum()) / denom
    n = x.size
    if abs(rho) >= 1.0:
        return float(np.sign(rho)), 0.0
    t = rho * sqrt((n - 2) / (1 - rho * rho))
    return rho, float(2 * stats.t.sf(abs(t), df=n - 2))


def _inversion_counts(n: int) -> list[int]:
    """How many permutations of n items have 0, 1, 2, ... inversions (Mahonian numbers)."""
    counts = [1]
    for m in range(2, n + 1):  # insert item m: it adds 0..m-1 inversions
        new = [0] * (len(counts) + m - 1)
        for i, c in enumerate(counts):
            for j in range(m):
                new[i + j] += c
        counts = new
    return counts


def kendall_tau(x, y) -> tuple[float, float]:
    """Kendall's tau-b between ``x`` and ``y`` and its two-sided p-value.

    Count the concordant (``C``) and discordant (``D``) pairs; pairs tied in ``x`` or ``y``
    count in neither. ``tau_b = (C - D) / sqrt((n0 - T_x)(n0 - T_y))`` with ``n0 = n(n-1)/2``
    and ``T_x``, ``T_y`` the numbers of pairs tied in ``x``, ``y``. The p-value is exact (all
    permutations) without ties for ``n <= 33``, from the normal approximation otherwise, as
    :func:`scipy.stats.kendalltau` does.

    Example
    -------
    >>> kendall_tau([1, 2, 3, 4], [10, 30, 20, 40])[0]
    0.6666666666666666
    """
    x, y = _pair(x, y)
    n = x.size
    c = d = 0
    for i in range(n):
        s = np.sign(x[i] - x[i + 1:]) * np.sign(y[i] - y[i + 1:])
        c += int((s > 0).sum())
        d += int((s < 0).sum())
    n0 = n * (n - 1) // 2
    tx, ty = _tie_sizes(x), _tie_sizes(y)
    pairs_tx = int((tx * (tx - 1) // 2).sum())
    pairs_ty = int((ty * (ty - 1) // 2).sum())
    if pairs_tx == n0 or pairs_ty == n0:
        raise ValueError("kendall_tau: one of the two is constant; a correlation is undefined")
    tau = (c - d) / sqrt((n0 - pairs_tx) * (n0 - pairs_ty))
    tau = float(min(1.0, max(-1.0, tau)))
    if pairs_tx == 0 and pairs_ty == 0 and (n <= 33 or min(d, n0 - d) <= 1):
        counts = _inversion_counts(n)  # D = number of inversions, under the null uniform
        k = min(d, n0 - d)
        p = 2 * sum(counts[: k + 1]) / sum(counts)
    else:
        m = n * (n - 1.0)
        x0 = float((tx * (tx - 1) * (tx - 2)).sum())
        y0 = float((ty * (ty - 1) * (ty - 2)).sum())
        x1 = float((tx * (tx - 1) * (2 * tx + 5)).sum())
        y1 = float((ty * (ty - 1) * (2 * ty + 5)).sum())
        var = ((m * (2 * n + 5) - x1 - y1) / 18 + 2 * pairs_tx * pairs_ty / m
               + x0 * y0 / (9 * m * (n - 2)))
        p = 2 * float(stats.norm.sf(abs(c - d) / sqrt(var)))
    return tau, float(min(1.0, p))


# ---------------------------------------------------------------------------------------------
# Power: how many raters?
# ---------------------------------------------------------------------------------------------

def paired_t_power(n: int, delta: float, sd: float, alpha: float = 0.05) -> float:
    """Power of a two-sided paired t-test with ``n`` raters.

    Each rater gives a difference between two systems; the differences have mean ``delta``
    (the true difference in MOS points) and standard deviation ``sd``. The test statistic then
    follows a non-central t with ``n - 1`` degrees of freedom and non-centrality
    ``delta / sd * sqrt(n)``; power is the chance it lands beyond the critical values.

    Example
    -------
    >>> round(paired_t_power(20, delta=0.5, sd=0.8), 2)
    0.76
    """
    if n < 2:
        raise ValueError(f"n must be at least 2 raters, got {n}")
    if sd <= 0:
        raise ValueError(f"sd must be positive, got {sd}")
    df = n - 1
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    nc = delta / sd * sqrt(n)
    return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))


def raters_needed(delta: float, sd: float, alpha: float = 0.05, power: float = 0.8,
                  max_n: int = 100000) -> int:
    """Smallest number of raters for which :func:`paired_t_power` reaches ``power``.

    Example
    -------
    >>> raters_needed(delta=0.5, sd=0.8)
    23
    """
    if delta == 0:
        raise ValueError("delta is 0: no number of raters can detect no difference")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), e.g. 0.8; got {power}")
    n = 2
    while paired_t_power(n, delta, sd, alpha) < power:
        n += 1
        if n > max_n:
            raise ValueError(f"more than {max_n} raters needed; is delta / sd tiny?")
    return n
