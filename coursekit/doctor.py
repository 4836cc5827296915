"""``python -m coursekit doctor``: what this installation can do, and why not when it cannot.

Prints versions, torch's CUDA build and whether a GPU is usable (and if not, why), the device
each chapter computes on, the profile, the data root and which datasets are real or mini, which
optional pretrained weights (EnCodec, VGGish, CLAP) are reachable, and how to install or
reinstall the course where it runs (a git checkout, Colab, or a plain ``pip install``). It never
downloads anything.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import platform
import socket
import sys

PACKAGES = ["numpy", "scipy", "torch", "torchaudio", "librosa", "soundfile", "encodec", "diffusers",
            "torchcrepe", "pretty_midi", "pooch", "ipywidgets", "matplotlib"]
# Optional: (package, the extra that installs it, what it is for).
EXTRAS = [("voila", "listening", "the listening test served as a web page"),
          ("jupyterlab", "jupyter", "JupyterLab on your own machine")]


# Imported for real: the pair whose builds are known to break each other (a CPU-only torch
# without the CUDA libraries torchaudio links against). The rest are read from metadata, fast.
MUST_IMPORT = ("torch", "torchaudio")

# The requirement of the notebooks' Colab install cell before an instructor names the repository.
COLAB_PLACEHOLDER = "coursekit @ git+https://github.com/OWNER/REPO"


def _version(name: str, extra: str | None = None) -> str | None:
    """The installed version of ``name``; None when it is not installed; a ``NOT IMPORTABLE``
    line when one of :data:`MUST_IMPORT` is installed but fails to import."""
    from importlib import metadata

    if name in MUST_IMPORT:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                return None
            return f"NOT IMPORTABLE (it needs {err.name!r}, which is missing)"
        except Exception as err:  # a broken install says why
            return f"NOT IMPORTABLE ({type(err).__name__}: {str(err).splitlines()[0]})"
        return getattr(mod, "__version__", "installed")
    try:
        return metadata.version(name.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return None


def on_colab() -> bool:
    """True inside Google Colab (its ``google.colab`` module is importable)."""
    if "google.colab" in sys.modules:
        return sys.modules["google.colab"] is not None
    try:
        return importlib.util.find_spec("google.colab") is not None
    except (ImportError, ValueError):  # no 'google' package at all
        return False


def installed_from() -> str | None:
    """Where pip installed coursekit from, as a requirement's URL part (``git+https://...@rev``,
    ``file:///...whl``), read from the install's ``direct_url.json`` (PEP 610); None when it
    came from a package index or pip did not record it."""
    from importlib import metadata

    try:
        text = metadata.distribution("coursekit").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    url = info.get("url")
    if not url or info.get("dir_info", {}).get("editable"):
        return None
    vcs = info.get("vcs_info")
    if vcs:
        rev = vcs.get("requested_revision")
        return f"{vcs.get('vcs', 'git')}+{url}" + (f"@{rev}" if rev else "")
    return url


def colab_requirement() -> str:
    """The requirement the notebooks install on Colab: the git URL this coursekit was installed
    from, else the line of ``notebooks/colab_install.txt`` in a checkout, else the placeholder
    ``coursekit @ git+https://github.com/OWNER/REPO``."""
    url = installed_from()
    if url and "+" in url.split(":", 1)[0]:  # a VCS URL such as git+https://
        return f"coursekit @ {url}"
    from .paths import _in_checkout

    if _in_checkout():
        from .colab import read_requirement

        try:
            return read_requirement()
        except (OSError, ValueError):
            pass
    return COLAB_PLACEHOLDER


def _with_extra(requirement: str, extra: str | None) -> str:
    if not extra:
        return requirement
    name, sep, rest = requirement.partition(" @ ")
    return f"{name}[{extra}]{sep}{rest}"


def install_hint(extra: str | None = None) -> str:
    """The command that installs coursekit (with ``extra``) where this runs: in a git checkout
    ``pip install -e ".[dev]"`` (every extra and the test tools); on Colab the notebooks' install
    line; elsewhere a reinstall from where this copy came from."""
    from .paths import _in_checkout

    if on_colab():
        req = _with_extra(colab_requirement(), extra)
        hint = f'!pip install -q "{req}"  (in a notebook cell'
        if req.endswith(COLAB_PLACEHOLDER.split(" @ ")[1]):
            hint += "; OWNER/REPO: the course's repository, as in notebooks/colab_install.txt"
        return hint + ")"
    if _in_checkout():
        return 'pip install -e ".[dev]"  (in the checkout)'
    url = installed_from()
    req = _with_extra(f"coursekit @ {url}" if url else "coursekit", extra)
    return f'pip install "{req}"'


def where_installed() -> str:
    """One line: how this coursekit is installed and from which folder."""
    from .paths import PACKAGE_DIR, _in_checkout

    if _in_checkout():
        kind = "a git checkout" if (PACKAGE_DIR.parent / ".git").exists() else "a source folder"
        how = f"{kind} ({PACKAGE_DIR.parent})"
    else:
        url = installed_from()
        how = f"installed package ({PACKAGE_DIR})" + (f", from {url}" if url else "")
    return how + ("; on Google Colab" if on_colab() else "")


def online(host: str = "huggingface.co", port: int = 443, timeout: float = 2.0) -> bool:
    """True when a TCP connection to ``host`` succeeds within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def gpu_lines() -> list[str]:
    """torch's CUDA build, whether a GPU is usable (and why not), and the device each chapter
    computes on (:data:`coursekit.device.CHAPTERS`, chosen as the chapter's device line does)."""
    try:
        import torch

        from .device import CHAPTERS, cuda_report, describe, pick_device
    except Exception as err:
        return [f"torch:    not importable ({type(err).__name__}: {str(err).splitlines()[0]}); "
                f"{install_hint()}"]
    rep = cuda_report()
    build = f"CUDA {rep['cuda_build']}" if rep["cuda_build"] else "the CPU only (no CUDA)"
    lines = [f"torch:    {rep['torch']}, built for {build}"]
    lines.append(f"cuda:     available: {rep['gpu']}" if rep["available"]
                 else f"cuda:     not available: {rep['why_not']}")
    try:
        best = pick_device()
    except ValueError as err:  # $COURSEKIT_DEVICE names a device this machine lacks
        return lines + [f"device:   {err}"]
    src = " (from $COURSEKIT_DEVICE)" if os.environ.get("COURSEKIT_DEVICE") else ""
    lines.append(f"device:   {describe(best)}{src}")
    lines.append("chapters: the device each chapter computes on here")
    for chapter, (what, mps_ok) in CHAPTERS.items():
        lines.append(f"  {chapter}  {pick_device(mps=mps_ok).type:5s} {what}")
    if not rep["available"] and on_colab():
        lines.append("  on Colab: Runtime > Change runtime type > a GPU, then run the notebooks again")
    return lines


def data_lines(profile) -> list[str]:
    """The data root and, for each dataset, whether it is real, a mini version, or not there."""
    from .data import _real_dir, generated_by
    from .paths import data_root

    root = data_root()
    where = "$COURSEKIT_DATA" if os.environ.get("COURSEKIT_DATA") else "the default data root"
    if root.exists() and not root.is_dir():
        return [f"data:     {root} is a file, not a folder ({where}): set COURSEKIT_DATA to a "
                "folder (or unset it for the default), or move the file away; no dataset can be "
                "read or generated until then"]
    lines = [f"data:     {root}" + ("" if root.exists() else "  (does not exist yet; created on first use)")]
    for name, split in (("nsynth", "train"), ("gtzan", None), ("maestro", None)):
        size = profile.data[name + "_size"]
        found = _real_dir(name, split, root) if root.exists() else None
        made = generated_by(name, found) if found else None
        mini = root / f"mini-{size}"
        if found and made:
            state = f"mini version ({made.get('size')}, generated by coursekit) in {found}"
        elif found:
            state = f"real data in {found}"
        elif _real_dir(name, split, mini):
            state = f"mini version ({size}) in {mini}"
        else:
            state = "not present: the mini version is generated on first use"
        lines.append(f"  {name:8s} {state}")
    return lines


def report() -> list[str]:
    from . import __version__
    from .paths import cache_root, runs_root, samples_root
    from .profiles import ENV_VAR, get_profile

    lines = [f"coursekit {__version__}  python {platform.python_version()}  {platform.platform()}"]
    lines.append(f"install:  {where_installed()}")
    lines.append(f"          to install or update it: {install_hint()}")
    for name in PACKAGES:
        v = _version(name)
        lines.append(f"  {name:12s} {v or 'NOT INSTALLED: ' + install_hint()}")
    for name, extra, what in EXTRAS:
        v = _version(name)
        if v is None and extra == "jupyter" and on_colab():
            continue  # Colab is the notebook server
        lines.append(f"  {name:12s} " + (v if v else f"not installed (optional: {what}): "
                                          f"{install_hint(extra)}"))
    lines.extend(gpu_lines())
    p = get_profile()
    src = f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "default"
    lines.append(f"profile:  {p.name} (from {src})")
    lines.extend(data_lines(p))
    lines.append(f"samples:  {samples_root()}")
    lines.append(f"runs:     {runs_root()}")
    lines.append(f"cache:    {cache_root()}")
    net = online()
    lines.append("network:  " + ("online: pretrained EnCodec/VGGish/CLAP weights can be downloaded"
                                 if net else
                                 "offline: pretrained EnCodec/VGGish/CLAP weights cannot be downloaded; "
                                 "the course uses its own reference models (coursekit/checkpoints)"))
    from .paths import CHECKPOINT_DIR

    cks = sorted(p.stem for p in CHECKPOINT_DIR.glob("*.pt"))
    lines.append("reference checkpoints: " + (", ".join(cks) if cks else "none yet"))
    return lines


def cli_doctor(args) -> int:
    print("\n".join(report()))
    return 0


if __name__ == "__main__":
    sys.exit(cli_doctor(None))
