"""Where things live: the data root, the standard samples folder, checkpoints.

One setting each, read from the environment so that a notebook, a test and the command line
all agree:

- ``COURSEKIT_DATA``: the data root. Real datasets unpacked here (``nsynth-train/``,
  ``genres/``, ``maestro-v3.0.0/``) are used as they are; otherwise the offline mini versions
  are generated under ``<root>/mini-<size>/``.
- ``COURSEKIT_SAMPLES``: where each chapter's model writes its generated notes
  (``<samples>/<model>/examples.json`` + ``audio/``), so chapters 07 and 08 find them.
- ``COURSEKIT_RUNS``: where training runs write checkpoints.
- ``COURSEKIT_CHECKPOINTS``: a folder of reference checkpoints to use instead of the shipped
  ones (read once, at import). For a set retrained together, e.g. a new codec with the models
  of chapters 05 and 06 trained on its tokens and latents: the benchmarks then measure the
  set before it replaces ``coursekit/checkpoints/``.

Unset, the three folders are ``datasets/``, ``samples/`` and ``runs/`` of the checkout when
coursekit runs from one (``pip install -e``), and ``~/coursekit_data``, ``~/coursekit_samples``
and ``~/coursekit_runs`` when it is installed as a package (``pip install``, Colab), so every
notebook finds what another wrote wherever it is opened from. The reference checkpoints and
their cards ship inside the package either way.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
CHECKPOINT_DIR = Path(os.environ.get("COURSEKIT_CHECKPOINTS") or PACKAGE_DIR / "checkpoints").expanduser()


def _in_checkout() -> bool:
    return (REPO_DIR / "pyproject.toml").exists() and (REPO_DIR / "notebooks").is_dir()


def data_root() -> Path:
    """The data root: ``$COURSEKIT_DATA``, else ``datasets/`` of the checkout, else ``~/coursekit_data``."""
    env = os.environ.get("COURSEKIT_DATA")
    if env:
        return Path(env).expanduser()
    if _in_checkout():
        return REPO_DIR / "datasets"
    return Path.home() / "coursekit_data"


def samples_root() -> Path:
    """The standard samples folder: ``$COURSEKIT_SAMPLES``, else ``samples/`` of the checkout,
    else ``~/coursekit_samples``."""
    env = os.environ.get("COURSEKIT_SAMPLES")
    if env:
        return Path(env).expanduser()
    return (REPO_DIR / "samples") if _in_checkout() else Path.home() / "coursekit_samples"


def runs_root() -> Path:
    """Where training runs keep their checkpoints: ``$COURSEKIT_RUNS``, else ``runs/`` of the
    checkout, else ``~/coursekit_runs``."""
    env = os.environ.get("COURSEKIT_RUNS")
    if env:
        return Path(env).expanduser()
    return (REPO_DIR / "runs") if _in_checkout() else Path.home() / "coursekit_runs"


def cache_root() -> Path:
    """Caches (embeddings, token caches): ``$COURSEKIT_CACHE``, else ``<data root>/.cache``."""
    env = os.environ.get("COURSEKIT_CACHE")
    if env:
        return Path(env).expanduser()
    return data_root() / ".cache"
