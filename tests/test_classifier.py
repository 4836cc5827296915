"""The note classifier: shapes, metrics, training through coursekit.train, the reference checkpoint."""

import json

import numpy as np
import pytest
import torch

from coursekit.data.nsynth import FAMILIES as NSYNTH_FAMILIES
from coursekit.data.nsynth import read_examples
from coursekit.eval import classifier as C
from coursekit.eval.embeddings import get_embedding


pytestmark = pytest.mark.usefixtures("one_thread")


def test_forward_and_feature_shapes():
    model = C.NoteClassifier().eval()
    pitch, family = model(torch.randn(3, 32000))
    assert pitch.shape == (3, 128) and family.shape == (3, 11)
    frames = model.features(torch.randn(2, 64000))
    assert frames.shape == (2, (64000 // 256 + 1) // 16, model.emb_dim)  # STFT frames, pooled 4 x 2
    assert model.frame_hop == 4096 and 0.5 < model.receptive_field / 16000 < 1.0
    assert C.FAMILIES == NSYNTH_FAMILIES


def test_inception_score_and_metrics():
    one_hot = np.eye(4)[[0, 1, 2, 3, 0, 1, 2, 3]]
    assert C.inception_score(one_hot) == pytest.approx(4.0, rel=1e-6)
    assert C.inception_score(np.tile([0.25, 0.75], (5, 1))) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n_clips"):
        C.inception_score(np.zeros((0, 3)))
    pp = np.eye(128)[[60, 61, 70]]
    fp = np.eye(11)[[3, 3, 4]]
    m = C.classification_metrics(pp, fp, pitch_true=[60, 62, 72], family_true=[3, 3, 3])
    assert m["pitch_acc"] == pytest.approx(1 / 3) and m["pitch_acc_1"] == pytest.approx(2 / 3)
    assert m["family_acc"] == pytest.approx(2 / 3) and m["n"] == 3


def test_cli_train_smoke_then_load(mini_nsynth_root, tmp_path, capsys):
    from coursekit import checkpoint
    from coursekit.cli import main

    out = tmp_path / "cls.pt"
    assert main(["train", "classifier", "--data", str(mini_nsynth_root), "--profile", "smoke",
                 "--out", str(out), "--device", "cpu", "--time-budget", "600"]) == 0
    ckpt = torch.load(out, weights_only=True)  # plain tensors and data only
    assert set(ckpt["state"]) == {"model"} and ckpt["step"] == 8
    assert ckpt["format"] == checkpoint.FORMAT and ckpt["kind"] == "classifier"
    card = json.loads(out.with_suffix(".json").read_text())
    for key in ("command", "git_commit", "data", "profile", "wall_time_s", "hardware", "metrics"):
        assert key in card, key
    assert set(checkpoint.CARD_KEYS) <= set(card) and card["training_time_s"] > 0
    assert set(card["metrics"]) == {"valid", "test"}
    model = C.load_classifier(out)
    assert not model.training
    emb = get_embedding("classifier", path=out)
    assert emb.embed(np.zeros(32000, np.float32) + 0.01, 16000).shape[1] == 128
    assert (tmp_path / "cls.train.pt").exists()          # the resumable state, beside it
    (tmp_path / "cls.train.pt").unlink()
    assert main(["train", "classifier", "--profile", "smoke", "--out", str(out), "--resume"]) == 2
    assert "no interrupted run" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="train one"):
        C.load_classifier(tmp_path / "none.pt")


def test_reference_checkpoint_loads_weights_only_and_is_small():
    assert C.DEFAULT_PATH.exists(), "the reference classifier checkpoint must ship with the package"
    assert C.DEFAULT_PATH.stat().st_size <= 5 * 2**20
    ckpt = torch.load(C.DEFAULT_PATH, map_location="cpu", weights_only=True)
    assert set(ckpt["state"]) == {"model"}
    card = json.loads(C.DEFAULT_PATH.with_suffix(".json").read_text())
    assert card["command"].startswith("python -m coursekit train classifier")
    # test notes are of instruments (General MIDI programs) the classifier never heard; 11
    # families, so chance is about 0.09
    assert card["metrics"]["test"]["family_acc"] > 0.4
    assert card["metrics"]["test"]["pitch_acc"] > 0.8


def test_reference_classifies_mini_nsynth_test_notes(mini_nsynth_root):
    """The notes of the session's smoke mini-NSynth test split, of instruments the classifier
    never heard, are named far above chance (1 in 11 families); the card's test split holds
    the figure on 990 notes."""
    split = mini_nsynth_root / "nsynth-test"
    notes = list(read_examples(split).values())
    out = C.predict(*_load(split, notes[0]))
    assert set(out) >= {"pitch", "family", "pitch_probs", "family_probs"}
    m = C.evaluate_split(split, progress=False)
    assert m["n"] == len(notes)
    assert m["family_acc"] >= 0.4, m
    assert m["pitch_acc_1"] >= 0.6, m                 # 22 notes; 0.85 on the card's 990


def _load(split, note):
    from coursekit.audio import load

    return load(split / "audio" / f"{note['note_str']}.wav")
