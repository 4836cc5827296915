"""What every recipe shares (coursekit.recipes): the resume file, the run's card, cache names."""

import os
import time

from coursekit import checkpoint
from coursekit.recipes import cache_path, resume_path, write_run_card


def test_resume_state_lives_beside_the_output(tmp_path):
    assert resume_path(tmp_path / "model.pt") == tmp_path / "model.train.pt"


def test_run_card_has_the_schema_and_the_runs_figures(tmp_path, capsys):
    out = tmp_path / "m.pt"
    out.write_bytes(b"x" * 10)
    history = [{"step": 1, "time": 0.5, "loss": 2.0}, {"step": 2, "time": 1.25, "loss": 1.0}]
    card = checkpoint.read_card(write_run_card(
        out, model="rnn", profile="smoke", data={"notes": 3}, config={"a": 1}, history=history,
        started=time.perf_counter(), metrics={"loss": 1.0}, initialized_from=tmp_path / "start.pt"))
    assert set(checkpoint.CARD_KEYS) <= set(card)
    assert card["steps"] == 2 and card["training_time_s"] == 1.2 and card["size_bytes"] == 10
    assert card["initialized_from"] == str(tmp_path / "start.pt") and card["metrics"] == {"loss": 1.0}
    assert "wrote" in capsys.readouterr().out


def test_cache_name_follows_the_data_and_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSEKIT_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "nsynth-train"
    data.mkdir()
    (data / "examples.json").write_text("{}")
    first = cache_path("tokens", data, "digest|4")
    assert first.parent == tmp_path / "cache" / "tokens"
    assert cache_path("tokens", data, "digest|4") == first
    assert cache_path("tokens", data, "digest|8") != first              # other settings
    (data / "examples.json").write_text('{"a": 1}')                     # the data made again
    os.utime(data / "examples.json", ns=(1, 1))
    assert cache_path("tokens", data, "digest|4") != first
