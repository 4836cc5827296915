"""Checks of chapter 00 (audio fundamentals): ``exercises/00_audio_fundamentals.ipynb``.

Each check takes the student's function(s), prints ``PASS: <name>`` or ``FAIL: <name>: <hint>``
and returns a bool (see :mod:`coursekit.exercises.checks`). References come from
:mod:`coursekit.audio` and librosa, so a check never trusts the code it checks.

Example
-------
>>> import numpy as np
>>> from coursekit.exercises import ch00
>>> ch00.check_bitrates(lambda sr, bits, channels=1: sr * bits * channels / 1000,
...                     lambda frame_rate, n_codebooks, codebook_size:
...                         frame_rate * n_codebooks * np.log2(codebook_size) / 1000)
PASS: bitrates
True
"""

from __future__ import annotations

import numpy as np

from .. import audio
from .checks import close, run_check

__all__ = ["check_mu_law_encode", "check_mu_law_decode", "check_snr_db", "check_quantizer_snr",
           "check_mel_scale", "check_bitrates"]


def _test_signal(n: int = 4000, seed: int = 0) -> np.ndarray:
    """Every amplitude from -1 to 1, plus quiet noise (where mu-law matters most)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(-1.0, 1.0, n // 2)
    quiet = 0.01 * rng.standard_normal(n - n // 2)
    return np.concatenate([ramp, np.clip(quiet, -1, 1)]).astype(np.float32)


def check_mu_law_encode(mu_law_encode) -> bool:
    """``mu_law_encode(y, mu=255)``: float audio in [-1, 1] to integer codes in [0, mu]."""

    def test():
        y = _test_signal()
        codes = np.asarray(mu_law_encode(y))
        assert codes.shape == y.shape, f"expected one code per sample, shape {y.shape}, got {codes.shape}"
        assert np.issubdtype(codes.dtype, np.integer), \
            f"codes must be integers (use np.round(...).astype(np.int64)), got dtype {codes.dtype}"
        assert codes.min() >= 0 and codes.max() <= 255, \
            f"codes must lie in [0, 255], got [{codes.min()}, {codes.max()}]; map [-1, 1] to [0, mu]"
        ref = audio.mu_law_encode(y)
        off = np.abs(codes.astype(np.int64) - ref)
        assert off.max() <= 1 and (off == 0).mean() > 0.98, (
            f"codes differ from the reference by up to {off.max()} (at y={y[off.argmax()]:.4f}); "
            "compress with sign(y) * log(1 + mu|y|) / log(1 + mu), then map [-1, 1] to [0, mu]")
        small = np.asarray(mu_law_encode(np.array([0.0, 0.001, 0.01], dtype=np.float32)))
        assert small[2] - small[0] >= 10, \
            "quiet samples should get many codes (0.0 and 0.01 are >= 10 codes apart): is it logarithmic?"
        codes16 = np.asarray(mu_law_encode(y, mu=15))
        assert codes16.max() <= 15, "use the mu argument: with mu=15 the codes lie in [0, 15]"

    return run_check("mu_law_encode", test,
                     hint="compress with sign(y) * log1p(mu*|y|) / log1p(mu), then quantise to [0, mu]")


def check_mu_law_decode(mu_law_decode) -> bool:
    """``mu_law_decode(codes, mu=255)``: integer codes back to float audio (inverse of encode)."""

    def test():
        y = _test_signal()
        codes = audio.mu_law_encode(y)
        y_hat = np.asarray(mu_law_decode(codes), dtype=np.float64)
        assert y_hat.shape == y.shape, f"expected shape {y.shape}, got {y_hat.shape}"
        ref = audio.mu_law_decode(codes)
        err = float(np.abs(y_hat - ref).max())
        assert err < 1e-4, (
            f"decoded values differ from the reference by up to {err:.4f}; map codes back to [-1, 1] "
            "(codes / mu * 2 - 1), then expand with sign(c) * ((1 + mu)**|c| - 1) / mu")
        assert np.abs(y_hat - y).max() < 0.025, "decode(encode(y)) should give y back to within 0.025"
        edges = np.asarray(mu_law_decode(np.array([0, 255])), dtype=np.float64)
        assert close(edges, [-1.0, 1.0], atol=1e-6), f"codes 0 and 255 should decode to -1 and 1, got {edges}"

    return run_check("mu_law_decode", test, hint="invert each step of the encoder, in reverse order")


def check_snr_db(snr_db) -> bool:
    """``snr_db(reference, estimate)``: 10 log10(signal power / error power), in dB."""

    def test():
        rng = np.random.default_rng(1)
        x = rng.standard_normal(1000)
        got = float(snr_db(x, 0.9 * x))
        assert close(got, 20.0, atol=1e-6), (
            f"snr_db(x, 0.9 * x) should be 20 dB (the error is 0.1 x), got {got:.3f}; "
            "use 10 * log10(sum(x**2) / sum((x - estimate)**2))")
        noise = 0.01 * rng.standard_normal(1000)
        expected = 10 * np.log10(np.sum(x ** 2) / np.sum(noise ** 2))
        got = float(snr_db(x, x + noise))
        assert close(got, expected, atol=1e-6), f"snr_db(x, x + noise) should be {expected:.2f} dB, got {got:.2f}"
        got = float(snr_db(2 * x, 2 * x + 2 * noise))
        assert close(got, expected, atol=1e-6), "scaling both signals must not change the SNR"

    return run_check("snr_db", test, hint="10 * np.log10(signal power / error power)")


def check_quantizer_snr(quantizer_snr) -> bool:
    """``quantizer_snr(bits)``: measured SNR (dB) of ``audio.quantize`` on a full-scale sine."""

    def test():
        for bits in (4, 8, 12):
            got = float(quantizer_snr(bits))
            rule = 6.02 * bits + 1.76
            assert abs(got - rule) < 1.5, (
                f"quantizer_snr({bits}) = {got:.2f} dB, the rule of thumb says {rule:.2f} dB; "
                "quantise a full-scale sine (amplitude 1.0) and compare it with the original")

    return run_check("quantizer_snr", test,
                     hint="y = audio.tone(..., amp=1.0); return snr_db(y, audio.quantize(y, bits))")


def check_mel_scale(hz_to_mel, mel_to_hz) -> bool:
    """``hz_to_mel(f)`` and ``mel_to_hz(m)``: the HTK mel scale, 2595 log10(1 + f / 700)."""

    def test():
        import librosa

        f = np.array([0.0, 100.0, 440.0, 1000.0, 4000.0, 8000.0])
        m = np.asarray(hz_to_mel(f), dtype=np.float64)
        ref = librosa.hz_to_mel(f, htk=True)
        assert m.shape == f.shape, "hz_to_mel must work on arrays (use np.log10, not math.log10)"
        assert close(m, ref, rtol=1e-4), (
            f"hz_to_mel({f.tolist()}) should be {np.round(ref, 1).tolist()}, got {np.round(m, 1).tolist()}")
        back = np.asarray(mel_to_hz(ref), dtype=np.float64)
        assert close(back, f, rtol=1e-4, atol=1e-3), \
            f"mel_to_hz should invert hz_to_mel: expected {f.tolist()}, got {np.round(back, 1).tolist()}"

    return run_check("mel_scale", test, hint="mel = 2595 * log10(1 + f / 700); solve it for f")


def check_bitrates(pcm_kbps, codec_kbps) -> bool:
    """``pcm_kbps(sr, bits, channels=1)`` and ``codec_kbps(frame_rate, n_codebooks, codebook_size)``."""

    def test():
        cd = float(pcm_kbps(44100, 16, channels=2))
        assert close(cd, 1411.2), f"CD audio (44.1 kHz, 16 bit, stereo) is 1411.2 kbps, got {cd}"
        mu = float(pcm_kbps(16000, 8))
        assert close(mu, 128.0), f"8-bit mu-law at 16 kHz mono is 128 kbps, got {mu}"
        enc = float(codec_kbps(75, 8, 1024))
        assert close(enc, 6.0), (
            f"75 frames/s x 8 codebooks x log2(1024) = 10 bits is 6.0 kbps, got {enc}; "
            "each code of a codebook of size K carries log2(K) bits")
        small = float(codec_kbps(50, 4, 2048))
        assert close(small, 2.2), f"50 frames/s x 4 codebooks x 11 bits is 2.2 kbps, got {small}"

    return run_check("bitrates", test,
                     hint="kbps = values per second x bits per value / 1000")
