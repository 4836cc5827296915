"""The Transformer's recipe (chapter 05): tokens, training, checkpoints, generation, commands.

The model itself is :mod:`coursekit.models.transformer`. Here is everything around it:

- **Tokens.** A codec (the course's reference codec ``codec.pt``, another codec checkpoint, or
  EnCodec) turns NSynth notes and MAESTRO performances into codes, cached under
  ``cache_root()/tokens`` by the codec's :func:`~coursekit.recipes.codec.latent_digest`;
  :class:`NoteSteps` and :class:`PerformanceWindows` lay them out as pattern sequences.
- **Training** on :func:`coursekit.train.train` (:func:`train_lm`: AdamW, warm-up then cosine,
  clipping); :func:`train_transformer` is the whole run of ``python -m coursekit train
  transformer``, its options (fine-tuning from ``init`` among them) in :class:`TrainOptions`.
- **Checkpoints** (:mod:`coursekit.checkpoint`, kind ``"transformer"``): :func:`save_model`,
  :func:`load_model`; :func:`tokenizer_for` loads the codec a model was trained on and refuses
  one whose ``latent_digest`` differs from the model's config.
- **Generation**: :func:`generate_notes` (NSynth-format note dicts), :func:`continue_audio`.

Example
-------
>>> from coursekit.recipes.transformer import load_model, generate_notes
>>> model = load_model()                                     # doctest: +SKIP
>>> notes = generate_notes(model, [60, 64], ["brass", "flute"], seconds=1.0)   # doctest: +SKIP
>>> notes[0]["audio"].shape                                  # doctest: +SKIP
(16000,)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from .. import checkpoint
from . import (cache_path, finite_float, midi_pitch, nonnegative_float, nonnegative_int, probability,
               refuse_unused, resume_path, say_architecture, seconds, stored_architecture, write_run_card)
from ..data.nsynth import FAMILIES
from ..models import patterns as P
from ..models.transformer import CodecLM, LMConfig, drop_condition, generate, lm_loss
from ..profiles import get_profile

REFERENCE = {"notes": "transformer.pt", "piano": "transformer_piano.pt"}
# what a model of each task (its config's "task") does, and the command that samples it
TASK_USE = {"notes": ("notes of a pitch and an instrument family",
                      "`python -m coursekit sample transformer --checkpoint {path}` (without --prompt)"),
            "piano": ("continues a piano recording",
                      "`python -m coursekit sample transformer --prompt AUDIO --checkpoint {path}`")}
# what a stored config fixes of the model (the tokens' codec, the task and dropout are the run's)
ARCHITECTURE = ("n_q", "pattern", "d_model", "n_layer", "n_head", "max_steps", "n_families", "n_pitches",
                "n_velocities", "families")


# -- Tokenizers: the course codec, or EnCodec when its pretrained weights can be had ---------

def load_tokenizer(name: str = "codec.pt", n_q: int | None = None):
    """The codec that turns audio into tokens and back, and its fingerprint.

    ``name`` is ``'codec.pt'`` (the course's reference codec), a path to another codec
    checkpoint, or ``'encodec'`` (EnCodec's pretrained 24 kHz model, 75 frames/s, 1024 codes a
    codebook: :mod:`coursekit.recipes.encodec`). Returns ``(tokenizer, digest)``: ``digest`` is the
    codec's :func:`~coursekit.recipes.codec.latent_digest` (its encoder and codebooks, what makes
    the tokens), so a codec whose decoder alone was fine-tuned keeps it. ``n_q`` (the codebooks
    the caller will use) does not change the tokenizer: each encodes with any ``n_q`` it has.
    """
    if name == "encodec":
        from .encodec import load_encodec

        codec = load_encodec()
        if codec is None:
            raise FileNotFoundError("EnCodec's pretrained weights are not available here; "
                                    "use the course codec (tokenizer 'codec.pt')")
        return codec, "encodec_24khz"
    from ..paths import REPO_DIR
    from .codec import latent_digest, load_codec

    path = Path(name)
    if not path.is_absolute():
        path = checkpoint.reference(name) if checkpoint.reference(name).exists() else REPO_DIR / name
    codec = load_codec(path)
    return codec, latent_digest(codec)


def default_tokenizer() -> str:
    """The reference codec when it is installed; else the newest codec checkpoint under ``runs/``."""
    from ..paths import REPO_DIR, runs_root

    if checkpoint.reference("codec.pt").exists():
        return "codec.pt"
    found = sorted(runs_root().glob("**/*codec*.pt"), key=lambda p: p.stat().st_mtime)
    found = [f for f in found if ".state" not in f.name and ".train" not in f.name]
    if found:
        f = found[-1].resolve()
        return str(f.relative_to(REPO_DIR)) if f.is_relative_to(REPO_DIR) else str(f)
    raise FileNotFoundError("no codec to make tokens with: the reference codec "
                            "coursekit/checkpoints/codec.pt is missing and runs/ holds none; train one "
                            "with `python -m coursekit train codec --out runs/codec/codec.pt`")


# -- Data: token caches of NSynth notes and MAESTRO performances ---------------------------

def family_ids(families) -> list[int] | int:
    """Family names (or ids) -> ids; raises ValueError naming the valid families."""
    single = isinstance(families, (str, int))
    out = []
    for f in ([families] if single else families):
        if isinstance(f, str):
            if f not in FAMILIES:
                raise ValueError(f"--family: unknown family {f!r}; choose one of {', '.join(FAMILIES)}")
            f = FAMILIES.index(f)
        out.append(int(f))
    return out[0] if single else out


def _cached(kind: str, folder, digest: str, n_q: int, extra: str, make) -> dict:
    """``make()``'s tokens, kept in ``cache_root()/tokens`` under a key of what they depend on."""
    path = cache_path("tokens", folder, f"{kind}|{digest}|{n_q}|{extra}")
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    out = make()
    checkpoint.atomic_write(path, lambda tmp: torch.save(out, tmp))
    return out


def tokenize_nsynth(split_dir, tokenizer, digest: str, n_q: int = 4, seconds: float = 4.0,
                    max_notes: int | None = None, seed: int = 0, batch_size: int = 16,
                    progress: bool = True) -> dict:
    """Codec tokens of the notes of an NSynth split, cached under ``cache_root()/tokens``.

    Returns ``{'codes': int16 [N, n_q, T], 'family', 'pitch', 'velocity': int64 [N],
    'note_str': list}``. The cache key is the folder, the codec's digest, ``n_q`` and the
    selection, so a new codec never reads stale tokens.
    """
    from tqdm.auto import tqdm

    from ..data.nsynth import NSynth

    def make():
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
        return {"codes": torch.cat(codes), "family": torch.tensor(fam), "pitch": torch.tensor(pit),
                "velocity": torch.tensor(vel), "note_str": names}

    return _cached("nsynth", split_dir, digest, n_q, f"{seconds}|{max_notes}|{seed}", make)


def maestro_audio_files(folder, split: str = "train") -> list[Path]:
    """Audio files of one MAESTRO split (real or mini): ``'train'`` or ``'heldout'`` (validation + test)."""
    from ..data.maestro import read_metadata

    rows = read_metadata(folder)
    want = {"train"} if split == "train" else {"validation", "test"}
    files = [Path(folder) / r["audio_filename"] for r in rows if r["split"] in want]
    return [f for f in files if f.exists()]


def tokenize_maestro(folder, tokenizer, digest: str, n_q: int = 4, split: str = "train",
                     max_seconds: float = 60.0, chunk_s: float = 10.0, progress: bool = True) -> dict:
    """Codec tokens of MAESTRO performances (the first ``max_seconds`` of each), cached.

    Returns ``{'codes': list of int16 [n_q, T_i], 'files': list of str}``.
    """
    from tqdm.auto import tqdm

    from ..audio import load

    def make():
        files = maestro_audio_files(folder, split)
        if not files:
            raise FileNotFoundError(f"{folder}: no {split} audio files of MAESTRO found")
        hop = int(tokenizer.sample_rate / tokenizer.frame_rate)
        n = int(chunk_s * tokenizer.sample_rate) // hop * hop
        codes = []
        for f in tqdm(files, desc=f"tokenizing {split} performances", disable=not progress):
            y, _ = load(f, sr=tokenizer.sample_rate, duration=max_seconds)
            parts = [tokenizer.encode(y[i:i + n][None] + 1e-4 * np.random.default_rng(i).standard_normal(
                len(y[i:i + n])).astype(np.float32), n_q=n_q)[0] for i in range(0, len(y) - hop + 1, n)]
            codes.append(torch.cat(parts, dim=-1).to(torch.int16).cpu())
        return {"codes": codes, "files": [str(f) for f in files]}

    return _cached(f"maestro-{split}", folder, digest, n_q, f"{max_seconds}", make)


class NoteSteps(torch.utils.data.Dataset):
    """Pattern sequences of tokenized notes with their conditions: ``(seq [streams, S], family, pitch, velocity)``."""

    def __init__(self, tokens: dict, pattern: str, card: int):
        self.seq = P.build_pattern(tokens["codes"].long(), pattern, card)
        self.cond = [tokens[k] for k in ("family", "pitch", "velocity")]
        self.tokens = tokens

    def to(self, device) -> "NoteSteps":
        """Keep the sequences and conditions on ``device`` (a GPU): batches are cut there."""
        self.seq, self.cond = self.seq.to(device), [c.to(device) for c in self.cond]
        return self

    def __len__(self):
        return len(self.seq)

    def __getitem__(self, i):
        return self.seq[i], *(c[i] for c in self.cond)


class PerformanceWindows(torch.utils.data.Dataset):
    """Random windows of ``n_frames`` frames cut from tokenized performances (drawn with torch's RNG),
    with null conditions (-1)."""

    def __init__(self, codes: list, n_frames: int, pattern: str, card: int, n_items: int = 4096):
        self.codes = [c.long() for c in codes if c.shape[-1] >= n_frames]
        if not self.codes:
            raise ValueError(f"no performance is {n_frames} frames long; use shorter windows")
        self.n_frames, self.pattern, self.card, self.n_items = n_frames, pattern, card, n_items

    def to(self, device) -> "PerformanceWindows":
        """Keep the performances' codes on ``device`` (a GPU): windows are cut there."""
        self.codes = [c.to(device) for c in self.codes]
        return self

    def __len__(self):
        return self.n_items

    def __getitem__(self, i):
        c = self.codes[i % len(self.codes)]
        start = int(torch.randint(0, c.shape[-1] - self.n_frames + 1, (1,)))
        seq = P.build_pattern(c[None, :, start:start + self.n_frames], self.pattern, self.card)[0]
        none = torch.tensor(-1, device=c.device)
        return seq, none, none, none


# -- Training ------------------------------------------------------------------------------

def config_from_profile(profile=None, **overrides) -> LMConfig:
    """The model size of a profile's ``ch05`` section (NSynth's families named)."""
    p = get_profile(profile).ch05
    cfg = LMConfig(n_q=p.n_q, d_model=p.d_model, n_layer=p.n_layer, n_head=p.n_head,
                   cond_dropout=p.cond_dropout, dropout=p.dropout, n_families=len(FAMILIES),
                   families=list(FAMILIES))
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def train_lm(model: CodecLM, dataset, batch_size: int = 16, lr: float = 2e-3,
             max_steps: int | None = None, time_budget_s: float | None = None, ckpt_path=None,
             resume: bool = False, seed: int = 0, eval_batch=None, eval_every: int | None = None,
             progress: bool = True, desc: str = "transformer", device=None, amp: bool | None = None,
             data_on_device: bool | None = None, loss_fn=lm_loss):
    """Train with the course loop (:func:`coursekit.train.train`): AdamW, 50 warm-up steps then a
    cosine to a tenth of ``lr`` over ``max_steps`` or the time budget, gradients clipped at 1.
    ``amp`` and ``data_on_device`` (default: the profile's) put mixed precision and the tokens
    on a GPU (:func:`coursekit.train.data_device`). ``loss_fn(model, seq, cond)`` is the loss
    (default :func:`~coursekit.models.transformer.lm_loss`; one written on the page can stand in).

    Returns the loop's History (``loss`` in nats per token; ``val_loss`` every ``eval_every``
    steps on ``eval_batch``, a batch of :class:`NoteSteps` or :class:`PerformanceWindows`).
    """
    from ..train import data_device, make_step, seed_everything, to_device, train, warmup_cosine

    seed_everything(seed)
    where = data_device(device, data_on_device)
    if where.type != "cpu" and hasattr(dataset, "to"):
        dataset = dataset.to(where)
    data = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                       drop_last=len(dataset) > batch_size)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": other, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95))

    def batch_loss(batch):              # a batch of (seq [B, streams, S], family, pitch, velocity)
        seq, fam, pit, vel = batch
        null = model.null_condition(len(seq), seq.device)
        return loss_fn(model, seq, drop_condition(model.condition_ids(fam, pit, vel), model.cfg.cond_dropout, null))

    eval_fn = None
    if eval_batch is not None:
        def eval_fn(step):
            seq, fam, pit, vel = to_device(eval_batch, model.pos_emb.weight.device)
            return {"val_loss": loss_fn(model, seq, model.condition_ids(fam, pit, vel)).item()}

    return train(make_step(model, opt, batch_loss, clip_grad=1.0), data, state={"model": model, "opt": opt},
                 max_steps=max_steps, time_budget_s=time_budget_s, ckpt_path=ckpt_path, resume=resume,
                 eval_fn=eval_fn, eval_every=eval_every, config=asdict(model.cfg), seed=seed, desc=desc,
                 progress=progress, kind="transformer", device=device, schedule=warmup_cosine(50, 0.1),
                 amp=amp)


# -- Saving and loading ----------------------------------------------------------------------

def save_model(model: CodecLM, path, half: bool = True, step: int = 0, **extra) -> Path:
    """Write config + weights (float16 by default: half the size) to ``path``."""
    return checkpoint.save(path, kind="transformer", config=asdict(model.cfg), state={"model": model},
                           step=step, half=half, **extra)


def reference_checkpoint(task: str = "notes") -> Path:
    """The shipped reference model of ``task`` (``'notes'`` or ``'piano'``)."""
    if task not in REFERENCE:
        raise ValueError(f"unknown task {task!r}; choose notes or piano")
    return checkpoint.reference(REFERENCE[task])


def load_model(path=None, task: str | None = None, device="cpu", hint: str | None = None) -> CodecLM:
    """A model saved by :func:`save_model` or a training checkpoint (default: the reference of
    ``task``, notes when None). With ``task`` given, a checkpoint of the other task is refused;
    a file that is not a transformer checkpoint, or whose weights do not fit its config, is one
    ``ValueError`` naming the file (ending with ``hint``, default: how to train one)."""
    path = Path(path) if path is not None else reference_checkpoint(task or "notes")
    hint = hint or (f"train one with `python -m coursekit train transformer --task {task or 'notes'} "
                    f"--profile full --out {REFERENCE.get(task or 'notes', 'transformer.pt')}`")
    ckpt = checkpoint.load(path, kind="transformer", map_location=device, hint=hint)
    stored = ckpt["config"].get("task", "notes")
    if task is not None and stored != task and stored in TASK_USE:
        raise ValueError(f"{path} is the {stored} transformer ({TASK_USE[stored][0]}), not a {task} "
                         f"model; {TASK_USE[stored][1].format(path=path)} samples it; for {task} "
                         f"give a checkpoint of `train transformer --task {task}`")

    def make():
        config = dict(ckpt["config"])
        config.setdefault("latent_digest", config.pop("tokenizer_sha", ""))  # files naming it tokenizer_sha
        cfg = checkpoint.checked(LMConfig.from_dict(config))
        if not cfg.families and cfg.n_families == len(FAMILIES):
            cfg.families = list(FAMILIES)
        model = CodecLM(cfg)
        model.load_state_dict(checkpoint.float_weights(ckpt["state"]["model"]))
        return model
    return checkpoint.build(path, "transformer", make, hint=hint).to(device).eval()


def tokenizer_for(model: CodecLM):
    """The codec the model's tokens came from (on the model's device), refused unless its
    ``latent_digest`` is the config's."""
    tok, digest = load_tokenizer(model.cfg.tokenizer, model.cfg.n_q)
    tok = tok.to(model.pos_emb.weight.device)
    want = model.cfg.latent_digest
    if want and not digest.startswith(want):
        raise ValueError(f"the codec {model.cfg.tokenizer} (latent_digest {digest}) is not the one this model "
                         f"was trained on ({want}); its tokens would mean other sounds. "
                         "Retrain the transformer on this codec's tokens.")
    return tok


# -- Notes in, notes out -------------------------------------------------------------------

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
    from .codec import prepare_audio

    tokenizer = tokenizer or tokenizer_for(model)
    x = prepare_audio(np.asarray(prompt_audio, np.float32)[None], sr, tokenizer.sample_rate, "prompt")
    codes = tokenizer.encode(x, n_q=model.cfg.n_q)                      # [1, K, T_prompt]
    n_frames = codes.shape[-1] + int(round(seconds * model.cfg.frame_rate))
    out = generate(model, n_frames, prompt=codes.expand(n, -1, -1), temperature=temperature,
                   top_k=top_k, top_p=top_p, seed=seed, progress=progress)
    return decode_codes(tokenizer, out)


# -- The command line: python -m coursekit train transformer / sample transformer ----------

@dataclass
class TrainOptions:
    """One run of ``python -m coursekit train transformer``; with ``init`` it is a fine-tune."""

    out: str                       # the model file to write (its card beside it, .json)
    task: str = "notes"            # notes (conditioned on family, pitch, velocity) | piano
    profile: str | None = None     # model size, data and budget (default: the active profile)
    data: str | None = None        # NSynth train split or MAESTRO folder (default: the profile's)
    codec: str | None = None       # the tokenizer (default: default_tokenizer())
    init: str | None = None        # fine-tune: start from this checkpoint (its architecture and weights)
    seed: int = 0
    resume: bool = False           # continue the run's training checkpoint under runs_root()
    device: str | None = None
    time_budget: float | None = None   # seconds (default: the profile's)


def _held_out(task: str, folder: Path, tok, digest: str, p, cfg: LMConfig, n_frames: int, seed: int):
    """Held-out data for the validation loss (NSynth valid beside the train split, notes cut to
    ``n_frames``; MAESTRO's validation + test performances) and its description, or ``(None, None)``."""
    if task == "notes":
        valid_dir = folder.parent / folder.name.replace("train", "valid")
        if valid_dir != folder and (valid_dir / "examples.json").exists():
            v = tokenize_nsynth(valid_dir, tok, digest, cfg.n_q, p.note_seconds, 64, seed=seed)
            v = {**v, "codes": v["codes"][..., :n_frames]}
            return NoteSteps(v, cfg.pattern, cfg.card), f"{len(v['codes'])} notes of {valid_dir}"
    elif maestro_audio_files(folder, "heldout"):
        v = tokenize_maestro(folder, tok, digest, cfg.n_q, "heldout")
        try:
            return (PerformanceWindows(v["codes"], n_frames, cfg.pattern, cfg.card, n_items=64),
                    f"windows of the held-out performances of {folder}")
        except ValueError:                     # every held-out performance is shorter than a window
            pass
    return None, None


def train_transformer(opts: TrainOptions) -> Path:
    """Tokenize the data with the codec (cached), train within the profile's budget, keep a
    resumable training checkpoint at ``<out>.train.pt`` beside ``opts.out``, then write
    the compact model to ``opts.out`` and its card beside it. Returns the model's path.

    The model is the profile's; with ``opts.init`` it has the init checkpoint's architecture
    (:data:`ARCHITECTURE`; sequences longer than its ``max_steps`` are cut to fit), with
    ``opts.resume`` the one the run's training state was saved with. Training (steps, batch,
    learning rate, dropout, data) stays the profile's."""
    from ..data import dataset_dir
    from ..train import pick_device, seed_everything

    prof = get_profile(opts.profile)
    p = prof.ch05
    if opts.task not in REFERENCE:
        raise ValueError(f"--task must be notes or piano, got {opts.task!r}")
    out, device, t0 = Path(opts.out), pick_device(opts.device), time.perf_counter()
    source, stored = stored_architecture("transformer", out, opts.init, opts.resume,
                                         check=lambda path, hint: load_model(path, task=opts.task, hint=hint))
    n_q = stored["n_q"] if stored is not None else p.n_q
    tok_name = opts.codec or default_tokenizer()
    tok, digest = load_tokenizer(tok_name, n_q)
    if stored is not None and (n_q > tok.n_q or stored.get("card", tok.codebook_size) != tok.codebook_size):
        raise ValueError(f"{source}: its layout ({n_q} codebooks of {stored.get('card')}) does not match "
                         f"the codec {tok_name}'s ({tok.n_q} codebooks of {tok.codebook_size})")
    tok = tok.to(device)                                # tokenize on the device too (cached)
    if opts.task == "notes":
        folder = Path(opts.data) if opts.data else dataset_dir("nsynth", "train", size=p.nsynth_size)
        tokens = tokenize_nsynth(folder, tok, digest, n_q, p.note_seconds, p.max_notes, seed=opts.seed)
        n_frames, budget = tokens["codes"].shape[-1], p.time_budget_s
        data_desc = {"folder": str(folder), "notes": len(tokens["codes"])}
    else:
        folder = Path(opts.data) if opts.data else dataset_dir("maestro", size=p.maestro_size)
        tokens = tokenize_maestro(folder, tok, digest, n_q, "train")
        n_frames, budget = int(round(p.piano_window_s * tok.frame_rate)), p.piano_time_budget_s
        data_desc = {"folder": str(folder), "performances": len(tokens["codes"]),
                     "seconds": round(sum(c.shape[-1] for c in tokens["codes"]) / tok.frame_rate, 1)}
    budget = opts.time_budget if opts.time_budget is not None else budget
    cfg = config_from_profile(prof.name, card=tok.codebook_size, task=opts.task, tokenizer=tok_name,
                              latent_digest=digest, frame_rate=float(tok.frame_rate),
                              sample_rate=int(tok.sample_rate))
    cfg.max_steps = P.sequence_length(n_frames, cfg.n_q, cfg.pattern)
    if stored is not None:
        profile_cfg = cfg
        cfg = LMConfig.from_dict({**asdict(cfg), **{k: stored[k] for k in ARCHITECTURE if k in stored}})
        say_architecture(source, prof.name, asdict(profile_cfg), asdict(cfg), ARCHITECTURE)
        if P.sequence_length(n_frames, cfg.n_q, cfg.pattern) > cfg.max_steps:
            n_frames = next(n for n in range(n_frames, 0, -1)
                            if P.sequence_length(n, cfg.n_q, cfg.pattern) <= cfg.max_steps)
            print(f"training sequences cut to {n_frames} frames ({n_frames / tok.frame_rate:.2f} s), "
                  f"the most {source}'s {cfg.max_steps} positions hold")
            if opts.task == "notes":
                tokens = {**tokens, "codes": tokens["codes"][..., :n_frames]}
    if opts.task == "piano":
        cfg.cond_dropout = 0.0
        dataset = PerformanceWindows(tokens["codes"], n_frames, cfg.pattern, cfg.card)
    else:
        dataset = NoteSteps(tokens, cfg.pattern, cfg.card)
    seed_everything(opts.seed)
    model = CodecLM(cfg)
    if opts.init:
        start = load_model(opts.init, task=opts.task)
        if start.cfg.streams != cfg.streams or start.cfg.vocab != cfg.vocab:
            raise ValueError(f"--init {opts.init}: its layout ({start.cfg.pattern}, {start.cfg.n_q} codebooks "
                             f"of {start.cfg.card}) does not match this run's")
        model.load_state_dict(start.state_dict())
        print(f"initialized from {opts.init} (trained on the tokens of {start.cfg.tokenizer})")
    held_out, val_desc = _held_out(opts.task, folder, tok, digest, p, cfg, n_frames, opts.seed)
    if held_out is None:
        print("no held-out split beside the training data: the logged val_loss is that of a training batch")
        held_out, val_desc = dataset, "a batch of the training data (no held-out split was found)"
    eval_batch = next(iter(torch.utils.data.DataLoader(held_out, batch_size=min(16, len(held_out)))))
    print(f"training the codec transformer ({model.num_params() / 1e6:.2f} M parameters, task {opts.task}) "
          f"on {data_desc}, {cfg.max_steps} steps a sequence, profile {prof.name}, budget {budget:.0f} s, "
          f"tokenizer {tok_name} ({digest}), device {device}")
    history = train_lm(model, dataset, batch_size=p.batch_size, lr=p.lr, max_steps=p.max_steps,
                       time_budget_s=budget, ckpt_path=resume_path(out),
                       resume=opts.resume, seed=opts.seed, eval_batch=eval_batch, eval_every=p.eval_every,
                       desc=f"transformer-{opts.task}", device=device, amp=prof.train.amp,
                       data_on_device=prof.train.data_on_device)
    save_model(model.cpu(), out, step=history[-1]["step"] if history else 0)
    vals = [h["val_loss"] for h in history if "val_loss" in h]
    write_run_card(
        out, model="transformer", task=opts.task, profile=prof.name, started=t0, history=history,
        initialized_from=opts.init, data=data_desc, config=asdict(cfg), parameters=model.num_params(),
        tokenizer={"name": tok_name, "latent_digest": digest, "frame_rate": tok.frame_rate,
                   "n_q": cfg.n_q, "card": cfg.card},
        metrics={"train_loss_last50": float(np.mean([h["loss"] for h in history[-50:]])) if history else None,
                 "val_loss": vals[-1] if vals else None, "val_data": val_desc})
    return out


def add_train_arguments(parser) -> None:
    """The flags of ``train transformer`` beyond the common ones."""
    parser.add_argument("--task", default="notes", choices=sorted(REFERENCE),
                        help="notes (conditioned on family, pitch, velocity) or piano (continuation)")
    parser.add_argument("--init", default=None, help="start from this checkpoint: its model and weights, "
                        "the profile's training (fine-tuning)")
    parser.add_argument("--codec", default=None, help="codec checkpoint that makes the tokens "
                        "(default: the reference codec)")


def train_command(args) -> int:
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    train_transformer(TrainOptions(**{f.name: getattr(args, f.name) for f in fields(TrainOptions)}))
    return 0


def add_sample_arguments(parser) -> None:
    """The flags of ``sample transformer`` beyond the common ones."""
    parser.add_argument("--pitch", type=midi_pitch, default=None, help="MIDI pitch of every note (default: drawn)")
    parser.add_argument("--family", default=None, help="instrument family of every note (default: drawn)")
    parser.add_argument("--prompt", default=None, help="audio file the piano model continues")
    parser.add_argument("--seconds", type=seconds, default=None,
                        help="note or continuation length (default 4)")
    parser.add_argument("--cfg", type=finite_float, default=None, help="guidance scale (default: the profile's)")
    parser.add_argument("--temperature", type=nonnegative_float, default=None,
                        help="default 1; 0: always the likeliest code")
    parser.add_argument("--top-k", type=nonnegative_int, default=None, help="keep the k likeliest codes (0: off)")
    parser.add_argument("--top-p", type=probability, default=None, help="nucleus sampling (notes default: "
                        "the profile's, 0.8; 0: off)")


def sample_command(args) -> int:
    """Notes: without ``--pitch``/``--family`` they are drawn (seeded) from the pitch range each
    family has in NSynth; guidance, top-k and top-p default to the profile's. With ``--prompt``
    the piano model continues the audio file by ``--seconds`` (default 4) and writes the clips
    (prompt + continuation) to an NSynth-format folder recording the prompt (no top-k or top-p
    unless asked)."""
    from ..audio import load
    from ..data.mini_nsynth import FAMILY_SPECS
    from ..data.nsynth import write_nsynth_folder
    from ..train import pick_device

    temperature = 1.0 if args.temperature is None else args.temperature
    top_k, top_p = args.top_k, args.top_p
    if top_k is not None and top_k < 0:
        raise ValueError(f"--top-k must be 0 (off) or a number of codes, got {top_k}")
    if top_p is not None and not 0.0 <= top_p < 1.0:
        raise ValueError(f"--top-p must be 0 (off) or a probability below 1, got {top_p}")
    seconds = 4.0 if args.seconds is None else args.seconds
    t0 = time.perf_counter()
    if args.prompt:
        refuse_unused(args, {"--pitch": args.pitch, "--family": args.family, "--cfg": args.cfg},
                      "with --prompt (the piano model continues the recording, unconditioned)")
        prompt = Path(args.prompt)
        if not prompt.exists():
            raise FileNotFoundError(f"{prompt}: no such audio file to continue")
        model = load_model(args.checkpoint, task="piano", device=pick_device(args.device))
        y, sr = load(prompt)
        clips = continue_audio(model, y, sr, seconds, temperature=temperature, top_k=top_k or 0,
                               top_p=top_p or 0.0, n=args.n, seed=args.seed)
        notes = [{"audio": c, "pitch": 60, "velocity": 100, "instrument_family_str": "keyboard",
                  "instrument_source_str": "acoustic", "generated_by": "transformer_piano",
                  "prompt": str(prompt), "prompt_seconds": round(len(y) / sr, 3),
                  "continuation_seconds": seconds, "seed": args.seed, "temperature": temperature}
                 for c in clips]
        out = write_nsynth_folder(args.out, notes, n_frames=None, overwrite=args.overwrite)
    else:
        model = load_model(args.checkpoint, task="notes", device=pick_device(args.device))
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
        s = get_profile().ch05
        notes = generate_notes(model, pitches, fams, 100, seconds=seconds,
                               cfg_scale=s.cfg_scale if args.cfg is None else args.cfg,
                               temperature=temperature, top_k=s.top_k if top_k is None else top_k,
                               top_p=s.top_p if top_p is None else top_p, seed=args.seed)
        out = write_nsynth_folder(args.out, notes, overwrite=args.overwrite)
    dt = time.perf_counter() - t0
    print(f"wrote {len(notes)} clips to {out} ({len(notes) * seconds / dt:.2f} s of audio per second, {dt:.1f} s)")
    return 0
