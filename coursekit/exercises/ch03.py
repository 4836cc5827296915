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

__all__ = ["check_hinge_losses", "reference_gan_steps", "check_hinge_in_gan_step",
           "check_instantaneous_frequency", "check_ndb_count"]


def check_hinge_losses(hinge_d_loss, hinge_g_loss) -> bool:
    """``hinge_d_loss(real_scores, fake_scores)`` and ``hinge_g_loss(fake_scores)`` (torch)."""
    import torch

    def test():
        real = torch.tensor([2.0, 0.5, -1.0])
        fake = torch.tensor([-2.0, 0.0, 1.0])
        d = hinge_d_loss(real, fake)
        assert torch.is_tensor(d) and d.ndim == 0, "return one number for the batch: a scalar tensor"
        # real: relu(1 - r) = [0, .5, 2] -> 2.5/3 ; fake: relu(1 + f) = [0, 1, 2] -> 1
        want = 2.5 / 3 + 1.0
        assert abs(d.item() - want) < 1e-6, \
            f"real scores [2, 0.5, -1] and fake scores [-2, 0, 1] give a D loss of {want:.4f}, got {d.item():.4f}"
        confident = hinge_d_loss(torch.tensor([3.0, 5.0]), torch.tensor([-4.0, -2.0]))
        assert confident.item() == 0.0, "beyond the margin (real > 1, fake < -1) the D loss is 0"
        g = hinge_g_loss(fake)
        assert torch.is_tensor(g) and abs(g.item() - 1.0 / 3) < 1e-6, \
            f"fake scores [-2, 0, 1] give a G loss of {1.0 / 3:.4f}, got {float(g):.4f}"
        x = torch.tensor([0.3, -0.2], requires_grad=True)
        hinge_g_loss(x).backward()
        assert torch.allclose(x.grad, torch.tensor([-0.5, -0.5])), \
            "the G loss must be differentiable with respect to the fake scores: stay in torch"

    return run_check("hinge_losses", test, hint=(
        "the discriminator pays only for real scores below +1 and fake scores above -1, each "
        "averaged over the batch; the generator's loss falls as the fake scores rise",
        "a hinge max(0, ...) is a ReLU: one of one minus the real score, one of one plus the fake "
        "score, each averaged over the batch, then added; the generator's loss is the mean fake "
        "score with its sign flipped",
        "keep every operation a torch operation (no conversion to Python numbers or NumPy), so "
        "the gradient flows back to the scores"))


def reference_gan_steps(d_loss_fn, g_loss_fn, batch, steps: int = 3, seed: int = 0):
    """The reference generator after ``steps`` training steps of the stable recipe with these
    adversarial losses (``None``: the library's hinge loss); returns the generator.

    The shipped checkpoint holds the generator only, so the discriminator is a fresh one of its
    size, built from ``seed``. ``batch`` is ``(audio (B, samples), pitch (B,), family (B,))`` of
    real notes within the reference's pitches; everything runs on the CPU, so a seed gives the
    same generator on every machine.
    """
    import torch

    from ..models.gan import Discriminator
    from ..recipes import gan as recipe

    torch.manual_seed(seed)
    G = recipe.load_generator()
    D = Discriminator(G.cfg)
    r = recipe.RECIPES["stable"]
    opt_g = torch.optim.Adam(G.parameters(), lr=r["lr_g"], betas=r["betas"])
    opt_d = torch.optim.Adam(D.parameters(), lr=r["lr_d"], betas=r["betas"])
    step = recipe.gan_step_fn(G, D, opt_g, opt_d, r["loss"], d_loss_fn=d_loss_fn, g_loss_fn=g_loss_fn)
    for k in range(steps):
        step(batch, k)
    return G.eval()


def check_hinge_in_gan_step(hinge_d_loss, hinge_g_loss, batch, steps: int = 3,
                            keep: dict | None = None) -> bool:
    """Your hinge losses inside the training step of the reference GAN: after ``steps`` steps
    the generator must make the same notes as after the library's steps from the same seed.
    ``keep``, a dict, receives the generator your losses trained (``keep["generator"]``)."""
    import torch

    from ..recipes import gan as recipe

    def test():
        yours = reference_gan_steps(hinge_d_loss, hinge_g_loss, batch, steps)
        if keep is not None:
            keep["generator"] = yours
        library = reference_gan_steps(None, None, batch, steps)
        before = recipe.load_generator()
        z = torch.randn(len(batch[1]), before.cfg.z_dim, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            x_yours, x_lib, x_before = (G(z, batch[1], batch[2]) for G in (yours, library, before))
        assert torch.isfinite(x_yours).all(), "after your steps the generator makes NaN or inf"
        assert not torch.equal(x_lib, x_before), "the library's steps did not move the generator"
        diff = float((x_yours - x_lib).abs().max())
        assert diff < 1e-4, (
            f"after {steps} steps with your losses the generator's notes differ from those after the "
            f"library's steps by up to {diff:.3g}: a sign, a margin or an average differs")

    return run_check("hinge_in_gan_step", test, hint=(
        "your two losses run inside the library's training step of the reference GAN; when the "
        "hinge check above passes, this one should too",
        "the check compares the notes made after your steps with those after the library's steps "
        "from the same seed: a different sign or scale in either loss changes every update"))


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
                "advance of the bin's centre, wrap to [-pi, pi) and convert radians per hop to bins")
        lim = n_fft / hop / 2
        assert np.all(np.abs(inst) <= lim + 1e-6), f"wrapped values lie within +-{lim} bins"

    return run_check("instantaneous_frequency", test, hint=(
        "a steady tone turns the phase of its bins by the same angle every hop: measure that turn "
        "from frame to frame and compare it with the turn the bin's centre frequency would make",
        "after taking away the centre's turn, wrap what is left into the interval from minus pi "
        "to pi (the angle of a complex exponential, or a remainder), then convert radians per hop "
        "into bins by dividing by the turn that one bin of frequency makes in one hop",
        "the result has one column fewer than the phase: one value per pair of consecutive frames"))


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

    return run_check("ndb_count", test, hint=(
        "compare, bin by bin, the share of the real notes and the share of the generated notes "
        "that fall in it",
        "a two-proportion z-test: the difference of the two shares divided by its standard error "
        "under the pooled share of both sets; a bin with no notes at all has no error and counts "
        "as equal",
        "a bin differs when the size of its z exceeds the normal quantile at one minus alpha over "
        "two (scipy.stats has it as norm.ppf)"))
