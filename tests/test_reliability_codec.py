"""Issue 24's defects 8, 9, 11 and 14 for ``codec reconstruct`` and the audio loader: an
unwritable or a user's OUT_DIR, bad clips inside IN_DIR, OUT_DIR inside IN_DIR, long files and
a WAV whose header claims 1 Hz. Tiny models, short clips."""

import errno
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from coursekit import audio
from coursekit.cli import main
from coursekit.models import codec as C
from coursekit.recipes import codec as R

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16000
TINY = C.Codec(channels=4, max_channels=16, latent_dim=8, n_q=4, codebook_size=16)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = C.NeuralCodec(TINY)
    model.train()
    model(0.3 * torch.randn(4, 1, 3200))           # first pass: k-means initialisation of the codebooks
    return str(R.save_codec(model.eval(), tmp_path_factory.mktemp("ckpt") / "tiny.pt"))


def tone(f=220.0, seconds=0.5, sr=SR):
    return (0.5 * np.sin(2 * np.pi * f * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def folder(root: Path, **clips) -> Path:
    for name, y in clips.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(root / name), y, SR, subtype="FLOAT")
    return root


def one_line(capsys, *named):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for n in named:
        assert str(n) in err, (n, err)
    return err


def rec(src, out, ckpt, *extra):
    return main(["codec", "reconstruct", str(src), str(out), "--checkpoint", ckpt, *extra])


# --------------------------------------------------------------------------------- defect 11

def test_defect11_users_out_dir_is_not_overwritten_silently(tmp_path, capsys, ckpt):
    src = folder(tmp_path / "in", **{"a.wav": tone(220), "b.wav": tone(330)})
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.wav").write_bytes(b"my own take")                 # the user's, same name as an output
    (out / "notes.txt").write_text("mine")
    assert rec(src, out, ckpt) == 2
    one_line(capsys, out, "--overwrite")
    assert (out / "a.wav").read_bytes() == b"my own take" and not (out / "b.wav").exists()

    assert rec(src, out, ckpt, "--overwrite") == 0              # replaces only the files it writes
    assert audio.info(out / "a.wav")["frames"] == len(tone()) and (out / "notes.txt").read_text() == "mine"
    assert rec(src, out, ckpt) == 0                             # its own folder now: a rerun is fine

    own = tmp_path / "own"
    assert rec(src, own, ckpt) == 0 and rec(src, own, ckpt) == 0
    (own / "c.wav").write_bytes(b"put here by hand")           # a user's file in the course's folder
    folder(src, **{"c.wav": tone(440)})
    capsys.readouterr()
    assert rec(src, own, ckpt) == 2
    one_line(capsys, "c.wav", "--overwrite")
    assert (own / "c.wav").read_bytes() == b"put here by hand"


def test_defect11_out_inside_in_never_nests(tmp_path, capsys, ckpt):
    src = folder(tmp_path / "in", **{"a.wav": tone(220), "sub/b.wav": tone(330)})
    for _ in range(3):
        assert rec(src, src / "rec", ckpt) == 0
    made = sorted(p.relative_to(src / "rec").as_posix() for p in audio.find_audio_files(src / "rec"))
    assert made == ["a.wav", "sub/b.wav"]
    assert sorted(p.relative_to(src).as_posix() for p in audio.find_audio_files(src)) == \
        ["a.wav", "rec/a.wav", "rec/sub/b.wav", "sub/b.wav"]
    capsys.readouterr()
    assert rec(src, src, ckpt) == 2
    one_line(capsys, "OUT_DIR")


# --------------------------------------------------------------------------------- defect 8

def test_defect08_unwritable_out_dir_is_one_line_before_any_work(tmp_path, capsys, ckpt, monkeypatch):
    src = folder(tmp_path / "in", **{"a.wav": tone()})
    locked = tmp_path / "locked"
    mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):              # what a folder without write permission does
        if self == locked or locked in self.parents:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    loaded = []
    load_codec = R.load_codec
    monkeypatch.setattr(R, "load_codec", lambda *a, **k: loaded.append(1) or load_codec(*a, **k))
    out = locked / "rec"
    try:
        rc = rec(src, out, ckpt)
    except PermissionError as err:                  # a traceback in the terminal
        pytest.fail(f"uncaught {err!r}")
    assert rc == 2
    one_line(capsys, out)
    assert not loaded and not out.exists()

    monkeypatch.setattr(Path, "mkdir", mkdir)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert rec(src, blocker / "rec", ckpt) == 2     # a file where OUT_DIR's parent should be
    one_line(capsys, blocker)


# --------------------------------------------------------------------------------- defect 9

def test_defect09_bad_clips_are_all_named_and_nothing_is_written(tmp_path, capsys, ckpt):
    nan = tone()
    nan[100:110] = np.nan
    src = folder(tmp_path / "in", **{"a.wav": tone(), "b.wav": nan, "c.wav": np.zeros(SR, np.float32),
                                     "d.wav": np.zeros(0, np.float32), "e.wav": tone(330)})
    (src / "f.wav").write_bytes(b"")
    out = tmp_path / "out"
    assert rec(src, out, ckpt) == 2
    err = one_line(capsys, "b.wav", "c.wav", "d.wav", "f.wav", "remove")
    assert "a.wav" not in err and "e.wav" not in err
    assert not out.exists()                          # nothing half-written

    assert rec(folder(tmp_path / "good", **{"a.wav": tone()}), out, ckpt) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert rec(src, out, ckpt) == 2                  # an earlier run's OUT_DIR stays as it was
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_defect09_a_pause_inside_a_clip_is_fine(tmp_path, ckpt):
    y = np.concatenate([tone(seconds=1.0), np.zeros(3 * SR, np.float32)])      # silent 1 s chunks
    y_hat = R.reconstruct_chunked(R.load_codec(ckpt), y, sr=SR, chunk_seconds=1.0)
    assert y_hat.shape == y.shape and np.all(np.isfinite(y_hat))


# --------------------------------------------------------------------------------- defect 14

def test_defect14_long_file_is_encoded_in_bounded_chunks(tmp_path, ckpt, monkeypatch):
    seconds = 60
    y = np.tile(tone(220, 1.0), seconds)
    src = folder(tmp_path / "in", **{"long.wav": y})
    lengths = []
    forward = C.Encoder.forward
    monkeypatch.setattr(C.Encoder, "forward", lambda self, x: lengths.append(x.shape[-1]) or forward(self, x))
    assert rec(src, tmp_path / "out", ckpt) == 0
    assert audio.info(tmp_path / "out" / "long.wav")["frames"] == len(y)
    assert lengths and max(lengths) <= 12 * SR + TINY.hop        # 10 s and 1 s of context each side
    assert sum(lengths) < 1.5 * len(y)


def test_defect14_chunked_reconstruction_matches_one_pass():
    codec = R.load_codec()                                        # the reference codec
    rng = np.random.default_rng(0)
    for sr in (16000, 22050):
        y = audio.tone(440.0, 4.0, sr=sr) + 0.05 * rng.standard_normal(4 * sr).astype(np.float32)
        whole = R.reconstruct(codec, y, sr=sr, n_q=8)
        chunked = R.reconstruct_chunked(codec, y, sr=sr, n_q=8, chunk_seconds=1.0)
        assert chunked.shape == y.shape
        assert float(np.abs(whole - chunked).max()) < 1e-4
        assert abs(R.si_sdr(y, whole) - R.si_sdr(y, chunked)) < 0.01


def test_defect14_wav_claiming_1_hz_is_refused_before_reading(tmp_path):
    path = tmp_path / "tiny.wav"
    sf.write(str(path), 0.1 * np.ones(1500, np.float32), 1, subtype="PCM_16")
    assert path.stat().st_size < 4000                            # 3 KB that would become 1.5 GB
    for kwargs in ({"sr": 16000}, {}):
        with pytest.raises(audio.AudioError, match="1 Hz") as err:
            audio.load(path, **kwargs)
        assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_defect14_loader_refuses_more_than_its_limit(tmp_path):
    path = tmp_path / "hour.wav"
    sf.write(str(path), np.full(21 * 60 * 4000, 0.1, np.float32), 4000, subtype="PCM_U8")   # 21 min
    with pytest.raises(audio.AudioError, match="minute") as err:
        audio.load(path, sr=16000)
    assert str(path) in str(err.value)
    y, sr = audio.load(path, offset=60.0, duration=2.0)          # a part of it is fine
    assert (y.shape, sr) == ((8000,), 4000)
    y, _ = audio.load(path, max_seconds=None)
    assert y.shape == (21 * 60 * 4000,)
