"""Checks of chapter 05 (the codec Transformer): ``exercises/05_codec_transformer.ipynb``.

Each check takes the student's function, prints ``PASS: <name>`` or ``FAIL: <name>: <hint>``
and returns a bool (see :mod:`coursekit.exercises.checks`). References are computed here with
plain NumPy, never with the code under test.

Example
-------
>>> import numpy as np
>>> from coursekit.exercises import ch05
>>> def build_delay(codes, special):
...     K, T = codes.shape
...     out = np.full((K, T + K - 1), special)
...     for k in range(K):
...         out[k, k:k + T] = codes[k]
...     return out
>>> def revert_delay(seq):
...     K, S = seq.shape
...     return np.stack([seq[k, k:k + S - K + 1] for k in range(K)])
>>> ch05.check_delay_pattern(build_delay, revert_delay)
PASS: delay_pattern
True
"""

from __future__ import annotations

import numpy as np

from .checks import run_check

__all__ = ["check_delay_pattern", "check_top_p", "check_cached_attention"]


def _ref_delay(codes, special):
    K, T = codes.shape
    out = np.full((K, T + K - 1), special, dtype=np.int64)
    for k in range(K):
        out[k, k:k + T] = codes[k]
    return out


def check_delay_pattern(build_delay, revert_delay) -> bool:
    """``build_delay(codes [K, T], special) -> [K, T + K - 1]`` and ``revert_delay(seq) -> [K, T]``."""

    def test():
        codes = np.array([[1, 2, 3], [4, 5, 6]])
        seq = np.asarray(build_delay(codes, 9))
        assert seq.shape == (2, 4), f"K=2 codebooks, T=3 frames give K x (T + K - 1) = 2 x 4, got {seq.shape}"
        assert seq.tolist() == [[1, 2, 3, 9], [9, 4, 5, 6]], \
            f"step s holds codebook k of frame s - k, empty places hold `special`; got {seq.tolist()}"
        rng = np.random.default_rng(0)
        codes = rng.integers(0, 1024, (4, 11))
        seq = np.asarray(build_delay(codes, 1024))
        assert np.array_equal(seq, _ref_delay(codes, 1024)), "wrong layout for K=4, T=11"
        back = np.asarray(revert_delay(seq))
        assert back.shape == codes.shape, f"revert_delay should give back [K, T] = {codes.shape}, got {back.shape}"
        assert np.array_equal(back, codes), "revert_delay(build_delay(codes)) must give the codes back"
        one = np.asarray(build_delay(codes[:1], 1024))
        assert np.array_equal(one, codes[:1]), "with one codebook the delay pattern changes nothing"

    return run_check("delay_pattern", test,
                     hint="out = full((K, T+K-1), special); out[k, k:k+T] = codes[k]; "
                          "revert: codes[k] = seq[k, k:k+T] with T = S - K + 1")


def _ref_top_p_keep(logits, p):
    order = np.argsort(-logits, kind="stable")
    probs = np.exp(logits[order] - logits.max())
    probs /= probs.sum()
    before = np.cumsum(probs) - probs
    keep = np.zeros(len(logits), bool)
    keep[order[before < p]] = True
    return keep


def check_top_p(top_p_filter) -> bool:
    """``top_p_filter(logits [V], p) -> logits`` with -inf outside the nucleus."""

    def test():
        logits = np.log(np.array([0.1, 0.5, 0.05, 0.3, 0.05]))
        out = np.asarray(top_p_filter(logits.copy(), 0.7), dtype=float)
        assert out.shape == logits.shape, f"same shape as the logits, got {out.shape}"
        kept = np.isfinite(out)
        assert kept.tolist() == [False, True, False, True, False], \
            f"p=0.7 keeps 0.5 and 0.3 (0.5 alone is below 0.7); kept {kept.tolist()}"
        assert np.allclose(out[kept], logits[kept]), "kept logits must be unchanged"
        assert np.isfinite(np.asarray(top_p_filter(logits.copy(), 0.2), dtype=float)).sum() == 1, \
            "a small p keeps only the most likely token (never none)"
        rng = np.random.default_rng(1)
        for _ in range(20):
            lg = rng.normal(size=12) * 2
            p = float(rng.uniform(0.05, 0.95))
            got = np.isfinite(np.asarray(top_p_filter(lg.copy(), p), dtype=float))
            assert np.array_equal(got, _ref_top_p_keep(lg, p)), \
                f"wrong nucleus for p={p:.2f}: keep the most likely tokens until their mass reaches p"

    return run_check("top_p", test,
                     hint="sort descending, softmax, cumulative sum; keep a token if the mass of the "
                          "tokens ranked above it is still < p; set the rest to -inf")


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def check_cached_attention(attend_step) -> bool:
    """``attend_step(q, k, v, cache) -> (out, cache)``: one new position attends to all cached ones.

    ``q, k, v`` are the new position's query/key/value ``[d]``; ``cache`` is ``None`` or
    ``(K [n, d], V [n, d])`` of the positions before; ``out`` is ``[d]``.
    """

    def test():
        rng = np.random.default_rng(0)
        n, d = 7, 4
        Q, Kf, Vf = (rng.normal(size=(n, d)) for _ in range(3))
        # reference: full causal attention over the whole sequence
        scores = Q @ Kf.T / np.sqrt(d)
        scores[np.triu_indices(n, 1)] = -np.inf
        full = _softmax(scores) @ Vf
        cache = None
        for i in range(n):
            out, cache = attend_step(Q[i], Kf[i], Vf[i], cache)
            out = np.asarray(out, dtype=float)
            assert out.shape == (d,), f"out is one vector [d] = ({d},), got {out.shape}"
            assert np.allclose(out, full[i], atol=1e-6), \
                f"position {i}: the output differs from full causal attention (scale by 1/sqrt(d), " \
                "attend to the cached keys AND the new one)"
            assert len(cache) == 2 and np.asarray(cache[0]).shape == (i + 1, d), \
                f"after position {i} the cache holds {i + 1} keys [{i + 1}, {d}]"

    return run_check("cached_attention", test,
                     hint="append k, v to the cached K, V (np.vstack), then softmax(K @ q / sqrt(d)) @ V")
