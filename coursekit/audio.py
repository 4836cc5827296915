"""Audio in and out, and the representations chapter 00 teaches.

Plain functions over NumPy arrays with explicit sample rates, in the spirit of librosa.
Mono audio is a float32 array of shape ``(n,)``; multichannel audio is ``(channels, n)``.

Example
-------
>>> import numpy as np
>>> from coursekit import audio
>>> sr = 16000
>>> y = audio.tone(440.0, seconds=0.5, sr=sr)
>>> codes = audio.mu_law_encode(y)          # int64 in [0, 255]
>>> y_hat = audio.mu_law_decode(codes)
>>> float(np.abs(y - y_hat).max()) < 0.02
True
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "AudioError", "load", "save", "info", "resample", "to_mono", "normalize", "check_audio",
    "tone", "mu_law_encode", "mu_law_decode", "quantize", "stft", "istft", "magnitude_db",
    "log_mel", "mel_filterbank", "griffin_lim", "midi_to_hz", "hz_to_midi", "fix_length",
    "AUDIO_EXTENSIONS", "find_audio_files", "MIN_SAMPLE_RATE", "MAX_SECONDS",
]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")  # what :func:`load` reads
MIN_SAMPLE_RATE = 4000      # Hz; a header claiming less is damaged (1 Hz: a 3 KB file -> 1.5 GB at 16 kHz)
MAX_SECONDS = 20 * 60       # what :func:`load` reads at most by default: 20 minutes


class AudioError(ValueError):
    """Audio that cannot be used, with a message that says what is wrong and what to do."""


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

def find_audio_files(folder) -> list[Path]:
    """Every audio file under ``folder`` (any depth, by its ending: :data:`AUDIO_EXTENSIONS`),
    sorted, so the same folder always gives the same list.

    Raises FileNotFoundError when ``folder`` is not a folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = save(d / "b.wav", tone(440.0, 0.1), 16000); _ = (d / "notes.txt").write_text("x")
    >>> [p.name for p in find_audio_files(d)]
    ['b.wav']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())


def _describe_unreadable(path: Path, err: Exception) -> str:
    size = path.stat().st_size
    if size == 0:
        return f"{path}: the file is empty (0 bytes); re-copy or re-generate it"
    head = path.read_bytes()[:4]
    if path.suffix.lower() == ".wav" and head != b"RIFF":
        return (f"{path}: not a WAV file (it starts with {head!r}, a WAV starts with b'RIFF'); "
                "the file is corrupt or has the wrong extension; re-download or re-generate it")
    return f"{path}: cannot be decoded as audio ({err}); re-download or re-generate it"


def info(path) -> dict:
    """Sample rate, channels, frames and duration of an audio file, without reading the samples."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such audio file")
    try:
        i = sf.info(str(path))
    except Exception as err:  # soundfile raises LibsndfileError / RuntimeError
        raise AudioError(_describe_unreadable(path, err)) from None
    return {"samplerate": i.samplerate, "channels": i.channels, "frames": i.frames,
            "duration": i.frames / i.samplerate, "subtype": i.subtype, "format": i.format}


def _check_size(path: Path, file_sr: int, frames: int, max_seconds: float | None) -> None:
    """Refuse, before anything is read, a sample rate no audio file has or more than
    ``max_seconds`` to read (the file's header alone decides how much memory a load takes)."""
    if file_sr < MIN_SAMPLE_RATE:
        raise AudioError(f"{path}: its header says {file_sr} Hz, below the {MIN_SAMPLE_RATE} Hz of any "
                         "real recording; the file is damaged or not audio; re-generate or re-encode it")
    if max_seconds is not None and frames > max_seconds * file_sr:
        raise AudioError(f"{path}: {frames / file_sr / 60:.1f} minutes to read, more than the "
                         f"{max_seconds / 60:g}-minute limit; cut the file into shorter pieces, or read "
                         "a part of it (offset=, duration=)")


def load(path, sr: int | None = None, mono: bool = True, offset: float = 0.0,
         duration: float | None = None, max_seconds: float | None = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Load a WAV/FLAC/OGG file as float32.

    Parameters
    ----------
    path : str or Path
    sr : int, optional
        Resample to this rate. ``None`` keeps the file's rate.
    mono : bool
        Mix down to one channel (shape ``(n,)``); otherwise ``(channels, n)``.
    offset, duration : float
        Read only part of the file (seconds).
    max_seconds : float or None
        Refuse to read more than this many seconds (default :data:`MAX_SECONDS`, 20 minutes;
        ``None``: no limit). A file whose header gives a sample rate below
        :data:`MIN_SAMPLE_RATE` is refused too. Both are checked from the header, before any
        sample is read.

    Returns
    -------
    y : np.ndarray (float32)
    sr : int

    Raises
    ------
    FileNotFoundError, AudioError
        With a message naming the file and what to do.

    Example
    -------
    >>> y, sr = load("note.wav", sr=16000)   # doctest: +SKIP
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such audio file")
    try:
        with sf.SoundFile(str(path)) as f:
            file_sr = f.samplerate
            start = min(int(round(offset * file_sr)), f.frames)
            frames = -1 if duration is None else int(round(duration * file_sr))
            _check_size(path, file_sr, f.frames - start if frames < 0 else min(frames, f.frames - start),
                        max_seconds)
            if start:
                f.seek(start)
            data = f.read(frames=frames, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as err:
        raise AudioError(_describe_unreadable(path, err)) from None
    y = data.T  # (channels, n)
    if mono:
        y = y.mean(axis=0)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if sr is not None and sr != file_sr:
        y = resample(y, file_sr, sr)
        file_sr = sr
    return y, int(file_sr)


def save(path, y: np.ndarray, sr: int, subtype: str = "PCM_16") -> Path:
    """Write ``y`` (``(n,)`` or ``(channels, n)``) to ``path``; 16-bit PCM by default.

    Values outside [-1, 1] are clipped (with a warning), since 16-bit PCM cannot hold them.
    Parent folders are created.
    """
    import soundfile as sf

    y = np.asarray(y, dtype=np.float32)
    if not np.all(np.isfinite(y)):
        raise AudioError(f"refusing to write {path}: the audio contains NaN or inf")
    peak = float(np.abs(y).max()) if y.size else 0.0
    if subtype.startswith("PCM") and peak > 1.0:
        warnings.warn(f"{path}: peak {peak:.2f} > 1, clipped; normalise first to avoid distortion")
        y = np.clip(y, -1.0, 1.0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y.T if y.ndim == 2 else y, int(sr), subtype=subtype)
    return path


# ---------------------------------------------------------------------------------------------
# Basic operations
# ---------------------------------------------------------------------------------------------

def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's windowed sinc) along the last axis."""
    if orig_sr == target_sr:
        return np.asarray(y, dtype=np.float32)
    import torch
    import torchaudio.functional as AF

    t = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    return AF.resample(t, int(orig_sr), int(target_sr)).numpy()


def to_mono(y: np.ndarray) -> np.ndarray:
    """Average the channels of ``(channels, n)`` audio; mono input is returned unchanged."""
    y = np.asarray(y, dtype=np.float32)
    return y.mean(axis=0) if y.ndim == 2 else y


def normalize(y: np.ndarray, peak: float = 0.95) -> np.ndarray:
    """Scale so the largest absolute sample is ``peak``. Silent input is returned as is."""
    y = np.asarray(y, dtype=np.float32)
    m = float(np.abs(y).max()) if y.size else 0.0
    return y if m == 0.0 else (y * (peak / m)).astype(np.float32)


def check_audio(y: np.ndarray, name: str = "audio", min_rms: float = 1e-5) -> np.ndarray:
    """Raise :class:`AudioError` for empty, non-finite or silent audio; return ``y`` otherwise."""
    y = np.asarray(y)
    if y.size == 0:
        raise AudioError(f"{name}: empty audio (0 samples)")
    if not np.all(np.isfinite(y)):
        n = int((~np.isfinite(y)).sum())
        raise AudioError(f"{name}: {n} samples are NaN or inf; check the model or the file that made it")
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    if rms < min_rms:
        raise AudioError(f"{name}: silent (RMS {rms:.2e}); nothing to analyse")
    return y


def fix_length(y: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad or trim the last axis to exactly ``n`` samples."""
    y = np.asarray(y)
    if y.shape[-1] >= n:
        return y[..., :n]
    pad = [(0, 0)] * (y.ndim - 1) + [(0, n - y.shape[-1])]
    return np.pad(y, pad)


def midi_to_hz(m):
    """MIDI note number to frequency in Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


def hz_to_midi(f):
    """Frequency in Hz to (fractional) MIDI note number."""
    return 69.0 + 12.0 * np.log2(np.asarray(f, dtype=np.float64) / 440.0)


def tone(freq: float, seconds: float = 1.0, sr: int = 16000, amp: float = 0.5) -> np.ndarray:
    """A sine tone: the simplest sound there is."""
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Quantisation and mu-law
# ---------------------------------------------------------------------------------------------

def quantize(y: np.ndarray, bits: int = 8) -> np.ndarray:
    """Uniform (linear) quantisation of [-1, 1] audio to ``2**bits`` levels, returned as float."""
    levels = 2 ** bits
    q = np.round((np.clip(y, -1, 1) + 1) / 2 * (levels - 1))
    return (q / (levels - 1) * 2 - 1).astype(np.float32)


def mu_law_encode(y: np.ndarray, mu: int = 255) -> np.ndarray:
    """Mu-law companding then quantisation to integers in ``[0, mu]`` (ITU-T G.711 style).

    Small amplitudes get finer steps than loud ones, which matches how we hear.
    """
    y = np.clip(np.asarray(y, dtype=np.float64), -1.0, 1.0)
    compressed = np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu)
    return np.round((compressed + 1) / 2 * mu).astype(np.int64)


def mu_law_decode(codes: np.ndarray, mu: int = 255) -> np.ndarray:
    """Inverse of :func:`mu_law_encode`: integers in ``[0, mu]`` back to float32 audio."""
    codes = np.asarray(codes)
    if codes.size and (codes.min() < 0 or codes.max() > mu):
        raise ValueError(f"mu-law codes must lie in [0, {mu}], got [{codes.min()}, {codes.max()}]")
    compressed = codes.astype(np.float64) / mu * 2 - 1
    y = np.sign(compressed) * ((1 + mu) ** np.abs(compressed) - 1) / mu
    return y.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Time-frequency representations
# ---------------------------------------------------------------------------------------------

def stft(y: np.ndarray, n_fft: int = 1024, hop_length: int | None = None) -> np.ndarray:
    """Complex STFT, shape ``(1 + n_fft // 2, frames)`` (librosa's centred Hann STFT)."""
    import librosa

    return librosa.stft(np.asarray(y, dtype=np.float32), n_fft=n_fft,
                        hop_length=hop_length or n_fft // 4)


def istft(S: np.ndarray, hop_length: int | None = None, length: int | None = None) -> np.ndarray:
    """Inverse of :func:`stft`."""
    import librosa

    n_fft = 2 * (S.shape[0] - 1)
    return librosa.istft(S, hop_length=hop_length or n_fft // 4, length=length).astype(np.float32)


def magnitude_db(S: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    """Magnitude of a complex spectrogram in dB relative to its maximum."""
    import librosa

    return librosa.amplitude_to_db(np.abs(S), ref=np.max, top_db=top_db)


def mel_filterbank(sr: int, n_fft: int = 1024, n_mels: int = 80, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """Mel filterbank matrix, shape ``(n_mels, 1 + n_fft // 2)``."""
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)


def log_mel(y: np.ndarray, sr: int, n_fft: int = 1024, hop_length: int = 256, n_mels: int = 80,
            fmin: float = 0.0, fmax: float | None = None, eps: float = 1e-5) -> np.ndarray:
    """Log-mel spectrogram ``log(mel power + eps)``, shape ``(n_mels, frames)``."""
    import librosa

    M = librosa.feature.melspectrogram(y=np.asarray(y, dtype=np.float32), sr=sr, n_fft=n_fft,
                                       hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return np.log(M + eps).astype(np.float32)


def griffin_lim(magnitude: np.ndarray, n_iter: int = 32, hop_length: int | None = None,
                length: int | None = None, seed: int = 0) -> np.ndarray:
    """Recover a waveform from an STFT magnitude by alternating projections (Griffin & Lim, 1984).

    Starts from random phase (seeded) and runs ``n_iter`` iterations of librosa's fast
    Griffin-Lim. More iterations, fewer phase artefacts.
    """
    import inspect

    import librosa

    n_fft = 2 * (magnitude.shape[0] - 1)
    # librosa 1.0 names the seed's argument rng (random_state warns there); 0.10 and 0.11 know
    # only random_state. Both draw the starting phase from this RandomState the same way.
    params = inspect.signature(librosa.griffinlim).parameters
    seed_arg = {"rng" if "rng" in params else "random_state": np.random.RandomState(seed)}
    return librosa.griffinlim(np.asarray(magnitude), n_iter=n_iter,
                              hop_length=hop_length or n_fft // 4, length=length,
                              init="random", **seed_arg).astype(np.float32)
