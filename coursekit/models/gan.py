"""GANSynth-lite: a conditional GAN that makes a one-second note in one forward pass.

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
As in GANSynth, it also has an *auxiliary classifier* head (AC-GAN, Odena et al., 2017) that
names the pitch; the generator is rewarded when its notes are classified as the asked pitch.
Without it, a small GAN learns "sounds like a note" long before "sounds like *this* note".

Two losses are here: the hinge loss (with spectral normalisation in the discriminator: the
stable recipe) and the original non-saturating cross-entropy (``"bce"``). The training recipes,
data and sampling helpers are in :mod:`coursekit.recipes.gan`.

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

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["N_FFT", "HOP", "N_BINS", "N_FRAMES", "SEGMENT", "to_features", "from_features",
           "GANConfig", "Generator", "Discriminator", "d_loss", "g_loss"]

# the representation: a 1024-point STFT of 16 kHz audio, hop 256
N_FFT = 1024
HOP = 256
N_BINS = N_FFT // 2            # the Nyquist bin is dropped: 512 bins
N_FRAMES = 64
SEGMENT = (N_FRAMES - 1) * HOP  # 16128 samples = 1.008 s give exactly 64 centred frames
LOG_FLOOR, LOG_TOP = math.log(1e-4), math.log(300.0)  # log-magnitude range mapped to [-1, 1]
IF_RANGE = N_FFT / HOP / 2      # IF is measured in bins: +-2 bins is all a hop of N/4 can see
IF_MASK = 0.0                   # bins quieter than this (scaled log-magnitude, ~60 dB below a
                                # loud partial) get IF 0: their phase is noise nobody hears


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
    >>> import numpy as np
    >>> x = to_features(np.sin(2 * np.pi * 440.0 * np.arange(16000) / 16000))
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
    # frame 0 is centred on the first sample and padded by reflection: its phase is not that
    # of a running tone, so the IF of frames 0 and 1 is copied from frame 2
    inst = torch.cat([inst[..., 1:2], inst[..., 1:2], inst[..., 1:]], dim=-1)
    inst = torch.where(mag > IF_MASK, inst, torch.zeros_like(inst))        # quiet bins: IF = 0
    return torch.stack([mag.clamp(-1, 1), inst], dim=1)


def from_features(x: torch.Tensor) -> torch.Tensor:
    """GANSynth features ``(B, 2, 512, 64)`` -> waveforms ``(B, SEGMENT)`` at 16 kHz.

    The magnitude is un-scaled; the phase is the running sum of the bin-centre advance plus the
    instantaneous frequency (``phase_t = phase_{t-1} + 2 pi HOP (k + IF) / N_FFT``), then the
    inverse STFT. The first frame starts at phase ``pi k``: the phase a tone has in the bins of
    its peak under a centred Hann window (neighbouring bins in opposition), so the bins of one
    partial add up instead of cancelling.
    """
    x = torch.as_tensor(x).float()
    mag = torch.exp((x[:, 0] + 1) / 2 * (LOG_TOP - LOG_FLOOR) + LOG_FLOOR)
    mag = torch.where(x[:, 0] <= -0.999, torch.zeros_like(mag), mag)      # the floor is silence
    k = torch.arange(N_BINS, device=x.device, dtype=torch.float32)[:, None]
    inst = torch.cat([x[:, 1, :, 2:3], x[:, 1, :, 2:3], x[:, 1, :, 2:]], dim=-1)  # as to_features
    advance = 2 * math.pi * HOP / N_FFT * (k + inst * IF_RANGE)
    phase = math.pi * k + torch.cumsum(advance, dim=-1) - advance[..., :1]
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
    # the family names the family embedding knows (the recipe gives NSynth's); id -1 or
    # len(families) asks for "any family"
    families: list = field(default_factory=list)
    spectral_norm: bool = True   # in the discriminator (the stable recipe)
    train_families: list = field(default_factory=list)   # the families the data held

    @property
    def n_pitches(self) -> int:
        return self.pitch_max - self.pitch_min + 1

    @classmethod
    def from_dict(cls, d: dict) -> "GANConfig":
        """The config a checkpoint stores (keys this class does not know are left out)."""
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


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

    def forward(self, z: torch.Tensor, pitch=None, family=None, cond=None) -> torch.Tensor:
        """``z (B, z_dim)``, ``pitch (B,)`` MIDI, ``family (B,)`` ids or None -> (B, 2, 512, 64).

        ``cond (B, cond_dim)`` is the condition vector itself, in place of pitch and family: e.g.
        a mix of two conditions' vectors ``self.cond(pitch, family)`` (a timbre in between)."""
        c = self.cond(pitch, family) if cond is None else cond                # (B, cond_dim)
        h = F.leaky_relu(self.fc(torch.cat([z, c], dim=-1)), 0.2)
        h = h.view(z.shape[0], -1, 4)                                         # (B, C, 4 frames)
        for conv, bias in zip(self.convs, self.cond_bias):
            h = F.interpolate(h, scale_factor=2, mode="nearest")    # 4 -> 8 -> ... -> 64 frames
            h = conv(h) + bias(c)[..., None]                        # the condition at every scale
            h = h / (h.pow(2).mean(dim=1, keepdim=True) + 1e-8).sqrt()  # pixel norm (GANSynth)
            h = F.leaky_relu(h, 0.2)
        x = torch.tanh(self.out(h))                                           # (B, 2 * 512, 64)
        return x.view(z.shape[0], 2, N_BINS, N_FRAMES)


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
        # auxiliary classifier (AC-GAN): names the pitch from the note's average spectrum (log-
        # magnitude and IF of each bin, averaged over time). No spectral norm: it would cap the
        # logits near 1 and keep the softmax over pitches almost flat.
        self.pitch_head = nn.Sequential(nn.Linear(2 * N_BINS, C), nn.LeakyReLU(0.2),
                                        nn.Linear(C, cfg.n_pitches))

    def forward(self, x: torch.Tensor, pitch, family=None, return_pitch_logits: bool = False):
        """Realness score ``(B,)``; with ``return_pitch_logits`` also the auxiliary pitch
        classifier's logits ``(B, n_pitches)`` (index 0 = ``pitch_min``)."""
        frames = x.reshape(x.shape[0], 2 * N_BINS, N_FRAMES)                   # (B, 1024, 64)
        h = F.leaky_relu(self.inp(frames), 0.2)                                # (B, C, 64)
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)                           # 64 -> 32 -> ... -> 4 frames
        phi = F.leaky_relu(self.fc(h.flatten(1)), 0.2)                         # (B, C)
        score = self.score(phi)[:, 0] + (self.cond(pitch, family) * phi).sum(dim=1)  # (B,)
        if not return_pitch_logits:
            return score
        return score, self.pitch_head(frames.mean(dim=2))                      # (B, n_pitches)


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------

def d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor,
           kind: str = "hinge") -> torch.Tensor:
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
