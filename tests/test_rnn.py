"""Chapter 02's SampleRNN (coursekit.models.rnn) and its recipe (coursekit.recipes.rnn): shapes,
the mu-law pipeline, the generation cache, training, checkpoints, the CLI, drift."""

import json
import math

import numpy as np
import pytest
import torch

from coursekit import audio, checkpoint
from coursekit.data.nsynth import FAMILIES
from coursekit.models.rnn import (SILENCE, RNNConfig, SampleRNN, _codes_to_float, generate, nll_loss,
                                  sample_next)
from coursekit.recipes import rnn


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**kw):
    torch.manual_seed(0)
    return SampleRNN(RNNConfig(hidden=24, mlp_hidden=24, emb_dim=8, cond_dim=8,
                               families=list(FAMILIES), **kw))


def test_the_model_reads_mu_law_as_coursekit_audio_writes_it():
    assert SILENCE == int(audio.mu_law_encode(np.zeros(1))[0])
    codes = torch.arange(256)
    assert np.allclose(_codes_to_float(codes).numpy(), audio.mu_law_decode(codes.numpy()), atol=1e-6)


def test_forward_shapes_and_bad_input():
    m = tiny()
    codes = torch.randint(0, 256, (3, 64))
    assert m(codes, pitch=[60, 61, 62], family=[0, -1, 3]).shape == (3, 64, 256)
    with pytest.raises(ValueError, match="multiple of frame_size"):
        m(torch.randint(0, 256, (1, 50)), pitch=[60])
    with pytest.raises(ValueError, match="MIDI"):
        m(codes, pitch=[60, 61, 200])


def test_frame_subset_gives_the_same_logits_as_all_frames():
    m = tiny()
    codes = torch.randint(0, 256, (2, 80))
    full = m(codes, pitch=[50, 70]).view(2, 5, 16, 256)
    part = m(codes, pitch=[50, 70], frames=torch.tensor([1, 4]))
    assert torch.allclose(part.view(2, 2, 16, 256), full[:, [1, 4]], atol=1e-5)


def test_stateful_generation_equals_teacher_forcing_step_by_step():
    # feeding the true codes through the generation loop (state cache, one sample at a time)
    # must give the very probabilities teacher forcing computes in parallel
    m = tiny()
    codes = torch.randint(0, 256, (2, 64))
    pitch, family = torch.tensor([55, 67]), torch.tensor([2, -1])
    with torch.no_grad():
        tf = torch.softmax(m(codes, pitch, family), dim=-1)
    out, probs = generate(m, pitch, family, n_samples=64, forced=codes, return_probs=True)
    assert torch.equal(out, codes)
    assert torch.allclose(probs, tf, atol=1e-5)


def test_generation_is_seeded_and_checks_temperature():
    m = tiny()
    a = generate(m, [60, 64], n_samples=40, seed=3)
    b = generate(m, [60, 64], n_samples=40, seed=3)
    assert a.shape == (2, 40) and torch.equal(a, b)
    assert int(a.min()) >= 0 and int(a.max()) <= 255
    with pytest.raises(ValueError, match="temperature"):
        generate(m, [60], n_samples=16, temperature=0)


def test_a_sampler_plugs_into_generation_and_the_default_is_sample_next():
    m = tiny()
    calls = []

    def mine(logits, temperature, generator):
        calls.append(logits.shape)
        return sample_next(logits, temperature, generator)

    a = generate(m, [60, 64], n_samples=40, temperature=0.9, seed=5)
    b = generate(m, [60, 64], n_samples=40, temperature=0.9, seed=5, sample_fn=mine)
    assert torch.equal(a, b) and len(calls) == 48 and calls[0] == (2, 256)   # 3 frames of 16
    greedy = generate(m, [60], n_samples=32, sample_fn=lambda z, t, g: z.argmax(-1))
    forced = generate(m, [60], n_samples=32, forced=greedy)
    assert torch.equal(greedy, forced)


def _tone_folder(path, pitches=(50, 57, 64), families=("flute", "organ", "flute")):
    from coursekit.data.nsynth import write_nsynth_folder

    notes = [{"audio": audio.tone(audio.midi_to_hz(p), 4.0, 16000, 0.5), "pitch": p,
              "velocity": 100, "instrument_family_str": f} for p, f in zip(pitches, families)]
    return write_nsynth_folder(path, notes)


def test_mu_law_round_trip_through_the_data_pipeline(tmp_path):
    folder = _tone_folder(tmp_path / "nsynth-train")
    notes = rnn.load_notes(folder, sr=8000, pitch_range=(48, 72), progress=False)
    assert notes["codes"].dtype == torch.uint8 and notes["codes"].shape == (3, 32000)
    assert sorted(notes["pitch"].tolist()) == [50, 57, 64]
    y = audio.mu_law_decode(notes["codes"][0].numpy())
    ref = audio.resample(audio.load(folder / "audio" / "flute_synthetic_000-050-100.wav")[0], 16000, 8000)
    # 8-bit mu-law: the error of a sample is at most half a step, ~3% of its amplitude near 0.5
    assert np.abs(y[100:-100] - ref[100:-100]).max() < 0.02


def test_training_steps_reduce_the_loss(tmp_path):
    folder = _tone_folder(tmp_path / "nsynth-train")
    notes = rnn.load_notes(folder, sr=8000, progress=False)
    m = tiny()
    batch = (notes["codes"][:, :320].long(), notes["pitch"], notes["family"])
    before = nll_loss(m, *batch).item()
    hist = rnn.train_rnn(m, notes, batch_size=3, segment_seconds=0.04, lr=1e-2, keep=0.5,
                         max_steps=30, time_budget_s=60, progress=False)
    assert len(hist) == 30
    assert nll_loss(m, *batch).item() < before - 0.5


def test_a_loss_plugs_into_training_and_the_default_is_nll_loss(tmp_path):
    folder = _tone_folder(tmp_path / "nsynth-train")
    notes = rnn.load_notes(folder, sr=8000, progress=False)
    runs = []
    for loss_fn in (None, nll_loss):
        m = tiny()
        hist = rnn.train_rnn(m, notes, batch_size=3, segment_seconds=0.04, keep=0.5, max_steps=5,
                             time_budget_s=60, progress=False, loss_fn=loss_fn)
        runs.append(([h["loss"] for h in hist], m.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


def test_save_load_and_sample_cli_write_a_valid_nsynth_folder(tmp_path):
    from coursekit.cli import main
    from coursekit.data.nsynth import check_nsynth

    folder = _tone_folder(tmp_path / "nsynth-train")
    ckpt = tmp_path / "rnn.pt"
    assert main(["train", "rnn", "--profile", "smoke", "--out", str(ckpt), "--data", str(folder)]) == 0
    card = json.loads(ckpt.with_suffix(".json").read_text())
    assert card["model"] == "rnn" and card["steps"] > 0 and card["data"]["notes"] == 3
    assert set(checkpoint.CARD_KEYS) <= set(card) and card["training_time_s"] > 0
    saved = checkpoint.load(ckpt, kind="rnn")
    assert saved["format"] == checkpoint.FORMAT and saved["step"] == card["steps"]
    assert saved["state"]["model"]["gru.weight_ih_l0"].dtype == torch.float16    # compact
    assert saved["config"] == card["config"] and saved["config"]["families"] == list(FAMILIES)
    out = tmp_path / "samples"
    assert main(["sample", "rnn", "--n", "3", "--out", str(out), "--checkpoint", str(ckpt),
                 "--pitch", "60", "--family", "flute", "--seconds", "0.05", "--seed", "1"]) == 0
    counts, problems = check_nsynth(out)
    assert problems == [] and counts["notes"] == 3
    meta = json.loads((out / "examples.json").read_text())
    assert {m["pitch"] for m in meta.values()} == {60}
    assert {m["instrument_family_str"] for m in meta.values()} == {"flute"}
    assert all(m["generated_by"] == "rnn" for m in meta.values())
    # a bad family is one clear error
    assert main(["sample", "rnn", "--n", "1", "--out", str(out), "--checkpoint", str(ckpt),
                 "--family", "kazoo", "--seconds", "0.05"]) == 2


def test_train_cli_resumes_and_fine_tunes_into_a_clock(tmp_path, capsys):
    from coursekit.cli import main

    folder = _tone_folder(tmp_path / "nsynth-train")
    ckpt = tmp_path / "rnn.pt"
    base = ["train", "rnn", "--profile", "smoke", "--data", str(folder)]
    assert main(base + ["--out", str(ckpt)]) == 0
    steps = json.loads(ckpt.with_suffix(".json").read_text())["steps"]
    capsys.readouterr()
    assert main(base + ["--out", str(ckpt), "--resume"]) == 0
    assert f"resumed from {tmp_path / 'rnn.train.pt'} at step {steps}" in capsys.readouterr().out
    assert json.loads(ckpt.with_suffix(".json").read_text())["steps"] == steps
    # --init: a model without a clock fine-tunes into the smoke profile's, which has one
    cfg = rnn.config_from_profile("smoke")
    assert cfg.time_buckets > 0
    cfg.time_buckets = 0
    plain = rnn.save_model(SampleRNN(cfg), tmp_path / "plain.pt")
    assert main(base + ["--out", str(tmp_path / "tuned.pt"), "--init", str(plain)]) == 0
    assert "the clock starting at zero" in capsys.readouterr().out
    assert json.loads((tmp_path / "tuned.json").read_text())["initialized_from"] == str(plain)
    # a checkpoint that is no RNN is one clear error
    bad = checkpoint.save(tmp_path / "bad_init.pt", kind="gan", config={"channels": 8}, state={})
    assert main(base + ["--out", str(tmp_path / "bad.pt"), "--init", str(bad)]) == 2


def test_init_takes_the_architecture_of_its_checkpoint_and_resume_keeps_it(tmp_path, capsys):
    from coursekit.cli import main

    folder = _tone_folder(tmp_path / "nsynth-train")
    small = tmp_path / "small.pt"
    assert main(["train", "rnn", "--profile", "smoke", "--data", str(folder), "--out", str(small)]) == 0
    init = checkpoint.load(small, kind="rnn")["config"]
    assert init["hidden"] != rnn.config_from_profile("default").hidden
    # the default profile trains it (its budget, batch and data) at the smoke checkpoint's size
    tuned = tmp_path / "tuned.pt"
    base = ["train", "rnn", "--profile", "default", "--data", str(folder), "--out", str(tuned),
            "--time-budget", "3"]
    capsys.readouterr()
    assert main(base + ["--init", str(small)]) == 0
    out = capsys.readouterr().out
    assert f"the architecture comes from {small} (hidden {init['hidden']}" in out
    assert "not from the default profile (hidden 192" in out
    config = checkpoint.load(tuned, kind="rnn")["config"]
    trained_on = ("train_families",)       # the default profile's families, a record of the data
    assert {k: v for k, v in config.items() if k not in trained_on} == \
        {k: v for k, v in init.items() if k not in trained_on}
    assert config["train_families"] == ["flute", "organ"]
    card = json.loads(tuned.with_suffix(".json").read_text())
    assert card["profile"] == "default" and card["steps"] > 0 and card["config"] == config
    # --resume rebuilds the model its training state was saved with, not the profile's
    assert main(base + ["--resume", "--time-budget", "4"]) == 0
    assert f"resumed from {tmp_path / 'tuned.train.pt'}" in capsys.readouterr().out
    assert checkpoint.load(tuned, kind="rnn")["config"] == config


def test_a_resumed_training_ends_as_an_uninterrupted_one(tmp_path):
    folder = _tone_folder(tmp_path / "nsynth-train")
    notes = rnn.load_notes(folder, sr=8000, progress=False)
    kw = dict(batch_size=2, segment_seconds=0.04, lr=1e-2, keep=0.5, time_budget_s=60,
              progress=False, eval_every=2)
    whole = tiny(time_buckets=4)
    rnn.train_rnn(whole, notes, max_steps=6, **kw)
    parts = tiny(time_buckets=4)
    rnn.train_rnn(parts, notes, max_steps=3, ckpt_path=tmp_path / "run.pt", **kw)
    again = tiny(time_buckets=4)
    hist = rnn.train_rnn(again, notes, max_steps=6, ckpt_path=tmp_path / "run.pt", resume=True, **kw)
    assert [h["step"] for h in hist] == list(range(1, 7)) and "val_nll" in hist[-1]
    for k, v in whole.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k


def test_load_model_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="coursekit train rnn"):
        rnn.load_model(tmp_path / "nope.pt")


def test_mid_note_segments_bring_the_frame_before_them(tmp_path):
    folder = _tone_folder(tmp_path / "nsynth-train")
    notes = rnn.load_notes(folder, sr=8000, progress=False)
    torch.manual_seed(0)
    onset = rnn.NoteSegments(notes, seg_len=64, frame_size=16, p_onset=1.0)
    seg, pitch, family, prev, start = onset[0]
    assert torch.equal(seg, notes["codes"][0, :64].long()) and start == 0
    assert torch.all(prev == SILENCE)                       # a note starts after silence
    mid = rnn.NoteSegments(notes, seg_len=64, frame_size=16, p_onset=0.0)
    full = notes["codes"][1].long()
    for _ in range(5):
        seg, _, _, prev, start = mid[1]
        joined = torch.cat([prev, seg])
        starts = [s for s in range(16, len(full) - 63, 16) if torch.equal(full[s:s + 64], seg)]
        assert starts and torch.equal(full[starts[0] - 16:starts[0] + 64], joined)
        assert start * 16 in starts                             # the clock knows where it is


def test_the_clock_starts_silent_and_generation_follows_it():
    # a model with a clock, its embedding still zero, computes what the same model without one does
    plain, clocked = tiny(), tiny(time_buckets=4, time_bucket_s=0.004)   # 2 frames a bucket
    missing, unexpected = clocked.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["time_emb.weight"] and unexpected == []
    codes = torch.randint(0, 256, (2, 160))
    with torch.no_grad():
        assert torch.allclose(clocked(codes, [60, 62]), plain(codes, [60, 62]), atol=1e-6)
        # once trained (here: random) the clock changes the prediction, and `start` moves it
        clocked.time_emb.weight.normal_()
        a, b = clocked(codes, [60, 62]), clocked(codes, [60, 62], start=torch.tensor([0, 3]))
    assert torch.allclose(a[0], b[0]) and not torch.allclose(a[1], b[1])
    # the generation cache steps the clock as teacher forcing does (10 frames: 4 buckets)
    with torch.no_grad():
        tf = torch.softmax(clocked(codes, [60, 62]), dim=-1)
    out, probs = generate(clocked, [60, 62], n_samples=160, forced=codes, return_probs=True)
    assert torch.allclose(probs, tf, atol=1e-5)


def test_the_oscillator_is_the_asked_pitch_starts_silent_and_generation_follows_it():
    plain, osc = tiny(), tiny(osc_harmonics=3)
    missing, unexpected = osc.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["osc_in.bias", "osc_in.weight"] and unexpected == []
    codes = torch.randint(0, 256, (2, 160))
    with torch.no_grad():
        assert torch.allclose(osc(codes, [60, 69]), plain(codes, [60, 69]), atol=1e-6)
        # with an identity projection the features are sin and cos of the harmonics of f0:
        # MIDI 69 is 440 Hz, so at 8 kHz sample n of harmonic h has phase 2 pi h 440 n / 8000
        osc.osc_in = torch.nn.Linear(6, 6, bias=False)
        osc.osc_in.weight.copy_(torch.eye(6))
        n = torch.arange(100)[None]
        feats = osc.oscillator([69], n)[0]                        # (100, 6)
        for h in (1, 2, 3):
            assert torch.allclose(feats[:, h - 1], torch.sin(2 * math.pi * h * 440 * n[0] / 8000), atol=1e-4)
            assert torch.allclose(feats[:, 3 + h - 1], torch.cos(2 * math.pi * h * 440 * n[0] / 8000), atol=1e-4)
        # harmonics at or above Nyquist (4 kHz) are left out: MIDI 108 is 4186 Hz
        assert osc.oscillator([108], n).abs().max() == 0
    # a trained (here: random) oscillator changes the prediction per pitch, and generation
    # feeds the same oscillator sample by sample as teacher forcing does
    trained = tiny(osc_harmonics=3)
    with torch.no_grad():
        trained.osc_in.weight.normal_()
        assert not torch.allclose(trained(codes, [60, 60]), trained(codes, [60, 61]))
        tf = torch.softmax(trained(codes, [60, 69]), dim=-1)
    out, probs = generate(trained, [60, 69], n_samples=160, forced=codes, return_probs=True)
    assert torch.allclose(probs, tf, atol=1e-5)


def test_heldout_notes_come_from_the_valid_split_beside_train(tmp_path):
    train = _tone_folder(tmp_path / "nsynth-train")
    assert rnn.heldout_notes(train) is None                     # no valid split: no held-out loss
    _tone_folder(tmp_path / "nsynth-valid", pitches=(52, 53), families=("organ", "organ"))
    held = rnn.heldout_notes(train, n=8)
    assert held["folder"].endswith("nsynth-valid") and sorted(held["pitch"].tolist()) == [52, 53]
    assert rnn.heldout_notes(train, pitch_range=(70, 72)) is None   # nothing passes the filters


def test_the_reference_checkpoint_is_small_matches_its_card_and_plays():
    path = rnn.reference_checkpoint()
    assert path.stat().st_size <= 5 * 1024 * 1024
    card = json.loads(path.with_suffix(".json").read_text())
    model = rnn.load_model(path)
    for key in ("sr", "frame_size", "hidden", "time_buckets", "osc_harmonics", "train_families"):
        assert card["config"][key] == getattr(model.cfg, key), key
    assert card["metrics"]["val_data"] and "crepe_pitch_acc_50_cents" in card["metrics"]
    out = generate(model, [60, 67], [1, 6], n_samples=160, seed=0)
    assert out.shape == (2, 160) and out.dtype == torch.long and 0 <= out.min() and out.max() < 256


def test_drift_report_measures_loudness_and_pitch_per_window(monkeypatch):
    from coursekit.eval import drift

    sr = 16000
    t = np.arange(sr) / sr
    loud_then_quiet = np.sin(2 * np.pi * 220 * t) * np.where(t < 0.5, 0.5, 0.05)
    times, rms_db = drift.track_rms(loud_then_quiet, sr, window_s=0.25)
    assert times.tolist() == [0.125, 0.375, 0.625, 0.875]
    assert np.allclose(rms_db, [-9.03, -9.03, -29.03, -29.03], atol=0.01)
    # pitch: MIDI 57 (220 Hz) heard at 57, 57.3, 58 and not at all -> 0, 30, 100 cents, NaN
    monkeypatch.setattr(drift, "track_pitch", lambda y, sr, w: (
        times, np.array([57.0, 57.3, 58.0, np.nan]), np.array([1.0, 1.0, 1.0, 0.0])))
    rep = drift.drift_report([{"audio": loud_then_quiet, "pitch": 57}] * 2, sr=sr, progress=False)
    assert np.allclose(rep["cents"][0, :3], [0, 30, 100]) and np.isnan(rep["cents"][0, 3])
    assert rep["within_50_cents"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert rep["voiced"].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert np.allclose(rep["median_abs_cents"][:3], [0, 30, 100]) and np.isnan(rep["median_abs_cents"][3])
