"""Chapter 03's GAN: the log-magnitude + IF representation, shapes, the recipes, the measures, the CLI."""

import json

import numpy as np
import pytest
import torch

from coursekit import audio, checkpoint
from coursekit.data.nsynth import FAMILIES
from coursekit.models.gan import (N_BINS, N_FRAMES, SEGMENT, Discriminator, GANConfig, Generator,
                                  d_loss, from_features, to_features)
from coursekit.recipes import gan


pytestmark = pytest.mark.usefixtures("one_thread")


def _f0(y, sr=16000):
    """Frequency from zero crossings (enough for a clean tone)."""
    s = np.signbit(y)
    crossings = np.nonzero(s[1:] != s[:-1])[0]
    return (len(crossings) - 1) / 2 / ((crossings[-1] - crossings[0]) / sr)


@pytest.mark.parametrize("midi", [48, 60, 71])
def test_features_round_trip_keeps_the_pitch(midi):
    hz = audio.midi_to_hz(midi)
    y = audio.tone(hz, 1.1, 16000, 0.5)
    x = to_features(y)
    assert x.shape == (1, 2, N_BINS, N_FRAMES)
    assert float(x.abs().max()) <= 1.0
    y_hat = from_features(x)[0].numpy()
    assert y_hat.shape == (SEGMENT,)
    cents = 1200 * np.log2(_f0(y_hat[2000:-2000]) / hz)
    assert abs(cents) < 10
    # the magnitude comes back too (phase differs at the start, loudness does not)
    rms = lambda v: float(np.sqrt(np.mean(v ** 2)))
    assert abs(rms(y_hat[2000:-2000]) / rms(y[2000:SEGMENT - 2000]) - 1) < 0.1


def test_generator_and_discriminator_shapes_and_conditions():
    cfg = GANConfig(channels=16, families=list(FAMILIES))
    G, D = Generator(cfg), Discriminator(cfg)
    x = G(torch.randn(3, cfg.z_dim), pitch=[48, 60, 72], family=[0, -1, 10])
    assert x.shape == (3, 2, N_BINS, N_FRAMES) and float(x.abs().max()) <= 1
    assert D(x, pitch=[48, 60, 72]).shape == (3,)
    with pytest.raises(ValueError, match="trained on pitches 48-72"):
        G(torch.randn(1, cfg.z_dim), pitch=[30])


@pytest.mark.parametrize("recipe", ["stable", "unstable"])
def test_one_step_of_each_recipe_trains_both_networks(recipe):
    torch.manual_seed(0)
    G, D, opt_g, opt_d, r = gan.make_gan(recipe, channels=16)
    assert any("parametrizations" in n for n, _ in D.named_parameters()) == r["spectral_norm"]
    y = torch.from_numpy(np.stack([audio.tone(audio.midi_to_hz(p), 1.1, 16000, 0.5)[:SEGMENT]
                                   for p in (50, 60, 70, 55)]))
    pitch, family = torch.tensor([50, 60, 70, 55]), torch.tensor([2, 2, 6, 6])
    real = to_features(y)
    fake0 = G(torch.randn(4, 64), pitch, family).detach()
    before_d = d_loss(D(real, pitch, family), D(fake0, pitch, family), r["loss"]).item()
    g_before = [p.detach().clone() for p in G.parameters()]
    step = gan.gan_step_fn(G, D, opt_g, opt_d, r["loss"])
    logs = step((y, pitch, family), 0)
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake", "ac_real", "ac_fake"}
    assert all(np.isfinite(v) for v in logs.values())
    after_d = d_loss(D(real, pitch, family), D(fake0, pitch, family), r["loss"]).item()
    assert after_d < before_d                       # D got better at telling these apart
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters()))  # G moved


def _tones(pitches=(50, 60, 70, 55)):
    return torch.from_numpy(np.stack([audio.tone(audio.midi_to_hz(p), 1.1, 16000, 0.5)[:SEGMENT]
                                      for p in pitches]))


def test_loss_hooks_give_the_library_step_or_replace_its_losses():
    from coursekit.models.gan import g_loss

    batch = (_tones(), torch.tensor([50, 60, 70, 55]), torch.tensor([2, 2, 6, 6]))
    hooks = [(None, None),                                           # the library's losses
             (lambda r, f: d_loss(r, f, "hinge"), lambda f: g_loss(f, "hinge")),  # the same, given
             (lambda r, f: 0 * d_loss(r, f), lambda f: 0 * g_loss(f))]            # other losses
    logs, weights = [], []
    for d_fn, g_fn in hooks:
        torch.manual_seed(0)
        G, D, opt_g, opt_d, r = gan.make_gan("stable", channels=16)
        torch.manual_seed(1)
        logs.append(gan.gan_step_fn(G, D, opt_g, opt_d, r["loss"], d_loss_fn=d_fn, g_loss_fn=g_fn)(batch, 0))
        weights.append(torch.cat([w.detach().flatten() for w in G.parameters()]))
    assert logs[0] == logs[1] and torch.equal(weights[0], weights[1])
    assert logs[2]["d_loss"] != logs[0]["d_loss"] and not torch.equal(weights[2], weights[0])


def test_train_gan_trains_with_the_step_function_it_is_given():
    notes = {"audio": _tones().half(), "pitch": torch.tensor([50, 60, 70, 55]),
             "family": torch.tensor([2, 2, 6, 6])}
    seen = []

    def step(G, D, opt_g, opt_d, batch):
        seen.append((type(G).__name__, type(D).__name__, len(batch[0])))
        return {"d_loss": 0.0, "g_loss": 0.0}

    _, _, history, _ = gan.train_gan(notes, channels=16, batch_size=2, max_steps=2, step_fn=step,
                                     progress=False)
    assert seen == [("Generator", "Discriminator", 2)] * 2 and len(history) == 2


def test_generator_takes_a_condition_vector_in_place_of_pitch_and_family():
    torch.manual_seed(0)
    G = Generator(GANConfig(channels=16, families=list(FAMILIES)))
    z = torch.randn(3, G.cfg.z_dim)
    c = G.cond([50, 60, 70], [1, 2, -1])
    assert torch.equal(G(z, cond=c), G(z, [50, 60, 70], [1, 2, -1]))
    halfway = G(z[:1], cond=(c[:1] + c[1:2]) / 2)                 # between two conditions
    assert halfway.shape == (1, 2, N_BINS, N_FRAMES)


def test_diversity_and_ndb_see_mode_collapse():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 8))
    good = rng.normal(size=(200, 8))
    collapsed = np.repeat(rng.normal(size=(1, 8)), 200, axis=0) + 0.01 * rng.normal(size=(200, 8))
    assert gan.ndb(real, good, k=10)["ndb"] <= 2
    assert gan.ndb(real, collapsed, k=10)["ndb"] >= 8
    groups = np.repeat([0, 1], 100)
    assert gan.feature_diversity(collapsed, groups) < 0.05 < gan.feature_diversity(good, groups)
    with pytest.raises(ValueError, match="at least k"):
        gan.ndb(real[:5], good, k=10)


def test_train_save_load_and_sample_cli_write_a_valid_nsynth_folder(tmp_path):
    from coursekit.cli import main
    from coursekit.data.nsynth import check_nsynth, write_nsynth_folder

    notes = [{"audio": audio.tone(audio.midi_to_hz(p), 4.0, 16000, 0.5), "pitch": p,
              "velocity": 100, "instrument_family_str": f}
             for p, f in [(50, "flute"), (60, "organ"), (66, "flute"), (70, "organ")]]
    folder = write_nsynth_folder(tmp_path / "nsynth-train", notes)
    ckpt = tmp_path / "gan.pt"
    assert main(["train", "gan", "--profile", "smoke", "--out", str(ckpt), "--data", str(folder)]) == 0
    card = json.loads(ckpt.with_suffix(".json").read_text())
    assert card["model"] == "gan" and card["recipe"] == "stable" and card["steps"] > 0
    assert card["data"]["families"] == ["flute", "organ"]
    assert set(checkpoint.CARD_KEYS) <= set(card) and card["training_time_s"] >= 0
    saved = checkpoint.load(ckpt, kind="gan")
    assert saved["step"] == card["steps"] and set(saved["state"]) == {"model"}
    assert saved["config"]["families"] == list(FAMILIES)
    # --resume continues from the training checkpoint beside --out (here: already done)
    assert main(["train", "gan", "--profile", "smoke", "--out", str(ckpt), "--data", str(folder),
                 "--resume"]) == 0
    assert json.loads(ckpt.with_suffix(".json").read_text())["steps"] == card["steps"]
    out = tmp_path / "samples"
    assert main(["sample", "gan", "--n", "4", "--out", str(out), "--checkpoint", str(ckpt),
                 "--pitch", "60", "--family", "organ", "--seed", "2"]) == 0
    counts, problems = check_nsynth(out)
    assert problems == [] and counts["notes"] == 4
    meta = json.loads((out / "examples.json").read_text())
    assert {m["pitch"] for m in meta.values()} == {60}
    assert {m["instrument_family_str"] for m in meta.values()} == {"organ"}
    # pitches outside the trained range are refused with one clear line
    assert main(["sample", "gan", "--n", "1", "--out", str(out), "--checkpoint", str(ckpt),
                 "--pitch", "90"]) == 2


def test_resume_keeps_the_width_and_recipe_its_training_state_was_saved_with(tmp_path, capsys):
    from coursekit.cli import main
    from coursekit.data.nsynth import write_nsynth_folder
    from coursekit.profiles import get_profile

    notes = [{"audio": audio.tone(audio.midi_to_hz(p), 4.0, 16000, 0.5), "pitch": p,
              "velocity": 100, "instrument_family_str": f} for p, f in [(50, "flute"), (66, "organ")]]
    folder = write_nsynth_folder(tmp_path / "nsynth-train", notes)
    ckpt = tmp_path / "gan.pt"
    base = ["train", "gan", "--out", str(ckpt), "--data", str(folder)]
    assert main(base + ["--profile", "smoke", "--task", "unstable"]) == 0
    small, steps = checkpoint.load(ckpt, kind="gan")["config"], checkpoint.load(ckpt, kind="gan")["step"]
    assert small["channels"] != get_profile("default").ch03.channels
    # the default profile (its budget and batch) carries on at the smoke run's width and recipe
    capsys.readouterr()
    assert main(base + ["--profile", "default", "--resume", "--time-budget", "3"]) == 0
    out = capsys.readouterr().out
    assert f"the architecture comes from {tmp_path / 'gan.train.pt'} (channels {small['channels']})" in out
    assert f"resumed from {tmp_path / 'gan.train.pt'}" in out
    card = json.loads(ckpt.with_suffix(".json").read_text())
    assert card["profile"] == "default" and card["recipe"] == "unstable" and card["steps"] > steps
    assert checkpoint.load(ckpt, kind="gan")["config"] == small
    # another recipe than the saved one is one clear line
    assert main(base + ["--profile", "default", "--resume", "--task", "stable"]) == 2


def test_a_resumed_run_ends_as_an_uninterrupted_one(tmp_path):
    y = torch.from_numpy(np.stack([audio.tone(audio.midi_to_hz(p), 1.1, 16000, 0.5)[:SEGMENT]
                                   for p in (50, 60, 70, 55)]))
    notes = {"audio": y.half(), "pitch": torch.tensor([50, 60, 70, 55]),
             "family": torch.tensor([2, 2, 6, 6])}
    kw = dict(channels=16, batch_size=2, time_budget_s=float("inf"), progress=False, device="cpu")
    G_full, _, hist_full, _ = gan.train_gan(notes, max_steps=4, **kw)
    ckpt = tmp_path / "run.pt"
    gan.train_gan(notes, max_steps=2, ckpt_path=ckpt, **kw)
    G, _, hist, _ = gan.train_gan(notes, max_steps=4, ckpt_path=ckpt, resume=True, **kw)
    assert [h["d_loss"] for h in hist] == [h["d_loss"] for h in hist_full]
    for a, b in zip(G.state_dict().values(), G_full.state_dict().values()):
        assert torch.equal(a, b)
    # the training checkpoint holds both players; load_generator takes its generator
    assert checkpoint.load(ckpt, kind="gan")["step"] == 4
    G_loaded = gan.load_generator(ckpt)
    assert G_loaded.cfg.train_families == ["flute", "organ"]
    assert all(torch.equal(a, b) for a, b in zip(G_loaded.state_dict().values(),
                                                  G.state_dict().values()))


def test_reference_generator_loads_and_plays_its_conditions():
    G = gan.load_generator()
    assert G.cfg.families == list(FAMILIES) and G.cfg.train_families
    notes = gan.generate_notes(G, [60, 64], families="flute", seed=0)
    assert [n["pitch"] for n in notes] == [60, 64]
    assert {n["instrument_family_str"] for n in notes} == {"flute"}
    assert notes[0]["audio"].shape == (64000,) and np.abs(notes[0]["audio"]).max() <= 0.95 + 1e-6
    with pytest.raises(FileNotFoundError, match="train gan"):
        gan.load_generator("/nonexistent/gan.pt")


def test_train_gan_takes_only_its_own_flags(capsys):
    from coursekit.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["train", "gan", "--anchor", "5", "--out", "x.pt"])
    assert exit_.value.code == 2 and "--anchor" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["train", "gan", "--task", "wobbly", "--out", "x.pt"])
    assert exit_.value.code == 2 and "stable" in capsys.readouterr().err
