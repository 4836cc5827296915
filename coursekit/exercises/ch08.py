"""Checks of chapter 08 (listening test): ``exercises/08_listening_test.ipynb``.

Each check takes the student's function, prints ``PASS: <name>`` or ``FAIL: <name>: <hint>``
and returns a bool (see :mod:`coursekit.exercises.checks`). The expected values come from
:mod:`coursekit.eval.listening_stats` and :mod:`scipy.stats`.

Example
-------
>>> from coursekit.exercises import ch08
>>> from coursekit.eval.listening_stats import holm
>>> ch08.check_holm(holm)
PASS: holm
True
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..eval import listening_stats as ls
from .checks import close, run_check

__all__ = ["check_mos_with_ci", "check_holm", "check_screen_raters", "check_raters_needed"]

_RATINGS = (
    ([4, 4, 5, 3, 4, 2, 5, 4], 0.95),
    ([1, 2, 4], 0.90),
    ([3, 3, 4, 2, 3, 3, 4, 5, 1, 3, 4, 4, 2, 3, 3, 4, 5, 3, 2, 4], 0.95),
)


def check_mos_with_ci(mos_with_ci) -> bool:
    """``mos_with_ci(ratings, level=0.95)`` -> ``(mean, low, high)``, a Student-t interval."""

    def test():
        for ratings, level in _RATINGS:
            x = np.asarray(ratings, dtype=float)
            got = mos_with_ci(list(ratings), level=level)
            assert isinstance(got, (tuple, list)) and len(got) == 3, \
                f"return a tuple (mean, low, high), got {got!r}"
            mean = x.mean()
            assert close(got[0], mean), f"the first value is the mean of the ratings ({mean:.3f})"
            want = stats.t.interval(level, x.size - 1, loc=mean, scale=stats.sem(x))
            z = stats.norm.ppf((1 + level) / 2) * x.std(ddof=1) / np.sqrt(x.size)
            if close(got[1:], (mean - z, mean + z)):
                raise AssertionError("that is the normal (z) interval; with few ratings use the t "
                                     "distribution with n - 1 degrees of freedom (scipy.stats.t.ppf)")
            if close(got[1:], stats.t.interval(level, x.size - 1, loc=mean,
                                               scale=x.std(ddof=0) / np.sqrt(x.size))):
                raise AssertionError("use the sample standard deviation (ddof=1), not ddof=0")
            assert close(got[1:], want), (
                f"ratings {ratings} at level {level}: expected ({want[0]:.3f}, {want[1]:.3f}), got "
                f"({float(got[1]):.3f}, {float(got[2]):.3f}); the half-width is a t quantile times the "
                "standard error of the mean")

    return run_check("mos_with_ci", test, hint=(
        "the interval is the mean plus and minus a quantile times the standard error of the mean",
        "the standard error is the sample standard deviation (one degree of freedom less) over the "
        "square root of the number of ratings; the quantile comes from Student's t with n - 1 "
        "degrees of freedom, at (1 + level) / 2",
    ))


def check_holm(holm_adjust) -> bool:
    """``holm_adjust(pvalues)`` -> Holm-adjusted p-values, in the input order."""

    def test():
        p = [0.01, 0.04, 0.03, 0.005, 0.20]
        got = np.asarray(holm_adjust(list(p)), dtype=float)
        assert got.shape == (5,), f"return one adjusted p-value per input, got shape {got.shape}"
        if close(got, np.minimum(1, np.asarray(p) * 5)):
            raise AssertionError("that is Bonferroni (every p times m); Holm multiplies the i-th "
                                 "smallest by m - i")
        if close(sorted(got), sorted(ls.holm(p))) and not close(got, ls.holm(p)):
            raise AssertionError("return the adjusted p-values in the order of the input, not sorted")
        if close(got, [0.04, 0.08, 0.09, 0.025, 0.20]):
            raise AssertionError("0.04 (3rd smallest x 2 = 0.08) may not be smaller than the "
                                 "adjusted value before it (0.09): take the running maximum")
        assert close(got, [0.04, 0.09, 0.09, 0.025, 0.20]), (
            f"p = {p}: expected [0.04, 0.09, 0.09, 0.025, 0.2], got {np.round(got, 4).tolist()}")
        big = np.asarray(holm_adjust([0.5, 0.6, 0.01]), dtype=float)
        assert close(big, [1.0, 1.0, 0.03]), f"adjusted p-values are capped at 1: got {big.tolist()}"
        rng = np.random.default_rng(0)
        q = rng.random(9) ** 3
        assert close(holm_adjust(list(q)), ls.holm(q)), "wrong on 9 random p-values"

    return run_check("holm", test, hint=(
        "the smallest p-value is held to the strictest standard, the largest to the mildest",
        "sort ascending, multiply the i-th smallest (counting from 0) by m - i, take the running "
        "maximum, cap at 1, and put each value back in the position of its input",
    ))


def check_screen_raters(screen_raters) -> bool:
    """``screen_raters(hidden, threshold=90, max_fraction=0.15)`` -> sorted excluded participants.

    ``hidden`` maps each participant to the ratings they gave the hidden reference.
    """

    def test():
        hidden = {
            "P01": [100] * 20,                       # perfect
            "P02": [100] * 17 + [80, 85, 70],        # 3 of 20 = 15 %: not MORE than 15 %
            "P03": [100] * 16 + [80, 85, 70, 60],    # 4 of 20 = 20 %: out
            "P04": [90] * 10,                        # exactly 90 is not below 90
            "P05": [40, 100, 55, 100],               # 2 of 4: out
        }
        got = screen_raters(dict(hidden))
        assert isinstance(got, list), f"return a list of participant codes, got {type(got).__name__}"
        if "P02" in got:
            raise AssertionError("P02 rated the hidden reference low in exactly 15 % of trials; "
                                 "exclude only MORE than max_fraction")
        if "P04" in got:
            raise AssertionError("P04 always gave 90: a rating counts as low only BELOW the threshold")
        assert got == ["P03", "P05"], f"expected ['P03', 'P05'] (sorted), got {got}"
        got = screen_raters({"A": [95, 92, 91], "B": [89, 100, 100]}, threshold=95, max_fraction=0.5)
        assert got == ["A"], f"use the threshold and max_fraction arguments: expected ['A'], got {got}"

    return run_check("screen_raters", test, hint=(
        "for each rater, what share of their hidden-reference ratings fell below the threshold?",
        "a rating equal to the threshold is not low; a rater is excluded only when the share is "
        "strictly greater than max_fraction; sort the excluded codes",
    ))


def check_raters_needed(raters_for) -> bool:
    """``raters_for(delta, sd, alpha=0.05, power=0.8)`` -> smallest n (paired t-test, noncentral t)."""

    def test():
        for delta, sd, alpha, power in ((0.5, 0.8, 0.05, 0.8), (0.3, 1.0, 0.05, 0.8),
                                         (1.0, 1.0, 0.01, 0.9), (0.25, 0.5, 0.05, 0.8)):
            want = ls.raters_needed(delta, sd, alpha=alpha, power=power)
            got = raters_for(delta, sd, alpha=alpha, power=power)
            assert isinstance(got, (int, np.integer)), f"return an int, got {type(got).__name__}"
            z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
            normal = int(np.ceil((z * sd / delta) ** 2))
            if got == normal and got != want:
                raise AssertionError(f"{got} comes from the normal approximation; with the sd "
                                     "estimated from the data use the noncentral t (scipy.stats.nct)")
            assert got == want, (f"delta={delta}, sd={sd}, alpha={alpha}, power={power}: expected "
                                 f"{want} raters, got {got}")

    return run_check("raters_needed", test, hint=(
        "power grows with the number of raters: try n = 2, 3, ... until it reaches the target",
        "for each n, the critical value comes from the central t with n - 1 degrees of freedom; the "
        "power is the chance that a noncentral t (noncentrality delta / sd times the square root of "
        "n) lands beyond plus or minus that value",
    ))
