"""Chapter 05: a decoder-only Transformer over codec tokens (MusicGen-lite).

Read it top to bottom::

    audio --codec.encode--> codes [B, K, T] --pattern--> steps [B, streams, S]
    prefix (family, pitch, velocity) + steps --Transformer--> logits of the next step
    sampled steps --revert pattern--> codes --codec.decode--> audio

- **Tokens.** The course codec (chapter 04) turns 1 s of 16 kHz audio into 50 frames of K
  codes. A 4 s note is 200 frames; with K = 4 and the delay pattern
  (:mod:`coursekit.models.patterns`) that is 203 steps.
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

The same class models single notes (``task='notes'``, conditioned) and piano performances
(``task='piano'``, unconditioned, continued from a prompt). Data, training and the codec that
makes the tokens are in :mod:`coursekit.recipes.transformer`.

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

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import patterns as P

N_PREFIX = 3   # family, pitch, velocity


@dataclass
class LMConfig:
    """Hyper-parameters of :class:`CodecLM` (saved in every checkpoint)."""

    n_q: int = 4                   # K codebooks of the codec
    card: int = 256                # codebook size (codes 0..card-1; card = the empty token)
    pattern: str = "delay"         # flatten | parallel | delay
    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    max_steps: int = 256           # longest sequence of steps (positions) the model can see
    dropout: float = 0.0
    n_families: int = 11           # NSynth's instrument families
    n_pitches: int = 128
    n_velocities: int = 128
    cond_dropout: float = 0.2
    families: list = field(default_factory=list)   # family names by id (lets conditions be names)
    task: str = "notes"            # notes | piano (what the tokens are, for sampling and cards)
    tokenizer: str = "codec.pt"    # the codec that made the tokens
    latent_digest: str = ""        # that codec's fingerprint (its encoder and codebooks)
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


# -- The Transformer (nanoGPT-style), with a KV cache -------------------------------------

class KVCache:
    """Keys and values of the positions seen so far: ``layers[i] = (k, v)``, each [B, heads, L, hd]."""

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
                value = [value] if isinstance(value, str) else value       # family names: ids by cfg.families
                if any(f not in c.families for f in value):
                    bad = next(f for f in value if f not in c.families)
                    raise ValueError(f"unknown family {bad!r}; choose one of {', '.join(c.families) or '(none named)'}")
                value = [c.families.index(f) for f in value]
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


# -- Training loss ------------------------------------------------------------------------

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
    they are fixed by the pattern, never sampled. The softmax is taken in float32 (mixed precision).
    """
    logits = model(seq[:, :, :-1], cond).float()                        # [B, streams, S, vocab]
    target = seq.clone()
    if model.cfg.pattern != "flatten":
        target[target == model.cfg.card] = -100
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)


# -- Sampling: temperature, top-k, top-p, guidance ----------------------------------------

def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row (last axis), set the others to -inf; k <= 0 keeps all."""
    if k is None or k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the fewest most likely tokens whose probability reaches ``p`` (the most
    likely token always; ``p <= 0`` or ``p >= 1`` keeps all)."""
    if p is None or p <= 0 or p >= 1:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs              # mass of the tokens ranked above
    remove_sorted = before >= p                        # already reached p without this token
    remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def cfg_logits(cond_logits: torch.Tensor, uncond_logits: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance ``uncond + scale * (cond - uncond)``, before the softmax (scale 1: the
    conditional distribution). Taken of log-softmaxes; on raw logits it differs by one constant a
    row, which the softmax removes: the same distribution."""
    c, u = cond_logits.log_softmax(-1), uncond_logits.log_softmax(-1)
    return u + scale * (c - u)


def sample_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 0.0,
                  generator: torch.Generator | None = None, top_p_fn=top_p_filter) -> torch.Tensor:
    """One token per row of ``logits`` [..., vocab]; temperature 0 = argmax; ``top_p_fn(logits, p)``
    is the nucleus filter (yours can stand in for :func:`top_p_filter`)."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = top_p_fn(top_k_filter(logits / temperature, top_k), top_p)
    probs = logits.softmax(dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


# -- Generation ---------------------------------------------------------------------------

@torch.no_grad()
def generate(model: CodecLM, n_frames: int, family=None, pitch=None, velocity=None, prompt=None,
             n: int | None = None, cfg_scale: float = 1.0, temperature: float = 1.0, top_k: int = 0,
             top_p: float = 0.0, seed: int | None = 0, use_cache: bool = True,
             progress: bool = False, sample_fn=sample_logits) -> torch.Tensor:
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
        See :func:`sample_logits`; ``sample_fn`` (same arguments) draws the tokens of a step.
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
    if prompt is not None and prompt.shape[0] not in (1, B):
        raise ValueError("give one prompt per note (or one for all)")
    prompt = None if prompt is None else prompt.expand(B, -1, -1)
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
    from tqdm.auto import tqdm

    cache = KVCache(cfg.n_layer) if use_cache else None
    offset, logits = 0, None                      # offset: the first step inside the model's window
    for s in tqdm(range(S), desc="generate", disable=not progress, mininterval=1):
        if s - offset >= cfg.max_steps:           # window full: keep the last half, re-encode
            offset = s - cfg.max_steps // 2
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
        tok = sample_fn(step_logits.float().cpu(), temperature, top_k, top_p, gen).to(dev)
        tok = torch.where(empty[:, s][None], torch.full_like(tok, card), tok)
        if forced is not None:
            tok = torch.where(known[:, s][None], forced[:, :, s], tok)
        seq[:, :, s] = tok
        if use_cache and s + 1 < S and s + 1 - offset < cfg.max_steps:
            nxt = tok[:, :, None]
            nxt = torch.cat([nxt, nxt]) if guided else nxt
            logits = model(nxt, None, cache)[:, :, -1]
        elif use_cache:
            logits = None
    return P.revert_pattern(seq, cfg.pattern, K, card, n_frames=n_frames)
