"""What every exercise check has in common: print PASS or FAIL with a hint, never raise.

A chapter's checks (``coursekit/exercises/chNN.py``) are small functions built on
:func:`run_check`::

    def check_double(double):
        def test():
            assert double(2) == 4, "double(2) should be 4"
            assert double(-1.5) == -3.0, "negative numbers double too"
        return run_check("double", test, hint="return 2 * x")

``hint`` is one string, or a tuple of tiers from the idea to the detail: a failing check shows the
first tier and says how to see the next (:func:`hint`). A hint says what to think about, never
the code of the answer.

``test`` passes when it returns ``None`` or ``True``. It fails when it returns ``False`` (the
``hint`` is shown), when an ``assert`` fails (the assertion's message is shown), when the
student's code raises (the hint and the error are shown), or when it hits the stub's
``NotImplementedError``. The check prints one line and returns a bool; it never raises, so a
notebook always runs to the end.

Example
-------
>>> report("mu_law_encode", True)
PASS: mu_law_encode
True
>>> run_check("double", lambda: (lambda x: 3 * x)(2) == 4, hint="return 2 * x")
FAIL: double: return 2 * x
False
>>> def stub():
...     raise NotImplementedError()
>>> run_check("double", stub, hint="return 2 * x")
FAIL: double: not implemented yet: replace `raise NotImplementedError()` with your code
False
"""

from __future__ import annotations

import numpy as np

PASS = "PASS"
FAIL = "FAIL"

__all__ = ["report", "run_check", "hint", "close", "same", "challenge", "PASS", "FAIL"]

# the hint tiers of each check that has failed, and how many of them were shown
_TIERS: dict[str, tuple[str, ...]] = {}
_SHOWN: dict[str, int] = {}


def report(name: str, ok: bool, hint: str = "") -> bool:
    """Print ``PASS: name`` or ``FAIL: name: hint`` and return ``ok`` as a bool."""
    ok = bool(ok)
    if ok:
        print(f"{PASS}: {name}")
    else:
        print(f"{FAIL}: {name}: {hint}" if hint else f"{FAIL}: {name}")
    return ok


def _first_tier(name: str, hint) -> str:
    """The hint a FAIL line shows: the first tier, and how to ask for the next one."""
    if isinstance(hint, str):
        return hint
    tiers = tuple(hint)
    _TIERS[name] = tiers
    _SHOWN[name] = 1
    if len(tiers) > 1:
        return f'{tiers[0]} (stuck? hint("{name}") gives a further hint)'
    return tiers[0] if tiers else ""


def hint(name: str) -> str:
    """Print (and return) the next hint tier of the check ``name`` after it failed.

    Example
    -------
    >>> run_check("double", lambda: False, hint=("the output grows with x", "twice as much"))
    FAIL: double: the output grows with x (stuck? hint("double") gives a further hint)
    False
    >>> _ = hint("double")
    hint 2 of 2 for double: twice as much
    """
    tiers = _TIERS.get(name)
    if not tiers:
        text = f"no further hint for {name}: run its check first (it has to fail)"
    else:
        k = min(_SHOWN.get(name, 1), len(tiers) - 1)
        _SHOWN[name] = k + 1
        text = f"hint {k + 1} of {len(tiers)} for {name}: {tiers[k]}"
    print(text)
    return text


def run_check(name: str, fn, hint="") -> bool:
    """Run the test function ``fn()`` and report the outcome; never raises.

    Parameters
    ----------
    name : str
        What is checked, printed as ``PASS: name`` / ``FAIL: name: ...``.
    fn : callable
        Takes no argument. Passing: returns ``None`` or ``True``. Failing: returns ``False``,
        or raises ``AssertionError`` (its message becomes the hint), or raises anything else.
    hint : str or tuple of str
        What to look at when the check fails: one string, or tiers from the idea to the
        detail (the FAIL line shows the first; :func:`hint` the next ones).

    Returns
    -------
    bool
        True when the check passed.
    """
    hint = _first_tier(name, hint)
    try:
        result = fn()
    except NotImplementedError:
        return report(name, False, "not implemented yet: replace `raise NotImplementedError()` "
                                   "with your code")
    except AssertionError as err:
        message = str(err).strip()
        return report(name, False, message or hint)
    except Exception as err:  # the student's code crashed: say so, with the hint
        detail = f"your code raised {type(err).__name__}: {err}"
        return report(name, False, f"{hint} ({detail})" if hint else detail)
    if result is None or result is True or (isinstance(result, (bool, np.bool_)) and bool(result)):
        return report(name, True)
    return report(name, False, hint or f"the check returned {result!r}")


def close(a, b, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    """``True`` when ``a`` and ``b`` (numbers or arrays of the same shape) agree to tolerance."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    if not np.all(np.isfinite(a)):
        return False
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


def same(name: str, mine, library, rtol: float = 1e-5, atol: float = 1e-6) -> float:
    """Check that what you wrote on the page computes what the library computes.

    Prints ``same as the library: name (largest difference ...)`` and returns that difference;
    raises ``AssertionError`` when the two differ in shape or beyond the tolerance, so a chapter
    notebook stops where its mechanism and the library part ways.

    Parameters
    ----------
    name : str
        What is compared (a loss, a sampled sequence, ...).
    mine, library : number, array or tensor
        The two results, of the same shape (tensors may be on any device).
    rtol, atol : float
        Tolerances as in :func:`numpy.allclose`.

    Example
    -------
    >>> d = same("a sum", [1.0, 2.0], [1.0, 2.0 + 1e-9])
    same as the library: a sum (largest difference 1e-09)
    """
    def as_array(x):
        if hasattr(x, "detach"):
            x = x.detach().float().cpu().numpy()
        return np.asarray(x, dtype=np.float64)

    a, b = as_array(mine), as_array(library)
    if a.shape != b.shape:
        raise AssertionError(f"{name}: yours has shape {a.shape}, the library's {b.shape}")
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    if not np.allclose(a, b, rtol=rtol, atol=atol) or not np.all(np.isfinite(a)):
        raise AssertionError(f"{name}: yours and the library's differ by up to {diff:.3g}")
    print(f"same as the library: {name} (largest difference {diff:.3g})")
    return diff


def challenge(name: str, score: float, target: float, higher_is_better: bool = False,
              unit: str = "", seconds: float | None = None, budget_s: float | None = None) -> bool:
    """Report a chapter's open challenge: your score against its target, within a time budget.

    A challenge is not a check (it has no single right answer): it prints one line,
    ``CHALLENGE: name: REACHED ...`` or ``CHALLENGE: name: NOT YET ...``, and returns whether
    the target was reached (and, when ``budget_s`` is given, within that many seconds).

    Example
    -------
    >>> challenge("mel distance at 1.6 kbps", 2.1, 2.5, unit=" dB", seconds=40, budget_s=300)
    CHALLENGE: mel distance at 1.6 kbps: REACHED: yours 2.1 dB, target below 2.5 dB (in 40 s of 300 s)
    True
    """
    score, target = float(score), float(target)
    better = score > target if higher_is_better else score < target
    in_time = seconds is None or budget_s is None or seconds <= budget_s
    ok = bool(np.isfinite(score) and better and in_time)
    side = "above" if higher_is_better else "below"
    timing = "" if seconds is None else (f" (in {seconds:.0f} s" + ("" if budget_s is None else
                                                                     f" of {budget_s:.0f} s") + ")")
    verdict = "REACHED" if ok else "NOT YET"
    print(f"CHALLENGE: {name}: {verdict}: yours {score:.3g}{unit}, target {side} {target:.3g}{unit}{timing}")
    return ok
