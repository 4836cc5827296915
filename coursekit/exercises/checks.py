"""What every exercise check has in common: print PASS or FAIL with a hint, never raise.

A chapter's checks (``coursekit/exercises/chNN.py``) are small functions built on
:func:`run_check`::

    def check_double(double):
        def test():
            assert double(2) == 4, "double(2) should be 4"
            assert double(-1.5) == -3.0, "negative numbers double too"
        return run_check("double", test, hint="return 2 * x")

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

__all__ = ["report", "run_check", "close", "PASS", "FAIL"]


def report(name: str, ok: bool, hint: str = "") -> bool:
    """Print ``PASS: name`` or ``FAIL: name: hint`` and return ``ok`` as a bool."""
    ok = bool(ok)
    if ok:
        print(f"{PASS}: {name}")
    else:
        print(f"{FAIL}: {name}: {hint}" if hint else f"{FAIL}: {name}")
    return ok


def run_check(name: str, fn, hint: str = "") -> bool:
    """Run the test function ``fn()`` and report the outcome; never raises.

    Parameters
    ----------
    name : str
        What is checked, printed as ``PASS: name`` / ``FAIL: name: ...``.
    fn : callable
        Takes no argument. Passing: returns ``None`` or ``True``. Failing: returns ``False``,
        or raises ``AssertionError`` (its message becomes the hint), or raises anything else.
    hint : str
        What to look at when the check fails.

    Returns
    -------
    bool
        True when the check passed.
    """
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
