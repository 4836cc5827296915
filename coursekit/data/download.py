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
   ``Range`` request) instead of starting again, but only while the server confirms it is still
   the same file (``If-Range`` with the ETag or date of the first answer).
3. **Safe extraction.** An archive can hold members named ``../../.bashrc``, ``/etc/passwd`` or
   links that, one after the other, lead out of the target folder (the "zip slip" and "tar
   slip" attacks). :func:`safe_extract` (in :mod:`coursekit.data.archives`) opens an archive
   only as the type its name declares, checks every member first and refuses the whole
   archive, naming the member, before writing anything; a corrupt or truncated archive is
   named with the command that deletes it.

Example
-------
>>> from coursekit.data.download import fetch
>>> fetch("nsynth-test", "/data")          # doctest: +SKIP
PosixPath('/data/nsynth-test')
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlparse

from .archives import (CorruptArchiveError, UnsafeArchiveError, _merge_into,  # noqa: F401
                       check_member, member_parts, safe_extract)

GB = 1_000_000_000

# Every URL is the publisher's own, over https. Sizes are approximate (used for the free-space
# check and to warn before a long download). "known_hash" is the checksum the publisher gives,
# None where none is published for that archive (then "checksum_note" says so, and `data fetch`
# prints it).
#
# - NSynth: Magenta publishes no checksum for the jsonwav archives (tensorflow_datasets lists
#   SHA256s only for the tfrecord archives, tensorflow_datasets/url_checksums/nsynth.txt). The
#   host download.magenta.tensorflow.org is a Google Cloud Storage bucket, served over https as
#   https://storage.googleapis.com/download.magenta.tensorflow.org/...
# - MAESTRO: SHA256s published by Magenta next to each download link on
#   https://magenta.tensorflow.org/datasets/maestro#v300 (101 GB archive, 56 MB MIDI archive).
# - GTZAN: the authors publish none. torchaudio (torchaudio/datasets/gtzan.py) and
#   tensorflow_datasets (tensorflow_datasets/audio/gtzan/checksums.tsv) give SHA256
#   24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6 for the original
#   opihi.cs.uvic.ca archive (1,225,571,541 bytes); the Hugging Face copy is reported at
#   1,226,192,050 bytes, so that hash cannot check it.
NSYNTH_BASE = "https://storage.googleapis.com/download.magenta.tensorflow.org/datasets/nsynth"
MAESTRO_BASE = "https://storage.googleapis.com/magentadata/datasets/maestro/v3.0.0"
NSYNTH_NOTE = "Magenta publishes no checksum for the NSynth jsonwav archives"
REGISTRY = {
    "nsynth-train": {
        "url": f"{NSYNTH_BASE}/nsynth-train.jsonwav.tar.gz",
        "known_hash": None,
        "checksum_note": NSYNTH_NOTE,
        "archive_bytes": 22 * GB, "unpacked_bytes": 37 * GB,
        "unpacks_to": "nsynth-train", "mini": "mini-nsynth", "licence": "CC BY 4.0",
    },
    "nsynth-valid": {
        "url": f"{NSYNTH_BASE}/nsynth-valid.jsonwav.tar.gz",
        "known_hash": None,
        "checksum_note": NSYNTH_NOTE,
        "archive_bytes": 1 * GB, "unpacked_bytes": 2 * GB,
        "unpacks_to": "nsynth-valid", "mini": "mini-nsynth", "licence": "CC BY 4.0",
    },
    "nsynth-test": {
        "url": f"{NSYNTH_BASE}/nsynth-test.jsonwav.tar.gz",
        "known_hash": None,
        "checksum_note": NSYNTH_NOTE,
        "archive_bytes": 400_000_000, "unpacked_bytes": 600_000_000,
        "unpacks_to": "nsynth-test", "mini": "mini-nsynth", "licence": "CC BY 4.0",
    },
    "maestro": {
        "url": f"{MAESTRO_BASE}/maestro-v3.0.0.zip",
        "known_hash": "sha256:6680fea5be2339ea15091a249fbd70e49551246ddbd5ca50f1b2352c08c95291",
        "checksum_note": "published by Magenta on magenta.tensorflow.org/datasets/maestro",
        "archive_bytes": 108_445_099_632, "unpacked_bytes": 120 * GB,
        "unpacks_to": "maestro-v3.0.0", "mini": "mini-maestro", "licence": "CC BY-NC-SA 4.0",
    },
    "maestro-midi": {
        "url": f"{MAESTRO_BASE}/maestro-v3.0.0-midi.zip",
        "known_hash": "sha256:70470ee253295c8d2c71e6d9d4a815189e35c89624b76d22fce5a019d5dde12c",
        "checksum_note": "published by Magenta on magenta.tensorflow.org/datasets/maestro",
        "archive_bytes": 60_000_000, "unpacked_bytes": 100_000_000,
        "unpacks_to": "maestro-v3.0.0", "mini": "mini-maestro", "licence": "CC BY-NC-SA 4.0",
    },
    "gtzan": {
        # The original host (http://opihi.cs.uvic.ca/sound/genres.tar.gz) has been offline
        # since about 2022; the Marsyas project (GTZAN's authors) keeps this copy.
        "url": "https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz",
        "known_hash": None,
        "checksum_note": ("the authors publish no checksum; the SHA256 torchaudio lists is that "
                          "of the original opihi.cs.uvic.ca archive, not of this copy"),
        "archive_bytes": 1_230_000_000, "unpacked_bytes": 1_400_000_000,
        "unpacks_to": "genres", "mini": "mini-gtzan", "licence": "none published",
    },
}


class OfflineError(ConnectionError):
    """The server cannot be reached (no network, DNS failure, firewall)."""


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
# Resumable downloads
# ---------------------------------------------------------------------------------------------

def _pooch_http_downloader():
    import pooch

    return pooch.HTTPDownloader


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"


class DownloadInterrupted(OfflineError):
    """The connection dropped during a transfer; the partial file is kept for the next run."""


def _validator(headers) -> str | None:
    """What identifies this version of the file on the server: a strong ETag, else Last-Modified
    (a weak ``W/`` ETag cannot be used in ``If-Range``)."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def _range_start_total(headers) -> tuple[int | None, int | None]:
    """``Content-Range: bytes 100-199/200`` -> ``(100, 200)``; ``None`` for what is missing."""
    value = headers.get("Content-Range", "")
    try:
        span, _, total = value.split(" ", 1)[1].partition("/")
        return int(span.split("-")[0]), (int(total) if total not in ("", "*") else None)
    except (IndexError, ValueError):
        return None, None


class ResumableDownloader:
    """A pooch downloader that resumes interrupted downloads, only of the same file.

    pooch's own :class:`pooch.HTTPDownloader` streams into a temporary file that is deleted when
    the transfer breaks, so a dropped connection at 90 GB of MAESTRO means starting again. This
    one streams into ``<archive>.part`` beside the final file and records in
    ``<archive>.part.json`` what identified the file on the server (its ETag or Last-Modified
    date). The next run asks only for the missing bytes (``Range: bytes=N-``) *if the file is
    still the same* (``If-Range``); a server that answers with the whole file (status 200), or
    with a part of another version, makes it start again from zero rather than glue two files
    together. Without a recorded ETag or date there is nothing to confirm, so it starts again.

    A dropped connection raises :class:`DownloadInterrupted`, whose one-line message says to run
    the same command again to resume.

    Use it wherever pooch takes a ``downloader``::

        pooch.retrieve(url, known_hash=None, path=folder, downloader=ResumableDownloader())
    """

    def __init__(self, progressbar: bool = True, chunk_size: int = 1 << 20, timeout: float = 30.0):
        self.progressbar = progressbar
        self.chunk_size = chunk_size
        self.timeout = timeout

    def part_file(self, url: str, output_file) -> Path:
        return Path(output_file).parent / (Path(urlparse(url).path).name + ".part")

    @staticmethod
    def meta_file(part) -> Path:
        return Path(str(part) + ".json")

    def _saved(self, url: str, part: Path) -> dict | None:
        """What the first response said about the file the ``.part`` holds the start of."""
        meta = self.meta_file(part)
        if not part.exists():
            meta.unlink(missing_ok=True)
            return None
        try:
            saved = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = None
        if not isinstance(saved, dict) or saved.get("url") != url or not saved.get("validator"):
            print(f"{part.name}: nothing confirms which file it holds the start of; downloading "
                  "from the start")
            return None
        return saved

    @staticmethod
    def _same_file(r, saved: dict, have: int) -> bool:
        """A 206 answer continues the saved file: same validator, starts at ``have``, same total."""
        if r.status_code != 206:
            return False
        now = _validator(r.headers)
        if now is not None and now != saved["validator"]:
            return False
        start, total = _range_start_total(r.headers)
        if start is not None and start != have:
            return False
        return total is None or saved.get("total") is None or total == saved["total"]

    def __call__(self, url, output_file, pooch=None, check_only=False):
        import requests

        if check_only:  # pooch asks whether the file exists on the server
            return _pooch_http_downloader()(timeout=self.timeout)(url, output_file, pooch,
                                                                  check_only=True)
        part = self.part_file(url, output_file)
        meta = self.meta_file(part)
        saved = self._saved(url, part)
        have = part.stat().st_size if saved else 0
        headers = {"Range": f"bytes={have}-", "If-Range": saved["validator"]} if have else {}
        with requests.get(url, stream=True, timeout=self.timeout, headers=headers,
                          allow_redirects=True) as r:
            if have and r.status_code == 416 and saved.get("total") == have:
                total = have  # the .part file is already complete
            elif have and r.status_code in (206, 416) and not self._same_file(r, saved, have):
                # a part of another version of the file: ask for the whole file instead
                print(f"{part.name}: the file on the server changed; downloading from the start")
                part.unlink(missing_ok=True)
                meta.unlink(missing_ok=True)
                return self(url, output_file, pooch)
            else:
                r.raise_for_status()
                resumed = have > 0 and r.status_code == 206
                if have and not resumed:
                    print(f"{part.name}: the file on the server changed, or the server cannot "
                          "resume; downloading from the start")
                    have = 0
                elif resumed:
                    print(f"{part.name}: resuming at {have / 1e6:.1f} MB")
                length = int(r.headers.get("content-length", 0) or 0)
                total = have + length if length else None
                validator = saved["validator"] if resumed else _validator(r.headers)
                if validator:
                    meta.write_text(json.dumps({"url": url, "validator": validator, "total": total}),
                                    encoding="utf-8")
                else:
                    meta.unlink(missing_ok=True)
                self._stream(r, part, "ab" if resumed else "wb", have, total, url)
        size = part.stat().st_size
        if total is not None and size != total:
            raise DownloadInterrupted(self._dropped(url, part, size, total))
        os.replace(part, output_file)
        meta.unlink(missing_ok=True)

    def _dropped(self, url: str, part: Path, size: int, total: int | None) -> str:
        host = urlparse(url).hostname or url
        of = f" of {_size(total)}" if total else ""
        return (f"the connection to {host} dropped after {_size(size)}{of}; run the same "
                f"command again to resume (the partial file {part} is kept)")

    def _stream(self, r, part: Path, mode: str, have: int, total: int | None, url: str) -> None:
        import requests

        bar = None
        if self.progressbar:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=have, unit="B", unit_scale=True,
                       unit_divisor=1024, desc=part.name[:-5], leave=True)
        try:
            with open(part, mode) as f:
                for chunk in r.iter_content(chunk_size=self.chunk_size):
                    if chunk:
                        f.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
        except requests.exceptions.RequestException:
            raise DownloadInterrupted(self._dropped(url, part, part.stat().st_size, total)) from None
        finally:
            if bar is not None:
                bar.close()


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
    except ValueError as err:
        if "does not match the known hash" not in str(err):
            raise
        raise ValueError(f"{fname} from {e['url']} does not match its published SHA256 "
                         f"({e['known_hash'].split(':')[-1]}); the download was deleted. Run "
                         f"{_fetch_command(name, root)} again; if it fails again, the server's "
                         "copy is not the published one: see datasets/README.md") from None
    finally:
        logger.setLevel(level)
    if e["known_hash"] is None:
        print(f"  SHA256 of {fname}: {pooch.file_hash(path)} (record it to check later copies)")
    else:
        print(f"  checksum verified ({e['known_hash'].split(':')[0]})")

    tmp = Path(tempfile.mkdtemp(prefix=f".extract-{name}-", dir=root))
    try:
        print(f"unpacking {fname} ...")
        try:
            safe_extract(path, tmp)
        except (CorruptArchiveError, UnsafeArchiveError) as err:
            raise type(err)(f"{err} ({_fetch_command(name, root)})") from None
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


def _fetch_command(name: str, root) -> str:
    return f"python -m coursekit data fetch {name} --root {shlex.quote(str(root))}"


def cli_fetch(args) -> int:
    """``python -m coursekit data fetch NAME [--root DIR]``."""
    from ..outputs import check_writable

    if args.root is not None:
        check_writable(Path(args.root).expanduser(), "--root", create=False)
    try:
        fetch(args.name, args.root)
    except OfflineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
