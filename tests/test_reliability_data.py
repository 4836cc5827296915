"""Issue #24, the data commands: archives that escape, broken downloads, broken GTZAN clips,
``doctor``'s data lines and ``data make --root``.

Nothing here needs the network: archives are built in memory and served, where a test needs a
server, by a local HTTP server on 127.0.0.1.
"""

import functools
import http.server
import io
import json
import os
import shutil
import stat
import tarfile
import threading
import zipfile

import numpy as np
import pytest
import requests
import soundfile as sf

from coursekit import cli
from coursekit.data import download
from coursekit.data.download import REGISTRY, ResumableDownloader, safe_extract


def _one_line_error(capsys):
    """The command ended with one line ``error: ...`` (a progress bar may come before it)."""
    cap = capsys.readouterr()
    last = cap.err.strip().splitlines()[-1]
    assert last.startswith("error: ") and cap.err.count("error:") == 1, cap.err
    assert "Traceback" not in cap.err
    return cap.out, last


def _files_outside(top, inside):
    """Every file under ``top`` that is not under one of the folders ``inside``."""
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        for f in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, f)
            if not any(os.path.abspath(p).startswith(os.path.abspath(i) + os.sep) for i in inside):
                out.append(p)
    return out


# -- the link chain of defect 1 ---------------------------------------------------------------

WAV = b"RIFF....WAVEdata"
# q -> .   then   ./p -> q/..   (the name unnormalised; the target lexically '.')   then p/evil
CHAIN = [("q", "symlink", "."), ("./p", "symlink", "q/.."), ("p/evil", "file", b"evil")]


def _zip_info(name, kind="file"):
    """A member as the zip tool writes it: its Unix type and mode in the high bits."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777 if kind == "symlink" else stat.S_IFREG | 0o644) << 16
    return info


def _chain_zip(members=CHAIN):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(_zip_info("genres/blues/blues.00000.wav"), WAV)
        for name, kind, payload in members:
            zf.writestr(_zip_info(name, kind), payload)
    return buf.getvalue()


def _chain_tar(members=CHAIN):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("genres/blues/blues.00000.wav")
        info.size = len(WAV)
        tf.addfile(info, io.BytesIO(WAV))
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                tf.addfile(info)
            else:
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_defect01_link_chain_cannot_write_outside(tmp_path, fmt):
    top = tmp_path / "top"
    dest = top / "a" / "dest"
    archive = tmp_path / f"chain.{fmt}"
    archive.write_bytes(_chain_zip() if fmt == "zip" else _chain_tar())
    with pytest.raises(ValueError, match="member 'q'"):
        safe_extract(archive, dest)
    assert _files_outside(top, [dest]) == []
    assert not dest.exists()                                 # nothing extracted at all


def test_defect01_a_zip_under_a_tar_gz_name_is_refused(tmp_path):
    archive = tmp_path / "genres.tar.gz"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(_zip_info("genres/blues/blues.00000.wav"), WAV)
    with pytest.raises(ValueError, match=r"named as a tar.gz archive but its content is a zip"):
        safe_extract(archive, tmp_path / "dest")
    assert not (tmp_path / "dest" / "genres").exists()


@pytest.fixture
def http_server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving the folder ``tmp_path / 'srv'``."""
    served = tmp_path / "srv"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("dataset, fname, fmt", [
    ("gtzan", "genres.tar.gz", "zip"),            # a zip served under the .tar.gz name
    ("gtzan", "genres.tar.gz", "tar.gz"),
    ("maestro-midi", "maestro-v3.0.0-midi.zip", "zip"),
])
def test_defect01_link_chain_served_to_data_fetch(tmp_path, http_server, monkeypatch, capsys,
                                                  dataset, fname, fmt):
    served, base = http_server
    (served / fname).write_bytes(_chain_zip() if fmt == "zip" else _chain_tar())
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setitem(REGISTRY, dataset, dict(REGISTRY[dataset], url=f"{base}/{fname}",
                                                known_hash=None, archive_bytes=10_000,
                                                unpacked_bytes=10_000))
    top = tmp_path / "top"
    root = top / "a" / "root"
    rc = cli.main(["data", "fetch", dataset, "--root", str(root)])
    out, err = _one_line_error(capsys)
    assert rc == 2 and "ready" not in out
    assert fname in err and "rm " in err
    assert _files_outside(top, [root / "downloads"]) == []   # only the archive was written
    assert not (root / REGISTRY[dataset]["unpacks_to"]).exists()


# -- downloads that break: defect 7 -----------------------------------------------------------

class Response:
    def __init__(self, body, status=200, headers=None, break_after=None, error=None):
        self.body, self.status_code, self.break_after = body, status, break_after
        self.error = error or requests.exceptions.ChunkedEncodingError
        self.headers = {"content-length": str(len(body)), **(headers or {})}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def raise_for_status(self):
        if self.status_code >= 400:
            raise requests.exceptions.HTTPError(str(self.status_code), response=self)

    def iter_content(self, chunk_size=1):
        for i in range(0, len(self.body), 1000):
            if self.break_after is not None and i >= self.break_after:
                raise self.error("Connection broken: IncompleteRead")
            yield self.body[i:i + 1000]


class Server:
    """One file at ``url`` with an ETag; honours Range and If-Range like a real server (unless
    ``if_range=False``); breaks the connection once after ``break_after`` bytes."""

    def __init__(self, url, body, etag='"v1"', break_after=None, if_range=True, error=None):
        self.url, self.body, self.etag, self.if_range = url, body, etag, if_range
        self.break_after, self.error, self.requests = break_after, error, []

    def get(self, url, stream=True, timeout=None, headers=None, allow_redirects=True, **kw):
        headers = dict(headers or {})
        self.requests.append(headers)
        assert url == self.url
        tag = {"ETag": self.etag}
        start = int(headers.get("Range", "bytes=0-")[6:-1] or 0)
        same = "If-Range" not in headers or headers["If-Range"] == self.etag or not self.if_range
        if start and same:
            if start >= len(self.body):
                return Response(b"", status=416, headers=tag)
            end = len(self.body) - 1
            resp = Response(self.body[start:], status=206,
                            headers={**tag, "Content-Range": f"bytes {start}-{end}/{len(self.body)}"})
        else:
            resp = Response(self.body, headers=tag)
        resp.break_after, self.break_after = self.break_after, None
        resp.error = self.error or resp.error
        return resp


def _tar_gz(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _gtzan_tar(seed=0):
    wav = io.BytesIO()
    y = np.random.default_rng(seed).uniform(-0.5, 0.5, 22050).astype(np.float32)
    sf.write(wav, y, 22050, format="WAV", subtype="PCM_16")
    return _tar_gz([("genres/blues/blues.00000.wav", wav.getvalue())])


@pytest.fixture
def small_gtzan(monkeypatch):
    monkeypatch.setitem(REGISTRY, "gtzan", dict(REGISTRY["gtzan"], archive_bytes=10_000,
                                                unpacked_bytes=10_000))
    return REGISTRY["gtzan"]["url"]


@pytest.mark.parametrize("error", [requests.exceptions.ChunkedEncodingError,
                                   requests.exceptions.ConnectionError])
def test_defect07_dropped_connection_is_one_line_then_resumes(tmp_path, monkeypatch, capsys,
                                                              small_gtzan, error):
    body = _gtzan_tar()
    server = Server(small_gtzan, body, break_after=20_000, error=error)
    monkeypatch.setattr(requests, "get", server.get)
    rc = cli.main(["data", "fetch", "gtzan", "--root", str(tmp_path)])
    out, err = _one_line_error(capsys)
    assert rc == 1 and "ready" not in out
    assert "dropped" in err and "run the same command again to resume" in err
    assert "no network" not in err
    part = tmp_path / "downloads" / "genres.tar.gz.part"
    assert part.stat().st_size == 20_000 and str(part) in err
    assert cli.main(["data", "fetch", "gtzan", "--root", str(tmp_path)]) == 0
    assert server.requests[-1] == {"Range": "bytes=20000-", "If-Range": '"v1"'}
    assert (tmp_path / "genres" / "blues" / "blues.00000.wav").is_file()


@pytest.mark.parametrize("if_range", [True, False])
def test_defect07_resume_only_when_the_server_confirms_the_same_file(tmp_path, monkeypatch, if_range):
    url = "https://example.org/data/archive.tar.gz"
    first, second = _gtzan_tar(0), _gtzan_tar(1)
    server = Server(url, first, break_after=20_000, if_range=if_range)
    monkeypatch.setattr(requests, "get", server.get)
    dl = ResumableDownloader(progressbar=False)
    out = tmp_path / "tmp-download"
    with pytest.raises(download.DownloadInterrupted):
        dl(url, out)
    server.body, server.etag = second, '"v2"'           # the file changed on the server
    dl(url, out)
    assert server.requests[1]["If-Range"] == '"v1"'
    assert out.read_bytes() == second                    # not the start of one glued to the other
    # no ETag nor date recorded: nothing confirms the part file, so it starts again
    part = tmp_path / "archive.tar.gz.part"
    part.write_bytes(first[:5000])
    dl(url, out)
    assert "Range" not in server.requests[-1] and out.read_bytes() == second


def _truncated():
    return _gtzan_tar()[:-3000]


def _glued():
    a, b = _gtzan_tar(0), _gtzan_tar(1)
    return a[:len(a) // 2] + b[len(b) // 2:]


def _bad_crc_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(_zip_info("maestro-v3.0.0/maestro-v3.0.0.csv"), b"x" * 5000)
    data = bytearray(buf.getvalue())
    data[200] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize("name, make", [("genres.tar.gz", _truncated), ("genres.tar.gz", _glued),
                                        ("genres.tar.gz", lambda: b"<html>Not Found</html>"),
                                        ("maestro-v3.0.0-midi.zip", _bad_crc_zip),
                                        ("maestro-v3.0.0-midi.zip", lambda: _bad_crc_zip()[:-30])])
def test_defect07_corrupt_archive_names_the_file_and_the_command(tmp_path, capsys, name, make,
                                                                 monkeypatch):
    dataset = "gtzan" if name.startswith("genres") else "maestro-midi"
    monkeypatch.setitem(REGISTRY, dataset, dict(REGISTRY[dataset], known_hash=None,
                                                archive_bytes=10_000, unpacked_bytes=10_000))
    archive = tmp_path / "downloads" / name
    archive.parent.mkdir()
    archive.write_bytes(make())                          # what an earlier run left behind
    rc = cli.main(["data", "fetch", dataset, "--root", str(tmp_path)])
    out, err = _one_line_error(capsys)
    assert rc == 2 and "ready" not in out
    assert f"rm {archive}" in err and f"data fetch {dataset} --root {tmp_path}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downloads"]   # nothing half-extracted


def test_defect07_tar_refused_by_the_data_filter_leaves_nothing(tmp_path, monkeypatch):
    archive = tmp_path / "genres.tar.gz"
    archive.write_bytes(_tar_gz([("genres/blues/blues.00000.wav", WAV),
                                 ("genres/blues/blues.00001.wav", WAV)]))
    seen = []

    def refuse_second(member, path):
        seen.append(member.name)
        if len(seen) == 2:
            raise tarfile.OutsideDestinationError(member, path)
        return tarfile.data_filter(member, path)

    monkeypatch.setitem(tarfile._NAMED_FILTERS, "data", refuse_second)
    dest = tmp_path / "dest"
    with pytest.raises(download.UnsafeArchiveError, match=r"data filter refused.*rm "):
        safe_extract(archive, dest)
    assert seen == ["genres/blues/blues.00000.wav", "genres/blues/blues.00001.wav"]
    assert not dest.exists()                             # the first member is not left behind


def test_published_checksums_and_https():
    for name, e in REGISTRY.items():
        assert e["url"].startswith("https://"), name
    assert REGISTRY["maestro"]["known_hash"].startswith("sha256:6680fea5")
    assert REGISTRY["maestro-midi"]["known_hash"].startswith("sha256:70470ee2")


def test_no_published_checksum_is_said(tmp_path, monkeypatch, capsys, small_gtzan):
    monkeypatch.setattr(requests, "get", Server(small_gtzan, _gtzan_tar()).get)
    assert cli.main(["data", "fetch", "gtzan", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "no checksum to verify against: the authors publish no checksum" in out


# -- GTZAN clips that are broken: defect 10 ---------------------------------------------------

SR = 22050


def _clip(seconds, seed=0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * (220 + 20 * seed) * t)).astype(np.float32)


@pytest.fixture(scope="module")
def good_gtzan(tmp_path_factory):
    root = tmp_path_factory.mktemp("gtzan")
    first = None
    for i, genre in enumerate(("blues", "classical", "country", "disco", "hiphop", "jazz",
                               "metal", "pop", "reggae", "rock")):
        path = root / "genres" / genre / f"{genre}.00000.wav"
        path.parent.mkdir(parents=True)
        if first is None:
            sf.write(path, _clip(30.013), SR, subtype="PCM_16")
            first = path
        else:
            shutil.copy(first, path)
    return root


BROKEN = {
    "blues/blues.00001.wav": (lambda: np.full(int(30 * SR), np.nan, np.float32), "FLOAT", "NaN"),
    "classical/classical.00001.wav": (lambda: np.zeros(int(30 * SR), np.float32), "PCM_16", "silent"),
    "country/country.00001.wav": (lambda: _clip(30)[:1], "PCM_16", "too short"),
    "disco/disco.00001.wav": (lambda: _clip(0.02), "PCM_16", "too short"),
    "hiphop/hiphop.00001.wav": (lambda: np.tile(_clip(1.0), 600), "PCM_16", "too long"),
    "jazz/jazz.00001.wav": (lambda: _clip(30.0), "PCM_U8", "8-bit"),
}


def test_defect10_data_check_gtzan_names_each_broken_clip(good_gtzan, tmp_path, capsys):
    root = tmp_path / "gtzan"
    shutil.copytree(good_gtzan, root)
    for rel, (make, subtype, _) in BROKEN.items():
        sf.write(root / "genres" / rel, make(), SR, subtype=subtype)
    capsys.readouterr()
    assert cli.main(["data", "check", "gtzan", str(root)]) == 1
    err = capsys.readouterr().err
    for rel, (_, _, why) in BROKEN.items():
        lines = "\n".join(x for x in err.splitlines() if rel in x)
        assert why in lines, (rel, err)
    assert "Traceback" not in err
    # the good clips pass
    assert cli.main(["data", "check", "gtzan", str(good_gtzan)]) == 0


def test_defect10_a_copy_of_mini_clips_without_their_mark_passes(tmp_path):
    from coursekit.data.gtzan import GENRES, check_gtzan

    for genre in GENRES:
        (tmp_path / "genres" / genre).mkdir(parents=True)
        sf.write(tmp_path / "genres" / genre / f"{genre}.00000.wav", _clip(3.004), SR)
    sf.write(tmp_path / "genres" / "rock" / "rock.00001.wav", _clip(0.5), SR)
    counts, problems = check_gtzan(tmp_path)
    assert problems == ["rock/rock.00001.wav: too short: 0.5 s (the clips are 3 s): truncated?"]


def test_defect10_real_clips_pass_the_check(realdata):
    from coursekit.data.gtzan import check_gtzan

    counts, problems = check_gtzan(realdata / "gtzan")
    assert problems == [] and counts["total"] == 10


# -- doctor: defect 16 ------------------------------------------------------------------------

def _doctor(monkeypatch, capsys, root):
    from coursekit import doctor

    monkeypatch.setenv("COURSEKIT_DATA", str(root))
    monkeypatch.setattr(doctor, "online", lambda *a, **kw: False)
    monkeypatch.setattr(doctor, "gpu_lines", lambda: [])
    capsys.readouterr()
    assert cli.main(["doctor"]) == 0
    return capsys.readouterr().out


def test_defect16_doctor_says_when_the_data_root_is_a_file(tmp_path, monkeypatch, capsys):
    root = tmp_path / "data.txt"
    root.write_text("not a folder")
    out = _doctor(monkeypatch, capsys, root)
    lines = [x for x in out.splitlines() if str(root) in x and x.startswith("data:")]
    assert len(lines) == 1 and "is a file, not a folder" in lines[0] and "COURSEKIT_DATA" in lines[0]
    assert "generated on first use" not in out


def test_defect16_doctor_does_not_call_mini_data_real(tmp_path, monkeypatch, capsys):
    from coursekit.data.download import MARKER

    root = tmp_path / "data"
    (root / "genres" / "blues").mkdir(parents=True)
    (root / "genres" / MARKER).write_text(json.dumps({"generator": "coursekit mini-gtzan",
                                                      "size": "smoke", "seed": 0}))
    (root / "nsynth-train" / "audio").mkdir(parents=True)
    (root / "nsynth-train" / "examples.json").write_text("{}")
    (root / "mini-nsynth.json").write_text(json.dumps({"size": "smoke", "seed": 0}))
    (root / "maestro-v3.0.0").mkdir()
    (root / "maestro-v3.0.0" / "maestro-v3.0.0.csv").write_text("")
    (root / "maestro-v3.0.0" / MARKER).write_text(json.dumps({"generator": "coursekit mini-maestro",
                                                              "size": "smoke", "seed": 0}))
    out = _doctor(monkeypatch, capsys, root)
    assert "real data" not in out
    for name in ("nsynth", "gtzan", "maestro"):
        line = next(x for x in out.splitlines() if x.strip().startswith(name + " "))
        assert "mini" in line and "smoke" in line, line


# -- data make --root: defects 8 and 13 -------------------------------------------------------

def test_defect13_data_make_root_is_a_file(tmp_path, capsys):
    root = tmp_path / "a-file"
    root.write_text("mine")
    for where in (root, root / "sub"):
        rc = cli.main(["data", "make", "mini-gtzan", "--root", str(where), "--size", "smoke"])
        _, err = _one_line_error(capsys)
        assert rc == 2 and "--root" in err and str(where) in err
    assert root.read_text() == "mine"


def test_defect08_data_make_unwritable_root(tmp_path, capsys, monkeypatch):
    from coursekit.data import mini_gtzan

    def denied(*a, **kw):
        raise PermissionError(13, "Permission denied", str(tmp_path / "ro" / "genres"))

    monkeypatch.setattr(mini_gtzan, "make_mini_gtzan", denied)
    rc = cli.main(["data", "make", "mini-gtzan", "--root", str(tmp_path / "ro"), "--size", "smoke"])
    _, err = _one_line_error(capsys)
    assert rc == 2 and "--root" in err and "Permission denied" in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_defect08_data_make_read_only_root(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        rc = cli.main(["data", "make", "mini-gtzan", "--root", str(ro / "d"), "--size", "smoke"])
        _, err = _one_line_error(capsys)
        assert rc == 2 and "--root" in err
    finally:
        ro.chmod(0o700)
