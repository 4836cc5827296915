"""Checks of chapter 07 (FAD evaluation): ``exercises/07_fad_evaluation.ipynb``.

Each check takes the student's function, prints ``PASS: <name>`` or ``FAIL: <name>: <hint>``
and returns a bool (see :mod:`coursekit.exercises.checks`). The expected values come from
:mod:`coursekit.eval.fad`, :mod:`coursekit.eval.kad` and NumPy, so a check never trusts the code
it checks.

Example
-------
>>> from coursekit.exercises import ch07
>>> from coursekit.eval import fad
>>> ch07.check_mean_and_cov(fad.gaussian_stats)
PASS: mean_and_cov
True
"""

from __future__ import annotations

import numpy as np

from ..eval import fad, kad
from .checks import close, run_check

__all__ = ["check_mean_and_cov", "check_trace_sqrt_product", "check_frechet_distance",
           "check_fad_inf_fit", "check_kad"]


def _data(n=400, d=5, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d))
    return rng.normal(size=(n, d)) @ mix + 3.0 + shift


def _spd(d, seed):
    a = np.random.default_rng(seed).normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def check_mean_and_cov(mean_and_cov) -> bool:
    """``mean_and_cov(x)`` -> ``(mu (d,), sigma (d, d))``, the unbiased covariance (``ddof=1``)."""

    def test():
        x = _data()
        got = mean_and_cov(x)
        assert isinstance(got, (tuple, list)) and len(got) == 2, "return a tuple (mu, sigma)"
        mu, sigma = (np.asarray(v, dtype=float) for v in got)
        ref_mu, ref_sigma = fad.gaussian_stats(x)
        assert mu.shape == (5,), f"mu has one value per dimension: shape (5,), got {mu.shape}"
        assert close(mu, ref_mu), "mu is the mean over the samples (axis 0, the rows)"
        if sigma.shape == (400, 400):
            raise AssertionError("sigma is (n, n): it should hold one row and column per dimension, so the "
                                 "products run over the samples, not over the dimensions")
        assert sigma.shape == (5, 5), f"sigma must be (d, d) = (5, 5), got {sigma.shape}"
        if close(sigma, ref_sigma * 399 / 400):
            raise AssertionError("you divided by n; the unbiased covariance divides by one less than the number "
                                 "of samples")
        if close(sigma, (x.T @ x) / 399):
            raise AssertionError("centre the samples (subtract the mean) before multiplying")
        assert close(sigma, ref_sigma), "sigma is the average outer product of the centred samples"

    return run_check("mean_and_cov", test, hint=(
        "the mean runs over the samples (the rows); the covariance is the average outer product of "
        "the centred samples",
        "centre every row by subtracting the mean, multiply the transposed centred matrix by the "
        "centred matrix (a d x d result), and divide by the number of samples minus one",
    ))


def check_trace_sqrt_product(trace_sqrt_product) -> bool:
    """``trace_sqrt_product(s1, s2)`` -> ``Tr sqrt(s1^1/2 s2 s1^1/2)`` (a float)."""

    def test():
        assert close(trace_sqrt_product(np.diag([1.0, 4.0]), np.diag([9.0, 1.0])), 5.0), (
            "for diagonal matrices the answer is the sum over the diagonal of the square roots of the "
            "products: diag(1, 4) and diag(9, 1) give 3 + 2 = 5")
        for d, seed in ((3, 0), (8, 1)):
            s1, s2 = _spd(d, seed), _spd(d, seed + 10)
            got = float(np.real(trace_sqrt_product(s1, s2)))
            want = fad.trace_sqrt_product(s1, s2)
            w1, v1 = np.linalg.eigh(s1)
            w2, v2 = np.linalg.eigh(s2)
            naive = np.trace((v1 * np.sqrt(w1)) @ v1.T @ (v2 * np.sqrt(w2)) @ v2.T)
            if close(got, naive, rtol=1e-6) and not close(naive, want):
                raise AssertionError("the trace of the product of the two square roots is only right when "
                                     "s1 and s2 commute; sandwich s2 between two square roots of s1")
            if close(got, np.sqrt(np.abs(s1 @ s2)).trace(), rtol=1e-6):
                raise AssertionError("an element-wise square root is not a matrix square root; work with "
                                     "the eigenvalues of a symmetric matrix instead")
            assert close(got, want, rtol=1e-6), (
                f"{d}x{d} example: expected {want:.6f}, got {got:.6f}; the answer is the sum of the square "
                "roots of the eigenvalues of s2 sandwiched between two square roots of s1")

    return run_check("trace_sqrt_product", test, hint=(
        "the trace of a matrix square root is the sum of the square roots of its eigenvalues",
        "a symmetric matrix has a symmetric square root: diagonalise it and take the square roots "
        "of its eigenvalues; with that square root A of s1, the matrix A s2 A is symmetric too",
        "so: the square root of s1, then the eigenvalues of s2 sandwiched between it (clip tiny "
        "negative ones to zero), then the sum of their square roots",
    ))


def check_frechet_distance(frechet_distance) -> bool:
    """``frechet_distance(x, y)`` -> the Frechet distance between two sets of embeddings."""

    def test():
        x, y = _data(seed=0), _data(seed=1, shift=0.5)
        got = float(frechet_distance(x, y))
        want = fad.frechet_distance(x, y)
        mu1, s1 = fad.gaussian_stats(x)
        mu2, s2 = fad.gaussian_stats(y)
        mean_term = float(((mu1 - mu2) ** 2).sum())
        if close(got, mean_term):
            raise AssertionError("that is only the mean term; add the traces of both covariances and "
                                 "subtract twice the cross term")
        if close(got, want + 2 * fad.trace_sqrt_product(s1, s2)):
            raise AssertionError("the cross term is subtracted, twice over")
        if close(got, np.sqrt(max(want, 0))):
            raise AssertionError("FAD is the squared distance: do not take the square root at the end")
        assert close(got, want, rtol=1e-6), f"expected {want:.5f}, got {got:.5f}"
        assert abs(float(frechet_distance(x, x))) < 1e-6, "a set has distance 0 to itself"

    return run_check("frechet_distance", test, hint=(
        "one term compares the centres of the two sets, the rest their spreads",
        "reuse your two earlier functions: the squared distance between the means, plus the total "
        "variance (trace) of each covariance, minus twice the cross term",
    ))


def check_fad_inf_fit(fad_inf_fit) -> bool:
    """``fad_inf_fit(ns, fds)`` -> ``(fad_inf, slope)``: the line ``fd = fad_inf + slope / n``."""

    def test():
        ns = np.array([100, 150, 200, 300, 400, 600])
        fds = 2.0 + 300.0 / ns
        got = fad_inf_fit(ns, fds)
        assert isinstance(got, (tuple, list)) and len(got) == 2, "return a tuple (fad_inf, slope)"
        a, b = (float(v) for v in got)
        if close((a, b), (300.0, 2.0), rtol=1e-3):
            raise AssertionError("you returned (slope, intercept); return (fad_inf, slope)")
        assert close((a, b), (2.0, 300.0), rtol=1e-6), (
            f"on distances 2 + 300 / n expected (2.0, 300.0), got ({a:.4g}, {b:.4g}); the line is "
            "straight in one over the size, not in the size")
        rng = np.random.default_rng(0)
        noisy = 5.0 + 800.0 / ns + rng.normal(0, 0.05, ns.size)
        slope, inter = np.polyfit(1.0 / ns, noisy, 1)
        assert close(fad_inf_fit(list(ns), list(noisy)), (inter, slope), rtol=1e-6), \
            "a least-squares straight line of the distances against one over the sizes"

    return run_check("fad_inf_fit", test, hint=(
        "the bias shrinks like one over the number of samples: change the variable so the model "
        "becomes a straight line",
        "fit a least-squares line to the distances against one over each size; FAD-inf is where the "
        "line meets zero on that axis (its intercept), and the bias per sample is its slope",
        "NumPy's polynomial fit of degree one returns the slope first and the intercept second; "
        "hand them back in the order (intercept, slope)",
    ))


def _kernel(a, b, gamma, squared=True):
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.exp(-gamma * (d2 if squared else np.sqrt(d2)))


def check_kad(kad_unbiased) -> bool:
    """``kad_unbiased(x, y, bandwidth)`` -> 100 x the unbiased MMD² with a Gaussian kernel."""

    def test():
        rng = np.random.default_rng(0)
        x = rng.normal(size=(60, 5))
        y = rng.normal(loc=0.3, scale=1.2, size=(45, 5))
        h = 2.5
        got = float(kad_unbiased(x, y, h))
        want = kad.kad(x, y, bandwidth=h)
        m, n = len(x), len(y)
        kxx, kyy, kxy = (_kernel(a, b, 1 / (2 * h * h)) for a, b in ((x, x), (y, y), (x, y)))
        if close(got, 100 * (kxx.mean() + kyy.mean() - 2 * kxy.mean()), rtol=1e-6):
            raise AssertionError("that is the biased estimate: it keeps the diagonal, the kernel of each "
                                 "sample with itself (always 1); average over pairs of two different samples")
        if close(got, 100 * ((kxx.sum() - m) / m ** 2 + (kyy.sum() - n) / n ** 2 - 2 * kxy.mean()), rtol=1e-6):
            raise AssertionError("the diagonal is out, but you divided by the number of all pairs; a set of "
                                 "m samples has m (m - 1) ordered pairs of different samples")
        if close(got, want / 100, rtol=1e-6):
            raise AssertionError("KAD is reported times 100")
        for wrong, what in ((kad.kad(x, y, bandwidth=h / np.sqrt(2)), "you divided by h squared"),
                            (kad.kad(x, y, bandwidth=np.sqrt(h)), "you divided by 2 h, not 2 h squared"),
                            (kad.kad(x, y, bandwidth=1 / np.sqrt(2 * h * h)), "you multiplied by 2 h squared")):
            if close(got, wrong, rtol=1e-6):
                raise AssertionError(f"wrong kernel width: {what}; the kernel is the exponential of minus the "
                                     "squared distance over twice the bandwidth squared")
        kd = [_kernel(a, b, 1 / (2 * h * h), squared=False) for a, b in ((x, x), (y, y), (x, y))]
        if close(got, 100 * ((kd[0].sum() - m) / (m * (m - 1)) + (kd[1].sum() - n) / (n * (n - 1))
                             - 2 * kd[2].mean()), rtol=1e-6):
            raise AssertionError("the kernel takes the squared distance, not the distance")
        if close(got, 100 * ((kxx.sum() - m) / (m * (m - 1)) + (kyy.sum() - n) / (n * (n - 1)) - kxy.mean()),
                 rtol=1e-6):
            raise AssertionError("the cross term counts twice: every pair (x, y) also appears as (y, x)")
        assert close(got, want, rtol=1e-6), (
            f"expected {want:.6f}, got {got:.6f}; the sets have different sizes (60 and 45): does each "
            "within-set average use its own set's size?")
        same = [float(kad_unbiased(rng.normal(size=(200, 3)), rng.normal(size=(200, 3)), 2.0)) for _ in range(20)]
        assert abs(np.mean(same)) < 0.2, "on equal distributions the estimate should scatter around 0"

    return run_check("kad", test, hint=(
        "three averages of the kernel: within the reference, within the other set, and across them; "
        "the two within-set averages run over pairs of two different samples only",
        "the kernel of two embeddings is the exponential of minus their squared distance over twice the "
        "bandwidth squared; a set of m samples has m (m - 1) ordered pairs of different samples",
        "so: sum each within-set kernel matrix, take away its diagonal (every entry of it is one) and "
        "divide by its number of ordered pairs; add the two, take away twice the mean of the cross "
        "matrix, and multiply by 100",
    ))
