"""coursekit.display: players and plots work headless (Agg) on synthetic audio."""

import base64
import io
import re
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

from coursekit import audio, display  # noqa: E402

SR = 16000


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def y():
    return audio.tone(440.0, seconds=0.25, sr=SR)


def _decode_uris(html_text):
    uris = re.findall(r'src="data:audio/wav;base64,([^"]+)"', html_text)
    return [sf.read(io.BytesIO(base64.b64decode(u))) for u in uris]


def test_play_returns_audio_with_the_samples(y):
    from IPython.display import Audio

    p = display.play(y, SR)
    assert isinstance(p, Audio)
    assert p.data[:4] == b"RIFF"
    decoded, rate = sf.read(io.BytesIO(p.data))
    assert rate == SR and len(decoded) == len(y)
    # normalize=False keeps the true level (16-bit rounding aside)
    assert abs(np.abs(decoded).max() - 0.5) < 1e-3


def test_play_label_and_normalize(y):
    p = display.play(0.01 * y, SR, label="quiet <A4>", normalize=True)
    html_text = p._repr_html_()
    assert "quiet &lt;A4&gt;" in html_text and "<audio" in html_text
    decoded, _ = sf.read(io.BytesIO(p.data))
    assert abs(np.abs(decoded).max() - 0.95) < 1e-3


def test_play_clips_loud_audio_with_a_warning(y):
    with pytest.warns(UserWarning, match="clipped"):
        p = display.play(3 * y, SR)
    decoded, _ = sf.read(io.BytesIO(p.data))
    assert np.abs(decoded).max() <= 1.0


def test_play_accepts_torch_and_stereo(y):
    import torch

    display.play(torch.from_numpy(y)[None], SR)  # (1, n) tensor
    p = display.play(np.stack([y, -y]), SR)
    decoded, _ = sf.read(io.BytesIO(p.data))
    assert decoded.shape == (len(y), 2)


def test_bad_audio_is_a_clear_error(y):
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        display.play(bad, SR)
    with pytest.raises(ValueError, match="empty"):
        display.play(np.zeros(0), SR)
    with pytest.raises(ValueError, match="shape"):
        display.play(np.zeros((2, 2, 2)), SR)


def test_silence_plays(y):
    display.play(np.zeros_like(y), SR, normalize=True)


def test_sample_grid_layout_and_content(y):
    items = [(f"n{i}", audio.tone(220.0 * (i + 1), 0.1, SR)) for i in range(6)]
    g = display.sample_grid(items, sr=SR, ncols=4, title="six tones")
    text = g.data
    assert text.count("<tr>") == 2 and text.count("<audio") == 6
    assert "six tones" in text and "n5" in text
    decoded = _decode_uris(text)
    assert len(decoded) == 6 and all(rate == SR for _, rate in decoded)


def test_sample_grid_input_forms(y):
    assert display.sample_grid({"a": y, "b": (y[::2], SR // 2)}, sr=SR).data.count("<audio") == 2
    assert display.sample_grid([y, y, y], sr=SR, ncols=2).data.count("<tr>") == 2
    rates = [r for _, r in _decode_uris(display.sample_grid([("x", y, 8000)]).data)]
    assert rates == [8000]
    with pytest.raises(ValueError, match="sample rate"):
        display.sample_grid([y])
    with pytest.raises(ValueError, match="empty"):
        display.sample_grid([], sr=SR)


def test_compare_players(y):
    t = display.compare_players({"16 kHz": (y, SR), "4 kHz": (y[::4], 4000)}, title="rates")
    assert t.data.count("<audio") == 2 and "4000 Hz" in t.data and "rates" in t.data


def test_plots_return_axes(y):
    ax = display.plot_waveform(y, SR, title="tone")
    assert ax.get_title() == "tone" and len(ax.lines) == 1
    ax = display.plot_waveform(np.stack([y, -y]), SR)
    assert len(ax.lines) == 2
    for y_axis in ("linear", "log", "mel"):
        ax = display.plot_spectrogram(y, SR, hop_length=128, y_axis=y_axis, title=y_axis)
        assert ax.get_title() == y_axis and ax.collections  # the specshow mesh
    S = audio.stft(y, n_fft=512, hop_length=128)
    display.plot_spectrogram(S, SR, hop_length=128)             # complex STFT
    display.plot_spectrogram(audio.magnitude_db(S), SR, hop_length=128)  # dB
    ax = display.plot_mel(y, SR, title="mel")
    assert ax.get_title() == "mel"
    display.plot_mel(audio.log_mel(y, SR, n_mels=40), SR, hop_length=256)
    fig, axes = plt.subplots(1, 2)
    assert display.plot_waveform(y, SR, ax=axes[0]) is axes[0]
    with pytest.raises(ValueError, match="y_axis"):
        display.plot_spectrogram(y, SR, y_axis="bark")


def test_no_warnings_for_normal_use(y):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        display.play(y, SR)
        display.sample_grid([y], sr=SR)
