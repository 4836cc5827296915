"""Checks of chapter 04 (neural codecs): ``exercises/04_neural_codecs.ipynb``.

Each check takes the student's function, prints ``PASS: <name>`` or ``FAIL: <name>: <hint>``
and returns a bool (see :mod:`coursekit.exercises.checks`). The references are written here
with plain NumPy, so a check never trusts the code it checks (the chapter's own measure is
:func:`coursekit.recipes.codec.codebook_usage`).

Example
-------
>>> import numpy as np
>>> from coursekit.exercises import ch04
>>> ch04.check_codec_bitrate(lambda sample_rate, hop, n_q, codebook_size:
...                          sample_rate / hop * n_q * np.log2(codebook_size))
PASS: codec_bitrate
True
"""

from __future__ import annotations

import numpy as np

from .checks import close, run_check

__all__ = ["check_rvq_encode", "check_codec_bitrate", "check_codebook_usage"]


def _reference_rvq(x: np.ndarray, codebooks: np.ndarray):
    residual = x.astype(np.float64).copy()
    quantized = np.zeros_like(residual)
    codes = []
    for cb in codebooks:
        d = ((residual[:, None, :] - cb[None].astype(np.float64)) ** 2).sum(-1)   # [N, K]
        idx = d.argmin(1)
        codes.append(idx)
        quantized += cb[idx]
        residual -= cb[idx]
    return np.stack(codes, axis=1), quantized


def check_rvq_encode(rvq_encode) -> bool:
    """``rvq_encode(x, codebooks) -> (codes [N, n_q], quantized [N, D])`` for x [N, D] and
    codebooks [n_q, K, D]: each quantizer codes what the previous ones left over."""

    def test():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((50, 4)).astype(np.float32)
        codebooks = (rng.standard_normal((3, 16, 4)) * np.array([1.0, 0.5, 0.25])[:, None, None]).astype(np.float32)
        out = rvq_encode(x, codebooks)
        assert isinstance(out, tuple) and len(out) == 2, "return a tuple (codes, quantized)"
        codes, quantized = (np.asarray(o) for o in out)
        assert codes.shape == (50, 3), f"codes should have shape [N, n_q] = (50, 3), got {codes.shape}"
        assert quantized.shape == x.shape, f"quantized should have the shape of x {x.shape}, got {quantized.shape}"
        ref_codes, ref_q = _reference_rvq(x, codebooks)
        assert np.array_equal(codes[:, 0], ref_codes[:, 0]), \
            "the first column should be the index of the codeword nearest to x (squared distance)"
        assert np.array_equal(codes, ref_codes), (
            "later quantizers must code the *residual*: subtract the chosen codeword of each "
            "stage from x before choosing the next one")
        assert close(quantized, ref_q, atol=1e-4), "quantized is the sum of the chosen codewords of every stage"
        one = np.asarray(rvq_encode(x, codebooks[:1])[0])
        assert one.shape == (50, 1), "with one codebook the codes have shape [N, 1]"

    return run_check("rvq_encode", test,
                     hint="for each codebook: index of the nearest codeword to the residual, add it to "
                          "quantized, subtract it from the residual")


def check_codec_bitrate(codec_bitrate) -> bool:
    """``codec_bitrate(sample_rate, hop, n_q, codebook_size)`` in bits per second."""

    def test():
        cases = [((16000, 320, 8, 256), 3200.0), ((24000, 320, 8, 1024), 6000.0),
                 ((16000, 320, 1, 256), 400.0), ((44100, 512, 9, 1024), 44100 / 512 * 9 * 10)]
        for args, want in cases:
            got = float(codec_bitrate(*args))
            assert abs(got - want) < 1e-6 * want, (
                f"codec_bitrate{args} should be {want:g} bit/s, got {got:g}: frames per second "
                "(sample_rate / hop) x codes per frame (n_q) x bits per code (log2(codebook_size))")

    return run_check("codec_bitrate", test,
                     hint="frame_rate = sample_rate / hop; each frame carries n_q codes of log2(K) bits")


def check_codebook_usage(codebook_usage) -> bool:
    """``codebook_usage(codes, codebook_size) -> (perplexity, dead_fraction)`` of one quantizer's
    codes (a 1-D integer array)."""

    def test():
        uniform = np.arange(16).repeat(3)
        p, dead = (float(v) for v in codebook_usage(uniform, 16))
        assert abs(p - 16) < 1e-6, f"16 codes used equally often: perplexity should be 16, got {p:.3f}"
        assert abs(dead) < 1e-9, f"every code is used: dead fraction 0, got {dead}"
        p, dead = (float(v) for v in codebook_usage(np.zeros(40, dtype=int), 16))
        assert abs(p - 1) < 1e-6, f"a single code used always: perplexity should be 1, got {p:.3f}"
        assert abs(dead - 15 / 16) < 1e-9, f"15 of 16 codes are never used: dead fraction 0.9375, got {dead}"
        rng = np.random.default_rng(0)
        codes = rng.choice(8, size=500, p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.05, 0.0, 0.0])
        counts = np.bincount(codes, minlength=32) / len(codes)
        nz = counts[counts > 0]
        want = float(np.exp(-(nz * np.log(nz)).sum()))
        p, dead = (float(v) for v in codebook_usage(codes, 32))
        assert abs(p - want) < 1e-6, (f"perplexity should be exp(entropy of the code histogram) = "
                                      f"{want:.3f}, got {p:.3f}; use natural logs and skip empty bins")
        assert abs(dead - 26 / 32) < 1e-9, f"26 of 32 codes are never used here, got dead fraction {dead}"

    return run_check("codebook_usage", test,
                     hint="histogram of the codes (np.bincount with minlength), probabilities p, "
                          "perplexity exp(-sum p log p), dead = share of codes with count 0")
