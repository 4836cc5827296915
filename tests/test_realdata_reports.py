"""Real recordings in the reports: where coursekit.eval.realdata finds them, how it cuts them,
and the real part of benchmarks/codec_eval.py on a tiny set."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from coursekit.audio import save, tone
from coursekit.eval.realdata import RealSet, real_clips, real_sets, realdata_dir, write_clips



def _fake_gtzan(root: Path, n: int, seconds: float = 1.0, sr: int = 22050) -> Path:
    """``n`` GTZAN-format clips (tones) under ``root/genres``, with no course marker."""
    for i in range(n):
        genre = ("blues", "jazz", "rock")[i % 3]
        save(root / "genres" / genre / f"{genre}.{i:05d}.wav", tone(220.0 * (1 + i), seconds, sr, 0.3), sr)
    return root


def test_real_sets_finds_the_realdata_folder(realdata, tmp_path):
    sets = {s.name: s for s in real_sets(data_root=tmp_path, realdata=realdata)}
    assert {"gtzan", "maestro"} <= set(sets)
    gtzan, maestro = sets["gtzan"], sets["maestro"]
    assert len(gtzan.files) == 10 and gtzan.source == "realdata" and gtzan.native_sr == 22050
    assert all(p.suffix == ".wav" for p in gtzan.files) and maestro.files[0].suffix == ".wav"
    (excerpt,) = real_clips(maestro, seconds=4.0)          # 2 s: one clip, its whole length
    assert excerpt[1].shape == (32000,) and excerpt[1].dtype == np.float32
    assert [len(y) for _, y in real_clips(maestro, seconds=1.0)] == [16000, 16000]
    clips = real_clips(gtzan, seconds=4.0, max_files=2)    # first and last file, 4 clips each
    assert len(clips) == 8 and all(y.shape == (64000,) for _, y in clips)
    assert clips[0][0] == "blues.00000_00" and clips[-1][0] == "rock.00000_03"


def test_real_sets_empty_and_overridden(tmp_path, monkeypatch):
    assert real_sets(data_root=tmp_path, realdata=tmp_path) == []
    assert real_sets(data_root=tmp_path / "absent", realdata=tmp_path / "absent") == []
    fake = _fake_gtzan(tmp_path / "real", 2)
    monkeypatch.setenv("COURSEKIT_REALDATA", str(fake))
    assert realdata_dir() == fake
    (s,) = real_sets(data_root=tmp_path / "absent")
    assert s.name == "gtzan" and len(s.files) == 2 and s.source == "realdata"


def test_real_dataset_under_the_data_root_but_not_a_mini(tmp_path, mini_nsynth_root):
    from coursekit.data.download import MARKER

    root = _fake_gtzan(tmp_path / "root", 10)
    (s,) = real_sets(data_root=root, realdata=tmp_path / "none")
    assert s.name == "data-gtzan" and s.source == "data root"
    assert [p.name for p in s.files] == ["jazz.00001.wav", "rock.00008.wav"]  # held out: every fifth
    (root / "genres" / MARKER).write_text(json.dumps({"size": "smoke", "seed": 0}))
    assert real_sets(data_root=root, realdata=tmp_path / "none") == []        # marked: a mini
    assert real_sets(data_root=mini_nsynth_root, realdata=tmp_path / "none") == []


def test_clips_skip_silence_and_unreadable_files(tmp_path):
    save(tmp_path / "quiet.wav", np.zeros(16000, np.float32), 16000)
    save(tmp_path / "loud.wav", tone(440.0, 1.0, 16000, 0.3), 16000)
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    files = tuple(sorted(tmp_path.glob("*.wav")))
    rset = RealSet("x", "gtzan", "realdata", tmp_path, files, None, 4)
    with pytest.warns(UserWarning, match="broken.wav"):
        clips = real_clips(rset, seconds=0.5)
    assert [name for name, _ in clips] == ["loud_00", "loud_01"]
    folder = write_clips(clips, tmp_path / "out")
    assert sorted(p.name for p in folder.glob("*.wav")) == ["loud_00.wav", "loud_01.wav"]
    with pytest.raises(ValueError, match="positive"):
        real_clips(rset, seconds=0)


def test_codec_eval_real_part_end_to_end(tmp_path, benchmark_script):
    from coursekit.models import codec as C

    torch.manual_seed(0)
    codec = C.NeuralCodec(C.Codec(channels=4, max_channels=16, latent_dim=8, n_q=2, codebook_size=16))
    codec.train()
    codec(0.3 * torch.randn(2, 1, 3200))       # k-means initialisation of the codebooks
    codec.eval()
    sets = real_sets(data_root=tmp_path / "none", realdata=_fake_gtzan(tmp_path / "real", 2, 0.7))
    args = argparse.Namespace(real_clip_seconds=0.25, real_per_file=2, real_max_files=None, realdata=None)
    r = benchmark_script("codec_eval").bench_real(codec, args, sets=sets)
    g = r["sets"]["gtzan"]
    assert g["n_clips"] == 4 and g["clip_lengths_s"] == [0.25] and g["files"] == 2
    assert [row["n_q"] for row in g["bitrates"]] == [1, 2] and g["top_bitrate"] == g["bitrates"][-1]
    for row in g["bitrates"]:
        assert np.isfinite(row["si_sdr_db"]) and np.isfinite(row["si_sdr_db_median"]) and row["mel_distance"] > 0
    assert set(r["checks"]) == {"gtzan_si_sdr_at_least_4_db", "gtzan_mel_distance_at_most_1_2"}
    json.dumps(r)
    empty = benchmark_script("codec_eval").bench_real(codec, args, sets=[])
    assert empty["sets"] == {} and "checks" not in empty
