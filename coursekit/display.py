"""Listen and look: audio players, waveform and spectrogram plots, grids of samples.

Everything here works in JupyterLab, classic Jupyter, VS Code and Colab with nothing but core
IPython: players are ``<audio controls>`` elements holding the sound as a base64 WAV, so they
need no widget extension and survive in a saved notebook. Plots use matplotlib and librosa's
``specshow``; with no display (a test, a server) they draw on the Agg backend and never fail.

Every function takes mono ``(n,)`` or multichannel ``(channels, n)`` audio as a NumPy array or
a torch tensor, with an explicit sample rate.

Example
-------
>>> from coursekit import audio, display
>>> y = audio.tone(440.0, seconds=0.5, sr=16000)
>>> player = display.play(y, 16000, label="A4")       # shows a player in a notebook
>>> ax = display.plot_spectrogram(y, 16000, hop_length=256)
>>> grid = display.sample_grid({"A4": y, "A5": audio.tone(880.0, 0.5, 16000)}, sr=16000)
"""

from __future__ import annotations

import base64
import html
import io
import warnings

import numpy as np

__all__ = ["play", "wav_data_uri", "plot_waveform", "plot_spectrogram", "plot_mel",
           "sample_grid", "compare_players"]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def _to_numpy(y) -> np.ndarray:
    """Torch tensors (any device) and lists to a float32 NumPy array."""
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2 and y.shape[0] == 1:
        y = y[0]
    if y.ndim not in (1, 2):
        raise ValueError(f"audio must have shape (n,) or (channels, n), got shape {y.shape}")
    if y.size == 0:
        raise ValueError("audio is empty (0 samples): nothing to play or plot")
    if not np.all(np.isfinite(y)):
        n = int((~np.isfinite(y)).sum())
        raise ValueError(f"audio has {n} NaN/inf samples; check the model or the file that made it")
    return y


def _prepare(y, normalize: bool, name: str = "audio") -> np.ndarray:
    """Peak-normalise on request; otherwise clip what a player cannot hold (with a warning)."""
    y = _to_numpy(y)
    peak = float(np.abs(y).max())
    if normalize:
        return y if peak == 0.0 else (y * (0.95 / peak)).astype(np.float32)
    if peak > 1.0:
        warnings.warn(f"{name}: peak {peak:.2f} > 1 was clipped for playback; "
                      "pass normalize=True to rescale instead")
        y = np.clip(y, -1.0, 1.0)
    return y


def wav_data_uri(y, sr: int, normalize: bool = False) -> str:
    """A ``data:audio/wav;base64,...`` URI of ``y`` as 16-bit PCM WAV (for ``<audio src=...>``)."""
    import soundfile as sf

    y = _prepare(y, normalize)
    buf = io.BytesIO()
    sf.write(buf, y.T if y.ndim == 2 else y, int(sr), format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _audio_tag(y, sr: int, normalize: bool) -> str:
    return (f'<audio controls preload="none" style="width: 100%; min-width: 160px;" '
            f'src="{wav_data_uri(y, sr, normalize)}"></audio>')


def _items(items, sr):
    """Normalise the ways to give several clips to ``[(label, y, sr), ...]``.

    ``items`` may be a dict ``{label: y}`` or ``{label: (y, sr)}``, a list of arrays (labelled
    by their index), or a list of ``(label, y)`` / ``(label, y, sr)`` tuples.
    """
    out = []
    pairs = items.items() if isinstance(items, dict) else enumerate(items)
    for key, value in pairs:
        label, y, rate = key, value, sr
        if not isinstance(items, dict) and isinstance(value, tuple):
            label, y = value[0], value[1]
            rate = value[2] if len(value) > 2 else sr
        elif isinstance(value, tuple):
            y, rate = value
        if rate is None:
            raise ValueError(f"{label}: no sample rate; pass sr= or give (audio, sr) pairs")
        out.append((str(label), y, int(rate)))
    if not out:
        raise ValueError("nothing to show: the list of clips is empty")
    return out


def _axes(ax, figsize=(8, 2.5)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


# ---------------------------------------------------------------------------------------------
# Players
# ---------------------------------------------------------------------------------------------

def play(y, sr: int, label: str | None = None, normalize: bool = False):
    """A player for ``y`` (an ``IPython.display.Audio``; shown when it ends a cell).

    Parameters
    ----------
    y : array (n,) or (channels, n), or torch tensor
    sr : int
        Sample rate in Hz.
    label : str, optional
        Text shown above the player.
    normalize : bool
        ``False`` (default) plays at the true level, so quiet things sound quiet and a
        quantisation error sounds as loud as it is; samples beyond +-1 are clipped.
        ``True`` rescales the peak to 0.95.

    Example
    -------
    >>> from coursekit import audio
    >>> p = play(audio.tone(440.0, 1.0, 16000), 16000, label="A4, 440 Hz")
    """
    from IPython.display import Audio

    y = _prepare(y, normalize, name=label or "audio")

    class LabelledAudio(Audio):
        def _repr_html_(self):
            inner = super()._repr_html_()
            if label is None:
                return inner
            return f"<div><div style='font-family: monospace'>{html.escape(label)}</div>{inner}</div>"

    # normalize=False is what we want after _prepare; IPython would otherwise rescale
    return LabelledAudio(data=y, rate=int(sr), normalize=False)


def sample_grid(items, sr: int | None = None, ncols: int = 4, normalize: bool = False,
                title: str | None = None):
    """A grid of labelled players (an HTML table; no widgets needed, works in Colab).

    Parameters
    ----------
    items : dict or list
        ``{label: y}``, ``{label: (y, sr)}``, ``[y, ...]`` or ``[(label, y), ...]``.
    sr : int, optional
        Sample rate of every clip that does not bring its own.
    ncols : int
        Players per row.
    normalize : bool
        Rescale each clip to the same peak (default: play at the true level).
    title : str, optional

    Returns
    -------
    IPython.display.HTML

    Example
    -------
    >>> from coursekit import audio
    >>> g = sample_grid([("A3", audio.tone(220.0, 0.5)), ("A4", audio.tone(440.0, 0.5))], sr=16000)
    """
    from IPython.display import HTML

    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    cells = [f"<td style='padding: 4px 8px; vertical-align: top'>"
             f"<div style='font-family: monospace; font-size: 90%'>{html.escape(label)}</div>"
             f"{_audio_tag(y, rate, normalize)}</td>"
             for label, y, rate in _items(items, sr)]
    rows = ["<tr>" + "".join(cells[i:i + ncols]) + "</tr>" for i in range(0, len(cells), ncols)]
    head = f"<div style='font-weight: bold; margin: 4px 0'>{html.escape(title)}</div>" if title else ""
    return HTML(f"{head}<table style='border-collapse: collapse'>{''.join(rows)}</table>")


def compare_players(clips: dict, sr: int | None = None, normalize: bool = False,
                    title: str | None = None):
    """Players side by side, one row per clip, with duration, sample rate and peak level.

    ``clips`` maps a name to audio, or to ``(audio, sr)`` when the rates differ (for instance
    the same sound at 16 kHz and at 4 kHz).

    Example
    -------
    >>> from coursekit import audio
    >>> y = audio.tone(440.0, 0.5, 16000)
    >>> t = compare_players({"original": y, "8 bits": audio.quantize(y, 8)}, sr=16000)
    """
    from IPython.display import HTML

    rows = []
    for label, y, rate in _items(clips, sr):
        arr = _to_numpy(y)
        peak = float(np.abs(arr).max())
        peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
        rows.append(f"<tr><td style='padding: 4px 8px; font-family: monospace'>{html.escape(label)}</td>"
                    f"<td style='padding: 4px 8px'>{_audio_tag(arr, rate, normalize)}</td>"
                    f"<td style='padding: 4px 8px; font-size: 85%'>{arr.shape[-1] / rate:.2f} s, "
                    f"{rate} Hz, peak {peak_db:.1f} dBFS</td></tr>")
    head = f"<div style='font-weight: bold; margin: 4px 0'>{html.escape(title)}</div>" if title else ""
    return HTML(f"{head}<table style='border-collapse: collapse'>{''.join(rows)}</table>")


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------

def plot_waveform(y, sr: int, ax=None, title: str | None = None, **kwargs):
    """Plot amplitude against time (seconds). Returns the matplotlib axes.

    Multichannel audio is drawn one line per channel. Extra keyword arguments go to ``ax.plot``.

    Example
    -------
    >>> from coursekit import audio
    >>> ax = plot_waveform(audio.tone(440.0, 0.01, 16000), 16000, title="10 ms of A4")
    """
    y = _to_numpy(y)
    ax = _axes(ax)
    t = np.arange(y.shape[-1]) / sr
    kwargs.setdefault("lw", 0.8)
    for i, channel in enumerate(np.atleast_2d(y)):
        ax.plot(t, channel, label=f"channel {i}" if y.ndim == 2 else None, **kwargs)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    ax.set_xlim(t[0], t[-1] if len(t) > 1 else 1.0 / sr)
    if y.ndim == 2:
        ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    return ax


def plot_spectrogram(S, sr: int, hop_length: int | None = None, y_axis: str = "linear",
                     ax=None, title: str | None = None, n_fft: int = 1024, colorbar: bool = True,
                     n_mels: int = 80, **kwargs):
    """Plot a spectrogram in dB with librosa's ``specshow``. Returns the matplotlib axes.

    Parameters
    ----------
    S : array
        Either audio (1-D: its spectrogram is computed here; for ``y_axis='mel'`` a log-mel
        spectrogram) or a 2-D spectrogram already in dB (a complex STFT is converted to dB).
    sr : int
        Sample rate of the audio the spectrogram came from.
    hop_length : int, optional
        Hop of the spectrogram (default ``n_fft // 4``); sets the time axis.
    y_axis : {'linear', 'log', 'mel'}
        Frequency axis. For a 2-D ``S`` with ``'mel'``, rows must be mel bands.
    ax : matplotlib axes, optional
    n_fft, n_mels : int
        Used when ``S`` is audio.

    Example
    -------
    >>> from coursekit import audio
    >>> ax = plot_spectrogram(audio.tone(440.0, 0.5, 16000), 16000, hop_length=256, y_axis="log")
    """
    import librosa
    import librosa.display

    if y_axis not in ("linear", "log", "mel"):
        raise ValueError(f"y_axis must be 'linear', 'log' or 'mel', got {y_axis!r}")
    hop_length = hop_length or n_fft // 4
    S = S.detach().cpu().numpy() if hasattr(S, "detach") else np.asarray(S)
    if S.ndim == 1:
        y = _to_numpy(S)
        if y_axis == "mel":
            M = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length,
                                               n_mels=n_mels)
            S_db = librosa.power_to_db(M, ref=np.max, top_db=80.0)
        else:
            S_db = librosa.amplitude_to_db(np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length)),
                                           ref=np.max, top_db=80.0)
    elif S.ndim == 2:
        S_db = librosa.amplitude_to_db(np.abs(S), ref=np.max, top_db=80.0) if np.iscomplexobj(S) else S
    else:
        raise ValueError(f"give audio (n,) or a spectrogram (freq, frames), got shape {S.shape}")
    ax = _axes(ax, figsize=(8, 3))
    img = librosa.display.specshow(S_db, sr=sr, hop_length=hop_length, x_axis="time",
                                   y_axis=y_axis, ax=ax, **kwargs)
    if colorbar:
        ax.figure.colorbar(img, ax=ax, format="%+2.0f dB")
    if title:
        ax.set_title(title)
    return ax


def plot_mel(y_or_mel, sr: int, hop_length: int = 256, n_fft: int = 1024, n_mels: int = 80,
             ax=None, title: str | None = None, colorbar: bool = True):
    """Plot a log-mel spectrogram of audio, or of a precomputed mel matrix (in dB or log units).

    Example
    -------
    >>> from coursekit import audio
    >>> ax = plot_mel(audio.tone(440.0, 0.5, 16000), 16000, title="log-mel of A4")
    """
    return plot_spectrogram(y_or_mel, sr, hop_length=hop_length, y_axis="mel", ax=ax, title=title,
                            n_fft=n_fft, n_mels=n_mels, colorbar=colorbar)
