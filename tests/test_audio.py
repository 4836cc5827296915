import numpy as np
import pytest

from coursekit import audio
from coursekit.audio import AudioError


def test_save_load_round_trip(tmp_path):
    y = audio.tone(440.0, seconds=0.25, sr=16000)
    p = audio.save(tmp_path / "a" / "t.wav", y, 16000)
    z, sr = audio.load(p)
    assert sr == 16000 and z.dtype == np.float32 and z.shape == y.shape
    assert np.abs(z - y).max() < 1e-4  # 16-bit quantisation only
    assert audio.info(p)["subtype"] == "PCM_16"


def test_load_resamples_and_mixes_down(tmp_path):
    st = np.stack([audio.tone(220, 0.5, 48000), audio.tone(220, 0.5, 48000)])
    p = audio.save(tmp_path / "st.wav", st, 48000)
    y, sr = audio.load(p, sr=16000)
    assert sr == 16000 and y.ndim == 1 and abs(len(y) - 8000) <= 1
    y2, _ = audio.load(p, mono=False)
    assert y2.shape == (2, 24000)


def test_load_offset_duration(tmp_path):
    p = audio.save(tmp_path / "t.wav", np.linspace(-1, 1, 16000, dtype=np.float32), 16000)
    y, _ = audio.load(p, offset=0.5, duration=0.25)
    assert len(y) == 4000


def test_non_riff_wav_is_named(tmp_path):
    p = tmp_path / "bad.wav"
    p.write_bytes(b"ID3\x03 this is an mp3 pretending to be a wav" * 10)
    with pytest.raises(AudioError, match="not a WAV file.*RIFF"):
        audio.load(p)
    with pytest.raises(AudioError, match="bad.wav"):
        audio.info(p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        audio.load(p)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such audio file"):
        audio.load(tmp_path / "nope.wav")


def test_check_audio_errors():
    with pytest.raises(AudioError, match="NaN"):
        audio.check_audio(np.array([0.1, np.nan, 0.2]))
    with pytest.raises(AudioError, match="silent"):
        audio.check_audio(np.zeros(100))
    with pytest.raises(AudioError, match="empty"):
        audio.check_audio(np.zeros(0))
    y = audio.tone(100, 0.1)
    assert audio.check_audio(y) is y


def test_save_refuses_nan_and_warns_on_clip(tmp_path):
    with pytest.raises(AudioError, match="NaN"):
        audio.save(tmp_path / "n.wav", np.array([0.0, np.nan]), 16000)
    with pytest.warns(UserWarning, match="clipped"):
        audio.save(tmp_path / "c.wav", np.array([0.0, 2.0], dtype=np.float32), 16000)


def test_mu_law_round_trip_and_range():
    y = np.linspace(-1, 1, 2001).astype(np.float32)
    c = audio.mu_law_encode(y)
    assert c.min() == 0 and c.max() == 255 and c.dtype == np.int64
    z = audio.mu_law_decode(c)
    # mu-law steps are finest near zero: the error there is far below the 8-bit linear step
    small = np.abs(y) < 0.01
    assert np.abs(z - y)[small].max() < 1e-3
    # ... and coarsest at full scale: half a step there is ln(256)/255 * 256/255 / 2 ~ 0.022
    assert np.abs(z - y).max() < 0.0225
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        audio.mu_law_decode(np.array([256]))


def test_mu_law_beats_linear_on_quiet_signal():
    y = 0.01 * audio.tone(440, 0.5, 16000, amp=1.0)
    err_mu = np.mean((audio.mu_law_decode(audio.mu_law_encode(y)) - y) ** 2)
    err_lin = np.mean((audio.quantize(y, bits=8) - y) ** 2)
    assert err_mu < err_lin / 10


def test_stft_istft_and_mel_shapes():
    y = audio.tone(440, 1.0, 16000)
    S = audio.stft(y, n_fft=512)
    assert S.shape[0] == 257
    z = audio.istft(S, length=len(y))
    assert np.abs(z - y).max() < 1e-3
    M = audio.log_mel(y, 16000, n_fft=512, hop_length=128, n_mels=40)
    assert M.shape[0] == 40 and np.isfinite(M).all()
    assert audio.mel_filterbank(16000, n_fft=512, n_mels=40).shape == (40, 257)


def test_griffin_lim_recovers_magnitude():
    y = audio.tone(440, 0.5, 16000) + audio.tone(660, 0.5, 16000, amp=0.2)
    mag = np.abs(audio.stft(y, n_fft=512))
    z = audio.griffin_lim(mag, n_iter=32, length=len(y))
    mag_z = np.abs(audio.stft(z, n_fft=512))
    rel = np.linalg.norm(mag_z - mag) / np.linalg.norm(mag)
    assert rel < 0.3


def test_midi_hz_and_fix_length():
    assert audio.midi_to_hz(69) == pytest.approx(440.0)
    assert audio.hz_to_midi(261.6256) == pytest.approx(60.0, abs=1e-3)
    assert audio.fix_length(np.ones(5), 8).tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert audio.fix_length(np.ones((2, 5)), 3).shape == (2, 3)
