"""Chapter 06, part 2: the piano played from its score (MIDI-conditioned latent diffusion)."""

import json
import subprocess
import sys

import numpy as np
import pretty_midi
import pytest
import torch

from coursekit.cli import build_parser, main
from coursekit.models import diffusion as D
from coursekit.recipes import piano as P

pytestmark = pytest.mark.usefixtures("one_thread")


def _midi(notes, pedal=(), program=0, drums=()):
    """A PrettyMIDI of ``(start, end, pitch, velocity)`` notes and ``(time, value)`` sustain events."""
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program)
    inst.notes = [pretty_midi.Note(int(v), int(p), float(s), float(e)) for s, e, p, v in notes]
    inst.control_changes = [pretty_midi.ControlChange(64, int(v), float(t)) for t, v in pedal]
    pm.instruments.append(inst)
    if drums:
        d = pretty_midi.Instrument(0, is_drum=True)
        d.notes = [pretty_midi.Note(100, 36, s, s + 0.1) for s in drums]
        pm.instruments.append(d)
    return pm


SCALE = [(0.25 * i, 0.25 * i + 0.2, 60 + [0, 2, 4, 5, 7, 9, 11, 12][i % 8], 60 + 8 * (i % 8)) for i in range(16)]


# ---- the condition --------------------------------------------------------------------------

def test_score_roll_rows_onsets_keys_ringing_pedal_and_presence():
    # C4 struck at 0.1 s (velocity 127), released at 0.3 s; the pedal is down from 0.2 s to 0.6 s
    pm = _midi([(0.1, 0.3, 60, 127), (0.5, 0.7, 64, 64)], pedal=[(0.2, 127), (0.6, 0)])
    roll = P.score_roll(pm, frame_rate=50, seconds=1.0)
    k, e = 60 - 21, 64 - 21
    assert roll.shape == (P.SCORE_CHANNELS, 50) and roll.dtype == np.float32
    onsets, held, ringing, pedal, given = roll[:88], roll[88:176], roll[176:264], roll[264], roll[265]
    assert np.flatnonzero(onsets[k]).tolist() == [5] and onsets[k, 5] == 1.0
    assert onsets[e, 25] == pytest.approx(64 / 127)
    assert np.flatnonzero(held[k]).tolist() == list(range(5, 15))       # the key: 0.1 .. 0.3 s
    assert np.flatnonzero(ringing[k]).tolist() == list(range(5, 30))    # the pedal holds it to 0.6 s
    assert ringing[e, 25:35].all() and not ringing[e, 35:].any()        # released after the pedal is up
    assert pedal[10:30].min() == 1.0 and pedal[:10].max() == 0.0 and pedal[30:].max() == 0.0
    assert (given == 1).all()


def test_score_roll_of_a_window_keeps_notes_already_ringing_but_not_their_strike():
    pm = _midi([(0.5, 2.0, 60, 100)])
    roll = P.score_roll(pm, frame_rate=50, start=1.0, seconds=0.5)
    assert roll.shape[1] == 25
    assert not roll[:88].any()                                           # struck before the window
    assert roll[88 + 39].all() and roll[176 + 39].all()


def test_read_score_refuses_bad_files_in_one_line(tmp_path):
    (tmp_path / "text.mid").write_text("not a MIDI file")
    with pytest.raises(ValueError, match="text.mid: not a readable MIDI file"):
        P.read_score(tmp_path / "text.mid")
    _midi([]).write(str(tmp_path / "empty.mid"))
    with pytest.raises(ValueError, match="empty.mid: the MIDI file has no notes"):
        P.read_score(tmp_path / "empty.mid")
    _midi([(0, 7200, 60, 100)]).write(str(tmp_path / "long.mid"))
    with pytest.raises(ValueError, match=r"long.mid: the MIDI lasts 120 min.*--seconds"):
        P.read_score(tmp_path / "long.mid")
    pm, seconds, notes = P.read_score(tmp_path / "long.mid", seconds=3.0)
    assert seconds == 3.0 and len(notes) == 1
    with pytest.raises(FileNotFoundError, match="nope.mid: no such MIDI file"):
        P.read_score(tmp_path / "nope.mid")


def test_other_programs_are_named():
    pm = _midi([(0, 1, 60, 100)], program=40, drums=[0.0, 0.5])
    assert P.other_programs(pm) == ["Violin (played as piano)", "drums (not played)"]
    assert P.other_programs(_midi([(0, 1, 60, 100)], program=1)) == []


# ---- the model with a score -----------------------------------------------------------------

def _score_model(seed=0):
    torch.manual_seed(seed)
    cfg = D.DiffusionConfig(latent_dim=4, channels=(8, 16), emb_dim=16, conditions={}, score_channels=6,
                            task="piano", frames=8)
    model = D.LatentDiffusion(cfg).eval()
    torch.nn.init.normal_(model.unet.conv_out.weight, std=0.1)           # not the zero start: outputs differ
    return model


def test_the_score_changes_the_output_and_guidance_runs_it_with_and_without():
    model = _score_model()
    x, t = torch.randn(2, 4, 8), torch.tensor([500, 500])
    score = torch.rand(2, 6, 8)
    out = model(x, t, {"score": score})
    assert out.shape == (2, 4, 8)
    assert not torch.allclose(out, model(x, t, {"score": torch.rand(2, 6, 8)}))
    none = model(x, t, {"score": torch.zeros(2, 6, 8)})
    assert torch.allclose(model.guided(x, t, {"score": score}, 3.0), none + 3.0 * (out - none), atol=1e-5)
    with pytest.raises(ValueError, match="needs a score"):
        model(x, t, {})
    with pytest.raises(ValueError, match="needs a score"):
        model(x, t, {"score": torch.rand(2, 6, 4)})


def test_the_loss_drops_the_score_to_zeros_and_the_sampler_follows_its_length():
    model = _score_model()
    drop = torch.tensor([True, False])
    cond = D.drop_condition({"score": torch.ones(2, 6, 8)}, drop)
    assert cond["score"][0].abs().sum() == 0 and (cond["score"][1] == 1).all()
    x0, score = torch.randn(2, 4, 8), torch.rand(2, 6, 8)
    t, noise = torch.tensor([10, 900]), torch.randn(2, 4, 8)
    loss = D.diffusion_loss(model, x0, {"score": score}, D.noise_schedule().alphas_cumprod, t=t, noise=noise,
                            drop=drop)
    x_t = D.add_noise(x0, noise, t, D.noise_schedule().alphas_cumprod)
    want = torch.nn.functional.mse_loss(model(x_t, t, {"score": score * torch.tensor([0.0, 1.0])[:, None, None]}),
                                        D.velocity(x0, noise, t, D.noise_schedule().alphas_cumprod))
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    z = D.sample_latents(model, {"score": torch.rand(3, 6, 12)}, steps=2, progress=False)
    assert z.shape == (3, 4, 12) and torch.isfinite(z).all()


def test_windows_cover_the_piece_and_cross_fade_to_one():
    for total, window, overlap in [(200, 200, 50), (120, 200, 50), (1000, 200, 50), (463, 200, 50)]:
        starts = P.window_starts(total, window, overlap)
        covered = np.zeros(max(total, window))
        weight = np.zeros(max(total, window))
        for s in starts:
            covered[s:s + window] += 1
            weight[s:s + window] += P.crossfade_weights(window, overlap, s == 0,
                                                        s + window >= max(total, window)).numpy()
        assert starts[0] == 0 and starts[-1] + window == max(total, window)
        assert covered.min() >= 1 and all(b - a <= window - overlap for a, b in zip(starts, starts[1:]))
        assert weight.min() > 0.01


# ---- training, the command line, the reference --------------------------------------------

@pytest.fixture(scope="module")
def mini_maestro(tmp_path_factory):
    from coursekit.data import make_dataset
    return make_dataset("mini-maestro", tmp_path_factory.mktemp("maestro"), size="smoke", seed=0) / "maestro-v3.0.0"


@pytest.fixture(scope="module")
def smoke_piano(tmp_path_factory, mini_maestro):
    out = tmp_path_factory.mktemp("piano") / "piano.pt"
    argv = ["train", "piano", "--profile", "smoke", "--device", "cpu", "--data", str(mini_maestro), "--out",
            str(out)]
    assert P.train_command(build_parser(argv).parse_args(argv)) == 0
    return out


def test_train_writes_a_piano_checkpoint_and_card(smoke_piano):
    card = json.loads(smoke_piano.with_suffix(".json").read_text())
    assert card["model"] == "diffusion" and card["task"] == card["config"]["task"] == "piano"
    assert card["config"]["score_channels"] == P.SCORE_CHANNELS and card["data"]["performances"] >= 1
    model, codec = P.load_piano(smoke_piano)
    assert model.cfg.frames * codec.sample_rate / codec.frame_rate == pytest.approx(
        get_profile_value("piano_seconds") * codec.sample_rate, rel=0.05)


def test_an_interrupted_piano_run_resumes(smoke_piano, capsys):
    argv = ["train", "piano", "--profile", "smoke", "--device", "cpu", "--resume", "--time-budget", "30",
            "--out", str(smoke_piano)]
    assert P.train_command(build_parser(argv).parse_args(argv)) == 0
    assert f"resumed from {smoke_piano.with_name('piano.train.pt')}" in capsys.readouterr().out


def get_profile_value(key):
    from coursekit.profiles import get_profile
    return get_profile("smoke").ch06[key]


def test_sample_piano_plays_a_midi_file_into_a_folder_and_keeps_what_is_there(tmp_path, smoke_piano, capsys):
    mid = tmp_path / "scale.mid"
    _midi(SCALE, program=40, drums=[0.0]).write(str(mid))
    out = tmp_path / "out"
    assert main(["sample", "piano", "--midi", str(mid), "--out", str(out), "--checkpoint", str(smoke_piano),
                 "--steps", "2", "--device", "cpu"]) == 0
    said = capsys.readouterr().out
    assert "Violin (played as piano)" in said and "drums (not played)" in said
    meta = json.loads((out / "examples.json").read_text())
    (name, item), = meta.items()
    y, sr = __import__("soundfile").read(out / "audio" / f"{name}.wav")
    assert item["generated_by"] == "piano" and item["midi"] == str(mid)
    assert len(y) / sr == pytest.approx(SCALE[-1][1] + 1.0, abs=0.02) and np.isfinite(y).all()
    # the course's own folder is written again: its files replaced, the user's kept
    (out / "my_notes.txt").write_text("mine")
    assert main(["sample", "piano", "--midi", str(mid), "--out", str(out), "--checkpoint", str(smoke_piano),
                 "--seconds", "1", "--steps", "2"]) == 0
    assert (out / "my_notes.txt").read_text() == "mine"
    assert [v["seconds"] for v in json.loads((out / "examples.json").read_text()).values()] == [1.0]
    # a folder of the user's own is not written into without --overwrite
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "take.wav").write_bytes(b"my recording")
    assert main(["sample", "piano", "--midi", str(mid), "--out", str(mine), "--checkpoint", str(smoke_piano)]) == 2
    assert "--overwrite" in capsys.readouterr().err and (mine / "take.wav").read_bytes() == b"my recording"


def test_sample_piano_errors_are_one_line(tmp_path, smoke_piano):
    (tmp_path / "bad.mid").write_text("hello")
    _midi([]).write(str(tmp_path / "empty.mid"))
    _midi([(0, 7200, 60, 100)]).write(str(tmp_path / "long.mid"))
    cases = {"bad.mid": "not a readable MIDI file", "empty.mid": "has no notes", "long.mid": "lasts 120 min",
             "nope.mid": "no such MIDI file"}
    for name, want in cases.items():
        r = subprocess.run([sys.executable, "-m", "coursekit", "sample", "piano", "--midi", str(tmp_path / name),
                            "--out", str(tmp_path / f"o-{name}"), "--checkpoint", str(smoke_piano)],
                           capture_output=True, text=True)
        assert r.returncode == 2 and want in r.stderr and "Traceback" not in r.stderr, (name, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([sys.executable, "-m", "coursekit", "sample", "piano", "--midi", str(tmp_path / "long.mid"),
                        "--out", str(tmp_path / "o"), "--checkpoint", str(tmp_path / "none.pt")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "lasts 120 min" in r.stderr


def test_a_notes_checkpoint_is_not_a_piano_model():
    from coursekit import checkpoint
    with pytest.raises(ValueError, match="not a piano model"):
        P.load_piano(checkpoint.reference("diffusion.pt"))


def test_the_commands_take_only_the_pianos_flags(capsys):
    for argv, has, lacks in [(["train", "piano", "--help"], ["--init", "--data"], ["--task", "--codec"]),
                             (["sample", "piano", "--help"], ["--midi", "--seconds", "--cfg", "--steps"],
                              ["--pitch", "--family", "--genre"])]:
        with pytest.raises(SystemExit):
            build_parser(argv).parse_args(argv)
        text = capsys.readouterr().out
        assert all(f in text for f in has) and not any(f in text for f in lacks)


def test_sample_piano_on_the_real_maestro_midi(realdata, smoke_piano, tmp_path):
    from coursekit.eval.score_judge import judge

    mid = next((realdata / "maestro-v3.0.0").rglob("*.midi"))
    out = tmp_path / "real"
    assert main(["sample", "piano", "--midi", str(mid), "--out", str(out), "--checkpoint", str(smoke_piano),
                 "--seconds", "2", "--steps", "2"]) == 0
    (wav,) = (out / "audio").glob("*.wav")
    from coursekit import audio
    y, sr = audio.load(wav, sr=16000)
    assert len(y) == 32000
    scores = judge(y, sr, mid)
    assert 0.0 <= scores["onset_f1"] <= 1.0 and scores["n_ref_onsets"] > 0


def test_the_reference_piano_plays_a_score_it_never_heard():
    """The shipped model plays a scale of 16 notes at 4 a second: its strikes are heard where the
    score puts them (an untrained model scores about 0)."""
    from coursekit.eval.score_judge import judge

    model, codec = P.load_piano()
    pm = _midi(SCALE)
    y = P.render(model, codec, pm, seconds=4.5, steps=10, progress=False)
    scores = judge(y, codec.sample_rate, pm)
    assert scores["onset_f1"] >= 0.6, scores
