"""What a command writes never replaces what a user made: ``sample --out``, ``train --out``
(issue #24, defects 2, 3, 8, and the common flags of 13 and 14)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from coursekit.cli import main
from coursekit.data.nsynth import write_nsynth_folder


MARK = ".coursekit-output.json"  # coursekit.outputs.MARK, spelled out so this file runs on older code


def owned(folder) -> bool:
    return (Path(folder) / MARK).is_file()


def _one_line(capsys, rc, *names):
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert rc == 2, err
    assert "Traceback" not in err and last.startswith("error: "), err
    for name in names:
        assert str(name) in last, (name, err)
    return last


def _note(pitch=60):
    return {"audio": np.zeros(16000, np.float32), "pitch": pitch, "velocity": 100,
            "instrument_family_str": "flute"}


# --- defect 2: sample --out ------------------------------------------------------------------

def test_defect02_sample_keeps_a_users_files(tmp_path, capsys):
    """A user's folder: refused without --overwrite; with it, only examples.json and the notes
    it lists are replaced, the user's own audio stays."""
    out = tmp_path / "project"
    (out / "audio" / "my_project").mkdir(parents=True)
    song = out / "audio" / "my_project" / "song.wav"
    song.write_bytes(b"RIFF my song")
    (out / "examples.json").write_text(json.dumps({"mine": {"pitch": 1}}))
    rc = main(["sample", "gan", "--n", "1", "--out", str(out)])
    _one_line(capsys, rc, out, "--overwrite")
    assert song.read_bytes() == b"RIFF my song"
    assert json.loads((out / "examples.json").read_text()) == {"mine": {"pitch": 1}}
    assert main(["sample", "gan", "--n", "1", "--out", str(out), "--overwrite"]) == 0
    assert song.read_bytes() == b"RIFF my song"                  # still there, even then
    assert len(json.loads((out / "examples.json").read_text())) == 1


def test_defect02_sample_refuses_a_dataset_split(tmp_path, capsys):
    """A copy of a dataset split (22 notes the course did not mark) is not replaced by 1."""
    split = tmp_path / "split"
    write_nsynth_folder(split, [_note(50 + i) for i in range(22)])
    (split / MARK).unlink()                                      # as a downloaded split: unmarked
    before = sorted(p.name for p in (split / "audio").iterdir())
    rc = main(["sample", "gan", "--n", "1", "--out", str(split)])
    _one_line(capsys, rc, split)
    assert sorted(p.name for p in (split / "audio").iterdir()) == before
    assert len(json.loads((split / "examples.json").read_text())) == 22


def test_defect02_sample_rewrites_its_own_folder(tmp_path, capsys):
    """A folder `sample` wrote is the course's: a second run replaces its notes, and leaves a
    file the user added there."""
    out = tmp_path / "gen"
    assert main(["sample", "gan", "--n", "2", "--out", str(out), "--seed", "1"]) == 0
    assert owned(out)
    (out / "notes.txt").write_text("mine")
    assert main(["sample", "gan", "--n", "1", "--out", str(out)]) == 0
    assert len(list((out / "audio").glob("*.wav"))) == 1
    assert (out / "notes.txt").read_text() == "mine"


def test_write_nsynth_folder_leaves_unlisted_files(tmp_path):
    """Library level: overwrite replaces examples.json and the WAVs it lists, nothing else."""
    out = tmp_path / "f"
    write_nsynth_folder(out, [_note(60), _note(61)])
    (out / MARK).unlink()
    (out / "audio" / "extra.wav").write_bytes(b"x")
    from coursekit.outputs import UserError
    with pytest.raises(UserError, match="did not write"):
        write_nsynth_folder(out, [_note(62)])
    write_nsynth_folder(out, [_note(62)], overwrite=True)
    assert sorted(p.name for p in (out / "audio").iterdir()) == \
        ["extra.wav", "flute_synthetic_000-062-100.wav"]


# --- defect 3: train --out -------------------------------------------------------------------

def test_defect03_train_out_must_be_a_pt_file(tmp_path, capsys):
    """`train gan --out model.json` would write the card over the weights: refused up front."""
    out = tmp_path / "model.json"
    rc = main(["train", "gan", "--out", str(out), "--profile", "smoke"])
    _one_line(capsys, rc, "--out", ".pt")
    assert not out.exists()


def test_defect03_resume_without_a_run_keeps_the_checkpoint(tmp_path, capsys):
    """`--resume --out X.pt` with only X.pt: nothing to resume, and X.pt is not retrained over."""
    out = tmp_path / "X.pt"
    out.write_bytes(b"my weights")
    rc = main(["train", "gan", "--out", str(out), "--resume", "--profile", "smoke"])
    _one_line(capsys, rc, "--resume", "X.train.pt")
    assert out.read_bytes() == b"my weights"


def test_defect03_existing_out_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "X.pt"
    out.write_bytes(b"my weights")
    rc = main(["train", "gan", "--out", str(out), "--profile", "smoke"])
    _one_line(capsys, rc, out, "--overwrite")
    assert out.read_bytes() == b"my weights"
    (tmp_path / "Y.train.pt").write_bytes(b"a run")              # an interrupted run
    rc = main(["train", "gan", "--out", str(tmp_path / "Y.pt"), "--profile", "smoke"])
    _one_line(capsys, rc, "Y.train.pt", "--resume")


def test_defect03_interrupted_overwrite_keeps_the_old_checkpoint(tmp_path, capsys, monkeypatch):
    """With --overwrite, a run stopped part way leaves the previous checkpoint as it was."""
    import coursekit.recipes.gan as gan_recipe

    out = tmp_path / "X.pt"
    out.write_bytes(b"my weights")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(gan_recipe, "train_gan", interrupted)
    rc = main(["train", "gan", "--out", str(out), "--overwrite", "--profile", "smoke"])
    assert rc == 130
    assert out.read_bytes() == b"my weights"


# --- defect 8: unwritable outputs ------------------------------------------------------------

needs_permissions = pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                                       reason="needs a POSIX user whom permissions bind")


@needs_permissions
def test_defect08_unwritable_sample_and_train_out(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        rc = main(["sample", "gan", "--n", "1", "--out", str(locked / "gen")])
        _one_line(capsys, rc, "--out", locked)
        rc = main(["train", "gan", "--out", str(locked / "g.pt"), "--profile", "smoke"])
        _one_line(capsys, rc, "--out", locked)
    finally:
        locked.chmod(0o700)


def test_defect08_out_under_a_file(tmp_path, capsys):
    """A folder that cannot be made (its parent is a file; this binds root too)."""
    f = tmp_path / "afile"
    f.write_text("mine")
    rc = main(["sample", "gan", "--n", "1", "--out", str(f / "gen")])
    _one_line(capsys, rc, "--out", f)
    rc = main(["train", "gan", "--out", str(f / "g.pt"), "--profile", "smoke"])
    _one_line(capsys, rc, "--out", f)
    assert f.read_text() == "mine"


def test_defect08_sample_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("mine")
    rc = main(["sample", "gan", "--n", "1", "--out", str(f)])
    _one_line(capsys, rc, "--out", f)
    assert f.read_text() == "mine"


def test_os_errors_become_one_line(tmp_path, capsys, monkeypatch):
    """An OSError met anywhere in a command (a full disk) is one line naming the file."""
    import coursekit.recipes.gan as gan_recipe

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "g.pt"))
    monkeypatch.setattr(gan_recipe, "train_gan", full)
    rc = main(["train", "gan", "--out", str(tmp_path / "g.pt"), "--profile", "smoke"])
    _one_line(capsys, rc, tmp_path / "g.pt", "disk is full")


# --- defects 13 and 14: the common flags -----------------------------------------------------

@pytest.mark.parametrize("argv, option", [
    (["sample", "gan", "--seed", "-1"], "--seed"),
    (["sample", "gan", "--seed", "99999999999999999999999"], "--seed"),
    (["train", "gan", "--out", "g.pt", "--seed", "-1"], "--seed"),
    (["train", "gan", "--out", "g.pt", "--time-budget", "nan"], "--time-budget"),
    (["train", "gan", "--out", "g.pt", "--time-budget", "0"], "--time-budget"),
    (["sample", "gan", "--n", "0"], "--n"),
    (["sample", "gan", "--n", "100000000"], "--n"),
])
def test_defect13_14_common_flags_are_named(tmp_path, capsys, argv, option):
    if argv[0] == "sample":
        argv = argv + ["--out", str(tmp_path / "gen")]
    else:
        argv = [a if a != "g.pt" else str(tmp_path / "g.pt") for a in argv]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err
    assert not (tmp_path / "gen").exists() and not (tmp_path / "g.pt").exists()
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_course_folders_written_before_marks_are_rewritten(tmp_path, monkeypatch):
    """A folder inside the course's own samples folder (written before folders were marked) is
    the course's: rewritten without --overwrite, a user's extra file in it kept."""
    monkeypatch.setenv("COURSEKIT_SAMPLES", str(tmp_path / "samples"))
    legacy = tmp_path / "samples" / "rnn"
    write_nsynth_folder(legacy, [_note(60), _note(61)])
    (legacy / MARK).unlink()
    (legacy / "mine.txt").write_text("mine")
    write_nsynth_folder(legacy, [_note(62)])
    assert [p.name for p in (legacy / "audio").iterdir()] == ["flute_synthetic_000-062-100.wav"]
    assert (legacy / "mine.txt").read_text() == "mine"


# --- what a second audit found after the fixes ------------------------------------------------

def test_defect02_a_forged_mark_removes_nothing_outside(tmp_path, capsys):
    """A mark listing a path through a link, or a mark that is not the course's, removes
    nothing: the file behind the link stays, and an unreadable mark does not make a user's
    folder the course's."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("mine")
    out = tmp_path / "out"
    out.mkdir()
    (out / "escape").symlink_to(outside, target_is_directory=True)
    (out / MARK).write_text(json.dumps({"written_by": "coursekit", "files": ["escape/precious.txt"]}))
    assert main(["sample", "gan", "--n", "1", "--out", str(out)]) == 0
    assert (outside / "precious.txt").read_text() == "mine"
    user = tmp_path / "user"
    user.mkdir()
    (user / "examples.json").write_text("{}")
    (user / MARK).write_text("garbage")
    rc = main(["sample", "gan", "--n", "1", "--out", str(user)])
    _one_line(capsys, rc, user, "--overwrite")
    assert (user / "examples.json").read_text() == "{}"


@pytest.mark.parametrize("argv, option", [
    (["sample", "gan", "--n", "1", "--out", ""], "--out"),
    (["fad", "", "x"], "REF"),
    (["codec", "reconstruct", "x", ""], "OUT_DIR"),
    (["data", "make", "mini-gtzan", "--root", ""], "--root"),
])
def test_defect13_an_empty_path_is_not_the_current_folder(tmp_path, capsys, monkeypatch, argv, option):
    monkeypatch.chdir(tmp_path)
    _one_line(capsys, main(argv), option)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, option", [
    (["sample", "rnn", "--seconds", "1e9"], "--seconds"),
    (["sample", "transformer", "--seconds", "1e9"], "--seconds"),
    (["sample", "diffusion", "--steps", "100000000"], "--steps"),
    (["listening", "serve", "--results", "r.jsonl", "--port", "99999"], "--port"),
    (["listening", "analyse", "r.jsonl", "--n-boot", "1000000000"], "--n-boot"),
    (["train", "codec", "--out", "c.pt", "--synthetic-notes", "100000000"], "--synthetic-notes"),
])
def test_defect14_sizes_that_would_exhaust_memory_are_refused(tmp_path, capsys, argv, option):
    if argv[0] == "sample":
        argv = argv + ["--out", str(tmp_path / "gen")]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert option in err and "at most" in err and "Traceback" not in err


def test_defect13_a_family_error_names_the_option(tmp_path, capsys):
    rc = main(["sample", "gan", "--n", "1", "--family", "bogus", "--out", str(tmp_path / "g")])
    _one_line(capsys, rc, "--family", "bogus")


def test_leaderboard_out_is_checked_before_the_work(tmp_path, capsys, monkeypatch):
    import coursekit.leaderboard as lb

    def never(*a, **k):
        raise AssertionError("the leaderboard ran before --out was checked")
    monkeypatch.setattr(lb, "run_leaderboard", never)
    mine = tmp_path / "mine.json"
    mine.write_text("my table")
    _one_line(capsys, main(["leaderboard", "--out", str(tmp_path / "mine")]), "--out", "--overwrite")
    assert mine.read_text() == "my table"
