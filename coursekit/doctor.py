"""``python -m coursekit doctor``: what this installation can do, and why not when it cannot.

Prints versions, the compute device, the profile, the data root and which datasets are real or
mini, and which optional pretrained weights (EnCodec, VGGish, CLAP) are reachable. It never
downloads anything.
"""

from __future__ import annotations

import importlib
import os
import platform
import socket
import sys

PACKAGES = ["numpy", "scipy", "torch", "torchaudio", "librosa", "soundfile", "encodec", "diffusers",
            "torchcrepe", "pretty_midi", "pooch", "ipywidgets", "matplotlib", "voila"]


# Imported for real: the pair whose builds are known to break each other (a CPU-only torch
# without the CUDA libraries torchaudio links against). The rest are read from metadata, fast.
MUST_IMPORT = ("torch", "torchaudio")


def _version(name: str) -> str:
    from importlib import metadata

    if name in MUST_IMPORT:
        try:
            mod = importlib.import_module(name)
        except Exception as err:  # a broken install says why
            return f"NOT IMPORTABLE ({type(err).__name__}: {err})"
        return getattr(mod, "__version__", "installed")
    try:
        return metadata.version(name.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return "NOT INSTALLED: pip install -e \".[dev]\" installs it"


def online(host: str = "huggingface.co", port: int = 443, timeout: float = 2.0) -> bool:
    """True when a TCP connection to ``host`` succeeds within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def device_summary() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps (Apple GPU)"
    return f"cpu ({os.cpu_count()} cores, torch threads {torch.get_num_threads()})"


def report() -> list[str]:
    from . import __version__
    from .data import _real_dir
    from .paths import cache_root, data_root, runs_root, samples_root
    from .profiles import ENV_VAR, get_profile

    lines = [f"coursekit {__version__}  python {platform.python_version()}  {platform.platform()}"]
    for name in PACKAGES:
        lines.append(f"  {name:12s} {_version(name)}")
    lines.append(f"device:   {device_summary()}")
    p = get_profile()
    src = f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "default"
    lines.append(f"profile:  {p.name} (from {src})")
    root = data_root()
    lines.append(f"data:     {root}" + ("" if root.exists() else "  (does not exist yet; created on first use)"))
    for name, split in (("nsynth", "train"), ("gtzan", None), ("maestro", None)):
        real = _real_dir(name, split, root) if root.exists() else None
        mini = root / f"mini-{p.data[name + '_size']}"
        state = f"real data in {real}" if real else (
            f"mini version ({p.data[name + '_size']}) in {mini}" if _real_dir(name, split, mini) else
            "not present: the mini version is generated on first use")
        lines.append(f"  {name:8s} {state}")
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
