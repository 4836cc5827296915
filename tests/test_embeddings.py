"""Embeddings: shapes, rates, resampling, caching, the offline error, and CREPE's pitch."""

import urllib.error

import numpy as np
import pytest
import torch

from coursekit import audio as A
from coursekit.eval import embeddings as E


pytestmark = pytest.mark.usefixtures("one_thread")


def harmonic(f0, seconds=2.0, sr=16000, n=5):
    t = np.arange(int(seconds * sr)) / sr
    return sum(0.3 / k * np.sin(2 * np.pi * f0 * k * t) for k in range(1, n + 1)).astype(np.float32)


@pytest.mark.parametrize("name", ["crepe", "mel"])
def test_shapes_and_rates(name):
    emb = E.get_embedding(name)
    assert emb is E.get_embedding(name)  # loaded once
    y = harmonic(220.0, seconds=2.0)
    z = emb.embed(y, 16000)
    assert z.dtype == np.float32 and z.ndim == 2 and z.shape[1] == emb.dim
    expected = 2.0 / emb.hop_s
    assert abs(z.shape[0] - expected) <= 2, (z.shape, expected)
    # another rate and stereo input give the same number of frames, close values
    z44 = emb.embed(np.stack([A.resample(y, 16000, 44100)] * 2), 44100)
    assert z44.shape == z.shape
    assert np.corrcoef(z.ravel(), z44.ravel())[0, 1] > 0.95
    # a clip shorter than one window still gives a frame
    short = emb.embed(y[:100], 16000)
    assert short.shape[0] >= 1 and short.shape[1] == emb.dim


def test_crepe_is_its_penultimate_layer_and_silence_is_one_point():
    emb = E.get_embedding("crepe")
    assert (emb.sample_rate, emb.hop_s, emb.dim) == (16000, 0.02, 256)
    z = emb.embed(np.zeros(16000, np.float32) + 1e-5 * np.random.randn(16000).astype(np.float32), 16000)
    assert np.allclose(z, z[0], atol=1e-6)  # -100 dB noise is silence: one fixed embedding
    a, b = emb.embed(harmonic(110.0), 16000), emb.embed(harmonic(440.0), 16000)
    assert np.linalg.norm(a.mean(0) - b.mean(0)) > 0.1 * np.linalg.norm(a.mean(0))


def test_bad_input():
    emb = E.get_embedding("mel")
    with pytest.raises(A.AudioError, match="NaN"):
        emb.embed(np.full(1000, np.nan, np.float32), 16000)
    with pytest.raises(A.AudioError, match="empty"):
        emb.embed(np.zeros(0, np.float32), 16000)
    with pytest.raises(ValueError, match="unknown embedding 'vgg'"):
        E.get_embedding("vgg")


def test_pool():
    a, b = np.ones((3, 4)), np.zeros((5, 4))
    assert E.pool([a, b]).shape == (8, 4)
    assert E.pool([a, b], "clip_mean").tolist() == [[1] * 4, [0] * 4]
    with pytest.raises(ValueError, match="empty"):
        E.pool([])
    with pytest.raises(ValueError, match="unknown pooling"):
        E.pool([a], "max")


def test_embed_files_uses_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSEKIT_CACHE", str(tmp_path / "cache"))
    paths = [A.save(tmp_path / f"{f}.wav", harmonic(f, 1.0), 16000) for f in (220, 330)]
    emb = E.get_embedding("mel")
    first = emb.embed_files(paths)
    assert [z.shape[1] for z in first] == [128, 128]

    def fail(path):
        raise AssertionError("should have come from the cache")

    monkeypatch.setattr(emb, "embed_file", fail)
    again = emb.embed_files(paths)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    assert list((tmp_path / "cache" / "embeddings").glob("mel*/*.npy"))


def test_offline_pretrained_embeddings_raise_one_clear_error(monkeypatch):
    def no_network(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.setattr(torch.hub, "load", no_network)
    for name in ("encodec", "vggish", "clap"):
        E._CACHE.clear()
        with pytest.raises(E.EmbeddingUnavailable) as err:
            E.get_embedding(name)
        msg = str(err.value)
        assert f"'{name}' embedding cannot be used" in msg and "get_embedding('crepe')" in msg
        assert "\n" not in msg
    status = E.available_embeddings()
    assert all(status[n] == "available" for n in E.OFFLINE)


def test_encodec_code_path_with_locally_built_weights():
    emb = E.get_embedding("encodec", pretrained=False)
    z = emb.embed(harmonic(220.0, 1.0), 16000)  # resampled to 24 kHz
    assert z.shape == (75, 128) and np.isfinite(z).all()


@pytest.mark.parametrize("f0", [55.0, 261.63, 880.0])
def test_crepe_pitch(f0):
    midi, conf = E.crepe_pitch(harmonic(f0, 3.0), 16000)
    assert abs(midi - A.hz_to_midi(f0)) < 0.25 and conf > 0.9
    midi, conf = E.crepe_pitch(harmonic(f0, 3.0, sr=22050), 22050)
    assert abs(midi - A.hz_to_midi(f0)) < 0.25


def test_crepe_pitch_is_the_same_from_run_to_run():
    # torchcrepe's bins_to_cents adds a random dither drawn from numpy's global generator;
    # the course's estimate must not depend on it, or a note near the 50-cent line flips
    frames = E.get_embedding("crepe").embed(harmonic(A.midi_to_hz(60.49), 1.0), 16000)
    heard = []
    for seed in (0, 1, 2):
        np.random.seed(seed)
        heard.append(E.pitch_from_crepe(frames, held_s=(0.1, 0.9))[0])
    assert heard[0] == heard[1] == heard[2]
    assert abs(heard[0] - 60.49) < 0.1
    import torchcrepe                                   # the bins are torchcrepe's, undithered
    bins = torch.tensor([0.0, 100.0, 359.0])
    back = torchcrepe.convert.cents_to_bins(torchcrepe.CENTS_PER_BIN * bins + E.CREPE_BIN0_CENTS, torch.round)
    assert torch.allclose(back.double(), bins.double(), atol=1e-3)


def test_crepe_pitch_of_noise_and_silence_is_unknown():
    rng = np.random.default_rng(0)
    for y in (0.3 * rng.standard_normal(48000).astype(np.float32), np.zeros(48000, np.float32)):
        midi, conf = E.crepe_pitch(y, 16000)
        assert np.isnan(midi) and conf < 0.25
