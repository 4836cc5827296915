"""Issue 24, the evaluation slice: every bad input to ``fad`` / ``eval`` is one clear line, the
printout does not mislead, and nothing reads or deletes outside the folders it is given."""

import json
import re
import shutil
import sys
import urllib.error

import numpy as np
import pytest
import soundfile as sf
import torch

from coursekit.cli import main
from coursekit.data.nsynth import NSynth, load_folder, write_nsynth_folder
from coursekit.eval import embeddings as E
from coursekit.eval import evaluate as EV

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16000


def clip(i: int, seconds: float = 1.0) -> np.ndarray:
    """A decaying harmonic tone, different for every ``i``."""
    rng = np.random.default_rng(i)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 110.0 * 2 ** (i / 5)
    y = sum(0.2 / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) for k in range(1, 5))
    y = y * np.exp(-t * rng.uniform(0.5, 2.0)) + 0.01 * rng.standard_normal(len(t))
    return (0.8 * y / np.abs(y).max()).astype(np.float32)


def plain_folder(path, n=10, first=0):
    path.mkdir(parents=True)
    for i in range(n):
        sf.write(path / f"c{i:02d}.wav", clip(first + i), SR, subtype="FLOAT")
    return path


def nsynth_folder(path, n=10, first=0):
    notes = [{"audio": clip(first + i), "pitch": 48 + i, "velocity": 100,
              "instrument_family_str": "keyboard"} for i in range(n)]
    return write_nsynth_folder(path, notes, n_frames=None)


def one_error_line(capsys, rc):
    captured = capsys.readouterr()
    err = captured.err
    assert rc == 2, captured
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    return err


@pytest.fixture(autouse=True)
def own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSEKIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return plain_folder(tmp_path_factory.mktemp("rel") / "ref", n=10)


# --------------------------------------------------------------------------------------------
# Defect 9: a NaN or empty clip is named; a silent one is measured and named in a warning
# --------------------------------------------------------------------------------------------

BAD_CLIPS = {
    "nan": lambda: np.where(np.arange(SR) % 100 == 0, np.nan, clip(50)).astype(np.float32),
    "inf": lambda: np.where(np.arange(SR) == 7, np.inf, clip(50)).astype(np.float32),
    "empty": lambda: np.zeros(0, np.float32),
}


@pytest.mark.parametrize("command", ["fad", "eval"])
@pytest.mark.parametrize("kind", sorted(BAD_CLIPS))
def test_defect09_bad_clip_in_a_folder_is_named(ref, tmp_path, capsys, command, kind):
    gen = plain_folder(tmp_path / "gen", n=10, first=20)
    sf.write(gen / "c03.wav", BAD_CLIPS[kind](), SR, subtype="FLOAT")
    argv = (["fad", str(ref), str(gen), "--embedding", "mel"] if command == "fad"
            else ["eval", str(gen), "--ref", str(ref), "--embeddings", "mel"])
    err = one_error_line(capsys, main(argv))
    assert "c03.wav" in err and str(gen) in err and "re-generate" in err


def test_defect09_silent_clip_is_measured_and_named_once(ref, tmp_path, capsys):
    gen = plain_folder(tmp_path / "gen", n=10, first=20)
    sf.write(gen / "c04.wav", np.zeros(SR, np.float32), SR, subtype="FLOAT")
    assert main(["fad", str(ref), str(gen), "--embedding", "mel"]) == 0
    out = capsys.readouterr().out
    silent = [line for line in out.splitlines() if "silent" in line]
    assert len(silent) == 1 and "c04.wav" in silent[0] and silent[0].startswith("warning: ")


def test_defect09_embedding_a_nan_file_names_it(tmp_path):
    bad = tmp_path / "bad.wav"
    sf.write(bad, BAD_CLIPS["nan"](), SR, subtype="FLOAT")
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        EV.embed_folder([bad], "mel", cache=False, progress=False)


# --------------------------------------------------------------------------------------------
# Defect 12: a pretrained embedding offline is one line, and no test touches the network
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["vggish", "clap", "encodec"])
def test_defect12_offline_pretrained_embedding_is_one_line(ref, monkeypatch, capsys, name):
    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load", offline)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setitem(sys.modules, "laion_clap", None)  # importing it fails: nothing fetched
    monkeypatch.setattr(E, "_CACHE", {})
    err = one_error_line(capsys, main(["fad", str(ref), str(ref), "--embedding", name]))
    assert f"'{name}' embedding cannot be used" in err and "--embedding crepe" in err


# --------------------------------------------------------------------------------------------
# Defect 15: the printed interval contains the printed FAD; FAD-inf comes with its R² and
# does not depend on file names
# --------------------------------------------------------------------------------------------

def test_defect15_identical_folders_interval_contains_the_fad(ref, tmp_path, capsys):
    copy = shutil.copytree(ref, tmp_path / "copy")
    assert main(["fad", str(ref), str(copy), "--embedding", "mel"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    m = re.search(r"FAD \(mel\) = ([\d.]+)\s+95% CI \[([\d.]+), ([\d.]+)\] \(basic", line)
    assert m, line
    fad, low, high = map(float, m.groups())
    assert low <= fad <= high, line
    assert re.search(r"FAD-inf = [\d.]+ \(fit R² [\d.]+\)", line), line


def test_defect15_renaming_a_file_leaves_fad_inf_unchanged(ref, tmp_path, capsys):
    gen = plain_folder(tmp_path / "gen", n=10, first=30)
    renamed = shutil.copytree(gen, tmp_path / "renamed")
    (renamed / "c00.wav").rename(renamed / "z99.wav")  # first file becomes last
    results = []
    for folder in (gen, renamed):
        assert main(["fad", str(ref), str(folder), "--embedding", "mel", "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    a, b = results
    assert a["fad_inf"] is not None
    for key in ("fad_inf", "fad_inf_r2", "ci95", "ci95_basic"):  # the draws follow the content
        assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), key
    assert a["fad"] == pytest.approx(b["fad"], rel=1e-6)


def test_defect15_poor_fad_inf_fit_is_flagged(monkeypatch):
    rng = np.random.default_rng(0)
    clips = [rng.normal(size=(6, 3)) for _ in range(10)]
    real = EV.fad_inf_clips

    def poor(*a, **k):
        res = real(*a, **k)
        res.r2 = 0.07
        return res

    monkeypatch.setattr(EV, "fad_inf_clips", poor)
    entry, notes = EV.fad_with_ci(clips, clips[::-1], n_boot=5)
    assert entry["fad_inf_r2"] == pytest.approx(0.07)
    assert any("fits poorly" in n and "0.07" in n for n in notes)
    assert "R² 0.07" in EV.fad_inf_text(entry)


# --------------------------------------------------------------------------------------------
# Defect 17: a note name in examples.json cannot reach outside the folder
# --------------------------------------------------------------------------------------------

ESCAPE = "../../../x/good"


@pytest.fixture
def escaping(tmp_path):
    """An NSynth folder whose examples.json names a note ``../../../x/good``, with a WAV file
    waiting at the place that name reaches."""
    gen = nsynth_folder(tmp_path / "a" / "b" / "gen", n=10, first=40)
    outside = tmp_path / "a" / "x" / "good.wav"
    outside.parent.mkdir(parents=True)
    sf.write(outside, clip(99), SR)
    meta = json.loads((gen / "examples.json").read_text())
    key = next(iter(meta))
    note = meta.pop(key)
    note["note_str"] = ESCAPE
    meta[ESCAPE] = note
    (gen / "examples.json").write_text(json.dumps(meta))
    assert (gen / "audio" / f"{ESCAPE}.wav").resolve() == outside.resolve()
    return gen


@pytest.mark.parametrize("command", ["fad", "eval"])
def test_defect17_note_name_outside_the_folder_is_refused(ref, escaping, capsys, command):
    argv = (["fad", str(ref), str(escaping), "--embedding", "mel"] if command == "fad"
            else ["eval", str(escaping), "--ref", str(ref), "--embeddings", "mel"])
    err = one_error_line(capsys, main(argv))
    assert "examples.json" in err and ESCAPE in err


def test_defect17_readers_refuse_it_too(escaping):
    from coursekit.outputs import UserError

    with pytest.raises(UserError, match=re.escape(ESCAPE)):
        load_folder(escaping)
    with pytest.raises(UserError, match="examples.json"):
        NSynth(escaping, check_files=False)


# --------------------------------------------------------------------------------------------
# Defect 8: fad works when only its embedding cache cannot be written
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["fad", "eval"])
def test_defect08_fad_works_with_an_unwritable_cache(ref, tmp_path, monkeypatch, capsys, command):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("COURSEKIT_CACHE", str(blocker))
    gen = plain_folder(tmp_path / "gen", n=10, first=60)
    argv = (["fad", str(ref), str(gen), "--embedding", "mel"] if command == "fad"
            else ["eval", str(gen), "--ref", str(ref), "--embeddings", "mel"])
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert re.search(r"^(FAD \(mel\) = |mel +[\d.]+)", captured.out, re.M), captured.out
    both = (captured.out + captured.err).splitlines()
    assert len([line for line in both if "cache" in line]) == 1
    assert "Traceback" not in captured.err and "CacheNotWritten" not in captured.err
    assert blocker.read_text().startswith("a file")


def test_defect08_cache_that_cannot_be_written_warns_once(tmp_path):
    from coursekit.eval.embedding_cache import CacheNotWritten, EmbeddingCache

    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    (tmp_path / "a.wav").write_bytes(b"a")
    (tmp_path / "b.wav").write_bytes(b"b")
    cache = EmbeddingCache(blocker / "cache")
    with pytest.warns(CacheNotWritten) as record:
        a = cache.cached(tmp_path / "a.wav", "e", lambda p: np.ones(2))
        b = cache.cached(tmp_path / "b.wav", "e", lambda p: np.zeros(2))
    assert len(record) == 1 and str(blocker) in cache.write_error
    assert a.tolist() == [1.0, 1.0] and b.tolist() == [0.0, 0.0]


# --------------------------------------------------------------------------------------------
# Defect 13: eval --embeddings with no (or an unknown) embedding is one line
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [",", " , ,", "", "mel,nope"])
def test_defect13_eval_embeddings_must_name_known_embeddings(ref, capsys, value):
    err = one_error_line(capsys, main(["eval", str(ref), "--ref", str(ref), "--embeddings", value]))
    assert "--embeddings" in err and "crepe, mel, classifier" in err


# --------------------------------------------------------------------------------------------
# The leaderboard's work folders: replace what it wrote there, nothing else
# --------------------------------------------------------------------------------------------

def test_leaderboard_write_subset_keeps_what_it_did_not_write(tmp_path):
    from coursekit.leaderboard import write_subset
    from coursekit.outputs import UserError, owned

    split = nsynth_folder(tmp_path / "split", n=6, first=70)
    notes = list(json.loads((split / "examples.json").read_text()).values())
    user = tmp_path / "mine"
    user.mkdir()
    (user / "song.wav").write_bytes(b"my own song")
    with pytest.raises(UserError, match="did not write"):
        write_subset(split, notes[:2], user)
    assert (user / "song.wav").read_bytes() == b"my own song"

    out = write_subset(split, notes[:3], tmp_path / "work")
    assert owned(out) and len(list((out / "audio").iterdir())) == 3
    (out / "notes.txt").write_text("a user's note, added later")
    write_subset(split, notes[3:5], out)  # a later run: replaces the subset, keeps the note
    assert sorted(p.name for p in (out / "audio").iterdir()) == sorted(
        f"{m['note_str']}.wav" for m in notes[3:5])
    assert (out / "notes.txt").read_text().startswith("a user's note")
    assert set(json.loads((out / "examples.json").read_text())) == {m["note_str"] for m in notes[3:5]}
