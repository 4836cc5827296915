"""Downloads without a network: safe extraction of crafted archives, resuming, offline messages.

Every test here builds its archives in memory and replaces ``requests.get`` with a fake
server, so nothing leaves the machine.
"""

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf

from coursekit import cli
from coursekit.data import download
from coursekit.data.download import (
    REGISTRY, OfflineError, ResumableDownloader, UnsafeArchiveError, check_member, fetch,
    member_parts, move_into_place, safe_extract,
)

REPO = Path(__file__).resolve().parents[1]


# -- crafted archives -------------------------------------------------------------------------

def _tar(path, members):
    """members: (name, kind, payload) with kind file/dir/symlink/hardlink/fifo."""
    with tarfile.open(path, "w:gz") as tf:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                         "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            if kind in ("symlink", "hardlink"):
                info.linkname = payload
            tf.addfile(info)
    return path


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, kind, payload in members:
            info = zipfile.ZipInfo(name)
            if kind == "symlink":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, payload)
            else:
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                zf.writestr(info, payload)
    return path


GOOD = [("genres", "dir", None), ("genres/blues/blues.00000.wav", "file", b"RIFF....data"),
        ("./genres/rock/rock.00000.wav", "file", b"RIFF....rock")]


def test_safe_extract_good_tar_and_zip(tmp_path):
    out = safe_extract(_tar(tmp_path / "good.tar.gz", GOOD), tmp_path / "t")
    assert (tmp_path / "t" / "genres" / "blues" / "blues.00000.wav").read_bytes() == b"RIFF....data"
    assert (tmp_path / "t" / "genres" / "rock" / "rock.00000.wav").read_bytes() == b"RIFF....rock"
    assert sorted(out) == sorted([tmp_path / "t" / "genres", tmp_path / "t" / "genres" / "blues" /
                                  "blues.00000.wav", tmp_path / "t" / "genres" / "rock" / "rock.00000.wav"])
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["genres"]   # no temporary folder left
    safe_extract(_zip(tmp_path / "good.zip", GOOD[1:]), tmp_path / "z")
    assert (tmp_path / "z" / "genres" / "rock" / "rock.00000.wav").read_bytes() == b"RIFF....rock"


@pytest.mark.parametrize("fmt", ["tar", "zip"])
@pytest.mark.parametrize("member, why", [
    (("/tmp/evil.sh", "file", b"x"), "absolute"),
    (("../evil.sh", "file", b"x"), "'..'"),
    (("genres/../../evil.sh", "file", b"x"), "'..'"),
    (("genres/up", "symlink", "../../.."), "symlink (to '../../..')"),
    (("genres/root", "symlink", "/etc"), "symlink (to '/etc')"),
    (("genres/in", "symlink", "blues"), "hold only files and folders"),      # even inside
])
def test_safe_extract_refuses_escaping_members(tmp_path, fmt, member, why):
    dest = tmp_path / "dest"
    members = GOOD[1:2] + [member]
    archive = _tar(tmp_path / "a.tar.gz", members) if fmt == "tar" else _zip(tmp_path / "a.zip", members)
    with pytest.raises(UnsafeArchiveError) as err:
        safe_extract(archive, dest)
    msg = str(err.value)
    assert f"member '{member[0]}'" in msg and why in msg and "nothing was extracted" in msg
    assert not any(dest.rglob("*"))                        # nothing written, not even good files
    assert not (tmp_path / "evil.sh").exists() and not Path("/tmp/evil.sh").exists()


def test_safe_extract_refuses_links_and_devices(tmp_path):
    # a link to a folder inside, then a file written through it: the link is refused
    chain = [("a", "symlink", "."), ("a/b", "file", b"ok")]
    with pytest.raises(UnsafeArchiveError, match="member 'a'.*symlink"):
        safe_extract(_tar(tmp_path / "c.tar.gz", chain), tmp_path / "d1")
    with pytest.raises(UnsafeArchiveError, match=r"member 'hl'.*hardlink \(to '../x'\)"):
        safe_extract(_tar(tmp_path / "h.tar.gz", [("hl", "hardlink", "../x")]), tmp_path / "d2")
    with pytest.raises(UnsafeArchiveError, match="member 'pipe'.*device file or FIFO"):
        safe_extract(_tar(tmp_path / "f.tar.gz", [("pipe", "fifo", None)]), tmp_path / "d3")
    with pytest.raises(UnsafeArchiveError, match=r"member '\.\.\\evil'.*contains '\.\.'"):
        safe_extract(_zip(tmp_path / "w.zip", [("..\\evil", "file", b"x")]), tmp_path / "d4")


def test_check_member_rules():
    assert check_member("nsynth-test/audio/x.wav") is None
    assert check_member("C:\\Windows\\x") == "its path is absolute"
    assert check_member("./nsynth-test//examples.json") is None
    assert "symlink" in check_member("dir/link", "symlink", "../sibling")
    assert "hardlink" in check_member("dir/link", "hardlink", "dir/file")
    assert member_parts("./p") == ("p",) and member_parts("a\\b/") == ("a", "b")


def test_not_an_archive(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(ValueError, match="its content is not an archive.*rm "):
        safe_extract(junk, tmp_path / "out")
    with pytest.raises(ValueError, match="cannot tell the archive type"):
        safe_extract(_tar(tmp_path / "x.rar", GOOD[1:2]), tmp_path / "out")


# -- a fake server ----------------------------------------------------------------------------

class FakeResponse:
    def __init__(self, body, status=200, break_after=None):
        self.body, self.status_code, self.break_after = body, status, break_after
        self.headers = {"content-length": str(len(body)), "ETag": '"1"'}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def raise_for_status(self):
        if self.status_code >= 400:
            raise requests.exceptions.HTTPError(f"{self.status_code}", response=self)

    def iter_content(self, chunk_size=1):
        sent = 0
        for i in range(0, len(self.body), 1000):
            if self.break_after is not None and sent >= self.break_after:
                raise requests.exceptions.ConnectionError("connection reset by peer")
            chunk = self.body[i:i + 1000]
            sent += len(chunk)
            yield chunk


class FakeServer:
    """Serves ``files`` (url -> bytes); honours Range unless ``ranges=False``."""

    def __init__(self, files, ranges=True, break_after=None):
        self.files, self.ranges, self.break_after, self.requests = files, ranges, break_after, []

    def get(self, url, stream=True, timeout=None, headers=None, allow_redirects=True, **kw):
        self.requests.append(dict(headers or {}))
        body = self.files[url]
        start = int((headers or {}).get("Range", "bytes=0-")[6:-1] or 0)
        if start and self.ranges:
            if start >= len(body):
                return FakeResponse(b"", status=416)
            resp = FakeResponse(body[start:], status=206)
        else:
            resp = FakeResponse(body)
        if self.break_after is not None:
            resp.break_after, self.break_after = self.break_after, None  # break only once
        return resp


def test_resumable_download_keeps_and_resumes_the_part_file(tmp_path, monkeypatch):
    body = np.random.default_rng(0).bytes(25_000)
    url = "https://example.org/data/archive.tar.gz"
    server = FakeServer({url: body}, break_after=10_000)
    monkeypatch.setattr(requests, "get", server.get)
    dl = ResumableDownloader(progressbar=False)
    out = tmp_path / "tmp-download"
    with pytest.raises(OfflineError, match="run the same command again to resume"):
        dl(url, out)
    part = tmp_path / "archive.tar.gz.part"
    assert part.stat().st_size == 10_000 and not out.exists()   # the partial file is kept
    dl(url, out)
    assert server.requests[-1] == {"Range": "bytes=10000-", "If-Range": '"1"'}   # only the rest
    assert out.read_bytes() == body and not part.exists()
    # a server that ignores Range: start again rather than append a second copy
    server.break_after = 5000
    with pytest.raises(OfflineError):
        dl(url, out)
    server.ranges = False
    dl(url, out)
    assert out.read_bytes() == body
    # a part file that is already complete: the server answers 416, nothing is re-sent
    server.ranges, server.break_after = True, 24_000
    with pytest.raises(OfflineError):
        dl(url, out)
    part.write_bytes(body)
    dl(url, out)
    assert server.requests[-1]["Range"] == "bytes=25000-" and out.read_bytes() == body


def test_offline_gives_one_clear_line(tmp_path, monkeypatch, capsys):
    def no_network(*a, **kw):
        raise requests.exceptions.ConnectionError("Failed to resolve 'download.magenta.tensorflow.org'")

    monkeypatch.setattr(requests, "get", no_network)
    with pytest.raises(OfflineError) as err:
        fetch("nsynth-test", tmp_path, progressbar=False)
    assert str(err.value).startswith("cannot reach storage.googleapis.com: no network?")
    assert "python -m coursekit data make mini-nsynth" in str(err.value)
    capsys.readouterr()
    assert cli.main(["data", "fetch", "maestro-midi", "--root", str(tmp_path)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [lines[0]] and "cannot reach storage.googleapis.com" in lines[0]
    assert "mini-maestro" in lines[0]


def _gtzan_archive(members=None):
    buf = io.BytesIO()
    wav = io.BytesIO()
    sf.write(wav, np.zeros(22050, dtype=np.float32), 22050, format="WAV", subtype="PCM_16")
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members or [("genres/blues/blues.00000.wav", wav.getvalue())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_fetch_downloads_checks_and_unpacks(tmp_path, monkeypatch):
    url = REGISTRY["gtzan"]["url"]
    server = FakeServer({url: _gtzan_archive()})
    monkeypatch.setattr(requests, "get", server.get)
    monkeypatch.setitem(REGISTRY, "gtzan", dict(REGISTRY["gtzan"], archive_bytes=10_000, unpacked_bytes=10_000))
    out = fetch("gtzan", tmp_path, progressbar=False)
    assert out == tmp_path / "genres" and (out / "blues" / "blues.00000.wav").is_file()
    assert not list((tmp_path / "downloads").iterdir())        # archive removed after unpacking
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    n = len(server.requests)
    assert fetch("gtzan", tmp_path, progressbar=False) == out and len(server.requests) == n  # present
    # a checksum that does not match is refused
    import hashlib

    monkeypatch.setitem(REGISTRY, "gtzan", dict(REGISTRY["gtzan"], known_hash="sha256:" + "0" * 64,
                                                archive_bytes=10_000, unpacked_bytes=10_000))
    with pytest.raises(ValueError, match="does not match its published SHA256"):
        fetch("gtzan", tmp_path / "again", progressbar=False)
    good = hashlib.sha256(_gtzan_archive()).hexdigest()
    monkeypatch.setitem(REGISTRY, "gtzan", dict(REGISTRY["gtzan"], known_hash=f"sha256:{good}",
                                                archive_bytes=10_000, unpacked_bytes=10_000))
    assert (fetch("gtzan", tmp_path / "again", progressbar=False) / "blues").is_dir()


def test_fetch_refuses_an_unsafe_archive_and_a_full_disk(tmp_path, monkeypatch):
    url = REGISTRY["gtzan"]["url"]
    evil = _gtzan_archive([("genres/blues/blues.00000.wav", b"x"), ("../../outside.txt", b"x")])
    monkeypatch.setattr(requests, "get", FakeServer({url: evil}).get)
    monkeypatch.setitem(REGISTRY, "gtzan", dict(REGISTRY["gtzan"], archive_bytes=10_000, unpacked_bytes=10_000))
    with pytest.raises(UnsafeArchiveError, match=r"member '../../outside.txt'"):
        fetch("gtzan", tmp_path, progressbar=False)
    assert not (tmp_path / "genres").exists() and not (tmp_path.parent / "outside.txt").exists()
    monkeypatch.setitem(REGISTRY, "gtzan", dict(REGISTRY["gtzan"], archive_bytes=10**15))
    with pytest.raises(ValueError, match="not enough disk space"):
        fetch("gtzan", tmp_path / "small", progressbar=False)


# -- the registry and the README agree --------------------------------------------------------

def test_registry_uses_official_hosts_and_says_when_no_checksum():
    readme = (REPO / "datasets" / "README.md").read_text(encoding="utf-8")
    hosts = {"download.magenta.tensorflow.org", "storage.googleapis.com", "huggingface.co"}
    for name, e in REGISTRY.items():
        assert e["url"].split("/")[2] in hosts, name
        assert e["url"] in readme, f"datasets/README.md does not list {e['url']}"
        if e["known_hash"] is None:
            assert "no checksum" in e["checksum_note"] or "publish" in e["checksum_note"]
        else:
            assert e["known_hash"].split(":")[-1] in readme, f"datasets/README.md lacks {name}'s checksum"
        assert e["licence"].split()[0] in readme
    parser = cli.build_parser()
    for name in REGISTRY:  # every entry can be fetched from the command line
        assert parser.parse_args(["data", "fetch", name]).name == name


def test_move_into_place_markers(tmp_path):
    def folder(name, text):
        d = tmp_path / name
        d.mkdir()
        (d / "f.txt").write_text(text)
        return d

    target = tmp_path / "target"
    move_into_place(folder("a", "first"), target, marker={"seed": 0})
    move_into_place(folder("b", "same seed"), target, marker={"seed": 0})
    assert (target / "f.txt").read_text() == "first"           # same marker: kept, no swap
    move_into_place(folder("c", "new seed"), target, marker={"seed": 1})
    assert (target / "f.txt").read_text() == "new seed"        # another seed: replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]
    real = folder("real", "real data")
    with pytest.raises(ValueError, match="not generated by coursekit"):
        move_into_place(folder("d", "x"), real, marker={"seed": 0})
    assert (real / "f.txt").read_text() == "real data"
