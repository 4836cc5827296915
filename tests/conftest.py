"""Test set-up shared by the unit tests and the notebook runs (nbval).

Everything runs in the ``smoke`` profile, with the data, samples and runs under ``.cache/`` in
the checkout (ignored by git), so a test never touches a student's own folders. The variables
are set before any kernel starts, so notebooks run by nbval inherit them.
"""

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"

os.environ.setdefault("COURSEKIT_PROFILE", "smoke")
os.environ.setdefault("COURSEKIT_DATA", str(REPO / ".cache" / "test-data"))
os.environ.setdefault("COURSEKIT_SAMPLES", str(REPO / ".cache" / "test-samples"))
os.environ.setdefault("COURSEKIT_RUNS", str(REPO / ".cache" / "test-runs"))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_MININTERVAL", "5")
if REALDATA.is_dir():  # chapter 01 reads its real excerpts from here when they are present
    os.environ.setdefault("COURSEKIT_REALDATA", str(REALDATA))


@pytest.fixture
def one_thread():
    """Tiny models on one thread: extra threads only add synchronisation (very slow on a busy
    machine). A test file takes it for every test with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """``../shared/realdata`` (real files in the real formats); skips when it is not there."""
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present; real-format tests skipped")
    return REALDATA


@pytest.fixture(scope="session")
def mini_nsynth_root(tmp_path_factory) -> Path:
    """A smoke-size mini-NSynth (all three splits) made once per test session."""
    from coursekit.data import make_dataset

    root = tmp_path_factory.mktemp("mini-nsynth")
    make_dataset("mini-nsynth", root, size="smoke", seed=0)
    return root


@pytest.fixture(scope="session")
def benchmark_script():
    """``benchmark_script("codec_eval")``: ``benchmarks/codec_eval.py`` loaded as a module (the
    benchmarks are scripts, not a package), so a test can call its functions."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
