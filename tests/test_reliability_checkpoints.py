"""Issue 24, defects 4 and 13: a bad checkpoint or a bad model flag is one clear line.

Every sampler, ``codec reconstruct``, ``train MODEL --init`` and ``--resume`` meet the same bad
files; each command ends with one ``error:`` line that names the file and says what to do
(exit 2), never torch's advice to load with ``weights_only=False``, and a malicious pickle never
runs. A model flag with a value it cannot use is argparse's one line naming the flag; a flag a
sampler does not use in its mode is refused.
"""

import io
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from coursekit import checkpoint
from coursekit.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

CKPT = checkpoint.CHECKPOINT_DIR
REFERENCE = {"rnn": "rnn.pt", "gan": "gan.pt", "transformer": "transformer.pt",
             "diffusion": "diffusion.pt", "codec": "codec.pt"}
BAD = ["empty", "random", "truncated", "json", "folder", "other_model", "malicious", "missing_key",
       "wrong_shape", "config_misfit"]


class _RunsCode:
    """A pickle whose loading would call ``os.system`` (writing the marker file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    """``make(kind, name) -> path`` of a bad checkpoint for ``kind``, and the marker file that a
    malicious pickle would write."""
    root = tmp_path_factory.mktemp("bad-checkpoints")
    marker = root / "MALICIOUS-PICKLE-RAN"
    made = {}

    def variant(kind, name, change):
        ckpt = torch.load(CKPT / REFERENCE[kind], weights_only=True)
        change(ckpt)
        path = root / f"{kind}-{name}.pt"
        torch.save(ckpt, path)
        return path

    def drop_key(c):
        c["state"]["model"].pop(next(iter(c["state"]["model"])))

    def wrong_shape(c):
        sd = c["state"]["model"]
        key = next(k for k, v in sd.items() if v.dim() >= 1 and v.shape[0] > 3)
        sd[key] = torch.zeros(3, *sd[key].shape[1:])

    def make(kind, name):
        if (kind, name) in made:
            return made[kind, name]
        path = root / f"{kind}-{name}.pt"
        if name == "empty":
            path.write_bytes(b"")
        elif name == "random":
            path.write_bytes(np.random.default_rng(0).bytes(4096))
        elif name == "truncated":
            path.write_bytes((CKPT / REFERENCE[kind]).read_bytes()[:50_000])
        elif name == "json":
            path.write_text('{"model": "rnn", "steps": 10}\n')
        elif name == "folder":
            path.mkdir()
        elif name == "other_model":
            path = CKPT / ("rnn.pt" if kind == "gan" else "gan.pt")
        elif name == "malicious":
            buf = io.BytesIO()
            torch.save({"format": checkpoint.FORMAT, "kind": kind, "config": {},
                        "state": {"model": _RunsCode(marker)}}, buf)
            path.write_bytes(buf.getvalue())
        elif name == "missing_key":
            path = variant(kind, name, drop_key)
        elif name == "wrong_shape":
            path = variant(kind, name, wrong_shape)
        elif name == "config_misfit":
            path = variant(kind, name, lambda c: c.__setitem__("config", {"unknown": 1}))
        made[kind, name] = path
        return path

    make.marker = marker
    return make


def _one_line(rc, err, path):
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    assert "weights_only" not in err, err       # never torch's advice to load unsafely
    assert str(path) in err, err


@pytest.fixture(scope="module")
def audio_in(tmp_path_factory):
    """A folder with one short WAV for ``codec reconstruct``."""
    folder = tmp_path_factory.mktemp("codec-in")
    sf.write(folder / "a.wav", 0.1 * np.sin(np.arange(8000) / 5).astype(np.float32), 16000)
    return folder


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("command", ["rnn", "gan", "transformer", "diffusion", "codec"])
def test_defect04_bad_checkpoint_is_one_line_in_every_sampler(command, bad, bad_files, audio_in,
                                                              tmp_path, capsys):
    path = bad_files(command, bad)
    argv = (["codec", "reconstruct", str(audio_in), str(tmp_path / "out")] if command == "codec" else
            ["sample", command, "--n", "1", "--out", str(tmp_path / "out")])
    rc = main(argv + ["--checkpoint", str(path)])
    err = capsys.readouterr().err
    _one_line(rc, err, path)
    assert "train" in err, err                  # what to do: which command writes such a file
    if bad == "folder":
        assert "folder" in err
    if bad in ("missing_key", "wrong_shape", "config_misfit"):
        assert f"do not fit a {command} model" in err
    assert not bad_files.marker.exists(), "loading the malicious pickle ran its code"


@pytest.mark.parametrize("bad", ["empty", "truncated", "malicious", "other_model", "wrong_shape"])
@pytest.mark.parametrize("model", ["rnn", "transformer", "diffusion", "codec"])
def test_defect04_train_init_with_a_bad_checkpoint_is_one_line(model, bad, bad_files, tmp_path, capsys):
    path = bad_files(model, bad)
    rc = main(["train", model, "--profile", "smoke", "--out", str(tmp_path / "m.pt"), "--init", str(path)])
    err = capsys.readouterr().err
    _one_line(rc, err, path)
    assert "--init" in err and "train" in err
    assert not (tmp_path / "m.pt").exists()
    assert not bad_files.marker.exists()


@pytest.mark.parametrize("bad", ["empty", "malicious", "other_model", "wrong_shape"])
def test_defect04_resume_with_a_bad_state_file_is_one_line(bad, bad_files, tmp_path, capsys):
    state = tmp_path / "m.train.pt"
    src = bad_files("rnn", bad)
    state.write_bytes(src.read_bytes())
    rc = main(["train", "rnn", "--profile", "smoke", "--out", str(tmp_path / "m.pt"), "--resume"])
    err = capsys.readouterr().err
    _one_line(rc, err, state)
    assert "--resume" in err and "--overwrite" in err
    assert state.read_bytes() == src.read_bytes()   # the state file is left as it was
    assert not bad_files.marker.exists()


def test_defect04_resume_state_of_other_shapes_is_one_error(tmp_path):
    """The training loop's own restore (weights that load, an optimizer of another model)."""
    from coursekit.train import make_step, train

    def run(width, resume):
        model = torch.nn.Linear(width, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        step = make_step(model, opt, lambda b: model(b).pow(2).mean())
        return train(step, [torch.ones(2, width)], {"model": model, "opt": opt}, max_steps=1,
                     time_budget_s=float("inf"), ckpt_path=tmp_path / "run.pt", resume=resume,
                     progress=False)

    run(3, resume=False)
    with pytest.raises(ValueError) as err:
        run(2, resume=True)
    msg = str(err.value)
    assert "run.pt" in msg and "'model'" in msg and "--overwrite" in msg and "\n" not in msg


def test_defect04_piano_model_is_not_sampled_as_notes(tmp_path, capsys):
    piano = CKPT / "transformer_piano.pt"
    assert torch.load(piano, weights_only=True)["config"]["task"] == "piano"
    rc = main(["sample", "transformer", "--n", "1", "--seconds", "0.2", "--out", str(tmp_path / "o"),
               "--checkpoint", str(piano)])
    err = capsys.readouterr().err
    _one_line(rc, err, piano)
    assert "piano" in err and "--prompt" in err     # which command samples it
    assert not (tmp_path / "o").exists()


def test_defect04_a_notes_model_does_not_continue_a_prompt(audio_in, tmp_path, capsys):
    notes = CKPT / "transformer.pt"
    rc = main(["sample", "transformer", "--n", "1", "--seconds", "0.2", "--out", str(tmp_path / "o"),
               "--prompt", str(audio_in / "a.wav"), "--checkpoint", str(notes)])
    err = capsys.readouterr().err
    _one_line(rc, err, notes)
    assert "without --prompt" in err


@pytest.mark.parametrize("argv, option", [
    (["sample", "rnn", "--seconds", "0"], "--seconds"),
    (["sample", "rnn", "--seconds", "-1"], "--seconds"),
    (["sample", "rnn", "--temperature", "nan"], "--temperature"),
    (["sample", "transformer", "--seconds", "-3"], "--seconds"),
    (["sample", "transformer", "--temperature", "nan"], "--temperature"),
    (["sample", "transformer", "--cfg", "nan"], "--cfg"),
    (["sample", "transformer", "--top-k", "-1"], "--top-k"),
    (["sample", "transformer", "--top-p", "1.5"], "--top-p"),
    (["sample", "diffusion", "--seconds", "0"], "--seconds"),
    (["sample", "diffusion", "--cfg", "nan"], "--cfg"),
    (["sample", "diffusion", "--steps", "0"], "--steps"),
    (["sample", "gan", "--pitch", "-5"], "--pitch"),
    (["sample", "rnn", "--pitch", "300"], "--pitch"),
    (["train", "codec", "--stft-floor", "inf"], "--stft-floor"),
    (["train", "codec", "--frame-loss", "nan"], "--frame-loss"),
    (["train", "codec", "--anchor", "nan"], "--anchor"),
])
def test_defect13_model_flags_are_checked_by_argparse(argv, option, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv + ["--out", str(tmp_path / ("o.pt" if argv[0] == "train" else "o"))]
             + (["--n", "1"] if argv[0] == "sample" else []))
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert f"argument {option}:" in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, flag", [
    (["sample", "gan", "--prompt", "F"], "--prompt"),
    (["sample", "gan", "--cfg", "2"], "--cfg"),
    (["sample", "gan", "--steps", "3"], "--steps"),
    (["sample", "rnn", "--cfg", "2"], "--cfg"),
    (["sample", "codec"], "codec"),
])
def test_defect13_a_sampler_rejects_a_flag_it_does_not_have(argv, flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv + ["--n", "1", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and flag in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, flag", [
    (["sample", "diffusion", "--seconds", "2"], "--seconds"),         # a notes model: 4 s notes
    (["sample", "diffusion", "--checkpoint", str(CKPT / "diffusion_genres.pt"), "--pitch", "60"], "--pitch"),
    (["sample", "transformer", "--prompt", "PROMPT", "--cfg", "2"], "--cfg"),
    (["sample", "transformer", "--prompt", "PROMPT", "--pitch", "60"], "--pitch"),
])
def test_defect13_a_sampler_refuses_a_flag_its_model_does_not_use(argv, flag, audio_in, tmp_path, capsys):
    argv = [str(audio_in / "a.wav") if a == "PROMPT" else a for a in argv]
    rc = main(argv + ["--n", "1", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith(f"error: {flag}"), err
    assert not (tmp_path / "o").exists()
