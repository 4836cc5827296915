"""ViSQOL and EnCodec in benchmarks/codec_eval.py: scores on tiny inputs, one clear line when
visqol-python or EnCodec's weights are missing, the real part carrying ViSQOL at every bitrate."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from coursekit.audio import save, tone
from coursekit.eval import perceptual
from coursekit.eval.realdata import real_sets

SR = 16000


def _tiny_codec():
    from coursekit.models import codec as C

    torch.manual_seed(0)
    codec = C.NeuralCodec(C.Codec(channels=4, max_channels=16, latent_dim=8, n_q=2, codebook_size=16))
    codec.train()
    codec(0.3 * torch.randn(2, 1, 3200))       # k-means initialisation of the codebooks
    return codec.eval()


def _real_gtzan(root: Path, n: int, seconds: float) -> list:
    for i in range(n):
        save(root / "genres" / "jazz" / f"jazz.{i:05d}.wav", tone(220.0 * (1 + i), seconds, 22050, 0.3), 22050)
    return real_sets(data_root=root / "none", realdata=root)


@pytest.fixture
def no_visqol(monkeypatch):
    def missing():
        raise perceptual.VisqolUnavailable("ViSQOL needs the visqol-python package (test)")

    monkeypatch.setattr(perceptual, "_api", missing)


@pytest.fixture
def offline_encodec(monkeypatch):
    from coursekit.recipes import encodec

    monkeypatch.setattr(encodec, "weights_available", lambda timeout=2.0: (False, "not cached (test)"))


@pytest.mark.skipif(not perceptual.available(), reason="visqol-python is not installed")
def test_visqol_scores_on_tiny_input(benchmark_script):
    m = benchmark_script("codec_eval")
    rng = np.random.default_rng(0)
    x = np.sin(2 * np.pi * 440 * np.arange(SR) / SR) * np.exp(-np.arange(SR) / SR)
    noisy = x + 0.05 * rng.standard_normal(SR)
    r = m.visqol_scores([x, x, x[:2000]], [x, noisy, x[:2000]], SR, max_clips=8)
    assert r["visqol_n"] == 2                         # the 0.125 s clip is too short for ViSQOL
    assert 1.0 <= r["visqol"] <= 5.0 and r["visqol_median"] == pytest.approx(r["visqol"])
    clean = m.visqol_scores([x], [x], SR, max_clips=1)["visqol"]
    assert clean > m.visqol_scores([x], [noisy], SR, max_clips=1)["visqol"]
    assert m.visqol_scores([x, x, x], [x, x, x], SR, max_clips=2)["visqol_n"] == 2   # at most max_clips
    assert m.visqol_scores([x], [x], SR, max_clips=0) == {}
    silent = np.zeros(SR)
    assert m.visqol_scores([silent], [silent], SR, max_clips=1) == {"visqol": None, "visqol_median": None,
                                                                     "visqol_n": 0}


def test_missing_visqol_gives_one_line_and_the_other_metrics(no_visqol, offline_encodec, capsys, tmp_path,
                                                             benchmark_script):
    m = benchmark_script("codec_eval")
    n, note = m.visqol_setup(argparse.Namespace(visqol_clips=8))
    out = capsys.readouterr().out.strip().splitlines()
    assert n == 0 and note.startswith("not measured: ") and "visqol-python" in note
    assert len(out) == 1 and out[0].startswith("ViSQOL: not measured")
    assert m.visqol_setup(argparse.Namespace(visqol_clips=0)) == (0, "not measured: --visqol-clips 0")

    sets = _real_gtzan(tmp_path / "real", 2, 0.7)
    args = argparse.Namespace(real_clip_seconds=0.6, real_per_file=1, real_max_files=None, realdata=None,
                              visqol_clips=8)
    r = m.bench_real(_tiny_codec(), args, sets=sets)
    assert r["visqol"].startswith("not measured: ")
    for row in r["sets"]["gtzan"]["bitrates"]:
        assert np.isfinite(row["si_sdr_db"]) and row["mel_distance"] > 0 and "visqol" not in row
    json.dumps(r)


def test_encodec_offline_is_one_line(offline_encodec, capsys, benchmark_script):
    m = benchmark_script("codec_eval")
    why = m._encodec_part([np.zeros(SR)], SR, 0)
    assert why.startswith("not measured: ") and "not cached (test)" in why
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "EnCodec" in out[0]


@pytest.mark.skipif(not perceptual.available(), reason="visqol-python is not installed")
def test_real_part_carries_visqol_at_every_bitrate(offline_encodec, tmp_path, benchmark_script):
    m = benchmark_script("codec_eval")
    sets = _real_gtzan(tmp_path / "real", 3, 1.3)
    args = argparse.Namespace(real_clip_seconds=1.2, real_per_file=1, real_max_files=None, realdata=None,
                              visqol_clips=2)
    r = m.bench_real(_tiny_codec(), args, sets=sets)
    g = r["sets"]["gtzan"]
    assert g["n_clips"] == 3 and "audio mode" in r["visqol"]
    assert [row["n_q"] for row in g["bitrates"]] == [1, 2]
    for row in g["bitrates"]:
        assert row["visqol_n"] == 2 and 1.0 <= row["visqol"] <= 5.0
    assert g["encodec"].startswith("not measured: ")
    json.dumps(r)
