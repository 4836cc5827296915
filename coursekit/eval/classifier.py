"""The course's note classifier: pitch and instrument family from a log-mel spectrogram.

Generated notes are judged by a model that was never part of any generator: a small CNN
trained on (mini-)NSynth to name a note's pitch (MIDI 0..127) and instrument family (11).
It gives the course three measurements that need no pretrained download:

- accuracy: does a note generated "as a flute at MIDI 60" sound like a flute at MIDI 60?
  (:func:`classification_metrics`: pitch exact and within one semitone, family);
- an inception-style score (:func:`inception_score`): ``exp E_x KL(p(y|x) || p(y))``, high when
  each note is clearly one class and all classes occur;
- an embedding for FAD (``get_embedding('classifier')``): the frames of its penultimate layer.

The model, top to bottom::

    wave (B, n) at 16 kHz
      -> log-mel (B, 1, 128 mels, T frames of 16 ms)             LogMel
      -> 4 x [conv 3x3, batch norm, ReLU, max-pool 2x2]          (B, 128 ch, 8 mels, T/16)
      -> per frame: flatten channels x mels, linear -> 128, ReLU  features(): (B, T/16, 128)
      -> mean over frames                                        (B, 128)
      -> two linear heads: pitch (128 logits), family (11)       forward()

A reference checkpoint trained on mini-NSynth ships in ``coursekit/checkpoints/classifier.pt``
with its card ``classifier.json`` (command, data, metrics); :func:`load_classifier` loads it
with ``torch.load(weights_only=True)``.

Example
-------
>>> from coursekit.eval.classifier import load_classifier, predict   # doctest: +SKIP
>>> from coursekit.audio import load
>>> y, sr = load("note.wav")                                          # doctest: +SKIP
>>> predict(y, sr)["family"], predict(y, sr)["pitch"]                # doctest: +SKIP
('guitar', 60)
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checkpoint
from ..data.nsynth import FAMILIES, SAMPLE_RATE

__all__ = ["NoteClassifier", "LogMel", "load_classifier", "predict", "predict_batch",
           "predict_files", "inception_score", "classification_metrics", "evaluate_split",
           "train_classifier", "add_train_arguments", "train_command", "DEFAULT_PATH", "FAMILIES",
           "SAMPLE_RATE"]

DEFAULT_PATH = checkpoint.reference("classifier.pt")
INPUT_SECONDS = 2.0  # training and prediction look at the first 2 s of a note (attack + hold)



class LogMel(nn.Module):
    """Log-mel spectrogram in torch (so it runs on the GPU and inside the model)."""

    def __init__(self, sr=SAMPLE_RATE, n_fft=2048, hop=256, n_mels=128, fmin=30.0, fmax=8000.0):
        super().__init__()
        import torchaudio

        self.n_fft, self.hop = n_fft, hop
        fb = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, fmin, fmax, n_mels, sr,
                                                   norm="slaney", mel_scale="slaney")
        # not persistent: rebuilt from the settings, so checkpoints stay small
        self.register_buffer("fb", fb, persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, wave):  # (B, n) -> (B, n_mels, frames)
        spec = torch.stft(wave, self.n_fft, self.hop, window=self.window, center=True,
                          return_complex=True).abs() ** 2
        return torch.log(torch.einsum("bft,fm->bmt", spec, self.fb) + 1e-6)


class NoteClassifier(nn.Module):
    def __init__(self, n_mels=128, channels=(16, 32, 64, 128), emb_dim=128, n_pitches=128,
                 n_families=len(FAMILIES), dropout=0.2):
        super().__init__()
        self.config = dict(n_mels=n_mels, channels=list(channels), emb_dim=emb_dim,
                           n_pitches=n_pitches, n_families=n_families, dropout=dropout)
        self.mel = LogMel(n_mels=n_mels)
        self.norm = nn.BatchNorm2d(1)  # learns the scale of the log-mel input
        blocks, c_in = [], 1
        for c in channels:
            blocks += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c
        self.convs = nn.Sequential(*blocks)
        self.emb_dim = emb_dim
        self.proj = nn.Linear(c_in * (n_mels // 2 ** len(channels)), emb_dim)
        self.drop = nn.Dropout(dropout)
        self.pitch_head = nn.Linear(emb_dim, n_pitches)
        self.family_head = nn.Linear(emb_dim, n_families)
        # one embedding frame every 16 STFT hops; each sees about this many samples
        self.frame_hop = self.mel.hop * 2 ** len(channels)
        rf, jump = 1, 1
        for _ in channels:
            rf, jump = rf + 2 * jump + jump, jump * 2  # conv 3x3 then max-pool 2
        self.receptive_field = self.mel.n_fft + (rf - 1) * self.mel.hop

    def features(self, wave, is_mel=False):
        """Penultimate-layer frames, ``(B, frames, emb_dim)``: the classifier's embedding.

        ``wave`` is ``(B, n)`` audio at 16 kHz, or with ``is_mel=True`` its :class:`LogMel`.
        """
        x = wave if is_mel else self.mel(wave)
        x = self.norm(x[:, None])                       # (B, 1, mels, T)
        x = self.convs(x)                               # (B, C, mels / 16, T / 16)
        x = x.permute(0, 3, 1, 2).flatten(2)            # (B, T / 16, C * mels / 16)
        return F.relu(self.proj(x))

    def forward(self, wave, is_mel=False):
        """``(pitch_logits (B, 128), family_logits (B, 11))`` for waves ``(B, n)`` at 16 kHz."""
        h = self.drop(self.features(wave, is_mel).mean(dim=1))
        return self.pitch_head(h), self.family_head(h)


# ---------------------------------------------------------------------------------------------
# Loading and predicting
# ---------------------------------------------------------------------------------------------

_LOADED: dict = {}


def load_classifier(path=None, device=None) -> NoteClassifier:
    """The classifier saved at ``path`` (default: the reference checkpoint), in eval mode on
    ``device`` (default: a CUDA GPU when there is one, else the CPU).

    Read with :func:`coursekit.checkpoint.load` (``weights_only=True``): a checkpoint holds only
    tensors and plain data.
    """
    from ..device import pick_device

    device = pick_device(device, mps=False)
    path = Path(path) if path is not None else DEFAULT_PATH
    key = (str(path.resolve()), path.stat().st_mtime if path.exists() else None, str(device))
    if key not in _LOADED:
        if not path.exists():
            hint = ("the reference checkpoint is missing from the package; reinstall coursekit or "
                    "train one: python -m coursekit train classifier --out " + str(path)) \
                if path == DEFAULT_PATH else "train one with: python -m coursekit train classifier --out PATH"
            raise FileNotFoundError(f"{path}: no classifier checkpoint; {hint}")
        hint = "give a checkpoint written by `python -m coursekit train classifier`"
        ckpt = checkpoint.load(path, kind="classifier", hint=hint)

        def make():
            model = NoteClassifier(**ckpt["config"]["model"])
            model.load_state_dict(ckpt["state"]["model"])
            return model
        _LOADED[key] = checkpoint.build(path, "classifier", make, hint=hint).to(device).eval()
    return _LOADED[key]


def _prepare(y, sr):
    from .. import audio as A

    y = A.to_mono(np.asarray(y, dtype=np.float32))
    if sr != SAMPLE_RATE:
        y = A.resample(y, int(sr), SAMPLE_RATE)
    return A.fix_length(y, int(INPUT_SECONDS * SAMPLE_RATE))


@torch.no_grad()
def predict_batch(waves, sr=SAMPLE_RATE, model=None) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities of several clips: ``(pitch_probs (n, 128), family_probs (n, 11))``.

    Each clip's first 2 s are used (shorter clips are zero-padded), as in training.
    """
    model = model or load_classifier()
    x = torch.from_numpy(np.stack([_prepare(y, sr) for y in waves]))
    dev = next(model.parameters()).device
    p, f = model(x.to(dev))
    return p.softmax(-1).cpu().numpy(), f.softmax(-1).cpu().numpy()


def predict(audio, sr, model=None) -> dict:
    """Pitch and family of one note.

    Returns
    -------
    dict
        ``pitch`` (MIDI int), ``pitch_confidence``, ``family`` (name), ``family_confidence``,
        ``pitch_probs`` (128,) and ``family_probs`` (11,).
    """
    pp, fp = predict_batch([audio], sr, model)
    return {"pitch": int(pp[0].argmax()), "pitch_confidence": float(pp[0].max()),
            "family": FAMILIES[int(fp[0].argmax())], "family_confidence": float(fp[0].max()),
            "pitch_probs": pp[0], "family_probs": fp[0]}


def predict_files(paths, model=None, batch_size=32, progress=True) -> tuple[np.ndarray, np.ndarray]:
    """:func:`predict_batch` over audio files, a batch at a time."""
    from tqdm.auto import tqdm

    from .. import audio as A

    paths = list(paths)
    pp, fp = [], []
    for i in tqdm(range(0, len(paths), batch_size), desc="classifier", leave=False,
                  disable=not progress or len(paths) <= batch_size):
        waves = [A.load(p, sr=SAMPLE_RATE, duration=INPUT_SECONDS)[0] for p in paths[i:i + batch_size]]
        a, b = predict_batch(waves, SAMPLE_RATE, model)
        pp.append(a)
        fp.append(b)
    return np.concatenate(pp), np.concatenate(fp)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

def inception_score(probs, eps=1e-12) -> float:
    """``exp( E_x KL(p(y|x) || p(y)) )`` for class probabilities ``(n, classes)``.

    1 when every prediction equals the average one (no information); up to the number of
    classes when each clip is confidently one class and all classes are equally common.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError(f"probs must be (n_clips, n_classes) with n_clips >= 1; got {probs.shape}")
    p_y = probs.mean(axis=0, keepdims=True)
    kl = (probs * (np.log(probs + eps) - np.log(p_y + eps))).sum(axis=1)
    return float(np.exp(kl.mean()))


def classification_metrics(pitch_probs, family_probs, pitch_true=None, family_true=None) -> dict:
    """Accuracies against the asked labels (when given) and inception-style scores.

    Returns ``pitch_acc`` (exact), ``pitch_acc_1`` (within one semitone), ``family_acc``,
    ``is_pitch``, ``is_family`` and ``n``.
    """
    out = {"n": int(len(pitch_probs)), "is_pitch": inception_score(pitch_probs),
           "is_family": inception_score(family_probs)}
    if pitch_true is not None:
        d = np.abs(np.asarray(pitch_probs).argmax(1) - np.asarray(pitch_true))
        out["pitch_acc"], out["pitch_acc_1"] = float((d == 0).mean()), float((d <= 1).mean())
    if family_true is not None:
        out["family_acc"] = float((np.asarray(family_probs).argmax(1) == np.asarray(family_true)).mean())
    return out


def evaluate_split(split_dir, model=None, max_notes=None, progress=True) -> dict:
    """:func:`classification_metrics` of the classifier on an NSynth split folder."""
    from ..data.nsynth import read_examples

    split_dir = Path(split_dir)
    notes = list(read_examples(split_dir).values())[:max_notes]
    paths = [split_dir / "audio" / f"{m['note_str']}.wav" for m in notes]
    pp, fp = predict_files(paths, model, progress=progress)
    return classification_metrics(pp, fp, [m["pitch"] for m in notes],
                                  [m["instrument_family"] for m in notes])


# ---------------------------------------------------------------------------------------------
# Training (with coursekit.train)
# ---------------------------------------------------------------------------------------------

def _split_dirs(data) -> dict:
    """``{'train': dir, 'valid': dir, 'test': dir}`` from a data root, a split folder, or the
    profile's default (real NSynth under the data root if present, else mini-NSynth)."""
    from ..data import dataset_dir

    if data is None:
        return {s: dataset_dir("nsynth", s) for s in ("train", "valid", "test")}
    data = Path(data)
    if (data / "examples.json").exists():  # a split folder: look for its siblings
        data = data.parent
    dirs = {s: data / f"nsynth-{s}" for s in ("train", "valid", "test")}
    if not (dirs["train"] / "examples.json").exists():
        raise FileNotFoundError(f"{data}: no nsynth-train/examples.json; give the folder holding "
                                "nsynth-train/ (and nsynth-valid/, nsynth-test/)")
    return {s: d for s, d in dirs.items() if (d / "examples.json").exists()}


def train_classifier(data=None, profile=None, out=None, seed=0, device=None, time_budget_s=None,
                     resume=False, max_steps=None, progress=True):
    """Train a :class:`NoteClassifier` with :func:`coursekit.train.train`.

    Returns ``(model, history, info)``; ``info`` has the data folders, steps, wall time and the
    validation/test metrics. With ``out``, the resumable state (weights, optimizer, random
    states) is kept beside it, in ``resume_path(out)`` (``OUT.train.pt``), as for every model.
    """
    from torch.utils.data import DataLoader, TensorDataset

    from ..recipes import resume_path
    from tqdm.auto import tqdm

    from ..data.nsynth import NSynth
    from ..profiles import get_profile
    from ..train import data_device, make_step, pick_device, seed_everything, train

    prof = get_profile(profile)
    c = prof.classifier
    seed_everything(seed)
    dev = pick_device(device)
    dirs = _split_dirs(data)
    model = NoteClassifier().to(dev)
    # The log-mels of the training notes are computed once (the STFT would otherwise be
    # recomputed every epoch) and kept in memory as float16: 128 mels x 126 frames a note.
    ds = NSynth(dirs["train"], segment_seconds=INPUT_SECONDS)
    mels, pitches, families = [], [], []
    with torch.no_grad():
        for b in tqdm(DataLoader(ds, batch_size=64, num_workers=prof.data.num_workers),
                      desc="log-mels", disable=not progress, leave=False):
            mels.append(model.mel(b["audio"].to(dev)).half().cpu())
            pitches.append(b["pitch"])
            families.append(b["family"])
    where = data_device(dev, prof.train.data_on_device)          # (the full profile: the GPU)
    train_set = TensorDataset(*(torch.cat(t).to(where) for t in (mels, pitches, families)))
    loader = DataLoader(train_set, batch_size=c.batch_size, shuffle=True,
                        drop_last=len(train_set) > c.batch_size)
    max_steps = max_steps or c.max_steps
    opt = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=c.lr, total_steps=max_steps,
                                                pct_start=0.1)
    floor = math.log(1e-6)  # the log-mel of silence

    def loss_fn(batch):
        x, pitch, family = batch
        x = x.float()
        # augmentation: random gain (-12..0 dB, an offset in the log domain) and a random
        # delay of 0..3 frames (0..48 ms)
        x = torch.maximum(x - torch.rand(len(x), 1, 1, device=x.device) * math.log(10 ** 1.2),
                          torch.tensor(floor, device=x.device))
        shift = int(torch.randint(0, 4, (1,)))
        if shift:
            x = torch.cat([torch.full_like(x[..., :shift], floor), x[..., :-shift]], dim=-1)
        p_logits, f_logits = model(x, is_mel=True)
        lp = F.cross_entropy(p_logits, pitch)
        lf = F.cross_entropy(f_logits, family)
        acc = (p_logits.argmax(1) == pitch).float().mean()
        return lp + lf, {"pitch_loss": lp.item(), "family_loss": lf.item(), "pitch_acc": acc.item()}

    def eval_fn(step):
        if "valid" not in dirs:
            return {}
        m = evaluate_split(dirs["valid"], model, max_notes=200, progress=False)
        return {"val_pitch_acc": m["pitch_acc"], "val_family_acc": m["family_acc"]}

    config = {"model": model.config, "data": {k: str(v) for k, v in dirs.items()},
              "profile": prof.name, "seed": seed, "max_steps": max_steps, "lr": c.lr,
              "batch_size": c.batch_size, "input_seconds": INPUT_SECONDS}
    ckpt_path = resume_path(out) if out is not None else None
    t0 = time.perf_counter()
    history = train(make_step(model, opt, loss_fn, clip_grad=1.0, scheduler=sched), loader,
                    {"model": model, "opt": opt, "sched": sched}, max_steps=max_steps,
                    time_budget_s=time_budget_s, ckpt_path=ckpt_path, resume=resume,
                    eval_fn=eval_fn, eval_every=c.eval_every, config=config, seed=seed,
                    desc="classifier", progress=progress, kind="classifier", device=dev,
                    amp=prof.train.amp)
    wall = time.perf_counter() - t0
    model.eval()
    metrics = {s: evaluate_split(dirs[s], model, progress=progress) for s in ("valid", "test") if s in dirs}
    made = Path(dirs["train"]).parent / "mini-nsynth.json"  # how a mini-NSynth was made
    data_info = {**config["data"], "mini_nsynth": json.loads(made.read_text()) if made.exists()
                 else None, "train_notes": len(train_set)}
    info = {"data": data_info, "steps": len(history) and history[-1]["step"],
            "training_time_s": round(wall, 1), "metrics": metrics, "config": config}
    return model, history, info


def add_train_arguments(parser) -> None:
    """``train classifier`` has only the common flags (``--profile --out --seed --data --resume
    --device --time-budget``)."""


def train_command(args) -> int:
    """``python -m coursekit train classifier --profile P --out CKPT``: train, then save a slim
    checkpoint (model weights + config, no optimizer) at CKPT and its card at CKPT.json."""
    from ..recipes import write_run_card

    out = Path(args.out)
    t0 = time.perf_counter()
    model, history, info = train_classifier(args.data, args.profile, out, args.seed, args.device,
                                            args.time_budget, args.resume)
    checkpoint.save(out, kind="classifier", config=info["config"], state={"model": model.cpu()},
                    step=info["steps"], metrics=info["metrics"])
    write_run_card(out, model="classifier", profile=info["config"]["profile"], started=t0, history=history,
                   data=info["data"], config=info["config"], metrics=info["metrics"], seed=args.seed,
                   parameters=sum(p.numel() for p in model.parameters()))
    for split, m in info["metrics"].items():
        print(f"{split}: pitch acc {m['pitch_acc']:.3f} (+-1: {m['pitch_acc_1']:.3f}), "
              f"family acc {m['family_acc']:.3f}, n={m['n']}")
    return 0
