"""The leaderboard on a tiny grid with a fake model folder: JSON schema, table, determinism."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from coursekit import leaderboard as L

GRID = L.make_grid(families=("brass", "organ"), per_family=2)  # 4 notes, MIDI 48 and 72


class Tones(torch.nn.Module):
    """A fake model: harmonic tones whose brightness is one learned number."""

    def __init__(self):
        super().__init__()
        self.decay = torch.nn.Parameter(torch.tensor(0.6))


def _load(path):
    model = Tones()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model


def _generate(model, pitches, families, velocities, seed, progress):
    rng = np.random.default_rng(seed)
    t = np.arange(64000) / 16000
    notes = []
    for p, f, v in zip(pitches, families, velocities):
        f0 = 440 * 2 ** ((p - 69) / 12)
        y = sum(float(model.decay.detach()) ** k * np.sin(2 * np.pi * f0 * (k + 1) * t) for k in range(6))
        y = 0.3 * y / np.abs(y).max() * np.exp(-t) + 0.001 * rng.standard_normal(len(t))
        notes.append({"audio": y.astype(np.float32), "pitch": p, "velocity": v,
                      "instrument_family_str": f})
    return notes


@pytest.fixture(scope="module")
def fake_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.save(Tones().state_dict(), folder / "tones.pt")
    (folder / "tones.json").write_text(json.dumps({"training_time_s": 120.0, "profile": "smoke",
                                                   "data": {"pitch_range": [48, 60]}}))
    return folder


def _run(tmp_path, root, ckdir, real=()):
    models = {"tones": L.ModelSpec("tones", "tones.pt", _load, _generate),
              "absent": L.ModelSpec("absent", "absent.pt", _load, _generate)}
    lines = []
    r = L.run_leaderboard(tmp_path, checkpoint_dir=ckdir, models=models, grid=GRID, data=root,
                          embeddings=("mel",), n_boot=20, progress=False, log=lines.append,
                          real=real)
    return r, lines


def test_grid_is_fixed_and_within_every_family_range():
    grid = L.make_grid()
    assert len(grid) == 64 and grid == L.make_grid()
    flute = [g["pitch"] for g in grid if g["family"] == "flute"]
    assert min(flute) == 60 and max(flute) == 72        # flute starts at 60 in NSynth
    assert {g["family"] for g in grid} == set(L.GRID_FAMILIES)
    with pytest.raises(ValueError, match="unknown family"):
        L.make_grid(families=("kazoo",))


def test_real_selection_is_nearest_and_without_repeats(mini_nsynth_root):
    split = mini_nsynth_root / "nsynth-test"
    sel = L.select_real(split, GRID)
    assert [m["instrument_family_str"] for m in sel] == [g["family"] for g in GRID]
    assert len({m["note_str"] for m in sel}) == len(sel)
    with pytest.raises(ValueError, match="only"):
        L.select_real(split, L.make_grid(families=("brass",), per_family=50))


def test_leaderboard_schema_table_and_determinism(tmp_path, mini_nsynth_root, fake_checkpoints):
    r1, lines = _run(tmp_path / "a", mini_nsynth_root, fake_checkpoints)
    assert any(line.startswith("absent: skipped") for line in lines)
    assert r1["schema"] == L.SCHEMA and r1["grid"]["n_notes"] == 4
    assert r1["skipped"] == [{"model": "absent", "reason": "no checkpoint absent.pt"}]
    (row,) = r1["models"]
    assert row["model"] == "tones" and row["parameters"] == 1 and row["train_wall_s"] == 120.0
    assert row["n_gen"] == row["n_ref"] == 4 and row["audio_seconds_per_second"] > 0
    assert row["coverage_notes"] == ["2 grid note(s) outside the pitch range it was trained on [48, 60]"]
    for entry in (row, r1["floor"]):
        f = entry["fad"]["mel"]
        assert f["fad"] >= 0 and f["ci95"][0] <= f["ci95"][1]
        assert 0 <= entry["pitch"]["crepe_acc"] <= 1
        k = entry["kad"]["mel"]
        assert k["ci95"][0] <= k["ci95"][1] and k["bandwidth"] > 0
    # tones are nothing like the real notes: the model is further away than the floor
    assert row["fad"]["mel"]["fad"] > r1["floor"]["fad"]["mel"]["fad"]
    assert row["kad"]["mel"]["kad"] > r1["floor"]["kad"]["mel"]["kad"]
    json.dumps(r1)                                      # JSON-able
    table = L.format_table(r1)
    assert "| **tones** |" in table and "| **real (valid vs test)** |" in table
    assert "| KAD mel [95% CI] |" in table
    assert "absent: not in the table" in table
    # no real recordings: no real columns, no real keys
    assert "real" not in r1 and "real_fad" not in row and "Against real recordings" not in table

    r2, _ = _run(tmp_path / "b", mini_nsynth_root, fake_checkpoints)
    assert L.quality_view(r1) == L.quality_view(r2)    # same numbers twice
    assert "audio_seconds_per_second" not in L.quality_view(r1)["models"][0]


def test_cli_writes_json_and_markdown(tmp_path, monkeypatch, mini_nsynth_root, fake_checkpoints):
    from coursekit.cli import main

    real_run = L.run_leaderboard

    def fake_run():  # the command's own run, on the tiny grid and the fake folder
        return real_run(tmp_path / "w", checkpoint_dir=fake_checkpoints, grid=GRID,
                        models={"tones": L.ModelSpec("tones", "tones.pt", _load, _generate)},
                        data=mini_nsynth_root, embeddings=("mel",), n_boot=20, progress=False,
                        real=())

    monkeypatch.setattr(L, "run_leaderboard", fake_run)
    assert main(["leaderboard", "--out", str(tmp_path / "lb")]) == 0
    data = json.loads((tmp_path / "lb.json").read_text())
    assert data["models"][0]["model"] == "tones"
    assert (tmp_path / "lb.md").read_text().startswith("| model |")


def _fake_gtzan(root: Path, n: int, seconds: float = 4.2, sr: int = 22050) -> Path:
    """``n`` GTZAN-format clips (noisy chords) under ``root/genres``, with no course marker."""
    from coursekit.audio import save

    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * sr)) / sr
    for i in range(n):
        genre = ("blues", "jazz")[i % 2]
        y = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(100, 2000, 4))
        y = 0.2 * y / np.abs(y).max() + 0.02 * rng.standard_normal(len(t))
        save(root / "genres" / genre / f"{genre}.{i:05d}.wav", y.astype(np.float32), sr)
    return root


def test_leaderboard_reports_on_real_recordings(tmp_path, mini_nsynth_root, fake_checkpoints):
    from coursekit.audio import save, tone
    from coursekit.eval.realdata import real_sets

    realdata = _fake_gtzan(tmp_path / "realdata", 3, seconds=16.5)     # 4 clips of 4 s a file
    maestro = realdata / "maestro-v3.0.0"
    save(maestro / "2018" / "excerpt.wav", tone(440.0, 2.0, 48000, 0.3), 48000)
    (maestro / "maestro-v3.0.0.csv").write_text("canonical_composer,split,audio_filename\n")
    sets = real_sets(data_root=tmp_path / "no-root", realdata=realdata)
    assert [s.name for s in sets] == ["gtzan", "maestro"]
    r, lines = _run(tmp_path / "w", mini_nsynth_root, fake_checkpoints, real=sets)
    assert [x["name"] for x in r["real"]["sets"]] == ["gtzan"] and r["real"]["sets"][0]["n_clips"] == 12
    assert r["real"]["left_out"] == ["maestro: 1 clip(s), fewer than the 10 a FAD needs; not judged"]
    for entry in (r["models"][0], r["floor"]):
        f = entry["real_fad"]["gtzan"]["mel"]
        assert f["fad"] > 0 and f["ci95"][0] <= f["ci95"][1]
    json.dumps(r)
    table = L.format_table(r)
    main, real = table.split("Against real recordings")
    assert "| **tones** |" in main and "vs real" not in main       # the first table is unchanged
    assert "| model | FAD mel vs real gtzan [95% CI, basic] | KAD mel vs real gtzan [95% CI] |" in real
    assert r["models"][0]["real_kad"]["gtzan"]["mel"]["kad"] is not None
    assert "| **tones** |" in real and "| **real (valid vs test)** |" in real
    assert "gtzan: 12 clips of up to 4 s from 3 real file(s) (realdata folder)" in real
    assert "Left out: maestro: 1 clip(s)" in real and "vs real maestro" not in real
    assert L.format_real_table({k: v for k, v in r.items() if k != "real"}) == ""
