"""Downloading the real datasets: pooch, checksums, resumable transfers and safe extraction.

``fetch(name, root)`` downloads one archive of the registry below into ``root/downloads/``,
checks it against its published checksum when there is one, and unpacks it under ``root`` in
the layout the readers expect (``root/nsynth-test/``, ``root/genres/``, ``root/maestro-v3.0.0/``).

Three lessons live in this file:

1. **Checksums.** A checksum is only worth something if it comes from the publisher. Where none
   is published the registry says so (``known_hash=None``) instead of inventing one, and pooch
   prints the SHA256 of what arrived so you can record it.
2. **Resuming.** Datasets are large (MAESTRO is about 101 GB). :class:`ResumableDownloader` keeps
   the bytes already fetched in ``<archive>.part`` and asks the server for the rest (an HTTP
   ``Range`` request) instead of starting again.
3. **Safe extraction.** An archive can hold members named ``../../.bashrc``, ``/etc/passwd`` or a
   symlink to ``/``; extracting such an archive blindly writes outside the target folder (the
   "zip slip" and "tar slip" attacks). :func:`safe_extract` checks every member first and
   refuses the whole archive, naming the member, before writing anything.

Example
-------
>>> from coursekit.data.download import fetch
>>> fetch("nsynth-test", "/data")          # doctest: +SKIP
PosixPath('/data/nsynth-test')
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

GB = 1_000_000_000

# Every URL is the publisher's own. Sizes are approximate (used for the free-space check and to
# warn before a long download); "known_hash" is None where the publisher gives no checksum.
REGISTRY = {
    "nsynth-train": {
        "url": "http://download.magenta.tensorflow.org/datasets/nsynth/nsynth-train.jsonwav.tar.gz",
        "known_hash": None,
        "checksum_note": "Magenta publishes no checksum for the NSynth archives",
        "archive_bytes": 22 * GB, "unpacked_bytes": 37 * GB,
        "unpacks_to": "nsynth-train", "mini": "mini-nsynth", "licence": "CC BY 4.0",
    },
    "nsynth-valid": {
        "url": "http://download.magenta.tensorflow.org/datasets/nsynth/nsynth-valid.jsonwav.tar.gz",
        "known_hash": None,
        "checksum_note": "Magenta publishes no checksum for the NSynth archives",
        "archive_bytes": 1 * GB, "unpacked_bytes": 2 * GB,
        "unpacks_to": "nsynth-valid", "mini": "mini-nsynth", "licence": "CC BY 4.0",
    },
    "nsynth-test": {
        "url": "http://download.magenta.tensorflow.org/datasets/nsynth/nsynth-test.jsonwav.tar.gz",
        "known_hash": None,
        "checksum_note": "Magenta publishes no checksum for the NSynth archives",
        "archive_bytes": 400_000_000, "unpacked_bytes": 600_000_000,
        "unpacks_to": "nsynth-test", "mini": "mini-nsynth", "licence": "CC BY 4.0",
    },
    "maestro": {
        "url": "https://storage.googleapis.com/magentadata/datasets/maestro/v3.0.0/maestro-v3.0.0.zip",
        "known_hash": None,
        "checksum_note": "Magenta publishes no checksum for the MAESTRO v3.0.0 archives",
        "archive_bytes": 101 * GB, "unpacked_bytes": 120 * GB,
        "unpacks_to": "maestro-v3.0.0", "mini": "mini-maestro", "licence": "CC BY-NC-SA 4.0",
    },
    "maestro-midi": {
        "url": "https://storage.googleapis.com/magentadata/datasets/maestro/v3.0.0/maestro-v3.0.0-midi.zip",
        "known_hash": None,
        "checksum_note": "Magenta publishes no checksum for the MAESTRO v3.0.0 archives",
        "archive_bytes": 60_000_000, "unpacked_bytes": 100_000_000,
        "unpacks_to": "maestro-v3.0.0", "mini": "mini-maestro", "licence": "CC BY-NC-SA 4.0",
    },
    "gtzan": {
        # The original host (http://opihi.cs.uvic.ca/sound/genres.tar.gz) has been offline
        # since about 2022; the Marsyas project (GTZAN's authors) keeps this copy.
        "url": "https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz",
        "known_hash": None,
        "checksum_note": ("the authors publish no checksum; torchaudio lists SHA256 "
                          "24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6 for "
                          "the original opihi.cs.uvic.ca archive, which may differ from this copy"),
        "archive_bytes": 1_230_000_000, "unpacked_bytes": 1_400_000_000,
        "unpacks_to": "genres", "mini": "mini-gtzan", "licence": "none published",
    },
}


class OfflineError(ConnectionError):
    """The server cannot be reached (no network, DNS failure, firewall)."""


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder."""


# ---------------------------------------------------------------------------------------------
# Putting a finished folder in place
# ---------------------------------------------------------------------------------------------

MARKER = ".coursekit-generated.json"


def refuse_foreign(target) -> None:
    """Raise ``ValueError`` if ``target`` exists and was not generated by coursekit.

    Generators call this before starting, so they fail at once rather than after the work.
    """
    target = Path(target)
    if target.exists() and not (target / MARKER).exists():
        raise ValueError(f"{target} already exists and was not generated by coursekit; move it "
                         "away or choose another --root (nothing was overwritten)")


def already_made(target, marker: dict) -> bool:
    """Whether ``target`` was generated by coursekit with exactly this ``marker`` (size, seed)."""
    try:
        return json.loads((Path(target) / MARKER).read_text()) == json.loads(json.dumps(marker))
    except (OSError, ValueError):
        return False


def move_into_place(src, target, marker: dict | None = None) -> Path:
    """Rename the finished folder ``src`` to ``target`` (a rename is atomic on one file system).

    Readers never see a half-written dataset, and several processes may race: the first to
    finish wins, the others find the same data in place and discard theirs. When ``marker`` is
    given (generated datasets) it is written to ``src/.coursekit-generated.json``; an existing
    ``target`` is replaced only if it carries a *different* marker (e.g. another seed), never
    if it holds data coursekit did not make (such as the real dataset).
    """
    src, target = Path(src), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if marker is not None:
        (src / MARKER).write_text(json.dumps(marker, sort_keys=True) + "\n")
    old = None
    if target.exists():
        theirs = target / MARKER
        refuse_foreign(target)
        if marker is None:
            raise ValueError(f"{target} already exists; move it away first (nothing was overwritten)")
        try:
            same = json.loads(theirs.read_text()) == json.loads((src / MARKER).read_text())
        except (OSError, ValueError):
            same = False
        if same:  # another process (or an earlier run) made exactly this: keep it
            shutil.rmtree(src, ignore_errors=True)
            return target
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
    try:
        os.rename(src, target)
    except OSError:
        if target.exists():  # someone else was faster
            shutil.rmtree(src, ignore_errors=True)
        elif old is not None:
            os.rename(old, target)
            old = None
            raise
        else:
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return target


# ---------------------------------------------------------------------------------------------
# Safe extraction
# ---------------------------------------------------------------------------------------------

def _is_absolute(name: str) -> bool:
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":")


def _through_symlink(parts: tuple, symlinks: set) -> str | None:
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        if prefix in symlinks:
            return prefix
    return None


def check_member(name: str, kind: str = "file", linkname: str | None = None,
                 symlinks: frozenset | set = frozenset()) -> str | None:
    """Why archive member ``name`` is unsafe to extract, or ``None`` when it is safe.

    Parameters
    ----------
    name : str
        The member's path inside the archive.
    kind : {'file', 'dir', 'symlink', 'hardlink', 'device'}
    linkname : str, optional
        A link's target (symlinks: relative to the link's folder; hard links: to the archive).
    symlinks : set of str
        Symlinks already seen in the archive: writing *through* one of them is refused too
        (a link ``a -> ..`` followed by a file ``a/x`` would land outside).

    Example
    -------
    >>> check_member("genres/blues/blues.00000.wav") is None
    True
    >>> check_member("../evil.sh")
    "its path contains '..'"
    >>> check_member("link", "symlink", "/etc")
    "it is a symlink to the absolute path '/etc'"
    """
    norm = name.replace("\\", "/")
    if not norm or norm in (".", "./"):
        return None
    if _is_absolute(norm):
        return "its path is absolute"
    parts = tuple(p for p in PurePosixPath(norm).parts if p not in ("", "."))
    if ".." in parts:
        return "its path contains '..'"
    via = _through_symlink(parts, set(symlinks))
    if via is not None:
        return f"it would be written through the symlink '{via}'"
    if kind == "device":
        return "it is a device file or FIFO (a dataset holds plain files)"
    if kind in ("symlink", "hardlink"):
        if not linkname:
            return f"it is a {kind} with an empty target"
        target = linkname.replace("\\", "/")
        if _is_absolute(target):
            return f"it is a {kind} to the absolute path '{linkname}'"
        base = PurePosixPath(*parts[:-1]) if kind == "symlink" else PurePosixPath()
        resolved = os.path.normpath(str(base / target))
        if resolved == ".." or resolved.startswith("../"):
            return f"it is a {kind} to '{linkname}', which points outside the target folder"
        via = _through_symlink(tuple(PurePosixPath(resolved).parts) + ("",), set(symlinks))
        if via is not None:
            return f"it is a {kind} to '{linkname}', through the symlink '{via}'"
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
    if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "device"
    return "file"


def safe_extract(archive, dest) -> list[Path]:
    """Extract a ``.tar``, ``.tar.gz``/``.tgz`` or ``.zip`` archive into ``dest``, safely.

    Every member is checked *before anything is written*: absolute paths, ``..`` components,
    symlinks or hard links pointing outside ``dest``, members written through a symlink, and
    device files are refused with :class:`UnsafeArchiveError` naming the member.

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
    dest.mkdir(parents=True, exist_ok=True)

    def refuse(name, why):
        raise UnsafeArchiveError(f"refusing to extract {archive.name}: member '{name}' is unsafe: "
                                 f"{why}; nothing was extracted. The archive is corrupt or "
                                 "malicious: delete it and download it again from the official URL")

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            links: dict[str, str] = {}
            symlinks: set[str] = set()
            for info in infos:
                kind = _zip_kind(info)
                target = zf.read(info).decode("utf-8", "replace") if kind == "symlink" else None
                why = check_member(info.filename, kind, target, symlinks)
                if why:
                    refuse(info.filename, why)
                if kind == "symlink":
                    links[info.filename] = target
                    symlinks.add(info.filename.replace("\\", "/").rstrip("/"))
            out = []
            for info in infos:
                path = dest / info.filename.replace("\\", "/")
                if info.is_dir():
                    path.mkdir(parents=True, exist_ok=True)
                elif info.filename in links:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    if path.is_symlink() or path.exists():
                        path.unlink()
                    os.symlink(links[info.filename], path)
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(path, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                out.append(path)
            return out

    try:
        tf = tarfile.open(archive, "r:*")
    except tarfile.TarError as err:
        raise ValueError(f"{archive}: neither a zip nor a tar archive ({err}); the download is "
                         "incomplete or corrupt: delete it and run the command again") from None
    with tf:
        members = tf.getmembers()
        symlinks = set()
        for m in members:
            kind = _tar_kind(m)
            why = check_member(m.name, kind, m.linkname if kind in ("symlink", "hardlink") else None,
                               symlinks)
            if why:
                refuse(m.name, why)
            if kind == "symlink":
                symlinks.add(m.name.rstrip("/"))
        # Our own checks above are the lesson; Python's "data" filter (3.12, backported to
        # 3.11.4) adds a second line of defence and drops odd permission bits.
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tf.extractall(dest, members=members, **kwargs)
        return [dest / m.name for m in members]


# ---------------------------------------------------------------------------------------------
# Resumable downloads
# ---------------------------------------------------------------------------------------------

def _pooch_http_downloader():
    import pooch

    return pooch.HTTPDownloader


class ResumableDownloader:
    """A pooch downloader that resumes interrupted downloads.

    pooch's own :class:`pooch.HTTPDownloader` streams into a temporary file that is deleted when
    the transfer breaks, so a dropped connection at 90 GB of MAESTRO means starting again. This
    one streams into ``<archive>.part`` beside the final file and, on the next run, asks the
    server only for the missing bytes (``Range: bytes=N-``). If the server ignores the request
    (status 200 instead of 206) it starts again from zero rather than append a second copy.

    Use it wherever pooch takes a ``downloader``::

        pooch.retrieve(url, known_hash=None, path=folder, downloader=ResumableDownloader())
    """

    def __init__(self, progressbar: bool = True, chunk_size: int = 1 << 20, timeout: float = 30.0):
        self.progressbar = progressbar
        self.chunk_size = chunk_size
        self.timeout = timeout

    def part_file(self, url: str, output_file) -> Path:
        return Path(output_file).parent / (Path(urlparse(url).path).name + ".part")

    def __call__(self, url, output_file, pooch=None, check_only=False):
        import requests

        if check_only:  # pooch asks whether the file exists on the server
            return _pooch_http_downloader()(timeout=self.timeout)(url, output_file, pooch,
                                                                  check_only=True)
        part = self.part_file(url, output_file)
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        with requests.get(url, stream=True, timeout=self.timeout, headers=headers,
                          allow_redirects=True) as r:
            if have and r.status_code == 416:  # the .part file is already complete
                total = have
            else:
                r.raise_for_status()
                resumed = have > 0 and r.status_code == 206
                if have and not resumed:
                    print(f"{part.name}: the server cannot resume; downloading from the start")
                    have = 0
                elif resumed:
                    print(f"{part.name}: resuming at {have / 1e6:.1f} MB")
                length = int(r.headers.get("content-length", 0) or 0)
                total = have + length if length else None
                bar = None
                if self.progressbar:
                    from tqdm.auto import tqdm

                    bar = tqdm(total=total, initial=have, unit="B", unit_scale=True,
                               unit_divisor=1024, desc=part.name[:-5], leave=True)
                try:
                    with open(part, "ab" if resumed else "wb") as f:
                        for chunk in r.iter_content(chunk_size=self.chunk_size):
                            if chunk:
                                f.write(chunk)
                                if bar is not None:
                                    bar.update(len(chunk))
                finally:
                    if bar is not None:
                        bar.close()
        size = part.stat().st_size
        if total is not None and size != total:
            raise ValueError(f"{part.name}: the transfer stopped at {size} of {total} bytes; run "
                             "the same command again to resume (the partial file is kept)")
        os.replace(part, output_file)


# ---------------------------------------------------------------------------------------------
# fetch
# ---------------------------------------------------------------------------------------------

def _entry(name: str) -> dict:
    if name not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def is_present(name: str, root) -> bool:
    """Whether ``name`` is already unpacked under ``root``."""
    root = Path(root)
    e = _entry(name)
    d = root / e["unpacks_to"]
    if name.startswith("nsynth"):
        return (d / "examples.json").is_file() and (d / "audio").is_dir()
    if name == "gtzan":
        return any((d / "blues").glob("*.wav")) or any((d / "blues").glob("*.au"))
    has_meta = (d / "maestro-v3.0.0.csv").is_file()
    if name == "maestro-midi":
        return has_meta and any(d.glob("20*/*.midi"))
    return has_meta and any(d.glob("20*/*.wav"))


def offline_message(url: str, name: str) -> str:
    host = urlparse(url).hostname or url
    mini = _entry(name)["mini"] if name in REGISTRY else "mini-nsynth"
    return (f"cannot reach {host}: no network? The course runs offline with the mini datasets: "
            f"python -m coursekit data make {mini} --root DIR (any partial download is kept and "
            "resumes next time)")


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


def fetch(name: str, root=None, progressbar: bool = True, keep_archive: bool = False) -> Path:
    """Download and unpack a real dataset; return its folder (what the readers take).

    Parameters
    ----------
    name : {'nsynth-train', 'nsynth-valid', 'nsynth-test', 'gtzan', 'maestro', 'maestro-midi'}
    root : str or Path, optional
        The data root (default: :func:`coursekit.paths.data_root`). The archive goes to
        ``root/downloads/`` and the dataset to ``root/<folder>``.
    progressbar : bool
    keep_archive : bool
        Keep the archive after unpacking (default: delete it, they are large).

    Raises
    ------
    OfflineError
        When the server cannot be reached; the message says how to work offline.
    ValueError
        Not enough free disk space, a checksum mismatch, or an unsafe archive.

    Example
    -------
    >>> fetch("maestro-midi", "/data")      # doctest: +SKIP
    PosixPath('/data/maestro-v3.0.0')
    """
    import requests

    from ..paths import data_root

    e = _entry(name)
    root = Path(root).expanduser() if root is not None else data_root()
    target = root / e["unpacks_to"]
    if is_present(name, root):
        print(f"{name} is already in {target}; nothing to do")
        return target
    downloads = root / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    fname = Path(urlparse(e["url"]).path).name
    archive = downloads / fname
    downloader = ResumableDownloader(progressbar=progressbar)

    # enough room for the rest of the archive and what it unpacks to?
    have = archive.stat().st_size if archive.exists() else 0
    part = downloader.part_file(e["url"], archive)
    have += part.stat().st_size if part.exists() else 0
    need = max(0, e["archive_bytes"] - have) + e["unpacked_bytes"]
    free = shutil.disk_usage(downloads).free
    if free < need:
        raise ValueError(f"not enough disk space in {root} for {name}: about {need / GB:.1f} GB "
                         f"needed, {free / GB:.1f} GB free; choose another --root")

    print(f"{name}: {e['url']}\n  about {e['archive_bytes'] / GB:.2f} GB to download, "
          f"{e['unpacked_bytes'] / GB:.2f} GB unpacked; licence: {e['licence']}")
    if e["known_hash"] is None:
        print(f"  no checksum to verify against: {e['checksum_note']}; the SHA256 of the "
              "download is printed when it completes")
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # we say what happens ourselves, in fewer lines
    try:
        path = pooch.retrieve(e["url"], known_hash=e["known_hash"], fname=fname, path=downloads,
                              downloader=downloader, progressbar=progressbar)
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
        raise OfflineError(offline_message(e["url"], name)) from err
    except requests.exceptions.HTTPError as err:
        code = getattr(err.response, "status_code", "?")
        raise OfflineError(f"{e['url']}: the server answered HTTP {code}; the file may have "
                           "moved: see datasets/README.md for where the dataset lives now") from err
    finally:
        logger.setLevel(level)
    if e["known_hash"] is None:
        print(f"  SHA256 of {fname}: {pooch.file_hash(path)} (record it to check later copies)")
    else:
        print(f"  checksum verified ({e['known_hash'].split(':')[0]})")

    tmp = Path(tempfile.mkdtemp(prefix=f".extract-{name}-", dir=root))
    try:
        print(f"unpacking {fname} ...")
        safe_extract(path, tmp)
        unpacked = tmp / e["unpacks_to"]
        if not unpacked.is_dir():
            found = ", ".join(sorted(p.name for p in tmp.iterdir())) or "nothing"
            raise ValueError(f"{fname} did not unpack to {e['unpacks_to']}/ (found: {found}); "
                             "the archive layout changed: see datasets/README.md")
        if target.exists():  # e.g. the full MAESTRO over a MIDI-only copy
            _merge_into(unpacked, target)
        else:
            os.rename(unpacked, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not keep_archive:
        Path(path).unlink(missing_ok=True)
    print(f"{name} is ready in {target}")
    return target


def cli_fetch(args) -> int:
    """``python -m coursekit data fetch NAME [--root DIR]``."""
    try:
        fetch(args.name, args.root)
    except OfflineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
