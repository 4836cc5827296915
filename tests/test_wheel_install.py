"""The course as a student outside the repository gets it: built as a wheel, installed (not
editable) into a fresh virtual environment, every chapter run from a folder outside the checkout.

The wheel is built from the package's files in the working tree (copied out first, so no build
folder of the checkout can leak into it). The fresh environment sees this environment's
site-packages through a ``.pth`` file, so torch and Jupyter are not downloaded again, while
coursekit itself comes only from the wheel: its own site-packages is searched first, a ``.pth``
line does not run the editable install's import hook, and the first test checks where
``coursekit`` is imported from. Each notebook runs in the fresh environment's Python (a kernel
spec of its own), in the ``smoke`` profile, from a temporary folder with ``$HOME`` there too,
and with none of the ``COURSEKIT_*`` folder variables set, so data, samples and runs land where
an installed package puts them by default. Slow: every chapter once more (several minutes).

A second environment holds what Colab preinstalls of the Jupyter stack (IPython 7.34, ipywidgets
7.7, ipykernel 6.17; downloaded once, skipped when that is not possible), and the chapters that
show players and widgets run there: pyproject.toml's floors are only real if the code runs on them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
KERNEL = "coursekit-wheel"
# Variables that would point the installed package back at the checkout's folders.
CLEARED = ("PYTHONPATH", "COURSEKIT_DATA", "COURSEKIT_SAMPLES", "COURSEKIT_RUNS", "COURSEKIT_CACHE",
           "COURSEKIT_CHECKPOINTS", "COURSEKIT_DEVICE", "JUPYTER_PATH")
# What Google Colab preinstalls, at or above the floors in pyproject.toml, and the chapters whose
# output is players and widgets (00: audio players; 08: the listening test's ipywidgets app).
COLAB_JUPYTER = ("ipython==7.34.0", "ipywidgets==7.7.1", "ipykernel==6.17.1")
WIDGET_CHAPTERS = ("00_audio_fundamentals.ipynb", "08_listening_test.ipynb")


def _package_files() -> list[str]:
    """The files a wheel is built from: pyproject.toml, README.md and the package, as the
    working tree has them (tracked or new, not ignored)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                              "--", "pyproject.toml", "README.md", "coursekit"],
                             cwd=REPO, capture_output=True, check=True)
        files = [f for f in out.stdout.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: the folder as it is
        files = ["pyproject.toml", "README.md"] + [
            str(p.relative_to(REPO)) for p in (REPO / "coursekit").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts]
    return [f for f in files if (REPO / f).is_file()]  # a file deleted but not yet committed


def _run(cmd, **kw):
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    from importlib import metadata

    src, dist = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for f in _package_files():
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, src / f)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, src]
    try:  # the build backend pyproject.toml asks for is here: build without downloading it
        if int(metadata.version("setuptools").split(".")[0]) >= 77:
            cmd.insert(4, "--no-build-isolation")
    except metadata.PackageNotFoundError:
        pass
    _run(cmd, timeout=600)
    (whl,) = dist.glob("coursekit-*.whl")
    return whl


def _make_venv(root: Path, wheel: Path, jupyter_stack=()) -> dict:
    """A fresh virtual environment under ``root`` with the wheel installed (and, first, the
    pinned ``jupyter_stack``, which shadows this environment's); its python, site-packages, a work
    folder outside the repository and the environment variables a student's session has."""
    env_dir = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", env_dir], timeout=300)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "zz_course_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    pip = [sys.executable, "-m", "pip", "--python", py, "install", "--no-warn-script-location", "-q"]
    if jupyter_stack:
        out = subprocess.run([str(c) for c in pip + list(jupyter_stack)], capture_output=True,
                             text=True, timeout=600)
        if out.returncode != 0:
            pytest.skip(f"could not install {' '.join(jupyter_stack)} (offline?): "
                        f"{(out.stderr.strip().splitlines() or [''])[-1]}")
    # --ignore-installed: the checkout's editable coursekit is visible through the .pth file;
    # pip must neither count it as installed nor try to remove it
    _run(pip + ["--no-deps", "--no-index", "--ignore-installed", wheel], timeout=600)
    work, home = root / "course", root / "home"
    work.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(HOME=str(home), COURSEKIT_PROFILE="smoke", MPLBACKEND="Agg")
    kernel_dir = root / "jupyter" / "kernels" / KERNEL
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "coursekit from the wheel", "language": "python"}))
    return {"python": py, "site": site.resolve(), "work": work, "home": home, "env": env,
            "jupyter_path": str(root / "jupyter")}


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> dict:
    return _make_venv(tmp_path_factory.mktemp("wheel-install"), wheel)


@pytest.fixture(scope="module")
def colab_venv(wheel, tmp_path_factory) -> dict:
    return _make_venv(tmp_path_factory.mktemp("wheel-colab"), wheel, COLAB_JUPYTER)


def _execute(notebook: Path, venv: dict, monkeypatch) -> None:
    """Run ``notebook`` in ``venv``'s kernel from its work folder; fail on an error in any cell,
    a display error included (IPython shows a failing _repr_ as an error output and goes on)."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", venv["jupyter_path"])  # where the kernel spec is found
    path = venv["work"] / notebook.name
    shutil.copy2(notebook, path)
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import coursekit\nprint(coursekit.__file__)"))
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=1200,
                            resources={"metadata": {"path": str(venv["work"])}})
    client.execute(env=venv["env"])
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(nb.cells)
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{notebook.name}: error outputs (cell, exception, message): {errors}"
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs).strip()
    assert Path(printed).resolve().is_relative_to(venv["site"]), printed


def test_the_wheel_holds_every_file_of_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    package = {f for f in _package_files() if f.startswith("coursekit/") and not f.endswith(".pyc")}
    missing = sorted(package - names)
    assert not missing, f"files of the package that the wheel leaves out: {missing}"
    assert any(n.startswith("coursekit/checkpoints/") and n.endswith(".pt") for n in names)
    assert any(n.startswith("coursekit/checkpoints/") and n.endswith(".json") for n in names)
    tops = {n.split("/")[0] for n in names}
    assert tops == {"coursekit", "coursekit-" + wheel.name.split("-")[1] + ".dist-info"}, tops


CHECK = """
import json, coursekit
from coursekit import checkpoint, paths
print(json.dumps({
    "file": coursekit.__file__,
    "data": str(paths.data_root()), "samples": str(paths.samples_root()),
    "runs": str(paths.runs_root()), "checkpoints": str(paths.CHECKPOINT_DIR),
    "models": sorted(p.stem for p in paths.CHECKPOINT_DIR.glob("*.pt")),
    "cards": sorted(p.stem for p in paths.CHECKPOINT_DIR.glob("*.json")
                    if json.loads(p.read_text())),
}))
"""


def test_installed_package_is_the_wheel_and_needs_no_checkout(venv):
    out = _run([venv["python"], "-c", CHECK], cwd=venv["work"], env=venv["env"], timeout=300)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    here = Path(got["file"]).resolve()
    assert here.is_relative_to(venv["site"]), f"coursekit imported from {here}, not the wheel"
    assert not here.is_relative_to(REPO)
    for key in ("data", "samples", "runs"):  # outside a checkout: folders in the user's home
        assert Path(got[key]).is_relative_to(venv["home"]), (key, got[key])
    assert Path(got["checkpoints"]).resolve().is_relative_to(venv["site"])
    shipped = sorted(p.stem for p in (REPO / "coursekit" / "checkpoints").glob("*.pt"))
    assert got["models"] == shipped
    assert set(shipped) <= set(got["cards"]), "every reference model ships with its card"

    doc = _run([venv["python"], "-m", "coursekit", "doctor"], cwd=venv["work"], env=venv["env"],
               timeout=300).stdout
    assert f"installed package ({venv['site'] / 'coursekit'}" in doc, doc
    assert 'pip install "coursekit @ file://' in doc and "-e " not in doc, doc


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_runs_from_the_installed_wheel(notebook, venv, monkeypatch):
    """Chapters run in order in one folder: 07 and 08 use the samples 02-06 wrote there."""
    _execute(notebook, venv, monkeypatch)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("notebook", WIDGET_CHAPTERS)
def test_chapter_displays_on_colabs_jupyter_stack(notebook, colab_venv, monkeypatch):
    """The dependency floors are real: the chapters that show players and widgets run, and
    display without an error, on the IPython, ipywidgets and ipykernel that Colab ships."""
    _execute(REPO / "notebooks" / notebook, colab_venv, monkeypatch)


def test_installing_beside_a_cuda_torch_and_jupyter_changes_nothing_else(wheel, tmp_path):
    """``pip install`` of the course into an environment that has torch (here a CUDA build),
    Jupyter and IPython installs nothing but coursekit: pip's dry-run report of the wheel's own
    requirements (this environment already holds coursekit, editable) plans no install and no
    upgrade. ``--no-index``: anything pip would have to download makes it fail here."""
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    needs = [line.split(":", 1)[1].strip() for line in meta.splitlines()
             if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert any(n.startswith("torch") for n in needs), needs
    reqs, report = tmp_path / "requirements.txt", tmp_path / "pip-report.json"
    reqs.write_text("\n".join(needs) + "\n")
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "-q",
                          "--report", str(report), "-r", str(reqs)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"pip would have to install or upgrade something:\n{out.stderr}"
    planned = [f"{i['metadata']['name']} {i['metadata']['version']}"
               for i in json.loads(report.read_text())["install"]]
    assert planned == [], f"pip would install or upgrade: {planned}"
