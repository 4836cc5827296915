"""Latent diffusion's recipe (chapter 06): everything around :mod:`coursekit.models.diffusion`.

- **Data** (:mod:`coursekit.recipes.diffusion_data`): the codec's latents of NSynth notes
  (:func:`encode_notes`) or GTZAN clips (:func:`encode_clips`), cached per codec and folder,
  served by :class:`NoteLatents` and :class:`ClipCrops`.
- **Training** on :func:`coursekit.train.train` with an exponential moving average of the
  weights (:func:`train_diffusion`); a whole run, fine-tunes included, is :func:`train_model`
  with its options in :class:`TrainOptions`.
- **Checkpoints** (:func:`save_diffusion`, :func:`load_diffusion`): a model of the reference
  codec's latents names that codec by its ``latent_digest`` (checked when loaded); a model of
  another codec's latents carries that codec inside the file.
- **Generation** (:func:`generate_notes`, :func:`generate_clips`) and the command line
  (``python -m coursekit train diffusion`` and ``sample diffusion``).

Example
-------
>>> from coursekit.recipes.diffusion import load_diffusion, generate_notes
>>> model, codec = load_diffusion()                                          # doctest: +SKIP
>>> notes = generate_notes(model, codec, pitches=[60, 64], families="flute")  # doctest: +SKIP
>>> notes[0]["audio"].shape                                                  # doctest: +SKIP
(64000,)
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import checkpoint
from . import (at_most, finite_float, midi_pitch, positive_int, refuse_unused, resume_path, say_architecture,
               seconds, stored_architecture, write_run_card)
from ..data.gtzan import GENRES
from ..data.nsynth import FAMILIES, N_FRAMES, SAMPLE_RATE
from ..models.diffusion import (DiffusionConfig, LatentDiffusion, diffusion_loss, latent_stats,
                                noise_schedule, sample_latents)
from ..profiles import get_profile
from .codec import latent_digest, load_codec
from .diffusion_data import ClipCrops, NoteLatents, encode_clips, encode_notes

__all__ = ["TASKS", "REFERENCE", "REFERENCE_GENRES", "encode_notes", "encode_clips", "NoteLatents",
           "ClipCrops", "config_for_profile", "TrainOptions", "init_from", "train_diffusion",
           "train_model", "save_diffusion", "load_denoiser", "load_diffusion", "codec_of", "decode", "generate_notes",
           "generate_clips", "add_train_arguments", "train_command", "add_sample_arguments",
           "sample_command"]

TASKS = ("notes", "genres")
REFERENCE = "diffusion.pt"
REFERENCE_GENRES = "diffusion_genres.pt"


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

def config_for_profile(profile=None, task: str = "notes") -> DiffusionConfig:
    """The denoiser the profile asks for (``ch06`` section of the profile table)."""
    s = (profile or get_profile()).ch06
    conditions = ({"pitch": 128, "family": len(FAMILIES), "velocity": 128} if task == "notes"
                  else {"genre": len(GENRES)})
    return DiffusionConfig(channels=tuple(s.channels), emb_dim=s.emb_dim, p_uncond=s.p_uncond,
                           conditions=conditions, task=task)


# what a stored config fixes of the denoiser (the rest is the codec's, the data's or training's)
ARCHITECTURE = ("channels", "emb_dim", "groups", "num_train_timesteps", "beta_schedule", "prediction_type",
                "score_channels")


def config_from_checkpoint(profile_cfg: DiffusionConfig, stored: dict, source) -> DiffusionConfig:
    """``profile_cfg`` with the architecture (:data:`ARCHITECTURE`) of the checkpoint config
    ``stored`` (read from ``source``), which must be a model of the same task."""
    if stored.get("task", "notes") != profile_cfg.task:
        raise ValueError(f"{source} is a {stored.get('task')!r} model; this run trains {profile_cfg.task!r}: "
                         f"pass --task {stored.get('task')} or a {profile_cfg.task} checkpoint")
    arch = {k: stored[k] for k in ARCHITECTURE if k in stored}
    return DiffusionConfig.from_dict({**asdict(profile_cfg), **arch})


@dataclass
class TrainOptions:
    """What a diffusion training run is about, beyond the common flags of ``train``.

    task : "notes" (NSynth notes, conditioned on pitch, family and velocity) or "genres"
        (crops of GTZAN clips, conditioned on the genre).
    codec : codec checkpoint whose latents are modelled (None: the reference codec).
    init : diffusion checkpoint whose denoiser weights start the run (a fine-tune, e.g. on the
        latents of another codec); the latent statistics are measured anew.
    """

    task: str = "notes"
    codec: str | None = None
    init: str | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"--task must be 'notes' or 'genres' for diffusion, got {self.task!r}")


def init_from(model: LatentDiffusion, path) -> dict:
    """Copy the denoiser weights of the diffusion checkpoint ``path`` into ``model``.

    The latent statistics are not copied (they belong to the codec that encoded the new data;
    call ``set_stats`` after this). Returns ``{"from": path, "step": ...}`` for the card.

    Example
    -------
    >>> model = LatentDiffusion(cfg)                                  # doctest: +SKIP
    >>> init_from(model, "coursekit/checkpoints/diffusion.pt")       # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--init {path}: no such diffusion checkpoint")
    ckpt = checkpoint.load(path, kind="diffusion")
    if "model" not in ckpt["state"] or not ckpt["config"]:
        raise ValueError(f"--init {path} is not a diffusion checkpoint (no 'config' / 'state.model')")
    if ckpt["config"].get("task") != model.cfg.task:
        raise ValueError(f"--init {path} is a {ckpt['config'].get('task')!r} model; this run trains "
                         f"{model.cfg.task!r}")
    skip = {"latent_mean", "latent_std"}
    own = model.state_dict()
    theirs = {k: v for k, v in checkpoint.float_weights(ckpt["state"]["model"]).items() if k not in skip}
    wrong = sorted(k for k in theirs if k in own and own[k].shape != theirs[k].shape)
    missing = sorted(set(own) - set(theirs) - skip)
    if wrong or missing or set(theirs) - set(own):
        raise ValueError(f"--init {path} does not fit this model (different shapes: {wrong[:3]}, "
                         f"missing: {missing[:3]}); fine-tune from a checkpoint of the same profile")
    model.load_state_dict({**own, **theirs})
    return {"from": str(path), "step": int(ckpt.get("step", 0))}


@torch.no_grad()
def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def train_diffusion(model: LatentDiffusion, dataset, max_steps: int = 1000, batch_size: int = 16,
                    lr: float = 5e-4, ema_decay: float = 0.995, time_budget_s: float | None = None,
                    ckpt_path=None, resume: bool = False, seed: int = 0, ckpt_every: int | None = None,
                    progress: bool = True, desc: str = "diffusion", device=None, warmup: int = 100,
                    amp: bool | None = None, data_on_device: bool | None = None, loss_fn=None):
    """Train ``model`` on normalised latents with :func:`coursekit.train.train`.

    The latent statistics must already be set (:meth:`LatentDiffusion.set_stats`). The learning
    rate warms up linearly over ``warmup`` steps and then stays at ``lr``; gradients are clipped
    to norm 1. ``device`` (e.g. ``"cuda"``) is where the model, its average and every batch go;
    ``amp`` and ``data_on_device`` (default: the profile's) put mixed precision and the latents
    on a GPU (:func:`coursekit.train.data_device`). ``loss_fn(model, x0, cond, alphas_cumprod)``
    (default :func:`~coursekit.models.diffusion.diffusion_loss`) is the loss of one batch of
    normalised latents: a loss written elsewhere (a notebook) trains the model in its place.

    Returns
    -------
    (ema_model, history)
        An exponential moving average of the weights (what samples best after a short
        training; its decay warms up from 0) and the per-step losses.
    """
    from ..train import data_device, make_step, seed_everything, train, warmup_cosine

    seed_everything(seed)
    where = data_device(device, data_on_device)
    if where.type != "cpu" and hasattr(dataset, "to"):
        dataset = dataset.to(where)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    ac = noise_schedule(model.cfg).alphas_cumprod
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(seed))

    loss_of = loss_fn or diffusion_loss

    def batch_loss(batch):
        z, cond = batch                                      # [B, D, T], {name: [B]}
        return loss_of(model, model.normalize(z), cond, ac)

    update = make_step(model, opt, batch_loss, clip_grad=1.0)

    def step_fn(batch, step):
        logs = update(batch, step)
        _ema_update(ema, model, min(ema_decay, (1 + step) / (10 + step)))
        return logs

    history = train(step_fn, loader, {"model": model, "ema": ema, "opt": opt}, max_steps=max_steps,
                    time_budget_s=time_budget_s, ckpt_path=ckpt_path, ckpt_every=ckpt_every,
                    resume=resume, config=asdict(model.cfg), seed=seed, desc=desc, progress=progress,
                    kind="diffusion", device=device, schedule=warmup_cosine(warmup, floor=1.0), amp=amp)
    return ema.eval(), history


def _training_data(codec, cfg: DiffusionConfig, folder, s, seed: int):
    """The dataset of ``cfg.task`` and its latent statistics; fills in the config's data fields.

    Returns ``(dataset, (mean, std), description for the card)``.
    """
    from ..data import dataset_dir

    mult = 2 ** (len(cfg.channels) - 1)
    if cfg.task == "notes":
        split = Path(folder) if folder else dataset_dir("nsynth", "train", size=s.nsynth_size)
        data = encode_notes(codec, split, max_notes=s.max_notes, seed=seed)
        cfg.frames = int(data["latents"].shape[-1])
        if cfg.frames % mult:
            pad = mult - cfg.frames % mult
            data["latents"] = F.pad(data["latents"], (0, pad))
            cfg.frames += pad
        pairs = sorted({(int(a), int(b)) for a, b in zip(data["pitch"], data["family"])})
        cfg.train_pairs = [list(x) for x in pairs]
        cfg.velocities = sorted({int(v) for v in data["velocity"]})
        dataset = NoteLatents(data)
        stats = latent_stats(data["latents"])
        described = {"folder": str(split), "notes": len(dataset), "seconds_per_note": N_FRAMES / SAMPLE_RATE}
    else:
        root = Path(folder) if folder else dataset_dir("gtzan", size=s.gtzan_size)
        data = encode_clips(codec, root)
        cfg.frames = int(round(s.clip_seconds * codec.frame_rate / mult)) * mult
        cfg.genres = list(GENRES)
        dataset = ClipCrops(data, cfg.frames, crops_per_clip=64, seed=seed)
        stats = latent_stats(list(data["latents"]))
        described = {"folder": str(root), "clips": len(data["latents"]),
                     "seconds": round(sum(z.shape[-1] for z in data["latents"]) / codec.frame_rate, 1),
                     "crop_seconds": cfg.frames / codec.frame_rate}
    return dataset, stats, described


def train_model(opts: TrainOptions, out, profile=None, data=None, seed: int = 0, resume: bool = False,
                device=None, time_budget_s: float | None = None) -> Path:
    """One training run: encode the data (cached), train, write the EMA model and its card.

    The model is the profile's, or with ``opts.init`` the init checkpoint's architecture
    (:data:`ARCHITECTURE`; training stays the profile's), or with ``resume`` the one the run's
    training state was saved with. A resumable training state is kept in
    ``<out>.train.pt`` beside ``out``. The model
    (float16 weights) goes to ``out``, the card to ``out`` with ``.json``; with ``opts.codec``
    the codec travels inside the file. Returns ``out``.
    """

    from ..train import pick_device, seed_everything

    prof = get_profile(profile)
    s = prof.ch06
    device = pick_device(device)                        # default: the best available
    out = Path(out)
    t0 = time.perf_counter()
    codec = load_codec(opts.codec, device=device)      # the latents are encoded there (cached)
    cfg = config_for_profile(prof, opts.task)
    source, stored = stored_architecture("diffusion", out, opts.init, resume,
                                         check=lambda path, hint: load_denoiser(path, hint, task=opts.task))
    if stored is not None:
        profile_cfg, cfg = cfg, config_from_checkpoint(cfg, stored, source)
        say_architecture(source, prof.name, asdict(profile_cfg), asdict(cfg), ARCHITECTURE)
    cfg.latent_digest, cfg.latent_dim = latent_digest(codec), codec.latent_dim
    cfg.sample_rate, cfg.frame_rate = codec.sample_rate, codec.frame_rate
    dataset, (mean, std), described = _training_data(codec, cfg, data, s, seed)
    seed_everything(seed)                               # the starting weights follow --seed
    model = LatentDiffusion(cfg)
    started = init_from(model, opts.init) if opts.init else None
    model.set_stats(mean, std)
    budget = time_budget_s if time_budget_s is not None else s.time_budget_s
    print(f"diffusion ({opts.task}): {model.num_params():,} parameters, {len(dataset)} training examples "
          f"of {cfg.frames} frames, budget {budget:.0f} s, profile {prof.name}, device {device}"
          + (f"; from {opts.init}" if opts.init else ""))
    ema, history = train_diffusion(model, dataset, max_steps=s.max_steps, batch_size=s.batch_size,
                                   lr=s.lr, ema_decay=s.ema_decay, time_budget_s=budget,
                                   ckpt_path=resume_path(out),
                                   resume=resume, seed=seed, ckpt_every=50, desc=f"diffusion-{opts.task}",
                                   device=device, amp=prof.train.amp,
                                   data_on_device=prof.train.data_on_device)
    # the reference codec ships beside this checkpoint and is named by its digest only
    own_codec = opts.codec is not None
    save_diffusion(ema, out, codec=codec if own_codec else None, step=history[-1]["step"] if history else 0)
    losses = [h["loss"] for h in history]
    write_run_card(
        out, model="diffusion", task=opts.task, profile=prof.name, started=t0, history=history,
        initialized_from=started, data=described, config=asdict(cfg), parameters=model.num_params(),
        codec={"latent_digest": cfg.latent_digest, "parameters": codec.num_params(),
               "frame_rate": codec.frame_rate, "stored_in_checkpoint": own_codec},
        metrics={"loss_last100": round(float(np.mean(losses[-100:])), 4) if losses else None})
    return out


# ---------------------------------------------------------------------------------------------
# Checkpoints (latents only mean something to their codec: it is named by digest or carried)
# ---------------------------------------------------------------------------------------------

def save_diffusion(model: LatentDiffusion, path, codec=None, step: int = 0, half: bool = True,
                   **extra) -> Path:
    """Write the config and the weights (float16 by default: half the size, same samples) and,
    when given, the codec whose latents the model was trained on (the file is then self-contained)."""
    if codec is not None:
        extra["codec"] = {"config": asdict(codec.cfg), "state": checkpoint.state_dict(codec, half=half)}
    return checkpoint.save(path, kind="diffusion", config=asdict(model.cfg), state={"model": model},
                           step=step, half=half, **extra)


def load_denoiser(path, hint: str | None = None, task: str | None = None) -> tuple[LatentDiffusion, dict]:
    """The denoiser of the diffusion checkpoint ``path`` (without its codec) and the checkpoint;
    a file that is not one (or, with ``task``, one of another task), or whose weights do not
    fit its config, is one ``ValueError`` naming it and ending with ``hint``."""
    ckpt = checkpoint.load(path, kind="diffusion", hint=hint)
    if task is not None and ckpt["config"].get("task", "notes") != task:
        raise ValueError(f"{path} is a {ckpt['config'].get('task')!r} model; this run trains {task!r}: "
                         f"pass --task {ckpt['config'].get('task')} or a {task} checkpoint")
    if not ckpt["config"] or "model" not in ckpt["state"]:
        raise ValueError(f"{path} is not a diffusion checkpoint (no 'config' / 'state.model' entries); "
                         f"{hint or 'give one written by `python -m coursekit train diffusion`'}")

    def make():
        config = dict(ckpt["config"])
        config.setdefault("latent_digest", config.pop("codec_sha256", ""))   # files naming it codec_sha256
        model = LatentDiffusion(checkpoint.checked(DiffusionConfig.from_dict(config)))
        model.load_state_dict(checkpoint.float_weights(ckpt["state"]["model"]))
        return model
    return checkpoint.build(path, "diffusion", make, hint=hint), ckpt


def load_diffusion(path=None, task: str = "notes", device: str = "cpu", hint: str | None = None):
    """Load a diffusion checkpoint and its codec: ``(model, codec)``.

    ``path=None`` loads the reference checkpoint of ``task`` ('notes' or 'genres'). Without a
    codec inside the file, the reference codec is used, and its ``latent_digest`` must be the
    one the model was trained on. A file that is not a diffusion checkpoint, or whose weights do
    not fit its config, is one ``ValueError`` naming it and ending with ``hint`` (default: how
    to train one).

    Example
    -------
    >>> model, codec = load_diffusion()          # doctest: +SKIP
    >>> model.cfg.conditions                     # doctest: +SKIP
    {'pitch': 128, 'family': 11, 'velocity': 128}
    """
    if path is None:
        if task not in TASKS:
            raise ValueError(f"task must be 'notes' or 'genres', got {task!r}")
        path = checkpoint.reference(REFERENCE if task == "notes" else REFERENCE_GENRES)
    path = Path(path)
    if not path.exists():
        hint = (f"train one with `python -m coursekit train diffusion --task {task} --out {path.name}` "
                "and pass its path" if path.parent == checkpoint.CHECKPOINT_DIR else "check the path")
        raise FileNotFoundError(f"{path}: no such diffusion checkpoint; {hint}")
    hint = hint or (f"train one with `python -m coursekit train diffusion --task {task} --out "
                    f"{REFERENCE if task == 'notes' else REFERENCE_GENRES}`")
    model, ckpt = load_denoiser(path, hint)
    return model.to(device).eval(), codec_of(path, model, ckpt, hint).to(device).eval()


def codec_of(path, model: LatentDiffusion, ckpt: dict, hint: str):
    """The codec whose latents the denoiser ``model`` (read from ``path`` as ``ckpt``) models:
    the one inside the file, else the reference codec, whose digest must be the model's."""
    from ..models.codec import Codec, NeuralCodec

    cfg = model.cfg

    def make_codec():
        codec = NeuralCodec(checkpoint.checked(Codec.from_dict(ckpt["codec"]["config"])))
        codec.load_state_dict(checkpoint.float_weights(ckpt["codec"]["state"]))
        return codec
    if "codec" in ckpt:
        codec = checkpoint.build(path, "diffusion", make_codec, hint=hint)
    else:
        codec = load_codec()
        if cfg.latent_digest and latent_digest(codec) != cfg.latent_digest:
            raise ValueError(f"{path} was trained on latents of codec {cfg.latent_digest}, but the "
                             f"reference codec is {latent_digest(codec)}; retrain the diffusion model")
    return codec


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
                   progress: bool = True, step_fn=None) -> list[dict]:
    """Generate 4 s notes; returns dicts ready for :func:`coursekit.data.nsynth.write_nsynth_folder`.

    ``families`` are names or ids; ``pitches``/``families``/``velocities`` broadcast. ``step_fn``
    (with ``sampler="ddim"``) replaces the DDIM step (see :func:`sample_latents`).
    """
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
                           seed=seed + b, progress=progress, step_fn=step_fn)
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
# Command line: `train diffusion` and `sample diffusion`
# ---------------------------------------------------------------------------------------------

def add_train_arguments(parser) -> None:
    """The flags of ``python -m coursekit train diffusion`` beyond the common ones."""
    parser.add_argument("--task", default="notes", choices=TASKS,
                        help="notes (NSynth, by pitch, family and velocity) or genres (GTZAN clips)")
    parser.add_argument("--codec", default=None, help="codec checkpoint whose latents are modelled "
                        "(default: the reference codec)")
    parser.add_argument("--init", default=None, help="start from this diffusion checkpoint's weights "
                        "(fine-tuning, e.g. on another codec's latents)")


def train_command(args) -> int:
    """``python -m coursekit train diffusion --profile P --out CKPT [--task notes|genres]
    [--codec CODEC] [--init CKPT] [--resume]``: :func:`train_model`."""
    opts = TrainOptions(task=args.task or "notes", codec=args.codec, init=args.init)
    train_model(opts, args.out, profile=args.profile, data=args.data, seed=args.seed, resume=args.resume,
                device=args.device, time_budget_s=args.time_budget)
    return 0


def add_sample_arguments(parser) -> None:
    """The flags of ``python -m coursekit sample diffusion`` beyond the common ones."""
    parser.add_argument("--pitch", type=midi_pitch, default=None, help="MIDI pitch of every note "
                        "(default: pairs drawn from those the model was trained on)")
    parser.add_argument("--family", default=None, help=f"instrument family ({', '.join(FAMILIES)})")
    parser.add_argument("--genre", default=None, help=f"genre of every clip, with a genre checkpoint "
                        f"({', '.join(GENRES)}; default: drawn)")
    parser.add_argument("--seconds", type=seconds, default=None,
                        help="clip length, genre clips only (default: the training crop)")
    parser.add_argument("--cfg", type=finite_float, default=None, help="classifier-free guidance scale "
                        "(default: the profile's)")
    parser.add_argument("--steps", type=at_most(positive_int, 1000, "the model knows 1000 noise levels"),
                        default=None,
                        help="denoising steps (default: the profile's)")


def sample_command(args) -> int:
    """``python -m coursekit sample diffusion --n N --out DIR [--pitch P] [--family F] [--steps S]
    [--cfg G] [--genre GENRE --seconds S] [--checkpoint CKPT] [--seed N]``.

    Notes: without ``--pitch``/``--family`` the (pitch, family) pairs are drawn (seeded) from
    those the model was trained on. With ``--genre`` (or a genre checkpoint) it writes clips of
    ``--seconds`` (default: the training crop length). The folder records every asked condition.
    """
    from ..data.nsynth import write_nsynth_folder
    from ..train import pick_device

    s = get_profile().ch06
    steps = args.steps if args.steps is not None else s.steps
    guidance = args.cfg if args.cfg is not None else s.cfg_scale
    model, codec = load_diffusion(args.checkpoint, task="genres" if args.genre is not None else "notes",
                                  device=pick_device(args.device))
    task = model.cfg.task
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    if task == "genres":
        refuse_unused(args, {"--pitch": args.pitch, "--family": args.family},
                      "by a genre model (this checkpoint makes genre clips: --genre)")
        genres = ([args.genre] * args.n if args.genre
                  else [GENRES[i] for i in rng.integers(0, len(GENRES), args.n)])
        seconds = args.seconds if args.seconds is not None else model.cfg.frames / model.cfg.frame_rate
        items = generate_clips(model, codec, genres, seconds=seconds, steps=steps, guidance=guidance,
                               seed=args.seed)
        out = write_nsynth_folder(args.out, items, n_frames=None, overwrite=args.overwrite)
        audio_s = args.n * seconds
    else:
        if args.genre is not None:
            raise ValueError("--genre needs a genre checkpoint (task 'genres'); this one makes notes")
        refuse_unused(args, {"--seconds": args.seconds},
                      f"by a notes model (its notes last {N_FRAMES / SAMPLE_RATE:g} s)")
        if args.family is not None and args.family not in FAMILIES:
            raise ValueError(f"--family {args.family!r}: choose one of {', '.join(FAMILIES)}")
        if args.pitch is not None and not 0 <= args.pitch <= 127:
            raise ValueError(f"--pitch must be a MIDI number 0..127, got {args.pitch}")
        pairs = model.cfg.train_pairs or [[60, 0]]
        if args.family is not None:
            pairs = [q for q in pairs if FAMILIES[q[1]] == args.family] or [[60, FAMILIES.index(args.family)]]
        drawn = [pairs[i] for i in rng.integers(0, len(pairs), args.n)]
        pitches = [args.pitch if args.pitch is not None else q[0] for q in drawn]
        families = [q[1] for q in drawn]
        velocities = [int(v) for v in rng.choice(model.cfg.velocities or [100], args.n)]
        items = generate_notes(model, codec, pitches, families, velocities, steps=steps, guidance=guidance,
                               seed=args.seed)
        out = write_nsynth_folder(args.out, items, overwrite=args.overwrite)
        audio_s = args.n * N_FRAMES / SAMPLE_RATE
    dt = time.perf_counter() - t0
    print(f"wrote {args.n} {'clips' if task == 'genres' else 'notes'} to {out} ({steps} steps, "
          f"cfg {guidance}; {audio_s / dt:.1f} s of audio per second of generation)")
    return 0
