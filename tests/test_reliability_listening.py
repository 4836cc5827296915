"""Reliability of the listening test (issue 24): blinding by length, merging results of different
tests, bad ``--fad`` files, the temporary folder of ``listening serve``, and that nothing a user
or a rater made is removed or rewritten.

Voila is never started: a stand-in ``voila`` module (put first on ``PYTHONPATH``) listens on the
port ``serve`` gives it, answers the start-up probe, and then exits, waits, or signals the test
process as a real server or a user would.
"""

import os
import signal
import tempfile
import textwrap
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from coursekit.cli import main
from coursekit.eval import listening as lt

SR = 16000


def _write_system(folder: Path, seconds: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for pitch in (60, 64, 67):
        t = np.arange(int(seconds * SR)) / SR
        y = 0.3 * np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t) + 0.01 * rng.normal(size=t.size)
        sf.write(folder / f"keyboard_acoustic_004-{pitch:03d}-100.wav", y.astype(np.float32), SR)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Two systems whose clips differ in length (0.5 s and 0.2 s) and a 0.5 s reference."""
    root = tmp_path_factory.mktemp("systems")
    return {"sys_long": _write_system(root / "sys_long", 0.5, 1),
            "sys_short": _write_system(root / "sys_short", 0.2, 2),
            "ref": _write_system(root / "ref", 0.5, 3)}


@pytest.fixture(scope="module")
def mos_test(folders, tmp_path_factory):
    return lt.build_test({k: folders[k] for k in ("sys_long", "sys_short")},
                         tmp_path_factory.mktemp("t") / "mos", n_items=3, seconds=0.4, verbose=False)


def _frames(path: Path) -> int:
    with wave.open(str(path), "rb") as w:
        return w.getnframes()


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    return err


# ---------------------------------------------------------------------------------------------
# Defect 5: blinding leaks through length
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol, normalize, seconds", [("mos", True, 0.4), ("mushra", True, 0.4),
                                                          ("mos", False, 0.4), ("mos", True, 2.0)])
def test_defect05_every_stimulus_has_the_same_length(folders, tmp_path, protocol, normalize, seconds):
    """A system with shorter clips must not be recognisable by duration: every stimulus of the
    test has the same number of frames (padded with silence after a fade-out)."""
    test = lt.build_test({k: folders[k] for k in ("sys_long", "sys_short")}, tmp_path / "t",
                         protocol=protocol, reference=folders["ref"], n_items=3, seconds=seconds,
                         normalize=normalize, verbose=False)
    frames = {sid: _frames(test.folder / "stimuli" / f"{sid}.wav") for sid in test.stimuli}
    assert len(set(frames.values())) == 1, frames
    # the test's length: `seconds`, or the longest clip when every clip is shorter
    assert set(frames.values()) == {int(round(min(seconds, 0.5) * SR))}
    # the short system's clip ends in a fade, then silence (one dither step at most)
    short = next(sid for sid, s in test.stimuli.items() if s["system"] == "sys_short")
    y = np.frombuffer(test.stimulus_bytes(short)[44:], dtype="<i2").astype(float)
    n = int(0.2 * SR)
    assert np.abs(y[n + 10:]).max() <= 2
    assert np.abs(y[n - 20:n]).max() < 0.2 * np.abs(y[: n // 2]).max()


def test_defect05_prepare_stimulus_pads_after_the_gain():
    y = lt.prepare_stimulus(np.full(8000, 0.1, np.float32), SR, length=16000)
    assert y.shape == (16000,) and not y[8000:].any()
    # the loudness is that of the sound, not lowered by the padding around it
    assert 20 * np.log10(np.sqrt(np.mean(y[:7800] ** 2))) == pytest.approx(-20, abs=0.5)


# ---------------------------------------------------------------------------------------------
# Defect 6: results files of two different tests
# ---------------------------------------------------------------------------------------------

def test_defect06_results_of_two_tests_are_not_merged(folders, mos_test, tmp_path, capsys):
    other = lt.build_test({"sys_long": folders["sys_long"]}, tmp_path / "other", n_items=2,
                          seconds=0.3, verbose=False)
    a = lt.simulate_raters(mos_test, 2, {"sys_long": 0.8, "sys_short": 0.3}, results=tmp_path / "a.jsonl")
    b = lt.simulate_raters(other, 2, {"sys_long": 0.8}, results=tmp_path / "b.jsonl")
    assert main(["listening", "analyse", str(a), str(b), "--n-boot", "50"]) == 2
    err = _one_line_error(capsys)
    for name in (str(a), str(b), mos_test.test_id, other.test_id):
        assert name in err
    with pytest.raises(ValueError, match="different tests"):
        lt.load_results([a, b])
    # files of the same test still merge
    c = lt.simulate_raters(mos_test, 1, {"sys_long": 0.8, "sys_short": 0.3}, seed=5,
                           results=tmp_path / "c.jsonl")
    assert len(lt.load_results([a, c]).participants) == 3


# ---------------------------------------------------------------------------------------------
# Defect 18: --fad files; the temporary folder of `listening serve`
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary", b"[1, 2, 3]", b"{}",
                                     b'{"a": "x"}', b'{"a": {"y": 1}}', b"{not json", b'"text"',
                                     b'{"a": true}', None])
def test_defect18_bad_fad_file_is_one_line_naming_it(mos_test, tmp_path, capsys, content):
    results = lt.simulate_raters(mos_test, 2, {"sys_long": 0.8, "sys_short": 0.3},
                                 results=tmp_path / "r.jsonl")
    fad = tmp_path / "fad.json"
    if content is None:
        fad.mkdir()
    else:
        fad.write_bytes(content)
    capsys.readouterr()
    assert main(["listening", "analyse", str(results), "--fad", str(fad), "--n-boot", "50"]) == 2
    err = _one_line_error(capsys)
    assert "--fad" in err and str(fad) in err and "{system: fad}" in err


_FAKE_VOILA = textwrap.dedent('''
    """A stand-in for `python -m voila PAGE --port=N --Voila.ip=IP ...` (tests only)."""
    import os, signal, socket, sys, time

    opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    mode = os.environ.get("FAKE_VOILA", "exit")
    with open(os.environ["FAKE_VOILA_RECORD"], "w") as f:
        page = [a for a in sys.argv[1:] if a.endswith(".ipynb")][0]
        f.write(f"{os.getpid()}\\n{os.getcwd()}\\n{os.path.exists(page)}\\n")
    if mode == "fail":
        print("fake voila: cannot start", flush=True)
        sys.exit(3)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((opts["Voila.ip"], int(opts["port"])))
    srv.listen()
    srv.accept()[0].close()  # the start-up probe of serve()
    time.sleep(0.5)
    if mode == "exit":
        sys.exit(0)
    if mode in ("sigint-parent", "sigterm-parent"):
        os.kill(os.getppid(), signal.SIGINT if mode == "sigint-parent" else signal.SIGTERM)
        time.sleep(3)
        sys.exit(0)
    time.sleep(60)
''')


@pytest.fixture
def fake_voila(tmp_path, monkeypatch):
    """Run the stand-in voila; temporary folders go to a folder of their own, checked after."""
    root = tmp_path / "fake"
    (root / "voila").mkdir(parents=True)
    (root / "voila" / "__init__.py").write_text("")
    (root / "voila" / "__main__.py").write_text(_FAKE_VOILA)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    record = tmp_path / "record.txt"
    monkeypatch.setenv("FAKE_VOILA_RECORD", str(record))
    monkeypatch.setenv("FAKE_VOILA", "exit")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    started = []

    def run(mode, **kw):
        monkeypatch.setenv("FAKE_VOILA", mode)
        try:
            return lt.serve(kw.pop("test"), kw.pop("results"), port=0, timeout=20, **kw)
        except KeyboardInterrupt:  # a signal that reached the test, not the server: report it
            return "interrupted"
        finally:
            if record.exists():
                pid, cwd, page_there = record.read_text().splitlines()
                started.append((int(pid), Path(cwd), page_there == "True"))

    yield run, tmp, started
    for pid, _, _ in started:  # a stand-in left running by a failure (and only that): end it
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"voila" in cmdline and str(tmp).encode() in cmdline:
            os.kill(pid, signal.SIGKILL)


def _assert_cleaned(tmp: Path, started) -> None:
    assert started and started[-1][2], "the page was not in the served folder"
    assert not started[-1][1].exists(), f"{started[-1][1]} was left behind"
    assert list(tmp.iterdir()) == []


def test_defect18_serve_removes_its_folder_when_the_server_ends(mos_test, tmp_path, fake_voila, capsys):
    run, tmp, started = fake_voila
    proc, url = run("exit", test=mos_test, results=tmp_path / "r.jsonl", wait=True)
    assert proc.returncode == 0 and url.startswith("http://127.0.0.1:")
    _assert_cleaned(tmp, started)


def test_defect18_serve_removes_its_folder_on_terminate(mos_test, tmp_path, fake_voila):
    run, tmp, started = fake_voila
    proc, _ = run("forever", test=mos_test, results=tmp_path / "r.jsonl", wait=False)
    assert started[-1][1].is_dir()  # in use while the server runs
    proc.terminate()
    proc.wait(timeout=15)
    _assert_cleaned(tmp, started)


@pytest.mark.parametrize("mode", ["sigint-parent", "sigterm-parent"])
def test_defect18_serve_removes_its_folder_on_ctrl_c_and_sigterm(mos_test, tmp_path, fake_voila, mode):
    run, tmp, started = fake_voila
    caught = []
    before = signal.signal(signal.SIGTERM, lambda *a: caught.append(a))  # never kill pytest
    try:
        out = run(mode, test=mos_test, results=tmp_path / "r.jsonl", wait=True)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert out != "interrupted" and not caught, "serve did not handle the signal"
    assert out[0].returncode is not None
    _assert_cleaned(tmp, started)


def test_defect18_serve_removes_its_folder_when_voila_fails(mos_test, tmp_path, fake_voila):
    run, tmp, started = fake_voila
    with pytest.raises(ValueError, match="status 3.*cannot start"):
        run("fail", test=mos_test, results=tmp_path / "r.jsonl", wait=True)
    _assert_cleaned(tmp, started)


# ---------------------------------------------------------------------------------------------
# Nothing a user or a rater made is removed or rewritten
# ---------------------------------------------------------------------------------------------

def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("overwrite", [False, True])
def test_test_dir_of_the_user_is_never_removed(folders, tmp_path, overwrite):
    """build_test replaced the whole --test-dir (shutil.rmtree) when it held no test.json."""
    mine = tmp_path / "my_project"
    (mine / "stimuli").mkdir(parents=True)
    (mine / "notes.txt").write_text("my notes")
    (mine / "stimuli" / "take1.wav").write_bytes(b"RIFF my take")
    before = _snapshot(mine)
    try:
        lt.build_test({"sys_long": folders["sys_long"]}, mine, n_items=2, seconds=0.3,
                      overwrite=overwrite, verbose=False)
    except ValueError as err:
        assert "no listening test" in str(err) and str(mine) in str(err)
    assert _snapshot(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_project"]  # no temporary folder left


def test_cli_serve_refuses_a_test_dir_of_the_user(folders, tmp_path, fake_voila, capsys):
    mine = tmp_path / "my_project"
    mine.mkdir()
    (mine / "song.wav").write_bytes(b"RIFF my song")
    rc = main(["listening", "serve", "--systems", str(folders["sys_long"]), "--results",
               str(tmp_path / "r.jsonl"), "--test-dir", str(mine), "--n-items", "2", "--port", "0"])
    assert rc == 2
    err = _one_line_error(capsys)
    assert "--test-dir" in err and str(mine) in err
    assert _snapshot(mine) == {"song.wav": b"RIFF my song"}


def test_rebuilding_a_test_keeps_the_ratings_beside_it(folders, tmp_path):
    """Replacing a test (overwrite=True) removes its own files only, never ratings kept in its
    folder (simulate_raters writes there by default)."""
    test = lt.build_test({"sys_long": folders["sys_long"]}, tmp_path / "t", n_items=2, seconds=0.3,
                         verbose=False)
    ratings = lt.simulate_raters(test, 2, {"sys_long": 0.5})
    assert ratings.parent == test.folder
    (test.folder / "my_notes.txt").write_text("keep me")
    kept = {p: p.read_bytes() for p in (ratings, test.folder / "my_notes.txt")}
    new = lt.build_test({"sys_long": folders["sys_long"]}, tmp_path / "t", n_items=3, seconds=0.3,
                        overwrite=True, verbose=False)
    assert new.test_id != test.test_id
    assert {p: p.read_bytes() for p in kept} == kept
    assert sorted(p.stem for p in (new.folder / "stimuli").iterdir()) == sorted(new.stimuli)
    assert [p.name for p in tmp_path.iterdir()] == ["t"]


def test_a_file_that_is_not_a_results_file_is_left_alone(mos_test, tmp_path, fake_voila, capsys):
    """--results naming a file of something else: refused; the file is not written to."""
    theirs = tmp_path / "ratings_by_hand.csv"
    theirs.write_text("participant,stimulus,rating\nP01,a,4\n")
    before = theirs.read_bytes()
    with pytest.raises(ValueError, match="not a listening-test results file"):
        lt.ListeningApp(mos_test, theirs, participant="P01")
    assert main(["listening", "serve", "--results", str(theirs), "--test-dir", str(mos_test.folder)]) == 2
    assert str(theirs) in _one_line_error(capsys)
    assert theirs.read_bytes() == before
