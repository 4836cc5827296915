"""From the score to the sound (chapter 06, part 2): latent diffusion conditioned on a piano roll.

The model is chapter 06's :class:`~coursekit.models.diffusion.LatentDiffusion` with a *score*
condition (``score_channels``): instead of one pitch for a whole note, a piano roll at the
codec's latent frame rate says, frame by frame, which keys are struck, held and ringing and
where the sustain pedal is. MAESTRO pairs every performance's audio with its MIDI, aligned to
a few milliseconds, so each latent frame of the audio has the score of its own 20 ms.

This recipe holds everything around that model:

- **the condition** (:func:`score_roll`): a MIDI file or ``pretty_midi`` object -> a float32
  array ``[SCORE_CHANNELS, T]``;
- **the data** (:func:`encode_performances`, :class:`ScoreCrops`): codec latents of MAESTRO's
  training performances (the real ones when they are under the data root, else mini-MAESTRO)
  beside their score rolls, cached, served as crops of the training length;
- **training** (:func:`train_model`, on :func:`coursekit.recipes.diffusion.train_diffusion`),
  **loading** (:func:`load_piano`) and **rendering** a whole MIDI file (:func:`render`: windows
  of the training length, overlapped and cross-faded in the latent space, decoded once);
- the commands ``python -m coursekit train piano`` and
  ``python -m coursekit sample piano --midi FILE.mid --out DIR [--seconds S]``.

Example
-------
>>> from coursekit.recipes.piano import load_piano, render
>>> model, codec = load_piano()                                  # doctest: +SKIP
>>> y = render(model, codec, "performance.mid", seconds=8.0)     # doctest: +SKIP
>>> y.shape                                                      # doctest: +SKIP
(128000,)
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from .. import checkpoint
from . import (at_most, cache_path, finite_float, positive_int, resume_path, say_architecture, seconds,
               stored_architecture, write_run_card)
from ..data.maestro_midi import (HIGHEST, LOWEST, SUSTAIN, apply_sustain, load_midi, midi_notes, pedal_events,
                                 pedal_intervals, pedal_roll, piano_roll)
from ..models.diffusion import DiffusionConfig, LatentDiffusion, latent_stats, sample_latents
from ..profiles import get_profile
from .codec import latent_digest, load_codec
from .diffusion import ARCHITECTURE, codec_of, config_from_checkpoint, decode, load_denoiser, save_diffusion

__all__ = ["KEYS", "SCORE_CHANNELS", "REFERENCE", "MAX_SECONDS", "score_roll", "play_seconds", "read_score",
           "encode_performances", "ScoreCrops", "config_for_profile", "with_codec", "train_model", "load_piano", "render",
           "add_train_arguments", "train_command", "add_sample_arguments", "sample_command"]

KEYS = HIGHEST - LOWEST + 1            # 88
SCORE_CHANNELS = 3 * KEYS + 2          # onsets, keys down, strings ringing; pedal; "a score is given"
REFERENCE = "piano.pt"
MAX_SECONDS = 600.0                    # longest MIDI rendered whole (10 min); --seconds renders a start


# ---------------------------------------------------------------------------------------------
# The condition: a piano roll at the latent frame rate
# ---------------------------------------------------------------------------------------------

def score_roll(midi, frame_rate: float = 50.0, start: float = 0.0, seconds: float | None = None) -> np.ndarray:
    """The score of ``[start, start + seconds)`` as the model reads it: float32 ``[266, T]``.

    ``T = round(seconds * frame_rate)`` frames (frame ``k`` is centred on ``start + k /
    frame_rate``, the convention of :func:`coursekit.data.maestro.piano_roll`). Rows, 88 keys
    (A0..C8) each:

    - ``0..87``: **onsets**, velocity / 127 in the frame where the key is struck (how hard);
    - ``88..175``: **keys down**, 1 from the strike to the key's release;
    - ``176..263``: **strings ringing**, 1 while the key or the sustain pedal holds the note
      (:func:`~coursekit.data.maestro.apply_sustain`);
    - ``264``: the **sustain pedal**'s position, 0..1;
    - ``265``: 1 everywhere, "a score is given" (all zeros is the dropped condition of
      classifier-free guidance, so it must differ from a score of silence).

    ``midi`` is a path or a ``pretty_midi.PrettyMIDI``; every instrument but drums is read as
    piano. ``seconds`` defaults to the end of the last note.

    Example
    -------
    >>> import pretty_midi
    >>> pm = pretty_midi.PrettyMIDI(); inst = pretty_midi.Instrument(0)
    >>> inst.notes.append(pretty_midi.Note(velocity=127, pitch=60, start=0.1, end=0.3))
    >>> pm.instruments.append(inst)
    >>> roll = score_roll(pm, frame_rate=50, seconds=0.5)
    >>> roll.shape, roll[60 - 21, 5], roll[88 + 60 - 21, 4:16].tolist()
    ((266, 25), 1.0, [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    """
    if not hasattr(midi, "instruments"):
        midi = load_midi(midi)
    notes, ped = midi_notes(midi), pedal_events(midi, SUSTAIN)
    last = float(notes[:, 1].max()) if len(notes) else start
    end = start + seconds if seconds is not None else last
    ringing = apply_sustain(notes, pedal_intervals(ped, end=max(end, last) + 1.0))
    rolls = [piano_roll(notes, frame_rate, start, end, onsets=True),            # [88, T] velocity
             piano_roll(notes, frame_rate, start, end, velocity=False),         # [88, T] 0/1
             piano_roll(ringing, frame_rate, start, end, velocity=False)]       # [88, T] 0/1
    pedal = pedal_roll(ped, frame_rate, start, end)[None]                       # [1, T]
    return np.concatenate([*rolls, pedal, np.ones_like(pedal)]).astype(np.float32)


def play_seconds(notes: np.ndarray, start: float = 0.0) -> float:
    """How long a score plays from ``start``: to its last note's end, plus a second to ring."""
    return (float(notes[:, 1].max()) + 1.0 - start) if len(notes) else 1.0


def read_score(path, seconds: float | None = None, max_seconds: float = MAX_SECONDS):
    """Read the MIDI file ``path`` for rendering: ``(PrettyMIDI, seconds to render, notes)``.

    Every instrument but drums is played as piano; a file with no notes, or longer than
    ``max_seconds`` without a shorter ``seconds``, is one ``ValueError`` that names it.
    """
    pm = load_midi(path)
    notes = midi_notes(pm)
    if len(notes) == 0:
        raise ValueError(f"{path}: the MIDI file has no notes (drums are not played); give a file with a "
                         "piano part")
    length = play_seconds(notes)
    if seconds is None and length > max_seconds:
        raise ValueError(f"{path}: the MIDI lasts {length / 60:.0f} min; at most {max_seconds / 60:.0f} min is "
                         "rendered whole: pass --seconds S to render its first S seconds")
    if seconds is not None and seconds > max_seconds:
        raise ValueError(f"--seconds {seconds:g}: at most {max_seconds:g} s is rendered at once")
    return pm, float(seconds if seconds is not None else length), notes


def other_programs(pm) -> list[str]:
    """What of ``pm`` is not a piano: the General MIDI names of other programs, and drums."""
    import pretty_midi

    out = []
    for inst in pm.instruments:
        if inst.is_drum:
            out.append("drums (not played)")
        elif inst.program > 7:                           # 0..7: the piano family
            out.append(f"{pretty_midi.program_to_instrument_name(inst.program)} (played as piano)")
    return sorted(set(out))


# ---------------------------------------------------------------------------------------------
# Data: latents and score rolls of MAESTRO performances
# ---------------------------------------------------------------------------------------------

def encode_performances(codec, folder, split: str = "train", max_seconds: float = 120.0, chunk_s: float = 10.0,
                        cache: bool = True, progress: bool = True) -> dict:
    """Codec latents of the performances of a MAESTRO split (the first ``max_seconds`` of each)
    and their score rolls at the latent frame rate, cached under ``cache_root()/piano/``.

    ``split`` is ``'train'`` or ``'heldout'`` (validation + test). Returns ``{"latents": [float16
    [D, T_i]], "scores": [float16 [266, T_i]], "files": [...]}``.
    """
    from tqdm.auto import tqdm

    from ..audio import load
    from .transformer import maestro_audio_files

    path = cache_path("piano", folder, f"{latent_digest(codec)}|{split}|{max_seconds}|{SCORE_CHANNELS}")
    if cache and path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    files = maestro_audio_files(folder, split)
    if not files:
        raise FileNotFoundError(f"{folder}: no {split} performances of MAESTRO (audio and MIDI) found")
    from ..data.maestro import read_metadata
    midi_of = {str(Path(folder) / r["audio_filename"]): Path(folder) / r["midi_filename"]
               for r in read_metadata(folder)}
    hop = codec.hop
    n = int(chunk_s * codec.sample_rate) // hop * hop
    latents, scores = [], []
    for f in tqdm(files, desc=f"encoding {split} performances", disable=not progress):
        y, _ = load(f, sr=codec.sample_rate, duration=max_seconds)
        y = y[:len(y) // hop * hop]
        y = y + 1e-4 * np.random.default_rng(0).standard_normal(len(y)).astype(np.float32)  # no silence
        with torch.no_grad():
            z = torch.cat([codec.encode_latent(y[i:i + n][None], sr=codec.sample_rate)[0].cpu()
                           for i in range(0, len(y), n)], dim=-1)                 # [D, T]
        roll = score_roll(midi_of[str(f)], codec.frame_rate, 0.0, z.shape[-1] / codec.frame_rate)
        latents.append(z.half())
        scores.append(torch.from_numpy(roll[:, :z.shape[-1]]).half())
    out = {"latents": latents, "scores": scores, "files": [str(f) for f in files]}
    if cache:
        checkpoint.atomic_write(path, lambda tmp: torch.save(out, tmp))
    return out


class ScoreCrops(torch.utils.data.Dataset):
    """Crops of ``frames`` latent frames with their score: ``(latent [D, T], {"score": [R, T]})``,
    starting every ``stride`` frames of every performance."""

    def __init__(self, data: dict, frames: int, stride: int = 10):
        self.data, self.frames = data, frames
        self.index = [(i, s) for i, z in enumerate(data["latents"])
                      for s in range(0, max(z.shape[-1] - frames, 0) + 1, stride)]

    def to(self, device) -> "ScoreCrops":
        """Keep the latents and scores on ``device`` (a GPU): crops are cut there."""
        self.data = {**self.data, "latents": [z.to(device) for z in self.data["latents"]],
                     "scores": [s.to(device) for s in self.data["scores"]]}
        return self

    def __len__(self):
        return len(self.index)

    def __getitem__(self, j):
        i, s = self.index[j]
        z = self.data["latents"][i][:, s:s + self.frames].float()
        score = self.data["scores"][i][:, s:s + self.frames].float()
        if z.shape[-1] < self.frames:          # a performance shorter than a crop: silence after it
            pad = self.frames - z.shape[-1]
            z = torch.nn.functional.pad(z, (0, pad))
            score = torch.nn.functional.pad(score, (0, pad))
            score[-1] = 1.0
        return z, {"score": score}


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

def config_for_profile(profile=None, codec=None) -> DiffusionConfig:
    """The denoiser the profile asks for: chapter 06's widths, a score condition, no labels;
    with ``codec``, its latents (size, rate, digest) and crops of ``piano_seconds`` (a whole
    number of the UNet's halvings)."""
    s = (profile or get_profile()).ch06
    cfg = DiffusionConfig(channels=tuple(s.channels), emb_dim=s.emb_dim, p_uncond=s.p_uncond, conditions={},
                          score_channels=SCORE_CHANNELS, task="piano")
    return cfg if codec is None else with_codec(cfg, codec, s.piano_seconds)


def with_codec(cfg: DiffusionConfig, codec, seconds: float) -> DiffusionConfig:
    """``cfg`` for ``codec``'s latents, with training crops of about ``seconds``."""
    mult = 2 ** (len(cfg.channels) - 1)
    cfg.frames = max(1, int(round(seconds * codec.frame_rate / mult))) * mult
    cfg.latent_digest, cfg.latent_dim = latent_digest(codec), codec.latent_dim
    cfg.sample_rate, cfg.frame_rate = codec.sample_rate, codec.frame_rate
    return cfg


def train_model(out, profile=None, data=None, seed: int = 0, resume: bool = False, device=None,
                time_budget_s: float | None = None, init=None) -> Path:
    """One training run on MAESTRO's training performances: encode (cached), train, write the
    EMA model (float16, the reference codec named by its digest) and its card. ``data`` is a
    MAESTRO folder (default: the real one under the data root, else mini-MAESTRO); ``init`` a
    piano checkpoint to start from. Returns ``out``."""
    from ..data import dataset_dir
    from ..train import pick_device, seed_everything
    from .diffusion import train_diffusion

    prof = get_profile(profile)
    s = prof.ch06
    device = pick_device(device)
    out, t0 = Path(out), time.perf_counter()
    codec = load_codec(None, device=device)
    cfg = config_for_profile(prof)
    # a piano model is a diffusion checkpoint (of task "piano"), its training state too
    source, stored = stored_architecture("diffusion", out, init, resume,
                                         check=lambda path, hint: _load_denoiser(path, hint))
    if stored is not None:
        profile_cfg, cfg = cfg, config_from_checkpoint(cfg, stored, source)
        say_architecture(source, prof.name, asdict(profile_cfg), asdict(cfg), ARCHITECTURE)
    cfg = with_codec(cfg, codec, s.piano_seconds)
    folder = Path(data) if data else dataset_dir("maestro", size=s.maestro_size)
    perf = encode_performances(codec, folder, "train", max_seconds=s.piano_max_seconds)
    dataset = ScoreCrops(perf, cfg.frames)
    seed_everything(seed)
    model = LatentDiffusion(cfg)
    started = None
    if init:
        donor, _ = _load_denoiser(init, "--init takes a checkpoint written by `python -m coursekit train piano`")
        model.load_state_dict({**donor.state_dict(), "latent_mean": model.latent_mean,
                               "latent_std": model.latent_std})
        started = {"from": str(init)}
    model.set_stats(*latent_stats(list(perf["latents"])))
    budget = time_budget_s if time_budget_s is not None else s.piano_time_budget_s
    seconds_of = sum(z.shape[-1] for z in perf["latents"]) / codec.frame_rate
    print(f"piano: {model.num_params():,} parameters, {len(perf['latents'])} performances ({seconds_of:.0f} s), "
          f"crops of {cfg.frames} frames, budget {budget:.0f} s, profile {prof.name}, device {device}")
    ema, history = train_diffusion(model, dataset, max_steps=s.max_steps, batch_size=s.batch_size, lr=s.lr,
                                   ema_decay=s.ema_decay, time_budget_s=budget, ckpt_path=resume_path(out),
                                   resume=resume, seed=seed, ckpt_every=50, desc="piano", device=device,
                                   amp=prof.train.amp, data_on_device=prof.train.data_on_device)
    save_diffusion(ema, out, step=history[-1]["step"] if history else 0)
    losses = [h["loss"] for h in history]
    write_run_card(out, model="diffusion", task="piano", profile=prof.name, started=t0, history=history, initialized_from=started,
                   data={"folder": str(folder), "performances": len(perf["latents"]),
                         "seconds": round(seconds_of, 1), "crop_seconds": cfg.frames / codec.frame_rate},
                   config=asdict(cfg), parameters=model.num_params(),
                   codec={"latent_digest": cfg.latent_digest, "frame_rate": codec.frame_rate},
                   metrics={"loss_last100": round(float(np.mean(losses[-100:])), 4) if losses else None})
    return out


def _load_denoiser(path, hint: str):
    model, ckpt = load_denoiser(path, hint)
    if model.cfg.task != "piano":
        raise ValueError(f"{path} is a diffusion model of {model.cfg.task!r}, not a piano model; {hint}")
    return model, ckpt


def load_piano(path=None, device: str = "cpu"):
    """Load a piano checkpoint and its codec: ``(model, codec)`` (``path=None``: the reference)."""
    path = Path(path) if path is not None else checkpoint.reference(REFERENCE)
    hint = "train one with `python -m coursekit train piano --out piano.pt`"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such piano checkpoint; "
                                + (hint if path.parent == checkpoint.CHECKPOINT_DIR else "check the path"))
    model, ckpt = _load_denoiser(path, hint)
    return model.to(device).eval(), codec_of(path, model, ckpt, hint).to(device).eval()


# ---------------------------------------------------------------------------------------------
# Rendering a MIDI file
# ---------------------------------------------------------------------------------------------

def window_starts(total: int, window: int, overlap: int) -> list[int]:
    """Starts of the windows of ``window`` frames that cover ``total`` frames, overlapping by
    at least ``overlap`` (the last one ends at ``total``)."""
    if total <= window:
        return [0]
    hop = window - overlap
    starts = list(range(0, total - window, hop))
    return starts + [total - window]


def crossfade_weights(window: int, overlap: int, first: bool, last: bool) -> torch.Tensor:
    """[window] weights: linear ramps of ``overlap`` frames at the inner edges, 1 elsewhere."""
    w = torch.ones(window)
    ramp = torch.linspace(0, 1, overlap + 2)[1:-1]
    if not first:
        w[:overlap] = ramp
    if not last:
        w[-overlap:] = ramp.flip(0)
    return w


@torch.no_grad()
def render(model: LatentDiffusion, codec, midi, seconds: float | None = None, start: float = 0.0,
           steps: int = 25, guidance: float = 2.0, sampler: str = "dpm", seed: int = 0, batch: int = 8,
           overlap_s: float = 1.0, progress: bool = True) -> np.ndarray:
    """Play the score ``midi`` (a path or ``PrettyMIDI``) from ``start`` for ``seconds``: float32
    audio at ``codec.sample_rate``.

    The score roll is cut into windows of the training length overlapping by ``overlap_s``;
    every window is denoised with its own score (``batch`` at a time), the windows' latents
    are cross-faded where they overlap and the whole is decoded once.
    """
    if not hasattr(midi, "instruments"):
        midi = load_midi(midi)
    if seconds is None:
        seconds = play_seconds(midi_notes(midi), start)
    cfg, fr = model.cfg, codec.frame_rate
    mult = 2 ** (len(cfg.channels) - 1)
    total = int(math.ceil(seconds * fr))
    window = min(cfg.frames, -(-total // mult) * mult)
    padded = max(total, window)
    score = torch.from_numpy(score_roll(midi, fr, start, padded / fr))          # [R, padded]
    overlap = min(int(round(overlap_s * fr)), window // 2)
    starts = window_starts(padded, window, overlap)
    z = torch.zeros(cfg.latent_dim, padded)
    weight = torch.zeros(padded)
    for b in range(0, len(starts), batch):
        part = starts[b:b + batch]
        rolls = torch.stack([score[:, s:s + window] for s in part])               # [b, R, window]
        lat = sample_latents(model, {"score": rolls}, steps=steps, sampler=sampler, guidance=guidance,
                             seed=seed + b, progress=progress).cpu()               # [b, D, window]
        for j, s in enumerate(part):
            w = crossfade_weights(window, overlap, s == 0, s + window >= padded)
            z[:, s:s + window] += lat[j] * w
            weight[s:s + window] += w
    z = z / weight.clamp_min(1e-6)
    y = decode(codec, z[None, :, :total].to(model.latent_mean.device))[0]
    return y[:int(round(seconds * codec.sample_rate))]


# ---------------------------------------------------------------------------------------------
# Command line: `train piano` and `sample piano --midi`
# ---------------------------------------------------------------------------------------------

def add_train_arguments(parser) -> None:
    """The flags of ``python -m coursekit train piano`` beyond the common ones."""
    parser.add_argument("--init", default=None, help="start from this piano checkpoint's weights "
                        "(fine-tuning, e.g. on real MAESTRO)")


def train_command(args) -> int:
    """``python -m coursekit train piano --out CKPT [--profile P] [--data MAESTRO_DIR] [--init CKPT]``."""
    train_model(args.out, profile=args.profile, data=args.data, seed=args.seed, resume=args.resume,
                device=args.device, time_budget_s=args.time_budget, init=args.init)
    return 0


def add_sample_arguments(parser) -> None:
    """The flags of ``python -m coursekit sample piano`` beyond the common ones."""
    parser.add_argument("--midi", required=True, help="the MIDI file to play (every part is played as piano)")
    parser.add_argument("--seconds", type=at_most(seconds, MAX_SECONDS, "render a long file's start"),
                        default=None, help=f"render the first S seconds (default: the whole file, at most "
                        f"{MAX_SECONDS / 60:.0f} min)")
    parser.add_argument("--cfg", type=finite_float, default=None, help="classifier-free guidance scale "
                        "(default: the profile's)")
    parser.add_argument("--steps", type=at_most(positive_int, 1000, "the model knows 1000 noise levels"),
                        default=None, help="denoising steps (default: the profile's)")
    parser.set_defaults(n=1)


def sample_command(args) -> int:
    """``python -m coursekit sample piano --midi FILE.mid --out DIR [--seconds S] [--n N]``: ``N``
    takes (seeds ``--seed``, ``--seed + 1``, ...) of the MIDI file into an NSynth-format folder."""
    from ..data.nsynth import write_nsynth_folder
    from ..train import pick_device

    s = get_profile().ch06
    steps = args.steps if args.steps is not None else s.steps
    guidance = args.cfg if args.cfg is not None else s.cfg_scale
    pm, length, notes = read_score(args.midi, args.seconds)
    for what in other_programs(pm):
        print(f"{args.midi}: {what}")
    model, codec = load_piano(args.checkpoint, device=pick_device(args.device))
    t0, items = time.perf_counter(), []
    for k in range(args.n):
        y = render(model, codec, pm, seconds=length, steps=steps, guidance=guidance, seed=args.seed + k)
        items.append({"audio": y, "pitch": 60, "velocity": 100, "instrument_family_str": "keyboard",
                      "midi": str(args.midi), "seconds": round(length, 3), "generated_by": "piano",
                      "seed": int(args.seed + k), "steps": int(steps), "cfg": float(guidance),
                      "notes": int(np.sum(notes[:, 0] < length))})
    out = write_nsynth_folder(args.out, items, n_frames=None, overwrite=args.overwrite)
    dt = time.perf_counter() - t0
    print(f"wrote {args.n} take{'s' if args.n > 1 else ''} of {Path(args.midi).name} ({length:.1f} s) to {out} "
          f"({steps} steps, cfg {guidance}; {args.n * length / dt:.2f} s of audio per second of generation)")
    return 0
