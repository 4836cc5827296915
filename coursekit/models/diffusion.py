"""Latent diffusion over the course codec's continuous latents (chapter 06).

Read it top to bottom, like a figure (DDPM, Ho et al. 2020; DDIM, Song et al. 2021;
classifier-free guidance, Ho & Salimans 2022; latent diffusion, Rombach et al. 2022)::

    audio --codec.encode_latent--> z0 [B, D, T] --normalise--> x0            (data)
    x0, noise, t ----------------> x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise  (forward process)
    LatentUNet(x_t, t, pitch, family, velocity) -> v = sqrt(a_t) noise - sqrt(1 - a_t) x0
    noise x_T --DDIM / DPM-Solver steps (with guidance)--> x0 --denormalise--> codec.decode_latent

- The **latents** are the codec's encoder output before quantization (chapter 04): 64 numbers
  a frame, 50 frames a second, so a 4 s note is a ``64 x 200`` array. Each of the 64 channels
  is normalised to mean 0 and standard deviation 1 with statistics measured on the training
  set and stored in the checkpoint (``latent_mean``, ``latent_std``).
- The **denoiser** is a small 1-D UNet over frames (convolutions along time, the 64 latent
  channels as input channels) with self-attention at the coarsest resolution. Why not
  ``diffusers.UNet1DModel``? It has no class conditioning. Why not ``UNet2DModel``? It needs an
  image at least ``2**levels`` high, and the latent is one row of 64 channels. So the UNet is
  written here (forty lines), and ``diffusers`` gives the parts that are easy to get subtly
  wrong: the timestep embedding and every noise schedule and sampler.
- **Conditioning**: one learnt vector per pitch, per family and per velocity (or per genre),
  summed and added to the timestep embedding; every residual block reads that sum through a
  scale-and-shift (FiLM). During training the whole condition is dropped (replaced by a
  learnt "nothing" vector) for a fraction ``p_uncond`` of the examples, so the same network
  also predicts unconditionally: that is what **classifier-free guidance** needs,
  ``out = uncond + s * (cond - uncond)``.
- **Training** draws a random step ``t`` of ``diffusers.DDPMScheduler`` (cosine schedule, 1000
  steps) and regresses the *velocity* ``v`` (Salimans & Ho 2022), which keeps the target's
  scale the same at every noise level; ``prediction_type='epsilon'`` works too.
- **Sampling** runs any ``diffusers`` sampler from the same schedule: ``ddpm`` (ancestral, needs
  many steps), ``ddim`` (deterministic) or ``dpm`` (DPM-Solver++ multistep, good in 10-25 steps).

The same network, conditioned on a genre instead of a note's attributes, makes few-second
clips of music from codec latents of (mini-)GTZAN: ``--task genres``.

Example
-------
>>> import torch
>>> from coursekit.models.diffusion import DiffusionConfig, LatentDiffusion, sample_latents
>>> cfg = DiffusionConfig(latent_dim=8, channels=(16, 32), conditions={"pitch": 128})
>>> model = LatentDiffusion(cfg).eval()
>>> z = sample_latents(model, {"pitch": torch.tensor([60, 64])}, frames=40, steps=3,
...                    sampler="ddim", progress=False)
>>> tuple(z.shape)
(2, 8, 40)
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..profiles import get_profile

# Sizes, one triple (smoke, default, full) each: `coursekit train diffusion` and chapter 06.

__all__ = ["DiffusionConfig", "LatentUNet", "LatentDiffusion", "noise_schedule", "add_noise",
           "velocity", "predict_x0", "ddim_step", "cfg_combine", "latent_stats", "make_sampler",
           "sample_latents", "diffusion_loss", "train_diffusion", "encode_notes", "encode_clips",
           "generate_notes", "generate_clips", "save_diffusion", "load_diffusion", "codec_digest",
           "cli_train", "cli_sample", "SAMPLERS", "REFERENCE", "REFERENCE_GENRES"]


# ---------------------------------------------------------------------------------------------
# Configuration (stored in every checkpoint)
# ---------------------------------------------------------------------------------------------

@dataclass
class DiffusionConfig:
    """Hyper-parameters of a :class:`LatentDiffusion`; saved in the checkpoint as a plain dict."""

    latent_dim: int = 64                    # D: channels of the codec latent
    frames: int = 200                       # T of a training example (4 s at 50 frames/s)
    channels: tuple = (48, 96, 128)         # UNet widths; len(channels) - 1 halvings of T
    emb_dim: int = 128
    groups: int = 8                         # GroupNorm groups
    conditions: dict = field(default_factory=lambda: {"pitch": 128, "family": 11, "velocity": 128})
    p_uncond: float = 0.1
    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "v_prediction"   # or "epsilon"
    task: str = "notes"                     # "notes" or "genres"
    # what the latents are (filled in by training; checked when sampling)
    codec_sha256: str = ""
    sample_rate: int = 16000
    frame_rate: float = 50.0
    # what it was trained on: (pitch, family) pairs and velocities seen, or genre names
    train_pairs: list = field(default_factory=list)
    velocities: list = field(default_factory=list)
    genres: list = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict) -> "DiffusionConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "channels" in known:
            known["channels"] = tuple(known["channels"])
        return cls(**known)


# ---------------------------------------------------------------------------------------------
# The denoiser: a small 1-D UNet over latent frames
# ---------------------------------------------------------------------------------------------

class ResBlock(nn.Module):
    """GroupNorm-SiLU-Conv, FiLM from the embedding, GroupNorm-SiLU-Conv, plus a skip.

    [B, c_in, T], emb [B, E] -> [B, c_out, T]
    """

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int = 8):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, c_in), c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * c_out)            # -> scale, shift
        self.norm2 = nn.GroupNorm(min(groups, c_out), c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)                    # the block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(F.silu(emb))[:, :, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class Attention(nn.Module):
    """Self-attention over frames, with sinusoidal positions (where in the clip is this frame?)."""

    def __init__(self, channels: int, heads: int = 4, groups: int = 8):
        super().__init__()
        from diffusers.models.embeddings import Timesteps

        self.pos = Timesteps(channels, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.norm = nn.GroupNorm(min(groups, channels), channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x):
        B, C, T = x.shape
        h = self.norm(x).transpose(1, 2)                                    # [B, T, C]
        h = h + self.pos(torch.arange(T, device=x.device)).to(h.dtype)[None]
        h, _ = self.attn(h, h, h, need_weights=False)
        return x + h.transpose(1, 2)


class LatentUNet(nn.Module):
    """noisy latents [B, D, T], timestep [B], condition embedding [B, E] -> prediction [B, D, T].

    Widths ``channels = (c0, c1, c2)``: T frames at c0, T/2 at c1, T/4 at c2 (attention there).
    T must be a multiple of ``2 ** (len(channels) - 1)``.
    """

    def __init__(self, cfg: DiffusionConfig):
        super().__init__()
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps

        ch, E = list(cfg.channels), cfg.emb_dim
        self.time_proj = Timesteps(ch[0], flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(ch[0], E)                       # MLP
        self.conv_in = nn.Conv1d(cfg.latent_dim, ch[0], 3, padding=1)
        self.down = nn.ModuleList(ResBlock(ch[max(i - 1, 0)], c, E, cfg.groups) for i, c in enumerate(ch))
        self.downsample = nn.ModuleList(nn.Conv1d(c, c, 3, stride=2, padding=1) for c in ch[:-1])
        self.mid1 = ResBlock(ch[-1], ch[-1], E, cfg.groups)
        self.mid_attn = Attention(ch[-1], groups=cfg.groups)
        self.mid2 = ResBlock(ch[-1], ch[-1], E, cfg.groups)
        # up path: concatenate the skip of the same resolution, then go one resolution finer
        self.up = nn.ModuleList(ResBlock(2 * c, ch[max(i - 1, 0)], E, cfg.groups)
                                for i, c in reversed(list(enumerate(ch))))
        self.upsample = nn.ModuleList(nn.Conv1d(c, c, 3, padding=1) for c in reversed(ch[:-1]))
        self.norm_out = nn.GroupNorm(min(cfg.groups, ch[0]), ch[0])
        self.conv_out = nn.Conv1d(ch[0], cfg.latent_dim, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x, t, cond_emb):
        emb = self.time_embed(self.time_proj(t).to(x.dtype)) + cond_emb     # [B, E]
        h = self.conv_in(x)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)                                   # T -> T/2
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for i, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


class Conditioner(nn.Module):
    """One embedding table per condition, summed: ``{"pitch": [B], ...} -> [B, E]``.

    A value of ``-1`` means "no condition" and picks row 0 of the table, a learnt null vector:
    classifier-free guidance runs the same network with every condition set to -1.
    """

    def __init__(self, sizes: dict, dim: int):
        super().__init__()
        self.tables = nn.ModuleDict({k: nn.Embedding(n + 1, dim) for k, n in sizes.items()})

    def forward(self, cond: dict, batch: int, device=None):
        out = 0
        for name, table in self.tables.items():
            c = cond.get(name)
            if c is None:   # not given: unconditioned on this attribute
                c = torch.full((batch,), -1, dtype=torch.long, device=device)
            c = torch.as_tensor(c, device=device).long().reshape(-1).expand(batch)
            if int(c.max()) >= table.num_embeddings - 1 or int(c.min()) < -1:
                raise ValueError(f"condition {name!r}: values must lie in 0..{table.num_embeddings - 2} "
                                 f"(or -1 for none), got {c.tolist()[:8]}")
            out = out + table(c + 1)
        return out


class LatentDiffusion(nn.Module):
    """The denoiser, its conditioner and the latent normalisation, in one module."""

    def __init__(self, cfg: DiffusionConfig = DiffusionConfig()):
        super().__init__()
        self.cfg = cfg
        self.unet = LatentUNet(cfg)
        self.conditioner = Conditioner(cfg.conditions, cfg.emb_dim)
        self.register_buffer("latent_mean", torch.zeros(cfg.latent_dim))
        self.register_buffer("latent_std", torch.ones(cfg.latent_dim))

    # normalisation: codec latents <-> the unit-variance space the diffusion runs in
    def normalize(self, z):
        return (z - self.latent_mean[:, None]) / self.latent_std[:, None]

    def denormalize(self, x):
        return x * self.latent_std[:, None] + self.latent_mean[:, None]

    def set_stats(self, mean, std):
        self.latent_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.latent_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-5))

    def forward(self, x_t, t, cond: dict):
        t = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(x_t.shape[0])
        return self.unet(x_t, t, self.conditioner(cond, x_t.shape[0], x_t.device))

    def guided(self, x_t, t, cond: dict, scale: float = 1.0):
        """The model output with classifier-free guidance of strength ``scale``.

        ``scale`` 1 is the plain conditional model, 0 the unconditional one; above 1 the
        prediction is pushed away from "any sound" toward "this pitch and family".
        """
        if scale == 1.0:
            return self(x_t, t, cond)
        B = x_t.shape[0]
        both = {k: torch.cat([torch.as_tensor(v, device=x_t.device).long().reshape(-1).expand(B),
                              torch.full((B,), -1, dtype=torch.long, device=x_t.device)])
                for k, v in cond.items()}
        out = self(torch.cat([x_t, x_t]), t, both)
        out_cond, out_uncond = out.chunk(2)
        return cfg_combine(out_uncond, out_cond, scale)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


# ---------------------------------------------------------------------------------------------
# The maths, as plain functions (the exercises re-derive these)
# ---------------------------------------------------------------------------------------------

def noise_schedule(cfg: DiffusionConfig | None = None):
    """The training schedule: ``diffusers.DDPMScheduler`` (cosine betas, 1000 steps by default).

    ``scheduler.alphas_cumprod[t]`` is :math:`\\bar\\alpha_t`, the fraction of signal power
    left at step ``t``.
    """
    from diffusers import DDPMScheduler

    cfg = cfg or DiffusionConfig()
    return DDPMScheduler(num_train_timesteps=cfg.num_train_timesteps, beta_schedule=cfg.beta_schedule,
                         prediction_type=cfg.prediction_type, clip_sample=False)


def _ab(alphas_cumprod, t, like):
    a = torch.as_tensor(alphas_cumprod, dtype=like.dtype, device=like.device)[torch.as_tensor(t).long()]
    return a.reshape(-1, *([1] * (like.ndim - 1)))


def add_noise(x0, noise, t, alphas_cumprod):
    """The forward process in closed form: ``x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise``.

    Example
    -------
    >>> s = noise_schedule()
    >>> x0, eps, t = torch.ones(1, 2, 3), torch.zeros(1, 2, 3), torch.tensor([0])
    >>> bool(torch.allclose(add_noise(x0, eps, t, s.alphas_cumprod), s.add_noise(x0, eps, t)))
    True
    """
    a = _ab(alphas_cumprod, t, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def velocity(x0, noise, t, alphas_cumprod):
    """The v-prediction target: ``v = sqrt(a_t) noise - sqrt(1 - a_t) x0``."""
    a = _ab(alphas_cumprod, t, x0)
    return a.sqrt() * noise - (1 - a).sqrt() * x0


def predict_x0(x_t, out, t, alphas_cumprod, prediction_type: str = "v_prediction"):
    """The clean latent the model's output implies, and the noise: ``(x0_hat, eps_hat)``."""
    a = _ab(alphas_cumprod, t, x_t)
    if prediction_type == "v_prediction":
        x0 = a.sqrt() * x_t - (1 - a).sqrt() * out
        eps = (1 - a).sqrt() * x_t + a.sqrt() * out
    elif prediction_type == "epsilon":
        eps = out
        x0 = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
    else:
        raise ValueError(f"prediction_type must be 'v_prediction' or 'epsilon', got {prediction_type!r}")
    return x0, eps


def ddim_step(x_t, eps, alpha_bar_t, alpha_bar_prev):
    """One deterministic DDIM step (eta = 0) from the predicted noise ``eps``.

    ``x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)``, then
    ``x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev) eps``: move to the clean estimate and
    put back exactly the noise level of the earlier step.
    """
    a_t = torch.as_tensor(alpha_bar_t, dtype=x_t.dtype)
    a_prev = torch.as_tensor(alpha_bar_prev, dtype=x_t.dtype)
    x0 = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()
    return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps


def cfg_combine(uncond, cond, scale: float):
    """Classifier-free guidance: ``uncond + scale * (cond - uncond)``."""
    return uncond + scale * (cond - uncond)


def latent_stats(latents) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of latents ``[N, D, T]`` (or a list of ``[D, T_i]``)."""
    if isinstance(latents, (list, tuple)):
        flat = torch.cat([torch.as_tensor(z).float().reshape(z.shape[0], -1) for z in latents], dim=1)
    else:
        z = torch.as_tensor(latents).float()
        if z.ndim != 3:
            raise ValueError(f"latents: expected [N, D, T], got {tuple(z.shape)}")
        flat = z.transpose(0, 1).reshape(z.shape[1], -1)                   # [D, N*T]
    return flat.mean(dim=1), flat.std(dim=1)


# ---------------------------------------------------------------------------------------------
# Training objective and sampling
# ---------------------------------------------------------------------------------------------

def diffusion_loss(model: LatentDiffusion, x0, cond: dict, alphas_cumprod, generator=None):
    """Mean squared error between the model's output and its target at a random step.

    ``x0`` are *normalised* latents [B, D, T]. A fraction ``cfg.p_uncond`` of the examples
    have their conditions dropped (set to -1), so the model also learns the unconditional case.
    """
    B = x0.shape[0]
    n_t = len(alphas_cumprod)
    t = torch.randint(0, n_t, (B,), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    x_t = add_noise(x0, noise, t, alphas_cumprod)
    drop = torch.rand(B, generator=generator).to(x0.device) < model.cfg.p_uncond
    cond = {k: torch.where(drop, -1, torch.as_tensor(v, device=x0.device).long()) for k, v in cond.items()}
    target = velocity(x0, noise, t, alphas_cumprod) if model.cfg.prediction_type == "v_prediction" else noise
    return F.mse_loss(model(x_t, t, cond), target)


SAMPLERS = ("ddpm", "ddim", "dpm")


def make_sampler(name: str = "dpm", cfg: DiffusionConfig | None = None):
    """A ``diffusers`` sampler on the training schedule: ``ddpm``, ``ddim`` or ``dpm``.

    All start from the noisiest step (``timestep_spacing='trailing'``), which matters when
    there are few steps.
    """
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    base = noise_schedule(cfg).config
    if name == "ddpm":
        return DDPMScheduler.from_config(base, timestep_spacing="trailing")
    if name == "ddim":
        return DDIMScheduler.from_config(base, timestep_spacing="trailing", set_alpha_to_one=True)
    if name == "dpm":
        return DPMSolverMultistepScheduler.from_config(base, timestep_spacing="trailing",
                                                       algorithm_type="dpmsolver++", solver_order=2)
    raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


@torch.no_grad()
def sample_latents(model: LatentDiffusion, cond: dict, frames: int | None = None, steps: int = 25,
                   sampler: str = "dpm", guidance: float = 2.0, seed: int = 0, batch: int | None = None,
                   callback=None, progress: bool = True, denormalize: bool = True):
    """Generate codec latents ``[B, D, frames]`` by denoising pure noise.

    Parameters
    ----------
    cond : dict
        ``{"pitch": [B], "family": [B], "velocity": [B]}`` (or ``{"genre": [B]}``): ints, -1 for
        "no condition". The batch size is the length of the longest entry (or ``batch``).
    frames : int
        Latent frames (50 a second); default: the training length. Rounded up to a multiple
        of the UNet's total downsampling.
    steps, sampler, guidance :
        Number of denoising steps, which sampler (see :func:`make_sampler`) and the
        classifier-free guidance scale (1: none; 0: unconditional).
    callback : callable, optional
        ``callback(i, t, x_t, x0_hat)`` after every step (normalised space): to watch a note emerge.
    denormalize : bool
        Return codec latents (True) or the normalised ones the diffusion runs in.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    cfg = model.cfg
    device = model.latent_mean.device
    cond = {k: torch.as_tensor(v, device=device).long().reshape(-1) for k, v in cond.items()}
    B = batch or max([len(v) for v in cond.values()] + [1])
    cond = {k: v.expand(B) if len(v) == 1 else v for k, v in cond.items()}
    if any(len(v) != B for v in cond.values()):
        raise ValueError(f"conditions of different lengths: { {k: len(v) for k, v in cond.items()} }")
    mult = 2 ** (len(cfg.channels) - 1)
    frames = int(frames or cfg.frames)
    frames = -(-frames // mult) * mult
    sched = make_sampler(sampler, cfg)
    sched.set_timesteps(steps)
    g = torch.Generator().manual_seed(int(seed))
    x = torch.randn((B, cfg.latent_dim, frames), generator=g).to(device) * sched.init_noise_sigma
    ac = sched.alphas_cumprod
    from tqdm.auto import tqdm

    for i, t in enumerate(tqdm(sched.timesteps, desc=f"{sampler} x{steps}", disable=not progress,
                               leave=False)):
        out = model.guided(sched.scale_model_input(x, t), t, cond, guidance)
        if callback is not None:
            x0, _ = predict_x0(x, out, t.repeat(B), ac, cfg.prediction_type)
            callback(i, int(t), x, x0)
        x = sched.step(out, t, x, generator=g).prev_sample
    return model.denormalize(x) if denormalize else x


# ---------------------------------------------------------------------------------------------
# Data: codec latents of notes and of genre clips, cached on disk
# ---------------------------------------------------------------------------------------------

def codec_digest(codec) -> str:
    """A short fingerprint of a codec's encoder (:func:`coursekit.models.codec.latent_digest`):
    latents of another encoder mean nothing here; a fine-tuned decoder changes nothing."""
    from .codec import latent_digest

    return latent_digest(codec)


def _cache_file(kind: str, codec, folder, extra: str) -> Path:
    from ..paths import cache_root

    # the folder's metadata file (or the folder) changes when the data is regenerated
    folder = Path(folder).resolve()
    meta = folder / "examples.json" if (folder / "examples.json").exists() else folder
    stamp = f"{meta.stat().st_mtime_ns}-{meta.stat().st_size}" if meta.exists() else ""
    key = hashlib.sha1(f"{folder}|{stamp}|{extra}".encode()).hexdigest()[:10]
    return cache_root() / "diffusion" / f"{kind}-{codec_digest(codec)}-{key}.pt"


def _atomic_save(obj, path: Path) -> None:
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def encode_notes(codec, split_dir, max_notes: int | None = None, seed: int = 0, batch: int = 16,
                 cache: bool = True, progress: bool = True) -> dict:
    """Codec latents of the notes of an NSynth-format split, with their labels.

    Returns ``{"latents": float16 [N, D, T], "pitch": [N], "family": [N], "velocity": [N],
    "names": [...]}``. Cached under ``cache_root()/diffusion/`` (keyed by codec and folder), so
    the second call is instant. With ``max_notes`` a seeded random subset is kept.
    """
    from tqdm.auto import tqdm

    from ..audio import load
    from ..data.nsynth import FAMILIES, read_examples

    split_dir = Path(split_dir)
    path = _cache_file("notes", codec, split_dir, f"{max_notes}|{seed}")
    if cache and path.exists():
        return torch.load(path, weights_only=True)
    examples = read_examples(split_dir)
    names = sorted(examples)
    if max_notes is not None and max_notes < len(names):
        keep = np.random.default_rng(seed).choice(len(names), max_notes, replace=False)
        names = [names[i] for i in sorted(keep)]
    lat = []
    for i in tqdm(range(0, len(names), batch), desc="encoding notes", disable=not progress):
        ys = [load(split_dir / "audio" / f"{n}.wav", sr=codec.sample_rate)[0] for n in names[i:i + batch]]
        n = max(map(len, ys))
        y = np.stack([np.pad(v, (0, n - len(v))) for v in ys])
        y = y + 1e-4 * np.random.default_rng(i).standard_normal(y.shape).astype(np.float32)  # no silent clips
        lat.append(codec.encode_latent(y, sr=codec.sample_rate).cpu().half())
    out = {"latents": torch.cat(lat),
           "pitch": torch.tensor([examples[n]["pitch"] for n in names]),
           "family": torch.tensor([FAMILIES.index(examples[n]["instrument_family_str"]) for n in names]),
           "velocity": torch.tensor([examples[n]["velocity"] for n in names]),
           "names": names}
    if cache:
        _atomic_save(out, path)
    return out


def encode_clips(codec, folder, max_clips_per_genre: int | None = None, max_seconds: float = 30.0,
                 cache: bool = True, progress: bool = True) -> dict:
    """Codec latents of the clips of a GTZAN-layout folder (real or mini), with their genres.

    Returns ``{"latents": [float16 [D, T_i], ...], "genre": [N], "names": [...]}``, cached.
    """
    from tqdm.auto import tqdm

    from ..audio import load
    from ..data.gtzan import GENRES, genre_of, list_clips

    path = _cache_file("clips", codec, folder, f"{max_clips_per_genre}|{max_seconds}")
    if cache and path.exists():
        return torch.load(path, weights_only=True)
    clips = list_clips(folder)
    if max_clips_per_genre is not None:
        per = {}
        clips = [c for c in clips if per.setdefault(genre_of(c), []).append(c) or
                 len(per[genre_of(c)]) <= max_clips_per_genre]
    lat, genre, names = [], [], []
    for c in tqdm(clips, desc="encoding clips", disable=not progress):
        try:
            y, _ = load(c, sr=codec.sample_rate, duration=max_seconds)
        except Exception as err:  # GTZAN has a known corrupt file: skip it, say so
            print(f"skipping {c.name}: {err}")
            continue
        lat.append(codec.encode_latent(y, sr=codec.sample_rate)[0].cpu().half())
        genre.append(GENRES.index(genre_of(c)))
        names.append(c.name)
    if not lat:
        raise FileNotFoundError(f"{folder}: no readable GTZAN clips")
    out = {"latents": lat, "genre": torch.tensor(genre), "names": names}
    if cache:
        _atomic_save(out, path)
    return out


class NoteLatents(torch.utils.data.Dataset):
    """Items ``(latent [D, T], {"pitch", "family", "velocity"})`` from :func:`encode_notes`."""

    def __init__(self, data: dict):
        self.data = data

    def __len__(self):
        return len(self.data["latents"])

    def __getitem__(self, i):
        return (self.data["latents"][i].float(),
                {k: self.data[k][i] for k in ("pitch", "family", "velocity")})


class ClipCrops(torch.utils.data.Dataset):
    """Random crops of ``frames`` latent frames from :func:`encode_clips`: ``(latent, {"genre"})``."""

    def __init__(self, data: dict, frames: int, crops_per_clip: int = 16, seed: int = 0):
        self.data, self.frames = data, frames
        g = np.random.default_rng(seed)
        self.index = [(i, int(g.integers(0, max(z.shape[-1] - frames, 0) + 1)))
                      for i, z in enumerate(data["latents"]) for _ in range(crops_per_clip)]

    def __len__(self):
        return len(self.index)

    def __getitem__(self, j):
        i, start = self.index[j]
        z = self.data["latents"][i][:, start:start + self.frames].float()
        if z.shape[-1] < self.frames:
            z = F.pad(z, (0, self.frames - z.shape[-1]))
        return z, {"genre": self.data["genre"][i]}


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def train_diffusion(model: LatentDiffusion, dataset, max_steps: int = 1000, batch_size: int = 16,
                    lr: float = 5e-4, ema_decay: float = 0.995, time_budget_s: float | None = None,
                    ckpt_path=None, resume: bool = False, seed: int = 0, ckpt_every: int | None = None,
                    progress: bool = True, desc: str = "diffusion"):
    """Train ``model`` on normalised latents with :func:`coursekit.train.train`.

    The latent statistics must already be set (:meth:`LatentDiffusion.set_stats`). Returns
    ``(ema_model, history)``: an exponential moving average of the weights (what samples
    best after a short training; its decay warms up from 0) and the per-step losses.
    """
    from ..train import seed_everything, train

    seed_everything(seed)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    warm = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100))
    ac = noise_schedule(model.cfg).alphas_cumprod
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(seed))

    def step_fn(batch, step):
        z, cond = batch
        loss = diffusion_loss(model, model.normalize(z), cond, ac)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        warm.step()
        _ema_update(ema, model, min(ema_decay, (1 + step) / (10 + step)))
        return {"loss": loss.item(), "grad_norm": float(gnorm)}

    history = train(step_fn, loader, {"model": model, "ema": ema, "opt": opt, "sched": warm},
                    max_steps=max_steps, time_budget_s=time_budget_s, ckpt_path=ckpt_path,
                    ckpt_every=ckpt_every, resume=resume, config=asdict(model.cfg), seed=seed,
                    desc=desc, progress=progress)
    return ema.eval(), history


# ---------------------------------------------------------------------------------------------
# Saving and loading (latents only mean something to their codec: it is named by checksum or carried)
# ---------------------------------------------------------------------------------------------

REFERENCE = "diffusion.pt"
REFERENCE_GENRES = "diffusion_genres.pt"


def save_diffusion(model: LatentDiffusion, path, codec=None, step: int = 0, half: bool = True,
                   **extra) -> Path:
    """Write the config, the weights (float16 by default: half the size, same samples) and,
    when given, the codec whose latents the model was trained on (so the file is self-contained)."""
    import os

    def pack(sd):
        return {k: (v.half() if half and v.is_floating_point() else v).clone() for k, v in sd.items()}

    payload = {"config": asdict(model.cfg), "state": {"model": pack(model.state_dict())},
               "step": int(step), **extra}
    if codec is not None:
        payload["codec"] = {"config": asdict(codec.cfg), "state": pack(codec.state_dict())}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_diffusion(path=None, task: str = "notes", device: str = "cpu"):
    """Load a diffusion checkpoint and its codec: ``(model, codec)`` (``weights_only=True``).

    ``path=None`` loads the reference checkpoint of ``task`` ('notes' or 'genres').

    Example
    -------
    >>> model, codec = load_diffusion()          # doctest: +SKIP
    >>> model.cfg.conditions                     # doctest: +SKIP
    {'pitch': 128, 'family': 11, 'velocity': 128}
    """
    from ..paths import CHECKPOINT_DIR
    from .codec import Codec, NeuralCodec, load_codec

    if path is None:
        if task not in ("notes", "genres"):
            raise ValueError(f"task must be 'notes' or 'genres', got {task!r}")
        path = CHECKPOINT_DIR / (REFERENCE if task == "notes" else REFERENCE_GENRES)
    path = Path(path)
    if not path.exists():
        hint = (f"train one with `python -m coursekit train diffusion --task {task} --out {path.name}` "
                "and pass its path" if path.parent == CHECKPOINT_DIR else "check the path")
        raise FileNotFoundError(f"{path}: no such diffusion checkpoint; {hint}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if "config" not in ckpt or "model" not in ckpt.get("state", {}):
        raise ValueError(f"{path} is not a diffusion checkpoint (no 'config' / 'state.model' entries)")
    cfg = DiffusionConfig.from_dict(ckpt["config"])
    model = LatentDiffusion(cfg)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in ckpt["state"]["model"].items()})
    if "codec" in ckpt:
        codec = NeuralCodec(Codec.from_dict(ckpt["codec"]["config"]))
        codec.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in ckpt["codec"]["state"].items()})
    else:
        codec = load_codec()
        if cfg.codec_sha256 and codec_digest(codec) != cfg.codec_sha256:
            raise ValueError(f"{path} was trained on latents of codec {cfg.codec_sha256}, but the "
                             f"reference codec is {codec_digest(codec)}; retrain the diffusion model")
    return model.to(device).eval(), codec.to(device).eval()


# ---------------------------------------------------------------------------------------------
# Generating notes and clips
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def decode(codec, latents) -> np.ndarray:
    """Codec latents [B, D, T] -> float32 audio [B, T * hop], peak-limited to +-0.99."""
    y = codec.decode_latent(latents)[:, 0].cpu().numpy().astype(np.float32)
    peak = np.abs(y).max(axis=1, keepdims=True)
    return np.where(peak > 0.99, y * 0.99 / np.maximum(peak, 1e-9), y)


def generate_notes(model: LatentDiffusion, codec, pitches, families, velocities=100, steps: int = 25,
                   sampler: str = "dpm", guidance: float = 2.0, seed: int = 0, batch: int = 16,
                   progress: bool = True) -> list[dict]:
    """Generate 4 s notes; returns dicts ready for :func:`coursekit.data.nsynth.write_nsynth_folder`.

    ``families`` are names or ids; ``pitches``/``families``/``velocities`` broadcast.
    """
    from ..data.nsynth import FAMILIES, N_FRAMES

    n = max(len(np.atleast_1d(a)) for a in (pitches, families, velocities))
    p = np.broadcast_to(np.atleast_1d(pitches), (n,)).astype(int)
    f = [FAMILIES.index(x) if isinstance(x, str) else int(x)
         for x in np.broadcast_to(np.atleast_1d(np.asarray(families, dtype=object)), (n,))]
    v = np.broadcast_to(np.atleast_1d(velocities), (n,)).astype(int)
    if any(x < 0 or x > 127 for x in p) or any(x < 0 or x > 127 for x in v):
        raise ValueError("pitches and velocities must be MIDI values in 0..127")
    frames = int(math.ceil(N_FRAMES / codec.hop))
    notes = []
    for b in range(0, n, batch):
        cond = {"pitch": torch.tensor(p[b:b + batch]), "family": torch.tensor(f[b:b + batch]),
                "velocity": torch.tensor(v[b:b + batch])}
        z = sample_latents(model, cond, frames=frames, steps=steps, sampler=sampler, guidance=guidance,
                           seed=seed + b, progress=progress)
        y = decode(codec, z[..., :frames])[:, :N_FRAMES]
        for j in range(len(y)):
            notes.append({"audio": y[j], "pitch": int(p[b + j]), "velocity": int(v[b + j]),
                          "instrument_family_str": FAMILIES[f[b + j]], "generated_by": "diffusion",
                          "seed": int(seed + b), "sampler": sampler, "steps": int(steps),
                          "cfg": float(guidance)})
    return notes


def generate_clips(model: LatentDiffusion, codec, genres, seconds: float = 4.0, steps: int = 25,
                   sampler: str = "dpm", guidance: float = 2.0, seed: int = 0, batch: int = 8,
                   progress: bool = True) -> list[dict]:
    """Generate genre clips of ``seconds``; dicts for ``write_nsynth_folder(..., n_frames=None)``."""
    from ..data.gtzan import GENRES

    genres = [genres] if isinstance(genres, (str, int)) else list(genres)
    ids = []
    for g in genres:
        if isinstance(g, str) and g not in GENRES:
            raise ValueError(f"unknown genre {g!r}; choose from {', '.join(GENRES)}")
        ids.append(GENRES.index(g) if isinstance(g, str) else int(g))
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    n_samples = int(round(seconds * codec.sample_rate))
    frames = int(math.ceil(n_samples / codec.hop))
    clips = []
    for b in range(0, len(ids), batch):
        z = sample_latents(model, {"genre": torch.tensor(ids[b:b + batch])}, frames=frames, steps=steps,
                           sampler=sampler, guidance=guidance, seed=seed + b, progress=progress)
        y = decode(codec, z[..., :frames])[:, :n_samples]
        for j in range(len(y)):
            # the NSynth fields are required by the folder format; `genre` is what was asked
            clips.append({"audio": y[j], "pitch": 60, "velocity": 100, "instrument_family_str": "keyboard",
                          "genre": GENRES[ids[b + j]], "seconds": float(seconds),
                          "generated_by": "diffusion_genres", "seed": int(seed + b), "sampler": sampler,
                          "steps": int(steps), "cfg": float(guidance)})
    return clips


# ---------------------------------------------------------------------------------------------
# Command-line handlers
# ---------------------------------------------------------------------------------------------

def config_for_profile(profile=None, task: str = "notes") -> DiffusionConfig:
    """The denoiser the profile asks for (``ch06`` section of the profile table)."""
    s = (profile or get_profile()).ch06
    conditions = {"pitch": 128, "family": 11, "velocity": 128} if task == "notes" else {"genre": 10}
    return DiffusionConfig(channels=tuple(s.channels), emb_dim=s.emb_dim, p_uncond=s.p_uncond,
                           conditions=conditions, task=task)


def _codec_for_training(path=None):
    """The reference codec, or the one given; a clear error when there is none."""
    from .codec import load_codec

    return load_codec(path)


def init_from(model: "LatentDiffusion", path) -> dict:
    """Copy the denoiser weights of the diffusion checkpoint ``path`` into ``model``: the start of
    a fine-tune, e.g. after the codec changed and the latents were encoded again.

    The latent statistics are not copied (they belong to the codec that encoded the new data;
    call ``set_stats`` after this). Returns ``{"from": path, "step": ...}`` for the card.

    Example
    -------
    >>> model = LatentDiffusion(cfg)                                  # doctest: +SKIP
    >>> init_from(model, "coursekit/checkpoints/diffusion.pt")       # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--init {path}: no such diffusion checkpoint")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if "config" not in ckpt or "model" not in ckpt.get("state", {}):
        raise ValueError(f"--init {path} is not a diffusion checkpoint (no 'config' / 'state.model')")
    if ckpt["config"].get("task") != model.cfg.task:
        raise ValueError(f"--init {path} is a {ckpt['config'].get('task')!r} model; this run trains "
                         f"{model.cfg.task!r}")
    skip = {"latent_mean", "latent_std"}
    own = model.state_dict()
    theirs = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["state"]["model"].items()
              if k not in skip}
    wrong = sorted(k for k in theirs if k in own and own[k].shape != theirs[k].shape)
    missing = sorted(set(own) - set(theirs) - skip)
    if wrong or missing or set(theirs) - set(own):
        raise ValueError(f"--init {path} does not fit this model (different shapes: {wrong[:3]}, "
                         f"missing: {missing[:3]}); fine-tune from a checkpoint of the same profile")
    model.load_state_dict({**own, **theirs})
    return {"from": str(path), "step": int(ckpt.get("step", 0))}


def cli_train(args) -> int:
    """``python -m coursekit train diffusion --profile P --out CKPT [--task notes|genres] [--resume]
    [--codec CODEC] [--init CKPT]``.

    Encodes the training set with the reference codec (cached), trains within the profile's
    time budget (a resumable training state is kept in ``runs/diffusion/``), then writes the
    compact model (EMA weights; the codec too when ``--codec`` names one other than the reference)
    to ``--out`` and its card beside it.
    """
    from ..data import dataset_dir
    from ..paths import runs_root
    from ..train import command_line, write_card

    task = args.task or "notes"
    if task not in ("notes", "genres"):
        raise ValueError(f"--task must be 'notes' or 'genres' for diffusion, got {task!r}")
    prof = get_profile(args.profile)
    s = prof.ch06
    out = Path(args.out)
    t0 = time.perf_counter()
    codec_path = getattr(args, "codec", None)             # None: the reference codec
    own_codec = codec_path is not None
    codec = _codec_for_training(codec_path)
    cfg = config_for_profile(prof, task)
    cfg.codec_sha256, cfg.sample_rate, cfg.frame_rate = codec_digest(codec), codec.sample_rate, codec.frame_rate
    cfg.latent_dim = codec.latent_dim
    if task == "notes":
        from ..data.nsynth import N_FRAMES

        split = Path(args.data) if args.data else dataset_dir("nsynth", "train", size=s.nsynth_size)
        data = encode_notes(codec, split, max_notes=s.max_notes, seed=args.seed)
        cfg.frames = int(data["latents"].shape[-1])
        mult = 2 ** (len(cfg.channels) - 1)
        if cfg.frames % mult:
            pad = mult - cfg.frames % mult
            data["latents"] = F.pad(data["latents"], (0, pad))
            cfg.frames += pad
        pairs = sorted({(int(a), int(b)) for a, b in zip(data["pitch"], data["family"])})
        cfg.train_pairs = [list(x) for x in pairs]
        cfg.velocities = sorted({int(v) for v in data["velocity"]})
        dataset = NoteLatents(data)
        mean, std = latent_stats(data["latents"])
        described = {"folder": str(split), "notes": len(dataset), "seconds_per_note": N_FRAMES / 16000}
    else:
        from ..data.gtzan import GENRES

        root = Path(args.data) if args.data else dataset_dir("gtzan", size=s.gtzan_size)
        data = encode_clips(codec, root)
        mult = 2 ** (len(cfg.channels) - 1)
        cfg.frames = int(round(s.clip_seconds * codec.frame_rate / mult)) * mult
        cfg.genres = list(GENRES)
        dataset = ClipCrops(data, cfg.frames, crops_per_clip=64, seed=args.seed)
        mean, std = latent_stats(list(data["latents"]))
        described = {"folder": str(root), "clips": len(data["latents"]),
                     "seconds": round(sum(z.shape[-1] for z in data["latents"]) / codec.frame_rate, 1),
                     "crop_seconds": cfg.frames / codec.frame_rate}
    model = LatentDiffusion(cfg)
    init = getattr(args, "init", None)
    started = init_from(model, init) if init else None
    model.set_stats(mean, std)
    state_path = runs_root() / "diffusion" / f"{out.stem}.state.pt"
    budget = args.time_budget if args.time_budget is not None else s.time_budget_s
    print(f"diffusion ({task}): {model.num_params():,} parameters, {len(dataset)} training examples "
          f"of {cfg.frames} frames, budget {budget:.0f} s, profile {prof.name}"
          + (f"; from {init}" if init else ""))
    ema, history = train_diffusion(model, dataset, max_steps=s.max_steps, batch_size=s.batch_size,
                                   lr=s.lr, ema_decay=s.ema_decay, time_budget_s=budget,
                                   ckpt_path=state_path, resume=args.resume, seed=args.seed,
                                   ckpt_every=50, desc=f"diffusion-{task}")
    step = history[-1]["step"] if history else 0
    # The reference codec is shipped beside this checkpoint, so it is named by its checksum only
    # (loading checks it); any other codec travels inside the file, or its latents mean nothing.
    save_diffusion(ema, out, codec=codec if own_codec else None, step=step)
    losses = [h["loss"] for h in history]
    command = command_line(f"python -m coursekit train diffusion --task {task} --profile {prof.name} --out {args.out}")
    write_card(out.with_suffix(".json"), model="diffusion", task=task, command=command, profile=prof.name,
               config=asdict(cfg), parameters=model.num_params(), steps=step,
               training_time_s=round(history[-1]["time"], 1) if history else 0.0,
               wall_time_s_this_run=round(time.perf_counter() - t0, 1), data=described,
               codec={"sha256_16": cfg.codec_sha256, "parameters": codec.num_params(),
                      "frame_rate": codec.frame_rate, "stored_in_checkpoint": own_codec},
               final_loss_mean_last100=round(float(np.mean(losses[-100:])), 4) if losses else None,
               size_bytes=out.stat().st_size,
               metrics="see results/diffusion_eval.json (benchmarks/diffusion_eval.py)",
               **({"initialized_from": started} if started else {}))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and {out.with_suffix('.json')}")
    return 0


def cli_sample(args) -> int:
    """``python -m coursekit sample diffusion --n N --out DIR [--pitch P] [--family F] [--steps S]
    [--cfg G] [--genre GENRE --seconds S] [--checkpoint CKPT] [--seed N]``.

    Notes: without ``--pitch``/``--family`` the (pitch, family) pairs are drawn (seeded) from
    those the model was trained on. With ``--genre`` (or a genre checkpoint) it writes clips of
    ``--seconds`` (default: the training crop length). The folder records every asked condition.
    """
    from ..data.nsynth import FAMILIES, write_nsynth_folder

    if args.n <= 0:
        raise ValueError(f"--n must be a positive number of samples, got {args.n}")
    s = get_profile().ch06
    steps = args.steps if args.steps is not None else s.steps
    guidance = args.cfg if args.cfg is not None else s.cfg_scale
    task = "genres" if args.genre is not None else "notes"
    model, codec = load_diffusion(args.checkpoint, task=task, device=args.device or "cpu")
    task = model.cfg.task
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    if task == "genres":
        from ..data.gtzan import GENRES

        if args.pitch is not None or args.family is not None:
            raise ValueError("--pitch/--family are for note models; this checkpoint makes genre clips (--genre)")
        genres = [args.genre] * args.n if args.genre else [GENRES[i] for i in rng.integers(0, 10, args.n)]
        seconds = args.seconds if args.seconds is not None else model.cfg.frames / model.cfg.frame_rate
        items = generate_clips(model, codec, genres, seconds=seconds, steps=steps, guidance=guidance,
                               seed=args.seed)
        out = write_nsynth_folder(args.out, items, n_frames=None)
        audio_s = args.n * seconds
    else:
        if args.genre is not None:
            raise ValueError("--genre needs a genre checkpoint (task 'genres'); this one makes notes")
        if args.family is not None and args.family not in FAMILIES:
            raise ValueError(f"--family {args.family!r}: choose one of {', '.join(FAMILIES)}")
        if args.pitch is not None and not 0 <= args.pitch <= 127:
            raise ValueError(f"--pitch must be a MIDI number 0..127, got {args.pitch}")
        pairs = model.cfg.train_pairs or [[60, 0]]
        if args.family is not None:
            fam_pairs = [q for q in pairs if FAMILIES[q[1]] == args.family] or [[60, FAMILIES.index(args.family)]]
            pairs = fam_pairs
        drawn = [pairs[i] for i in rng.integers(0, len(pairs), args.n)]
        pitches = [args.pitch if args.pitch is not None else q[0] for q in drawn]
        families = [q[1] for q in drawn]
        vel_choices = model.cfg.velocities or [100]
        velocities = [int(v) for v in rng.choice(vel_choices, args.n)]
        items = generate_notes(model, codec, pitches, families, velocities, steps=steps, guidance=guidance,
                               seed=args.seed)
        out = write_nsynth_folder(args.out, items)
        audio_s = args.n * 4.0
    dt = time.perf_counter() - t0
    print(f"wrote {args.n} {'clips' if task == 'genres' else 'notes'} to {out} ({steps} steps, "
          f"cfg {guidance}; {audio_s / dt:.1f} s of audio per second of generation)")
    return 0
