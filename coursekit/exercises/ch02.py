"""Checks of chapter 02 (the sample-level RNN): ``exercises/02_rnn_baseline.ipynb``.

Each check takes the student's function, prints ``PASS: <name>`` or ``FAIL: <name>: <hint>``
and returns a bool (see :mod:`coursekit.exercises.checks`). The library's own loss and sampler
(:mod:`coursekit.models.rnn`) are the references: what the student writes must compute the
same thing, on the shipped reference model.

Example
-------
>>> import torch
>>> from coursekit.exercises import ch02
>>> from coursekit.models.rnn import sample_next
>>> ch02.check_sample_next(sample_next)
PASS: sample_next
True
"""

from __future__ import annotations

import numpy as np

from .checks import run_check

__all__ = ["tone_batch", "check_teacher_forcing_loss", "check_sample_next"]


def tone_batch(model, seconds: float = 0.064, pitches=(55, 64), seed: int = 0):
    """A small batch of real-looking notes for ``model``: mu-law codes of two decaying harmonic
    tones at ``pitches``, cut from the middle (so ``prev`` and ``start`` matter).

    Returns ``(codes, pitch, family, prev, start)`` as the model's ``forward`` takes them.
    """
    import torch

    from .. import audio

    sr, fs = model.cfg.sr, model.cfg.frame_size
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr / fs)) * fs
    start = [3, 5]                                            # frames into the note
    t = np.arange(n + 6 * fs) / sr
    rows = []
    for m in pitches:
        f0 = float(audio.midi_to_hz(m))
        y = sum(0.4 / h * np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 6)) for h in (1, 2, 3))
        rows.append(audio.mu_law_encode(y * np.exp(-2 * t)))
    full = torch.as_tensor(np.stack(rows), dtype=torch.long)
    codes = torch.stack([full[i, s * fs:s * fs + n] for i, s in enumerate(start)])
    prev = torch.stack([full[i, (s - 1) * fs:s * fs] for i, s in enumerate(start)])
    family = torch.tensor([2, 6]) if model.cfg.families else None
    return codes, torch.tensor(pitches), family, prev, torch.tensor(start)


def check_teacher_forcing_loss(teacher_forcing_loss, model) -> bool:
    """``teacher_forcing_loss(model, codes, pitch, family, prev, start, frames=None)`` -> the
    mean next-sample cross-entropy (nats) of ``model`` on the batch, a differentiable scalar;
    with ``frames``, over the samples of those frames only."""
    import torch
    import torch.nn.functional as F

    from ..models.rnn import N_CLASSES, nll_loss

    def test():
        codes, pitch, family, prev, start = tone_batch(model)
        mine = teacher_forcing_loss(model, codes, pitch, family, prev, start)
        assert torch.is_tensor(mine) and mine.dim() == 0, \
            "return one number: the mean over every predicted sample, as a 0-d tensor"
        assert mine.requires_grad or not torch.is_grad_enabled(), \
            "the loss must stay a tensor connected to the model, so that training can follow it"
        with torch.no_grad():
            ref = nll_loss(model, codes, pitch, family, prev=prev, start=start)
            silent = nll_loss(model, codes, pitch, family)
            fs = model.cfg.frame_size
            n_frames = codes.shape[1] // fs
            logits = model(codes, pitch, family, prev=prev, start=start)
            shifted = F.cross_entropy(logits[:, :-1].reshape(-1, N_CLASSES), codes[:, 1:].reshape(-1))
        value = float(mine.detach())
        assert abs(value - float(shifted)) > 1e-4 or abs(value - float(ref)) < 1e-4, \
            "the logits at position n already predict the code at position n: no extra shift"
        assert abs(value - float(silent)) > 1e-4 or abs(value - float(ref)) < 1e-4, \
            "these segments come from the middle of notes: give the model the frame before them " \
            "and where they start"
        assert abs(value - float(ref)) < 1e-4 * max(1.0, abs(float(ref))), \
            f"yours gives {value:.4f} nats, the library's loss {float(ref):.4f} on the same batch"
        frames = torch.tensor([0, n_frames - 1])
        part = teacher_forcing_loss(model, codes, pitch, family, prev, start, frames=frames)
        with torch.no_grad():
            lg = model(codes, pitch, family, frames=frames, prev=prev, start=start)
            tg = codes.view(codes.shape[0], n_frames, fs)[:, frames].reshape(-1)
            want = F.cross_entropy(lg.reshape(-1, N_CLASSES), tg)
        assert abs(float(part.detach()) - float(want)) < 1e-4 * max(1.0, float(want)), \
            "with frames given, the model predicts only the samples of those frames: the targets " \
            "are the codes of the same frames, in the same order"

    return run_check("teacher_forcing_loss", test, hint=(
        "the model's forward already returns, at every position, the logits of that position's "
        "code given the codes before it; the loss compares them with the codes themselves",
        "cross-entropy wants the 256 classes in the last dimension and one target per row: "
        "flatten the batch and time dimensions together, for the logits and for the targets",
        "with a subset of frames, view the codes as (notes, frames, frame_size), keep the chosen "
        "frames, and flatten again; compute the cross-entropy in float32"))


def check_sample_next(sample_next, model=None, seconds: float = 0.05) -> bool:
    """``sample_next(logits, temperature, generator)`` -> one code per row of ``logits``; inside
    ``rnn.generate`` (on ``model``, the reference model when given) it must give the very notes
    of the library's sampler with the same seed."""
    import torch

    from ..models.rnn import generate

    def test():
        logits = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
        out = sample_next(logits, 1.0, torch.Generator().manual_seed(0))
        assert torch.is_tensor(out) and tuple(out.shape) == (2,), \
            f"one code per row: expected a tensor of shape (2,), got {getattr(out, 'shape', out)}"
        big = logits[:1].repeat(4000, 1)
        gen = torch.Generator().manual_seed(0)
        freq = np.bincount(sample_next(big, 1.0, gen).numpy(), minlength=3) / 4000
        assert np.abs(freq - [0.7, 0.2, 0.1]).max() < 0.03, \
            f"at temperature 1 the codes should come out as often as softmax says, got {np.round(freq, 3)}"
        low = sample_next(big, 0.05, gen).numpy()
        assert (low == 0).mean() > 0.99, "at a low temperature nearly every draw is the likeliest code"
        freq = np.bincount(sample_next(big, 5.0, gen).numpy(), minlength=3) / 4000
        assert freq[2] > 0.2, f"at temperature 5 the distribution is flatter, got {np.round(freq, 3)}"
        a = sample_next(big[:50], 1.0, torch.Generator().manual_seed(7))
        b = sample_next(big[:50], 1.0, torch.Generator().manual_seed(7))
        assert torch.equal(a, b), "draw with the generator you are given, so that a seed repeats"
        if model is not None:
            n = int(seconds * model.cfg.sr)
            fam = [2, 6] if model.cfg.families else None
            lib = generate(model, [55, 64], fam, n_samples=n, temperature=0.9, seed=11)
            mine = generate(model, [55, 64], fam, n_samples=n, temperature=0.9, seed=11,
                            sample_fn=sample_next)
            assert torch.equal(lib, mine), (
                f"inside the model's loop yours and the library's sampler part ways after "
                f"{int((lib != mine).float().cumsum(1).eq(0).sum(1).min())} samples: draw one "
                "multinomial sample per row, with the generator, from the tempered softmax")

    return run_check("sample_next", test, hint=(
        "divide the logits by the temperature, turn them into probabilities, and draw one code a "
        "row with the generator you are given",
        "the library draws with torch's multinomial sampler (one draw per row) from probabilities "
        "on the CPU, where the generator lives; a different way of drawing gives other notes "
        "from the same seed"))
