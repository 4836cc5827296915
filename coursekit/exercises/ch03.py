"""Checks of chapter 03 (the GAN): ``exercises/03_gan_baseline.ipynb``.

Each check takes the student's function, prints ``PASS: <name>`` or ``FAIL: <name>: <hint>``
and returns a bool (see :mod:`coursekit.exercises.checks`).

Example
-------
>>> import torch
>>> from coursekit.exercises import ch03
>>> ch03.check_hinge_losses(lambda r, f: torch.relu(1 - r).mean() + torch.relu(1 + f).mean(),
...                         lambda f: -f.mean())
PASS: hinge_losses
True
"""

from __future__ import annotations

import numpy as np

from .checks import run_check

__all__ = ["check_hinge_losses", "check_instantaneous_frequency", "check_ndb_count"]


def check_hinge_losses(hinge_d_loss, hinge_g_loss) -> bool:
    """``hinge_d_loss(real_scores, fake_scores)`` and ``hinge_g_loss(fake_scores)`` (torch)."""
    import torch

    def test():
        real = torch.tensor([2.0, 0.5, -1.0])
        fake = torch.tensor([-2.0, 0.0, 1.0])
        d = hinge_d_loss(real, fake)
        assert torch.is_tensor(d) and d.ndim == 0, "return a scalar tensor (use .mean())"
        # real: relu(1 - r) = [0, .5, 2] -> 2.5/3 ; fake: relu(1 + f) = [0, 1, 2] -> 1
        assert abs(d.item() - (2.5 / 3 + 1.0)) < 1e-6, \
            f"D loss should be mean(relu(1 - real)) + mean(relu(1 + fake)) = {2.5 / 3 + 1:.4f}, got {d.item():.4f}"
        confident = hinge_d_loss(torch.tensor([3.0, 5.0]), torch.tensor([-4.0, -2.0]))
        assert confident.item() == 0.0, "beyond the margin (real > 1, fake < -1) the D loss is 0"
        g = hinge_g_loss(fake)
        assert torch.is_tensor(g) and abs(g.item() - 1.0 / 3 * -(-2 + 0 + 1)) < 1e-6, \
            f"G loss is -mean(fake scores) = {-(-1.0 / 3):.4f}, got {g.item():.4f}"
        x = torch.tensor([0.3, -0.2], requires_grad=True)
        hinge_g_loss(x).backward()
        assert torch.allclose(x.grad, torch.tensor([-0.5, -0.5])), \
            "the G loss must be differentiable w.r.t. the fake scores (no .item(), no numpy)"

    return run_check("hinge_losses", test,
                     hint="D: relu(1 - real).mean() + relu(1 + fake).mean(); G: -fake.mean()")


def check_instantaneous_frequency(instantaneous_frequency) -> bool:
    """``instantaneous_frequency(phase, hop, n_fft)``: phase ``(bins, frames)`` of an STFT ->
    each bin's frequency as a distance from its centre, in bins, ``(bins, frames - 1)``."""

    def test():
        n_fft, hop, sr = 512, 128, 16000
        f = 1000.0 + 0.3 * sr / n_fft                         # 0.3 bins above bin 32
        t = np.arange(sr // 2) / sr
        y = np.sin(2 * np.pi * f * t)
        frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop] * np.hanning(n_fft)
        S = np.fft.rfft(frames, axis=1).T                     # (bins, frames)
        phase = np.angle(S)
        inst = np.asarray(instantaneous_frequency(phase, hop, n_fft))
        assert inst.shape == (phase.shape[0], phase.shape[1] - 1), \
            f"one value per bin and pair of frames: expected {(phase.shape[0], phase.shape[1] - 1)}, got {inst.shape}"
        for k in (31, 32, 33):
            got = float(np.median(inst[k]))
            want = f / (sr / n_fft) - k
            assert abs(got - want) < 0.02, (
                f"bin {k}: the tone is {want:+.2f} bins from its centre, got {got:+.3f}; subtract the "
                "centre's advance 2*pi*k*hop/n_fft, wrap to [-pi, pi), divide by 2*pi*hop/n_fft")
        lim = n_fft / hop / 2
        assert np.all(np.abs(inst) <= lim + 1e-6), f"wrapped values lie within +-{lim} bins"

    return run_check("instantaneous_frequency", test,
                     hint="dphi = diff(phase, axis=1) - 2*pi*k*hop/n_fft; wrap with "
                          "np.angle(np.exp(1j*dphi)); divide by 2*pi*hop/n_fft")


def check_ndb_count(ndb_count) -> bool:
    """``ndb_count(real_bins, gen_bins, k, alpha=0.05)``: number of bins whose share differs
    significantly (two-proportion z-test) between real and generated notes."""

    def test():
        rng = np.random.default_rng(0)
        real = rng.integers(0, 10, 2000)
        same = rng.integers(0, 10, 1000)
        n_same = int(ndb_count(real, same, 10))
        assert n_same <= 2, f"two samples of the same uniform distribution differ in ~0 bins, got {n_same}"
        collapsed = np.zeros(1000, dtype=int)                  # every generated note in bin 0
        assert int(ndb_count(real, collapsed, 10)) == 10, \
            "all notes in one bin: that bin is over-full and the 9 others empty: 10 different bins"
        half = np.concatenate([rng.integers(0, 5, 1000)])       # only bins 0-4 used
        assert int(ndb_count(real, half, 10)) == 10, "bins 0-4 doubled and 5-9 empty: all 10 differ"
        # one bin slightly off: not significant with few samples, significant with many
        small_real, small_gen = np.repeat(np.arange(2), [50, 50]), np.repeat(np.arange(2), [55, 45])
        assert int(ndb_count(small_real, small_gen, 2)) == 0, "55/45 vs 50/50 out of 100 is not significant"
        assert int(ndb_count(np.repeat(np.arange(2), [5000, 5000]), np.repeat(np.arange(2), [5500, 4500]), 2)) == 2, \
            "55/45 vs 50/50 out of 10000 is significant (both bins differ)"
        assert int(ndb_count(small_real, small_gen, 2, alpha=0.5)) == 2, \
            "use alpha: at alpha=0.5 (|z| > 0.674) the 55/45 vs 50/50 split counts in both bins"

    return run_check("ndb_count", test,
                     hint="p_r, p_g = bin shares; p = pooled share; z = (p_g - p_r) / sqrt(p(1-p)(1/n_r + 1/n_g)); "
                          "count |z| > norm.ppf(1 - alpha/2)")
