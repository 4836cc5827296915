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

Training is **teacher forcing** (:func:`nll_loss`): the true previous samples are fed in, and
every position of a segment is predicted in parallel (a GRU over frames and a convolution over
samples). Generation is **free running** (:func:`generate`): one sample at a time, each sampled
from the softmax and fed back, keeping the GRU state and the last frame (never re-running the
sequence), a batch of notes at once.

Why 8 kHz and 16-sample frames: a second of audio is 8000 sequential steps to generate and
8000 predictions to train, so halving NSynth's 16 kHz halves both; 8 kHz keeps everything below
4 kHz, enough for the fundamentals and first harmonics of the notes we train on (MIDI 48-72,
131-523 Hz). A 16-sample frame (2 ms) means the GRU runs 500 steps per second of audio instead
of 8000, which is what lets it reach back over a whole note on a CPU.

Data, training, checkpoints and the command line are in :mod:`coursekit.recipes.rnn`.

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

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["N_CLASSES", "SILENCE", "RNNConfig", "SampleRNN", "nll_loss", "generate", "sample_next"]

N_CLASSES = 256                      # 8-bit mu-law: codes 0..255
SILENCE = N_CLASSES // 2             # the code of 0.0: round((0 + 1) / 2 * 255) = 128


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
    # family names in id order (the recipe fills NSynth's); one more embedding stands for "any"
    families: list = field(default_factory=list)
    # what the model was trained on (recorded for sampling and for honest cards)
    pitch_min: int = 48
    pitch_max: int = 72
    train_families: list = field(default_factory=list)
    # time since the onset, as a learned embedding per bucket added to the frame tier's input
    # (0 = no clock; the last bucket covers the rest of the note)
    time_buckets: int = 0
    time_bucket_s: float = 0.125
    # the oscillator: sin and cos of this many harmonics of the asked pitch, fed to the sample
    # tier at every sample (0 = none: the pitch lives in the GRU's state alone)
    osc_harmonics: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "RNNConfig":
        """The config a checkpoint stores (keys this class does not know are left out)."""
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


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
        on = codes.device if generator is None else generator.device        # (the generator's)
        frames = torch.randperm(n_frames, generator=generator, device=on)[:k].sort().values.to(codes.device)
    logits = model(codes, pitch, family, frames=frames, prev=prev, start=start)
    targets = codes if frames is None else codes.view(B, n_frames, fs)[:, frames].reshape(B, -1)
    return F.cross_entropy(logits.float().reshape(-1, N_CLASSES), targets.reshape(-1))  # float32 under amp


# -- Free-running generation with a state cache ----------------------------------------------

@torch.no_grad()
def generate(model: SampleRNN, pitch, family=None, n_samples: int = 8000,
             temperature: float = 1.0, seed: int | None = None, progress: bool = False,
             return_probs: bool = False, forced: torch.Tensor | None = None, sample_fn=None):
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
    sample_fn : callable, optional
        ``sample_fn(logits, temperature, generator) -> LongTensor (B,)``: draws the next code of
        every note from the logits ``(B, 256)`` of this step with the CPU ``generator``.
        Default :func:`sample_next` (softmax of ``logits / temperature``, one multinomial draw).

    Returns
    -------
    codes : LongTensor (B, n_samples)
    probs : Tensor (B, n_samples, 256), only if ``return_probs``
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    # each step is tiny: one thread is faster than several that must synchronise
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _generate(model, pitch, family, n_samples, temperature, seed, progress,
                         return_probs, forced, sample_fn or sample_next)
    finally:
        torch.set_num_threads(n_threads)


def sample_next(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """One code per row of ``logits`` (B, 256), drawn from ``softmax(logits / temperature)``."""
    p = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(p.cpu(), 1, generator=generator)[:, 0].to(logits.device)


def _generate(model, pitch, family, n_samples, temperature, seed, progress, return_probs, forced,
              sample_fn):
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
            if forced is not None and n < forced.shape[1]:
                nxt = forced[:, n].to(dev)
            else:
                nxt = sample_fn(logits, temperature, gen).to(dev)
            if return_probs:
                probs_out[:, n] = torch.softmax(logits / temperature, dim=-1).cpu()
            out[:, n] = nxt
            window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
    out = out[:, :n_samples]
    if return_probs:
        return out, probs_out[:, :n_samples]
    return out

