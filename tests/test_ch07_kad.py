"""Chapter 07's KAD exercise check: passes on the library, names each classic mistake."""

import numpy as np
import pytest

from coursekit.eval import kad
from coursekit.exercises import ch07


def _k(a, b, h, squared=True):
    d2 = ((a[:, None] - b[None]) ** 2).sum(-1)
    return np.exp(-(d2 if squared else np.sqrt(d2)) / (2 * h * h))


def _estimate(x, y, h, diagonal=False, pairs="m(m-1)", scale=100.0, width=1.0, squared=True, cross=2.0):
    m, n = len(x), len(y)
    kxx, kyy, kxy = (_k(a, b, h * width, squared) for a, b in ((x, x), (y, y), (x, y)))
    if diagonal:
        return scale * (kxx.mean() + kyy.mean() - cross * kxy.mean())
    dm, dn = (m * (m - 1), n * (n - 1)) if pairs == "m(m-1)" else (m * m, n * n)
    return scale * ((kxx.sum() - m) / dm + (kyy.sum() - n) / dn - cross * kxy.mean())


def test_passes_on_the_library_and_a_plain_estimator(capsys):
    assert ch07.check_kad(lambda x, y, h: kad.kad(x, y, bandwidth=h))
    assert ch07.check_kad(lambda x, y, h: _estimate(np.asarray(x), np.asarray(y), h))
    assert capsys.readouterr().out.splitlines() == ["PASS: kad", "PASS: kad"]


@pytest.mark.parametrize("kw, message", [
    ({"diagonal": True}, "biased estimate: it keeps the diagonal"),
    ({"pairs": "m^2"}, "m (m - 1) ordered pairs"),
    ({"scale": 1.0}, "times 100"),
    ({"width": 1 / np.sqrt(2)}, "you divided by h squared"),
    ({"squared": False}, "squared distance, not the distance"),
    ({"cross": 1.0}, "the cross term counts twice"),
])
def test_each_mistake_gets_its_hint(kw, message, capsys):
    assert ch07.check_kad(lambda x, y, h: _estimate(np.asarray(x), np.asarray(y), h, **kw)) is False
    out = capsys.readouterr().out
    assert out.startswith("FAIL: kad:") and message in out, out


def test_a_stub_or_a_crash_fails_without_raising(capsys):
    def stub(x, y, h):
        raise NotImplementedError()
    assert ch07.check_kad(stub) is False
    assert ch07.check_kad(lambda x, y, h: x @ y) is False       # shapes do not match: raises inside
    assert capsys.readouterr().out.count("FAIL: kad") == 2
