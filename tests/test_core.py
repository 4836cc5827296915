"""Profiles, paths, the command line's error handling and doctor."""

import subprocess
import sys

import pytest

from coursekit import cli, profiles


def test_profiles_have_the_same_keys():
    names = [profiles.get_profile(n) for n in profiles.PROFILE_NAMES]
    for section in names[0]:
        if isinstance(names[0][section], dict):
            for p in names[1:]:
                assert set(p[section]) == set(names[0][section]), section


def test_profile_from_env(monkeypatch):
    monkeypatch.setenv("COURSEKIT_PROFILE", "full")
    assert profiles.get_profile().name == "full"
    monkeypatch.setenv("COURSEKIT_PROFILE", "huge")
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        profiles.get_profile()


def test_profile_attribute_error_lists_keys():
    p = profiles.get_profile("smoke")
    with pytest.raises(AttributeError, match="known:"):
        p.data.nonexistent


def test_every_setting_is_a_triple():
    for section, settings in profiles._TABLE.items():
        for key, value in settings.items():
            assert isinstance(value, tuple) and len(value) == 3, f"{section}.{key}"


def test_every_section_in_a_fresh_interpreter():
    # no section is added by importing a model: the table is whole on its own
    import subprocess
    import sys

    code = "from coursekit import get_profile; p = get_profile('full'); print(p.ch05.d_model, p.ch08.n_items)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["128", "12"]


def test_smoke_is_smallest():
    s, d = profiles.get_profile("smoke"), profiles.get_profile("default")
    assert s.train.time_budget_s < d.train.time_budget_s
    assert s.data.batch_size <= d.data.batch_size


def test_cli_wrong_root_is_one_clear_line(tmp_path, capsys):
    rc = cli.main(["data", "check", "nsynth", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert rc == 2 and "no such folder" in err and "Traceback" not in err


def test_cli_missing_dependency_is_one_clear_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "nbformat", None)      # as in a Python without the course installed
    rc = cli.main(["exercises", "check"])
    err = capsys.readouterr().err
    assert rc == 2 and "'nbformat'" in err and "pip install" in err and "Traceback" not in err


def test_cli_unknown_dataset_is_rejected_by_argparse():
    with pytest.raises(SystemExit):
        cli.main(["data", "make", "mini-imagenet", "--root", "x"])


def test_doctor_runs_in_a_subprocess():
    out = subprocess.run([sys.executable, "-m", "coursekit", "doctor"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "profile:" in out.stdout and "device:" in out.stdout and "torch" in out.stdout
