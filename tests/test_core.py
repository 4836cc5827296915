"""Profiles, paths, the command line's error handling and doctor."""

import json
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
    full = profiles.get_profile("full")
    assert out.stdout.split() == [str(full.ch05.d_model), str(full.ch08.n_items)]


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


def test_an_installed_package_keeps_its_folders_in_the_home(monkeypatch, tmp_path):
    from coursekit import paths

    for var in ("COURSEKIT_DATA", "COURSEKIT_SAMPLES", "COURSEKIT_RUNS", "COURSEKIT_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(paths, "_in_checkout", lambda: False)
    assert paths.data_root() == tmp_path / "coursekit_data"
    assert paths.samples_root() == tmp_path / "coursekit_samples"
    assert paths.runs_root() == tmp_path / "coursekit_runs"
    assert paths.cache_root() == tmp_path / "coursekit_data" / ".cache"
    monkeypatch.setenv("COURSEKIT_SAMPLES", str(tmp_path / "mine"))
    assert paths.samples_root() == tmp_path / "mine"


# ---------------------------------------------------------------------------------------------
# doctor: torch's CUDA build, why no GPU, each chapter's device, the install hint
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def no_gpu_env(monkeypatch):
    """No $COURSEKIT_DEVICE, no Apple GPU, not on Colab: what doctor sees on a plain machine."""
    from coursekit import device

    monkeypatch.delenv("COURSEKIT_DEVICE", raising=False)
    monkeypatch.setattr(device, "_has_mps", lambda: False)
    monkeypatch.setitem(sys.modules, "google.colab", None)


def test_doctor_says_why_cuda_is_unavailable(monkeypatch, no_gpu_env):
    import torch

    from coursekit import doctor

    def no_driver():
        raise RuntimeError("Found no NVIDIA driver on your system.\nmore detail")

    monkeypatch.setattr(torch.version, "cuda", "12.1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "init", no_driver)
    lines = doctor.gpu_lines()
    assert lines[0].startswith("torch:") and "built for CUDA 12.1" in lines[0]
    cuda = next(s for s in lines if s.startswith("cuda:"))
    assert "not available" in cuda and "CUDA 12.1" in cuda and "Found no NVIDIA driver" in cuda
    assert "more detail" not in cuda                       # one line
    chapters = [s.split() for s in lines if s.startswith("  ch")]
    assert [c[0] for c in chapters] == ["ch02", "ch03", "ch04", "ch05", "ch06", "ch07"]
    assert all(c[1] == "cpu" for c in chapters)


def test_doctor_names_a_cpu_only_build(monkeypatch, no_gpu_env):
    import torch

    from coursekit import doctor

    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    lines = doctor.gpu_lines()
    assert "built for the CPU only" in lines[0]
    assert any(s.startswith("cuda:") and "CPU only" in s and "pytorch.org" in s for s in lines)


def test_doctor_on_colab_without_a_gpu_says_how_to_get_one(monkeypatch, no_gpu_env):
    import types

    import torch

    from coursekit import doctor

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "init", lambda: None)
    assert any("Change runtime type" in s for s in doctor.gpu_lines())


def test_doctor_with_a_gpu_puts_every_chapter_on_it(monkeypatch, no_gpu_env):
    import torch
    from fakecuda import fake_cuda

    from coursekit import doctor

    monkeypatch.setattr(torch.version, "cuda", "12.4")
    with fake_cuda():
        lines = doctor.gpu_lines()
    assert "built for CUDA 12.4" in lines[0]
    assert any(s.startswith("cuda:") and "available: cuda (Simulated CUDA (CPU)" in s for s in lines)
    chapters = [s.split() for s in lines if s.startswith("  ch")]
    assert len(chapters) == 6 and all(c[1] == "cuda" for c in chapters)


def test_doctor_device_env_naming_a_missing_gpu_is_one_line(monkeypatch, no_gpu_env):
    import torch

    from coursekit import doctor

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSEKIT_DEVICE", "cuda")
    lines = doctor.gpu_lines()
    assert lines[-1].startswith("device:") and "'cuda' is not available" in lines[-1]


def test_doctor_tells_a_missing_torchaudio_from_a_broken_one(monkeypatch):
    from coursekit import doctor

    monkeypatch.setitem(sys.modules, "torchaudio", None)          # not installed
    assert doctor._version("torchaudio") is None
    monkeypatch.delitem(sys.modules, "torchaudio")

    def broken(name):
        raise ModuleNotFoundError("No module named 'libtorchaudio_ext'", name="libtorchaudio_ext")

    monkeypatch.setattr(doctor.importlib, "import_module", broken)
    assert doctor._version("torchaudio") == "NOT IMPORTABLE (it needs 'libtorchaudio_ext', which is missing)"


class _Dist:
    """A stand-in for importlib.metadata's distribution of coursekit with a direct_url.json."""

    def __init__(self, direct_url):
        self.text = None if direct_url is None else json.dumps(direct_url)

    def read_text(self, name):
        return self.text if name == "direct_url.json" else None


def _installed(monkeypatch, direct_url, checkout=False, colab=False):
    import types
    from importlib import metadata

    from coursekit import paths

    monkeypatch.setattr(metadata, "distribution", lambda name: _Dist(direct_url))
    monkeypatch.setattr(paths, "_in_checkout", lambda: checkout)
    monkeypatch.setitem(sys.modules, "google.colab",
                        types.ModuleType("google.colab") if colab else None)


def test_install_hint_in_a_checkout_is_the_editable_dev_install(monkeypatch):
    from coursekit import doctor

    _installed(monkeypatch, {"url": "file:///home/me/course", "dir_info": {"editable": True}},
               checkout=True)
    assert doctor.install_hint().startswith('pip install -e ".[dev]"')
    assert doctor.install_hint("listening").startswith('pip install -e ".[dev]"')


def test_install_hint_on_colab_is_the_git_requirement_it_came_from(monkeypatch):
    from coursekit import doctor

    git = {"url": "https://github.com/me/course", "vcs_info": {"vcs": "git", "commit_id": "ab12",
                                                               "requested_revision": "v1"}}
    _installed(monkeypatch, git, colab=True)
    assert doctor.install_hint() == '!pip install -q "coursekit @ git+https://github.com/me/course@v1"  (in a notebook cell)'
    assert '"coursekit[listening] @ git+https://github.com/me/course@v1"' in doctor.install_hint("listening")
    assert "-e" not in doctor.install_hint()


def test_install_hint_on_colab_without_a_recorded_url_names_the_placeholder(monkeypatch):
    from coursekit import doctor

    _installed(monkeypatch, None, colab=True)
    hint = doctor.install_hint()
    assert hint.startswith('!pip install -q "coursekit @ git+https://github.com/OWNER/REPO"')
    assert "notebooks/colab_install.txt" in hint


def test_install_hint_elsewhere_reinstalls_from_the_same_place(monkeypatch):
    from coursekit import doctor

    _installed(monkeypatch, {"url": "file:///tmp/coursekit-0.1.0-py3-none-any.whl",
                             "archive_info": {}})
    assert doctor.install_hint("listening") == \
        'pip install "coursekit[listening] @ file:///tmp/coursekit-0.1.0-py3-none-any.whl"'
    _installed(monkeypatch, None)                        # from a package index
    assert doctor.install_hint() == 'pip install "coursekit"'
    assert doctor.install_hint("jupyter") == 'pip install "coursekit[jupyter]"'


def test_doctor_names_a_missing_optional_package_with_its_extra(monkeypatch, no_gpu_env):
    from coursekit import doctor

    real = doctor._version
    monkeypatch.setattr(doctor, "_version", lambda name, *a: None if name == "voila" else real(name))
    monkeypatch.setattr(doctor, "online", lambda *a, **k: False)
    line = next(s for s in doctor.report() if s.split()[0] == "voila")
    assert "not installed" in line and "listening test" in line and "pip install" in line


# ---------------------------------------------------------------------------------------------
# Dependency versions: the range pyproject.toml allows
# ---------------------------------------------------------------------------------------------

def test_griffin_lim_speaks_librosa_1_0_and_0_x(monkeypatch):
    """librosa 1.0 names the seed's argument rng and warns about random_state; 0.10 and 0.11
    know only random_state. Either way the same seed gives the same waveform."""
    import warnings

    import librosa
    import numpy as np

    from coursekit import audio

    y = np.sin(2 * np.pi * 440 * np.arange(4000) / 8000).astype(np.float32)
    mag = np.abs(audio.stft(y, n_fft=256))
    old = audio.griffin_lim(mag, n_iter=4, length=len(y), seed=3)      # the installed librosa
    real, unset = librosa.griffinlim, object()

    def griffinlim_1_0(S, *, rng=None, random_state=unset, **kw):
        if random_state is not unset:
            warnings.warn("random_state is deprecated in 1.0.0; use rng", FutureWarning)
        return real(S, random_state=rng, **kw)

    monkeypatch.setattr(librosa, "griffinlim", griffinlim_1_0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        new = audio.griffin_lim(mag, n_iter=4, length=len(y), seed=3)
        other = audio.griffin_lim(mag, n_iter=4, length=len(y), seed=4)
    assert np.array_equal(old, new)
    assert not np.allclose(new, other)
