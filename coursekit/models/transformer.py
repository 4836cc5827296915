"""Chapter 05: a decoder-only Transformer over codec tokens (MusicGen-lite).

Read it top to bottom::

    audio --codec.encode--> codes [B, K, T] --pattern--> steps [B, streams, S]
    prefix (family, pitch, velocity) + steps --Transformer--> logits of the next step
    sampled steps --revert pattern--> codes --codec.decode--> audio

- **Tokens.** The course codec (chapter 04) turns 1 s of 16 kHz audio into 50 frames of K
  codes (EnCodec's 24 kHz model into 75 frames). A 4 s note is 200 frames; with K = 4 and the
  delay pattern (:mod:`coursekit.models.patterns`) that is 203 steps.
- **Embedding.** Each step holds one token per stream; the K token embeddings are *summed*
  into one vector, plus a learned position embedding.
- **Conditioning** is a prefix of three tokens: instrument family, pitch and velocity, each
  from its own embedding table (pitch also gets smooth sinusoidal features, so neighbouring
  pitches share what they learn). Every table has one extra "null" entry: in training the whole
  condition is replaced by nulls with probability ``cond_dropout``, so the same model is also an
  unconditional model, which **classifier-free guidance** needs at sampling time:
  ``logits = uncond + scale * (cond - uncond)``.
- **Blocks** (GPT-2 / nanoGPT): pre-norm, causal self-attention, MLP; the same block serves a
  full forward pass (training) and one step with a **KV cache** (generation: the keys and
  values of past positions are kept, so each new step costs one position, not the whole prefix).
- **Heads.** K linear heads, one per stream, give K distributions for the next step.
- **Sampling**: temperature, top-k, top-p (nucleus), guidance, a batch of notes at once.

The same class trains on single notes (``task='notes'``, conditioned) and on piano performances
(``task='piano'``, unconditioned, continued from a prompt).

Example
-------
>>> import torch
>>> from coursekit.models.transformer import LMConfig, CodecLM, generate
>>> model = CodecLM(LMConfig(n_q=2, card=16, d_model=32, n_layer=1, n_head=2, max_steps=40)).eval()
>>> codes = generate(model, n_frames=10, family=[1, 2], pitch=[60, 64], velocity=[100, 100], seed=0)
>>> tuple(codes.shape)                      # [B, K, T]
(2, 2, 10)
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..profiles import get_profile
from . import patterns as P


FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string",
            "synth_lead", "vocal")
REFERENCE = {"notes": "transformer.pt", "piano": "transformer_piano.pt"}


# ---------------------------------------------------------------------------------------------
# Configuration (saved in every checkpoint)
# ---------------------------------------------------------------------------------------------

@dataclass
class LMConfig:
    """Hyper-parameters of :class:`CodecLM`."""

    n_q: int = 4                   # K codebooks of the codec
    card: int = 256                # codebook size (codes 0..card-1; card = the empty token)
    pattern: str = "delay"         # flatten | parallel | delay
    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    max_steps: int = 256           # longest sequence of steps (positions) the model can see
    dropout: float = 0.0
    n_families: int = len(FAMILIES)
    n_pitches: int = 128
    n_velocities: int = 128
    cond_dropout: float = 0.2
    # recorded for sampling and cards
    task: str = "notes"            # notes | piano
    tokenizer: str = "codec.pt"    # which codec made the tokens (see load_tokenizer)
    tokenizer_sha: str = ""
    frame_rate: float = 50.0
    sample_rate: int = 16000

    @property
    def streams(self) -> int:
        return P.n_streams(self.pattern, self.n_q)

    @property
    def vocab(self) -> int:
        return P.vocab_size(self.pattern, self.n_q, self.card)

    @classmethod
    def from_dict(cls, d: dict) -> "LMConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


N_PREFIX = 3   # family, pitch, velocity


# ---------------------------------------------------------------------------------------------
# The Transformer (nanoGPT-style), with a KV cache
# ---------------------------------------------------------------------------------------------

class KVCache:
    """Keys and values of every layer for the positions seen so far.

    ``layers[i]`` is ``(k, v)`` with shape [B, heads, L, head_dim]; ``length`` is L.
    """

    def __init__(self, n_layer: int):
        self.layers: list = [None] * n_layer

    @property
    def length(self) -> int:
        return 0 if self.layers[0] is None else self.layers[0][0].shape[2]

    def update(self, i: int, k: torch.Tensor, v: torch.Tensor):
        """Append this call's keys/values to layer ``i``'s and return all of them."""
        if self.layers[i] is not None:
            k = torch.cat([self.layers[i][0], k], dim=2)
            v = torch.cat([self.layers[i][1], v], dim=2)
        self.layers[i] = (k, v)
        return k, v

    def select(self, index: torch.Tensor) -> None:
        """Keep only the batch entries ``index`` (e.g. to reorder)."""
        self.layers = [None if kv is None else (kv[0][index], kv[1][index]) for kv in self.layers]


class SelfAttention(nn.Module):
    """Causal multi-head self-attention; with a cache, new queries attend to all past keys."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        assert cfg.d_model % cfg.n_head == 0, "d_model must be a multiple of n_head"
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def forward(self, x, cache: KVCache | None = None, layer: int = 0):
        B, L, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)
        q, k, v = (t.view(B, L, self.n_head, D // self.n_head).transpose(1, 2) for t in (q, k, v))
        past = 0
        if cache is not None:
            past = 0 if cache.layers[layer] is None else cache.layers[layer][0].shape[2]
            k, v = cache.update(layer, k, v)                       # [B, H, past + L, hd]
        drop = self.dropout if self.training else 0.0
        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
        else:
            # query i (absolute position past + i) sees keys 0 .. past + i
            allowed = torch.ones(L, past + L, dtype=torch.bool, device=x.device).tril(diagonal=past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=drop)
        y = y.transpose(1, 2).reshape(B, L, D)
        return self.proj(y)


class Block(nn.Module):
    """Pre-norm Transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(),
                                 nn.Linear(4 * cfg.d_model, cfg.d_model), nn.Dropout(cfg.dropout))

    def forward(self, x, cache=None, layer=0):
        x = x + self.attn(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


def pitch_features(pitch: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of a MIDI pitch [B] -> [B, dim]: nearby pitches get nearby vectors."""
    half = dim // 2
    periods = 128.0 ** (torch.arange(half, device=pitch.device) / half)    # 1 .. 128 semitones
    angle = 2 * math.pi * pitch.float()[:, None] / periods[None]
    return torch.cat([angle.sin(), angle.cos()], dim=1)


class CodecLM(nn.Module):
    """Decoder-only Transformer over pattern steps; see the module docstring for the picture."""

    def __init__(self, cfg: LMConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or LMConfig()
        D = cfg.d_model
        # conditioning tables: the last id of each is "null" (unconditioned)
        self.family_emb = nn.Embedding(cfg.n_families + 1, D)
        self.pitch_emb = nn.Embedding(cfg.n_pitches + 1, D)
        self.pitch_proj = nn.Linear(D, D)
        self.velocity_emb = nn.Embedding(cfg.n_velocities + 1, D)
        # tokens: one table per stream, summed; positions learned
        self.token_emb = nn.ModuleList(nn.Embedding(cfg.vocab, D) for _ in range(cfg.streams))
        self.pos_emb = nn.Embedding(N_PREFIX + cfg.max_steps, D)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(D)
        self.heads = nn.ModuleList(nn.Linear(D, cfg.vocab, bias=False) for _ in range(cfg.streams))
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- conditioning -------------------------------------------------------------------------
    def null_condition(self, batch: int, device=None) -> dict:
        """The unconditioned prefix ids for a batch (family, pitch, velocity all null)."""
        c = self.cfg
        full = lambda v: torch.full((batch,), v, dtype=torch.long, device=device)  # noqa: E731
        return {"family": full(c.n_families), "pitch": full(c.n_pitches), "velocity": full(c.n_velocities)}

    def condition_ids(self, family=None, pitch=None, velocity=None, batch: int | None = None) -> dict:
        """Turn conditions (ints, lists, tensors; None or -1 = null) into id tensors [B]."""
        c = self.cfg
        dev = self.pos_emb.weight.device
        out = {}
        for name, value, n in (("family", family, c.n_families), ("pitch", pitch, c.n_pitches),
                               ("velocity", velocity, c.n_velocities)):
            if isinstance(value, str) or (isinstance(value, (list, tuple)) and value and isinstance(value[0], str)):
                value = family_ids(value)
            if value is None:
                out[name] = None
                continue
            t = torch.as_tensor(value, dtype=torch.long, device=dev).reshape(-1)
            if int(t.max()) >= n:
                raise ValueError(f"{name} must be below {n} (or -1 / None for no condition), got {int(t.max())}")
            out[name] = torch.where(t < 0, torch.full_like(t, n), t)
        sizes = {len(v) for v in out.values() if v is not None} | ({batch} if batch else set())
        if len(sizes) > 1:
            raise ValueError(f"conditions of different batch sizes: {sorted(sizes)}; give one value per note")
        B = sizes.pop() if sizes else 1
        null = self.null_condition(B, dev)
        return {k: (null[k] if v is None else v.expand(B) if len(v) == 1 else v) for k, v in out.items()}

    def prefix(self, cond: dict) -> torch.Tensor:
        """The three prefix vectors [B, 3, D] of a condition dict of id tensors."""
        p = cond["pitch"]
        is_null = (p == self.cfg.n_pitches)[:, None]
        pitch_vec = self.pitch_emb(p) + self.pitch_proj(pitch_features(p, self.cfg.d_model)) * ~is_null
        return torch.stack([self.family_emb(cond["family"]), pitch_vec,
                            self.velocity_emb(cond["velocity"])], dim=1)

    # -- the forward pass ------------------------------------------------------------------
    def forward(self, steps: torch.Tensor, cond: dict | None = None, cache: KVCache | None = None):
        """Logits of the next step at every position.

        Parameters
        ----------
        steps : int tensor [B, streams, S]
            Steps fed in (pattern tokens). With ``cond`` (a fresh start) position 0 is the
            prefix and the output has S + 1 positions: the prediction of step 0 (from the prefix
            alone), step 1, ..., step S. Without ``cond`` the steps continue what ``cache``
            holds, and the output has S positions.
        cond : dict of id tensors [B], optional
            From :meth:`condition_ids`; needed on the first call.
        cache : KVCache, optional
            Filled in place; pass the same object on the next call to continue.

        Returns
        -------
        logits : float tensor [B, streams, positions, vocab]
        """
        B, n_streams, S = steps.shape
        if n_streams != self.cfg.streams:
            raise ValueError(f"steps have {n_streams} streams; this model has {self.cfg.streams}")
        x = sum(emb(steps[:, j]) for j, emb in enumerate(self.token_emb)) if S else \
            self.pos_emb.weight.new_zeros(B, 0, self.cfg.d_model)                  # [B, S, D]
        if cond is not None:
            x = torch.cat([self.prefix(cond), x], dim=1)                           # [B, 3 + S, D]
        start = 0 if cache is None else cache.length
        if start + x.shape[1] > self.pos_emb.num_embeddings:
            raise ValueError(f"sequence of {start + x.shape[1]} positions is longer than the model's "
                             f"{self.pos_emb.num_embeddings} (max_steps {self.cfg.max_steps} + prefix)")
        x = self.drop(x + self.pos_emb(torch.arange(start, start + x.shape[1], device=x.device)))
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        if cond is not None:
            x = x[:, N_PREFIX - 1:]     # the last prefix position predicts step 0
        x = self.ln_f(x)
        return torch.stack([head(x) for head in self.heads], dim=1)


# ---------------------------------------------------------------------------------------------
# Training loss
# ---------------------------------------------------------------------------------------------

def drop_condition(cond: dict, p: float, null: dict) -> dict:
    """Replace the whole condition of each example by nulls with probability ``p`` (for CFG)."""
    if p <= 0:
        return cond
    B = next(iter(cond.values())).shape[0]
    drop = torch.rand(B, device=null["pitch"].device) < p
    return {k: torch.where(drop, null[k], v) for k, v in cond.items()}


def lm_loss(model: CodecLM, seq: torch.Tensor, cond: dict):
    """Cross-entropy (nats per token) of every non-empty position of ``seq`` [B, streams, S].

    The empty positions (the corners of the delay pattern, token ``card``) are not predicted:
    they are fixed by the pattern, never sampled.
    """
    logits = model(seq[:, :, :-1], cond)                                # [B, streams, S, vocab]
    target = seq.clone()
    if model.cfg.pattern != "flatten":
        target[target == model.cfg.card] = -100
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)


# ---------------------------------------------------------------------------------------------
# Sampling: temperature, top-k, top-p, guidance
# ---------------------------------------------------------------------------------------------

def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row (last axis), set the others to -inf; k <= 0 keeps all."""
    if k is None or k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability reaches ``p``.

    The most likely token is always kept; ``p <= 0`` or ``p >= 1`` keeps all.
    """
    if p is None or p <= 0 or p >= 1:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs              # mass of the tokens ranked above
    remove_sorted = before >= p                        # already reached p without this token
    remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def cfg_logits(cond_logits: torch.Tensor, uncond_logits: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: ``uncond + scale * (cond - uncond)`` (scale 1 = no guidance).

    Mixed as log-probabilities so that the two distributions are on the same footing.
    """
    c, u = cond_logits.log_softmax(-1), uncond_logits.log_softmax(-1)
    return u + scale * (c - u)


def sample_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 0.0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of ``logits`` [..., vocab]; temperature 0 = argmax."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = top_p_filter(top_k_filter(logits / temperature, top_k), top_p)
    probs = logits.softmax(dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def generate(model: CodecLM, n_frames: int, family=None, pitch=None, velocity=None, prompt=None,
             n: int | None = None, cfg_scale: float = 1.0, temperature: float = 1.0, top_k: int = 0,
             top_p: float = 0.0, seed: int | None = 0, use_cache: bool = True,
             progress: bool = False) -> torch.Tensor:
    """Sample codes [B, K, n_frames], a batch at once.

    Parameters
    ----------
    model : CodecLM
    n_frames : int
        Frames to produce (including the prompt's). 4 s at 50 Hz = 200.
    family, pitch, velocity :
        Conditions, one per note (or one for all); None = unconditioned.
    prompt : int tensor [B, K, T_p], optional
        Codes of the beginning; generation continues them (the result starts with them).
    n : int, optional
        Batch size when no condition or prompt gives it.
    cfg_scale : float
        Classifier-free guidance scale (1 = plain conditional sampling). The batch is doubled
        (conditioned + null condition) and the two logits combined by :func:`cfg_logits`.
    temperature, top_k, top_p :
        See :func:`sample_logits`.
    use_cache : bool
        Keep keys/values between steps (fast). ``False`` re-runs the whole prefix each step
        (what the cache saves; same result).

    Longer sequences than the model's ``max_steps`` are generated with a sliding window: when
    the window is full, the last half is kept and re-encoded.
    """
    cfg = model.cfg
    dev = model.pos_emb.weight.device
    K, card = cfg.n_q, cfg.card
    if prompt is not None:
        prompt = P._check(prompt).to(dev)
        if prompt.shape[1] != K:
            raise ValueError(f"prompt has {prompt.shape[1]} codebooks; the model uses {K}")
        if int(prompt.max()) >= card or int(prompt.min()) < 0:
            raise ValueError(f"prompt codes must lie in [0, {card - 1}]; was it made by another codec?")
        n_frames = max(n_frames, prompt.shape[2])
    cond = model.condition_ids(family, pitch, velocity,
                               batch=n or (prompt.shape[0] if prompt is not None else None))
    B = cond["pitch"].shape[0]
    if prompt is not None and prompt.shape[0] != B:
        prompt = prompt.expand(B, -1, -1) if prompt.shape[0] == 1 else None
        if prompt is None:
            raise ValueError("give one prompt per note (or one for all)")
    guided = cfg_scale != 1.0
    if guided:
        null = model.null_condition(B, dev)
        cond = {k: torch.cat([cond[k], null[k]]) for k in cond}

    S = P.sequence_length(n_frames, K, cfg.pattern)
    frame, book = (torch.as_tensor(a, device=dev) for a in P.layout(n_frames, K, cfg.pattern))
    empty = frame < 0                                                    # [streams, S]
    # positions fixed by the prompt, and their tokens
    known = torch.zeros_like(empty)
    forced = None
    if prompt is not None:
        T_p = prompt.shape[2]
        padded = torch.cat([prompt, prompt.new_zeros(B, K, n_frames - T_p)], dim=2)
        forced = P.build_pattern(padded, cfg.pattern, card)              # [B, streams, S]
        known = (frame >= 0) & (frame < T_p)
    # flatten: a position of codebook k may only hold ids k*card .. (k+1)*card - 1
    allowed = None
    if cfg.pattern == "flatten":
        ids = torch.arange(cfg.vocab, device=dev)
        allowed = (ids[None] // card) == torch.arange(K, device=dev)[:, None]   # [K, vocab]

    gen = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
    seq = torch.full((B, cfg.streams, S), card if cfg.pattern != "flatten" else 0, dtype=torch.long, device=dev)
    window = cfg.max_steps
    from tqdm.auto import tqdm

    cache = KVCache(cfg.n_layer) if use_cache else None
    offset = 0                                    # first step inside the model's window
    logits = None
    for s in tqdm(range(S), desc="generate", disable=not progress, mininterval=1):
        if s - offset >= window:                  # window full: keep the last half, re-encode
            offset = s - window // 2
            cache = KVCache(cfg.n_layer) if use_cache else None
            logits = None
        if logits is None or not use_cache:
            inp = seq[:, :, offset:s]
            inp = torch.cat([inp, inp]) if guided else inp
            out = model(inp, cond, cache) if use_cache else model(inp, cond)
            logits = out[:, :, -1]                                        # [B(*2), streams, vocab]
        step_logits = cfg_logits(logits[:B], logits[B:], cfg_scale) if guided else logits
        if cfg.pattern != "flatten":
            step_logits = step_logits.clone()
            step_logits[..., card] = float("-inf")                          # never sample "empty"
        if allowed is not None:
            step_logits = step_logits.masked_fill(~allowed[book[:, s]][None], float("-inf"))
        tok = sample_logits(step_logits.float().cpu(), temperature, top_k, top_p, gen).to(dev)
        tok = torch.where(empty[:, s][None], torch.full_like(tok, card), tok)
        if forced is not None:
            tok = torch.where(known[:, s][None], forced[:, :, s], tok)
        seq[:, :, s] = tok
        if use_cache and s + 1 < S and s + 1 - offset < window:
            nxt = tok[:, :, None]
            nxt = torch.cat([nxt, nxt]) if guided else nxt
            logits = model(nxt, None, cache)[:, :, -1]
        elif use_cache:
            logits = None
    return P.revert_pattern(seq, cfg.pattern, K, card, n_frames=n_frames)


# ---------------------------------------------------------------------------------------------
# Tokenizers: the course codec, or EnCodec when its pretrained weights can be had
# ---------------------------------------------------------------------------------------------

class EncodecTokenizer:
    """EnCodec (24 kHz, 75 frames/s, 1024 codes a codebook) behind the course codec's interface."""

    def __init__(self, n_q: int = 4):
        try:
            from encodec import EncodecModel

            self.model = EncodecModel.encodec_model_24khz().eval()
        except Exception as err:  # no network, no cached weights
            raise FileNotFoundError(f"EnCodec's pretrained weights are not available here ({err}); "
                                    "use the course codec (tokenizer 'codec.pt')") from None
        self.model.set_target_bandwidth(1.5 * n_q / 2)     # 2 codebooks per 1.5 kbps
        self.sample_rate, self.frame_rate, self.codebook_size, self.n_q = 24000, 75.0, 1024, n_q

    @torch.no_grad()
    def encode(self, audio, sr=None, n_q=None):
        from .codec import prepare_audio

        x = prepare_audio(audio, sr, self.sample_rate)
        codes = torch.cat([f[0] for f in self.model.encode(x)], dim=-1)
        return codes[:, :n_q or self.n_q]

    @torch.no_grad()
    def decode(self, codes):
        return self.model.decode([(torch.as_tensor(codes).long(), None)])


def load_tokenizer(name: str = "codec.pt", n_q: int | None = None):
    """The codec that turns audio into tokens and back, and its identity.

    ``name`` is ``'codec.pt'`` (the course's reference codec), a path to another codec
    checkpoint, or ``'encodec'``. Returns ``(tokenizer, sha)``: ``sha`` fingerprints what makes
    the tokens, the codec's encoder and codebooks (:func:`coursekit.models.codec.latent_digest`),
    so a codec whose decoder alone was fine-tuned keeps it.
    """
    if name == "encodec":
        return EncodecTokenizer(n_q or 4), "encodec_24khz"
    from ..paths import CHECKPOINT_DIR, REPO_DIR
    from .codec import latent_digest, load_codec

    path = Path(name)
    if not path.is_absolute():
        path = CHECKPOINT_DIR / name if (CHECKPOINT_DIR / name).exists() else REPO_DIR / name
    codec = load_codec(path)
    return codec, latent_digest(codec)[:12]


def default_tokenizer() -> str:
    """The reference codec when it is installed; else the newest codec checkpoint under ``runs/``."""
    from ..paths import CHECKPOINT_DIR, REPO_DIR, runs_root

    if (CHECKPOINT_DIR / "codec.pt").exists():
        return "codec.pt"
    found = sorted(runs_root().glob("**/*codec*.pt"), key=lambda p: p.stat().st_mtime)
    found = [f for f in found if ".state" not in f.name and ".train" not in f.name]
    if found:
        f = found[-1].resolve()
        return str(f.relative_to(REPO_DIR)) if f.is_relative_to(REPO_DIR) else str(f)
    raise FileNotFoundError("no codec to make tokens with: the reference codec "
                            "coursekit/checkpoints/codec.pt is missing and runs/ holds none; train one "
                            "with `python -m coursekit train codec --out runs/codec/codec.pt`")


# ---------------------------------------------------------------------------------------------
# Data: token caches of NSynth notes and MAESTRO performances
# ---------------------------------------------------------------------------------------------

def family_ids(families) -> list[int] | int:
    """Family names (or ids) -> ids; raises ValueError naming the valid families."""
    single = isinstance(families, (str, int))
    out = []
    for f in ([families] if single else families):
        if isinstance(f, str):
            if f not in FAMILIES:
                raise ValueError(f"unknown family {f!r}; choose one of {', '.join(FAMILIES)}")
            f = FAMILIES.index(f)
        out.append(int(f))
    return out[0] if single else out


def _cache_file(kind: str, folder, tokenizer_sha: str, n_q: int, extra: str) -> Path:
    from ..paths import cache_root

    key = hashlib.sha1(f"{Path(folder).resolve()}|{tokenizer_sha}|{n_q}|{extra}".encode()).hexdigest()[:12]
    return cache_root() / "tokens" / f"{kind}-{Path(folder).name}-{key}.pt"


def tokenize_nsynth(split_dir, tokenizer, sha: str, n_q: int = 4, seconds: float = 4.0,
                    max_notes: int | None = None, seed: int = 0, batch_size: int = 16,
                    progress: bool = True) -> dict:
    """Codec tokens of the notes of an NSynth split, cached under ``cache_root()/tokens``.

    Returns ``{'codes': int16 [N, n_q, T], 'family', 'pitch', 'velocity': int64 [N],
    'note_str': list}``. The cache key is the folder, the codec's checksum, ``n_q`` and the
    selection, so a new codec never reads stale tokens.
    """
    from tqdm.auto import tqdm

    from ..data.nsynth import NSynth

    path = _cache_file("nsynth", split_dir, sha, n_q, f"{seconds}|{max_notes}|{seed}")
    if path.exists():
        return torch.load(path, weights_only=True)
    ds = NSynth(split_dir, sample_rate=tokenizer.sample_rate, segment_seconds=seconds)
    idx = np.arange(len(ds))
    if max_notes is not None and len(ds) > max_notes:
        idx = np.sort(np.random.default_rng(seed).choice(len(ds), max_notes, replace=False))
    codes, fam, pit, vel, names = [], [], [], [], []
    for b in tqdm(range(0, len(idx), batch_size), desc="tokenizing notes", disable=not progress):
        items = [ds[int(i)] for i in idx[b:b + batch_size]]
        x = torch.stack([it["audio"] for it in items])
        x = x + 1e-4 * torch.randn(x.shape, generator=torch.Generator().manual_seed(b))  # no silent clip
        codes.append(tokenizer.encode(x, n_q=n_q).to(torch.int16).cpu())
        for it in items:
            fam.append(it["family"]); pit.append(it["pitch"]); vel.append(it["velocity"])
            names.append(it["note_str"])
    out = {"codes": torch.cat(codes), "family": torch.tensor(fam), "pitch": torch.tensor(pit),
           "velocity": torch.tensor(vel), "note_str": names}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{np.random.randint(1 << 30)}")
    torch.save(out, tmp)
    tmp.replace(path)
    return out


def maestro_audio_files(folder, split: str = "train") -> list[Path]:
    """Audio files of one MAESTRO split (real or mini): ``'train'`` or ``'heldout'`` (validation + test)."""
    from ..data.maestro import read_metadata

    rows = read_metadata(folder)
    want = {"train"} if split == "train" else {"validation", "test"}
    files = [Path(folder) / r["audio_filename"] for r in rows if r["split"] in want]
    return [f for f in files if f.exists()]


def tokenize_maestro(folder, tokenizer, sha: str, n_q: int = 4, split: str = "train",
                     max_seconds: float = 60.0, chunk_s: float = 10.0, progress: bool = True) -> dict:
    """Codec tokens of MAESTRO performances (the first ``max_seconds`` of each), cached.

    Returns ``{'codes': list of int16 [n_q, T_i], 'files': list of str}``.
    """
    from tqdm.auto import tqdm

    from ..audio import load

    path = _cache_file(f"maestro-{split}", folder, sha, n_q, f"{max_seconds}")
    if path.exists():
        return torch.load(path, weights_only=True)
    files = maestro_audio_files(folder, split)
    if not files:
        raise FileNotFoundError(f"{folder}: no {split} audio files of MAESTRO found")
    codes, names = [], []
    for f in tqdm(files, desc=f"tokenizing {split} performances", disable=not progress):
        y, _ = load(f, sr=tokenizer.sample_rate, duration=max_seconds)
        hop = int(tokenizer.sample_rate / tokenizer.frame_rate)
        n = int(chunk_s * tokenizer.sample_rate) // hop * hop
        parts = [tokenizer.encode(y[i:i + n][None] + 1e-4 * np.random.default_rng(i).standard_normal(len(y[i:i + n])).astype(np.float32), n_q=n_q)[0] for i in range(0, len(y) - hop + 1, n)]
        codes.append(torch.cat(parts, dim=-1).to(torch.int16).cpu())
        names.append(str(f))
    out = {"codes": codes, "files": names}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{np.random.randint(1 << 30)}")
    torch.save(out, tmp)
    tmp.replace(path)
    return out


class NoteSteps(torch.utils.data.Dataset):
    """Pattern sequences of tokenized notes with their conditions: ``(seq [streams, S], family, pitch, velocity)``."""

    def __init__(self, tokens: dict, pattern: str, card: int):
        self.seq = P.build_pattern(tokens["codes"].long(), pattern, card)
        self.tokens = tokens

    def __len__(self):
        return len(self.seq)

    def __getitem__(self, i):
        t = self.tokens
        return self.seq[i], t["family"][i], t["pitch"][i], t["velocity"][i]


class PerformanceWindows(torch.utils.data.Dataset):
    """Random windows of ``n_frames`` frames cut from tokenized performances (drawn with torch's RNG)."""

    def __init__(self, codes: list, n_frames: int, pattern: str, card: int, n_items: int = 4096):
        self.codes = [c.long() for c in codes if c.shape[-1] >= n_frames]
        if not self.codes:
            raise ValueError(f"no performance is {n_frames} frames long; use shorter windows")
        self.n_frames, self.pattern, self.card, self.n_items = n_frames, pattern, card, n_items

    def __len__(self):
        return self.n_items

    def __getitem__(self, i):
        c = self.codes[i % len(self.codes)]
        start = int(torch.randint(0, c.shape[-1] - self.n_frames + 1, (1,)))
        seq = P.build_pattern(c[None, :, start:start + self.n_frames], self.pattern, self.card)[0]
        none = torch.tensor(-1)
        return seq, none, none, none


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

def train_lm(model: CodecLM, dataset, batch_size: int = 16, lr: float = 2e-3,
             max_steps: int | None = None, time_budget_s: float | None = None, ckpt_path=None,
             resume: bool = False, seed: int = 0, eval_batch=None, eval_every: int | None = None,
             progress: bool = True, desc: str = "transformer"):
    """Train with the course loop (:func:`coursekit.train.train`); AdamW, warm-up then cosine.

    The cosine runs over ``max_steps`` if finite, else over the time budget (the learning rate
    is a function of elapsed training time then). Returns the loop's History (``loss`` in nats
    per token; ``val_loss`` every ``eval_every`` steps on ``eval_batch``).
    """
    from ..train import seed_everything, train

    seed_everything(seed)
    data = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                       drop_last=len(dataset) > batch_size)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": other, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95))
    cfg = model.cfg
    dev = model.pos_emb.weight.device
    t_start, warmup = time.perf_counter(), 50
    finite_steps = max_steps is not None and max_steps < 100000

    def condition(fam, pit, vel):
        return model.condition_ids(fam.to(dev), pit.to(dev), vel.to(dev))

    def step_fn(batch, step):
        seq, fam, pit, vel = batch
        if finite_steps:
            t = step / max(1, max_steps)
        else:
            t = min(1.0, (time.perf_counter() - t_start) / max(1.0, time_budget_s or 1.0))
        now = lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))
        for g in opt.param_groups:
            g["lr"] = now
        cond = condition(fam, pit, vel)
        n = {k: v[:len(seq)] for k, v in model.null_condition(len(seq), dev).items()}
        cond = drop_condition(cond, cfg.cond_dropout, n)
        loss = lm_loss(model, seq.to(dev), cond)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return {"loss": loss.item(), "lr": now}

    eval_fn = None
    if eval_batch is not None:
        def eval_fn(step_no):
            seq, fam, pit, vel = eval_batch
            return {"val_loss": lm_loss(model, seq.to(dev), condition(fam, pit, vel)).item()}

    return train(step_fn, data, state={"model": model, "opt": opt}, max_steps=max_steps,
                 time_budget_s=time_budget_s, ckpt_path=ckpt_path, resume=resume, eval_fn=eval_fn,
                 eval_every=eval_every, config=asdict(cfg), seed=seed, desc=desc, progress=progress)


def config_from_profile(profile=None, **overrides) -> LMConfig:
    """The model size of a profile's ``ch05`` section."""
    p = get_profile(profile).ch05
    cfg = LMConfig(n_q=p.n_q, d_model=p.d_model, n_layer=p.n_layer, n_head=p.n_head,
                   cond_dropout=p.cond_dropout, dropout=p.dropout)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def prepare_notes(profile=None, tokenizer: str | None = None, data=None, progress: bool = True):
    """Tokenize the training and test notes for the profile; returns ``(tok, sha, train, test)``."""
    from ..data import dataset_dir

    p = get_profile(profile).ch05
    name = tokenizer or default_tokenizer()
    tok, sha = load_tokenizer(name, p.n_q)
    train_dir = Path(data) if data else dataset_dir("nsynth", "train", size=p.nsynth_size)
    test_dir = dataset_dir("nsynth", "test", size=p.nsynth_size) if not data else Path(data).parent / "nsynth-test"
    tr = tokenize_nsynth(train_dir, tok, sha, p.n_q, p.note_seconds, p.max_notes, progress=progress)
    te = tokenize_nsynth(test_dir, tok, sha, p.n_q, p.note_seconds, 64, progress=progress) \
        if (test_dir / "examples.json").exists() else None
    return tok, (name, sha), tr, te


# ---------------------------------------------------------------------------------------------
# Saving and loading
# ---------------------------------------------------------------------------------------------

def save_model(model: CodecLM, path, half: bool = True, **extra) -> Path:
    """Write config + weights (float16 by default: half the size) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"model": sd, "config": asdict(model.cfg), "kind": "transformer", **extra}, tmp)
    tmp.replace(path)
    return path


def reference_checkpoint(task: str = "notes") -> Path:
    from ..paths import CHECKPOINT_DIR

    if task not in REFERENCE:
        raise ValueError(f"unknown task {task!r}; choose notes or piano")
    return CHECKPOINT_DIR / REFERENCE[task]


def load_model(path=None, task: str = "notes", device="cpu") -> CodecLM:
    """Load a model saved by :func:`save_model` or a training checkpoint (``weights_only=True``)."""
    path = Path(path) if path is not None else reference_checkpoint(task)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint; train one with `python -m coursekit "
                                f"train transformer --task {task} --profile full --out {path.name}`")
    ckpt = torch.load(path, map_location=device, weights_only=True)
    sd = ckpt["model"] if "state" not in ckpt else ckpt["state"]["model"]
    model = CodecLM(LMConfig.from_dict(ckpt["config"]))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    return model.to(device).eval()


def tokenizer_for(model: CodecLM):
    """The codec the model's tokens came from (checked against the checksum in its config)."""
    tok, sha = load_tokenizer(model.cfg.tokenizer, model.cfg.n_q)
    if model.cfg.tokenizer_sha and sha != model.cfg.tokenizer_sha:
        raise ValueError(f"the codec {model.cfg.tokenizer} (checksum {sha}) is not the one this model "
                         f"was trained on ({model.cfg.tokenizer_sha}); its tokens would mean other sounds. "
                         "Retrain the transformer on this codec's tokens.")
    return tok


# ---------------------------------------------------------------------------------------------
# Notes in, notes out
# ---------------------------------------------------------------------------------------------

def decode_codes(tokenizer, codes: torch.Tensor, out_sr: int = 16000) -> list[np.ndarray]:
    """Codes [B, K, T] -> list of float32 clips at ``out_sr``."""
    from ..audio import resample

    y = tokenizer.decode(codes.long())[:, 0].cpu().numpy()
    if tokenizer.sample_rate != out_sr:
        y = resample(y, tokenizer.sample_rate, out_sr)
    return [np.clip(c, -1, 1).astype(np.float32) for c in y]


def generate_notes(model: CodecLM, pitches, families, velocities=100, tokenizer=None,
                   seconds: float = 4.0, cfg_scale: float = 3.0, temperature: float = 1.0,
                   top_k: int = 0, top_p: float = 0.0, seed: int = 0, batch_size: int = 32,
                   progress: bool = True) -> list[dict]:
    """Notes as NSynth-style dicts (audio at 16 kHz + the asked conditions), ready for
    :func:`coursekit.data.nsynth.write_nsynth_folder`."""
    tokenizer = tokenizer or tokenizer_for(model)
    pitches = [int(p) for p in np.atleast_1d(pitches)]
    fams = family_ids(families)
    fams = [fams] * len(pitches) if isinstance(fams, int) else fams
    vels = [int(v) for v in np.broadcast_to(np.atleast_1d(velocities), (len(pitches),))]
    n_frames = int(round(seconds * model.cfg.frame_rate))
    notes = []
    for b in range(0, len(pitches), batch_size):
        sl = slice(b, b + batch_size)
        codes = generate(model, n_frames, fams[sl], pitches[sl], vels[sl], cfg_scale=cfg_scale,
                         temperature=temperature, top_k=top_k, top_p=top_p, seed=seed + b,
                         progress=progress)
        for j, y in enumerate(decode_codes(tokenizer, codes)):
            notes.append({"audio": y, "pitch": pitches[b + j], "velocity": vels[b + j],
                          "instrument_family_str": FAMILIES[fams[b + j]], "generated_by": "transformer",
                          "seed": seed, "cfg_scale": cfg_scale, "temperature": temperature,
                          "top_k": top_k, "top_p": top_p})
    return notes


def continue_audio(model: CodecLM, prompt_audio: np.ndarray, sr: int, seconds: float,
                   tokenizer=None, temperature: float = 1.0, top_k: int = 0, top_p: float = 0.0,
                   n: int = 1, seed: int = 0, progress: bool = False) -> list[np.ndarray]:
    """Continue a prompt (mono audio at ``sr``) by ``seconds``; returns ``n`` clips at 16 kHz,
    each the prompt's codec reconstruction followed by the continuation."""
    tokenizer = tokenizer or tokenizer_for(model)
    codes = tokenizer.encode(np.asarray(prompt_audio, np.float32)[None], sr=sr, n_q=model.cfg.n_q)
    n_frames = codes.shape[-1] + int(round(seconds * model.cfg.frame_rate))
    out = generate(model, n_frames, prompt=codes.expand(n, -1, -1), temperature=temperature,
                   top_k=top_k, top_p=top_p, seed=seed, progress=progress)
    return decode_codes(tokenizer, out)


# ---------------------------------------------------------------------------------------------
# Command line: python -m coursekit train transformer / sample transformer
# ---------------------------------------------------------------------------------------------

def cli_train(args) -> int:
    """``python -m coursekit train transformer --task notes|piano --profile P --out CKPT [--resume] [--codec C]``.

    Tokenizes the data with the reference codec (cached), trains within the profile's budget
    (``--time-budget`` overrides), keeps a resumable training checkpoint under ``runs_root()``
    (``transformer/<out stem>.train.pt``), then writes the compact model to ``--out`` and its card beside it.
    """
    from ..data import dataset_dir
    from ..train import command_line, pick_device, write_card

    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    prof = get_profile(args.profile)
    p = prof.ch05
    task = args.task or "notes"
    if task not in REFERENCE:
        raise ValueError(f"--task must be notes or piano, got {task!r}")
    out = Path(args.out)
    device = pick_device(args.device)
    t0 = time.perf_counter()
    tok_name = getattr(args, "codec", None) or default_tokenizer()
    tok, sha = load_tokenizer(tok_name, p.n_q)
    if task == "notes":
        train_dir = Path(args.data) if args.data else dataset_dir("nsynth", "train", size=p.nsynth_size)
        tokens = tokenize_nsynth(train_dir, tok, sha, p.n_q, p.note_seconds, p.max_notes, seed=args.seed)
        n_frames = tokens["codes"].shape[-1]
        data_desc = {"folder": str(train_dir), "notes": len(tokens["codes"])}
        budget = p.time_budget_s
    else:
        folder = Path(args.data) if args.data else dataset_dir("maestro", size=p.maestro_size)
        tokens = tokenize_maestro(folder, tok, sha, p.n_q, "train")
        n_frames = int(round(p.piano_window_s * tok.frame_rate))
        data_desc = {"folder": str(folder), "performances": len(tokens["codes"]),
                     "seconds": round(sum(c.shape[-1] for c in tokens["codes"]) / tok.frame_rate, 1)}
        budget = p.piano_time_budget_s
    budget = args.time_budget if args.time_budget is not None else budget
    cfg = config_from_profile(prof.name, card=tok.codebook_size, task=task, tokenizer=tok_name,
                              tokenizer_sha=sha, frame_rate=float(tok.frame_rate),
                              sample_rate=int(tok.sample_rate))
    cfg.max_steps = P.sequence_length(n_frames, cfg.n_q, cfg.pattern)
    if task == "piano":
        cfg.cond_dropout = 0.0
        dataset = PerformanceWindows(tokens["codes"], n_frames, cfg.pattern, cfg.card)
    else:
        dataset = NoteSteps(tokens, cfg.pattern, cfg.card)
    model = CodecLM(cfg).to(device)
    init = getattr(args, "init", None)
    if init:                                   # fine-tune: start from another run's weights
        start = load_model(init, task=task)
        if start.cfg.streams != cfg.streams or start.cfg.vocab != cfg.vocab:
            raise ValueError(f"--init {init}: its layout ({start.cfg.pattern}, {start.cfg.n_q} codebooks "
                             f"of {start.cfg.card}) does not match this run's")
        model.load_state_dict({k: v.to(device) for k, v in start.state_dict().items()}, strict=False)
        print(f"initialized from {init} (trained on the tokens of {start.cfg.tokenizer})")
    # the validation loss is measured on notes / performances the model never trains on
    held_out, val_desc = None, None
    if task == "notes":
        valid_dir = train_dir.parent / train_dir.name.replace("train", "valid")
        if valid_dir != train_dir and (valid_dir / "examples.json").exists():
            v = tokenize_nsynth(valid_dir, tok, sha, p.n_q, p.note_seconds, 64, seed=args.seed)
            held_out, val_desc = NoteSteps(v, cfg.pattern, cfg.card), f"{len(v['codes'])} notes of {valid_dir}"
    elif maestro_audio_files(folder, "heldout"):
        v = tokenize_maestro(folder, tok, sha, p.n_q, "heldout")
        try:
            held_out = PerformanceWindows(v["codes"], n_frames, cfg.pattern, cfg.card, n_items=64)
            val_desc = f"windows of the held-out performances of {folder}"
        except ValueError:                     # every held-out performance is shorter than a window
            pass
    if held_out is None:
        print("no held-out split beside the training data: the logged val_loss is that of a training batch")
        held_out, val_desc = dataset, "a batch of the training data (no held-out split was found)"
    eval_batch = next(iter(torch.utils.data.DataLoader(held_out, batch_size=min(16, len(held_out)))))
    print(f"training the codec transformer ({model.num_params() / 1e6:.2f} M parameters, task {task}) "
          f"on {data_desc}, {cfg.max_steps} steps a sequence, profile {prof.name}, budget {budget:.0f} s, "
          f"tokenizer {tok_name} ({sha})")
    from ..paths import runs_root

    train_ckpt = runs_root() / "transformer" / f"{out.stem}.train.pt"   # resumable state, not package data
    history = train_lm(model, dataset, batch_size=p.batch_size, lr=p.lr, max_steps=p.max_steps,
                       time_budget_s=budget, ckpt_path=train_ckpt, resume=args.resume, seed=args.seed,
                       eval_batch=eval_batch, eval_every=p.eval_every, desc=f"transformer-{task}")
    save_model(model.cpu(), out)
    vals = [h["val_loss"] for h in history if "val_loss" in h]
    card = out.with_suffix(".json")
    write_card(card, model="transformer", task=task, initialized_from=init,
               command=command_line(f"python -m coursekit train transformer --task {task} "
                                     f"--profile {prof.name} --out {args.out}"),
               profile=prof.name, data=data_desc, tokenizer={"name": tok_name, "sha": sha,
                                                              "frame_rate": tok.frame_rate,
                                                              "n_q": cfg.n_q, "card": cfg.card},
               config=asdict(cfg), parameters=model.num_params(),
               steps=history[-1]["step"] if history else 0,
               train_wall_time_s=history[-1]["time"] if history else 0.0,
               total_wall_time_s=round(time.perf_counter() - t0, 1), size_bytes=out.stat().st_size,
               metrics={"train_loss_last50": float(np.mean([h["loss"] for h in history[-50:]])) if history else None,
                        "val_loss": vals[-1] if vals else None, "val_data": val_desc,
                        "evaluation": "results/transformer_eval.json (benchmarks/transformer_eval.py)"})
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and {card}")
    return 0


def cli_sample(args) -> int:
    """``python -m coursekit sample transformer --n N --out DIR [--pitch P] [--family F] [--cfg S]
    [--temperature T] [--top-k K] [--top-p P] [--prompt AUDIO --seconds S] [--checkpoint CKPT] [--seed S]``.

    Notes: without ``--pitch``/``--family`` they are drawn (seeded) from the pitch range each
    family has in NSynth; guidance, top-k and top-p default to the profile's (nucleus 0.8).
    With ``--prompt`` the piano model continues the audio file by ``--seconds`` (default 4) and
    writes the clips (prompt + continuation) to an NSynth-format folder recording the prompt
    (no top-k or top-p unless asked).
    """
    from ..audio import load
    from ..data.mini_nsynth import FAMILY_SPECS
    from ..data.nsynth import write_nsynth_folder

    if args.n <= 0:
        raise ValueError(f"--n must be a positive number of clips, got {args.n}")
    temperature = 1.0 if args.temperature is None else args.temperature
    top_k, top_p = getattr(args, "top_k", None), getattr(args, "top_p", None)
    if top_k is not None and top_k < 0:
        raise ValueError(f"--top-k must be 0 (off) or a number of codes, got {top_k}")
    if top_p is not None and not 0.0 <= top_p < 1.0:
        raise ValueError(f"--top-p must be 0 (off) or a probability below 1, got {top_p}")
    t0 = time.perf_counter()
    if args.prompt:
        prompt = Path(args.prompt)
        if not prompt.exists():
            raise FileNotFoundError(f"{prompt}: no such audio file to continue")
        model = load_model(args.checkpoint, task="piano", device=args.device or "cpu")
        seconds = 4.0 if args.seconds is None else args.seconds
        y, sr = load(prompt)
        clips = continue_audio(model, y, sr, seconds, temperature=temperature, top_k=top_k or 0,
                               top_p=top_p or 0.0, n=args.n, seed=args.seed)
        notes = [{"audio": c, "pitch": 60, "velocity": 100, "instrument_family_str": "keyboard",
                  "instrument_source_str": "acoustic", "generated_by": "transformer_piano",
                  "prompt": str(prompt), "prompt_seconds": round(len(y) / sr, 3),
                  "continuation_seconds": seconds, "seed": args.seed, "temperature": temperature}
                 for c in clips]
        out = write_nsynth_folder(args.out, notes, n_frames=None)
        audio_s = len(notes) * seconds
    else:
        model = load_model(args.checkpoint, task="notes", device=args.device or "cpu")
        rng = np.random.default_rng(args.seed)
        if args.family is not None:
            fams = [family_ids(args.family)] * args.n
        else:
            fams = rng.integers(0, len(FAMILIES), args.n).tolist()
        if args.pitch is not None:
            if not 0 <= args.pitch < model.cfg.n_pitches:
                raise ValueError(f"--pitch must be a MIDI number in 0..{model.cfg.n_pitches - 1}")
            pitches = [args.pitch] * args.n
        else:
            pitches = [int(rng.integers(FAMILY_SPECS[FAMILIES[f]][0][0], FAMILY_SPECS[FAMILIES[f]][0][1] + 1))
                       for f in fams]
        seconds = 4.0 if args.seconds is None else args.seconds
        P = get_profile().ch05
        scale = P.cfg_scale if args.cfg is None else args.cfg
        notes = generate_notes(model, pitches, fams, 100, seconds=seconds, cfg_scale=scale,
                               temperature=temperature, top_k=P.top_k if top_k is None else top_k,
                               top_p=P.top_p if top_p is None else top_p, seed=args.seed)
        out = write_nsynth_folder(args.out, notes)
        audio_s = len(notes) * seconds
    dt = time.perf_counter() - t0
    print(f"wrote {len(notes)} clips to {out} ({audio_s / dt:.2f} s of audio per second, {dt:.1f} s)")
    return 0
