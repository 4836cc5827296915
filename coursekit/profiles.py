"""Profiles: one course, three budgets.

Every size a notebook or a command uses (clip length, data size, steps, batch) is defined here
and nowhere else. Pick a profile with the ``COURSEKIT_PROFILE`` environment variable:

- ``smoke``:   CI. Every notebook in seconds; proves the code runs, not that it sounds good.
- ``default``: a laptop CPU. Each notebook in at most about 10 minutes, results you can hear.
- ``full``:    a GPU. The quality each chapter promises.

Example
-------
>>> from coursekit.profiles import get_profile
>>> p = get_profile("smoke")
>>> p.name
'smoke'
>>> p.data.nsynth_size
'smoke'
"""

from __future__ import annotations

import copy
import os

PROFILE_NAMES = ("smoke", "default", "full")
ENV_VAR = "COURSEKIT_PROFILE"


class Section(dict):
    """A dict whose keys can also be read as attributes (``p.data.clip_seconds``)."""

    def __getattr__(self, key):
        try:
            value = self[key]
        except KeyError:
            raise AttributeError(
                f"profile has no setting {key!r}; known: {', '.join(sorted(self))}"
            ) from None
        return Section(value) if isinstance(value, dict) and not isinstance(value, Section) else value

    def __setattr__(self, key, value):
        self[key] = value

    def __deepcopy__(self, memo):
        return Section(copy.deepcopy(dict(self), memo))


# One table. A section per concern; each later chapter adds its own section.
# Values are (smoke, default, full).
_TABLE = {
    "data": {
        # which size of the offline mini datasets the notebooks generate
        "nsynth_size": ("smoke", "default", "full"),
        "gtzan_size": ("smoke", "default", "full"),
        "maestro_size": ("smoke", "default", "full"),
        "batch_size": (4, 16, 64),
        "num_workers": (0, 0, 2),
    },
    "ch00": {
        "griffin_lim_iters": (4, 32, 100),
        "n_fft": (512, 1024, 1024),
    },
    "ch01": {
        "segment_seconds": (0.5, 1.0, 2.0),
        "n_show": (3, 8, 12),
        # excerpts of music (GTZAN clips, MAESTRO performances) shown and loaded in chapter 01
        "music_seconds": (1.0, 4.0, 5.0),
        "roll_fs": (50, 100, 100),  # piano-roll frames per second
    },
    "train": {
        # wall-clock budget (seconds) a notebook may spend training one model
        "time_budget_s": (20, 240, 3600),
        "log_every": (5, 50, 100),
        "ckpt_every": (50, 200, 1000),
    },
}


def _build(name: str) -> Section:
    idx = PROFILE_NAMES.index(name)
    out = Section(name=name)
    for section, settings in _TABLE.items():
        out[section] = Section({k: v[idx] for k, v in settings.items()})
    return out


def register_section(section: str, settings: dict) -> None:
    """Add (or extend) a section of the table: ``{key: (smoke, default, full)}``.

    Library modules of later chapters call this at import time so that every size still lives
    in one table that :func:`describe` can print.
    """
    for key, triple in settings.items():
        if not (isinstance(triple, tuple) and len(triple) == 3):
            raise ValueError(f"{section}.{key}: give a (smoke, default, full) tuple, got {triple!r}")
    _TABLE.setdefault(section, {}).update(settings)


def get_profile(name: str | None = None) -> Section:
    """Return the settings of profile ``name`` (default: ``$COURSEKIT_PROFILE`` or ``default``).

    Parameters
    ----------
    name : {'smoke', 'default', 'full'}, optional

    Returns
    -------
    Section
        ``p.name`` plus one attribute per section, e.g. ``p.data.batch_size``.
    """
    name = name or os.environ.get(ENV_VAR) or "default"
    name = name.strip().lower()
    if name not in PROFILE_NAMES:
        raise ValueError(
            f"unknown profile {name!r} (from ${ENV_VAR} or the argument); "
            f"choose one of {', '.join(PROFILE_NAMES)}"
        )
    return _build(name)


def describe(name: str | None = None) -> str:
    """A printable table of one profile's settings."""
    p = get_profile(name)
    lines = [f"profile: {p.name}"]
    for section, settings in p.items():
        if isinstance(settings, dict):
            lines.append(f"  [{section}] " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    return "\n".join(lines)
