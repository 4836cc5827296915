"""Latent diffusion over a neural codec's continuous latents (chapter 06).

Read it top to bottom, like a figure (DDPM, Ho et al. 2020; DDIM, Song et al. 2021;
classifier-free guidance, Ho & Salimans 2022; latent diffusion, Rombach et al. 2022)::

    audio --codec encoder--> z0 [B, D, T] --normalise--> x0                  (data)
    x0, noise, t ----------> x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise        (forward process)
    LatentUNet(x_t, t, condition) -> v = sqrt(a_t) noise - sqrt(1 - a_t) x0   (what is learnt)
    noise x_T --DDIM / DPM-Solver steps (with guidance)--> x0 --denormalise--> codec decoder

- The **latents** are the codec's encoder output before quantization (chapter 04), e.g. 64
  numbers a frame, 50 frames a second: a 4 s note is a ``64 x 200`` array. Each channel is
  normalised to mean 0 and standard deviation 1 with statistics of the training set, kept in
  the model as buffers (``latent_mean``, ``latent_std``).
- The **denoiser** is a small 1-D UNet over frames (convolutions along time, the latent
  channels as input channels) with self-attention at the coarsest resolution. It is written
  here because ``diffusers.UNet1DModel`` has no class conditioning and ``UNet2DModel`` needs an
  image at least ``2**levels`` high; ``diffusers`` gives the parts that are easy to get subtly
  wrong: the timestep embedding and every noise schedule and sampler.
- **Conditioning** on labels: one learnt vector per pitch, per family and per velocity (or per
  genre), summed and added to the timestep embedding; every residual block reads that sum
  through a scale-and-shift (FiLM).
- **Conditioning on a score**: a condition that changes frame by frame, ``score`` [B, R, T] at
  the latent frame rate (a piano roll: which keys are struck, held and sounding, the pedal), is
  mapped by a convolution to the UNet's first width and added to its input features, so every
  frame of the output sees the notes of its own time (``score_channels = R``).
- In training the whole condition is dropped (labels replaced by a learnt "nothing" vector,
  the score by zeros) for a fraction ``p_uncond`` of the examples, so the same network also
  predicts unconditionally: **classifier-free guidance** is ``uncond + s * (cond - uncond)``.
- **Training** draws a random step ``t`` of the cosine schedule (1000 steps) and regresses the
  *velocity* ``v`` (Salimans & Ho 2022), whose scale is the same at every noise level;
  ``prediction_type='epsilon'`` works too.
- **Sampling** runs a ``diffusers`` sampler on the same schedule: ``ddpm`` (ancestral, many
  steps), ``ddim`` (deterministic) or ``dpm`` (DPM-Solver++ multistep, good in 10-25 steps).

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

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["DiffusionConfig", "ResBlock", "Attention", "LatentUNet", "Conditioner", "LatentDiffusion",
           "noise_schedule", "add_noise", "velocity", "predict_x0", "ddim_step", "as_condition",
           "drop_condition", "cfg_combine",
           "latent_stats", "diffusion_loss", "SAMPLERS", "make_sampler", "sample_latents"]


@dataclass
class DiffusionConfig:
    """Hyper-parameters of a :class:`LatentDiffusion`; a checkpoint stores them as a plain dict."""

    latent_dim: int = 64                    # D: channels of the codec latent
    frames: int = 200                       # T of a training example (4 s at 50 frames/s)
    channels: tuple = (48, 96, 128)         # UNet widths; len(channels) - 1 halvings of T
    emb_dim: int = 128                      # E: timestep + condition embedding
    groups: int = 8                         # GroupNorm groups
    conditions: dict = field(default_factory=lambda: {"pitch": 128, "family": 11, "velocity": 128})
    score_channels: int = 0                 # R: channels of a frame-rate condition (0: none)
    p_uncond: float = 0.1                   # condition dropout (classifier-free guidance)
    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "v_prediction"   # or "epsilon"
    task: str = "notes"                     # "notes", "genres" or "piano"
    # what the latents are: the codec's fingerprint, its sample rate and frame rate
    latent_digest: str = ""
    sample_rate: int = 16000
    frame_rate: float = 50.0
    # what it was trained on: (pitch, family id) pairs and velocities seen, or genre names
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
        scale, shift = self.film(F.silu(emb))[:, :, None].chunk(2, dim=1)   # [B, c_out, 1] each
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class Attention(nn.Module):
    """Self-attention over frames, with sinusoidal positions (where in the clip is this frame?).

    [B, C, T] -> [B, C, T]
    """

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
    """noisy latents [B, D, T], timestep [B], condition embedding [B, E] (and a score
    [B, R, T] when ``cfg.score_channels``) -> prediction [B, D, T].

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
        self.score_in = nn.Conv1d(cfg.score_channels, ch[0], 3, padding=1) if cfg.score_channels else None
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

    def forward(self, x, t, cond_emb, score=None):
        emb = self.time_embed(self.time_proj(t).to(x.dtype)) + cond_emb     # [B, E]
        h = self.conv_in(x)                                                 # [B, c0, T]
        if self.score_in is not None:
            if score is None or score.shape[-1] != x.shape[-1]:
                raise ValueError(f"this model needs a score [B, {self.score_in.in_channels}, "
                                 f"{x.shape[-1]}] (the frames of the latents)")
            h = h + self.score_in(score.to(x.dtype))                       # the notes of each frame
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)                                   # T -> T/2
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)                # [B, c_last, T/2^L]
        for i, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))  # -> 2T
        return self.conv_out(F.silu(self.norm_out(h)))                      # [B, D, T]


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

    # normalisation: codec latents [B, D, T] <-> the unit-variance space the diffusion runs in
    def normalize(self, z):
        return (z - self.latent_mean[:, None]) / self.latent_std[:, None]

    def denormalize(self, x):
        return x * self.latent_std[:, None] + self.latent_mean[:, None]

    def set_stats(self, mean, std):
        self.latent_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.latent_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-5))

    def forward(self, x_t, t, cond: dict):
        """x_t [B, D, T], t (one step or [B]), cond {name: [B], "score": [B, R, T]} -> output [B, D, T]."""
        t = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(x_t.shape[0])
        return self.unet(x_t, t, self.conditioner(cond, x_t.shape[0], x_t.device), cond.get("score"))

    def guided(self, x_t, t, cond: dict, scale: float = 1.0):
        """The model output with classifier-free guidance of strength ``scale``.

        ``scale`` 1 is the plain conditional model, 0 the unconditional one; above 1 the
        prediction is pushed away from "any sound" toward "this pitch and family".
        """
        if scale == 1.0:
            return self(x_t, t, cond)
        B = x_t.shape[0]
        cond = as_condition(cond, B, x_t.device)
        none = drop_condition(cond, torch.ones(B, dtype=torch.bool, device=x_t.device))
        both = {k: torch.cat([cond[k], none[k]]) for k in cond}
        t = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(B).repeat(2)   # [2B]
        out = self(torch.cat([x_t, x_t]), t, both)                          # [2B, D, T]
        out_cond, out_uncond = out.chunk(2)
        return cfg_combine(out_uncond, out_cond, scale)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


# ---------------------------------------------------------------------------------------------
# The maths, as plain functions (the exercises derive these)
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
    """alpha_bar at steps t [B], shaped [B, 1, 1] to broadcast over ``like`` [B, D, T]."""
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
    put back exactly the noise level of the step before.
    """
    a_t = torch.as_tensor(alpha_bar_t, dtype=x_t.dtype, device=x_t.device)
    a_prev = torch.as_tensor(alpha_bar_prev, dtype=x_t.dtype, device=x_t.device)
    x0 = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()
    return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps


def as_condition(cond: dict, batch: int, device=None) -> dict:
    """Labels as long [B] (one value is repeated), the score as float [B, R, T]."""
    return {k: torch.as_tensor(v, device=device).float().expand(batch, -1, -1) if k == "score"
            else torch.as_tensor(v, device=device).long().reshape(-1).expand(batch) for k, v in cond.items()}


def drop_condition(cond: dict, drop) -> dict:
    """The condition with the examples where ``drop`` [B] is True emptied: labels -1, score 0."""
    return {k: v * (~drop)[:, None, None].to(v.dtype) if k == "score" else torch.where(drop, -1, v)
            for k, v in cond.items()}


def cfg_combine(uncond, cond, scale: float):
    """Classifier-free guidance: ``uncond + scale * (cond - uncond)``."""
    return uncond + scale * (cond - uncond)


def latent_stats(latents) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation [D] of latents ``[N, D, T]`` (or a list of ``[D, T_i]``)."""
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

def diffusion_loss(model: LatentDiffusion, x0, cond: dict, alphas_cumprod, t=None, noise=None, drop=None):
    """Mean squared error between the model's output and its target at a random step.

    ``x0`` are *normalised* latents [B, D, T]; every random number is drawn on their device (in
    this order: ``t``, ``noise``, ``drop``), unless given. A fraction ``cfg.p_uncond`` of the
    examples have their conditions dropped (``drop`` [B] True: set to -1), so the model also
    learns the unconditional case.
    """
    B = x0.shape[0]
    if t is None:
        t = torch.randint(0, len(alphas_cumprod), (B,), device=x0.device)  # [B]
    noise = torch.randn_like(x0) if noise is None else noise              # [B, D, T]
    x_t = add_noise(x0, noise, t, alphas_cumprod)
    if drop is None:
        drop = torch.rand(B, device=x0.device) < model.cfg.p_uncond       # [B]
    cond = drop_condition(as_condition(cond, B, x0.device), drop)
    target = velocity(x0, noise, t, alphas_cumprod) if model.cfg.prediction_type == "v_prediction" else noise
    return F.mse_loss(model(x_t, t, cond).float(), target.float())         # float32 under amp


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
                   callback=None, progress: bool = True, denormalize: bool = True, step_fn=None):
    """Generate codec latents ``[B, D, frames]`` by denoising pure noise.

    Parameters
    ----------
    cond : dict
        ``{"pitch": [B], "family": [B], "velocity": [B]}`` (or ``{"genre": [B]}``): ints, -1 for
        "no condition"; or ``{"score": [B, R, T]}``. The batch size is the length of the longest
        entry (or ``batch``).
    frames : int
        Latent frames (default: the training length, or the score's T), rounded up to a multiple
        of the UNet's halvings (a score must already be a multiple).
    steps, sampler, guidance :
        Number of denoising steps, which sampler (see :func:`make_sampler`) and the
        classifier-free guidance scale (1: none; 0: unconditional).
    seed : int
        The starting noise is drawn on the CPU from this seed, so a seed gives the same sample
        on every device.
    callback : callable, optional
        ``callback(i, t, x_t, x0_hat)`` after every step (normalised space): to watch a note emerge.
    denormalize : bool
        Return codec latents (True) or the normalised ones the diffusion runs in.
    step_fn : callable, optional
        With ``sampler="ddim"``: ``step_fn(x_t, eps, alpha_bar_t, alpha_bar_prev) -> x_prev``
        replaces the scheduler's step (e.g. your own :func:`ddim_step`); default: diffusers'.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if step_fn is not None and sampler != "ddim":
        raise ValueError(f"step_fn is a DDIM step: give it with sampler='ddim', not {sampler!r}")
    cfg = model.cfg
    device = model.latent_mean.device
    sizes = {k: len(torch.as_tensor(v).reshape(-1)) if k != "score" else len(v) for k, v in cond.items()}
    B = batch or max([*sizes.values(), 1])
    if any(n not in (1, B) for n in sizes.values()):
        raise ValueError(f"conditions of different lengths: {sizes}")
    cond = as_condition(cond, B, device)
    mult = 2 ** (len(cfg.channels) - 1)
    frames = int(frames or (cond["score"].shape[-1] if "score" in cond else cfg.frames))
    frames = -(-frames // mult) * mult
    sched = make_sampler(sampler, cfg)
    sched.set_timesteps(steps)
    g = torch.Generator().manual_seed(int(seed))
    x = torch.randn((B, cfg.latent_dim, frames), generator=g).to(device) * sched.init_noise_sigma
    ac = sched.alphas_cumprod
    from tqdm.auto import tqdm

    for i, t in enumerate(tqdm(sched.timesteps, desc=f"{sampler} x{steps}", disable=not progress,
                               leave=False)):
        out = model.guided(sched.scale_model_input(x, t), t, cond, guidance)     # [B, D, frames]
        if callback is not None:
            x0, _ = predict_x0(x, out, t.repeat(B), ac, cfg.prediction_type)
            callback(i, int(t), x, x0)
        if step_fn is None:
            x = sched.step(out, t, x, generator=g).prev_sample
        else:   # as diffusers' DDIM (alpha_bar 1000 // steps earlier, 1 past the end), float64
            t_prev, x64, a64 = int(t) - cfg.num_train_timesteps // steps, x.cpu().double(), ac.double()
            _, eps = predict_x0(x64, out.cpu().double(), t.cpu().repeat(B), a64, cfg.prediction_type)
            a_prev = a64[t_prev] if t_prev >= 0 else torch.tensor(1.0, dtype=torch.float64)
            x = step_fn(x64, eps, a64[int(t)], a_prev).to(x)
    return model.denormalize(x) if denormalize else x
