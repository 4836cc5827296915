"""The course's neural audio codec: a SEANet-style autoencoder with residual vector quantization.

SoundStream (Zeghidour et al. 2021) and EnCodec (Defossez et al. 2022), small::

    audio [B, 1, N] --Encoder--> latents z [B, D, T] --ResidualVQ--> codes [B, n_q, T]
    audio [B, 1, N] <--Decoder-- quantized z_q [B, D, T] <--------------+

Strided convolutions turn ``sample_rate`` samples a second into ``sample_rate / hop`` latent
frames (50 Hz: hop 320 at 16 kHz); the residual VQ (:mod:`coursekit.models.rvq`) codes each
frame with ``n_q`` codes of ``log2(K)`` bits. Trained with *quantizer dropout* (a random ``n_q``
per example), one model serves every bitrate. It is the tokenizer of chapter 05 (``encode`` /
``decode``) and the latent space of chapter 06 (``encode_latent`` / ``decode_latent``).

Example
-------
>>> import torch
>>> model = NeuralCodec(Codec(channels=4, n_q=2, codebook_size=16)).eval()
>>> codes = model.encode(0.3 * torch.randn(1, 1, 16000))       # [B, n_q, T]
>>> tuple(codes.shape), tuple(model.decode(codes).shape), model.bitrate(2)  # 50 x 2 x 4 bits
((1, 2, 50), (1, 1, 16000), 400.0)
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .rvq import ResidualVQ, check_codes


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
        known.setdefault("activation", "leaky_relu")  # a config without one has the leaky-ReLU decoder
        known["strides"] = tuple(known.get("strides", cls.strides))
        return cls(**known)


# --- Encoder and decoder (SEANet-like) -------------------------------------------------------

class Snake(nn.Module):
    """``x + sin(alpha * x)**2 / alpha``, one learnt ``alpha`` a channel; [B, C, T] -> [B, C, T].
    ReLU networks learn low frequencies long before high ones ("spectral bias"); Snake's periodic
    term makes oscillation easy to learn (Ziyin et al. 2020; BigVGAN, DAC)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x):
        if torch.is_grad_enabled():
            return x + torch.sin(self.alpha * x).pow(2) / (self.alpha + 1e-9)
        # inference: the same sum in place, one temporary instead of four
        y = (self.alpha * x).sin_().square_()
        return y.mul_(1.0 / (self.alpha + 1e-9)).add_(x)


def make_act(kind: str, channels: int) -> nn.Module:
    """The nonlinearity between convolutions: ``"snake"`` or ``"leaky_relu"`` (slope 0.2)."""
    if kind not in ("snake", "leaky_relu"):
        raise ValueError(f"unknown activation {kind!r}; use 'snake' or 'leaky_relu'")
    return Snake(channels) if kind == "snake" else nn.LeakyReLU(0.2)


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
        return self.conv(F.pad(self.act(x), ((s + 1) // 2, s // 2)))  # (T + s - 2s) / s + 1 = T / s


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


# --- The codec -------------------------------------------------------------------------------

_said: set[str] = set()


def _say_once(key: str, message: str) -> None:
    if key not in _said:
        _said.add(key)
        warnings.warn(message, stacklevel=3)


def as_batch(audio, name: str = "audio") -> torch.Tensor:
    """Audio ``(N,)``, ``(B, N)`` or ``(B, C, N)`` (array or tensor) -> float32 [B, 1, N]. Channels
    are mixed down (said once); empty, NaN/inf or silent audio raises a ValueError."""
    x = torch.as_tensor(audio if torch.is_tensor(audio) else np.asarray(audio)).float()
    x = x[None, None] if x.ndim == 1 else x[:, None] if x.ndim == 2 else x
    if x.ndim != 3:
        raise ValueError(f"{name}: expected shape (N,), (B, N) or (B, C, N), got {tuple(x.shape)}")
    if x.shape[-1] == 0:
        raise ValueError(f"{name}: empty audio (0 samples)")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: {int((~torch.isfinite(x)).sum())} samples are NaN or inf; check the "
                         "file or the model that made it")
    if x.shape[1] > 1:
        _say_once("stereo", f"{name}: {x.shape[1]} channels mixed down to mono (the codec is mono)")
        x = x.mean(dim=1, keepdim=True)
    rms = x.pow(2).mean(dim=(1, 2)).sqrt()
    if bool((rms < 1e-5).any()):
        i = int(torch.nonzero(rms < 1e-5)[0])
        raise ValueError(f"{name}: example {i} is silent (RMS {float(rms[i]):.1e}); a codec has "
                         "nothing to encode; check the file or drop silent clips")
    return x


class NeuralCodec(nn.Module):
    """Encoder + residual VQ + decoder. See the module docstring for the picture."""

    def __init__(self, cfg: Codec = Codec()):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = ResidualVQ(cfg.latent_dim, cfg.codebook_size, cfg.n_q, cfg.ema_decay,
                                    cfg.dead_threshold)
        self.decoder = Decoder(cfg)

    sample_rate = property(lambda self: self.cfg.sample_rate)
    hop = property(lambda self: self.cfg.hop)
    frame_rate = property(lambda self: self.cfg.sample_rate / self.cfg.hop)   # latent frames a second
    codebook_size = property(lambda self: self.cfg.codebook_size)
    n_q = property(lambda self: self.cfg.n_q)                 # the most quantizers: the highest bitrate
    latent_dim = property(lambda self: self.cfg.latent_dim)

    def bitrate(self, n_q: int | None = None) -> float:
        """Bits per second when ``n_q`` quantizers are used: frame_rate * n_q * log2(K)."""
        n_q = self.cfg.n_q if n_q is None else n_q
        return self.frame_rate * n_q * math.log2(self.cfg.codebook_size)

    def bitrates(self) -> dict[int, float]:
        """``{n_q: bits per second}`` for every supported number of quantizers."""
        return {n: self.bitrate(n) for n in range(1, self.cfg.n_q + 1)}

    def forward(self, x: torch.Tensor, n_q=None):
        """Training pass: audio [B, 1, N] (N a multiple of hop) ->
        (audio_hat [B, 1, N], codes [B, n_q, T], commitment loss, latents z [B, D, T])."""
        z = self.encoder(x)
        z_q, codes, commit = self.quantizer(z, n_q)
        return self.decoder(z_q), codes, commit, z

    def _check_n_q(self, n_q):
        n_q = self.cfg.n_q if n_q is None else int(n_q)
        if not 1 <= n_q <= self.cfg.n_q:
            raise ValueError(f"n_q={n_q}: this codec has 1 to {self.cfg.n_q} quantizers")
        return n_q

    def _input(self, audio, sr) -> torch.Tensor:
        """audio at ``sample_rate`` -> [B, 1, T * hop] on the codec's device (zero-padded)."""
        if sr is not None and int(sr) != self.sample_rate:
            raise ValueError(f"audio at {sr} Hz: this codec takes {self.sample_rate} Hz; resample it "
                             "first (coursekit.audio.resample, or coursekit.recipes.codec.reconstruct)")
        x = as_batch(audio).to(self._device())
        return F.pad(x, (0, (-x.shape[-1]) % self.hop))

    @torch.no_grad()
    def encode(self, audio, sr: int | None = None, n_q: int | None = None, quantize=None) -> torch.Tensor:
        """audio (see :func:`as_batch`) -> integer codes [B, n_q, T], T = ceil(N / hop).
        ``quantize(z [B, D, T], codebooks [n_q, K, D]) -> codes`` replaces the residual VQ
        (chapter 04 passes its own)."""
        n_q = self._check_n_q(n_q)
        z = self.encoder(self._input(audio, sr))
        if quantize is not None:
            codebooks = torch.stack([layer.codebook for layer in self.quantizer.layers[:n_q]])
            return check_codes(quantize(z, codebooks), n_q, self.cfg.codebook_size).to(z.device)
        return self.quantizer(z, n_q)[1]

    @torch.no_grad()
    def decode(self, codes) -> torch.Tensor:
        """integer codes [B, n_q, T] (or [n_q, T]) -> audio [B, 1, T * hop]."""
        codes = check_codes(codes, self.cfg.n_q, self.cfg.codebook_size)
        return self.decoder(self.quantizer.decode(codes.to(self._device())))

    @torch.no_grad()
    def encode_latent(self, audio, sr: int | None = None) -> torch.Tensor:
        """audio -> continuous latents [B, D, T], before quantization (chapter 06's space)."""
        return self.encoder(self._input(audio, sr))

    @torch.no_grad()
    def decode_latent(self, latents, n_q: int | None = None) -> torch.Tensor:
        """continuous latents [B, D, T] -> audio [B, 1, T * hop]; with ``n_q``, quantized first
        with that many codebooks (what the codec would transmit)."""
        z = torch.as_tensor(latents).float().to(self._device())
        if z.ndim != 3 or z.shape[1] != self.cfg.latent_dim:
            raise ValueError(f"latents: expected [B, {self.cfg.latent_dim}, T], got {tuple(z.shape)}")
        if not torch.isfinite(z).all():
            raise ValueError("latents contain NaN or inf; check the model that produced them")
        if n_q is not None:
            z, _, _ = self.quantizer(z, self._check_n_q(n_q))
        return self.decoder(z)

    @torch.no_grad()
    def reconstruct(self, y, sr: int | None = None, n_q: int | None = None, quantize=None) -> np.ndarray:
        """Encode then decode NumPy audio at ``sample_rate``: ``(N,)``, ``(B, N)`` or ``(B, C, N)``
        -> the same shape (mono), the same number of samples (``quantize``: see :meth:`encode`)."""
        y = np.asarray(y, dtype=np.float32)
        x = as_batch(y)
        out = self.decode(self.encode(x, sr, n_q, quantize))[:, 0, :x.shape[-1]].cpu().numpy()    # [B, N]
        return out[0] if y.ndim == 1 else out if y.ndim == 2 else out[:, None]

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


# --- Losses ----------------------------------------------------------------------------------

# Floor of the log-STFT loss: about -60 dB of a full-scale tone (|STFT| peaks near n_fft / 4).
# Much lower, the empty bins' huge log gradients dominate early training and the codec goes silent.
STFT_EPS = 0.1
MEL_EPS = 1e-2
_windows: dict = {}


def _float32(loss):
    """Compute ``loss`` of audio tensors in float32, outside autocast: the FFTs, logs and norms
    of spectra need float32's range and precision under mixed-precision training."""
    @functools.wraps(loss)
    def run(*args, **kwargs):
        f32 = lambda a: a.float() if torch.is_tensor(a) and a.is_floating_point() else a  # noqa: E731
        device = next((a.device.type for a in (*args, *kwargs.values()) if torch.is_tensor(a)), "cpu")
        with torch.autocast(device, enabled=False):
            return loss(*map(f32, args), **{k: f32(v) for k, v in kwargs.items()})
    return run


def stft(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    """The STFT of x [B, N] with a Hann window, hop n_fft / 4, centred frames -> complex
    [B, n_fft / 2 + 1, frames]."""
    key = (n_fft, x.device)
    if key not in _windows:
        _windows[key] = torch.hann_window(n_fft, device=x.device)
    return torch.stft(x, n_fft, hop_length=n_fft // 4, window=_windows[key], return_complex=True)


def _spec(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    """|STFT| of x [B, N] (:func:`stft`) -> [B, F, frames]."""
    return stft(x, n_fft).abs()


@_float32
def multires_stft_loss(x_hat: torch.Tensor, x: torch.Tensor,
                       scales=(2048, 1024, 512, 256, 128, 64), eps: float = STFT_EPS) -> torch.Tensor:
    """Mean over STFT sizes (long ones resolve pitch, short ones attacks) of spectral convergence
    ||X| - |X_hat||_F / ||X||_F plus L1(log(|X| + eps) - log(|X_hat| + eps)); ``eps`` sets how
    quiet a detail may be and still count."""
    x_hat, x = x_hat.reshape(-1, x_hat.shape[-1]), x.reshape(-1, x.shape[-1])
    loss = x.new_zeros(())
    for n_fft in scales:
        a, b = _spec(x_hat, n_fft), _spec(x, n_fft)
        loss = loss + torch.linalg.norm(a - b) / (torch.linalg.norm(b) + 1e-7)
        loss = loss + (torch.log(a + eps) - torch.log(b + eps)).abs().mean()
    return loss / len(scales)


@_float32
def frame_convergence_loss(x_hat: torch.Tensor, x: torch.Tensor, scales=(2048, 1024, 512),
                           floor_db: float = -70.0) -> torch.Tensor:
    """Spectral convergence frame by frame: mean over STFT frames of ||X_f - X_hat_f|| / ||X_f||.

    In :func:`multires_stft_loss` loud frames outweigh quiet ones (a note's -50 dB tail decoded as
    silence costs less than a 1 dB level error); here every frame counts the same down to
    ``floor_db`` (re a full-scale sine), the floor a quieter frame is judged against.
    """
    x_hat, x = x_hat.reshape(-1, x_hat.shape[-1]), x.reshape(-1, x.shape[-1])
    loss = x.new_zeros(())
    for n_fft in scales:
        a, b = _spec(x_hat, n_fft), _spec(x, n_fft)                      # [B, F, frames]
        floor = n_fft / 4 * 10 ** (floor_db / 20)                        # a sine's peak bin
        loss = loss + (torch.linalg.norm(a - b, dim=1) / (torch.linalg.norm(b, dim=1) + floor)).mean()
    return loss / len(scales)


@_float32
def mel_loss(x_hat: torch.Tensor, x: torch.Tensor, mel_fb: torch.Tensor) -> torch.Tensor:
    """L1 distance between log-mel magnitude spectrograms; ``mel_fb`` [n_mels, n_fft / 2 + 1] is a
    mel filterbank (its width sets the STFT size)."""
    n_fft, fb = 2 * (mel_fb.shape[-1] - 1), mel_fb.to(x.device)
    x_hat, x = x_hat.reshape(-1, x_hat.shape[-1]), x.reshape(-1, x.shape[-1])
    a = torch.log(fb @ _spec(x_hat, n_fft) + MEL_EPS)
    b = torch.log(fb @ _spec(x, n_fft) + MEL_EPS)
    return (a - b).abs().mean()


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


def si_sdr_loss(x_hat: torch.Tensor, x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Minus the mean scale-invariant SDR (dB) of x_hat [B, 1, N] against x: rewards the waveform
    itself (its phase too), which the spectral losses leave free."""
    x, x_hat = x.flatten(1), x_hat.flatten(1)
    target = (x_hat * x).sum(1, keepdim=True) / ((x * x).sum(1, keepdim=True) + eps) * x
    noise = x_hat - target
    return -(10 * torch.log10((target.pow(2).sum(1) + eps) / (noise.pow(2).sum(1) + eps))).mean()


def codec_loss(model: NeuralCodec, x: torch.Tensor, n_q=None, *, mel_fb: torch.Tensor,
               stft_eps: float = STFT_EPS, frame_weight: float = 0.0, anchor: nn.Module | None = None,
               anchor_weight: float = 0.0, si_sdr_weight: float = 0.0) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """10 x time L1 + multi-resolution STFT + 0.1 x log-mel + commitment of a batch x [B, 1, N]
    -> ``(loss, {part: float}, x_hat)``. ``stft_eps``: the log-STFT floor (0.01, about -80 dB,
    makes a plucked note's tail count). ``frame_weight`` adds :func:`frame_convergence_loss`.
    ``anchor`` (a frozen earlier encoder) with ``anchor_weight`` adds :func:`anchor_loss` over the
    :func:`loud_frames`: quiet frames may move, loud ones keep their latents, so models trained on
    those latents still fit. ``si_sdr_weight`` adds :func:`si_sdr_loss` (in dB, so about 0.05)."""
    x_hat, codes, commit, z = model(x, n_q)                                   # [B, 1, N], z [B, D, T]
    parts = {"l1": F.l1_loss(x_hat, x), "stft": multires_stft_loss(x_hat, x, eps=stft_eps),
             "mel": mel_loss(x_hat, x, mel_fb), "commit": commit}
    total = 10 * parts["l1"] + parts["stft"] + 0.1 * parts["mel"] + model.cfg.commitment * commit
    if frame_weight:
        parts["frame"] = frame_convergence_loss(x_hat, x)
        total = total + frame_weight * parts["frame"]
    if si_sdr_weight:
        parts["si_sdr"] = si_sdr_loss(x_hat, x)
        total = total + si_sdr_weight * parts["si_sdr"]
    if anchor is not None and anchor_weight:
        with torch.no_grad():
            z_ref = anchor(x)
        parts["anchor"] = anchor_loss(z, z_ref, loud_frames(x, model.hop))
        total = total + anchor_weight * parts["anchor"]
    return total, {k: float(v.detach()) for k, v in parts.items()}, x_hat
