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

__all__ = ["check_mu_law_encode", "check_mu_law_decode", "check_snr_db", "check_quantize",
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
            f"codes must be integers (round, then convert to an integer dtype), got dtype {codes.dtype}"
        assert codes.min() >= 0 and codes.max() <= 255, \
            f"codes must lie in [0, 255], got [{codes.min()}, {codes.max()}]; map [-1, 1] to [0, mu]"
        ref = audio.mu_law_encode(y)
        off = np.abs(codes.astype(np.int64) - ref)
        assert off.max() <= 1 and (off == 0).mean() > 0.98, (
            f"codes differ from the reference by up to {off.max()} (at y={y[off.argmax()]:.4f}); "
            "compress first (the logarithmic curve of the chapter), then map [-1, 1] onto [0, mu] and round")
        small = np.asarray(mu_law_encode(np.array([0.0, 0.001, 0.01], dtype=np.float32)))
        assert small[2] - small[0] >= 10, \
            "quiet samples should get many codes (0.0 and 0.01 are >= 10 codes apart): is it logarithmic?"
        codes16 = np.asarray(mu_law_encode(y, mu=15))
        assert codes16.max() <= 15, "use the mu argument: with mu=15 the codes lie in [0, 15]"

    return run_check("mu_law_encode", test, hint=(
        "two steps: compress the amplitude with the mu-law curve, then quantise the result uniformly",
        "the curve keeps the sign of y and takes the log of one plus mu times |y|, divided by the "
        "log of one plus mu: it maps [-1, 1] onto [-1, 1]",
        "stretch the compressed value from [-1, 1] onto [0, mu] (add one, halve, times mu), round "
        "to the nearest integer, and give integer codes"))


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
            f"decoded values differ from the reference by up to {err:.4f}; first map the codes back "
            "onto [-1, 1], then undo the logarithmic curve")
        assert np.abs(y_hat - y).max() < 0.025, "decode(encode(y)) should give y back to within 0.025"
        edges = np.asarray(mu_law_decode(np.array([0, 255])), dtype=np.float64)
        assert close(edges, [-1.0, 1.0], atol=1e-6), f"codes 0 and 255 should decode to -1 and 1, got {edges}"

    return run_check("mu_law_decode", test, hint=(
        "invert each step of the encoder, in reverse order",
        "first undo the quantisation's stretch: code 0 is -1, code mu is +1, evenly in between",
        "then undo the curve: solve the compression formula for |y| (an exponential of base "
        "1 + mu), and keep the sign"))


def check_snr_db(snr_db) -> bool:
    """``snr_db(reference, estimate)``: 10 log10(signal power / error power), in dB."""

    def test():
        rng = np.random.default_rng(1)
        x = rng.standard_normal(1000)
        got = float(snr_db(x, 0.9 * x))
        assert close(got, 20.0, atol=1e-6), (
            f"snr_db(x, 0.9 * x) should be 20 dB (the error is 0.1 x), got {got:.3f}; "
            "compare powers (sums of squares), in decibels")
        noise = 0.01 * rng.standard_normal(1000)
        expected = 10 * np.log10(np.sum(x ** 2) / np.sum(noise ** 2))
        got = float(snr_db(x, x + noise))
        assert close(got, expected, atol=1e-6), f"snr_db(x, x + noise) should be {expected:.2f} dB, got {got:.2f}"
        got = float(snr_db(2 * x, 2 * x + 2 * noise))
        assert close(got, expected, atol=1e-6), "scaling both signals must not change the SNR"

    return run_check("snr_db", test, hint=(
        "the SNR compares the power of the reference with the power of the error",
        "the error is the reference minus the estimate; a power is a sum of squares",
        "decibels: ten times the base-10 logarithm of the ratio of the two powers"))


def check_quantize(quantize) -> bool:
    """``quantize(y, bits)``: uniform (linear) quantisation of [-1, 1] audio to ``2**bits``
    levels, returned as float; compared with :func:`coursekit.audio.quantize`, and its SNR on a
    full-scale sine with the 6 dB-per-bit rule."""

    def test():
        y = _test_signal()
        for bits in (1, 3, 8):
            got = np.asarray(quantize(y, bits), dtype=np.float64)
            assert got.shape == y.shape, f"expected one value per sample, shape {y.shape}, got {got.shape}"
            levels = np.unique(np.round(got, 6))
            assert len(levels) <= 2 ** bits, (
                f"{bits} bits give at most {2 ** bits} levels, yours produced {len(levels)}")
            ref = audio.quantize(y, bits)
            err = float(np.abs(got - ref).max())
            assert err < 1e-5, (
                f"with {bits} bits yours differs from the reference by up to {err:.4f} "
                f"(at y={y[np.abs(got - ref).argmax()]:.4f}); the levels must include -1 and +1 "
                "and be evenly spaced between them")
        loud = np.asarray(quantize(np.array([-3.0, 3.0], dtype=np.float32), 8), dtype=np.float64)
        assert close(loud, [-1.0, 1.0]), f"values beyond +-1 should clip to -1 and +1, got {loud}"
        sine = audio.tone(441.0, seconds=1.0, sr=16000, amp=1.0).astype(np.float64)
        for bits in (4, 8, 12):
            q = np.asarray(quantize(sine, bits), dtype=np.float64)
            snr = 10 * np.log10(np.sum(sine ** 2) / np.sum((sine - q) ** 2))
            rule = 6.02 * bits + 1.76
            assert abs(snr - rule) < 1.5, (
                f"a full-scale sine through your {bits}-bit quantiser has an SNR of {snr:.1f} dB; "
                f"the 6 dB-per-bit rule says {rule:.1f} dB")

    return run_check("quantize", test, hint=(
        "quantising means: clip to [-1, 1], snap to the nearest of 2 ** bits evenly spaced levels, "
        "and give back the value of that level",
        "the levels include both ends, -1 and +1, so there are one fewer steps than levels",
        "stretch [-1, 1] onto [0, levels - 1], round to the nearest integer, then map that integer "
        "back onto [-1, 1]"))


def check_mel_scale(hz_to_mel, mel_to_hz) -> bool:
    """``hz_to_mel(f)`` and ``mel_to_hz(m)``: the HTK mel scale, 2595 log10(1 + f / 700)."""

    def test():
        import librosa

        f = np.array([0.0, 100.0, 440.0, 1000.0, 4000.0, 8000.0])
        m = np.asarray(hz_to_mel(f), dtype=np.float64)
        ref = librosa.hz_to_mel(f, htk=True)
        assert m.shape == f.shape, "hz_to_mel must work on arrays (use NumPy's logarithm, not the math module's)"
        assert close(m, ref, rtol=1e-4), (
            f"hz_to_mel({f.tolist()}) should be {np.round(ref, 1).tolist()}, got {np.round(m, 1).tolist()}")
        back = np.asarray(mel_to_hz(ref), dtype=np.float64)
        assert close(back, f, rtol=1e-4, atol=1e-3), \
            f"mel_to_hz should invert hz_to_mel: expected {f.tolist()}, got {np.round(back, 1).tolist()}"

    return run_check("mel_scale", test, hint=(
        "the HTK mel scale is logarithmic in (1 + f / 700), scaled by 2595, with a base-10 logarithm",
        "for the inverse, undo each step in reverse: divide by 2595, raise 10 to that power, "
        "subtract one, multiply by 700"))


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
            "each code of a codebook of size K carries as many bits as it takes to number K entries")
        small = float(codec_kbps(50, 4, 2048))
        assert close(small, 2.2), f"50 frames/s x 4 codebooks x 11 bits is 2.2 kbps, got {small}"

    return run_check("bitrates", test, hint=(
        "a bit rate is values per second times bits per value; kilo means a thousand",
        "PCM: every channel sends sr values a second, each of `bits` bits; a codec sends one code "
        "per codebook per frame, and a code among K carries the base-2 logarithm of K bits"))
