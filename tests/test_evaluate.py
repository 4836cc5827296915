"""Evaluating folders: plain and NSynth folders, FAD with intervals, pitch accuracy, errors."""

import json

import numpy as np
import pytest
import torch

from coursekit import audio as A
from coursekit.cli import main
from coursekit.data.nsynth import write_nsynth_folder
from coursekit.eval import evaluate as EV
from coursekit.eval.fad import gaussian_stats


pytestmark = pytest.mark.usefixtures("one_thread")


def note(f0, seconds=1.0, sr=16000, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = sum(0.2 / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) for k in range(1, 6))
    y = y * np.exp(-t * rng.uniform(0.5, 1.5)) + noise * rng.standard_normal(len(t))
    return (0.8 * y / np.abs(y).max()).astype(np.float32)


PITCHES = [48, 52, 55, 57, 60, 62, 64, 67, 69, 72, 74, 76]


def write_notes(folder, seed, asked_shift=0, noise=False):
    notes = []
    for i, p in enumerate(PITCHES):
        y = (0.3 * np.random.default_rng(seed + i).standard_normal(16000).astype(np.float32)
             if noise else note(A.midi_to_hz(p), seed=seed + i))
        notes.append({"audio": y, "pitch": p + asked_shift, "velocity": 100,
                      "instrument_family_str": "keyboard"})
    return write_nsynth_folder(folder, notes, n_frames=None)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalfolders")
    ref = write_notes(root / "ref", seed=0)
    gen = write_notes(root / "gen", seed=100)
    noise = write_notes(root / "noise", seed=200, noise=True)
    plain = root / "plain"
    for i, p in enumerate(PITCHES[:6]):
        A.save(plain / "sub" / f"clip{i}.wav", note(A.midi_to_hz(p), seed=300 + i), 16000)
    A.save(plain / "clip_flac.flac", note(220.0, seed=9), 16000)
    return {"ref": ref, "gen": gen, "noise": noise, "plain": plain}


def test_nsynth_folders_fad_and_pitch(folders, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSEKIT_CACHE", str(tmp_path / "cache"))
    r = EV.evaluate_folder(folders["gen"], folders["ref"], embeddings=("mel",), n_boot=50)
    assert r["schema"] == 1 and r["n_gen"] == r["n_ref"] == 12 and r["gen_format"] == "nsynth"
    f = r["fad"]["mel"]
    assert set(f) >= {"fad", "ci95", "fad_inf", "fad_inf_r2", "dim", "frames_gen", "frames_ref"}
    assert f["dim"] == 128 and f["ci95"][0] <= f["ci95"][1]
    assert 0 <= f["ci95_basic"][0] <= f["ci95_basic"][1]
    assert r["pitch"]["crepe_acc"] == 1.0 and r["pitch"]["crepe_n"] == 12
    assert r["pitch"]["crepe_median_abs_cents"] < 20
    k = r["kad"]["mel"]
    assert set(k) >= {"kad", "ci95", "bandwidth", "frames_ref", "frames_gen", "frame_stride"}
    assert k["ci95"][0] <= k["ci95"][1] and k["bandwidth_from"] == "reference"
    assert k["clips_ref"] == k["clips_gen"] == 12 and k["frame_stride"] == 1
    json.dumps(r)  # JSON-able as it is
    noisy = EV.evaluate_folder(folders["noise"], folders["ref"], embeddings=("mel",), n_boot=0,
                               with_fad_inf=False)
    assert noisy["fad"]["mel"]["fad"] > 3 * f["fad"]
    assert noisy["kad"]["mel"]["kad"] > k["ci95"][1]
    assert noisy["pitch"]["crepe_acc"] == 0.0 and noisy["pitch"]["crepe_unpitched"] == 12


def test_wrong_asked_pitch_is_counted_wrong(folders, tmp_path):
    shifted = write_notes(tmp_path / "shifted", seed=100, asked_shift=2)
    r = EV.evaluate_folder(shifted, folders["ref"], embeddings=(), pitch=True, classify=False)
    assert r["pitch"]["crepe_acc"] == 0.0 and r["fad"] == {}
    assert 150 < r["pitch"]["crepe_median_abs_cents"] < 250


def test_plain_folder(folders):
    r = EV.evaluate_folder(folders["plain"], folders["ref"], embeddings=("mel",), n_boot=20,
                           classify=False)
    assert r["gen_format"] == "plain" and r["n_gen"] == 7
    assert r["pitch"] is None and r["family"] is None
    assert any("no NSynth metadata" in w for w in r["warnings"])
    assert any("only 7 clip(s)" in w for w in r["warnings"])


def test_clip_bootstrap_sums_match_pooled_stats():
    rng = np.random.default_rng(0)
    clips = [rng.normal(size=(n, 5)) + i for i, n in enumerate([7, 3, 9, 4])]
    sums = EV._ClipSums(clips)
    mu, cov = sums.stats(np.ones(4))
    mu2, cov2 = gaussian_stats(np.concatenate(clips))
    assert np.allclose(mu, mu2) and np.allclose(cov, cov2)
    w = np.array([2.0, 0.0, 1.0, 1.0])  # clip 0 twice, clip 1 left out
    mu3, cov3 = gaussian_stats(np.concatenate([clips[0], clips[0], clips[2], clips[3]]))
    mu, cov = sums.stats(w)
    assert np.allclose(mu, mu3) and np.allclose(cov, cov3)


def test_errors_name_the_problem(folders, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        EV.list_audio(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not audio")
    with pytest.raises(ValueError, match="no audio files found"):
        EV.list_audio(tmp_path / "empty")
    bad = tmp_path / "bad"
    A.save(bad / "good.wav", note(220.0), 16000)
    (bad / "broken.wav").write_bytes(b"JUNKJUNKJUNK")
    (bad / "zero.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="2 unusable") as err:
        EV.evaluate_folder(bad, folders["ref"], embeddings=("mel",))
    assert "broken.wav" in str(err.value) and "zero.wav" in str(err.value)
    gone = write_notes(tmp_path / "gone", seed=1)
    victim = sorted((gone / "audio").iterdir())[3]
    victim.unlink()
    with pytest.raises(ValueError, match=victim.name):
        EV.list_audio(gone)


def test_command_line(folders, capsys, tmp_path):
    assert main(["fad", str(folders["ref"]), str(folders["gen"]), "--embedding", "mel", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["embedding"] == "mel" and out["fad"] > 0 and out["n_gen"] == 12
    assert out["kad"]["kad"] is not None and len(out["kad"]["ci95"]) == 2
    assert main(["fad", str(folders["ref"]), str(folders["gen"]), "--embedding", "mel"]) == 0
    text = capsys.readouterr().out
    assert "FAD (mel) =" in text and "KAD (mel) =" in text
    assert main(["fad", str(folders["ref"]), str(folders["gen"]), "--embedding", "mel", "--metric", "kad",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "fad" not in out and out["kad"]["kad"] is not None
    assert main(["eval", str(folders["gen"]), "--ref", str(folders["ref"]), "--embeddings", "mel",
                 "--metric", "fad", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kad"] is None and out["fad"]["mel"]["fad"] > 0
    with pytest.raises(SystemExit) as exit_:   # argparse names the option and its choices
        main(["fad", str(folders["ref"]), str(folders["gen"]), "--metric", "mmd"])
    assert exit_.value.code == 2 and "--metric" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "nope"), "--ref", str(folders["ref"])]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["fad", str(folders["ref"]), str(folders["gen"]), "--embedding", "vgg"]) == 2
    assert "unknown embedding" in capsys.readouterr().err


def test_degrade():
    sr = 16000
    y = note(440.0, seconds=1.0)
    noisy = EV.degrade(y, sr, "noise", 10.0)
    snr = 10 * np.log10(np.mean(y.astype(float) ** 2) / np.mean((noisy - y).astype(float) ** 2))
    assert abs(snr - 10.0) < 0.3
    low = EV.degrade(y, sr, "lowpass", 1000.0)
    spec = lambda z: np.abs(np.fft.rfft(z)) ** 2  # noqa: E731
    hi = np.fft.rfftfreq(len(y), 1 / sr) > 1500
    assert spec(low)[hi].sum() < 1e-3 * spec(y)[hi].sum()  # -30 dB above 1.5 kHz
    from coursekit.eval.embeddings import crepe_pitch
    up, _ = crepe_pitch(EV.degrade(y, sr, "detune", 100.0), sr, held_s=(0.1, 0.9))
    assert abs(up - 70.0) < 0.2  # A4 one semitone up
    with pytest.raises(ValueError, match="unknown degradation"):
        EV.degrade(y, sr, "reverse", 1.0)
    with pytest.raises(ValueError, match="cutoff"):
        EV.degrade(y, sr, "lowpass", 9000.0)


def test_write_set_evaluate_many_and_leaderboard(folders, tmp_path):
    out = EV.write_set(folders["ref"], tmp_path / "set", n=5, seconds=0.5, label="half-second copies",
                       transform=lambda y, sr, i: 0.5 * y)
    paths, meta, fmt = EV.list_audio(out)
    assert fmt == "nsynth" and len(paths) == 5 and A.info(paths[0])["frames"] == 8000
    assert all(m["generated_by"] == "half-second copies" for m in meta)
    src = {m["note_str"]: m for m in EV.list_audio(folders["ref"])[1]}
    assert all(src[m["source_note"]]["pitch"] == m["pitch"] for m in meta)
    with pytest.raises(ValueError, match="NSynth-format"):
        EV.write_set(folders["plain"], tmp_path / "x")
    results = EV.evaluate_many({"noise": folders["noise"], "gen": folders["gen"]}, folders["ref"],
                               embeddings=("mel",), n_boot=10, with_fad_inf=False, pitch=False,
                               classify=False, progress=False)
    table = EV.format_leaderboard(results).splitlines()
    assert table[0].startswith("system") and "FAD mel" in table[0] and "KAD mel" in table[0]
    assert table[2].startswith("gen") and table[3].startswith("noise")  # best first


def test_fad_inf_over_clips_removes_the_clip_sampling_bias():
    rng = np.random.default_rng(0)

    def clips(n, shift=0.0):  # each clip: its own offset (between-clip spread) + frame noise
        return [rng.normal(size=4) + shift + 0.3 * rng.normal(size=(60, 4)) for _ in range(n)]

    same = EV.fad_inf_clips(clips(80), clips(80), n_repeats=5)
    assert same.fd_full > 0.1 and same.value < 0.25 * same.fd_full  # mostly bias, removed
    assert list(same.sizes) == sorted(same.sizes) and same.sizes[-1] == 80
    shifted = EV.fad_inf_clips(clips(80), clips(80, shift=1.0), n_repeats=5)
    assert abs(shifted.value - 4.0) < abs(shifted.fd_full - 4.0)  # true FD: 4 x 1^2
    with pytest.raises(ValueError, match="at least 8 clips"):
        EV.fad_inf_clips(clips(5), clips(5))


def test_judge_pitch_verdicts():
    from coursekit.eval.embeddings import get_embedding

    frames = get_embedding("crepe").embed(A.tone(440.0, seconds=1.5, sr=16000), 16000)
    verdict, midi, voiced = EV.judge_pitch(frames, 69)
    assert verdict == "ok" and abs(midi - 69) < 0.2 and voiced > 0.9
    assert EV.judge_pitch(frames, 71)[0] == "off"
    assert EV.judge_pitch(frames, 10)[0] == "out_of_range"
    quiet = get_embedding("crepe").embed(np.random.default_rng(0).normal(0, 0.1, 24000).astype(np.float32), 16000)
    verdict, midi, _ = EV.judge_pitch(quiet, 69)
    assert verdict == "unpitched" and np.isnan(midi)
