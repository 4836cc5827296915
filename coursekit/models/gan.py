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

As in GANSynth, the discriminator also has an *auxiliary classifier* head (AC-GAN, Odena et
al., 2017) that names the pitch; the discriminator learns it on real notes and the generator is
rewarded when its notes are classified as the asked pitch. Without it, a small GAN learns
"sounds like a note" long before "sounds like *this* note".

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



SR = 16000
N_FFT = 1024
HOP = 256
N_BINS = N_FFT // 2            # the Nyquist bin is dropped: 512 bins
N_FRAMES = 64
SEGMENT = (N_FRAMES - 1) * HOP  # 16128 samples = 1.008 s give exactly 64 centred frames
LOG_FLOOR, LOG_TOP = math.log(1e-4), math.log(300.0)  # log-magnitude range mapped to [-1, 1]
IF_RANGE = N_FFT / HOP / 2      # IF is measured in bins: +-2 bins is all a hop of N/4 can see
IF_MASK = 0.0                   # bins quieter than this (scaled log-magnitude, ~60 dB below a
                                # loud partial) get IF 0: their phase is noise nobody hears
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
    families: list = field(default_factory=lambda: list(FAMILIES))
    spectral_norm: bool = True   # in the discriminator (the stable recipe)
    train_families: list = field(default_factory=list)   # recorded for sampling and cards

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
        # auxiliary classifier (AC-GAN): names the pitch from the note's average spectrum (log-
        # magnitude and IF of each bin, averaged over time). No spectral norm: it would cap the
        # logits near 1 and keep the softmax over pitches almost flat.
        self.pitch_head = nn.Sequential(nn.Linear(2 * N_BINS, C), nn.LeakyReLU(0.2),
                                        nn.Linear(C, cfg.n_pitches))

    def forward(self, x: torch.Tensor, pitch, family=None, return_pitch_logits: bool = False):
        """Realness score ``(B,)``; with ``return_pitch_logits`` also the auxiliary pitch
        classifier's logits ``(B, n_pitches)`` (index 0 = ``pitch_min``)."""
        h = F.leaky_relu(self.inp(x.reshape(x.shape[0], 2 * N_BINS, N_FRAMES)), 0.2)
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)                           # 64 -> 32 -> ... -> 4 frames
        phi = F.leaky_relu(self.fc(h.flatten(1)), 0.2)
        score = self.score(phi)[:, 0] + (self.cond(pitch, family) * phi).sum(dim=1)
        if not return_pitch_logits:
            return score
        return score, self.pitch_head(x.reshape(x.shape[0], 2 * N_BINS, N_FRAMES).mean(dim=2))


# ---------------------------------------------------------------------------------------------
# Losses and the two recipes
# ---------------------------------------------------------------------------------------------

RECIPES = {
    # hinge loss, spectral norm, two time-scale learning rates, beta1 = 0
    "stable": dict(loss="hinge", spectral_norm=True, lr_g=2e-4, lr_d=4e-4, betas=(0.0, 0.9)),
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


# ---------------------------------------------------------------------------------------------
# Data: the first second of NSynth notes, in memory
# ---------------------------------------------------------------------------------------------

def load_notes(split_dir, pitch_range=(48, 72), families=None, max_notes: int | None = None,
               seed: int = 0, progress: bool = True) -> dict:
    """The first ``SEGMENT`` samples (~1 s, the attack and the start of the sustain) of NSynth
    notes at 16 kHz. Returns ``audio`` float16 ``(N, SEGMENT)``, ``pitch``, ``family`` ``(N,)``.
    """
    from tqdm.auto import tqdm

    from ..data.nsynth import NSynth

    ds = NSynth(split_dir, pitch_range=pitch_range, families=families,
                segment_seconds=SEGMENT / SR, sample_rate=SR)
    idx = np.arange(len(ds))
    if max_notes is not None and len(ds) > max_notes:
        idx = np.sort(np.random.default_rng(seed).choice(len(ds), max_notes, replace=False))
    y = torch.empty(len(idx), SEGMENT, dtype=torch.float16)
    pitch = torch.empty(len(idx), dtype=torch.long)
    family = torch.empty(len(idx), dtype=torch.long)
    for j, i in enumerate(tqdm(idx, desc="loading notes", disable=not progress)):
        item = ds[int(i)]
        y[j] = item["audio"][:SEGMENT].half()
        pitch[j], family[j] = item["pitch"], item["family"]
    return {"audio": y, "pitch": pitch, "family": family}


class _Notes(torch.utils.data.Dataset):
    def __init__(self, notes: dict):
        self.notes = notes

    def __len__(self):
        return len(self.notes["audio"])

    def __getitem__(self, i):
        return self.notes["audio"][i].float(), self.notes["pitch"][i], self.notes["family"][i]


# ---------------------------------------------------------------------------------------------
# Training: one step = one discriminator update + one generator update
# ---------------------------------------------------------------------------------------------

def make_gan(recipe: str = "stable", channels: int = 192, pitch_range=(48, 72),
             train_families=None) -> tuple:
    """Build ``(G, D, opt_g, opt_d, recipe_dict)`` for one of :data:`RECIPES`."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    r = RECIPES[recipe]
    cfg = GANConfig(channels=channels, pitch_min=int(pitch_range[0]), pitch_max=int(pitch_range[1]),
                    spectral_norm=r["spectral_norm"])
    cfg.train_families = list(train_families or [])
    G, D = Generator(cfg), Discriminator(cfg)
    opt_g = torch.optim.Adam(G.parameters(), lr=r["lr_g"], betas=r["betas"])
    opt_d = torch.optim.Adam(D.parameters(), lr=r["lr_d"], betas=r["betas"])
    return G, D, opt_g, opt_d, r


def gan_step_fn(G, D, opt_g, opt_d, loss: str = "hinge", ac_weight: float = 1.0):
    """The step function for :func:`coursekit.train.train`: D on real and fake, then G.

    ``ac_weight`` weighs the auxiliary pitch classification loss (0 turns it off). Returns a
    function ``step(batch, step_no) -> {"d_loss", "g_loss", "d_real", "d_fake", "ac_real",
    "ac_fake"}`` (``d_real``/``d_fake``: the discriminator's mean scores on real and generated
    notes; ``ac_*``: cross-entropy of the pitch head on each).
    """
    def step(batch, step_no):
        y, pitch, family = batch
        target = torch.as_tensor(pitch) - G.cfg.pitch_min
        real = to_features(y)
        z = torch.randn(len(y), G.cfg.z_dim)
        fake = G(z, pitch, family)
        # 1. discriminator: real up, fake down (fake detached: G is not updated here),
        #    and name the pitch of the real notes
        real_s, real_p = D(real, pitch, family, return_pitch_logits=True)
        fake_s = D(fake.detach(), pitch, family)
        ac_real = F.cross_entropy(real_p, target)
        ld = d_loss(real_s, fake_s, loss) + ac_weight * ac_real
        opt_d.zero_grad(set_to_none=True)
        ld.backward()
        opt_d.step()
        # 2. generator: fool the (just updated) discriminator, at the asked pitch
        s, p = D(fake, pitch, family, return_pitch_logits=True)
        ac_fake = F.cross_entropy(p, target)
        lg = g_loss(s, loss) + ac_weight * ac_fake
        opt_g.zero_grad(set_to_none=True)
        lg.backward()
        opt_g.step()
        if not (torch.isfinite(ld) and torch.isfinite(lg)):
            raise FloatingPointError(f"GAN losses became {ld.item()}, {lg.item()} at step {step_no}")
        return {"d_loss": ld.item(), "g_loss": lg.item(), "d_real": real_s.mean().item(),
                "d_fake": fake_s.mean().item(), "ac_real": ac_real.item(), "ac_fake": ac_fake.item()}
    return step


def train_gan(notes: dict, recipe: str = "stable", channels: int = 192, batch_size: int = 32,
              max_steps: int | None = None, time_budget_s: float | None = None, ckpt_path=None,
              resume: bool = False, seed: int = 0, eval_every: int | None = None,
              snapshot_every: int | None = None, progress: bool = True):
    """Train a GAN with one recipe through the course's loop.

    Returns ``(G, D, history, snapshots)``: ``snapshots`` maps a step to the generator's
    features for a fixed ``z`` and fixed pitches (for sample grids over training), taken every
    ``snapshot_every`` steps. ``eval_every`` adds ``diversity`` (mean pairwise distance between
    notes generated for the same pitch, see :func:`feature_diversity`) to the history.
    """
    from ..train import seed_everything, train

    seed_everything(seed)
    pitch_range = (int(notes["pitch"].min()), int(notes["pitch"].max()))
    fams = sorted({FAMILIES[i] for i in notes["family"].tolist()})
    G, D, opt_g, opt_d, r = make_gan(recipe, channels, pitch_range, fams)
    data = torch.utils.data.DataLoader(_Notes(notes), batch_size=batch_size, shuffle=True,
                                       drop_last=len(notes["audio"]) > batch_size)
    step = gan_step_fn(G, D, opt_g, opt_d, r["loss"])
    gen = torch.Generator().manual_seed(1234)
    fixed_pitch = torch.linspace(pitch_range[0], pitch_range[1], 4).round().long().repeat_interleave(4)
    fixed_z = torch.randn(len(fixed_pitch), G.cfg.z_dim, generator=gen)
    snapshots = {}

    def eval_fn(step_no):
        logs = {}
        if snapshot_every and (step_no % snapshot_every == 0 or step_no == 1):
            snapshots[step_no] = G(fixed_z, fixed_pitch).detach()
        if eval_every and step_no % eval_every == 0:
            x = G(fixed_z, fixed_pitch)
            logs["diversity"] = feature_diversity(x, fixed_pitch)
        return logs

    every = math.gcd(eval_every or 0, snapshot_every or 0) or None
    history = train(step, data, state={"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d},
                    max_steps=max_steps, time_budget_s=time_budget_s, ckpt_path=ckpt_path,
                    resume=resume, eval_fn=eval_fn if every else None, eval_every=every,
                    config={**asdict(G.cfg), "recipe": recipe}, seed=seed, desc=f"gan ({recipe})",
                    progress=progress)
    return G, D, history, snapshots


# ---------------------------------------------------------------------------------------------
# Measuring mode collapse
# ---------------------------------------------------------------------------------------------

def feature_diversity(x: torch.Tensor, groups) -> float:
    """Mean pairwise L2 distance (per feature value, RMS) between notes of the same group.

    ``x``: features or any ``(N, ...)`` array; ``groups``: one label per row (e.g. the asked
    pitch). A collapsed generator gives nearly the same note for every ``z``: distance ~ 0.
    """
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).float().flatten(1)
    groups = np.asarray(groups)
    dists = []
    for g in np.unique(groups):
        xs = x[torch.as_tensor(groups == g)]
        if len(xs) < 2:
            continue
        d = torch.cdist(xs, xs) / math.sqrt(xs.shape[1])
        n = len(xs)
        dists.append((d.sum() / (n * (n - 1))).item())
    if not dists:
        raise ValueError("feature_diversity needs at least two rows with the same group label")
    return float(np.mean(dists))


def ndb(real_feats, gen_feats, k: int = 20, alpha: float = 0.05, seed: int = 0) -> dict:
    """Number of statistically Different Bins (Richardson & Weiss, 2018).

    Cluster the real notes' features into ``k`` bins (k-means), put every generated note in its
    nearest bin, and test each bin's share of real vs generated notes with a two-proportion
    z-test. A generator that covers the data has few different bins; a collapsed one leaves
    bins empty and over-fills others.

    Returns
    -------
    dict
        ``ndb`` (count), ``ndb_fraction`` (count / k), ``real_props``, ``gen_props`` (per bin),
        ``k``.
    """
    from scipy.stats import norm
    from sklearn.cluster import KMeans

    real = np.asarray(real_feats, dtype=np.float64).reshape(len(real_feats), -1)
    gen = np.asarray(gen_feats, dtype=np.float64).reshape(len(gen_feats), -1)
    if len(real) < k:
        raise ValueError(f"ndb needs at least k={k} real notes, got {len(real)}; lower k")
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(real)
    p_real = np.bincount(km.labels_, minlength=k) / len(real)
    p_gen = np.bincount(km.predict(gen), minlength=k) / len(gen)
    pooled = (p_real * len(real) + p_gen * len(gen)) / (len(real) + len(gen))
    se = np.sqrt(pooled * (1 - pooled) * (1 / len(real) + 1 / len(gen)))
    z = np.divide(p_gen - p_real, se, out=np.zeros(k), where=se > 0)
    different = np.abs(z) > norm.ppf(1 - alpha / 2)
    return {"ndb": int(different.sum()), "ndb_fraction": float(different.mean()), "k": k,
            "real_props": p_real.tolist(), "gen_props": p_gen.tolist()}


def mel_stats(y, sr: int = SR) -> np.ndarray:
    """A fixed, learning-free description of a note for NDB and diversity: mean and standard
    deviation over time of 64 log-mel bands of its first second (128 numbers)."""
    from .. import audio

    y = audio.fix_length(np.asarray(y, dtype=np.float32), SEGMENT)
    M = audio.log_mel(y, sr, n_fft=1024, hop_length=256, n_mels=64)
    return np.concatenate([M.mean(axis=1), M.std(axis=1)])


def collapse_report(gen_notes: list[dict], real_notes: list[dict], k: int = 10, seed: int = 0,
                    classifier: bool = True) -> dict:
    """Mode collapse in numbers: generated notes against real notes of the same conditions.

    Parameters
    ----------
    gen_notes, real_notes : list of dict
        Note dicts with ``audio`` (16 kHz) and ``pitch`` (asked / true), and for the classifier
        measures ``instrument_family_str``.
    k : int
        NDB bins (lowered to the number of real notes when there are fewer).
    classifier : bool
        Also judge with the course's note classifier (skipped, with the reason in
        ``classifier_unavailable``, when its checkpoint cannot be loaded).

    Returns
    -------
    dict
        ``diversity_gen`` / ``diversity_real``: mean pairwise distance of :func:`mel_stats`
        between notes of the same pitch; ``ndb``, ``ndb_fraction``, ``k``; with the classifier
        ``pitch_acc``, ``family_acc`` (against the asked conditions), ``distinct_pitches``,
        ``distinct_families`` (predicted), and ``family_entropy_bits`` of the predicted families
        (generated and real).
    """
    fg = np.stack([mel_stats(n["audio"]) for n in gen_notes])
    fr = np.stack([mel_stats(n["audio"]) for n in real_notes])
    mu, sd = fr.mean(axis=0), fr.std(axis=0) + 1e-6          # the real notes set the scale
    fg, fr = (fg - mu) / sd, (fr - mu) / sd
    out = {"n_gen": len(gen_notes), "n_real": len(real_notes)}
    for name, f, notes in (("gen", fg, gen_notes), ("real", fr, real_notes)):
        try:
            out[f"diversity_{name}"] = feature_diversity(f, [n["pitch"] for n in notes])
        except ValueError:
            out[f"diversity_{name}"] = None                      # no two notes share a pitch
    res = ndb(fr, fg, k=min(k, len(fr)), seed=seed)
    out.update(ndb=res["ndb"], ndb_fraction=res["ndb_fraction"], k=res["k"])
    if classifier:
        try:
            from ..eval.classifier import FAMILIES as CF, predict_batch

            for name, notes in (("gen", gen_notes), ("real", real_notes)):
                pp, fp = predict_batch([n["audio"] for n in notes], SR)
                pred_p, pred_f = pp.argmax(1), fp.argmax(1)
                asked_f = np.array([CF.index(n["instrument_family_str"]) for n in notes])
                share = np.bincount(pred_f, minlength=len(CF)) / len(notes)
                nz = share[share > 0]
                out[f"pitch_acc_{name}"] = float(np.mean(pred_p == [n["pitch"] for n in notes]))
                out[f"family_acc_{name}"] = float(np.mean(pred_f == asked_f))
                out[f"distinct_pitches_{name}"] = int(len(np.unique(pred_p)))
                out[f"distinct_families_{name}"] = int(len(np.unique(pred_f)))
                out[f"family_entropy_bits_{name}"] = float(-(nz * np.log2(nz)).sum())
        except (FileNotFoundError, ImportError) as err:
            out["classifier_unavailable"] = str(err)
    return out


# ---------------------------------------------------------------------------------------------
# Saving, loading, generating
# ---------------------------------------------------------------------------------------------

def save_generator(G: Generator, path, **extra) -> Path:
    """Write the generator's weights and config (the discriminator is only needed to train)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"G": G.state_dict(), "config": asdict(G.cfg), "kind": "gan", **extra}, path)
    return path


def reference_checkpoint() -> Path:
    """The reference generator shipped with coursekit (``coursekit/checkpoints/gan.pt``)."""
    from ..paths import CHECKPOINT_DIR

    return CHECKPOINT_DIR / "gan.pt"


def load_generator(path=None, device="cpu") -> Generator:
    """Load a generator saved by :func:`save_generator` or a training checkpoint (default: the
    reference checkpoint)."""
    path = Path(path) if path is not None else reference_checkpoint()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint; train one with "
                                "`python -m coursekit train gan --profile full --out gan.pt`")
    ckpt = torch.load(path, map_location=device, weights_only=True)
    sd = ckpt["G"] if "G" in ckpt else ckpt["state"]["G"]
    cfg = dict(ckpt["config"])
    cfg.pop("recipe", None)
    G = Generator(GANConfig(**cfg))
    G.load_state_dict(sd)
    return G.to(device).eval()


@torch.no_grad()
def generate_notes(G: Generator, pitches, families=None, seed: int = 0, batch_size: int = 64,
                   out_seconds: float = 4.0) -> list[dict]:
    """One note per asked pitch (one forward pass per batch), as NSynth-style note dicts.

    The ~1 s the generator makes is followed by silence up to ``out_seconds`` (NSynth notes
    are 4 s). ``families`` as in :func:`coursekit.models.rnn.generate_notes` (``None``: drawn from
    the families the GAN was trained on).
    """
    G.eval()
    pitches = [int(p) for p in np.atleast_1d(pitches)]
    rng = np.random.default_rng(seed)
    if families is None:
        choices = G.cfg.train_families or list(G.cfg.families)
        families = [choices[i] for i in rng.integers(0, len(choices), len(pitches))]
    elif isinstance(families, (str, int)):
        families = [families] * len(pitches)
    fam_ids = []
    for f in families:
        if isinstance(f, str):
            if f not in G.cfg.families:
                raise ValueError(f"unknown family {f!r}; choose one of {', '.join(G.cfg.families)}")
            f = list(G.cfg.families).index(f)
        fam_ids.append(int(f))
    gen = torch.Generator().manual_seed(int(seed))
    notes = []
    for b in range(0, len(pitches), batch_size):
        p = torch.tensor(pitches[b:b + batch_size])
        fam = torch.tensor(fam_ids[b:b + batch_size])
        z = torch.randn(len(p), G.cfg.z_dim, generator=gen)
        y = from_features(G(z, p, fam)).numpy()
        peak = np.abs(y).max(axis=1, keepdims=True)
        y = y / np.maximum(peak / 0.95, 1.0)                       # never clip
        for j in range(len(p)):
            out = np.zeros(int(out_seconds * SR), dtype=np.float32)
            n = min(len(out), y.shape[1])
            out[:n] = y[j, :n]
            notes.append({"audio": out, "pitch": int(p[j]), "velocity": 100,
                          "instrument_family_str": G.cfg.families[int(fam[j])],
                          "generated_by": "gan", "seed": seed})
    return notes


# ---------------------------------------------------------------------------------------------
# Command line: python -m coursekit train gan / sample gan
# ---------------------------------------------------------------------------------------------

def cli_train(args) -> int:
    """``python -m coursekit train gan --profile P --out CKPT [--task stable|unstable]``.

    Keeps a resumable training checkpoint (G, D, both optimizers) at ``<out>.train.pt`` and at
    the end writes the generator to ``--out`` and its card to ``<out without .pt>.json``.
    """
    from ..data import dataset_dir
    from ..profiles import get_profile
    from ..train import command_line, write_card

    prof = get_profile(args.profile)
    p = prof.ch03
    recipe = args.task or "stable"
    if recipe not in RECIPES:
        raise ValueError(f"--task for gan is the recipe: {', '.join(RECIPES)}; got {recipe!r}")
    if args.device not in (None, "cpu"):
        raise ValueError("the GAN chapter trains on the CPU; leave --device out")
    out = Path(args.out)
    split = Path(args.data) if args.data else dataset_dir("nsynth", "train", size=p.nsynth_size)
    families = None if p.families == "all" else [f.strip() for f in p.families.split(",")]
    t0 = time.perf_counter()
    notes = load_notes(split, pitch_range=(p.pitch_min, p.pitch_max), families=families,
                       max_notes=p.max_notes, seed=args.seed)
    budget = args.time_budget if args.time_budget is not None else p.time_budget_s
    print(f"training the GAN ({recipe}) on {len(notes['audio'])} notes of {split}, "
          f"profile {prof.name}, budget {budget:.0f} s")
    G, D, history, _ = train_gan(notes, recipe, channels=p.channels, batch_size=p.batch_size,
                                 max_steps=p.max_steps, time_budget_s=budget,
                                 ckpt_path=out.with_name(out.stem + ".train.pt"),
                                 resume=args.resume, seed=args.seed, eval_every=p.eval_every)
    save_generator(G, out)
    div = [h["diversity"] for h in history if "diversity" in h]
    last = history[-100:]
    card = out.with_suffix(".json")
    cmd = command_line(f"python -m coursekit train gan --profile {prof.name} --out {args.out}")
    write_card(card, model="gan", command=cmd, profile=prof.name, recipe=recipe,
               data={"folder": str(split), "notes": len(notes["audio"]),
                     "pitch_range": [p.pitch_min, p.pitch_max],
                     "families": G.cfg.train_families, "sample_rate": SR,
                     "segment_samples": SEGMENT},
               config=asdict(G.cfg), steps=history[-1]["step"] if history else 0,
               train_wall_time_s=history[-1]["time"] if history else 0.0,
               total_wall_time_s=round(time.perf_counter() - t0, 1),
               size_bytes=out.stat().st_size,
               metrics={"d_loss_last100": float(np.mean([h["d_loss"] for h in last])) if last else None,
                        "g_loss_last100": float(np.mean([h["g_loss"] for h in last])) if last else None,
                        "diversity_last": div[-1] if div else None})
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and {card}")
    return 0


def cli_sample(args) -> int:
    """``python -m coursekit sample gan --n N --out DIR [--checkpoint] [--seed] [--pitch] [--family]``."""
    from ..data.nsynth import write_nsynth_folder

    if args.n <= 0:
        raise ValueError(f"--n must be a positive number of notes, got {args.n}")
    G = load_generator(args.checkpoint)
    rng = np.random.default_rng(args.seed)
    pitches = [args.pitch] * args.n if args.pitch is not None else \
        rng.integers(G.cfg.pitch_min, G.cfg.pitch_max + 1, args.n).tolist()
    t0 = time.perf_counter()
    notes = generate_notes(G, pitches, args.family, seed=args.seed)
    dt = time.perf_counter() - t0
    out = write_nsynth_folder(args.out, notes)
    print(f"wrote {len(notes)} notes to {out} ({len(notes) * SEGMENT / SR / dt:.0f} s of audio "
          "per second of generation)")
    return 0
