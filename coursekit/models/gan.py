"""Chapter 03: a conditional GAN over one-second notes (GANSynth-lite).

The generator maps a random vector ``z``, a pitch and a family to a whole note at once, in the
time-frequency domain of GANSynth (Engel et al., 2019): two images of 512 frequency bins by 64
frames (1024-point STFT, hop 256, 16 kHz, about one second),

- the **log-magnitude** of each bin, scaled to [-1, 1], and
- the **instantaneous frequency** (IF) of each bin: how fast its phase turns from one frame to
  the next, written as the distance in bins from the bin's centre frequency (a pure tone at
  440 Hz gives every bin around 440 Hz the same IF). Bins too quiet to hear get IF 0: their
  phase is noise.

Phase itself is hopeless to model (it wraps around and jumps from note to note), but its rate
of change is smooth and follows the pitch, so a network can learn it. :func:`from_features`
integrates the IF back into phase and inverts the STFT: no Griffin-Lim needed.

The alternative is WaveGAN (Donahue et al., 2019): transposed 1-D convolutions straight to the
16000 samples of the waveform. It needs ~2x more layers at high resolution (every sample
costs), and its samples carry the checkerboard artefacts of strided upsampling; GANSynth's
comparison found the spectral-IF model better in pitch and quality, so we follow it.

Both networks here are 1-D convolutions over *time* with the frequency bins as channels: a
note is mostly a spectrum shaped by an envelope, and this keeps a training step cheap enough
for a CPU. The discriminator is a *projection* discriminator (Miyato & Koyama, 2018): its score
gets a term ``<embed(pitch), features>``, so it judges "is this a real note *of this pitch*".

Two recipes (:data:`RECIPES`) are run side by side in the chapter:

- ``stable``: hinge loss, spectral normalisation in the discriminator, Adam with
  beta1 = 0 and a slower generator (TTUR).
- ``unstable``: the original (non-saturating) cross-entropy loss, no normalisation and a high
  learning rate: the recipe that gives oscillating losses and mode collapse.

Example
-------
>>> import torch
>>> from coursekit.models.gan import GANConfig, Generator, Discriminator, from_features
>>> cfg = GANConfig(channels=32)
>>> G, D = Generator(cfg), Discriminator(cfg)
>>> x = G(torch.randn(2, cfg.z_dim), pitch=torch.tensor([60, 62]))
>>> x.shape
torch.Size([2, 2, 512, 64])
>>> D(x, pitch=torch.tensor([60, 62])).shape
torch.Size([2])
>>> from_features(x).shape
torch.Size([2, 16128])
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from ..profiles import register_section

register_section("ch03", {
    "channels": (32, 128, 192),
    "batch_size": (4, 16, 32),
    "max_steps": (3, 100000, 100000),   # the time budget usually stops training first
    "time_budget_s": (10, 150, 2400),   # per recipe: the chapter trains two
    "max_notes": (32, 600, 3000),
    "n_generate": (4, 16, 64),
    "eval_every": (2, 100, 500),
    "pitch_min": (48, 48, 48),
    "pitch_max": (72, 72, 72),
})

SR = 16000
N_FFT = 1024
HOP = 256
N_BINS = N_FFT // 2            # the Nyquist bin is dropped: 512 bins
N_FRAMES = 64
SEGMENT = (N_FRAMES - 1) * HOP  # 16128 samples = 1.008 s give exactly 64 centred frames
LOG_FLOOR, LOG_TOP = math.log(1e-4), math.log(300.0)  # log-magnitude range mapped to [-1, 1]
IF_RANGE = N_FFT / HOP / 2      # IF is measured in bins: +-2 bins is all a hop of N/4 can see
FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string",
            "synth_lead", "vocal")


# ---------------------------------------------------------------------------------------------
# The representation: log-magnitude + instantaneous frequency
# ---------------------------------------------------------------------------------------------

def _window(device=None) -> torch.Tensor:
    return torch.hann_window(N_FFT, device=device)


def to_features(y) -> torch.Tensor:
    """Waveforms at 16 kHz -> GANSynth features ``(B, 2, 512, 64)`` in [-1, 1].

    Channel 0 is the log-magnitude, channel 1 the instantaneous frequency (distance from the
    bin centre, in units of ``IF_RANGE`` bins). Audio is cut or zero-padded to ``SEGMENT``.

    Example
    -------
    >>> from coursekit import audio
    >>> x = to_features(audio.tone(440.0, seconds=1.0, sr=16000)[None])
    >>> x.shape
    torch.Size([1, 2, 512, 64])
    """
    y = torch.as_tensor(np.asarray(y, dtype=np.float32) if not torch.is_tensor(y) else y).float()
    if y.ndim == 1:
        y = y[None]
    y = F.pad(y, (0, max(0, SEGMENT - y.shape[-1])))[..., :SEGMENT]
    S = torch.stft(y, N_FFT, HOP, window=_window(y.device), center=True, return_complex=True)
    S = S[:, :N_BINS, :N_FRAMES]
    logmag = torch.log(S.abs().clamp_min(math.exp(LOG_FLOOR)))
    mag = 2 * (logmag - LOG_FLOOR) / (LOG_TOP - LOG_FLOOR) - 1
    # instantaneous frequency: phase advance per hop, minus the advance of the bin centre
    phase = torch.angle(S)
    k = torch.arange(N_BINS, device=y.device, dtype=torch.float32)[:, None]
    centre_advance = 2 * math.pi * k * HOP / N_FFT
    dphi = phase[..., 1:] - phase[..., :-1] - centre_advance
    dphi = torch.remainder(dphi + math.pi, 2 * math.pi) - math.pi         # wrap to [-pi, pi)
    inst = dphi / (2 * math.pi * HOP / N_FFT) / IF_RANGE                   # bins / IF_RANGE
    inst = torch.cat([inst[..., :1], inst], dim=-1)                        # frame 0: copy frame 1
    inst = torch.where(mag > -0.6, inst, torch.zeros_like(inst))           # silent bins: IF = 0
    return torch.stack([mag.clamp(-1, 1), inst], dim=1)


def from_features(x: torch.Tensor) -> torch.Tensor:
    """GANSynth features ``(B, 2, 512, 64)`` -> waveforms ``(B, SEGMENT)`` at 16 kHz.

    The magnitude is un-scaled; the phase is the running sum of the bin-centre advance plus the
    instantaneous frequency (``phase_t = phase_{t-1} + 2 pi HOP (k + IF) / N_FFT``), then the
    inverse STFT.
    """
    x = torch.as_tensor(x).float()
    mag = torch.exp((x[:, 0] + 1) / 2 * (LOG_TOP - LOG_FLOOR) + LOG_FLOOR)
    mag = torch.where(x[:, 0] <= -0.999, torch.zeros_like(mag), mag)      # the floor is silence
    k = torch.arange(N_BINS, device=x.device, dtype=torch.float32)[:, None]
    advance = 2 * math.pi * HOP / N_FFT * (k + x[:, 1] * IF_RANGE)
    phase = torch.cumsum(advance, dim=-1) - advance[..., :1]              # frame 0 starts at 0
    S = torch.polar(mag, phase)
    S = F.pad(S, (0, 0, 0, 1))                                             # the Nyquist bin back
    return torch.istft(S, N_FFT, HOP, window=_window(x.device), center=True, length=SEGMENT)


# ---------------------------------------------------------------------------------------------
# The networks
# ---------------------------------------------------------------------------------------------

@dataclass
class GANConfig:
    """Hyper-parameters of the generator and discriminator (stored in every checkpoint)."""

    channels: int = 192
    z_dim: int = 64
    cond_dim: int = 64
    pitch_min: int = 48
    pitch_max: int = 72
    families: list = field(default_factory=lambda: list(FAMILIES))
    spectral_norm: bool = True   # in the discriminator (the stable recipe)

    @property
    def n_pitches(self) -> int:
        return self.pitch_max - self.pitch_min + 1


class _Conditioning(nn.Module):
    """Pitch (MIDI, within the trained range) and family (id; -1 = any) -> one vector."""

    def __init__(self, cfg: GANConfig, dim: int, wrap=lambda m: m):
        super().__init__()
        self.cfg = cfg
        self.pitch = wrap(nn.Embedding(cfg.n_pitches, dim))
        self.family = wrap(nn.Embedding(len(cfg.families) + 1, dim))   # last id = "any"

    def forward(self, pitch, family=None) -> torch.Tensor:
        dev = self.pitch.weight.device
        pitch = torch.as_tensor(pitch, dtype=torch.long, device=dev)
        lo, hi = self.cfg.pitch_min, self.cfg.pitch_max
        if pitch.min() < lo or pitch.max() > hi:
            raise ValueError(f"this GAN was trained on pitches {lo}-{hi}; got "
                             f"{pitch.min().item()}-{pitch.max().item()}")
        any_id = len(self.cfg.families)
        fam = torch.full_like(pitch, any_id) if family is None else \
            torch.as_tensor(family, dtype=torch.long, device=dev)
        fam = torch.where(fam < 0, torch.full_like(fam, any_id), fam)
        return self.pitch(pitch - lo) + self.family(fam)


class Generator(nn.Module):
    """z + condition -> (B, 2, 512, 64): a dense layer to 4 frames, then 4 x (upsample 2, conv)."""

    def __init__(self, cfg: GANConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or GANConfig()
        C = cfg.channels
        self.cond = _Conditioning(cfg, cfg.cond_dim)
        self.fc = nn.Linear(cfg.z_dim + cfg.cond_dim, C * 4)
        self.convs = nn.ModuleList(nn.Conv1d(C, C, 3, padding=1) for _ in range(4))
        self.cond_bias = nn.ModuleList(nn.Linear(cfg.cond_dim, C) for _ in range(4))
        self.out = nn.Conv1d(C, 2 * N_BINS, 1)        # each frame's spectrum from C features

    def forward(self, z: torch.Tensor, pitch, family=None) -> torch.Tensor:
        c = self.cond(pitch, family)
        h = F.leaky_relu(self.fc(torch.cat([z, c], dim=-1)), 0.2).view(z.shape[0], -1, 4)
        for conv, bias in zip(self.convs, self.cond_bias):
            h = F.interpolate(h, scale_factor=2, mode="nearest")    # 4 -> 8 -> ... -> 64 frames
            h = conv(h) + bias(c)[..., None]                        # the condition at every scale
            h = h / (h.pow(2).mean(dim=1, keepdim=True) + 1e-8).sqrt()  # pixel norm (GANSynth)
            h = F.leaky_relu(h, 0.2)
        return torch.tanh(self.out(h)).view(z.shape[0], 2, N_BINS, N_FRAMES)


class Discriminator(nn.Module):
    """(B, 2, 512, 64) + condition -> one realness score per note (projection discriminator)."""

    def __init__(self, cfg: GANConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or GANConfig()
        C = cfg.channels
        sn = spectral_norm if cfg.spectral_norm else (lambda m: m)
        self.inp = sn(nn.Conv1d(2 * N_BINS, C, 1))
        self.convs = nn.ModuleList(sn(nn.Conv1d(C, C, 4, stride=2, padding=1)) for _ in range(4))
        self.fc = sn(nn.Linear(C * 4, C))
        self.score = sn(nn.Linear(C, 1))
        self.cond = _Conditioning(cfg, C, wrap=sn)

    def forward(self, x: torch.Tensor, pitch, family=None) -> torch.Tensor:
        h = F.leaky_relu(self.inp(x.reshape(x.shape[0], 2 * N_BINS, N_FRAMES)), 0.2)
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)                           # 64 -> 32 -> ... -> 4 frames
        phi = F.leaky_relu(self.fc(h.flatten(1)), 0.2)
        return self.score(phi)[:, 0] + (self.cond(pitch, family) * phi).sum(dim=1)


# ---------------------------------------------------------------------------------------------
# Losses and the two recipes
# ---------------------------------------------------------------------------------------------

RECIPES = {
    # hinge loss, spectral norm, two time-scale learning rates, beta1 = 0
    "stable": dict(loss="hinge", spectral_norm=True, lr_g=1e-4, lr_d=4e-4, betas=(0.0, 0.9)),
    # the 2014 cross-entropy loss, no normalisation, a high learning rate
    "unstable": dict(loss="bce", spectral_norm=False, lr_g=2e-3, lr_d=2e-3, betas=(0.5, 0.999)),
}


def d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, kind: str = "hinge") -> torch.Tensor:
    """Discriminator loss: push real scores up, fake scores down."""
    if kind == "hinge":
        return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()
    if kind == "bce":
        return (F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
                + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores)))
    raise ValueError(f"unknown loss {kind!r}; use 'hinge' or 'bce'")


def g_loss(fake_scores: torch.Tensor, kind: str = "hinge") -> torch.Tensor:
    """Generator loss: make the discriminator score fakes as real."""
    if kind == "hinge":
        return -fake_scores.mean()
    if kind == "bce":  # the non-saturating form of Goodfellow et al.
        return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))
    raise ValueError(f"unknown loss {kind!r}; use 'hinge' or 'bce'")
