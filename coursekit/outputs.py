"""Where commands write: never over something a user made.

A folder the course writes (generated notes, reconstructions, a benchmark's work folder) carries
a mark, the file :data:`MARK`, listing what it wrote there. A later run may replace what the
mark lists and nothing else; so may a run writing inside the course's own samples folder or
cache. Any other folder without the mark that already holds files is the user's: a command
refuses to write into it unless told ``--overwrite``, and then replaces only what it says it
replaces (for an NSynth folder: its ``examples.json`` and the audio files that lists), never the
rest of the folder. A mark that cannot be read, or lists a path through a link or out of the
folder, proves nothing and removes nothing outside it.

A checkpoint a training run writes (``--out``) is treated the same way: an existing one is
replaced only with ``--overwrite`` (or continued with ``--resume``), and always atomically, so
an interrupted run leaves the previous file as it was.

Example
-------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()) / "notes"
>>> _ = claim_dir(d, overwrite=False)        # a new folder: the course may write there
>>> _ = mark_written(d, ["examples.json"])
>>> owned(d), marked_files(d)
(True, ['examples.json'])
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

__all__ = ["MARK", "UserError", "owned", "in_course_folders", "marked_files", "claim_dir", "mark_written",
           "remove_marked", "check_writable", "check_new_file", "os_error_line"]

MARK = ".coursekit-output.json"


class UserError(ValueError):
    """Bad input or a refused action, said in one line; the command line prints it and exits 2."""


def _read_mark(folder) -> dict | None:
    """The mark of ``folder`` as the course writes it, or None (absent, unreadable, a link, or
    not the course's: a file of that name a user made proves nothing)."""
    path = Path(folder) / MARK
    if path.is_symlink() or not path.is_file():
        return None
    try:
        mark = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(mark, dict) and mark.get("written_by") == "coursekit" and isinstance(mark.get("files"), list)
    return mark if ok else None


def owned(folder) -> bool:
    """True when ``folder`` carries the course's mark (the course wrote what is in it)."""
    return _read_mark(folder) is not None


def in_course_folders(folder) -> bool:
    """True when ``folder`` lies in the course's own samples folder or cache
    (:func:`coursekit.paths.samples_root`, :func:`coursekit.paths.cache_root`): what is there
    the course wrote, marked or not (folders written before marks existed)."""
    from .paths import cache_root, samples_root

    folder = Path(folder).resolve()
    return any(folder.is_relative_to(root.resolve()) and folder != root.resolve()
               for root in (samples_root(), cache_root()))


def marked_files(folder) -> list[str]:
    """The paths (relative to ``folder``) its mark says the course wrote; ``[]`` without one."""
    mark = _read_mark(folder)
    files = mark["files"] if mark else []
    return [f for f in files if isinstance(f, str) and _inside(folder, f)]


def _inside(folder, rel: str) -> bool:
    """``rel`` names a path strictly inside ``folder``: no ``..``, no absolute path, and no link
    on the way (a link could lead anywhere)."""
    p = Path(rel)
    if not rel or p.is_absolute() or ".." in p.parts:
        return False
    here = Path(folder)
    for part in p.parts[:-1]:
        here = here / part
        if here.is_symlink():
            return False
    return True


def check_writable(folder, option: str = "--out", create: bool = True) -> Path:
    """Create ``folder`` (and its parents) or raise :class:`UserError` naming it and ``option``
    when it cannot be created or written to; ``create=False`` only checks that it could be."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {folder}: is a file, not a folder; give a folder")
    if not create:
        first = next((p for p in (folder, *folder.absolute().parents) if p.exists()), Path("/"))
        if not first.is_dir():
            raise UserError(f"{option} {folder}: {first} is a file, not a folder")
        if not os.access(first, os.W_OK | os.X_OK):
            raise UserError(f"{option} {folder}: {first} is not writable; choose a folder you can "
                            "write to")
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{option} {folder}: cannot be created ({err.strerror}); choose a folder "
                        "you can write to") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{option} {folder}: not writable; choose a folder you can write to")
    return folder


def claim_dir(folder, overwrite: bool = False, option: str = "--out", create: bool = True) -> Path:
    """Make sure the course may write into ``folder``: it is new, empty, or carries the mark,
    or ``overwrite`` is given. Creates it (unless ``create=False``: a check before the work);
    raises :class:`UserError` otherwise."""
    folder = Path(folder)
    if (folder.is_dir() and not overwrite and not owned(folder) and not in_course_folders(folder)
            and any(folder.iterdir())):
        raise UserError(f"{option} {folder}: already holds files the course did not write; choose "
                        "a new or empty folder, or pass --overwrite to replace only the files this "
                        "command writes there")
    return check_writable(folder, option, create=create)


def remove_marked(folder) -> None:
    """Delete the files the mark of ``folder`` lists (what the course wrote there before), then
    the folders they leave empty; nothing else."""
    folder = Path(folder)
    for rel in marked_files(folder):
        p = folder / rel
        if p.is_file() or p.is_symlink():
            p.unlink()
    for rel in sorted({str(Path(r).parent) for r in marked_files(folder)}, key=len, reverse=True):
        d = folder / rel
        if rel != "." and d.is_dir() and not any(d.iterdir()):
            d.rmdir()


def mark_written(folder, files) -> Path:
    """Record in the mark of ``folder`` that the course wrote ``files`` (paths relative to it)."""
    folder = Path(folder)
    path = folder / MARK
    path.write_text(json.dumps({"written_by": "coursekit", "files": sorted(set(map(str, files)))},
                               indent=1) + "\n", encoding="utf-8")
    return path


def check_new_file(path, *, overwrite: bool, option: str = "--out", also=()) -> Path:
    """Refuse (:class:`UserError`) to write ``path`` when it, or one of the companion files
    ``also``, exists and ``overwrite`` is not given; check its folder can be written."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path}: is a folder; give a file name")
    existing = [p for p in (path, *map(Path, also)) if p.exists()]
    if existing and not overwrite:
        raise UserError(f"{option} {path}: {existing[0]} already exists; pass --overwrite to replace "
                        "it, or choose another name")
    check_writable(path.parent, option, create=False)
    return path


_WHAT_TO_DO = {
    errno.EACCES: "choose a place you can write to, or fix its permissions",
    errno.EPERM: "choose a place you can write to, or fix its permissions",
    errno.EROFS: "the disk is read-only; choose another place",
    errno.ENOSPC: "the disk is full; free some space or choose another place",
    errno.ENOENT: "check the path",
    errno.EISDIR: "give a file, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENAMETOOLONG: "choose a shorter name",
}


def os_error_line(err: OSError) -> str:
    """One line for an ``OSError`` a command met: the file, what went wrong, what to do."""
    where = err.filename if err.filename is not None else "a file"
    what = err.strerror or str(err)
    todo = _WHAT_TO_DO.get(err.errno, "check the path and try again")
    return f"{where}: {what}; {todo}"
