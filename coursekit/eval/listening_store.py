"""The results file of a listening test: append-only JSON lines, fsync'd after every answer.

Each answer is appended the moment it is given (:func:`append_record`), flushed and
``fsync``'d, so a killed kernel loses nothing; an advisory lock lets several kernels (Voila: one
per participant) share one file. :func:`open_results` ties a file to one test,
:func:`read_records` reads it back, and :func:`answered_trials` tells a participant who comes
back where to resume.

Files
-----
``results.jsonl``
    One JSON record a line: a ``header`` (protocol, test id and version, blinding key), then
    ``session`` and ``answer`` records. A corrupted last line (a writer killed mid-line) is
    skipped with a warning; every other answer is kept.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from ..outputs import UserError
from .listening_trials import FORMAT_VERSION, ListeningTest

try:  # advisory file locks, so several kernels (Voila: one per participant) share one file
    import fcntl
except ImportError:  # Windows: appends of one short line are still atomic enough in practice
    fcntl = None

__all__ = ["RESULTS_FORMAT", "append_record", "read_records", "open_results", "answered_trials"]

RESULTS_FORMAT = "coursekit-listening-results"


@contextmanager
def _locked(fd: int):
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _append_locked(fd: int, record: dict) -> None:
    line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    size = os.fstat(fd).st_size
    if size:
        os.lseek(fd, size - 1, os.SEEK_SET)
        if os.read(fd, 1) != b"\n":  # a line cut by a kill: end it, so this record stays whole
            line = b"\n" + line
    view = memoryview(line)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def append_record(path, record: dict) -> None:
    """Append ``record`` as one JSON line to ``path``, then flush it to disk (``fsync``).

    The file is opened in append mode and locked for the write, so records of several
    processes never interleave. If the previous writer was killed mid-line, the broken line is
    closed first so that it cannot swallow this record.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with _locked(fd):
            _append_locked(fd, record)
    finally:
        os.close(fd)


def read_records(path) -> list[dict]:
    """Every JSON record of a results file, in order.

    A line that is not valid JSON is skipped with a warning: the last line when a writer was
    killed mid-write (expected, harmless), another line when the file was damaged. No other
    record is lost.
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    out, bad = [], []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line.decode("utf-8"))
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError):
            bad.append(i)
            continue
        out.append(rec)
    if bad == [last]:
        warnings.warn(f"{path}: the last line is incomplete (a writer was probably killed "
                      "mid-write); it is ignored, every other answer is kept")
    elif len(bad) == 1:
        warnings.warn(f"{path}: line {bad[0] + 1} is not a valid record; it is ignored")
    elif bad:
        where = ", ".join(str(i + 1) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
        warnings.warn(f"{path}: {len(bad)} lines are not valid records (lines {where}); they are "
                      "ignored")
    return out


def _header(test: ListeningTest) -> dict:
    return {"type": "header", "format": RESULTS_FORMAT, "format_version": FORMAT_VERSION,
            "test_id": test.test_id, "test_version": test.version, "protocol": test.protocol,
            "title": test.title, "systems": test.systems, "key": test.key(),
            "trials": {t["id"]: t["item"] for t in test.trials},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def open_results(path, test: ListeningTest) -> Path:
    """Make ``path`` a results file of ``test``: write the header if it has none yet.

    Raises ``ValueError`` when the file belongs to another test (or another version of it), so
    answers to different stimuli never mix, and when it is a file of something else (it holds
    data but no header): nothing is ever written into such a file.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give a results file (.jsonl) for the answers")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with _locked(fd):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                headers = [r for r in read_records(path) if r.get("type") == "header"]
            if not headers and os.fstat(fd).st_size and path.read_bytes().strip():
                raise UserError(f"{path}: holds something that is not a listening-test results file "
                                "(no header); it is left as it is: give a new file name for the "
                                "answers")
            if not headers:
                _append_locked(fd, _header(test))
                _fsync_dir(path.parent)
            else:
                h = headers[0]
                if (h.get("test_id"), h.get("test_version")) != (test.test_id, test.version):
                    raise ValueError(f"{path} holds results of test {h.get('test_id')} (version "
                                     f"{h.get('test_version')}), not of {test.test_id} (version "
                                     f"{test.version}); use a new results file for this test")
    finally:
        os.close(fd)
    return path


def _fsync_dir(folder: Path) -> None:
    try:  # make the new file's directory entry durable too (not possible on Windows)
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def answered_trials(path, test_id: str, participant: str) -> set[str]:
    """Ids of the trials ``participant`` has answered in test ``test_id`` (from the file)."""
    return {r["trial"] for r in read_records(path)
            if r.get("type") == "answer" and r.get("test_id") == test_id
            and r.get("participant") == participant}
