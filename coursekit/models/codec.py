"""The course's neural audio codec: a small SEANet-style autoencoder with residual vector quantization.

Read it top to bottom, like a figure in a paper (SoundStream, Zeghidour et al. 2021; EnCodec,
Defossez et al. 2022)::

    audio [B, 1, N] --Encoder--> latents z [B, D, T] --RVQ--> codes [B, n_q, T]
                                                              |
    audio [B, 1, N] <--Decoder-- quantized z_q [B, D, T] <----+

- The **encoder** is a stack of strided 1-D convolutions: every block halves (or quarters, ...)
  the time resolution and widens the channels, so 16000 samples a second become
  ``frame_rate = sample_rate / hop`` latent frames a second (50 Hz with hop 320).
- The **residual vector quantizer** replaces each latent frame (a vector of ``D`` numbers) by
  the nearest entry of a codebook, then quantizes what is left (the residual) with a second
  codebook, and so on: ``n_q`` codes per frame, each ``log2(codebook_size)`` bits.
- The **decoder** mirrors the encoder with transposed convolutions.

Bitrate = ``frame_rate * n_q * log2(codebook_size)`` bits per second. Trained with
*quantizer dropout* (a random ``n_q`` per example), one model serves every bitrate from one
codebook to all of them.

The same object is the tokenizer of chapter 05 (``encode`` / ``decode`` of discrete codes) and
the latent space of chapter 06 (``encode_latent`` / ``decode_latent`` of continuous latents).

Example
-------
>>> import torch
>>> from coursekit.models.codec import Codec, NeuralCodec
>>> model = NeuralCodec(Codec(channels=4, n_q=2, codebook_size=16)).eval()
>>> audio = 0.3 * torch.randn(1, 1, 16000)
>>> codes = model.encode(audio)               # [B, n_q, T] = [1, 2, 50]
>>> tuple(codes.shape)
(1, 2, 50)
>>> tuple(model.decode(codes).shape)          # [B, 1, N]
(1, 1, 16000)
>>> model.bitrate(2)                          # 50 frames/s * 2 codes * 4 bits
400.0
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..audio import AudioError, midi_to_hz
from ..profiles import get_profile

# Sizes, one triple (smoke, default, full) each. `codec` is what `coursekit train codec` uses;
# `ch04` is what the chapter-04 notebook uses.


# ---------------------------------------------------------------------------------------------
# Configuration (stored in every checkpoint)
# ---------------------------------------------------------------------------------------------

@dataclass
class Codec:
    """Hyper-parameters of a :class:`NeuralCodec`; saved in the checkpoint as a plain dict."""

    sample_rate: int = 16000
    channels: int = 16                 # C: width after the first conv
    max_channels: int = 128            # cap of the doubling
    strides: tuple = (4, 4, 4, 5)      # hop = 4*4*4*5 = 320 samples -> 50 frames/s at 16 kHz
    latent_dim: int = 64               # D
    n_q: int = 8                       # number of residual quantizers
    codebook_size: int = 256           # K
    ema_decay: float = 0.99            # codebook EMA
    dead_threshold: float = 0.5        # a code whose EMA count falls below this is restarted
    commitment: float = 1.0            # weight of the commitment loss
    quantizer_dropout: bool = True     # train with a random n_q per example
    activation: str = "snake"          # decoder nonlinearity: "snake" (periodic) or "leaky_relu"

    @property
    def hop(self) -> int:
        return int(np.prod(self.strides))

    @classmethod
    def from_dict(cls, d: dict) -> "Codec":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known.setdefault("activation", "leaky_relu")  # checkpoints from before Snake
        if "strides" in known:
            known["strides"] = tuple(known["strides"])
        return cls(**known)


# ---------------------------------------------------------------------------------------------
# Encoder and decoder (SEANet-like)
# ---------------------------------------------------------------------------------------------

class Snake(nn.Module):
    """Snake activation, ``x + sin(alpha * x)**2 / alpha``, one learnt ``alpha`` per channel.

    Why not a ReLU? A ReLU network is piecewise linear: to make a 1 kHz tone it must stack
    up many kinks, and gradient descent learns low frequencies long before high ones
    ("spectral bias"). A codec decoder with leaky ReLUs, trained for a few thousand steps,
    reproduces low notes but turns high ones into a buzz at its frame rate. Snake adds a
    periodic term, so oscillation is built in (Ziyin et al. 2020; used by BigVGAN and the
    Descript Audio Codec). Shape-preserving: [B, C, T] -> [B, C, T].
    """

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x):
        if torch.is_grad_enabled():
            return x + torch.sin(self.alpha * x).pow(2) / (self.alpha + 1e-9)
        # inference: the same sum in place, one temporary instead of four (full-rate tensors
        # are large, and a CPU spends its time moving them through memory)
        y = (self.alpha * x).sin_().square_()
        return y.mul_(1.0 / (self.alpha + 1e-9)).add_(x)


def make_act(kind: str, channels: int) -> nn.Module:
    """The nonlinearity between convolutions: ``"snake"`` or ``"leaky_relu"`` (slope 0.2)."""
    if kind == "snake":
        return Snake(channels)
    if kind == "leaky_relu":
        return nn.LeakyReLU(0.2)
    raise ValueError(f"unknown activation {kind!r}; use 'snake' or 'leaky_relu'")


class ResidualUnit(nn.Module):
    """x + Conv1x1(act(Conv_k3_dilated(act(x)))); keeps shape [B, C, T]."""

    def __init__(self, channels: int, dilation: int = 1, activation: str = "snake"):
        super().__init__()
        self.act1 = make_act(activation, channels)
        self.conv1 = nn.Conv1d(channels, channels // 2, 3, dilation=dilation, padding=dilation)
        self.act2 = make_act(activation, channels // 2)
        self.conv2 = nn.Conv1d(channels // 2, channels, 1)

    def forward(self, x):
        return x + self.conv2(self.act2(self.conv1(self.act1(x))))


class Down(nn.Module):
    """Strided conv: [B, c_in, T] -> [B, c_out, T // stride] (kernel 2*stride)."""

    def __init__(self, c_in: int, c_out: int, stride: int, activation: str = "snake"):
        super().__init__()
        self.stride = stride
        self.act = make_act(activation, c_in)
        self.conv = nn.Conv1d(c_in, c_out, 2 * stride, stride=stride)

    def forward(self, x):
        s = self.stride
        x = F.pad(self.act(x), ((s + 1) // 2, s // 2))  # (T + s - 2s) / s + 1 = T / s frames
        return self.conv(x)


class Up(nn.Module):
    """Transposed conv: [B, c_in, T] -> [B, c_out, T * stride]."""

    def __init__(self, c_in: int, c_out: int, stride: int, activation: str = "snake"):
        super().__init__()
        self.stride = stride
        self.act = make_act(activation, c_in)
        self.conv = nn.ConvTranspose1d(c_in, c_out, 2 * stride, stride=stride)

    def forward(self, x):
        s = self.stride
        y = self.conv(self.act(x))                 # (T - 1) * s + 2s = T*s + s samples
        return y[..., (s + 1) // 2: y.shape[-1] - s // 2]


def _widths(cfg: Codec) -> list[int]:
    # channels before block 0, after block 0, ...: C, 2C, 4C, ... capped at max_channels
    return [min(cfg.channels * 2 ** i, cfg.max_channels) for i in range(len(cfg.strides) + 1)]


class Encoder(nn.Module):
    """audio [B, 1, N] -> latents [B, D, N / hop]."""

    def __init__(self, cfg: Codec):
        super().__init__()
        w = _widths(cfg)
        a = "leaky_relu"  # analysis needs no periodic units; Snake is for making sound (Decoder)
        layers = [nn.Conv1d(1, w[0], 7, padding=3)]                   # [B, C, N]
        for i, s in enumerate(cfg.strides):
            layers += [Down(w[i], w[i + 1], s, a), ResidualUnit(w[i + 1], 1, a), ResidualUnit(w[i + 1], 3, a)]
        layers += [make_act(a, w[-1]), nn.Conv1d(w[-1], cfg.latent_dim, 3, padding=1)]  # [B, D, T]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    """latents [B, D, T] -> audio [B, 1, T * hop]."""

    def __init__(self, cfg: Codec):
        super().__init__()
        w = _widths(cfg)[::-1]
        a = cfg.activation
        layers = [nn.Conv1d(cfg.latent_dim, w[0], 7, padding=3)]
        for i, s in enumerate(reversed(cfg.strides)):
            layers += [ResidualUnit(w[i], 1, a), ResidualUnit(w[i], 3, a), Up(w[i], w[i + 1], s, a)]
        layers += [make_act(a, w[-1]), nn.Conv1d(w[-1], 1, 7, padding=3)]       # [B, 1, N]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)


# ---------------------------------------------------------------------------------------------
# Vector quantization: one codebook, then a stack of them on the residuals
# ---------------------------------------------------------------------------------------------

def kmeans(x: torch.Tensor, k: int, iters: int = 10, seed: int = 0) -> torch.Tensor:
    """Plain k-means on vectors ``x`` [N, D]; returns ``k`` centroids [k, D]."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(x.shape[0], generator=g)[:k]
    if idx.numel() < k:  # fewer vectors than codes: repeat some
        idx = idx[torch.randint(0, idx.numel(), (k,), generator=g)]
    centroids = x[idx].clone()
    for _ in range(iters):
        assign = torch.cdist(x, centroids).argmin(dim=1)                  # [N]
        counts = torch.bincount(assign, minlength=k).float()            # [k]
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)      # [k, D]
        moved = counts > 0
        centroids[moved] = sums[moved] / counts[moved, None]
    return centroids


class VectorQuantizer(nn.Module):
    """One codebook of ``K`` vectors of size ``D``, learnt by k-means then exponential moving averages.

    The codebook is not trained by gradients: after each training batch every code moves toward
    the mean of the vectors assigned to it (EMA), and a code nobody uses for a while (its EMA
    count falls below ``dead_threshold``) is restarted on a random vector of the batch.
    """

    def __init__(self, dim: int, size: int, decay: float = 0.99, dead_threshold: float = 0.5):
        super().__init__()
        self.size, self.decay, self.dead_threshold = size, decay, dead_threshold
        self.register_buffer("codebook", torch.zeros(size, dim))         # [K, D]
        self.register_buffer("ema_count", torch.ones(size))              # [K]
        self.register_buffer("ema_sum", torch.zeros(size, dim))          # [K, D]
        self.register_buffer("initialized", torch.tensor(False))

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the closest code for each row of ``x`` [N, D] -> [N]."""
        dist = (x.pow(2).sum(1, keepdim=True) - 2 * x @ self.codebook.t()
                + self.codebook.pow(2).sum(1)[None])                     # [N, K]
        return dist.argmin(dim=1)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx, self.codebook)

    @torch.no_grad()
    def update(self, x: torch.Tensor, idx: torch.Tensor) -> None:
        """One EMA step on the vectors ``x`` [N, D] that were assigned codes ``idx`` [N]."""
        if not bool(self.initialized):
            self.codebook.copy_(kmeans(x, self.size))
            self.ema_sum.copy_(self.codebook)
            self.ema_count.fill_(1.0)
            self.initialized.fill_(True)
            return
        onehot = F.one_hot(idx, self.size).type_as(x)                    # [N, K]
        self.ema_count.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(onehot.t() @ x, alpha=1 - self.decay)
        # Laplace smoothing keeps counts > 0, so the division below is safe
        n = self.ema_count.sum()
        count = (self.ema_count + 1e-5) / (n + self.size * 1e-5) * n
        self.codebook.copy_(self.ema_sum / count[:, None])
        # dead-code restart: codes that nobody chose for a while jump onto real data
        dead = self.ema_count < self.dead_threshold
        n_dead = int(dead.sum())
        if n_dead:
            pick = torch.randint(0, x.shape[0], (n_dead,), device=x.device)
            self.codebook[dead] = x[pick]
            self.ema_sum[dead] = x[pick] * 2 * self.dead_threshold
            self.ema_count[dead] = 2 * self.dead_threshold


class ResidualVQ(nn.Module):
    """``n_q`` quantizers in a row, each quantizing what the previous ones left over."""

    def __init__(self, cfg: Codec):
        super().__init__()
        self.layers = nn.ModuleList(
            VectorQuantizer(cfg.latent_dim, cfg.codebook_size, cfg.ema_decay, cfg.dead_threshold)
            for _ in range(cfg.n_q))
        self.frozen = False     # True: the codebooks keep still in training (no EMA, no restart)

    def forward(self, z: torch.Tensor, n_q=None):
        """Quantize latents ``z`` [B, D, T].

        ``n_q`` is an int (the same for the batch) or a tensor [B] of per-example counts
        (quantizer dropout). Returns ``z_q`` [B, D, T] (straight-through gradients),
        ``codes`` [B, n_q, T] and the commitment loss.
        """
        B, D, T = z.shape
        n_max = len(self.layers)
        if n_q is None:
            n_q = n_max
        if isinstance(n_q, int):
            n_used = n_q
            n_q = torch.full((B,), n_q, dtype=torch.long, device=z.device)
        else:
            n_used = int(n_q.max())
        z_flat = z.transpose(1, 2).reshape(B * T, D)                       # [B*T, D]
        residual = z_flat.detach()
        quantized = torch.zeros_like(residual)
        codes, commit = [], z.new_zeros(())
        active_per_frame = n_q.repeat_interleave(T)                        # [B*T]
        for i, layer in enumerate(self.layers[:n_used]):
            active = active_per_frame > i                                  # [B*T] bool
            if self.training and not self.frozen:
                layer.update(residual[active], layer.nearest(residual[active]))
            idx = layer.nearest(residual)                                  # [B*T]
            q = layer.lookup(idx) * active[:, None]
            if self.training:
                # commitment: pull this layer's input (which carries the encoder's gradient)
                # toward the code it was given
                r = (z_flat - quantized)[active]
                commit = commit + F.mse_loss(r, q[active]) / n_used
            quantized = quantized + q
            residual = residual - q
            codes.append(idx.view(B, T))
        z_q = z_flat + (quantized - z_flat).detach()                       # straight-through
        z_q = z_q.view(B, T, D).transpose(1, 2)                            # [B, D, T]
        return z_q, torch.stack(codes, dim=1), commit

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, n_q, T] -> quantized latents [B, D, T] (sum of the looked-up codes)."""
        out = 0
        for i in range(codes.shape[1]):
            out = out + self.layers[i].lookup(codes[:, i])                 # [B, T, D]
        return out.transpose(1, 2)


# ---------------------------------------------------------------------------------------------
# The codec
# ---------------------------------------------------------------------------------------------

_said: set[str] = set()


def _say_once(key: str, message: str) -> None:
    if key not in _said:
        _said.add(key)
        warnings.warn(message, stacklevel=3)


def prepare_audio(audio, sr: int | None, target_sr: int, name: str = "audio") -> torch.Tensor:
    """Bring any audio to the codec's input: float32 tensor [B, 1, N] at ``target_sr``.

    Accepts ``(N,)`` (one mono clip), ``(B, N)`` (a batch of mono clips) or ``(B, C, N)``
    (C channels, mixed down with a warning). A different ``sr`` is resampled (with a
    warning). Empty, NaN/inf or silent audio raises :class:`coursekit.audio.AudioError`.
    """
    x = torch.as_tensor(np.asarray(audio) if not torch.is_tensor(audio) else audio).float()
    if x.ndim == 1:
        x = x[None, None]
    elif x.ndim == 2:
        x = x[:, None]
    elif x.ndim != 3:
        raise AudioError(f"{name}: expected shape (N,), (B, N) or (B, C, N), got {tuple(x.shape)}")
    if x.shape[-1] == 0:
        raise AudioError(f"{name}: empty audio (0 samples)")
    if not torch.isfinite(x).all():
        n = int((~torch.isfinite(x)).sum())
        raise AudioError(f"{name}: {n} samples are NaN or inf; check the file or the model that made it")
    if x.shape[1] > 1:
        _say_once("stereo", f"{name}: {x.shape[1]} channels mixed down to mono (the codec is mono)")
        x = x.mean(dim=1, keepdim=True)
    rms = x.pow(2).mean(dim=(1, 2)).sqrt()
    if bool((rms < 1e-5).any()):
        i = int(torch.nonzero(rms < 1e-5)[0])
        raise AudioError(f"{name}: example {i} is silent (RMS {float(rms[i]):.1e}); a codec has "
                         "nothing to encode; check the file or drop silent clips")
    if sr is not None and int(sr) != int(target_sr):
        import torchaudio.functional as AF

        _say_once(f"sr{sr}", f"{name}: resampled from {sr} Hz to the codec's {target_sr} Hz")
        x = AF.resample(x, int(sr), int(target_sr))
    return x


def check_codes(codes, n_q_max: int, codebook_size: int) -> torch.Tensor:
    """Return ``codes`` as a long tensor [B, n_q, T], or raise ValueError saying what is wrong."""
    codes = torch.as_tensor(codes)
    if codes.ndim == 2:
        codes = codes[None]
    if codes.ndim != 3:
        raise ValueError(f"codes: expected shape [B, n_q, T], got {tuple(codes.shape)}")
    if codes.dtype.is_floating_point or codes.dtype == torch.bool:
        raise ValueError(f"codes must be integers (got {codes.dtype}); pass what encode() returned")
    if not 1 <= codes.shape[1] <= n_q_max:
        raise ValueError(f"codes have {codes.shape[1]} quantizer rows; this codec has 1 to {n_q_max}")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= codebook_size):
        raise ValueError(f"codes must lie in [0, {codebook_size - 1}] (codebook size {codebook_size}), "
                         f"got values in [{int(codes.min())}, {int(codes.max())}]; were they made by "
                         "another codec, or sampled past the vocabulary?")
    return codes.long()


class NeuralCodec(nn.Module):
    """Encoder + residual VQ + decoder. See the module docstring for the picture."""

    def __init__(self, cfg: Codec = Codec()):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = ResidualVQ(cfg)
        self.decoder = Decoder(cfg)

    # -- what other chapters read --------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def hop(self) -> int:
        return self.cfg.hop

    @property
    def frame_rate(self) -> float:
        """Latent frames (= code columns) per second."""
        return self.cfg.sample_rate / self.cfg.hop

    @property
    def codebook_size(self) -> int:
        return self.cfg.codebook_size

    @property
    def n_q(self) -> int:
        """The largest number of quantizers (the highest bitrate)."""
        return self.cfg.n_q

    @property
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    def bitrate(self, n_q: int | None = None) -> float:
        """Bits per second when ``n_q`` quantizers are used: frame_rate * n_q * log2(K)."""
        n_q = self.cfg.n_q if n_q is None else n_q
        return self.frame_rate * n_q * math.log2(self.cfg.codebook_size)

    def bitrates(self) -> dict[int, float]:
        """``{n_q: bits per second}`` for every supported number of quantizers."""
        return {n: self.bitrate(n) for n in range(1, self.cfg.n_q + 1)}

    # -- the core computation ------------------------------------------------------------
    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        return F.pad(x, (0, (-n) % self.hop))                                # N -> T * hop

    def forward(self, x: torch.Tensor, n_q=None):
        """Training pass: audio [B, 1, N] (N a multiple of hop) ->
        (audio_hat, codes, commit loss, latents z before quantization)."""
        z = self.encoder(x)                                                  # [B, D, T]
        z_q, codes, commit = self.quantizer(z, n_q)
        return self.decoder(z_q), codes, commit, z                           # [B, 1, N], ..., [B, D, T]

    def _check_n_q(self, n_q):
        n_q = self.cfg.n_q if n_q is None else int(n_q)
        if not 1 <= n_q <= self.cfg.n_q:
            raise ValueError(f"n_q={n_q}: this codec has 1 to {self.cfg.n_q} quantizers")
        return n_q

    # -- the interface: discrete codes -------------------------------------------------
    @torch.no_grad()
    def encode(self, audio, sr: int | None = None, n_q: int | None = None) -> torch.Tensor:
        """audio -> integer codes [B, n_q, T] (T = ceil(N / hop)).

        ``audio`` is ``(N,)``, ``(B, N)`` or ``(B, C, N)`` (tensor or array); pass ``sr`` when
        it is not the codec's ``sample_rate`` (it is then resampled, with a warning).
        """
        n_q = self._check_n_q(n_q)
        x = self._pad(prepare_audio(audio, sr, self.sample_rate).to(self._device()))
        _, codes, _ = self.quantizer(self.encoder(x), n_q)
        return codes

    @torch.no_grad()
    def decode(self, codes) -> torch.Tensor:
        """integer codes [B, n_q, T] (or [n_q, T]) -> audio [B, 1, T * hop] at ``sample_rate``."""
        codes = check_codes(codes, self.cfg.n_q, self.cfg.codebook_size)
        z_q = self.quantizer.decode(codes.to(self._device()))
        return self.decoder(z_q)

    # -- the interface: continuous latents ---------------------------------------------
    @torch.no_grad()
    def encode_latent(self, audio, sr: int | None = None) -> torch.Tensor:
        """audio -> continuous latents [B, D, T], before quantization (chapter 06's space)."""
        x = self._pad(prepare_audio(audio, sr, self.sample_rate).to(self._device()))
        return self.encoder(x)

    @torch.no_grad()
    def decode_latent(self, latents, n_q: int | None = None) -> torch.Tensor:
        """continuous latents [B, D, T] -> audio [B, 1, T * hop].

        With ``n_q`` the latents are first quantized with that many codebooks (what the codec
        would transmit); without it they go straight to the decoder.
        """
        z = torch.as_tensor(latents).float().to(self._device())
        if z.ndim != 3 or z.shape[1] != self.cfg.latent_dim:
            raise ValueError(f"latents: expected [B, {self.cfg.latent_dim}, T], got {tuple(z.shape)}")
        if not torch.isfinite(z).all():
            raise ValueError("latents contain NaN or inf; check the model that produced them")
        if n_q is not None:
            z, _, _ = self.quantizer(z, self._check_n_q(n_q))
        return self.decoder(z)

    def reconstruct(self, y, sr: int | None = None, n_q: int | None = None) -> np.ndarray:
        """Encode then decode a NumPy clip (or batch); see :func:`reconstruct`."""
        return reconstruct(self, y, sr=sr, n_q=n_q)

    def _device(self):
        return next(self.parameters()).device

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


@torch.no_grad()
def reconstruct(codec, y, sr: int | None = None, n_q: int | None = None) -> np.ndarray:
    """Encode then decode with any codec of the course's interface (this one, EnCodec's wrapper).

    ``y`` is a NumPy clip ``(N,)``, a batch ``(B, N)`` or ``(B, C, N)``; the result has the
    same number of samples, at the input's sample rate ``sr`` (default: the codec's), mono.

    Example
    -------
    >>> y_hat = reconstruct(codec, y, sr=16000, n_q=4)   # doctest: +SKIP
    """
    y = np.asarray(y, dtype=np.float32)
    sr_in = int(sr or codec.sample_rate)
    x = prepare_audio(y, sr_in, codec.sample_rate)
    out = codec.decode(codec.encode(x, n_q=n_q))[:, 0, :x.shape[-1]].cpu().numpy()
    if sr_in != codec.sample_rate:
        from ..audio import resample

        out = resample(out, codec.sample_rate, sr_in)
    n = y.shape[-1]
    out = out[:, :n] if out.shape[-1] >= n else np.pad(out, ((0, 0), (0, n - out.shape[-1])))
    return out[0] if y.ndim == 1 else out if y.ndim == 2 else out[:, None]


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------

# Floors of the log-magnitude losses. Too small a floor makes the log losses dominate early
# training with huge gradients from bins the target leaves empty, and the codec learns to be
# silent; these floors (about -60 dB of a full-scale tone) let it learn the waveform first.
STFT_EPS = 0.1      # |STFT| is not normalised: a full-scale sine peaks near n_fft / 4
MEL_EPS = 1e-2
_windows: dict = {}
_mel_banks: dict = {}


def _spec(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    """|STFT| of x [B, N] with a Hann window, hop n_fft / 4 -> [B, F, frames]."""
    key = (n_fft, x.device)
    if key not in _windows:
        _windows[key] = torch.hann_window(n_fft, device=x.device)
    S = torch.stft(x, n_fft, hop_length=n_fft // 4, window=_windows[key], return_complex=True)
    return S.abs()


def multires_stft_loss(x_hat: torch.Tensor, x: torch.Tensor,
                       scales=(2048, 1024, 512, 256, 128, 64), eps: float = STFT_EPS) -> torch.Tensor:
    """Mean over STFT sizes of spectral convergence ||X| - |X_hat||_F / ||X||_F plus
    L1(log(|X| + eps) - log(|X_hat| + eps)).

    Each size sees the sound differently: long windows resolve pitch, short ones attacks.
    ``eps`` sets how quiet a detail may be and still count.
    """
    x_hat, x = x_hat.reshape(-1, x_hat.shape[-1]), x.reshape(-1, x.shape[-1])
    loss = x.new_zeros(())
    for n_fft in scales:
        a, b = _spec(x_hat, n_fft), _spec(x, n_fft)
        loss = loss + torch.linalg.norm(a - b) / (torch.linalg.norm(b) + 1e-7)
        loss = loss + (torch.log(a + eps) - torch.log(b + eps)).abs().mean()
    return loss / len(scales)


def frame_convergence_loss(x_hat: torch.Tensor, x: torch.Tensor, scales=(2048, 1024, 512),
                           floor_db: float = -70.0) -> torch.Tensor:
    """Spectral convergence frame by frame: mean over STFT frames of ||X_f - X_hat_f|| / ||X_f||.

    :func:`multires_stft_loss` sums over a whole segment, so the loud frames outweigh the quiet
    ones, and its log term is mostly the hundreds of near-empty bins around a few harmonics: it
    minds decoding the -50 dB tail of a note as silence less than a 1 dB level error. Here every
    frame counts the same however quiet, down to ``floor_db`` (relative to a full-scale sine),
    below which a frame is judged against that floor: output where the target is silent still
    costs. (Fine-tuning the decoder alone with it did not bring the reference codec's lost tails
    back, because its encoder keeps them only faintly; see the README, "The codec".)
    """
    x_hat, x = x_hat.reshape(-1, x_hat.shape[-1]), x.reshape(-1, x.shape[-1])
    loss = x.new_zeros(())
    for n_fft in scales:
        a, b = _spec(x_hat, n_fft), _spec(x, n_fft)                      # [B, F, frames]
        floor = n_fft / 4 * 10 ** (floor_db / 20)                        # a sine's peak bin
        loss = loss + (torch.linalg.norm(a - b, dim=1) / (torch.linalg.norm(b, dim=1) + floor)).mean()
    return loss / len(scales)


def mel_loss(x_hat: torch.Tensor, x: torch.Tensor, sr: int = 16000, n_fft: int = 1024,
             n_mels: int = 64) -> torch.Tensor:
    """L1 distance between log-mel magnitude spectrograms (close kin of :func:`mel_distance`)."""
    key = (sr, n_fft, n_mels, x.device)
    if key not in _mel_banks:
        from ..audio import mel_filterbank

        _mel_banks[key] = torch.from_numpy(mel_filterbank(sr, n_fft, n_mels)).to(x.device)
    fb = _mel_banks[key]
    x_hat, x = x_hat.reshape(-1, x_hat.shape[-1]), x.reshape(-1, x.shape[-1])
    a = torch.log(fb @ _spec(x_hat, n_fft) + MEL_EPS)
    b = torch.log(fb @ _spec(x, n_fft) + MEL_EPS)
    return (a - b).abs().mean()


class STFTDiscriminator(nn.Module):
    """A small multi-scale STFT discriminator (as in EnCodec) for the optional adversarial loss.

    Each scale looks at the (real, imaginary) STFT of the audio through a few 2-D convs and
    returns a map of real/fake logits plus its intermediate features (for feature matching).
    """

    def __init__(self, scales=(1024, 512, 256), channels: int = 16):
        super().__init__()
        self.scales = scales
        self.nets = nn.ModuleList()
        for _ in scales:
            self.nets.append(nn.ModuleList([
                nn.Conv2d(2, channels, (3, 9), padding=(1, 4)),
                nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4)),
                nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4)),
                nn.Conv2d(channels, channels, (3, 3), padding=(1, 1)),
                nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)),
            ]))

    def forward(self, x: torch.Tensor):
        """x [B, 1, N] -> list over scales of (logits, [features])."""
        x = x.reshape(-1, x.shape[-1])
        outs = []
        for n_fft, convs in zip(self.scales, self.nets):
            S = torch.stft(x, n_fft, hop_length=n_fft // 4, window=torch.hann_window(n_fft, device=x.device),
                           return_complex=True)
            h = torch.stack([S.real, S.imag], dim=1).transpose(2, 3)      # [B, 2, frames, F]
            feats = []
            for conv in convs[:-1]:
                h = F.leaky_relu(conv(h), 0.2)
                feats.append(h)
            outs.append((convs[-1](h), feats))
        return outs


def adversarial_losses(disc: STFTDiscriminator, x_hat: torch.Tensor, x: torch.Tensor):
    """Hinge losses: (generator adversarial + feature matching, discriminator loss)."""
    real, fake = disc(x), disc(x_hat)
    g_adv = sum(F.relu(1 - lf).mean() for lf, _ in fake) / len(fake)
    fm = sum(sum((ff - fr.detach()).abs().mean() / (fr.detach().abs().mean() + 1e-5)
                 for ff, fr in zip(feat_f, feat_r)) / len(feat_r)
             for (_, feat_f), (_, feat_r) in zip(fake, real)) / len(fake)
    fake_d = disc(x_hat.detach())
    d_loss = sum(F.relu(1 - lr).mean() + F.relu(1 + lf).mean()
                 for (lr, _), (lf, _) in zip(real, fake_d)) / len(real)
    return g_adv + 2 * fm, d_loss


def loud_frames(x: torch.Tensor, hop: int, within_db: float = 20.0) -> torch.Tensor:
    """Which latent frames of x [B, 1, N] are loud: RMS within ``within_db`` of the example's
    loudest frame -> bool [B, T] (T = N / hop)."""
    B, _, N = x.shape
    rms = x.reshape(B, N // hop, hop).pow(2).mean(-1).sqrt()                  # [B, T]
    db = 20 * torch.log10(rms + 1e-8)
    return db >= db.amax(dim=1, keepdim=True) - within_db


def anchor_loss(z: torch.Tensor, z_ref: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of latents z [B, D, T] from z_ref over the frames in mask [B, T],
    relative to z_ref's mean square there: 0 = unchanged, 1 = as far off as the latents are big."""
    m = mask[:, None, :].to(z.dtype)                                          # [B, 1, T]
    return ((z - z_ref).pow(2) * m).sum() / (z_ref.pow(2) * m).sum().clamp_min(1e-8)


def codec_loss(model: NeuralCodec, x: torch.Tensor, n_q=None, stft_eps: float = STFT_EPS,
               frame_weight: float = 0.0, anchor: "nn.Module | None" = None,
               anchor_weight: float = 0.0) -> tuple[torch.Tensor, dict]:
    """Reconstruction (time L1 + multi-resolution STFT + mel) + commitment, for one batch x [B, 1, N].

    ``stft_eps`` is the floor of the log-STFT term: lower it (e.g. 0.01, about -80 dB) to make
    quiet details such as the decaying tail of a plucked note count in a fine-tune.
    ``frame_weight`` adds :func:`frame_convergence_loss`, in which every frame counts equally.
    ``anchor`` (a frozen copy of an earlier encoder) with ``anchor_weight`` adds
    :func:`anchor_loss` over the :func:`loud_frames`: the encoder may change what it does with
    quiet frames but should keep the latents of loud ones where they were, so that models
    trained on the earlier latents still fit.
    """
    x_hat, codes, commit, z = model(x, n_q)                                   # [B, 1, N], z [B, D, T]
    parts = {
        "l1": F.l1_loss(x_hat, x),
        "stft": multires_stft_loss(x_hat, x, eps=stft_eps),
        "mel": mel_loss(x_hat, x, model.sample_rate),
        "commit": commit,
    }
    total = 10 * parts["l1"] + parts["stft"] + 0.1 * parts["mel"] + model.cfg.commitment * commit
    if frame_weight:
        parts["frame"] = frame_convergence_loss(x_hat, x)
        total = total + frame_weight * parts["frame"]
    if anchor is not None and anchor_weight:
        with torch.no_grad():
            z_ref = anchor(x)
        parts["anchor"] = anchor_loss(z, z_ref, loud_frames(x, model.hop))
        total = total + anchor_weight * parts["anchor"]
    return total, {k: float(v.detach()) for k, v in parts.items()}, x_hat


# ---------------------------------------------------------------------------------------------
# Measuring a codec: distances between a clip and its reconstruction, codebook usage
# ---------------------------------------------------------------------------------------------

def mel_distance(reference: np.ndarray, estimate: np.ndarray, sr: int = 16000, n_mels: int = 64,
                 n_fft: int = 1024, hop_length: int = 256) -> float:
    """Mean absolute difference of log-mel spectrograms (natural log of power, +1e-5); 0 = identical.

    Example
    -------
    >>> from coursekit.audio import tone
    >>> y = tone(440.0, 0.5)
    >>> mel_distance(y, y)
    0.0
    """
    from ..audio import log_mel

    n = min(len(reference), len(estimate))
    a = log_mel(np.asarray(reference[:n], np.float32), sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    b = log_mel(np.asarray(estimate[:n], np.float32), sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    return float(np.abs(a - b).mean())


def si_sdr(reference: np.ndarray, estimate: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (higher is better; Le Roux et al. 2019).

    The reference is scaled to best match the estimate; what is left over counts as distortion.
    """
    n = min(len(reference), len(estimate))
    s = np.asarray(reference[:n], np.float64)
    e = np.asarray(estimate[:n], np.float64)
    target = (e @ s) / (s @ s + eps) * s
    noise = e - target
    return float(10 * np.log10((target @ target + eps) / (noise @ noise + eps)))


def codebook_usage(codes, codebook_size: int) -> dict:
    """How the codes of each quantizer are spread over its codebook.

    Parameters
    ----------
    codes : array or tensor [B, n_q, T] (or [n_q, T])
    codebook_size : int

    Returns
    -------
    dict with, per quantizer (lists of length n_q): ``perplexity`` = exp(entropy of the code
    histogram) (= codebook_size when every code is equally used, 1 when one code is used
    always), ``used`` (codes chosen at least once), ``dead_fraction`` (share never chosen) and
    ``counts`` ([n_q, codebook_size] histogram).
    """
    c = torch.as_tensor(codes).long()
    if c.ndim == 2:
        c = c[None]
    counts = torch.stack([torch.bincount(c[:, i].reshape(-1), minlength=codebook_size)
                          for i in range(c.shape[1])]).double()            # [n_q, K]
    p = counts / counts.sum(dim=1, keepdim=True)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum(dim=1)
    used = (counts > 0).sum(dim=1)
    return {"perplexity": torch.exp(entropy).tolist(), "used": used.tolist(),
            "dead_fraction": (1 - used.double() / codebook_size).tolist(),
            "counts": counts.long().numpy()}


# ---------------------------------------------------------------------------------------------
# Training data: a mix of single notes, piano and full mixes, all at one sample rate
# ---------------------------------------------------------------------------------------------

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


def find_audio_files(folder) -> list[Path]:
    """Every audio file under ``folder``, sorted (so the same folder gives the same list)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def _maestro_files(folder: Path, split: str) -> list[Path]:
    import csv

    csv_path = folder / "maestro-v3.0.0.csv"
    if csv_path.exists():
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        want = {"train"} if split == "train" else {"validation", "test"}
        files = [folder / r["audio_filename"] for r in rows if r.get("split") in want]
        return [p for p in files if p.exists()]
    return find_audio_files(folder)


def codec_data_files(split: str = "train", profile=None) -> dict[str, list[Path]]:
    """The audio files the codec trains (``split='train'``) or is tested on (``'test'``).

    ``{'nsynth': [...], 'gtzan': [...], 'maestro': [...]}``: the real datasets when they are
    under the data root, else the offline mini versions of the profile's size. NSynth has its
    own splits; GTZAN has none, so every fifth clip of a genre is held out for testing;
    MAESTRO's CSV gives train / validation+test.
    """
    from ..data import dataset_dir

    size = (profile or get_profile()).codec.data_size
    nsynth_split = "train" if split == "train" else "test"
    out = {"nsynth": find_audio_files(dataset_dir("nsynth", nsynth_split, size=size) / "audio")}
    g = dataset_dir("gtzan", size=size)
    gtzan = find_audio_files(g / "genres" if (g / "genres").is_dir() else g / "Data" / "genres_original")
    held_out = set(gtzan[4::5])
    out["gtzan"] = [f for f in gtzan if (f in held_out) == (split != "train")]
    out["maestro"] = _maestro_files(dataset_dir("maestro", size=size), split)
    return out


def load_clips(files, sr: int = 16000, max_seconds: float = 600.0, max_clip_seconds: float = 30.0,
               seed: int = 0) -> list[np.ndarray]:
    """Load (mono, resampled to ``sr``) files in a seeded random order until ``max_seconds``.

    Long recordings contribute at most ``max_clip_seconds`` each (from a random offset), so
    one long piano performance does not crowd out the rest. Unreadable files are skipped with
    a warning naming them.
    """
    from ..audio import info, load

    rng = np.random.default_rng(seed)
    clips, total = [], 0.0
    for i in rng.permutation(len(files)):
        if total >= max_seconds:
            break
        path = files[i]
        try:
            dur = info(path)["duration"]
            offset = float(rng.uniform(0, max(0.0, dur - max_clip_seconds)))
            y, _ = load(path, sr=sr, offset=offset, duration=min(dur, max_clip_seconds))
        except (AudioError, OSError) as err:
            warnings.warn(f"skipped {path}: {err}")
            continue
        if y.size >= sr // 10 and np.isfinite(y).all():
            clips.append(y.astype(np.float32))
            total += y.size / sr
    return clips


def synthetic_notes(n: int, sr: int = 16000, seconds: float = 1.5, midi_range=(55.0, 106.0),
                    seed: int = 0) -> list[np.ndarray]:
    """``n`` harmonic test notes with random pitch, spectrum and envelope: a codec's drill set.

    The mini datasets hold few notes above C6 (2 % of mini-NSynth's training notes are at MIDI
    88 or higher), so a codec trained on them alone reproduces high notes poorly. These notes
    fill the gap: a pitch drawn uniformly (fractional MIDI) in ``midi_range``; harmonics up to
    7.8 kHz with amplitudes ``k ** -r`` (``r`` in [0.5, 2.5]: from bright to nearly a sine) and
    random phases; sometimes a slight vibrato; a 3-50 ms attack, then either a sustain or an
    exponential decay (0.15-2 s), as in plucked and struck notes. Peak 0.9.

    Example
    -------
    >>> notes = synthetic_notes(4, sr=16000, seconds=0.5)
    >>> len(notes), notes[0].shape, float(abs(notes[0]).max()) <= 0.9 + 1e-6
    (4, (8000,), True)
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    out = []
    for _ in range(n):
        f0 = float(midi_to_hz(rng.uniform(*midi_range)))
        rolloff = rng.uniform(0.5, 2.5)
        vibrato = 1 + (rng.random() < 0.3) * 0.004 * np.sin(2 * np.pi * rng.uniform(4, 7) * t)
        phase = 2 * np.pi * f0 * np.cumsum(vibrato) / sr              # [N], radians
        y = np.zeros_like(t)
        for k in range(1, int(min(7800.0, 0.49 * sr) // f0) + 1):
            y += k ** -rolloff * rng.uniform(0.5, 1.0) * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
        env = np.minimum(1.0, t / rng.uniform(0.003, 0.05))
        if rng.random() < 0.6:
            env = env * np.exp(-t / rng.uniform(0.15, 2.0))
        y = y * env
        out.append((0.9 * y / max(float(np.abs(y).max()), 1e-9)).astype(np.float32))
    return out


class SegmentDataset(torch.utils.data.Dataset):
    """Fixed random segments [1, segment] drawn once (seeded) from several groups of clips.

    ``groups`` is ``{name: list of clips}``; ``weights`` how often each group is drawn.
    Near-silent segments (RMS < 1e-3) are re-drawn (NSynth notes end in long silences), and
    each segment gets a random gain in [0.3, 1] so the codec sees soft and loud sounds.
    """

    def __init__(self, groups: dict, segment: int, n_segments: int, weights: dict | None = None,
                 seed: int = 0):
        rng = np.random.default_rng(seed)
        self.clips, group_of = [], []
        for name, clips in groups.items():
            for c in clips:
                self.clips.append(np.pad(c, (0, max(0, segment - len(c)))))
                group_of.append(name)
        if not self.clips:
            raise ValueError("no training audio found; generate the mini datasets "
                             "(python -m coursekit data make ...) or pass --data DIR")
        names = [n for n in groups if groups[n]]
        w = np.array([(weights or {}).get(n, 1.0) for n in names], dtype=float)
        by_group = {n: [i for i, g in enumerate(group_of) if g == n] for n in names}
        self.segment, self.items = segment, []
        while len(self.items) < n_segments:
            g = names[rng.choice(len(names), p=w / w.sum())]
            ci = by_group[g][rng.integers(len(by_group[g]))]
            clip = self.clips[ci]
            for _ in range(10):
                off = int(rng.integers(0, len(clip) - segment + 1))
                if np.sqrt(np.mean(clip[off:off + segment] ** 2)) > 1e-3:
                    break
            self.items.append((ci, off, float(rng.uniform(0.3, 1.0))))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        ci, off, gain = self.items[i]
        x = self.clips[ci][off:off + self.segment]
        peak = max(float(np.abs(x).max()), 1e-4)
        return torch.from_numpy(x * (gain * min(1.0, 0.99 / peak) / max(1.0, peak)))[None].float()


# ---------------------------------------------------------------------------------------------
# Training (through the course's one loop, coursekit.train)
# ---------------------------------------------------------------------------------------------

def make_codec_step(model: NeuralCodec, opt, steps: int, lr: float, warmup: int = 100,
                    disc: "STFTDiscriminator | None" = None, opt_d=None,
                    time_budget_s: float | None = None, elapsed_s: float = 0.0,
                    decoder_only: bool = False, stft_eps: float = STFT_EPS, frame_weight: float = 0.0,
                    anchor: "nn.Module | None" = None, anchor_weight: float = 0.0):
    """The step function: reconstruction + commitment (+ adversarial) loss, one optimizer step.

    The learning rate warms up for ``warmup`` steps then follows a cosine down to lr / 10 at
    the end of training: ``steps``, or the time budget when that comes first (``elapsed_s``:
    seconds already trained before a resume). Quantizer dropout: half of the examples use all
    quantizers, the other half a random number. With ``decoder_only`` the encoder and the
    codebooks stay as they are (no gradient, no EMA update, no restart): only ``opt``'s
    parameters, the decoder's, learn. ``anchor`` / ``anchor_weight``: see :func:`codec_loss`.
    """
    cfg = model.cfg
    t0 = time.perf_counter()

    def step_fn(batch, step):
        if decoder_only:
            model.encoder.eval()     # (no dropout or norms inside: eval() only stops the
            model.quantizer.eval()   #  codebooks' EMA updates and dead-code restarts)
        x = batch.to(model._device())                                  # [B, 1, N]
        t = min(1.0, step / max(1, steps))
        if time_budget_s and math.isfinite(time_budget_s):
            t = max(t, min(1.0, (elapsed_s + time.perf_counter() - t0) / time_budget_s))
        now = lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))
        for g in opt.param_groups:
            g["lr"] = now
        B = x.shape[0]
        if cfg.quantizer_dropout:
            n_q = torch.where(torch.rand(B) < 0.5, torch.full((B,), cfg.n_q),
                              torch.randint(1, cfg.n_q + 1, (B,))).to(x.device)
        else:
            n_q = cfg.n_q
        loss, logs, x_hat = codec_loss(model, x, n_q, stft_eps=stft_eps, frame_weight=frame_weight,
                                       anchor=anchor, anchor_weight=anchor_weight)
        if disc is not None:
            g_adv, d_loss = adversarial_losses(disc, x_hat, x)
            loss = loss + g_adv
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward(retain_graph=True)
            opt_d.step()
            logs |= {"g_adv": float(g_adv), "d_loss": float(d_loss)}
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {float(loss)} at step {step}; lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        return {"loss": float(loss.detach()), "lr": now, **logs}

    return step_fn


def train_codec(cfg: Codec, dataset, steps: int, batch_size: int = 8, lr: float = 1e-3,
                time_budget_s: float | None = None, ckpt_path=None, resume: bool = False,
                seed: int = 0, device=None, adversarial: bool = False, ckpt_every: int | None = None,
                progress: bool = True, desc: str = "codec", init: "NeuralCodec | None" = None,
                decoder_only: bool = False, stft_eps: float = STFT_EPS, frame_weight: float = 0.0,
                freeze_codebooks: bool = False, anchor_weight: float = 0.0):
    """Train a :class:`NeuralCodec` on ``dataset`` (items [1, N]); returns ``(model, history)``.

    ``init``: start from this codec's weights (``cfg`` is then ignored). ``decoder_only``: train
    the decoder alone, keeping the encoder and codebooks of ``init``. Codes and latents then stay
    exactly what they were, so a Transformer or a diffusion model trained on them stays valid;
    only what they sound like once decoded improves (the way a better vocoder is fitted to the
    tokens of an existing codec). ``freeze_codebooks``: the codebooks of ``init`` keep still
    (no EMA update, no restart) while the encoder and decoder learn, so a code keeps the latent
    it stands for. ``anchor_weight``: keep the encoder's latents of loud frames near those of
    ``init``'s encoder (see :func:`codec_loss`); quiet frames are free to change.

    Example
    -------
    >>> model, history = train_codec(Codec(channels=4, n_q=2, codebook_size=16),
    ...                              dataset, steps=20)          # doctest: +SKIP
    """
    from ..train import pick_device, seed_everything, train

    seed_everything(seed)
    device = pick_device(device)
    if decoder_only and init is None:
        raise ValueError("decoder_only fine-tunes the decoder of an existing codec: pass init=")
    if (freeze_codebooks or anchor_weight) and init is None:
        raise ValueError("freeze_codebooks and anchor_weight fine-tune an existing codec: pass init=")
    anchor = None
    if anchor_weight:
        anchor = copy.deepcopy(init.encoder).to(device).eval().requires_grad_(False)
    model = (init if init is not None else NeuralCodec(cfg)).to(device)
    trained = model.decoder if decoder_only else model
    if decoder_only:
        for p in list(model.encoder.parameters()) + list(model.quantizer.parameters()):
            p.requires_grad_(False)
    model.quantizer.frozen = bool(freeze_codebooks)
    opt = torch.optim.Adam(trained.parameters(), lr=lr, betas=(0.5, 0.9))
    state = {"model": model, "opt": opt}
    disc = opt_d = None
    if adversarial:
        disc = STFTDiscriminator().to(device)
        opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.9))
        state |= {"disc": disc, "opt_d": opt_d}
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
    elapsed = 0.0
    if resume and ckpt_path is not None and Path(ckpt_path).exists():
        elapsed = float(torch.load(ckpt_path, weights_only=True).get("elapsed_s", 0.0))
    if time_budget_s is None:
        time_budget_s = get_profile().train.time_budget_s
    step_fn = make_codec_step(model, opt, steps, lr, warmup=50 if init is not None else 100,
                              disc=disc, opt_d=opt_d, time_budget_s=time_budget_s,
                              elapsed_s=elapsed, decoder_only=decoder_only, stft_eps=stft_eps,
                              frame_weight=frame_weight, anchor=anchor, anchor_weight=anchor_weight)
    history = train(step_fn, loader, state,
                    max_steps=steps, time_budget_s=time_budget_s, ckpt_path=ckpt_path,
                    ckpt_every=ckpt_every, resume=resume, config=asdict(cfg), seed=seed,
                    desc=desc, progress=progress)
    model.quantizer.frozen = False
    return model.eval(), history


# ---------------------------------------------------------------------------------------------
# Saving and loading
# ---------------------------------------------------------------------------------------------

def latent_digest(codec) -> str:
    """A short fingerprint of what turns audio into codes and latents: the encoder and codebooks.

    Two codecs with the same digest give the same codes and latents for the same audio, so a
    model trained on one codec's tokens (chapter 05) or latents (chapter 06) records this digest
    and checks it when loaded. The decoder is left out on purpose: fine-tuning it alone
    (``train codec --init CKPT --decoder-only``) keeps the digest, and those models stay valid.

    Example
    -------
    >>> latent_digest(NeuralCodec(Codec(channels=4, n_q=2, codebook_size=16)))   # doctest: +SKIP
    '3f0c...'
    """
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(codec.state_dict().items()):
        if k.startswith("encoder.") or (k.startswith("quantizer.") and k.endswith(".codebook")):
            h.update(k.encode())
            h.update(v.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


REFERENCE = "codec.pt"


def save_codec(model: NeuralCodec, path, step: int = 0, **extra) -> Path:
    """Write only what inference needs (config + weights + codebooks); no optimizer state."""
    from ..train import save_checkpoint

    return save_checkpoint(path, {"model": model}, step, config=asdict(model.cfg), **extra)


def load_codec(path=None, device: str | None = "cpu") -> NeuralCodec:
    """Load a codec checkpoint (``None``: the course's reference codec), ``weights_only=True``.

    Example
    -------
    >>> codec = load_codec()                 # doctest: +SKIP
    >>> codec.frame_rate, codec.codebook_size, codec.bitrate(8)   # doctest: +SKIP
    (50.0, 256, 3200.0)
    """
    from ..paths import CHECKPOINT_DIR

    path = Path(path) if path is not None else CHECKPOINT_DIR / REFERENCE
    if not path.exists():
        hint = ("the reference codec is missing from this installation; train one with "
                "`python -m coursekit train codec --out codec.pt` and pass its path"
                if path.parent == CHECKPOINT_DIR else "check the path")
        raise FileNotFoundError(f"{path}: no such codec checkpoint; {hint}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if "config" not in ckpt or "model" not in ckpt.get("state", {}):
        raise ValueError(f"{path} is not a codec checkpoint (no 'config' / 'state.model' entries)")
    model = NeuralCodec(Codec.from_dict(ckpt["config"]))
    model.load_state_dict(ckpt["state"]["model"])
    return model.to(device or "cpu").eval()


# ---------------------------------------------------------------------------------------------
# Command-line handlers
# ---------------------------------------------------------------------------------------------

def config_for_profile(profile=None) -> Codec:
    """The codec architecture the profile asks for (``codec`` section of the profile table)."""
    s = (profile or get_profile()).codec
    return Codec(channels=s.channels, max_channels=s.max_channels, latent_dim=s.latent_dim,
                 n_q=s.n_q, codebook_size=s.codebook_size)


def cli_train(args) -> int:
    """``python -m coursekit train codec --profile P --out CKPT [--resume] [--data DIR]``."""
    from ..paths import runs_root
    from ..train import command_line, write_card

    p = get_profile(args.profile)
    s = p.codec
    init = getattr(args, "init", None)
    decoder_only = bool(getattr(args, "decoder_only", False))
    if decoder_only and not init:
        raise ValueError("--decoder-only fine-tunes the decoder of an existing codec: pass --init CKPT "
                         "(e.g. --init coursekit/checkpoints/codec.pt)")
    n_synth = int(getattr(args, "synthetic_notes", 0) or 0)
    if n_synth < 0:
        raise ValueError(f"--synthetic-notes must be 0 or more, got {n_synth}")
    stft_eps = getattr(args, "stft_floor", None)
    stft_eps = STFT_EPS if stft_eps is None else float(stft_eps)
    if not stft_eps > 0:
        raise ValueError(f"--stft-floor must be positive (the log of 0 is -inf), got {stft_eps}")
    frame_weight = float(getattr(args, "frame_loss", None) or 0.0)
    if frame_weight < 0:
        raise ValueError(f"--frame-loss is a weight, 0 or more (e.g. 1), got {frame_weight}")
    freeze = bool(getattr(args, "freeze_codebooks", False))
    keep_encoder = bool(getattr(args, "keep_encoder", False))
    anchor_weight = float(getattr(args, "anchor", None) or 0.0)
    if anchor_weight < 0:
        raise ValueError(f"--anchor is a weight, 0 or more (e.g. 1), got {anchor_weight}")
    if (freeze or anchor_weight or keep_encoder) and not init:
        raise ValueError("--freeze-codebooks, --anchor and --keep-encoder fine-tune an existing codec: "
                         "pass --init CKPT (e.g. --init coursekit/checkpoints/codec.pt)")
    if keep_encoder and not (freeze or decoder_only):
        raise ValueError("--keep-encoder writes --init's codebooks back, so the decoder must learn on them: "
                         "add --freeze-codebooks")
    start = load_codec(init) if init else None
    cfg = start.cfg if start is not None else config_for_profile(p)
    digest_before = latent_digest(start) if start is not None else None
    out = Path(args.out)
    state_path = runs_root() / "codec" / f"{out.stem}.state.pt"   # optimizer etc., for --resume
    t0 = time.time()
    if args.data:
        files = {"data": find_audio_files(args.data)}
        if not files["data"]:
            raise FileNotFoundError(f"{args.data}: no audio files (.wav, .flac, ...) found")
    else:
        files = codec_data_files("train", p)
    groups = {k: load_clips(v, cfg.sample_rate, s.train_seconds, seed=args.seed) for k, v in files.items()}
    if n_synth:
        groups["synthetic"] = synthetic_notes(n_synth, cfg.sample_rate, seed=args.seed)
    for k, v in groups.items():
        print(f"  {k}: {len(v)} clips, {sum(map(len, v)) / cfg.sample_rate:.0f} s at {cfg.sample_rate} Hz")
    segment = int(round(s.segment_seconds * cfg.sample_rate / cfg.hop)) * cfg.hop
    dataset = SegmentDataset(groups, segment, n_segments=max(s.steps * s.batch_size // 2, 4 * s.batch_size),
                             weights={"nsynth": 2.0, "gtzan": 1.0, "maestro": 1.0, "synthetic": 1.0},
                             seed=args.seed)
    budget = args.time_budget if args.time_budget is not None else s.time_budget_s
    print(f"codec: {NeuralCodec(cfg).num_params():,} parameters, {s.steps} steps of "
          f"{s.batch_size} x {segment / cfg.sample_rate:.2f} s, time budget {budget:.0f} s"
          + (f"; from {init}" if init else "") + ("; decoder only" if decoder_only else ""))
    lr = s.lr * (0.3 if init else 1.0)     # a fine-tune starts from a trained model: smaller steps
    model, history = train_codec(cfg, dataset, s.steps, s.batch_size, lr, time_budget_s=budget,
                                 ckpt_path=state_path, resume=args.resume, seed=args.seed,
                                 device=args.device, adversarial=s.adversarial,
                                 ckpt_every=s.ckpt_every, desc="codec", init=start,
                                 decoder_only=decoder_only, stft_eps=stft_eps, frame_weight=frame_weight,
                                 freeze_codebooks=freeze, anchor_weight=anchor_weight)
    model = model.cpu()
    if keep_encoder:
        # the encoder learnt beside the decoder; write the starting encoder (and codebooks) back
        kept = load_codec(init)
        model.encoder.load_state_dict(kept.encoder.state_dict())
        model.quantizer.load_state_dict(kept.quantizer.state_dict())
    if (decoder_only or keep_encoder) and latent_digest(model) != digest_before:
        raise RuntimeError("the encoder or codebooks changed in a decoder-only or --keep-encoder "
                           f"fine-tune (a bug); {out} was not written")
    step = history[-1]["step"] if history else 0
    save_codec(model, out, step=step)
    last = {k: round(v, 4) for k, v in history[-1].items()} if history else {}
    command = command_line("python -m coursekit train codec " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in
        [("profile", p.name), ("out", args.out), ("seed", args.seed), ("data", args.data),
         ("init", init), ("synthetic-notes", n_synth or None),
         ("stft-floor", None if stft_eps == STFT_EPS else stft_eps), ("frame-loss", frame_weight or None),
         ("anchor", anchor_weight or None)]
        if v is not None) \
        + (" --decoder-only" if decoder_only else "") + (" --freeze-codebooks" if freeze else "")
        + (" --keep-encoder" if keep_encoder else ""))
    write_card(out.with_suffix(".json"), model="codec", command=command, profile=p.name,
               config=asdict(cfg), parameters=model.num_params(), steps=step,
               training_time_s=round(history[-1]["time"], 1) if history else 0.0,
               wall_time_s_this_run=round(time.time() - t0, 1),
               data={k: f"{len(v)} files, {sum(map(len, groups[k])) / cfg.sample_rate:.0f} s used"
                     for k, v in files.items()}
               | ({"synthetic": f"{n_synth} notes (synthetic_notes, seed {args.seed})"} if n_synth else {}),
               stft_floor=stft_eps, frame_loss=frame_weight, anchor=anchor_weight,
               sample_rate=cfg.sample_rate, frame_rate=model.frame_rate,
               bitrates_bps={n: model.bitrate(n) for n in range(1, cfg.n_q + 1)},
               final_losses=last, size_bytes=out.stat().st_size,
               latent_digest=latent_digest(model),
               **({"initialized_from": str(init), "decoder_only": decoder_only,
                   "freeze_codebooks": freeze, "keep_encoder": keep_encoder} if init else {}),
               metrics="see results/codec_*.json (benchmarks/codec_eval.py)")
    print(f"codec written to {out} ({out.stat().st_size / 1e6:.2f} MB) and its card to {out.with_suffix('.json')}")
    return 0


def cli_reconstruct(args) -> int:
    """``python -m coursekit codec reconstruct IN_DIR OUT_DIR [--n-q N] [--checkpoint CKPT]``.

    An NSynth-format folder (``examples.json`` + ``audio/``) gives an NSynth-format folder with
    the same ``examples.json``; any other folder gives the same relative file names (as WAV at
    each file's own sample rate), so ``coursekit eval`` can compare the two folders.
    """
    import shutil

    from ..audio import info, load, save

    in_dir, out_dir = Path(args.in_dir), Path(args.out_dir)
    if not in_dir.is_dir():
        raise FileNotFoundError(f"{in_dir}: no such folder")
    if out_dir.resolve() == in_dir.resolve():
        raise ValueError("OUT_DIR must differ from IN_DIR (the originals would be overwritten)")
    model = load_codec(args.checkpoint)
    n_q = model._check_n_q(args.n_q)
    nsynth = (in_dir / "examples.json").exists()
    files = find_audio_files(in_dir / "audio" if nsynth else in_dir)
    if not files:
        raise FileNotFoundError(f"{in_dir}: no audio files to reconstruct")
    out_dir.mkdir(parents=True, exist_ok=True)
    if nsynth:
        shutil.copyfile(in_dir / "examples.json", out_dir / "examples.json")
    from tqdm.auto import tqdm

    t0, seconds = time.perf_counter(), 0.0
    for f in tqdm(files, desc=f"reconstruct ({model.bitrate(n_q) / 1000:.1f} kbps)", mininterval=2):
        sr = info(f)["samplerate"]
        y, _ = load(f, mono=False)
        if y.shape[0] > 1:
            _say_once("stereo", f"{f.name}: stereo mixed down to mono (the codec is mono)")
        y = y.mean(axis=0)
        y_hat = model.reconstruct(y, sr=sr, n_q=n_q)
        save(out_dir / f.relative_to(in_dir).with_suffix(".wav"), np.clip(y_hat, -1, 1), sr)
        seconds += len(y) / sr
    dt = time.perf_counter() - t0
    print(f"{len(files)} files ({seconds:.0f} s of audio) reconstructed at n_q={n_q} "
          f"({model.bitrate(n_q):.0f} bit/s) into {out_dir} in {dt:.1f} s")
    return 0
