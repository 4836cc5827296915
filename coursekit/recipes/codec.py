"""Chapter 04's recipe: training and fine-tuning the codec, its checkpoints, measurements, commands.

The model itself (:class:`~coursekit.models.codec.NeuralCodec`, its loss, its residual VQ) is in
:mod:`coursekit.models.codec` and :mod:`coursekit.models.rvq`; the training data in
:mod:`coursekit.recipes.codec_data`. Here is everything around them:

- audio in and out at any sample rate: :func:`prepare_audio`, :func:`reconstruct`;
- measurements: :func:`mel_distance`, :func:`si_sdr`, :func:`codebook_usage`;
- training on :func:`coursekit.train.train`: :func:`config_for_profile`, :func:`train_codec`,
  with the fine-tuning options in one :class:`CodecFinetune`;
- checkpoints (:mod:`coursekit.checkpoint`): :func:`save_codec`, :func:`load_codec`, and
  :func:`latent_digest`, the fingerprint of what turns audio into codes and latents;
- the command line: ``python -m coursekit train codec`` and ``codec reconstruct``.

Example
-------
>>> from coursekit.audio import tone
>>> from coursekit.recipes.codec import load_codec, reconstruct, si_sdr
>>> codec = load_codec()                                   # the reference codec
>>> y = tone(440.0, 1.0, sr=22050)
>>> y_hat = reconstruct(codec, y, sr=22050, n_q=8)         # resampled to 16 kHz and back
>>> y_hat.shape, si_sdr(y, y_hat) > 10                     # dB
((22050,), True)
"""

from __future__ import annotations

import copy
import hashlib
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .. import checkpoint
from . import resume_path, say_architecture, stored_architecture, write_run_card
from ..audio import AudioError, fix_length, load, log_mel, mel_filterbank, resample, save
from ..models.codec import STFT_EPS, Codec, NeuralCodec, _say_once, as_batch, codec_loss
from ..models.stft_discriminator import STFTDiscriminator, discriminator_loss, generator_loss
from ..profiles import get_profile
from ..train import (data_device, make_step, optimizer_step, pick_device, seed_everything, train,
                     warmup_cosine)
from .codec_data import SegmentDataset, codec_data_files, find_audio_files, load_clips, synthetic_notes

__all__ = ["REFERENCE", "prepare_audio", "reconstruct", "reconstruct_chunked", "mel_distance", "si_sdr",
           "codebook_usage", "CodecFinetune", "config_for_profile", "train_codec", "latent_digest",
           "save_codec", "load_codec", "add_train_arguments", "train_command", "reconstruct_command"]

REFERENCE = "codec.pt"


# ---------------------------------------------------------------------------------------------
# Audio in and out, at any sample rate
# ---------------------------------------------------------------------------------------------

def prepare_audio(audio, sr: int | None, target_sr: int, name: str = "audio") -> torch.Tensor:
    """Any audio -> the input of a codec: float32 tensor [B, 1, N] at ``target_sr``.

    ``(N,)``, ``(B, N)`` or ``(B, C, N)``; channels are mixed down and another ``sr`` is
    resampled (each said once, as a warning). Empty, NaN/inf or silent audio raises
    :class:`coursekit.audio.AudioError`.
    """
    try:
        x = as_batch(audio, name)
    except ValueError as err:
        raise AudioError(str(err)) from None
    if sr is not None and int(sr) != int(target_sr):
        _say_once(f"sr{sr}", f"{name}: resampled from {sr} Hz to the codec's {target_sr} Hz")
        x = torch.from_numpy(resample(x.cpu().numpy(), int(sr), int(target_sr)))
    return x


@torch.no_grad()
def reconstruct(codec, y, sr: int | None = None, n_q: int | None = None) -> np.ndarray:
    """Encode then decode with any codec of the course's interface (this one, EnCodec's wrapper).

    ``y`` is a NumPy clip ``(N,)``, a batch ``(B, N)`` or ``(B, C, N)`` at ``sr`` (default: the
    codec's); the result has the same number of samples at the same rate, mono.

    Example
    -------
    >>> y_hat = reconstruct(load_codec(), y, sr=44100, n_q=4)   # doctest: +SKIP
    """
    y = np.asarray(y, dtype=np.float32)
    sr_in = int(sr or codec.sample_rate)
    x = prepare_audio(y, sr_in, codec.sample_rate)
    out = codec.decode(codec.encode(x, n_q=n_q))[:, 0, :x.shape[-1]].cpu().numpy()    # [B, N]
    if sr_in != codec.sample_rate:
        out = resample(out, codec.sample_rate, sr_in)
    out = fix_length(out, y.shape[-1])
    return out[0] if y.ndim == 1 else out if y.ndim == 2 else out[:, None]


@torch.no_grad()
def reconstruct_chunked(codec: NeuralCodec, y, sr: int | None = None, n_q: int | None = None,
                        chunk_seconds: float = 10.0, context_seconds: float = 1.0,
                        name: str = "audio") -> np.ndarray:
    """:func:`reconstruct` for audio of any length, in bounded memory: the codec encodes and
    decodes ``chunk_seconds`` at a time, each chunk with ``context_seconds`` of the audio on
    either side, all cut at multiples of the hop. The context covers what the convolutions see,
    so the result is the one-pass result (to float rounding) and a 10-minute file needs the
    memory of 12 seconds rather than ~3 GB. Silence inside a clip is fine; an all-silent, empty
    or NaN clip raises :class:`coursekit.audio.AudioError` naming ``name``.

    Example
    -------
    >>> y_hat = reconstruct_chunked(load_codec(), y, sr=44100, n_q=8)   # doctest: +SKIP
    """
    y = np.asarray(y, dtype=np.float32)
    sr_in = int(sr or codec.sample_rate)
    n_q = codec._check_n_q(n_q)
    x = prepare_audio(y, sr_in, codec.sample_rate, name)                            # [B, 1, N]
    hop, n = codec.hop, x.shape[-1]
    chunk = max(1, round(chunk_seconds * codec.sample_rate / hop)) * hop
    context = int(np.ceil(context_seconds * codec.sample_rate / hop)) * hop
    pieces = []
    for start in range(0, n, chunk):
        lo, hi = max(0, start - context), min(n, start + chunk + context)
        part = x[..., lo:hi].to(codec._device())
        part = torch.nn.functional.pad(part, (0, (-part.shape[-1]) % hop))
        codes = codec.quantizer(codec.encoder(part), n_q)[1]      # codec.encode, minus its checks of
        y_part = codec.decode(codes)[:, 0, start - lo:]           # the whole clip (a silent chunk is fine)
        pieces.append(y_part[:, :min(chunk, n - start)].cpu())
    out = torch.cat(pieces, dim=-1).numpy()                                          # [B, N]
    if sr_in != codec.sample_rate:
        out = resample(out, codec.sample_rate, sr_in)
    out = fix_length(out, y.shape[-1])
    return out[0] if y.ndim == 1 else out if y.ndim == 2 else out[:, None]


# ---------------------------------------------------------------------------------------------
# Measuring a codec: distances between a clip and its reconstruction, codebook usage
# ---------------------------------------------------------------------------------------------

def mel_distance(reference: np.ndarray, estimate: np.ndarray, sr: int = 16000, n_mels: int = 64,
                 n_fft: int = 1024, hop_length: int = 256) -> float:
    """Mean absolute difference of log-mel spectrograms (natural log of power, +1e-5); 0 = identical.

    Example
    -------
    >>> from coursekit.audio import tone
    >>> y = tone(440.0, 0.5)
    >>> mel_distance(y, y)
    0.0
    """
    n = min(len(reference), len(estimate))
    a = log_mel(np.asarray(reference[:n], np.float32), sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    b = log_mel(np.asarray(estimate[:n], np.float32), sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    return float(np.abs(a - b).mean())


def si_sdr(reference: np.ndarray, estimate: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (higher is better; Le Roux et al. 2019).

    The reference is scaled to best match the estimate; what is left over counts as distortion.
    """
    n = min(len(reference), len(estimate))
    s = np.asarray(reference[:n], np.float64)
    e = np.asarray(estimate[:n], np.float64)
    target = (e @ s) / (s @ s + eps) * s
    noise = e - target
    return float(10 * np.log10((target @ target + eps) / (noise @ noise + eps)))


def codebook_usage(codes, codebook_size: int) -> dict:
    """How the codes of each quantizer are spread over its codebook.

    Parameters
    ----------
    codes : array or tensor [B, n_q, T] (or [n_q, T])
    codebook_size : int

    Returns
    -------
    dict with, per quantizer (lists of length n_q): ``perplexity`` = exp(entropy of the code
    histogram) (= codebook_size when every code is equally used, 1 when one code is used
    always), ``used`` (codes chosen at least once), ``dead_fraction`` (share never chosen) and
    ``counts`` ([n_q, codebook_size] histogram).
    """
    c = torch.as_tensor(codes).long().cpu()           # a histogram of a few thousand codes: the CPU's
    if c.ndim == 2:
        c = c[None]
    counts = torch.stack([torch.bincount(c[:, i].reshape(-1), minlength=codebook_size)
                          for i in range(c.shape[1])]).double()            # [n_q, K]
    p = counts / counts.sum(dim=1, keepdim=True)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum(dim=1)
    used = (counts > 0).sum(dim=1)
    return {"perplexity": torch.exp(entropy).tolist(), "used": used.tolist(),
            "dead_fraction": (1 - used.double() / codebook_size).tolist(),
            "counts": counts.long().numpy()}


# ---------------------------------------------------------------------------------------------
# Training and fine-tuning (through the course's one loop, coursekit.train)
# ---------------------------------------------------------------------------------------------

@dataclass
class CodecFinetune:
    """Where a codec's training starts and what it may change; the defaults train from scratch.

    ``init``: the codec (a :class:`NeuralCodec` or a checkpoint path) to start from.
    ``decoder_only``: train the decoder alone; the encoder and codebooks keep still, so codes and
    latents stay exactly what they were and models trained on them stay valid (the way a better
    vocoder is fitted to an existing codec's tokens). ``freeze_codebooks``: the codebooks keep
    still (no EMA update, no restart) while the encoder and decoder learn, so a code keeps the
    latent it stands for. ``anchor``: weight of :func:`~coursekit.models.codec.anchor_loss`,
    which keeps the latents of loud frames near ``init``'s. ``keep_encoder``: after training,
    write ``init``'s encoder and codebooks back beside the new decoder (``latent_digest``
    unchanged). ``stft_floor``: the floor of the log-STFT loss (0.01 makes quiet tails count).
    ``frame_loss``: weight of :func:`~coursekit.models.codec.frame_convergence_loss`.
    ``si_sdr_loss``: weight of :func:`~coursekit.models.codec.si_sdr_loss` (minus SI-SDR in dB).
    ``synthetic_notes``: how many :func:`~coursekit.recipes.codec_data.synthetic_notes` the
    command line adds to the training mix.

    Example
    -------
    >>> CodecFinetune(init="coursekit/checkpoints/codec.pt", decoder_only=True, frame_loss=1.0)
    ... # doctest: +ELLIPSIS
    CodecFinetune(init='coursekit/checkpoints/codec.pt', decoder_only=True, ...)
    """

    init: object = None
    decoder_only: bool = False
    freeze_codebooks: bool = False
    anchor: float = 0.0
    keep_encoder: bool = False
    stft_floor: float = STFT_EPS
    frame_loss: float = 0.0
    si_sdr_loss: float = 0.0
    synthetic_notes: int = 0

    def __post_init__(self):
        hint = "pass --init CKPT (e.g. --init coursekit/checkpoints/codec.pt)"
        if self.decoder_only and self.init is None:
            raise ValueError(f"--decoder-only fine-tunes the decoder of an existing codec: {hint}")
        if self.synthetic_notes < 0:
            raise ValueError(f"--synthetic-notes must be 0 or more, got {self.synthetic_notes}")
        if not self.stft_floor > 0:
            raise ValueError(f"--stft-floor must be positive (the log of 0 is -inf), got {self.stft_floor}")
        for flag, weight in (("--frame-loss", self.frame_loss), ("--anchor", self.anchor),
                             ("--si-sdr-loss", self.si_sdr_loss)):
            if weight < 0:
                raise ValueError(f"{flag} is a weight, 0 or more (e.g. 1), got {weight}")
        if (self.freeze_codebooks or self.anchor or self.keep_encoder) and self.init is None:
            raise ValueError("--freeze-codebooks, --anchor and --keep-encoder fine-tune an existing "
                             f"codec: {hint}")
        if self.keep_encoder and not (self.freeze_codebooks or self.decoder_only):
            raise ValueError("--keep-encoder writes --init's codebooks back, so the decoder must learn on "
                             "them: add --freeze-codebooks")


def config_for_profile(profile=None) -> Codec:
    """The codec architecture the profile asks for (``codec`` section of the profile table)."""
    s = (profile or get_profile()).codec
    return Codec(channels=s.channels, max_channels=s.max_channels, latent_dim=s.latent_dim,
                 n_q=s.n_q, codebook_size=s.codebook_size)


def train_codec(cfg: Codec, dataset, steps: int, batch_size: int = 8, lr: float = 1e-3,
                finetune: CodecFinetune | None = None, *, time_budget_s: float | None = None,
                ckpt_path=None, ckpt_every: int | None = None, resume: bool = False, seed: int = 0,
                device=None, adversarial: bool = False, progress: bool = True, desc: str = "codec",
                amp: bool | None = None, data_on_device: bool | None = None):
    """Train a :class:`NeuralCodec` on ``dataset`` (items [1, N]); returns ``(model, history)``.

    The loss is :func:`~coursekit.models.codec.codec_loss` with quantizer dropout (half of the
    examples use every quantizer, the other half a random number), plus the STFT
    discriminator's when ``adversarial``. The learning rate warms up for 100 steps (50 from
    ``finetune.init``) and then follows a cosine down to lr / 10 at the end of ``steps`` or of
    the time budget, whichever comes first. ``finetune`` (:class:`CodecFinetune`) starts from an
    existing codec (``cfg`` is then ignored) and says what may change. ``amp`` and
    ``data_on_device`` (default: the profile's) put mixed precision and the clips of a
    :class:`SegmentDataset` on a GPU (:func:`coursekit.train.data_device`).

    Example
    -------
    >>> model, history = train_codec(Codec(channels=4, n_q=2, codebook_size=16), dataset,
    ...                              steps=20)          # doctest: +SKIP
    """
    ft = finetune or CodecFinetune()
    seed_everything(seed)
    device = pick_device(device)
    start = load_codec(ft.init) if isinstance(ft.init, (str, Path)) else ft.init
    model = start if start is not None else NeuralCodec(cfg)
    cfg = model.cfg
    kept = copy.deepcopy([model.encoder.state_dict(), model.quantizer.state_dict()]) \
        if ft.keep_encoder else None
    digest = latent_digest(model) if ft.decoder_only or ft.keep_encoder else None
    anchor = copy.deepcopy(model.encoder).to(device).eval().requires_grad_(False) if ft.anchor else None
    if ft.decoder_only:
        model.encoder.requires_grad_(False)
    model.quantizer.frozen = ft.freeze_codebooks
    trained = model.decoder if ft.decoder_only else model
    opt = torch.optim.Adam(trained.parameters(), lr=lr, betas=(0.5, 0.9))
    state = {"model": model, "opt": opt}
    if adversarial:
        disc = STFTDiscriminator()
        opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.9))
        state |= {"disc": disc, "opt_d": opt_d}
    mel_fb = torch.from_numpy(mel_filterbank(cfg.sample_rate, n_fft=1024, n_mels=64)).to(device)

    def loss_fn(x):                                                        # x [B, 1, N]
        if ft.decoder_only:          # eval() stops the codebooks' EMA updates and restarts
            model.encoder.eval()
            model.quantizer.eval()
        n_q, B = cfg.n_q, x.shape[0]
        if cfg.quantizer_dropout:
            n_q = torch.where(torch.rand(B, device=x.device) < 0.5,
                              torch.full((B,), cfg.n_q, device=x.device),
                              torch.randint(1, cfg.n_q + 1, (B,), device=x.device))
        loss, logs, x_hat = codec_loss(model, x, n_q, mel_fb=mel_fb, stft_eps=ft.stft_floor,
                                       frame_weight=ft.frame_loss, anchor=anchor, anchor_weight=ft.anchor,
                                       si_sdr_weight=ft.si_sdr_loss)
        if adversarial:              # the discriminator's step first, then the decoder faces it
            d_loss = discriminator_loss(disc, x_hat, x)
            optimizer_step(d_loss, opt_d)
            g_adv = generator_loss(disc, x_hat, x)
            loss = loss + g_adv
            logs |= {"g_adv": float(g_adv.detach()), "d_loss": float(d_loss.detach())}
        return loss, logs

    if isinstance(dataset, SegmentDataset):
        dataset = dataset.to(data_device(device, data_on_device))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
    history = train(make_step(model, opt, loss_fn, clip_grad=5.0), loader, state, max_steps=steps,
                    time_budget_s=time_budget_s, ckpt_path=ckpt_path, ckpt_every=ckpt_every,
                    resume=resume, config=asdict(cfg), seed=seed, desc=desc, progress=progress,
                    kind="codec", device=device, amp=amp,
                    schedule=warmup_cosine(warmup=50 if start is not None else 100, floor=0.1))
    model.quantizer.frozen = False
    model.requires_grad_(True)
    if kept is not None:
        model.encoder.load_state_dict(kept[0])
        model.quantizer.load_state_dict(kept[1])
    if digest is not None and latent_digest(model) != digest:
        raise RuntimeError("the encoder or codebooks changed in a decoder-only or keep-encoder "
                           "fine-tune (a bug)")
    return model.eval(), history


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------

def latent_digest(codec) -> str:
    """A short fingerprint of what turns audio into codes and latents: the encoder and codebooks.

    Two codecs with the same digest give the same codes and latents for the same audio, so a
    model trained on one codec's tokens (chapter 05) or latents (chapter 06) records this digest
    and checks it when loaded. The decoder is left out: fine-tuning it alone
    (``train codec --init CKPT --decoder-only``) keeps the digest, and those models stay valid.

    Example
    -------
    >>> latent_digest(load_codec())
    'a154e1a3873b3999'
    """
    h = hashlib.sha256()
    for k, v in sorted(codec.state_dict().items()):
        if k.startswith("encoder.") or (k.startswith("quantizer.") and k.endswith(".codebook")):
            h.update(k.encode())
            h.update(v.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def save_codec(model: NeuralCodec, path, step: int = 0, **extra) -> Path:
    """Write what inference needs (config, weights, codebooks; no optimizer state)."""
    return checkpoint.save(path, kind="codec", config=asdict(model.cfg), state={"model": model},
                           step=step, **extra)


def load_codec(path=None, device: str | None = "cpu", hint: str | None = None) -> NeuralCodec:
    """Load a codec checkpoint (``None``: the course's reference codec). A file that is not a
    codec checkpoint, or whose weights do not fit its config, is one ``ValueError`` naming it
    and ending with ``hint`` (default: which command writes one).

    Example
    -------
    >>> codec = load_codec()
    >>> codec.frame_rate, codec.codebook_size, codec.bitrate(8)
    (50.0, 256, 3200.0)
    """
    path = Path(path) if path is not None else checkpoint.reference(REFERENCE)
    if not path.exists():
        hint = ("the reference codec is missing from this installation; train one with "
                "`python -m coursekit train codec --out codec.pt` and pass its path"
                if path == checkpoint.reference(REFERENCE) else "check the path")
        raise FileNotFoundError(f"{path}: no such codec checkpoint; {hint}")
    hint = hint or "give a codec checkpoint written by `python -m coursekit train codec`"
    ckpt = checkpoint.load(path, kind="codec", hint=hint)
    if not ckpt["config"] or "model" not in ckpt["state"]:
        raise ValueError(f"{path} is not a codec checkpoint (no config or no model weights); {hint}")

    def make():
        model = NeuralCodec(checkpoint.checked(Codec.from_dict(ckpt["config"])))
        model.load_state_dict(ckpt["state"]["model"])
        return model
    return checkpoint.build(path, "codec", make, hint=hint).to(device or "cpu").eval()


# ---------------------------------------------------------------------------------------------
# The command line: `train codec` and `codec reconstruct`
# ---------------------------------------------------------------------------------------------

def add_train_arguments(parser) -> None:
    """The flags of ``python -m coursekit train codec`` beyond the common ones: fine-tuning."""
    from . import at_most, finite_float, nonnegative_int

    a = parser.add_argument
    a("--init", default=None, help="start from this codec checkpoint's weights (fine-tuning)")
    a("--decoder-only", action="store_true", help="with --init, train the decoder alone; codes and "
      "latents stay the same, so models trained on them stay valid")
    a("--synthetic-notes", type=at_most(nonnegative_int, 2000, "they are made in memory"), default=0, help="add this many synthetic harmonic notes (MIDI "
      "55-106) to the training mix; the mini datasets have few high notes")
    a("--stft-floor", type=finite_float, default=None, help="floor of the log-STFT loss (default 0.1; 0.01 "
      "makes quiet decaying tails count)")
    a("--frame-loss", type=finite_float, default=None, help="weight of a frame-by-frame spectral convergence "
      "term in which quiet frames count as much as loud ones (e.g. 1; default 0)")
    a("--si-sdr-loss", type=finite_float, default=None, help="weight of minus the SI-SDR in dB, which "
      "rewards matching the waveform itself, phase included (e.g. 0.05; default 0)")
    a("--freeze-codebooks", action="store_true", help="with --init, keep the codebooks still while "
      "the encoder and decoder learn (a code keeps its latent)")
    a("--anchor", type=finite_float, default=None, help="with --init, weight of a term keeping the latents "
      "of loud frames where --init's encoder put them (e.g. 1; default 0)")
    a("--keep-encoder", action="store_true", help="with --init, write --init's encoder and codebooks "
      "back beside the newly trained decoder, so codes and latents stay exactly what they were")


def finetune_from_args(args) -> CodecFinetune:
    """The :class:`CodecFinetune` that the flags of ``train codec`` ask for."""
    return CodecFinetune(init=args.init, decoder_only=args.decoder_only,
                         freeze_codebooks=args.freeze_codebooks, anchor=args.anchor or 0.0,
                         keep_encoder=args.keep_encoder,
                         stft_floor=STFT_EPS if args.stft_floor is None else args.stft_floor,
                         frame_loss=args.frame_loss or 0.0, si_sdr_loss=args.si_sdr_loss or 0.0,
                         synthetic_notes=args.synthetic_notes or 0)


def train_command(args) -> int:
    """``python -m coursekit train codec --profile P --out CKPT [--resume] [--data DIR] [--init CKPT ...]``.

    Trains on the profile's mix of NSynth, GTZAN and MAESTRO (or every audio file under
    ``--data``), writes the codec to ``--out`` and its card beside it (``.json``); the
    optimizer's state for ``--resume`` goes to ``<out>.train.pt`` beside ``--out``.
    """

    from . import given_by

    p = get_profile(args.profile)
    s = p.codec
    ft = finetune_from_args(args)
    start = given_by("--init", load_codec, ft.init) if ft.init else None
    cfg = start.cfg if start is not None else config_for_profile(p)
    out = Path(args.out)
    source, stored = stored_architecture("codec", out, resume=args.resume, check=load_codec)
    if stored is not None:  # a resumed run keeps the codec it was started with
        say_architecture(source, p.name, asdict(cfg), stored, [k for k in stored if k in asdict(cfg)])
        cfg = Codec.from_dict(stored)
    t0 = time.perf_counter()
    if args.data:
        files = {"data": find_audio_files(args.data)}
        if not files["data"]:
            raise FileNotFoundError(f"{args.data}: no audio files (.wav, .flac, ...) found")
    else:
        files = codec_data_files("train", p)
    groups = {k: load_clips(v, cfg.sample_rate, s.train_seconds, seed=args.seed) for k, v in files.items()}
    if ft.synthetic_notes:
        groups["synthetic"] = synthetic_notes(ft.synthetic_notes, cfg.sample_rate, seed=args.seed)
    for k, v in groups.items():
        print(f"  {k}: {len(v)} clips, {sum(map(len, v)) / cfg.sample_rate:.0f} s at {cfg.sample_rate} Hz")
    segment = int(round(s.segment_seconds * cfg.sample_rate / cfg.hop)) * cfg.hop
    dataset = SegmentDataset(groups, segment, n_segments=max(s.steps * s.batch_size // 2, 4 * s.batch_size),
                             weights={"nsynth": 2.0, "gtzan": 1.0, "maestro": 1.0, "synthetic": 1.0},
                             seed=args.seed)
    budget = args.time_budget if args.time_budget is not None else s.time_budget_s
    print(f"codec: {NeuralCodec(cfg).num_params():,} parameters, {s.steps} steps of "
          f"{s.batch_size} x {segment / cfg.sample_rate:.2f} s, time budget {budget:.0f} s"
          + (f"; from {ft.init}" if ft.init else "") + ("; decoder only" if ft.decoder_only else ""))
    lr = s.lr * (0.3 if start is not None else 1.0)   # a fine-tune starts from a trained model: smaller steps
    model, history = train_codec(cfg, dataset, s.steps, s.batch_size, lr, replace(ft, init=start),
                                 time_budget_s=budget, ckpt_path=resume_path(out), ckpt_every=s.ckpt_every,
                                 resume=args.resume, seed=args.seed, device=args.device,
                                 adversarial=s.adversarial, amp=p.train.amp,
                                 data_on_device=p.train.data_on_device)
    model = model.cpu()
    save_codec(model, out, step=history[-1]["step"] if history else 0)
    data = {k: f"{len(v)} files, {sum(map(len, groups[k])) / cfg.sample_rate:.0f} s used"
            for k, v in files.items()}
    if ft.synthetic_notes:
        data["synthetic"] = f"{ft.synthetic_notes} notes (synthetic_notes, seed {args.seed})"
    write_run_card(
        out, model="codec", profile=p.name, started=t0, history=history, initialized_from=ft.init,
        data=data, config=asdict(cfg),
        metrics={"final_losses": {k: round(v, 4) for k, v in history[-1].items()} if history else {}},
        parameters=model.num_params(), **{k: v for k, v in asdict(ft).items() if k != "init"},
        sample_rate=cfg.sample_rate,
        frame_rate=model.frame_rate, bitrates_bps=model.bitrates(), latent_digest=latent_digest(model))
    return 0


def reconstruct_command(args) -> int:
    """``python -m coursekit codec reconstruct IN_DIR OUT_DIR [--n-q N] [--checkpoint CKPT] [--device D]``.

    An NSynth-format folder (``examples.json`` + ``audio/``) gives an NSynth-format folder with
    the same ``examples.json``; any other folder gives the same relative file names (as WAV at
    each file's own sample rate), so ``coursekit eval`` can compare the two folders.

    ``OUT_DIR`` must be new, empty or written by an earlier run (:mod:`coursekit.outputs`);
    ``--overwrite`` lets it be another folder, where only the files of the same names are
    replaced. An ``OUT_DIR`` inside ``IN_DIR`` is left out of the inputs. Every input is checked
    before any work, and the results are moved into ``OUT_DIR`` only once all are made, so a
    failed or interrupted run leaves ``OUT_DIR`` as it was. Files are encoded in chunks
    (:func:`reconstruct_chunked`), so a long one needs little memory.
    """
    from ..outputs import UserError

    in_dir, out_dir = Path(args.in_dir), Path(args.out_dir)
    if not in_dir.is_dir():
        raise FileNotFoundError(f"IN_DIR {in_dir}: no such folder")
    if out_dir.resolve() == in_dir.resolve():
        raise UserError(f"OUT_DIR {out_dir} is IN_DIR: the originals would be overwritten; choose "
                        "another OUT_DIR")
    nsynth = (in_dir / "examples.json").exists()
    files = _reconstruct_inputs(in_dir / "audio" if nsynth else in_dir, out_dir)
    if not files:
        raise FileNotFoundError(f"IN_DIR {in_dir}: no audio files to reconstruct")
    targets = {f.relative_to(in_dir).with_suffix(".wav").as_posix(): f for f in files}
    if len(targets) < len(files):
        raise UserError(f"IN_DIR {in_dir}: two files differ only by their ending (e.g. x.wav and "
                        "x.flac) and would both become the same WAV; keep one of each")
    new_dir = not out_dir.exists()
    _claim_reconstruct_dir(out_dir, [*targets, *(["examples.json"] if nsynth else [])], args.overwrite)
    try:
        model = load_codec(args.checkpoint, device=pick_device(args.device))
        try:
            n_q = model._check_n_q(args.n_q)
        except ValueError as err:
            raise UserError(f"--n-q {args.n_q}: {err}") from None
        _check_reconstruct_inputs(in_dir, files)
        t0 = time.perf_counter()
        seconds = _write_reconstructions(model, n_q, in_dir, out_dir, targets, nsynth)
    except BaseException:
        if new_dir and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise
    print(f"{len(files)} files ({seconds:.0f} s of audio) reconstructed at n_q={n_q} "
          f"({model.bitrate(n_q):.0f} bit/s) into {out_dir} in {time.perf_counter() - t0:.1f} s")
    return 0


_PARTIAL = ".coursekit-partial-"    # the folder inside OUT_DIR where a run writes until it is done


def _reconstruct_inputs(folder: Path, out_dir: Path) -> list[Path]:
    """The audio files under ``folder``, leaving out those under ``out_dir`` (an earlier run's)."""
    out = out_dir.resolve()
    return [f for f in find_audio_files(folder) if not f.resolve().is_relative_to(out)]


def _claim_reconstruct_dir(out_dir: Path, targets: list[str], overwrite: bool) -> None:
    """Create ``out_dir`` or raise :class:`~coursekit.outputs.UserError` naming it: unwritable, a
    user's folder (without ``overwrite``), or a folder where a run wrote before that now holds a
    user's file of a name this run writes."""
    from ..outputs import UserError, claim_dir, marked_files, owned

    if out_dir.is_dir():                   # what a killed run left: its unfinished folder
        for stale in out_dir.glob(_PARTIAL + "*"):
            shutil.rmtree(stale, ignore_errors=True)
    claim_dir(out_dir, overwrite=overwrite, option="OUT_DIR")
    if owned(out_dir) and not overwrite:
        ours = set(marked_files(out_dir))
        theirs = [t for t in targets if (out_dir / t).exists() and t not in ours]
        if theirs:
            raise UserError(f"OUT_DIR {out_dir}: {theirs[0]} was not written by the course; pass "
                            "--overwrite to replace it, or choose another OUT_DIR")


def _clip_problem(path: Path) -> str | None:
    """Why ``path`` cannot be reconstructed (unreadable, empty, NaN, silent), or None."""
    try:
        y, _ = load(path)
    except AudioError as err:
        return str(err).removeprefix(f"{path}: ")
    if y.size == 0:
        return "empty (0 samples)"
    if not np.all(np.isfinite(y)):
        return "has NaN or inf samples"
    if float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) < 1e-5:
        return "silent"
    return None


def _check_reconstruct_inputs(in_dir: Path, files: list[Path], shown: int = 10) -> None:
    """Raise :class:`~coursekit.outputs.UserError` naming every file (the first ``shown``) that
    cannot be reconstructed."""
    from ..outputs import UserError

    bad = [f"{f.relative_to(in_dir)} ({why})" for f in files if (why := _clip_problem(f))]
    if bad:
        more = f"; and {len(bad) - shown} more" if len(bad) > shown else ""
        raise UserError(f"IN_DIR {in_dir}: {len(bad)} of {len(files)} files cannot be reconstructed: "
                        f"{'; '.join(bad[:shown])}{more}; remove or replace them and run again "
                        "(nothing was written)")


def _write_reconstructions(model, n_q: int, in_dir: Path, out_dir: Path, targets: dict,
                           nsynth: bool) -> float:
    """Reconstruct each file of ``targets`` (output name -> input file) into a folder inside
    ``out_dir``, then move them all into place and mark them; returns the seconds of audio."""
    import os
    import tempfile

    from tqdm.auto import tqdm

    from ..outputs import mark_written, marked_files

    stage, seconds = Path(tempfile.mkdtemp(prefix=_PARTIAL, dir=out_dir)), 0.0
    try:
        for rel, f in tqdm(targets.items(), desc=f"reconstruct ({model.bitrate(n_q) / 1000:.1f} kbps)",
                           mininterval=2):
            y, sr = load(f, mono=False)
            if y.shape[0] > 1:
                _say_once("stereo", f"{f.name}: stereo mixed down to mono (the codec is mono)")
            y = y.mean(axis=0)
            y_hat = reconstruct_chunked(model, y, sr=sr, n_q=n_q, name=str(f))
            save(stage / rel, np.clip(y_hat, -1, 1), sr)
            seconds += len(y) / sr
        names = list(targets)
        if nsynth:
            shutil.copyfile(in_dir / "examples.json", stage / "examples.json")
            names.append("examples.json")
        for rel in names:
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / rel, out_dir / rel)
        mark_written(out_dir, [*marked_files(out_dir), *names])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return seconds
