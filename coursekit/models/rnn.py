"""Chapter 02: a sample-level autoregressive RNN (SampleRNN-lite) over 8-bit mu-law samples.

The model predicts the next audio sample from all the previous ones,
``p(x_n | x_<n, pitch, family)``, as a 256-way classification over mu-law codes.
It has two tiers, as in SampleRNN (Mehri et al., 2017):

- a **frame tier**: a GRU that steps once every ``frame_size`` samples. It reads the previous
  frame (as real values in [-1, 1]) and the conditioning (pitch and family embeddings) and
  keeps a state that can reach arbitrarily far back. For each of the ``frame_size`` samples of
  the next frame it emits a conditioning vector. Optionally (``time_buckets`` > 0) it is also
  told how far into the note it is, in steps of ``time_bucket_s``: NSynth notes are held for
  3 s and then released, so silence is normal after 3 s and a failure before; without a clock
  a free-running note that dips to silence early stays silent (the training data says silence
  follows silence).
- a **sample tier**: an MLP that reads the last ``frame_size`` samples (embedded codes) plus the
  frame tier's vector for this position and outputs the 256 logits of the next sample.
  Optionally (``osc_harmonics`` > 0) it also reads an **oscillator**: sines and cosines of the
  asked pitch and its first harmonics at this very sample, as in neural source-filter models
  (Wang et al., 2019) and DDSP. The pitch then no longer has to survive in the GRU's state for
  thousands of steps: the model only has to shape the oscillator it is given.

Training is **teacher forcing**: the true previous samples are fed in, and every position of
a segment is predicted in parallel (a GRU over frames and a convolution over samples).
Generation is **free running**: one sample at a time, each sampled from the softmax and fed
back. :func:`generate` keeps the GRU state and the last frame (never re-running the sequence)
and runs a batch of notes at once.

Why 8 kHz and 16-sample frames: every second of audio is 8000 sequential steps at generation
time and 8000 predictions per second of training data, so halving the rate from NSynth's
16 kHz halves both. 8 kHz keeps everything below 4 kHz: enough for the fundamentals and first
harmonics of the notes we train on (MIDI 48-72, 131-523 Hz). A 16-sample frame (2 ms) means the
GRU runs 500 steps per second of audio instead of 8000, which is what lets it reach back over a
whole note on a CPU.

Example
-------
>>> import torch
>>> from coursekit.models.rnn import RNNConfig, SampleRNN, generate
>>> model = SampleRNN(RNNConfig(hidden=32, mlp_hidden=32))
>>> codes = torch.randint(0, 256, (2, 64))
>>> model(codes, pitch=torch.tensor([60, 64])).shape
torch.Size([2, 64, 256])
>>> out = generate(model, pitch=[60, 64], n_samples=32, seed=0)
>>> out.shape
torch.Size([2, 32])
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

from .. import audio

# Sizes for the three budgets (smoke, default, full). The notebook trains a student model of
# the "default" size within `train.time_budget_s`; the reference checkpoint is the "full" one.

N_CLASSES = 256                      # 8-bit mu-law
SILENCE = int(audio.mu_law_encode(np.zeros(1))[0])  # the code of 0.0 (128)
OUT_SR = 16000                       # generated notes are written at NSynth's rate
NOTE_SECONDS = 4.0                   # NSynth notes are 4 s long


@dataclass
class RNNConfig:
    """Hyper-parameters of :class:`SampleRNN` (stored in every checkpoint)."""

    sr: int = 8000
    frame_size: int = 16
    hidden: int = 256
    mlp_hidden: int = 256
    emb_dim: int = 16
    cond_dim: int = 32
    n_pitches: int = 128
    families: list = field(default_factory=lambda: list(FAMILIES))
    # what the model was trained on (recorded for sampling and for honest cards)
    pitch_min: int = 48
    pitch_max: int = 72
    train_families: list = field(default_factory=list)
    # time since the onset, as a learned embedding per bucket added to the frame tier's input
    # (0 = no clock, as in the first reference models; the last bucket covers the rest)
    time_buckets: int = 0
    time_bucket_s: float = 0.125
    # the oscillator: sin and cos of this many harmonics of the asked pitch, fed to the sample
    # tier at every sample (0 = none: the pitch lives in the GRU's state alone)
    osc_harmonics: int = 0


# NSynth family names in id order (same as coursekit.data.nsynth.FAMILIES)
FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string",
            "synth_lead", "vocal")


def _codes_to_float(codes: torch.Tensor) -> torch.Tensor:
    """Mu-law codes (int) -> float in [-1, 1] (torch version of ``audio.mu_law_decode``)."""
    compressed = codes.float() / (N_CLASSES - 1) * 2 - 1
    return torch.sign(compressed) * ((N_CLASSES) ** compressed.abs() - 1) / (N_CLASSES - 1)


class SampleRNN(nn.Module):
    """Two-tier SampleRNN: a GRU over frames, an MLP over samples. See the module docstring."""

    def __init__(self, cfg: RNNConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or RNNConfig()
        fs, H, M = cfg.frame_size, cfg.hidden, cfg.mlp_hidden
        # conditioning: pitch and family embeddings, concatenated
        self.pitch_emb = nn.Embedding(cfg.n_pitches, cfg.cond_dim)
        self.family_emb = nn.Embedding(len(cfg.families) + 1, cfg.cond_dim)  # last id = "any"
        # frame tier
        self.h0 = nn.Linear(2 * cfg.cond_dim, H)             # initial state from the condition
        self.frame_in = nn.Linear(fs + 2 * cfg.cond_dim, H)
        self.gru = nn.GRU(H, H, batch_first=True)
        self.frame_out = nn.Linear(H, fs * M)                # one vector per position of next frame
        if cfg.time_buckets:
            # zero at first: a model fine-tuned from one without a clock starts where it was
            self.time_emb = nn.Embedding(cfg.time_buckets, H)
            nn.init.zeros_(self.time_emb.weight)
        # sample tier
        self.code_emb = nn.Embedding(N_CLASSES, cfg.emb_dim)
        self.sample_in = nn.Conv1d(cfg.emb_dim, M, kernel_size=fs, bias=False)  # last fs samples
        self.mlp = nn.Sequential(nn.ReLU(), nn.Linear(M, M), nn.ReLU(), nn.Linear(M, N_CLASSES))
        if cfg.osc_harmonics:
            # zero at first, like the clock: a model without an oscillator fine-tunes into it
            self.osc_in = nn.Linear(2 * cfg.osc_harmonics, M)
            nn.init.zeros_(self.osc_in.weight)
            nn.init.zeros_(self.osc_in.bias)

    # -- conditioning ---------------------------------------------------------------------------
    def condition(self, pitch, family=None) -> torch.Tensor:
        """Embed pitch (MIDI numbers) and family (ids; None or -1 = any) -> ``(B, 2*cond_dim)``."""
        pitch = torch.as_tensor(pitch, dtype=torch.long, device=self.pitch_emb.weight.device)
        if pitch.min() < 0 or pitch.max() >= self.cfg.n_pitches:
            raise ValueError(f"pitch must be a MIDI number in [0, {self.cfg.n_pitches - 1}]")
        any_id = len(self.cfg.families)
        if family is None:
            family = torch.full_like(pitch, any_id)
        family = torch.as_tensor(family, dtype=torch.long, device=pitch.device)
        family = torch.where(family < 0, torch.full_like(family, any_id), family)
        return torch.cat([self.pitch_emb(pitch), self.family_emb(family)], dim=-1)

    def initial_state(self, cond: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.h0(cond)).unsqueeze(0)        # (1, B, H) for nn.GRU

    def clock(self, frame_index: torch.Tensor) -> torch.Tensor | float:
        """The time embedding of frames (indices counted from the onset; any shape -> ``(..., H)``),
        or 0.0 for a model without a clock."""
        if not self.cfg.time_buckets:
            return 0.0
        frames_per_bucket = self.cfg.time_bucket_s * self.cfg.sr / self.cfg.frame_size
        bucket = (frame_index.float() / frames_per_bucket).long().clamp(0, self.cfg.time_buckets - 1)
        return self.time_emb(bucket)

    def oscillator(self, pitch, sample_index: torch.Tensor) -> torch.Tensor | float:
        """The sample tier's oscillator input, projected: ``(B, ...) -> (B, ..., mlp_hidden)``.

        ``sample_index`` counts the model's samples from the onset (shape ``(B, ...)``). Harmonic
        ``h`` of the asked pitch's frequency ``f0`` gives ``sin(2 pi h f0 n / sr)`` and its cosine;
        harmonics at or above the Nyquist frequency are left out (zero). Returns 0.0 for a model
        without an oscillator.
        """
        H = self.cfg.osc_harmonics
        if not H:
            return 0.0
        dev = self.osc_in.weight.device
        pitch = torch.as_tensor(pitch, dtype=torch.float64, device=dev)
        f0 = 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)          # (B,) Hz: audio.midi_to_hz, in torch
        h = torch.arange(1, H + 1, dtype=torch.float64, device=dev)             # (H,)
        shape = (-1,) + (1,) * (sample_index.dim() - 1) + (1,)
        cycles = f0.view(shape) * h * sample_index.to(dev, torch.float64)[..., None] / self.cfg.sr
        phase = 2 * math.pi * torch.remainder(cycles, 1.0)                      # (B, ..., H)
        audible = (f0.view(shape) * h < self.cfg.sr / 2).to(torch.float64)
        feats = torch.cat([torch.sin(phase) * audible, torch.cos(phase) * audible], dim=-1)
        return self.osc_in(feats.float())

    # -- teacher forcing --------------------------------------------------------------------------
    def forward(self, codes: torch.Tensor, pitch, family=None, frames=None,
                prev: torch.Tensor | None = None, start=None) -> torch.Tensor:
        """Teacher-forced logits: ``logits[:, n]`` predicts ``codes[:, n]`` from ``codes[:, :n]``.

        Parameters
        ----------
        codes : LongTensor (B, T)
            Mu-law codes, ``T`` a multiple of ``frame_size``. The note is assumed to start in
            silence (the model sees ``frame_size`` silent samples before ``codes[:, 0]``).
        pitch, family : LongTensor (B,)
        frames : LongTensor (k,), optional
            Predict only the samples of these frames (the GRU still reads every frame). On a
            CPU the sample tier (T x 256 logits) is the expensive part, so training predicts a
            random subset of frames each step. Default: all frames.
        prev : LongTensor (B, frame_size), optional
            The codes just before ``codes[:, 0]`` (for a segment cut from the middle of a note).
            Default: silence, as at the start of a note.
        start : LongTensor (B,), optional
            The frame of the note ``codes[:, 0]`` belongs to (for the clock). Default: 0.

        Returns
        -------
        logits : Tensor (B, k * frame_size, 256)   (``(B, T, 256)`` for all frames)
        """
        B, T = codes.shape
        fs, M = self.cfg.frame_size, self.cfg.mlp_hidden
        if T % fs:
            raise ValueError(f"segment length {T} must be a multiple of frame_size={fs}")
        n_frames = T // fs
        frames = torch.arange(n_frames, device=codes.device) if frames is None else frames
        cond = self.condition(pitch, family)
        # prepend the frame before the segment (silence at the start of a note)
        if prev is None:
            prev = torch.full((B, fs), SILENCE, dtype=codes.dtype, device=codes.device)
        padded = torch.cat([prev.to(codes.dtype), codes], dim=1)               # (B, T + fs)
        # frame tier: frame t reads frame t-1 of the padded sequence
        inp = _codes_to_float(padded[:, :T]).view(B, n_frames, fs)
        x = self.frame_in(torch.cat([inp, cond[:, None].expand(-1, n_frames, -1)], dim=-1))
        start = torch.zeros(B, dtype=torch.long, device=codes.device) if start is None else \
            torch.as_tensor(start, dtype=torch.long, device=codes.device)
        x = x + self.clock(start[:, None] + torch.arange(n_frames, device=codes.device))  # (B, T/fs, H)
        h, _ = self.gru(x, self.initial_state(cond))                            # (B, T/fs, H)
        k = len(frames)
        frame_cond = self.frame_out(h[:, frames]).view(B, k, fs, M)             # per sample
        # sample tier: each target sees the fs codes before it (a convolution = sliding window);
        # the targets of frame t need padded[t*fs : t*fs + 2*fs - 1]
        win = padded.unfold(1, 2 * fs - 1, fs)[:, frames]                       # (B, k, 2fs-1)
        e = self.code_emb(win.reshape(B * k, 2 * fs - 1)).transpose(1, 2)      # (B*k, E, 2fs-1)
        s = self.sample_in(e).transpose(1, 2).reshape(B, k, fs, M)
        # the oscillator at each target sample (absolute index from the onset)
        n = (start[:, None, None] + frames[None, :, None]) * fs + torch.arange(fs, device=codes.device)
        s = s + self.oscillator(pitch, n)                                       # (B, k, fs, M)
        return self.mlp(s + frame_cond).reshape(B, k * fs, N_CLASSES)


def nll_loss(model: SampleRNN, codes, pitch, family=None, keep: float = 1.0,
             generator: torch.Generator | None = None, prev=None, start=None) -> torch.Tensor:
    """Mean next-sample cross-entropy (nats per sample) under teacher forcing.

    ``keep`` < 1 predicts only that fraction of the frames (chosen at random), which makes a
    training step several times cheaper on a CPU; the estimate of the loss stays unbiased.
    """
    B, T = codes.shape
    fs = model.cfg.frame_size
    n_frames = T // fs
    frames = None
    if keep < 1.0:
        k = max(1, int(round(keep * n_frames)))
        frames = torch.randperm(n_frames, generator=generator)[:k].sort().values.to(codes.device)
    logits = model(codes, pitch, family, frames=frames, prev=prev, start=start)
    targets = codes if frames is None else codes.view(B, n_frames, fs)[:, frames].reshape(B, -1)
    return F.cross_entropy(logits.reshape(-1, N_CLASSES), targets.reshape(-1))


# ---------------------------------------------------------------------------------------------
# Free-running generation with a state cache
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def generate(model: SampleRNN, pitch, family=None, n_samples: int = 8000,
             temperature: float = 1.0, seed: int | None = None, progress: bool = False,
             return_probs: bool = False, forced: torch.Tensor | None = None):
    """Generate a batch of notes sample by sample, keeping the recurrent state.

    Each step costs the same however long the note already is: the GRU state and the last
    ``frame_size`` codes are all the model needs (no re-running of the past).

    Parameters
    ----------
    model : SampleRNN
    pitch : sequence of int (B,)
        MIDI pitch of each note.
    family : sequence of int, optional
        Family id of each note (``None`` or -1: any family).
    n_samples : int
        Samples to generate (at ``model.cfg.sr``); rounded up to whole frames, then cut.
    temperature : float
        Divides the logits: < 1 sharper (safer, duller), > 1 flatter (noisier).
    seed : int, optional
        Seeds the sampler (same seed, same notes).
    progress : bool
        Show a tqdm progress bar over frames.
    return_probs : bool
        Also return the softmax probabilities of every step ``(B, n, 256)``; with ``forced``
        this is how the tests check the cache against teacher forcing.
    forced : LongTensor (B, n), optional
        Feed these codes instead of sampling (teacher forcing through the generation path).

    Returns
    -------
    codes : LongTensor (B, n_samples)
    probs : Tensor (B, n_samples, 256), only if ``return_probs``
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    # every step works on tiny tensors: extra threads cost more in synchronisation than they
    # save (on a busy 2-core machine, 30x more), so the loop runs on one thread
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _generate(model, pitch, family, n_samples, temperature, seed, progress,
                         return_probs, forced)
    finally:
        torch.set_num_threads(n_threads)


def _generate(model, pitch, family, n_samples, temperature, seed, progress, return_probs, forced):
    model.eval()
    cfg = model.cfg
    fs, M = cfg.frame_size, cfg.mlp_hidden
    dev = model.pitch_emb.weight.device
    cond = model.condition(pitch, family)
    B = cond.shape[0]
    gen = torch.Generator(device="cpu")
    if seed is not None:
        gen.manual_seed(int(seed))
    n_frames = math.ceil(n_samples / fs)
    # the cache: GRU state + the last fs codes (the sample tier's window)
    h = model.initial_state(cond)
    window = torch.full((B, fs), SILENCE, dtype=torch.long, device=dev)
    w_in = model.sample_in.weight                                # (M, E, fs)
    out = torch.empty(B, n_frames * fs, dtype=torch.long, device=dev)
    probs_out = torch.empty(B, n_frames * fs, N_CLASSES) if return_probs else None
    frames = range(n_frames)
    if progress:
        from tqdm.auto import tqdm
        frames = tqdm(frames, desc="generating", unit="frame")
    for t in frames:
        # frame tier: one GRU step on the frame just finished
        x = model.frame_in(torch.cat([_codes_to_float(window), cond], dim=-1))
        x = x + model.clock(torch.full((B,), t, dtype=torch.long, device=dev))
        y, h = model.gru(x[:, None], h)
        frame_cond = model.frame_out(y[:, 0]).view(B, fs, M)
        frame_cond = frame_cond + model.oscillator(
            pitch, t * fs + torch.arange(fs, device=dev).expand(B, fs))          # (B, fs, M)
        # sample tier: fs steps, each sees the last fs codes
        for j in range(fs):
            n = t * fs + j
            e = model.code_emb(window)                           # (B, fs, E)
            s = torch.einsum("bke,mek->bm", e, w_in)
            logits = model.mlp(s + frame_cond[:, j])
            p = torch.softmax(logits / temperature, dim=-1)
            if forced is not None and n < forced.shape[1]:
                nxt = forced[:, n].to(dev)
            else:
                nxt = torch.multinomial(p.cpu(), 1, generator=gen)[:, 0].to(dev)
            if return_probs:
                probs_out[:, n] = p.cpu()
            out[:, n] = nxt
            window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
    out = out[:, :n_samples]
    if return_probs:
        return out, probs_out[:, :n_samples]
    return out


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
            torch.full((self.fs,), SILENCE, dtype=torch.long)
        return seg, self.notes["pitch"][i], self.notes["family"][i], prev, start // self.fs


# ---------------------------------------------------------------------------------------------
# Training, saving, loading
# ---------------------------------------------------------------------------------------------

def config_from_profile(profile=None) -> RNNConfig:
    """The model size of a profile's ``ch02`` section."""
    from ..profiles import get_profile

    p = get_profile(profile).ch02
    return RNNConfig(sr=p.sr, frame_size=p.frame_size, hidden=p.hidden, mlp_hidden=p.mlp_hidden,
                     emb_dim=p.emb_dim, time_buckets=p.time_buckets,
                     osc_harmonics=p.osc_harmonics)


def train_rnn(model: SampleRNN, notes: dict, batch_size: int = 16, segment_seconds: float = 1.0,
              lr: float = 2e-3, keep: float = 0.25, max_steps: int | None = None,
              time_budget_s: float | None = None, ckpt_path=None, resume: bool = False,
              seed: int = 0, progress: bool = True, eval_every: int | None = None,
              val_notes: dict | None = None):
    """Teacher-forcing training with the course's loop (:func:`coursekit.train.train`).

    Returns the loop's :class:`~coursekit.train.History` (``loss`` in nats per sample, and
    every ``eval_every`` steps ``val_nll`` on a fixed batch of onset segments predicted in
    full: from ``val_notes`` (held-out notes, as :func:`load_notes` returns them) when given,
    else from the training notes, which says how well the model fits, not how it generalises).
    """
    from ..train import make_step, seed_everything, train

    seed_everything(seed)
    fs = model.cfg.frame_size
    seg_len = int(round(segment_seconds * model.cfg.sr / fs)) * fs
    data = torch.utils.data.DataLoader(NoteSegments(notes, seg_len, fs), batch_size=batch_size,
                                       shuffle=True, drop_last=len(notes["codes"]) > batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def loss_fn(batch):
        codes, pitch, family, prev, start = batch
        return nll_loss(model, codes, pitch, family, keep=keep, prev=prev, start=start)

    step = make_step(model, opt, loss_fn, clip_grad=1.0)
    held = val_notes if val_notes is not None else notes
    fixed = next(iter(torch.utils.data.DataLoader(
        NoteSegments(held, seg_len, fs, p_onset=1.0), batch_size=min(8, len(held["codes"])))))

    def eval_fn(step_no):
        codes, pitch, family, prev, start = fixed
        return {"val_nll": nll_loss(model, codes, pitch, family, prev=prev, start=start).item()}

    return train(step, data, state={"model": model, "opt": opt}, max_steps=max_steps,
                 time_budget_s=time_budget_s, ckpt_path=ckpt_path, resume=resume,
                 eval_fn=eval_fn, eval_every=eval_every, config=asdict(model.cfg), seed=seed,
                 desc="rnn", progress=progress)


def save_model(model: SampleRNN, path, half: bool = True, **extra) -> Path:
    """Write the weights (float16 by default: half the size) and the config to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save({"model": sd, "config": asdict(model.cfg), "kind": "rnn", **extra}, path)
    return path


def reference_checkpoint() -> Path:
    """The reference checkpoint shipped with coursekit (``coursekit/checkpoints/rnn.pt``)."""
    from ..paths import CHECKPOINT_DIR

    return CHECKPOINT_DIR / "rnn.pt"


def load_model(path=None, device="cpu") -> SampleRNN:
    """Load a model saved by :func:`save_model` or a training checkpoint of :func:`train_rnn`.

    Without ``path``, the reference checkpoint. Raises FileNotFoundError saying how to make one.
    """
    path = Path(path) if path is not None else reference_checkpoint()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint; train one with "
                                "`python -m coursekit train rnn --profile full --out rnn.pt`")
    ckpt = torch.load(path, map_location=device, weights_only=True)
    sd = ckpt["model"] if "model" in ckpt and "config" in ckpt and "state" not in ckpt \
        else ckpt["state"]["model"]
    model = SampleRNN(RNNConfig(**ckpt["config"]))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    return model.to(device).eval()


# ---------------------------------------------------------------------------------------------
# Notes in, notes out
# ---------------------------------------------------------------------------------------------

def generate_notes(model: SampleRNN, pitches, families=None, seconds: float = NOTE_SECONDS,
                   temperature: float = 1.0, seed: int = 0, batch_size: int = 64,
                   progress: bool = True, out_sr: int = OUT_SR) -> list[dict]:
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
        codes = generate(model, pitches[b:b + batch_size], fams[b:b + batch_size], n_samples=n,
                         temperature=temperature, seed=seed + b, progress=progress)
        for j, c in enumerate(codes.cpu().numpy()):
            y = np.clip(audio.resample(audio.mu_law_decode(c), model.cfg.sr, out_sr), -1.0, 1.0)
            notes.append({"audio": y, "pitch": pitches[b + j], "velocity": 100,
                          "instrument_family_str": model.cfg.families[fams[b + j]],
                          "generated_by": "rnn", "seed": seed, "temperature": temperature})
    return notes


def _family_ids(families, n: int, names) -> list[int]:
    if families is None:
        return [-1] * n
    fams = [families] * n if isinstance(families, (str, int)) else list(families)
    if len(fams) != n:
        raise ValueError(f"give one family per note ({n}), got {len(fams)}")
    out = []
    for f in fams:
        if isinstance(f, str):
            if f not in names:
                raise ValueError(f"unknown family {f!r}; choose one of {', '.join(names)}")
            f = list(names).index(f)
        out.append(int(f))
    return out


# ---------------------------------------------------------------------------------------------
# Command line: python -m coursekit train rnn / sample rnn
# ---------------------------------------------------------------------------------------------

def _families_setting(value):
    return None if value in (None, "all") else [f.strip() for f in value.split(",")]


def cli_train(args) -> int:
    """``python -m coursekit train rnn --profile P --out CKPT [--resume] [--time-budget S]``.

    Trains with the profile's ``ch02`` sizes, keeps a resumable training checkpoint beside
    ``--out`` (``<out>.train.pt``), and at the end writes the compact model to ``--out`` and its
    card to ``<out without .pt>.json``.
    """
    from ..data import dataset_dir
    from ..profiles import get_profile
    from ..train import command_line, pick_device, write_card

    prof = get_profile(args.profile)
    p = prof.ch02
    out = Path(args.out)
    split = Path(args.data) if args.data else dataset_dir("nsynth", "train", size=p.nsynth_size)
    families = _families_setting(p.families)
    device = pick_device(args.device)
    t0 = time.perf_counter()
    notes = load_notes(split, sr=p.sr, pitch_range=(p.pitch_min, p.pitch_max), families=families,
                       max_notes=p.max_notes, seed=args.seed)
    cfg = config_from_profile(prof.name)
    cfg.pitch_min, cfg.pitch_max = p.pitch_min, p.pitch_max
    cfg.train_families = sorted({cfg.families[i] for i in notes["family"].tolist()})
    model = SampleRNN(cfg).to(device)
    init = getattr(args, "init", None)
    if init and not args.resume:
        # a model without a clock or an oscillator fine-tunes into one with them: they start at zero
        missing, unexpected = model.load_state_dict(load_model(init).state_dict(), strict=False)
        if unexpected or any(not k.startswith(("time_emb.", "osc_in.")) for k in missing):
            raise ValueError(f"{init} does not fit the {prof.name} profile's RNN: missing "
                             f"{missing}, unexpected {unexpected}")
        new = [name for name, prefix in (("the clock", "time_emb."), ("the oscillator", "osc_in."))
               if any(k.startswith(prefix) for k in missing)]
        print(f"starting from the weights of {init} (fine-tuning"
              + (f", {' and '.join(new)} starting at zero)" if new else ")"))
    # the validation loss is measured on notes of instruments the model never trains on
    val_notes = heldout_notes(split, sr=p.sr, pitch_range=(p.pitch_min, p.pitch_max),
                              families=families, seed=args.seed)
    val_desc = "8 onset segments of training notes (no held-out notes found)" if val_notes is None else \
        f"{len(val_notes['codes'])} onset segments of {val_notes['folder']} (instruments not trained on)"
    train_ckpt = out.with_name(out.stem + ".train.pt")
    budget = args.time_budget if args.time_budget is not None else p.time_budget_s
    print(f"training SampleRNN ({sum(x.numel() for x in model.parameters()) / 1e6:.2f} M "
          f"parameters) on {len(notes['codes'])} notes of {split}, profile {prof.name}, "
          f"budget {budget:.0f} s, device {device}")
    history = train_rnn(model, notes, batch_size=p.batch_size, segment_seconds=p.segment_seconds,
                        lr=p.lr, keep=p.keep, max_steps=p.max_steps, time_budget_s=budget,
                        ckpt_path=train_ckpt, resume=args.resume, seed=args.seed,
                        eval_every=p.eval_every, val_notes=val_notes)
    save_model(model.cpu(), out)
    vals = [h["val_nll"] for h in history if "val_nll" in h]
    card = out.with_suffix(".json")
    write_card(card, model="rnn", command=command_line(f"python -m coursekit train rnn --profile {prof.name} --out {args.out}"),
        profile=prof.name, init=str(init) if init else None,
        data={"folder": str(split), "notes": len(notes["codes"]),
                                 "pitch_range": [p.pitch_min, p.pitch_max],
                                 "families": cfg.train_families, "sample_rate": p.sr},
        config=asdict(cfg), steps=history[-1]["step"] if history else 0,
        train_wall_time_s=history[-1]["time"] if history else 0.0,
        total_wall_time_s=round(time.perf_counter() - t0, 1),
        size_bytes=out.stat().st_size,
        metrics={"train_nll_last100": float(np.mean([h["loss"] for h in history[-100:]])) if history else None,
                 "val_nll": vals[-1] if vals else None, "val_data": val_desc})
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and {card}")
    return 0


def cli_sample(args) -> int:
    """``python -m coursekit sample rnn --n N --out DIR [--checkpoint] [--seed] [--pitch] [--family]``.

    Without ``--pitch`` the pitches are drawn (seeded) from the range the model was trained on;
    without ``--family`` the families too. Writes an NSynth-format folder recording them.
    """
    from ..data.nsynth import write_nsynth_folder

    if args.n <= 0:
        raise ValueError(f"--n must be a positive number of notes, got {args.n}")
    model = load_model(args.checkpoint, device=args.device or "cpu")
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
    out = write_nsynth_folder(args.out, notes)
    print(f"wrote {len(notes)} notes to {out} ({len(notes) * seconds / dt:.1f} s of audio per "
          f"second of generation)")
    return 0


# ---------------------------------------------------------------------------------------------
# Measuring the failure: pitch and loudness over the course of a note
# ---------------------------------------------------------------------------------------------

def track_pitch(y: np.ndarray, sr: int, window_s: float = 0.25, min_confidence: float = 0.5):
    """CREPE's pitch (fractional MIDI) in consecutive windows of ``window_s`` seconds.

    CREPE runs once over the whole note; its frames are then grouped by window. Returns
    ``(times, midi, voiced)``: window centres (s), the median confident pitch of each window
    (NaN where CREPE hears no pitch) and the fraction of confident frames.
    """
    from ..eval.embeddings import get_embedding, pitch_from_crepe

    frames = get_embedding("crepe").embed(np.asarray(y, dtype=np.float32), sr)
    n_win = int(len(y) / sr / window_s)
    times, midi, conf = [], [], []
    for w in range(n_win):
        m, c = pitch_from_crepe(frames, held_s=(w * window_s, (w + 1) * window_s),
                                min_confidence=min_confidence)
        times.append((w + 0.5) * window_s)
        midi.append(m)
        conf.append(c)
    return np.array(times), np.array(midi), np.array(conf)


def track_rms(y: np.ndarray, sr: int, window_s: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Loudness (RMS, in dBFS) in consecutive windows: ``(times, rms_db)``."""
    n = int(window_s * sr)
    n_win = len(y) // n
    frames = np.asarray(y[:n_win * n], dtype=np.float64).reshape(n_win, n)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    return (np.arange(n_win) + 0.5) * window_s, 20 * np.log10(np.maximum(rms, 1e-5))


def drift_report(notes: list[dict], sr: int = OUT_SR, window_s: float = 0.25,
                 progress: bool = True) -> dict:
    """Pitch error (cents, against each note's asked ``pitch``) and loudness per window.

    Parameters
    ----------
    notes : list of dict
        Each with ``audio`` (at ``sr``) and ``pitch`` (the asked / true MIDI pitch): generated
        notes, or real ones for the reference curve.

    Returns
    -------
    dict
        ``times`` (window centres, s), ``cents`` (notes x windows, signed error, NaN where
        no pitch is heard), ``rms_db`` (notes x windows), and per window ``median_abs_cents``,
        ``within_50_cents`` (fraction of all notes whose window is within 50 cents: an
        unpitched window counts as a miss) and ``voiced`` (fraction with a pitch).
    """
    from tqdm.auto import tqdm

    cents, rms = [], []
    for note in tqdm(notes, desc="tracking pitch", disable=not progress):
        t, m, _ = track_pitch(note["audio"], sr, window_s)
        cents.append(100 * (m - note["pitch"]))
        rms.append(track_rms(note["audio"], sr, window_s)[1])
    cents, rms = np.array(cents), np.array(rms)
    with np.errstate(invalid="ignore"):
        within = np.nan_to_num(np.abs(cents) <= 50, nan=0.0).mean(axis=0)
    voiced = np.isfinite(cents).mean(axis=0)
    med = np.array([np.nanmedian(np.abs(c)) if np.isfinite(c).any() else np.nan for c in cents.T])
    return {"times": t, "cents": cents, "rms_db": rms, "median_abs_cents": med,
            "within_50_cents": within, "voiced": voiced}
