"""Safe extraction of a dataset archive (:func:`safe_extract`), used by :mod:`coursekit.data.download`.

An archive can hold members named ``../../.bashrc``, ``/etc/passwd`` or links that, one after the
other, lead out of the target folder (the "zip slip" and "tar slip" attacks). :func:`safe_extract`
opens an archive only as the type its name declares, checks every member first and refuses the
whole archive, naming the member, before writing anything; a corrupt or truncated archive is
named with the command that deletes it.
"""

from __future__ import annotations

import gzip
import os
import shlex
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder."""


# The archive formats, told by the file's name; the first bytes of the file must agree.
ARCHIVE_SUFFIXES = {".tar.gz": "tar.gz", ".tgz": "tar.gz", ".tar": "tar", ".zip": "zip"}


class CorruptArchiveError(ValueError):
    """An archive is truncated, corrupt, or not of the type its name says."""


def _rm_command(path) -> str:
    return f"rm {shlex.quote(str(path))}"


def _is_absolute(name: str) -> bool:
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":")


def member_parts(name: str) -> tuple:
    """The components of an archive member's path, normalised: ``'./a//b/'`` -> ``('a', 'b')``."""
    return tuple(p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", "."))


def check_member(name: str, kind: str = "file", linkname: str | None = None) -> str | None:
    """Why archive member ``name`` is unsafe to extract, or ``None`` when it is safe.

    The course's datasets hold plain files and folders only, so every link is refused: a link
    is the one member whose effect depends on the members before it (``q -> .``, then
    ``./p -> q/..``, then ``p/evil`` writes above the target folder), and no lexical check of
    one member at a time can see that.

    Parameters
    ----------
    name : str
        The member's path inside the archive.
    kind : {'file', 'dir', 'symlink', 'hardlink', 'device'}
    linkname : str, optional
        A link's target, named in the reason.

    Example
    -------
    >>> check_member("genres/blues/blues.00000.wav") is None
    True
    >>> check_member("../evil.sh")
    "its path contains '..'"
    >>> check_member("link", "symlink", "/etc")
    "it is a symlink (to '/etc'): the course's datasets hold only files and folders"
    """
    norm = name.replace("\\", "/")
    if _is_absolute(norm):
        return "its path is absolute"
    if ".." in member_parts(norm):
        return "its path contains '..'"
    if kind == "device":
        return "it is a device file or FIFO (a dataset holds plain files)"
    if kind in ("symlink", "hardlink"):
        return (f"it is a {kind} (to '{linkname}'): the course's datasets hold only files and "
                "folders")
    return None


def _tar_kind(m: tarfile.TarInfo) -> str:
    if m.issym():
        return "symlink"
    if m.islnk():
        return "hardlink"
    if m.isdir():
        return "dir"
    if m.isfile():
        return "file"
    return "device"


def _zip_kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symlink"
    if info.is_dir():
        return "dir"
    # no type bits at all (zips made on Windows, Python's writestr) is a plain file
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "device"
    return "file"


def archive_type(archive) -> str:
    """``'zip'``, ``'tar.gz'`` or ``'tar'``, from the file's name; ``ValueError`` for another name."""
    name = Path(archive).name.lower()
    for suffix, kind in ARCHIVE_SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    raise ValueError(f"{archive}: cannot tell the archive type from its name (expected one of "
                     f"{', '.join(ARCHIVE_SUFFIXES)})")


def _content_type(archive: Path) -> str:
    """What the first bytes of ``archive`` say it is."""
    with open(archive, "rb") as f:
        head = f.read(512)
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if len(head) == 512 and head[257:262] == b"ustar":
        return "tar"
    return "empty" if not head else "unknown"


def _corrupt(archive: Path, what: str) -> CorruptArchiveError:
    return CorruptArchiveError(f"{archive}: {what}; nothing was extracted. Delete it ("
                               f"{_rm_command(archive)}) and download it again")


def _check_type(archive: Path) -> str:
    declared = archive_type(archive)
    found = _content_type(archive)
    if found != declared:
        content = {"empty": "it is empty", "unknown": "its content is not an archive (an error "
                   "page or a truncated download?)"}.get(found, f"its content is a {found} archive")
        raise _corrupt(archive, f"named as a {declared} archive but {content}")
    return declared


def _zip_members(zf: zipfile.ZipFile):
    for info in zf.infolist():
        kind = _zip_kind(info)
        target = None
        if kind == "symlink":  # a zip stores a link's target as the member's content
            with zf.open(info) as f:
                target = f.read(4096).decode("utf-8", "replace")
        yield info.filename, kind, target


def _tar_members(tf: tarfile.TarFile):
    for m in tf.getmembers():
        kind = _tar_kind(m)
        yield m.name, kind, m.linkname if kind in ("symlink", "hardlink") else None


def _extract_zip(zf: zipfile.ZipFile, dest: Path) -> None:
    for info in zf.infolist():
        parts = member_parts(info.filename)
        if not parts:
            continue
        path = dest.joinpath(*parts)
        if info.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


def _extract_tar(tf: tarfile.TarFile, dest: Path, archive: Path) -> None:
    # Our checks above are the lesson; Python's "data" filter (3.12, backported to 3.11.4)
    # is a second line of defence and drops odd permission bits.
    kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    try:
        tf.extractall(dest, **kwargs)
    except tarfile.FilterError as err:
        raise UnsafeArchiveError(f"refusing to extract {archive}: Python's tar data filter refused "
                                 f"a member ({err}); nothing was extracted. The archive is corrupt "
                                 f"or malicious: delete it ({_rm_command(archive)}) and download it "
                                 "again from the official URL") from None


def safe_extract(archive, dest) -> list[Path]:
    """Extract a ``.tar``, ``.tar.gz``/``.tgz`` or ``.zip`` archive into ``dest``, safely.

    The format is the one the file's name declares, and its first bytes must agree (a zip
    served under a ``.tar.gz`` name is refused). Every member is checked *before anything is
    written*: absolute paths, ``..`` components, links of any kind and device files are refused
    with :class:`UnsafeArchiveError` naming the member. The members are extracted into a
    temporary folder inside ``dest`` and moved into place only when all of them are out, so a
    corrupt or refused archive leaves nothing behind (:class:`CorruptArchiveError` names the
    file and the command that deletes it).

    Returns
    -------
    list of Path
        The extracted files and folders.

    Example
    -------
    >>> safe_extract("nsynth-test.jsonwav.tar.gz", "/data")    # doctest: +SKIP
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: no such archive")
    kind = _check_type(archive)
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extracting-", dir=dest))
    done = False
    try:
        try:
            if kind == "zip":
                with zipfile.ZipFile(archive) as zf:
                    names = _check_members(archive, _zip_members(zf))
                    _extract_zip(zf, tmp)
            else:
                with tarfile.open(archive, "r:gz" if kind == "tar.gz" else "r:") as tf:
                    names = _check_members(archive, _tar_members(tf))
                    _extract_tar(tf, tmp, archive)
        except (EOFError, zlib.error, zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile) as err:
            what = "truncated" if isinstance(err, EOFError) else f"corrupt ({err})"
            raise _corrupt(archive, f"the archive is {what}") from None
        _merge_into(tmp, dest)
        done = True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if created and not done:
            shutil.rmtree(dest, ignore_errors=True)
    return [dest.joinpath(*parts) for parts in names]


def _check_members(archive: Path, members) -> list[tuple]:
    """Refuse the archive at its first unsafe member; the normalised paths of the others."""
    out = []
    for name, kind, linkname in members:
        why = check_member(name, kind, linkname)
        if why:
            raise UnsafeArchiveError(f"refusing to extract {archive.name}: member '{name}' is "
                                     f"unsafe: {why}; nothing was extracted. The archive is corrupt "
                                     f"or malicious: delete it ({_rm_command(archive)}) and download "
                                     "it again from the official URL")
        if member_parts(name):
            out.append(member_parts(name))
    return out


def _merge_into(src: Path, dst: Path) -> None:
    """Move the contents of ``src`` into the existing folder ``dst`` (files replace files)."""
    for p in src.iterdir():
        q = dst / p.name
        if p.is_dir() and not p.is_symlink() and q.is_dir():
            _merge_into(p, q)
        else:
            if q.is_dir() and not q.is_symlink():
                shutil.rmtree(q)
            os.replace(p, q)
