"""Downloads and archive extraction against a local HTTP server on 127.0.0.1 (never any other address).

Covers: fetch (cache, SHA-256, resume, 404, refused connection, timeout, offline mode without any
request), safe_extract (good zip/tar, and every malicious member kind refused with nothing
written anywhere), prepare_raw's folder rules, and make_builder's download_and_prepare().
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import stat
import struct
import tarfile
import threading
import uuid
import warnings
import wave
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from libtrad.builders import download as dl
from libtrad.builders import download_limits as limits
from libtrad.builders import raw_folder as rf
from libtrad.builders.archives import archive_format
from libtrad.builders.download import Download, fetch
from libtrad.builders.raw_folder import prepare_raw, safe_extract
from libtrad.core.errors import LibtradError

MAX_REQUESTS = 200  # per server: a test that loops on requests fails instead of hanging


# ----------------------------------------------------------------------------- a local server
class _Server:
    def __init__(self, root: Path):
        self.root = root
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.release = threading.Event()
        self.modes: dict[str, str] = {}  # file name -> how it is (mis)served, see _misbehave
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # per connection: a stuck client cannot hold a thread forever

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                if len(server.requests) > MAX_REQUESTS:
                    self.send_error(503)
                    return
                if self.path == "/stall":
                    server.release.wait(5)
                    return
                path = server.root / self.path.lstrip("/")
                if "/" in self.path.lstrip("/") or not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                if server.modes.get(path.name) and _misbehave(self, server, path.name, data):
                    return
                start = 0
                if (rng := self.headers.get("Range", "")).startswith("bytes="):
                    start = int(rng[len("bytes=") :].split("-")[0])
                if start:
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                self.wfile.write(data[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def add(self, name: str, data: bytes, mode: str | None = None) -> str:
        (self.root / name).write_bytes(data)
        if mode:
            self.modes[name] = mode
        return self.url(name)

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


HTML_PAGE = b"<!DOCTYPE html>\n<html><body>Please log in to download this file.</body></html>\n"


def _misbehave(handler, server: _Server, name: str, data: bytes) -> bool:
    """Serve ``name`` the way its mode says (True), or normally (False: a one-shot mode already used).

    html: a 200 login page (Content-Type text/html); html-body: the same page labelled as binary;
    cut-no-length: half the body, no Content-Length, then the connection closes (HTTP/1.0);
    no-length: the whole body without a Content-Length; cut-once: the full Content-Length but half
    the body, on the first request only; no-range: Range ignored (200, the whole file);
    trickle: the full Content-Length, then one byte every 20 ms.
    """
    mode = server.modes[name]
    if mode == "cut-once":
        del server.modes[name]
    if mode in ("html", "html-body"):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8" if mode == "html" else "application/zip")
        handler.send_header("Content-Length", str(len(HTML_PAGE)))
        handler.end_headers()
        handler.wfile.write(HTML_PAGE)
        return True
    handler.send_response(200)
    if mode in ("cut-once", "no-range", "trickle"):
        handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if mode == "trickle":
        try:
            for byte in range(len(data)):
                if server.release.wait(0.02):
                    return True
                handler.wfile.write(data[byte : byte + 1])
                handler.wfile.flush()
        except OSError:  # the client gave up
            pass
        return True
    handler.wfile.write(data[: len(data) // 2] if mode in ("cut-no-length", "cut-once") else data)
    return True


@pytest.fixture
def online(monkeypatch):
    """Network allowed for libtrad's downloader, and never through a proxy (the server is local)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for var in (limits.ENV_TIMEOUT, limits.ENV_DEADLINE, limits.ENV_MIN_RATE):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server(tmp_path, online):
    root = tmp_path / "served"
    root.mkdir()
    srv = _Server(root)
    try:
        yield srv
    finally:
        srv.close()


# ----------------------------------------------------------------------------- archives
def _wav(seed: int) -> bytes:
    samples = (np.random.default_rng(seed).standard_normal(1600) * 3000).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


RAW_FILES = {
    "train/normal_0000.wav": _wav(0),
    "train/normal_0001.wav": _wav(1),
    "test/anomaly_0002.wav": _wav(2),
    "test/normal_0003.wav": _wav(3),
    "meta/labels.csv": b"file,label\nnormal_0000.wav,normal\n",
}


def _tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def good_tar(mode: str = "w:gz") -> bytes:
    members = [(tarfile.TarInfo("./train"), None)]
    members[0][0].type = tarfile.DIRTYPE
    members += [(tarfile.TarInfo(name), data) for name, data in RAW_FILES.items()]
    return _tar_bytes(members, mode)


def good_zip() -> bytes:
    """The same bytes at every call (a fixed time stamp: zipfile's default is now, to 2 s)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in {"train/": b"", **RAW_FILES}.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o40775 << 16 | 0x10) if name.endswith("/") else 0o600 << 16  # as zipfile sets them
            zf.writestr(info, data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _zip_with(name: str, data: bytes = b"evil", *, mode: int | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok/first.csv", b"a,b\n")
        info = zipfile.ZipInfo(name)
        if mode is not None:
            info.create_system = 3
            info.external_attr = mode << 16
        zf.writestr(info, data)
    return buf.getvalue()


def _tar_with(info: tarfile.TarInfo, data: bytes | None = None) -> bytes:
    first = tarfile.TarInfo("ok/first.csv")
    return _tar_bytes([(first, b"a,b\n"), (info, data)])


def _typed(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


OUTSIDE = f"/tmp/libtrad-evil-{uuid.uuid4().hex}"


def _bomb_zip() -> bytes:
    """2 MiB of zeros in a ~2 KiB zip (over the cap the test sets)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok/first.csv", b"a,b\n")
        zf.writestr("bomb.bin", bytes(2 * 2**20))
    return buf.getvalue()


def _declared_size_zip(declared: int) -> bytes:
    """A tiny zip whose central directory declares ``declared`` bytes for its member (sizes lie)."""
    data = bytearray(_zip_with("big.bin", b"tiny"))
    at = data.rfind(b"PK\x01\x02")  # the last member's central directory header
    data[at + 24 : at + 28] = struct.pack("<I", declared)
    return bytes(data)


MALICIOUS = {
    "zip-dotdot": (lambda: _zip_with("../evil"), "../evil", "'..'"),
    "zip-nested-dotdot": (lambda: _zip_with("ok/../../evil"), "ok/../../evil", "'..'"),
    "zip-absolute": (lambda: _zip_with(OUTSIDE), OUTSIDE, "absolute"),
    "zip-drive-letter": (lambda: _zip_with("C:/evil"), "C:/evil", "drive letter"),
    "zip-backslash-dotdot": (lambda: _zip_with("..\\evil"), "..\\evil", "'..'"),
    "zip-symlink": (
        lambda: _zip_with("ok/link", b"/etc/passwd", mode=stat.S_IFLNK | 0o777),
        "ok/link",
        "symbolic link",
    ),
    "zip-fifo": (lambda: _zip_with("ok/fifo", b"", mode=stat.S_IFIFO | 0o644), "ok/fifo", "FIFO"),
    "tar-absolute": (lambda: _tar_with(tarfile.TarInfo(OUTSIDE), b"evil"), OUTSIDE, "absolute"),
    "tar-dotdot": (lambda: _tar_with(tarfile.TarInfo("../evil"), b"evil"), "../evil", "'..'"),
    "tar-symlink-out": (
        lambda: _tar_with(_typed("ok/link", tarfile.SYMTYPE, "../../outside")),
        "ok/link",
        "symbolic link",
    ),
    "tar-symlink-in": (lambda: _tar_with(_typed("ok/link", tarfile.SYMTYPE, "first.csv")), "ok/link", "symbolic link"),
    "tar-hardlink": (lambda: _tar_with(_typed("ok/hard", tarfile.LNKTYPE, "/etc/passwd")), "ok/hard", "hard link"),
    "tar-device": (lambda: _tar_with(_typed("ok/dev", tarfile.CHRTYPE)), "ok/dev", "device"),
    "tar-fifo": (lambda: _tar_with(_typed("ok/fifo", tarfile.FIFOTYPE)), "ok/fifo", "FIFO"),
    "tar-twice": (
        lambda: _tar_bytes([(tarfile.TarInfo("a.csv"), b"1"), (tarfile.TarInfo("./a.csv"), b"2")]),
        "./a.csv",
        "twice",
    ),
}


def _snapshot(root: Path) -> dict[str, bytes | str]:
    out = {}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = (
            "<dir>" if path.is_dir() else ("-> " + os.readlink(path) if path.is_symlink() else path.read_bytes())
        )
    return out


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text, text
    return text


# ----------------------------------------------------------------------------- safe_extract
@pytest.mark.parametrize("kind", ["tar.gz", "tar", "tar.bz2", "tar.xz", "zip"])
def test_good_archive_extracts_every_file(tmp_path, kind):
    data = (
        good_zip()
        if kind == "zip"
        else good_tar({"tar": "w", "tar.gz": "w:gz", "tar.bz2": "w:bz2", "tar.xz": "w:xz"}[kind])
    )
    archive = tmp_path / "download.bin"  # judged by content, not by name
    archive.write_bytes(data)
    assert archive_format(archive) == ("zip" if kind == "zip" else "tar")
    target = tmp_path / "raw" / "sub"
    files = safe_extract(archive, target)
    assert sorted(p.relative_to(target).as_posix() for p in files) == sorted(RAW_FILES)
    for name, content in RAW_FILES.items():
        assert (target / name).read_bytes() == content
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left


def test_plain_files_are_not_archives(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_bytes(b"file,label\n" * 100)
    assert archive_format(csv) is None
    for name, head in (("x.7z", b"7z\xbc\xaf\x27\x1c" + bytes(40)), ("x.rar", b"Rar!\x1a\x07\x00" + bytes(40))):
        (tmp_path / name).write_bytes(head)
        with pytest.raises(LibtradError, match="does not unpack") as exc:
            archive_format(tmp_path / name)
        assert "--data-dir" in _one_line(exc)
    with pytest.raises(LibtradError, match="not a zip or tar archive"):
        safe_extract(csv, tmp_path / "out")


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_archive_refused_and_nothing_written(tmp_path, case):
    make, member, reason = MALICIOUS[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        data = make()
    work = tmp_path / "work"
    work.mkdir()
    archive = tmp_path / "evil.archive"
    archive.write_bytes(data)
    target = work / "raw"
    target.mkdir()
    (target / "keep.txt").write_text("the user's")
    before = _snapshot(tmp_path)
    with pytest.raises(LibtradError) as exc:
        safe_extract(archive, target)
    text = _one_line(exc)
    assert str(archive) in text and repr(member)[1:-1] in text and reason in text, text
    assert "nothing was unpacked" in text
    assert _snapshot(tmp_path) == before
    assert not Path(OUTSIDE).exists() and not (tmp_path / "evil").exists()


def test_caps_on_size_and_member_count(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(_bomb_zip())
    assert bomb.stat().st_size < 20_000
    monkeypatch.setattr(rf, "MAX_TOTAL_BYTES", 2**20)
    with pytest.raises(LibtradError) as exc:
        safe_extract(bomb, tmp_path / "out")
    assert "'bomb.bin'" in _one_line(exc) and "1,048,576 bytes" in str(exc.value)
    # the cap is on declared sizes: a 4-byte member declaring 3 GiB is refused before any read
    liar = tmp_path / "liar.zip"
    liar.write_bytes(_declared_size_zip(3 * 2**30))
    with pytest.raises(LibtradError, match="'big.bin'.*more than 1,073,741,824 bytes"):
        safe_extract(liar, tmp_path / "out", max_bytes=2**30)
    many = tmp_path / "many.tar"
    many.write_bytes(_tar_bytes([(tarfile.TarInfo(f"f{i}.csv"), b"x") for i in range(5)], "w"))
    monkeypatch.setattr(rf, "MAX_MEMBERS", 3)
    with pytest.raises(LibtradError, match="more than 3 members.*'f3.csv'"):
        safe_extract(many, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip", "liar.zip", "many.tar"]


def test_never_overwrites_and_never_follows_links_in_target(tmp_path):
    archive = tmp_path / "good.tgz"
    archive.write_bytes(good_tar())
    target = tmp_path / "raw"
    target.mkdir()
    (target / "train").mkdir()
    (target / "train" / "normal_0001.wav").write_bytes(b"the user's own file")
    before = _snapshot(tmp_path)
    with pytest.raises(LibtradError, match=r"'train/normal_0001.wav'.*would replace .*exists"):
        safe_extract(archive, target)
    assert _snapshot(tmp_path) == before
    # a link already in the target is never written through
    (target / "train" / "normal_0001.wav").unlink()
    (target / "train").rmdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (target / "train").symlink_to(outside)
    before = _snapshot(tmp_path)
    with pytest.raises(LibtradError, match="symbolic link|resolves outside"):
        safe_extract(archive, target)
    assert _snapshot(tmp_path) == before and not any(outside.iterdir())


def test_damaged_archive_is_one_line(tmp_path):
    data = good_tar("w:gz")
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(LibtradError, match="damaged or unreadable archive") as exc:
        safe_extract(broken, tmp_path / "out")
    _one_line(exc)
    truncated_zip = tmp_path / "broken.zip"
    truncated_zip.write_bytes(good_zip()[:200])
    with pytest.raises(LibtradError, match="damaged zip"):
        archive_format(truncated_zip)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- fetch
def test_fetch_downloads_verifies_and_reuses_the_cache(server, tmp_path):
    data = good_tar()
    url = server.add("data.tar.gz", data)
    sha = hashlib.sha256(data).hexdigest()
    cache = tmp_path / "cache"
    [path] = fetch([Download(url, "data.tar.gz", sha256=sha)], cache, progress=False)
    assert path.read_bytes() == data and path.name == "data.tar.gz"
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".part")] == []
    assert len(server.requests) == 1
    assert fetch([Download(url, "data.tar.gz", sha256=sha)], cache, progress=False) == [path]
    assert len(server.requests) == 1  # cached and verified: no request


def test_fetch_resumes_a_partial_download(server, tmp_path):
    data = good_zip()
    url = server.add("data.zip", data)
    download = Download(url, "data.zip", sha256=hashlib.sha256(data).hexdigest())
    part = dl.cached_path(download, tmp_path / "cache").with_name("data.zip.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:100])
    [path] = fetch([download], tmp_path / "cache", progress=False)
    assert path.read_bytes() == data and not part.exists()
    assert server.requests == [("/data.zip", "bytes=100-")]


def test_sha256_mismatch_is_refused_and_deleted(server, tmp_path):
    url = server.add("data.zip", good_zip())
    wrong = "0" * 64
    with pytest.raises(LibtradError) as exc:
        fetch([Download(url, "data.zip", sha256=wrong)], tmp_path / "cache", progress=False)
    text = _one_line(exc)
    assert url in text and wrong in text and hashlib.sha256(good_zip()).hexdigest() in text
    assert "--data-dir FOLDER" in text
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and not p.name.endswith(".lock")] == []


def test_404_and_refused_connection_give_one_sentence(server, tmp_path):
    url = server.url("missing.zip")
    with pytest.raises(LibtradError) as exc:
        fetch([Download(url, "missing.zip")], tmp_path / "cache", progress=False)
    text = _one_line(exc)
    assert "HTTP 404" in text and f"download {url} yourself" in text and "--data-dir FOLDER" in text
    with socket.socket() as sock:  # a port nobody listens on (127.0.0.1 only)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/data.zip"
    with pytest.raises(LibtradError) as exc:
        fetch([Download(url, "data.zip")], tmp_path / "cache", progress=False)
    text = _one_line(exc)
    assert "refused" in text.lower() and f"download {url} yourself" in text and "--data-dir" in text


def test_read_timeout(server, tmp_path):
    url = server.url("stall")
    with pytest.raises(LibtradError, match=r"no answer within 0.5 s.*--data-dir") as exc:
        fetch([Download(url, "stall.zip")], tmp_path / "cache", progress=False, timeout=0.5)
    _one_line(exc)


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"])
def test_offline_makes_no_request(server, tmp_path, monkeypatch, variable):
    url = server.add("data.zip", good_zip())
    monkeypatch.setenv(variable, "1")
    with pytest.raises(LibtradError) as exc:
        fetch([Download(url, "data.zip")], tmp_path / "cache", progress=False)
    text = _one_line(exc)
    assert f"{variable}=1" in text and f"download {url} yourself" in text and "--data-dir FOLDER" in text
    assert server.requests == []
    # a file already in the cache is used offline
    monkeypatch.setenv(variable, "0")
    fetch([Download(url, "data.zip")], tmp_path / "cache", progress=False)
    monkeypatch.setenv(variable, "1")
    fetch([Download(url, "data.zip")], tmp_path / "cache", progress=False)
    assert len(server.requests) == 1


def test_bad_download_entries_are_refused(tmp_path):
    for bad, what in (
        (Download("file:///etc/passwd", "x"), "only http"),
        (Download("http://127.0.0.1/x", "../x"), "plain file name"),
        (Download("http://127.0.0.1/x", "x", sha256="abc"), "64 hexadecimal"),
        (Download("http://127.0.0.1/x", "x", extract_to="../up"), "'..'"),
    ):
        with pytest.raises(LibtradError, match=what):
            fetch([bad], tmp_path / "cache", progress=False)


# ----------------------------------------------------------------------------- limits: deadline, minimum rate
def _cached_files(cache: Path) -> list[str]:
    """Every file in the cache but the lock files, relative (``.part`` files included)."""
    return (
        sorted(
            p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")
        )
        if cache.exists()
        else []
    )


def test_a_trickling_server_is_stopped_at_the_deadline(server, tmp_path):
    """One byte every 20 ms keeps every read well inside its timeout; the deadline stops it."""
    import time

    url = server.add("slow.zip", good_zip(), "trickle")
    started = time.monotonic()
    with pytest.raises(LibtradError) as exc:
        fetch([Download(url, "slow.zip")], tmp_path / "cache", progress=False, timeout=5, deadline=1.0, min_rate=0)
    elapsed = time.monotonic() - started
    text = _one_line(exc)
    assert elapsed < 4, elapsed
    assert url in text and "bytes received" in text and "over the deadline of 1 s" in text, text
    assert "LIBTRAD_DOWNLOAD_DEADLINE" in text and "--data-dir FOLDER" in text
    import re

    seconds = float(re.search(r"stopped after ([0-9.]+) s", text).group(1))
    received = int(re.search(r"with ([0-9,]+) bytes received", text).group(1).replace(",", ""))
    assert 1.0 <= seconds < 3 and 0 < received < len(good_zip())
    # what arrived is kept (as a .part, never as the finished file) and resumed next time
    assert [Path(p).name for p in _cached_files(tmp_path / "cache")] == ["slow.zip.part"]
    assert f"the {received:,} bytes received are kept in" in text and "resumed next time" in text


def test_a_trickling_server_is_stopped_below_the_minimum_rate_set_by_environment(server, tmp_path, monkeypatch):
    import time

    monkeypatch.setattr(limits, "RATE_WINDOW_S", 0.5)
    monkeypatch.setenv("LIBTRAD_DOWNLOAD_MIN_RATE", "1000")  # the trickle is ~50 bytes/s
    url = server.add("slow.tar.gz", good_tar(), "trickle")
    started = time.monotonic()
    with pytest.raises(LibtradError) as exc:
        fetch([Download(url, "slow.tar.gz")], tmp_path / "cache", progress=False, timeout=5)
    assert time.monotonic() - started < 3
    text = _one_line(exc)
    assert url in text and "bytes received" in text and "below the minimum of 1,000 bytes/s" in text, text
    assert "LIBTRAD_DOWNLOAD_MIN_RATE" in text


@pytest.mark.parametrize(
    "variable, value",
    [("LIBTRAD_DOWNLOAD_DEADLINE", "soon"), ("LIBTRAD_DOWNLOAD_MIN_RATE", "-1"), ("LIBTRAD_DOWNLOAD_TIMEOUT", "0")],
)
def test_bad_limit_settings_are_one_line_naming_the_variable(server, tmp_path, monkeypatch, variable, value):
    url = server.add("data.zip", good_zip())
    monkeypatch.setenv(variable, value)
    with pytest.raises(LibtradError) as exc:
        fetch([Download(url, "data.zip")], tmp_path / "cache", progress=False)
    assert _one_line(exc).startswith(f"{variable}={value!r}: must be a number of")
    assert server.requests == []


def test_limits_resolve_argument_then_environment_then_default(monkeypatch, online):
    assert limits.download_limits() == limits.Limits(60.0, None, 1024.0, 20.0)
    monkeypatch.setenv("LIBTRAD_DOWNLOAD_DEADLINE", "3600")
    monkeypatch.setenv("LIBTRAD_DOWNLOAD_MIN_RATE", "0")
    monkeypatch.setenv("LIBTRAD_DOWNLOAD_TIMEOUT", "7.5")
    assert limits.download_limits() == limits.Limits(7.5, 3600.0, None, 20.0)
    assert limits.download_limits(deadline=0, min_rate=10, timeout=1) == limits.Limits(1.0, None, 10.0, 20.0)
    from libtrad.core.errors import ParameterError

    for bad in ({"deadline": -2}, {"min_rate": float("nan")}, {"timeout": 0}, {"deadline": "1"}):
        with pytest.raises(ParameterError, match=f"{next(iter(bad))}="):
            fetch([Download("http://127.0.0.1:9/x.zip", "x.zip")], "unused-cache", progress=False, **bad)


# ----------------------------------------------------------------------------- only complete files are cached
@pytest.mark.parametrize("mode", ["html", "html-body"])
def test_an_html_answer_is_refused_and_not_cached(server, tmp_path, mode):
    url = server.add("data.zip", good_zip(), mode)
    cache = tmp_path / "cache"
    with pytest.raises(LibtradError) as exc:
        fetch([Download(url, "data.zip")], cache, progress=False)
    text = _one_line(exc)
    assert url in text and "HTML page" in text and "nothing was cached" in text and "--data-dir FOLDER" in text
    assert _cached_files(cache) == []
    # prepare_raw: no raw folder either, and the next run asks the server again (nothing poisoned)
    with pytest.raises(LibtradError, match="HTML page"):
        prepare_raw([Download(url, "data.zip")], tmp_path / "raw", cache, progress=False)
    assert not (tmp_path / "raw").exists() and _cached_files(cache) == []
    del server.modes["data.zip"]
    [path] = fetch([Download(url, "data.zip")], cache, progress=False)
    assert path.read_bytes() == good_zip()


def test_a_page_named_html_is_not_refused(server, tmp_path):
    url = server.add("index.html", HTML_PAGE, "html")
    [path] = fetch([Download(url, "index.html")], tmp_path / "cache", progress=False)
    assert path.read_bytes() == HTML_PAGE


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("data.tar.gz", good_tar(), "not a complete archive"),
        ("data.zip", good_zip(), "not a complete archive"),
        ("list.csv", b"file,label\n" * 1000, "nothing proves it complete"),
    ],
    ids=["tar.gz", "zip", "csv"],
)  # ids of their own: the archives' bytes differ between pytest-xdist workers
def test_a_body_cut_short_without_content_length_is_refused_and_not_cached(server, tmp_path, name, data, reason):
    url = server.add(name, data, "cut-no-length")
    cache = tmp_path / "cache"
    with pytest.raises(LibtradError) as exc:
        prepare_raw([Download(url, name)], tmp_path / "raw", cache, progress=False)
    text = _one_line(exc)
    assert url in text and reason in text and "nothing was cached" in text, text
    assert _cached_files(cache) == [] and not (tmp_path / "raw").exists()


def test_a_whole_body_without_content_length_is_accepted_by_its_integrity_or_checksum(server, tmp_path):
    tgz = server.add("data.tar.gz", good_tar(), "no-length")
    csv = server.add("list.csv", b"file,label\n", "no-length")
    sha = hashlib.sha256(b"file,label\n").hexdigest()
    raw = prepare_raw(
        [Download(tgz, "data.tar.gz"), Download(csv, "list.csv", sha256=sha)],
        tmp_path / "raw",
        tmp_path / "cache",
        progress=False,
    )
    assert (raw / "train" / "normal_0000.wav").read_bytes() == RAW_FILES["train/normal_0000.wav"]
    assert (raw / "list.csv").read_bytes() == b"file,label\n"


def test_a_tar_cut_between_members_is_refused(server, tmp_path):
    """tarfile reads a tar cut exactly after a member as complete: the missing end marker gives it away."""
    data = _tar_bytes([(tarfile.TarInfo("a.csv"), b"1"), (tarfile.TarInfo("b.csv"), b"2")], "w")
    cut = data[:1024]  # the first member's header and data block, no second member, no end marker
    url = server.add("data.tar", cut, "no-length")
    with pytest.raises(LibtradError, match="end-of-archive marker after member 'a.csv'.*nothing was cached") as exc:
        fetch([Download(url, "data.tar")], tmp_path / "cache", progress=False)
    _one_line(exc)
    assert _cached_files(tmp_path / "cache") == []


def test_a_body_cut_short_of_its_content_length_is_kept_as_part_and_resumed(server, tmp_path, capsys):
    data = good_tar()
    url = server.add("data.tar.gz", data, "cut-once")
    download = Download(url, "data.tar.gz")
    cache = tmp_path / "cache"
    with pytest.raises(LibtradError) as exc:
        prepare_raw([download], tmp_path / "raw", cache, progress=False)
    text = _one_line(exc)
    half = len(data) // 2
    assert url in text and f"closed after {half:,} of {len(data):,} bytes" in text
    assert f"the {half:,} bytes received are kept in" in text and "resumed next time" in text
    assert _cached_files(cache) == [f"{dl.cached_path(download, cache).parent.name}/data.tar.gz.part"]
    assert not (tmp_path / "raw").exists()
    raw = prepare_raw([download], tmp_path / "raw", cache, progress=False)  # the server is well again
    assert server.requests[-1] == ("/data.tar.gz", f"bytes={half}-")
    assert dl.cached_path(download, cache).read_bytes() == data
    assert (raw / "test" / "anomaly_0002.wav").read_bytes() == RAW_FILES["test/anomaly_0002.wav"]
    assert "resuming the partial download" in capsys.readouterr().err


def test_a_partial_download_the_server_will_not_resume_is_discarded_with_a_notice(server, tmp_path, capsys):
    data = good_zip()
    url = server.add("data.zip", data, "no-range")
    download = Download(url, "data.zip")
    part = dl.cached_path(download, tmp_path / "cache").with_name("data.zip.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes of an earlier run")
    [path] = fetch([download], tmp_path / "cache", progress=False)
    assert path.read_bytes() == data and not part.exists()
    err = capsys.readouterr().err
    assert f"discarding the partial download {part}" in err and "does not resume" in err


def _crc_broken_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("ok/first.csv", b"a,b\n")
        zf.writestr("data.bin", b"A" * 4096)
    data = bytearray(buf.getvalue())
    data[data.index(b"A" * 4096) + 100] = ord("B")
    return bytes(data)


@pytest.mark.parametrize(
    "make, reason",
    [(_crc_broken_zip, "Bad CRC-32"), (lambda: good_tar()[:-200] + bytes(200), "damaged or unreadable archive")],
)
def test_a_corrupt_archive_with_a_right_length_is_refused_and_not_cached(server, tmp_path, make, reason):
    url = server.add("data.archive", make())
    with pytest.raises(LibtradError) as exc:
        prepare_raw([Download(url, "data.archive")], tmp_path / "raw", tmp_path / "cache", progress=False)
    text = _one_line(exc)
    assert url in text and "not a complete archive" in text and reason in text and "nothing was cached" in text, text
    assert _cached_files(tmp_path / "cache") == [] and not (tmp_path / "raw").exists()


def test_a_broken_finished_cache_entry_names_its_path_and_says_to_delete_it(server, tmp_path):
    """As an older libtrad left them: an HTML page or a damaged archive under the finished name."""
    url = server.add("data.zip", good_zip())
    download = Download(url, "data.zip")
    cached = dl.cached_path(download, tmp_path / "cache")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(HTML_PAGE)
    with pytest.raises(LibtradError) as exc:
        prepare_raw([download], tmp_path / "raw", tmp_path / "cache", progress=False)
    text = _one_line(exc)
    assert text.startswith(f"{cached}: the cached download of {url} is an HTML page") and "delete it" in text
    assert cached.read_bytes() == HTML_PAGE and server.requests == []  # never deleted by libtrad, never fetched
    cached.write_bytes(_crc_broken_zip())
    with pytest.raises(LibtradError) as exc:
        prepare_raw([download], tmp_path / "raw", tmp_path / "cache", progress=False)
    text = _one_line(exc)
    assert text.startswith(f"{cached}: the cached download of {url} is damaged") and "Bad CRC-32" in text
    assert "delete it" in text and not (tmp_path / "raw").exists()
    cached.unlink()  # as the message says: the next run downloads it again
    raw = prepare_raw([download], tmp_path / "raw", tmp_path / "cache", progress=False)
    assert (raw / "train" / "normal_0001.wav").read_bytes() == RAW_FILES["train/normal_0001.wav"]


def test_verify_archive_reads_every_member(tmp_path):
    from libtrad.builders.archives import DamagedArchive, verify_archive

    for name, data in (("a.zip", good_zip()), ("a.tgz", good_tar()), ("a.tar.xz", good_tar("w:xz"))):
        (tmp_path / name).write_bytes(data)
        assert verify_archive(tmp_path / name) == ("zip" if name.endswith("zip") else "tar")
    (tmp_path / "cut.tgz").write_bytes(good_tar()[: len(good_tar()) * 3 // 4])
    with pytest.raises(DamagedArchive, match="damaged or unreadable archive"):
        verify_archive(tmp_path / "cut.tgz")
    (tmp_path / "crc.zip").write_bytes(_crc_broken_zip())
    with pytest.raises(DamagedArchive, match="Bad CRC-32 for file 'data.bin'"):
        verify_archive(tmp_path / "crc.zip")
    (tmp_path / "plain.csv").write_bytes(b"a,b\n")
    with pytest.raises(LibtradError, match="not a zip or tar archive"):
        verify_archive(tmp_path / "plain.csv")


# ----------------------------------------------------------------------------- prepare_raw
def test_prepare_raw_unpacks_and_copies(server, tmp_path):
    tgz = server.add("dev.tar.gz", good_tar())
    zipped = server.add("eval.zip", good_zip())
    csv = server.add("list.csv", b"file,label\n")
    raw = prepare_raw(
        [
            Download(tgz, "dev.tar.gz", extract_to="development"),
            Download(zipped, "eval.zip", extract_to="evaluation/x"),
            Download(csv, "list.csv", extract_to="evaluation"),
        ],
        tmp_path / "raw",
        tmp_path / "cache",
        progress=False,
    )
    assert raw == (tmp_path / "raw").resolve()
    for name, content in RAW_FILES.items():
        assert (raw / "development" / name).read_bytes() == content
        assert (raw / "evaluation" / "x" / name).read_bytes() == content
    assert (raw / "evaluation" / "list.csv").read_bytes() == b"file,label\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_prepare_raw_refuses_a_malicious_download_and_leaves_nothing(server, tmp_path):
    good = server.add("good.zip", good_zip())
    evil = server.add("evil.tar.gz", MALICIOUS["tar-symlink-out"][0]())
    with pytest.raises(LibtradError, match="'ok/link'.*symbolic link") as exc:
        prepare_raw(
            [Download(good, "good.zip"), Download(evil, "evil.tar.gz")],
            tmp_path / "raw",
            tmp_path / "cache",
            progress=False,
        )
    _one_line(exc)
    assert not (tmp_path / "raw").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "served"]


def test_prepare_raw_writes_only_a_libtrad_raw_folder(server, tmp_path):
    from libtrad.folders.marker import marker_kind
    from libtrad.folders.verify.inputs import folder_problems

    url = server.add("good.zip", good_zip())
    downloads = [Download(url, "good.zip")]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(LibtradError, match="not a libtrad folder.*refusing to replace it"):
        prepare_raw(downloads, mine, tmp_path / "cache", progress=False)
    assert server.requests == []  # refused before any download
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    raw = prepare_raw(downloads, empty, tmp_path / "cache", progress=False)
    assert (raw / "train" / "normal_0000.wav").is_file() and marker_kind(raw) == "raw"
    assert folder_problems(raw) == ("raw", [])  # every file the marker lists matches its SHA-256
    (raw / "my-notes.txt").write_text("mine")
    prepare_raw(downloads, raw, tmp_path / "cache", progress=False)  # libtrad's own raw folder: replaced
    assert (raw / "my-notes.txt").read_text() == "mine" and len(server.requests) == 1  # cached archive reused
    with pytest.raises(LibtradError, match="lies inside raw_dir"):
        prepare_raw(downloads, tmp_path / "x", tmp_path / "x" / "cache", progress=False)


# ----------------------------------------------------------------------------- make_builder
def _tiny_component(downloads):
    import datasets

    from libtrad.builders.export import DatasetComponent, ScanResult
    from libtrad.builders.hub_export import ConfigSource, SplitSource

    class Tiny(DatasetComponent):
        name = "tiny-download-test"
        pretty_name = "Tiny"
        description = "A tiny test dataset."
        config_names = ("clips",)
        DOWNLOADS = downloads

        def check_options(self, options):
            return dict(options)

        def scan(self, data_dir, configs, options, *, on_error, progress):
            rows = [p for p in sorted((data_dir / "tiny").rglob("*.wav"))]
            if not rows:
                raise LibtradError(f"{data_dir}: no tiny/**/*.wav")
            sources = [{"path": p.relative_to(data_dir).as_posix()} for p in rows]
            return ScanResult(data_dir, sources, state=rows)

        def config_sources(self, scan, configs, options):
            features = datasets.Features(
                {
                    "audio": datasets.Audio(sampling_rate=16000),
                    "file": datasets.Value("string"),
                    "label": datasets.ClassLabel(names=["normal", "anomaly"]),
                }
            )

            def split(name):
                paths = [p for p in scan.state if p.parent.name == name]
                return SplitSource(
                    name,
                    len(paths),
                    lambda: (
                        {
                            "audio": {"bytes": p.read_bytes(), "path": p.name},
                            "file": p.name,
                            "label": p.name.split("_")[0],
                        }
                        for p in paths
                    ),
                )

            return [ConfigSource("clips", features, [split("train"), split("test")])]

    return Tiny()


def test_make_builder_downloads_and_prepares(server, tmp_path, monkeypatch):
    from libtrad.builders.hf_builder import make_builder

    data = good_tar()
    downloads = [
        Download(
            server.add("tiny.tar.gz", data), "tiny.tar.gz", sha256=hashlib.sha256(data).hexdigest(), extract_to="tiny"
        )
    ]
    builder_class = make_builder(_tiny_component(downloads))
    builder = builder_class(cache_dir=str(tmp_path / "hf"), config_name="clips")
    builder.download_and_prepare()
    train = builder.as_dataset(split="train")
    test = builder.as_dataset(split="test")
    assert train["file"] == ["normal_0000.wav", "normal_0001.wav"]
    assert test["file"] == ["anomaly_0002.wav", "normal_0003.wav"] and test["label"] == [1, 0]
    assert train.features["label"].names == ["normal", "anomaly"]
    assert len(server.requests) == 1
    # another config id on the same cache reuses the unpacked raw folder: no new request
    again = builder_class(cache_dir=str(tmp_path / "hf"), config_name="clips", options={"variant": 1})
    again.download_and_prepare()
    assert again.as_dataset(split="train").num_rows == 2 and len(server.requests) == 1
    [raw] = [p for p in (tmp_path / "hf" / "downloads" / "libtrad" / "raw").iterdir() if p.is_dir()]
    assert raw.name.startswith("tiny_download_test-") and (raw / "tiny" / "train" / "normal_0000.wav").is_file()
    # data_dir= reads a folder the user has, with no network at all
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    local = builder_class(cache_dir=str(tmp_path / "hf-local"), config_name="clips", data_dir=str(raw))
    local.download_and_prepare()
    assert local.as_dataset(split="test").num_rows == 2 and len(server.requests) == 1


def test_a_broken_raw_folder_in_libtrads_cache_says_to_delete_it(server, tmp_path):
    """A raw folder an older libtrad cached from a bad answer: the scan's error names the cache and the fix."""
    import shutil

    from libtrad.builders.hf_builder import make_builder
    from libtrad.folders.outputs import write_marker

    data = good_tar()
    downloads = [
        Download(
            server.add("tiny.tar.gz", data), "tiny.tar.gz", sha256=hashlib.sha256(data).hexdigest(), extract_to="tiny"
        )
    ]
    builder_class = make_builder(_tiny_component(downloads))
    builder_class(cache_dir=str(tmp_path / "hf"), config_name="clips").download_and_prepare()
    [raw] = [p for p in (tmp_path / "hf" / "downloads" / "libtrad" / "raw").iterdir() if p.is_dir()]
    shutil.rmtree(raw / "tiny")  # what an HTML page cached as the archive would have unpacked to: no clips
    (raw / "tiny").mkdir()
    (raw / "tiny" / "index.html").write_text("<html>moved</html>")
    write_marker(raw, "raw")
    with pytest.raises(LibtradError) as exc:
        builder_class(
            cache_dir=str(tmp_path / "hf"), config_name="clips", options={"variant": 2}
        ).download_and_prepare()
    text = _one_line(exc)
    assert "no tiny/**/*.wav" in text and f"{raw} is libtrad's download cache" in text and "delete that folder" in text


def test_make_builder_offline_and_without_downloads(server, tmp_path, monkeypatch):
    from libtrad.builders.hf_builder import make_builder

    url = server.add("tiny.tar.gz", good_tar())
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    builder = make_builder(_tiny_component([Download(url, "tiny.tar.gz", extract_to="tiny")]))(
        cache_dir=str(tmp_path / "hf"), config_name="clips"
    )
    with pytest.raises(LibtradError) as exc:
        builder.download_and_prepare()
    text = _one_line(exc)
    assert f"download {url} yourself" in text and "--data-dir FOLDER" in text
    assert server.requests == []
    bare = make_builder(_tiny_component([]))(cache_dir=str(tmp_path / "hf2"), config_name="clips")
    with pytest.raises(LibtradError, match="cannot be downloaded by libtrad: pass data_dir="):
        bare.download_and_prepare()


def test_make_builder_on_a_registered_component_takes_its_build_options(lib_trad_raw, tmp_path):
    from libtrad.builders.hf_builder import make_builder
    from libtrad.builders.lib_trad.export import LIB_TRAD
    from libtrad.core.errors import ParameterError

    builder_class = make_builder(LIB_TRAD)
    assert builder_class.DEFAULT_CONFIG_NAME == "all" and "tr1_cls" in builder_class.builder_configs
    builder = builder_class(
        config_name="tr1", data_dir=str(lib_trad_raw), cache_dir=str(tmp_path / "hf"), split_strategy="paper", seed=3
    )
    builder.download_and_prepare()
    test = builder.as_dataset(split="test")
    assert test.features["label"].names == ["normal", "abnormal"] and set(test["experiment"]) == {"TR1"}
    with pytest.raises(ParameterError, match="train_fraction=2"):
        builder_class(
            config_name="tr1", data_dir=str(lib_trad_raw), cache_dir=str(tmp_path / "hf2"), train_fraction=2
        ).download_and_prepare()


# -------------------------------------------------------------------------- download.py / raw_folder.py / archives.py
def test_each_name_has_one_home_and_the_raw_folder_caps_are_the_archives():
    from libtrad.builders import archives

    for name in ("Download", "check_downloads", "fetch", "locked", "cached_path", "offline_variable"):
        assert hasattr(dl, name), name
    for name in ("prepare_raw", "safe_extract", "MAX_MEMBERS", "MAX_TOTAL_BYTES"):
        assert hasattr(rf, name), name
    assert not hasattr(dl, "safe_extract") and not hasattr(dl, "MAX_MEMBERS")  # no second home (issue 27)
    assert (rf.MAX_MEMBERS, rf.MAX_TOTAL_BYTES) == (archives.MAX_MEMBERS, archives.MAX_TOTAL_BYTES)


def test_archives_module_caps_apply_to_its_own_safe_extract(tmp_path, monkeypatch):
    from libtrad.builders import archives

    many = tmp_path / "many.tar"
    many.write_bytes(_tar_bytes([(tarfile.TarInfo(f"f{i}.csv"), b"x") for i in range(5)], "w"))
    monkeypatch.setattr(archives, "MAX_MEMBERS", 3)
    with pytest.raises(LibtradError, match="more than 3 members.*'f3.csv'"):
        archives.safe_extract(many, tmp_path / "out")
    assert len(rf.safe_extract(many, tmp_path / "out")) == 5  # raw_folder.py's own caps (the defaults) apply there


def _undersized_zip() -> bytes:
    """A zip whose central directory declares 4 bytes for a member holding 64 KiB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok/first.csv", b"a,b\n")
        zf.writestr("big.bin", os.urandom(64 * 1024))
    data = bytearray(buf.getvalue())
    at = data.rfind(b"PK\x01\x02")
    data[at + 24 : at + 28] = struct.pack("<I", 4)
    return bytes(data)


def test_member_with_more_data_than_declared_is_never_written_past_its_size(tmp_path):
    """The size cap counts declared sizes: zipfile stops at the declared size and then fails its CRC check."""
    archive = tmp_path / "undersized.zip"
    archive.write_bytes(_undersized_zip())
    with pytest.raises(LibtradError, match="damaged or unreadable archive.*nothing was unpacked") as exc:
        safe_extract(archive, tmp_path / "out")
    _one_line(exc)
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["undersized.zip"]  # no staging left


@pytest.mark.parametrize(
    "name, info, reason",
    [
        ("inside-link", _typed("ok/link", tarfile.SYMTYPE, "first.csv"), "symbolic link"),
        ("inner-dotdot", tarfile.TarInfo("ok/../evil"), "'..'"),
        ("absolute", tarfile.TarInfo(OUTSIDE), "absolute"),
    ],
)
def test_stricter_than_the_data_filter(tmp_path, name, info, reason):
    """Members tarfile's ``data`` filter would accept or rewrite, which safe_extract refuses."""
    data = b"x" if info.isreg() else None
    if hasattr(tarfile, "data_filter"):
        tarfile.data_filter(info, str(tmp_path / "out"))  # accepted (an absolute name is stripped, not refused)
    archive = tmp_path / f"{name}.tar.gz"
    archive.write_bytes(_tar_with(info, data))
    with pytest.raises(LibtradError, match=reason):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("with_filter", [True, False])
@pytest.mark.parametrize(
    "kind, reason", [(tarfile.CHRTYPE, "device"), (tarfile.BLKTYPE, "device"), (tarfile.FIFOTYPE, "FIFO")]
)
def test_special_tar_members_refused_with_or_without_the_data_filter(tmp_path, monkeypatch, with_filter, kind, reason):
    from libtrad.builders import archives

    if with_filter and not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no tarfile.data_filter")
    if not with_filter:
        monkeypatch.setattr(archives, "_DATA_FILTER", None)  # an older patch release
    archive = tmp_path / "special.tar.gz"
    archive.write_bytes(_tar_with(_typed("ok/special", kind)))
    with pytest.raises(LibtradError, match=rf"'ok/special'.*{reason}.*nothing was unpacked") as exc:
        safe_extract(archive, tmp_path / "out")
    _one_line(exc)
    assert not (tmp_path / "out").exists()
