"""Chapter 02's recipe: NSynth notes as mu-law codes, training the SampleRNN, notes out.

The model itself (:class:`~coursekit.models.rnn.SampleRNN`, its loss and its sampling loop) is
in :mod:`coursekit.models.rnn`. Here is everything around it:

- data: :func:`load_notes` (an NSynth split resampled to the model's rate and mu-law encoded,
  in memory), :func:`heldout_notes` (a few notes of instruments never trained on) and
  :class:`NoteSegments` (the teacher-forcing segments);
- training on :func:`coursekit.train.train`: :func:`config_from_profile`, :func:`train_rnn`;
- checkpoints (:mod:`coursekit.checkpoint`): :func:`save_model`, :func:`load_model`,
  :func:`reference_checkpoint`;
- generation: :func:`generate_notes` writes NSynth-style note dicts at 16 kHz;
- the command line: ``python -m coursekit train rnn`` and ``sample rnn``.

The drift of a generated note (pitch and loudness over time) is measured by
:func:`coursekit.eval.drift.drift_report`.

Example
-------
>>> from coursekit.recipes.rnn import load_model, generate_notes
>>> model = load_model()                                   # the reference checkpoint
>>> notes = generate_notes(model, [60, 64], "flute", seconds=0.5, progress=False)
>>> notes[0]["audio"].shape, notes[0]["pitch"], notes[0]["instrument_family_str"]
((8000,), 60, 'flute')
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from .. import audio, checkpoint
from ..data.nsynth import FAMILIES, N_FRAMES, SAMPLE_RATE
from ..models.rnn import SILENCE, RNNConfig, SampleRNN, generate, nll_loss
from . import (midi_pitch, positive_float, resume_path, seconds, say_architecture, stored_architecture,
               write_run_card)

__all__ = ["NOTE_SECONDS", "load_notes", "heldout_notes", "NoteSegments", "config_from_profile",
           "train_rnn", "save_model", "load_model", "reference_checkpoint", "generate_notes",
           "add_train_arguments", "train_command", "add_sample_arguments", "sample_command"]

NOTE_SECONDS = N_FRAMES / SAMPLE_RATE    # NSynth notes are 4 s long
TRAIN_COMMAND = "python -m coursekit train rnn --profile full --out rnn.pt"


# ---------------------------------------------------------------------------------------------
# Data: NSynth notes as mu-law codes at the model's rate, in memory
# ---------------------------------------------------------------------------------------------

def load_notes(split_dir, sr: int = 8000, pitch_range=(48, 72), families=None,
               max_notes: int | None = None, seed: int = 0, progress: bool = True) -> dict:
    """Read NSynth notes, resample to ``sr`` and mu-law encode them, all in memory.

    Parameters
    ----------
    split_dir : str or Path
        An NSynth split folder (``.../nsynth-train``: real, mini or generated).
    sr : int
        The model's sample rate.
    pitch_range : (int, int)
        Keep notes with pitches in this range (MIDI, inclusive).
    families : list of str, optional
        Keep only these families.
    max_notes : int, optional
        Keep at most this many notes (a random subset, drawn with ``seed``).

    Returns
    -------
    dict
        ``codes`` uint8 tensor ``(N, 4 * sr)``, ``pitch`` and ``family`` int64 tensors ``(N,)``.

    Examples
    --------
    >>> notes = load_notes("datasets/mini-smoke/nsynth-train", sr=8000)   # doctest: +SKIP
    >>> notes["codes"].shape                                              # doctest: +SKIP
    torch.Size([48, 32000])
    """
    from tqdm.auto import tqdm

    from ..data.nsynth import NSynth

    ds = NSynth(split_dir, pitch_range=pitch_range, families=families, sample_rate=sr)
    idx = np.arange(len(ds))
    if max_notes is not None and len(ds) > max_notes:
        idx = np.sort(np.random.default_rng(seed).choice(len(ds), max_notes, replace=False))
    n = int(NOTE_SECONDS * sr)
    codes = torch.empty(len(idx), n, dtype=torch.uint8)
    pitch = torch.empty(len(idx), dtype=torch.long)
    family = torch.empty(len(idx), dtype=torch.long)
    for j, i in enumerate(tqdm(idx, desc="loading notes", disable=not progress)):
        item = ds[int(i)]
        y = audio.fix_length(item["audio"].numpy(), n)
        codes[j] = torch.from_numpy(audio.mu_law_encode(y).astype(np.uint8))
        pitch[j], family[j] = item["pitch"], item["family"]
    return {"codes": codes, "pitch": pitch, "family": family}


def heldout_notes(train_dir, sr: int = 8000, pitch_range=(48, 72), families=None, n: int = 8,
                  seed: int = 0) -> dict | None:
    """Up to ``n`` notes of the valid split beside ``train_dir`` (``nsynth-train`` ->
    ``nsynth-valid``: instruments the model never trains on), as :func:`load_notes` returns
    them plus ``folder``; None when there is no such split or no note passes the filters.
    """
    train_dir = Path(train_dir)
    valid_dir = train_dir.parent / train_dir.name.replace("train", "valid")
    if valid_dir == train_dir or not (valid_dir / "examples.json").exists():
        return None
    try:
        notes = load_notes(valid_dir, sr=sr, pitch_range=pitch_range, families=families,
                           max_notes=n, seed=seed, progress=False)
    except ValueError:                                   # no note left after the filters
        return None
    return {**notes, "folder": str(valid_dir)}


class NoteSegments(torch.utils.data.Dataset):
    """Teacher-forcing examples: segments of ``seg_len`` codes cut from the notes.

    Half of the segments start at the onset (generation starts there too), the others at a
    random frame inside the note, so the model also learns the sustain and the release. Items
    are ``(codes, pitch, family, prev, start)`` with ``prev`` the frame before the segment
    (silence at the onset): a mid-note segment must not look as if it followed silence, or the
    model learns that silence may go on for ever and free-running notes die out; ``start`` is
    the segment's first frame in the note (for the model's clock).
    Offsets are drawn with torch's random generator (seeded and restored by the training loop).
    """

    def __init__(self, notes: dict, seg_len: int, frame_size: int = 16, p_onset: float = 0.5):
        if seg_len % frame_size:
            raise ValueError(f"seg_len {seg_len} must be a multiple of frame_size {frame_size}")
        if seg_len > notes["codes"].shape[1]:
            raise ValueError(f"seg_len {seg_len} is longer than the notes ({notes['codes'].shape[1]})")
        self.notes, self.seg_len, self.fs, self.p_onset = notes, seg_len, frame_size, p_onset

    def __len__(self) -> int:
        return len(self.notes["codes"])

    def __getitem__(self, i: int):
        n_frames = (self.notes["codes"].shape[1] - self.seg_len) // self.fs
        start = 0
        if n_frames > 0 and torch.rand(1).item() >= self.p_onset:
            start = int(torch.randint(0, n_frames + 1, (1,)).item()) * self.fs
        seg = self.notes["codes"][i, start:start + self.seg_len].long()
        prev = self.notes["codes"][i, start - self.fs:start].long() if start else \
            torch.full((self.fs,), SILENCE, dtype=torch.long, device=seg.device)
        return seg, self.notes["pitch"][i], self.notes["family"][i], prev, start // self.fs


# ---------------------------------------------------------------------------------------------
# Training, saving, loading
# ---------------------------------------------------------------------------------------------

def config_from_profile(profile=None) -> RNNConfig:
    """The model of a profile's ``ch02`` section: its sizes, pitch range and NSynth's families."""
    from ..profiles import get_profile

    p = get_profile(profile).ch02
    return RNNConfig(sr=p.sr, frame_size=p.frame_size, hidden=p.hidden, mlp_hidden=p.mlp_hidden,
                     emb_dim=p.emb_dim, families=list(FAMILIES), pitch_min=p.pitch_min,
                     pitch_max=p.pitch_max, time_buckets=p.time_buckets,
                     osc_harmonics=p.osc_harmonics)


def train_rnn(model: SampleRNN, notes: dict, batch_size: int = 16, segment_seconds: float = 1.0,
              lr: float = 2e-3, keep: float = 0.25, max_steps: int | None = None,
              time_budget_s: float | None = None, ckpt_path=None, resume: bool = False,
              seed: int = 0, progress: bool = True, eval_every: int | None = None,
              val_notes: dict | None = None, device=None, amp: bool | None = None,
              data_on_device: bool | None = None, loss_fn=None):
    """Teacher-forcing training (:func:`~coursekit.models.rnn.nll_loss`, Adam at a constant
    ``lr``, gradients clipped at 1) with the course's loop (:func:`coursekit.train.train`).

    ``keep`` is the fraction of frames the sample tier predicts each step; ``device`` is where
    to train (default: where the model is); ``amp`` and ``data_on_device`` (default: the
    profile's) put mixed precision and the notes on a GPU (:func:`coursekit.train.data_device`).
    ``loss_fn`` is the training loss, called as
    ``loss_fn(model, codes, pitch, family, keep=keep, prev=prev, start=start)`` (default
    :func:`~coursekit.models.rnn.nll_loss`; a loss written in a notebook plugs in here).
    Returns the loop's
    :class:`~coursekit.train.History` (``loss`` in nats per sample, and every ``eval_every``
    steps ``val_nll`` on a fixed batch of onset segments predicted in full: from ``val_notes``
    (held-out notes, as :func:`load_notes` returns them) when given, else from the training
    notes, which says how well the model fits, not how it generalises).
    """
    from ..train import data_device, make_step, seed_everything, to_device, train

    seed_everything(seed)
    notes = to_device(notes, data_device(device, data_on_device))
    fs = model.cfg.frame_size
    seg_len = int(round(segment_seconds * model.cfg.sr / fs)) * fs
    data = torch.utils.data.DataLoader(NoteSegments(notes, seg_len, fs), batch_size=batch_size,
                                       shuffle=True, drop_last=len(notes["codes"]) > batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss = loss_fn or nll_loss

    def step_loss(batch):
        codes, pitch, family, prev, start = batch
        return loss(model, codes, pitch, family, keep=keep, prev=prev, start=start)

    held = val_notes if val_notes is not None else notes
    fixed = next(iter(torch.utils.data.DataLoader(
        NoteSegments(held, seg_len, fs, p_onset=1.0), batch_size=min(8, len(held["codes"])))))

    def eval_fn(step_no):
        codes, pitch, family, prev, start = to_device(fixed, model.pitch_emb.weight.device)
        return {"val_nll": nll_loss(model, codes, pitch, family, prev=prev, start=start).item()}

    return train(make_step(model, opt, step_loss, clip_grad=1.0), data,
                 state={"model": model, "opt": opt}, max_steps=max_steps,
                 time_budget_s=time_budget_s, ckpt_path=ckpt_path, resume=resume,
                 eval_fn=eval_fn, eval_every=eval_every, config=asdict(model.cfg), seed=seed,
                 desc="rnn", progress=progress, kind="rnn", device=device, amp=amp)


def save_model(model: SampleRNN, path, half: bool = True, **extra) -> Path:
    """Write the model's checkpoint (:func:`coursekit.checkpoint.save`, kind ``"rnn"``): its
    config and its weights, float16 by default (half the size); ``extra`` entries are kept."""
    return checkpoint.save(path, kind="rnn", config=asdict(model.cfg), state={"model": model},
                           half=half, **extra)


def reference_checkpoint() -> Path:
    """The reference checkpoint shipped with coursekit (``coursekit/checkpoints/rnn.pt``)."""
    return checkpoint.reference("rnn.pt")


def load_model(path=None, device="cpu", hint: str | None = None) -> SampleRNN:
    """The model of a checkpoint written by :func:`save_model` or by :func:`train_rnn`'s loop,
    in eval mode on ``device``. Without ``path``, the reference checkpoint.

    Raises FileNotFoundError saying how to make one, and ValueError (one line naming the file)
    when it is not an RNN checkpoint or its weights do not fit its config, ending with ``hint``
    (default: how to train one).
    """
    path = Path(path) if path is not None else reference_checkpoint()
    hint = hint or f"train one with `{TRAIN_COMMAND}`"
    ckpt = checkpoint.load(path, kind="rnn", map_location=device, hint=hint)

    def make():
        cfg = RNNConfig.from_dict({"families": list(FAMILIES), **ckpt["config"]})
        model = SampleRNN(checkpoint.checked(cfg))
        model.load_state_dict(checkpoint.float_weights(ckpt["state"]["model"]))
        return model
    return checkpoint.build(path, "rnn", make, hint=hint).to(device).eval()


# ---------------------------------------------------------------------------------------------
# Notes out
# ---------------------------------------------------------------------------------------------

def generate_notes(model: SampleRNN, pitches, families=None, seconds: float = NOTE_SECONDS,
                   temperature: float = 1.0, seed: int = 0, batch_size: int = 64,
                   progress: bool = True, out_sr: int = SAMPLE_RATE,
                   generate_fn=None) -> list[dict]:
    """Generate one note per pitch and return NSynth-style note dicts at ``out_sr`` (16 kHz).

    Parameters
    ----------
    model : SampleRNN
    pitches : sequence of int
        The asked MIDI pitch of each note.
    families : str, int or sequence, optional
        The asked family of each note (names or ids). ``None``: drawn at random (with
        ``seed``) from the families the model was trained on, so every note records a family.
    seconds, temperature, seed :
        Length of each note, sampling temperature, random seed.
    batch_size : int
        Notes generated together (one batch = one pass of the sample loop).
    generate_fn : callable, optional
        The sampling loop, called as :func:`~coursekit.models.rnn.generate` is (the default):
        ``generate_fn(model, pitches, families, n_samples=, temperature=, seed=, progress=)``.

    Returns
    -------
    list of dict
        ``audio`` (float32 at ``out_sr``), ``pitch``, ``velocity`` (100),
        ``instrument_family_str`` (the asked family), and the extra fields ``generated_by``,
        ``seed`` and ``temperature``; ready for ``write_nsynth_folder``.
    """
    pitches = [int(p) for p in np.atleast_1d(pitches)]
    if families is None:
        choices = model.cfg.train_families or list(model.cfg.families)
        rng = np.random.default_rng(seed)
        families = [choices[i] for i in rng.integers(0, len(choices), len(pitches))]
    fams = _family_ids(families, len(pitches), model.cfg.families)
    n = int(round(seconds * model.cfg.sr))
    notes = []
    for b in range(0, len(pitches), batch_size):
        codes = (generate_fn or generate)(model, pitches[b:b + batch_size], fams[b:b + batch_size],
                                          n_samples=n, temperature=temperature, seed=seed + b,
                                          progress=progress)
        for j, c in enumerate(codes.cpu().numpy()):
            y = np.clip(audio.resample(audio.mu_law_decode(c), model.cfg.sr, out_sr), -1.0, 1.0)
            notes.append({"audio": y, "pitch": pitches[b + j], "velocity": 100,
                          "instrument_family_str": model.cfg.families[fams[b + j]],
                          "generated_by": "rnn", "seed": seed, "temperature": temperature})
    return notes


def _family_ids(families, n: int, names) -> list[int]:
    """One family id per note from a name, an id, or a sequence of either."""
    fams = [families] * n if isinstance(families, (str, int)) else list(families)
    if len(fams) != n:
        raise ValueError(f"give one family per note ({n}), got {len(fams)}")
    out = []
    for f in fams:
        if isinstance(f, str):
            if f not in names:
                raise ValueError(f"--family: unknown family {f!r}; choose one of {', '.join(names)}")
            f = list(names).index(f)
        out.append(int(f))
    return out


# ---------------------------------------------------------------------------------------------
# Command line: python -m coursekit train rnn / sample rnn
# ---------------------------------------------------------------------------------------------

def add_train_arguments(parser) -> None:
    """The flags of ``train rnn`` besides the common ones (``--profile --out --seed --data
    --resume --device --time-budget``)."""
    parser.add_argument("--init", default=None, help="start from this RNN checkpoint: its model "
                        "and weights, the profile's training (fine-tuning; the profile's clock or "
                        "oscillator, when it lacks them, starts at zero)")


# what a stored config fixes of the model (the rest records the data it was trained on)
ARCHITECTURE = ("sr", "frame_size", "hidden", "mlp_hidden", "emb_dim", "cond_dim", "n_pitches",
                "families", "time_buckets", "time_bucket_s", "osc_harmonics")


def _config_from(stored: dict, profile_cfg: RNNConfig, fine_tune: bool) -> RNNConfig:
    """The model a run builds from a checkpoint's stored config: its architecture, the
    profile's pitch range. A fine-tune (``fine_tune``) adds the profile's clock and oscillator
    where the checkpoint has none (they start at zero, :func:`_init_from`)."""
    cfg = RNNConfig.from_dict({"families": list(FAMILIES), **stored})
    cfg.pitch_min, cfg.pitch_max = profile_cfg.pitch_min, profile_cfg.pitch_max
    if fine_tune and not cfg.time_buckets:
        cfg.time_buckets, cfg.time_bucket_s = profile_cfg.time_buckets, profile_cfg.time_bucket_s
    if fine_tune and not cfg.osc_harmonics:
        cfg.osc_harmonics = profile_cfg.osc_harmonics
    return cfg


def _init_from(model: SampleRNN, init) -> None:
    """Load ``init``'s weights into ``model``; the clock and the oscillator may be missing."""
    weights, own = load_model(init).state_dict(), model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    resized = [k for k in weights if k in own and weights[k].shape != own[k].shape]
    if unexpected or resized or any(not k.startswith(("time_emb.", "osc_in.")) for k in missing):
        raise ValueError(f"{init} does not fit the RNN built from its config: missing {missing}, "
                         f"unexpected {unexpected}, other shapes {resized}")
    model.load_state_dict(weights, strict=False)
    new = [name for name, prefix in (("the clock", "time_emb."), ("the oscillator", "osc_in."))
           if any(k.startswith(prefix) for k in missing)]
    print(f"starting from the weights of {init} (fine-tuning"
          + (f", {' and '.join(new)} starting at zero)" if new else ")"))


def train_command(args) -> int:
    """``python -m coursekit train rnn --profile P --out CKPT [--init CKPT] [--resume]``.

    Trains with the profile's ``ch02`` sizes (with ``--init``, the init checkpoint's model;
    with ``--resume``, the model the run started with), keeps a resumable training checkpoint beside
    ``--out`` (``<out>.train.pt``), and at the end writes the compact model to ``--out`` and its
    card to ``<out without .pt>.json``.
    """
    from ..data import dataset_dir
    from ..profiles import get_profile
    from ..train import pick_device, seed_everything

    prof = get_profile(args.profile)
    p = prof.ch02
    out = Path(args.out)
    split = Path(args.data) if args.data else dataset_dir("nsynth", "train", size=p.nsynth_size)
    families = None if p.families in (None, "all") else [f.strip() for f in p.families.split(",")]
    device = pick_device(args.device)
    t0 = time.perf_counter()
    source, stored = stored_architecture("rnn", out, args.init, args.resume, check=load_model)
    fine_tune = source is not None and args.init is not None and source == Path(args.init)
    profile_cfg = config_from_profile(prof.name)
    cfg = profile_cfg if stored is None else _config_from(stored, profile_cfg, fine_tune)
    if stored is not None:
        say_architecture(source, prof.name, asdict(profile_cfg), asdict(cfg), ARCHITECTURE)
    seed_everything(args.seed)                          # the starting weights follow --seed
    pitch_range = (p.pitch_min, p.pitch_max)
    notes = load_notes(split, sr=cfg.sr, pitch_range=pitch_range, families=families,
                       max_notes=p.max_notes, seed=args.seed)
    cfg.train_families = sorted({cfg.families[i] for i in notes["family"].tolist()})
    model = SampleRNN(cfg)
    if fine_tune:
        _init_from(model, args.init)
    # the validation loss is measured on notes of instruments the model never trains on
    val_notes = heldout_notes(split, sr=cfg.sr, pitch_range=pitch_range, families=families,
                              seed=args.seed)
    val_desc = "8 onset segments of training notes (no held-out notes found)" if val_notes is None else \
        f"{len(val_notes['codes'])} onset segments of {val_notes['folder']} (instruments not trained on)"
    budget = args.time_budget if args.time_budget is not None else p.time_budget_s
    print(f"training SampleRNN ({sum(x.numel() for x in model.parameters()) / 1e6:.2f} M "
          f"parameters) on {len(notes['codes'])} notes of {split}, profile {prof.name}, "
          f"budget {budget:.0f} s, device {device}")
    history = train_rnn(model, notes, batch_size=p.batch_size, segment_seconds=p.segment_seconds,
                        lr=p.lr, keep=p.keep, max_steps=p.max_steps, time_budget_s=budget,
                        ckpt_path=resume_path(out), resume=args.resume,
                        seed=args.seed, eval_every=p.eval_every, val_notes=val_notes,
                        device=device, amp=prof.train.amp, data_on_device=prof.train.data_on_device)
    save_model(model.cpu(), out, step=history[-1]["step"] if history else 0)
    vals = [h["val_nll"] for h in history if "val_nll" in h]
    write_run_card(
        out, model="rnn", profile=prof.name, started=t0, history=history, initialized_from=args.init,
        data={"folder": str(split), "notes": len(notes["codes"]), "pitch_range": list(pitch_range),
              "families": cfg.train_families, "sample_rate": cfg.sr},
        config=asdict(cfg),
        metrics={"train_nll_last100": float(np.mean([h["loss"] for h in history[-100:]])) if history else None,
                 "val_nll": vals[-1] if vals else None, "val_data": val_desc})
    return 0


def add_sample_arguments(parser) -> None:
    """The flags of ``sample rnn`` besides the common ones (``--n --out --checkpoint --seed
    --device``)."""
    parser.add_argument("--pitch", type=midi_pitch, default=None,
                        help="MIDI pitch of every note (default: drawn from the trained range)")
    parser.add_argument("--family", default=None,
                        help="family of every note (default: drawn from the trained families)")
    parser.add_argument("--seconds", type=seconds, default=None, help="length of each note (default 4)")
    parser.add_argument("--temperature", type=positive_float, default=None,
                        help="sampling temperature (default 1)")


def sample_command(args) -> int:
    """``python -m coursekit sample rnn --n N --out DIR [--checkpoint] [--seed] [--pitch] [--family]``.

    Without ``--pitch`` the pitches are drawn (seeded) from the range the model was trained on;
    without ``--family`` the families too. Writes an NSynth-format folder recording them.
    """
    from ..data.nsynth import write_nsynth_folder

    from ..train import pick_device

    model = load_model(args.checkpoint, device=pick_device(args.device))
    cfg = model.cfg
    rng = np.random.default_rng(args.seed)
    if args.pitch is not None:
        pitches = [args.pitch] * args.n
    else:
        pitches = rng.integers(cfg.pitch_min, cfg.pitch_max + 1, args.n).tolist()
    seconds = args.seconds if args.seconds is not None else NOTE_SECONDS
    temperature = args.temperature if args.temperature is not None else 1.0
    t0 = time.perf_counter()
    notes = generate_notes(model, pitches, args.family, seconds=seconds, temperature=temperature,
                           seed=args.seed)
    dt = time.perf_counter() - t0
    out = write_nsynth_folder(args.out, notes, overwrite=args.overwrite)
    print(f"wrote {len(notes)} notes to {out} ({len(notes) * seconds / dt:.1f} s of audio per "
          f"second of generation)")
    return 0
